"""What changes if the tables change: two table sets decided over one population.

Policy staff edit a rule; before it goes live they want to know whom it
moves. ``compare`` validates and scores the population once per chunk
(``engine.pipeline.score_population``: scores do not depend on the tables),
runs both table sets over it (``engine.pipeline.run_tables``), and counts:
customers whose grade changes (and the grade transition matrix), policies
gained and lost, hits per rule before and after, the workload the
enforcement and collection policies create, and, given a tariff, the expected
default loss net of security deposits. The baseline may be a folder or a git
revision of the rules folder.
"""

from __future__ import annotations

import subprocess
import tempfile
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from engine.batch.decide import read_chunks
from engine.errors import FrameError, InputError
from engine.pipeline import TableRun, run_tables, score_population
from engine.records import GRADES
from engine.tables import TableSet, load_table_set

if TYPE_CHECKING:
    from engine.decider import Engine
    from engine.language import Language

__all__ = ["Impact", "compare", "load_baseline"]

EXPOSURE_MONTHS = 2.0
_AFFECTED = ("customer_id", "grade_before", "grade_after", "gained", "lost")


def load_baseline(spec: str, candidate_dir: str | Path, engine: Engine
                  ) -> tuple[TableSet, str]:
    """The baseline tables: a folder, or ``REV`` / ``REV:path`` of a git repository.

    ``REV`` alone means the candidate folder as it was at that revision, in the
    candidate's repository; ``REV:path`` names a folder of the repository that
    holds the project home (``engine.config.home``), wherever the command runs.
    Returns the table set and a label for the report.
    """
    folder = Path(spec)
    if folder.is_dir():
        return load_table_set(folder, engine.catalogue), str(folder)
    candidate = Path(candidate_dir).resolve()
    rev, _, path = spec.partition(":")
    top = _git(engine.config.home if path else candidate, "rev-parse", "--show-toplevel",
               what=spec).strip()
    rel = path.strip("/") if path else candidate.relative_to(top).as_posix()
    commit = _git(Path(top), "rev-parse", "--verify", "--quiet", f"{rev}^{{commit}}",
                  what=spec).strip()
    names = _git(Path(top), "ls-tree", "-r", "--name-only", commit, "--", rel,
                 what=spec).split()
    names = [n for n in names if n.endswith((".yaml", ".yml"))]
    if not names:
        raise InputError(f"--baseline {spec}: no table files under '{rel}' at {rev} "
                         f"({commit[:12]}); name the folder as REV:path")
    with tempfile.TemporaryDirectory(prefix="gridcredit-baseline-") as tmp:
        for name in names:
            target = Path(tmp) / Path(name).relative_to(rel)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(_git(Path(top), "show", f"{commit}:{name}", what=spec))
        tables = load_table_set(tmp, engine.catalogue)
    return tables, f"{rev}:{rel} ({commit[:12]})"


def _git(where: Path, *args: str, what: str) -> str:
    try:
        done = subprocess.run(["git", "-C", str(where), *args], capture_output=True, text=True,
                              check=False, timeout=60)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise InputError(f"--baseline {what}: not a folder, and git cannot be run ({exc})"
                         ) from None
    if done.returncode != 0:
        said = (done.stderr.strip().splitlines() or ["unknown revision"])[-1]
        raise InputError(f"--baseline {what}: not a folder nor a git revision of the rules "
                         f"folder (git: {said}); give a folder or a revision such as HEAD~1")
    return done.stdout


# --------------------------------------------------------------------------- the comparison

@dataclass(frozen=True)
class Impact:
    """The comparison of two table sets over one population, ready to render."""

    baseline: str
    candidate: str
    baseline_hash: str
    candidate_hash: str
    rows_in: int
    decided: int
    rejected: int
    transitions: pd.DataFrame
    policies: pd.DataFrame
    rules: pd.DataFrame
    workload: pd.DataFrame
    affected: pd.DataFrame
    tariff: float | None = None
    exposure_months: float = 2.0
    titles: dict[str, str] | None = None

    @property
    def grade_changed(self) -> int:
        m = self.transitions.to_numpy()
        return int(m.sum() - np.trace(m))

    @property
    def upgraded(self) -> int:
        return int(np.tril(self.transitions.to_numpy(), -1).sum())

    @property
    def downgraded(self) -> int:
        return int(np.triu(self.transitions.to_numpy(), 1).sum())

    @property
    def loss_note(self) -> str:
        """How the expected default loss was estimated (English; see ``impactreport``)."""
        from engine.batch.impactreport import loss_note

        return loss_note(self)

    def headline(self, lang: Language | None = None) -> str:
        from engine.batch.impactreport import headline

        return headline(self, lang)

    def markdown(self, lang: Language | None = None) -> str:
        from engine.batch.impactreport import markdown

        return markdown(self, lang)

    def html(self, lang: Language | None = None) -> str:
        from engine.batch.impactreport import html

        return html(self, lang)


@dataclass
class _Side:
    """One table set's running counts."""

    tables: TableSet
    rule_hits: Counter
    policy_customers: Counter
    param_sums: Counter
    loss: float = 0.0


def compare(engine: Engine, baseline: TableSet, candidate: TableSet,
            population: str | Path | pd.DataFrame, *, baseline_label: str = "baseline",
            candidate_label: str = "candidate", tariff: float | None = None,
            exposure_months: float = EXPOSURE_MONTHS, chunk_size: int = 200_000,
            progress: Callable[[int], None] | None = None, store: Any = None) -> Impact:
    """Decide ``population`` with both table sets and count what differs.

    ``store`` (an ``engine.events.EventStore``) adds each customer's
    payment-event outcomes in force on its ``as_of``, read once per chunk, so
    both sets decide what the service would decide.

    ``tariff`` (currency per kWh) turns monthly consumption into a bill, so
    that the expected default loss ``sum(pd * max(exposure - deposit, 0))``
    can be estimated, with exposure = overdue amount + ``exposure_months`` of
    bills and deposit from the ``security_deposit`` policy's params. Either
    set is refused (``TableError`` at file:line) unless its band rules draw a
    whole master scale, as an engine would refuse it. ``progress`` is called
    with the rows read so far before each further chunk.
    """
    for tables in (baseline, candidate):
        tables.scale  # noqa: B018
    chunks = _chunks(population, chunk_size)
    sides = [_Side(ts, Counter(), Counter(), Counter()) for ts in (baseline, candidate)]
    transitions = np.zeros((len(GRADES) + 1, len(GRADES) + 1), dtype=np.int64)
    gained: Counter = Counter()
    lost: Counter = Counter()
    affected: list[pd.DataFrame] = []
    rows_in = decided = rejected = 0
    for chunk in chunks:
        if progress is not None and rows_in:
            progress(rows_in)
        if store is not None:
            from engine.events.outcomes import frame_outcomes

            chunk = frame_outcomes(chunk, store).frame
        population = score_population(engine.registry, chunk)
        rows_in += population.rows_in
        rejected += len(population.rejects)
        if not len(population):
            continue
        facts = population.facts
        decided += len(facts)
        results = [_decide(side, run_tables(side.tables, facts), facts, tariff, exposure_months)
                   for side in sides]
        (g0, _), (g1, _) = results
        np.add.at(transitions, (g0, g1), 1)
        moved = _affected(facts, results, gained, lost)
        if moved is not None:
            affected.append(moved)
    names = [*GRADES, "none"]
    matrix = pd.DataFrame(transitions, index=names, columns=names)
    keep = [g for i, g in enumerate(names) if i < len(GRADES) or transitions[i].any()
            or transitions[:, i].any()]
    return Impact(
        baseline=baseline_label, candidate=candidate_label,
        baseline_hash=baseline.content_hash, candidate_hash=candidate.content_hash,
        rows_in=rows_in, decided=decided, rejected=rejected,
        transitions=matrix.loc[keep, keep],
        policies=_policy_frame(sides, gained, lost),
        rules=_rule_frame(sides),
        workload=_workload_frame(engine, sides, tariff),
        affected=(pd.concat(affected, ignore_index=True) if affected
                  else pd.DataFrame(columns=list(_AFFECTED))),
        tariff=tariff, exposure_months=exposure_months,
        titles={p.id: p.title for p in engine.catalogue},
    )


def _chunks(population: str | Path | pd.DataFrame, chunk_size: int) -> Any:
    """The population as chunks: a frame whole, a file ``chunk_size`` rows at a time."""
    if isinstance(population, pd.DataFrame):
        return [population]
    path = Path(population)
    if not path.exists():
        raise FrameError("file not found", file=str(path))
    return read_chunks(path, chunk_size)


def _affected(facts: pd.DataFrame, results: list[tuple[np.ndarray, dict[str, np.ndarray]]],
              gained: Counter, lost: Counter) -> pd.DataFrame | None:
    """Customers of a chunk whose grade or policies differ (None if none), counting the
    policies gained and lost into ``gained`` and ``lost``."""
    (g0, p0), (g1, p1) = results
    change = g0 != g1
    gain_cols, lose_cols = {}, {}
    for pid in sorted(set(p0) | set(p1)):
        before = p0.get(pid, np.zeros(len(facts), dtype=bool))
        after = p1.get(pid, np.zeros(len(facts), dtype=bool))
        gain_cols[pid], lose_cols[pid] = after & ~before, before & ~after
        gained[pid] += int(gain_cols[pid].sum())
        lost[pid] += int(lose_cols[pid].sum())
        change |= gain_cols[pid] | lose_cols[pid]
    rows = np.flatnonzero(change)
    if not len(rows):
        return None
    labels = np.array([*GRADES, "none"], dtype=object)
    return pd.DataFrame({
        "customer_id": facts["customer_id"].to_numpy(dtype=object)[rows],
        "grade_before": labels[g0[rows]], "grade_after": labels[g1[rows]],
        "gained": _joined(gain_cols, rows), "lost": _joined(lose_cols, rows),
    })


def _joined(columns: dict[str, np.ndarray], rows: np.ndarray) -> np.ndarray:
    out = np.full(len(rows), "", dtype=object)
    for pid, col in columns.items():
        hit = col[rows]
        out[hit] = [f"{v};{pid}" if v else pid for v in out[hit]]
    return out


def _decide(side: _Side, run: TableRun, facts: pd.DataFrame, tariff: float | None,
            months: float) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Grade codes (len(GRADES) = none) and per-policy membership masks for one chunk.

    Policies and their params are those the decisions carry: a policy several
    rules grant has its params combined as the catalogue says.
    """
    n = len(facts)
    ev = run.evaluation
    grade_code = {g: i for i, g in enumerate(GRADES)}
    grades = np.array([grade_code.get(g, len(GRADES)) for g in ev.outputs["grade"]],
                      dtype=np.int64) if n else np.zeros(0, dtype=np.int64)
    for t in side.tables.tables:
        eff = ev.effective[t.name]
        for r in t.rules:
            side.rule_hits[(t.name, r.id)] += int(eff[r.index].sum())
    has = run.grants.receives()
    per_combo: dict[tuple[str, str], np.ndarray] = {}
    for code, hits in enumerate(run.grants.hits()):
        for hit in hits:
            for key, value in hit.params.items():
                if isinstance(value, int | float) and not isinstance(value, bool):
                    arr = per_combo.setdefault((hit.policy_id, key),
                                               np.zeros(len(run.grants.combos)))
                    arr[code] = float(value)
    params = {key: arr[run.grants.inverse] for key, arr in per_combo.items()}
    for pid, mask in has.items():
        side.policy_customers[pid] += int(mask.sum())
    for key, arr in params.items():
        side.param_sums[key] += float(arr.sum())
    if tariff is not None:
        bill = facts["monthly_kwh"].to_numpy(dtype=float) * tariff
        overdue = np.nan_to_num(facts["overdue_amount"].to_numpy(dtype=float))
        deposit = params.get(("security_deposit", "months_of_average_bill"), np.zeros(n)) * bill
        exposure = overdue + months * bill
        side.loss += float((facts["pd"].to_numpy(dtype=float)
                            * np.maximum(exposure - deposit, 0.0)).sum())
    return grades, has


def _policy_frame(sides: list[_Side], gained: Counter, lost: Counter) -> pd.DataFrame:
    ids = sorted(set(sides[0].policy_customers) | set(sides[1].policy_customers))
    rows = [{"policy": pid, "before": sides[0].policy_customers[pid],
             "after": sides[1].policy_customers[pid], "gained": gained[pid],
             "lost": lost[pid]} for pid in ids if gained[pid] or lost[pid]]
    return pd.DataFrame(rows, columns=["policy", "before", "after", "gained", "lost"])


def _rule_frame(sides: list[_Side]) -> pd.DataFrame:
    keys = list(dict.fromkeys([*sides[0].rule_hits, *sides[1].rule_hits]))
    rows = []
    for table, rid in keys:
        before = sides[0].rule_hits.get((table, rid))
        after = sides[1].rule_hits.get((table, rid))
        if before != after:
            rows.append({"table": table, "rule": rid,
                         "before": "absent" if before is None else before,
                         "after": "absent" if after is None else after,
                         "change": (after or 0) - (before or 0)})
    return pd.DataFrame(rows, columns=["table", "rule", "before", "after", "change"])


def _workload_frame(engine: Engine, sides: list[_Side], tariff: float | None) -> pd.DataFrame:
    """Customers under each collection/enforcement policy, and the visits params imply."""
    rows = []
    for policy in engine.catalogue:
        if policy.category not in ("collection", "enforcement"):
            continue
        b, a = sides[0].policy_customers[policy.id], sides[1].policy_customers[policy.id]
        rows.append({"measure": f"{policy.id} customers", "before": b, "after": a,
                     "change": a - b, "policy": policy.id, "what": "customers"})
    keys = sorted({k for s in sides for k in s.param_sums if k[1] == "visits_per_year"})
    for pid, key in keys:
        b, a = sides[0].param_sums[(pid, key)], sides[1].param_sums[(pid, key)]
        rows.append({"measure": f"{pid} visits a year", "before": round(b), "after": round(a),
                     "change": round(a - b), "policy": pid, "what": "visits"})
    if tariff is not None:
        b, a = sides[0].loss, sides[1].loss
        rows.append({"measure": "expected default loss", "before": b, "after": a,
                     "change": a - b, "policy": "", "what": "loss"})
    return pd.DataFrame(rows, columns=["measure", "before", "after", "change", "policy", "what"],
                        dtype=object)
