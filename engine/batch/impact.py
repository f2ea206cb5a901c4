"""What changes if the tables change: two table sets decided over one population.

Policy staff edit a rule, a catalogue default or a template; before it goes
live they want to know whom it moves. ``compare`` validates and scores the
population once per chunk (``engine.pipeline.score_population``: scores do
not depend on the tables), runs both table sets over it
(``engine.pipeline.run_tables``), and counts: customers whose grade changes
(and the grade transition matrix), customers whose segments change, policies
gained and lost, customers whose policy params change (each before -> after
value), per rule the customers it
matches before and after and those among them whose outcome changed, the
workload the enforcement and collection policies create, and, given a
tariff, the expected default loss net of security deposits. It also says
what changed in the files: the rule-level diff (``engine.tables.diff``), the
catalogue, and the templates with the customers whose explanations they
touch (``engine.batch.impactchanges``). The sides themselves -- folders,
project folders, git revisions -- come from ``engine.batch.rulesource``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from engine.batch.impactchanges import catalogue_changes, template_changes
from engine.batch.impactfloors import (
    ServiceComparison,
    ServiceTally,
    service_comparison,
    service_tally,
)
from engine.batch.impactreport import findings_note, headline, html, loss_note, markdown
from engine.batch.runfiles import read_chunks
from engine.errors import FrameError
from engine.events.outcomes import frame_outcomes
from engine.pipeline import TableRun, run_tables, score_population
from engine.policies import ParamSpec, template_hashes
from engine.records import GRADES
from engine.tables import TableSet
from engine.tables.diff import SetDiff, diff_sets

if TYPE_CHECKING:
    from engine.decider import Engine
    from engine.language import Language
    from engine.tables.model import PolicyHit

__all__ = ["Impact", "compare"]

EXPOSURE_MONTHS = 2.0
_AFFECTED = ("customer_id", "grade_before", "grade_after", "segments", "gained", "lost",
             "params")
_SEGMENTS = ("field", "before", "after", "customers")
_PARAMS = ("policy", "param", "before", "after", "customers")
_RULES = ("table", "rule", "before", "after", "change", "outcome_changed")


# --------------------------------------------------------------------------- the comparison

@dataclass(frozen=True)
class Impact:
    """The comparison of two table sets over one population, ready to render.

    ``params`` holds one row per (policy, param, before, after) with the
    customers who keep the policy but see that value change, ``segments`` one
    per (field, before, after) of the segment fields; ``rules`` one
    row per rule that matches a different number of customers or was edited
    (``diff``): the customers it matches before and after, and
    ``outcome_changed``, those it matches on either side whose grade,
    segments, policies or params moved.
    ``catalogue`` and ``templates`` say what changed beside the tables;
    ``findings`` are the candidate's ``rules check`` findings when it was
    compared despite them.
    """

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
    params: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=list(_PARAMS)))
    segments: pd.DataFrame = field(
        default_factory=lambda: pd.DataFrame(columns=list(_SEGMENTS)))
    diff: SetDiff | None = None
    catalogue: pd.DataFrame = field(default_factory=pd.DataFrame)
    templates: pd.DataFrame = field(default_factory=pd.DataFrame)
    holders: pd.DataFrame = field(default_factory=pd.DataFrame)
    findings: tuple[str, ...] = ()
    param_specs: Mapping[tuple[str, str], ParamSpec] | None = None
    # service levels by grade against the catalogue's floors (engine.batch.impactfloors)
    service: ServiceComparison | None = None

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
    def segments_changed(self) -> int:
        """Customers whose segment (consumption class, sensitivity, value tier) changes."""
        if not len(self.affected):
            return 0
        return int(self.affected["segments"].astype(str).ne("").sum())

    @property
    def params_changed(self) -> int:
        """Customers who keep a policy whose params change."""
        if not len(self.affected):
            return 0
        return int(self.affected["params"].astype(str).ne("").sum())

    @property
    def no_changes(self) -> bool:
        """Nothing differs: no customer moves and no file that decides or explains changed."""
        return (not len(self.affected) and (self.diff is None or self.diff.empty)
                and not len(self.catalogue) and not len(self.templates))

    @property
    def loss_note(self) -> str:
        """How the expected default loss was estimated (English; see ``impactreport``)."""

        return loss_note(self)

    def headline(self, lang: Language | None = None) -> str:

        return headline(self, lang)

    def findings_note(self, lang: Language | None = None) -> str:

        return findings_note(self, lang)

    def markdown(self, lang: Language | None = None) -> str:

        return markdown(self, lang)

    def html(self, lang: Language | None = None, *, templates_dir: str | Path | None = None
             ) -> str:

        return html(self, lang, templates_dir=templates_dir)


@dataclass(frozen=True)
class _Run:
    """One table set's decisions of one chunk, as codes and masks."""

    grades: np.ndarray
    has: dict[str, np.ndarray]
    inverse: np.ndarray
    hits: list[tuple[PolicyHit, ...]]
    matched: dict[tuple[str, str], np.ndarray]
    segments: dict[str, np.ndarray]


@dataclass
class _Side:
    """One table set's running counts."""

    tables: TableSet
    rule_hits: Counter
    policy_customers: Counter
    param_sums: Counter
    loss: float = 0.0
    service: ServiceTally | None = None
    grades: tuple[str, ...] = GRADES


@dataclass
class _Moves:
    """What differs between the sides, summed over the chunks."""

    transitions: np.ndarray
    gained: Counter = field(default_factory=Counter)
    lost: Counter = field(default_factory=Counter)
    params: Counter = field(default_factory=Counter)
    segments: Counter = field(default_factory=Counter)
    outcome: Counter = field(default_factory=Counter)
    affected: list[pd.DataFrame] = field(default_factory=list)
    grades: tuple[str, ...] = GRADES


def compare(engine: Engine, baseline: TableSet, candidate: TableSet,
            population: str | Path | pd.DataFrame, *, baseline_label: str = "baseline",
            candidate_label: str = "candidate", tariff: float | None = None,
            exposure_months: float = EXPOSURE_MONTHS, chunk_size: int = 200_000,
            progress: Callable[[int], None] | None = None, store: Any = None,
            templates: tuple[Mapping[str, str], Mapping[str, str]] | None = None) -> Impact:
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
    with the rows read so far before each further chunk. ``templates`` are
    the template hashes of each side (``engine.policies.template_hashes``),
    by default those of the folder beside each side's catalogue.
    """
    for tables in (baseline, candidate):
        tables.scale  # noqa: B018
    grades = tuple(dict.fromkeys(b.grade for ts in (baseline, candidate) for b in ts.scale))
    sides = [_Side(ts, Counter(), Counter(), Counter(),
                   service=service_tally(ts.catalogue, grades), grades=grades)
             for ts in (baseline, candidate)]
    moves = _Moves(np.zeros((len(grades) + 1, len(grades) + 1), dtype=np.int64),
                   grades=grades)
    rows_in = decided = rejected = 0
    for chunk in _chunks(population, chunk_size):
        if progress is not None and rows_in:
            progress(rows_in)
        if store is not None:

            chunk = frame_outcomes(chunk, store).frame
        scored = score_population(engine.registry, chunk)
        rows_in += scored.rows_in
        rejected += len(scored.rejects)
        if len(scored):
            decided += len(scored.facts)
            runs = [_decide(side, run_tables(side.tables, scored.facts), scored.facts, tariff,
                            exposure_months) for side in sides]
            _count_moves(scored.facts, runs, moves)
    diff = diff_sets(baseline, candidate, before_label=baseline_label,
                     after_label=candidate_label)
    holders = _holders(sides)
    hashes = templates or (_hashes(baseline), _hashes(candidate))
    return Impact(
        baseline=baseline_label, candidate=candidate_label,
        baseline_hash=baseline.content_hash, candidate_hash=candidate.content_hash,
        rows_in=rows_in, decided=decided, rejected=rejected,
        transitions=_transition_frame(moves.transitions, moves.grades),
        policies=_policy_frame(sides, moves.gained, moves.lost),
        rules=_rule_frame(sides, moves.outcome, diff),
        workload=_workload_frame(engine, sides, tariff),
        affected=(pd.concat(moves.affected, ignore_index=True) if moves.affected
                  else pd.DataFrame(columns=list(_AFFECTED))),
        tariff=tariff, exposure_months=exposure_months,
        titles={p.id: p.title for p in (*baseline.catalogue, *candidate.catalogue)},
        params=_param_frame(moves.params), segments=_segment_frame(moves.segments),
        diff=diff,
        catalogue=catalogue_changes(baseline.catalogue, candidate.catalogue),
        templates=template_changes(hashes[0], hashes[1], baseline.catalogue,
                                   candidate.catalogue, holders, decided),
        holders=holders,
        param_specs={(p.id, name): spec for cat in (baseline.catalogue, candidate.catalogue)
                     for p in cat for name, spec in p.params.items()},
        service=service_comparison(sides[0].service, sides[1].service),
    )


def _hashes(tables: TableSet) -> dict[str, str]:
    root = tables.catalogue.root
    return template_hashes(root) if root.is_dir() else {}


def _chunks(population: str | Path | pd.DataFrame, chunk_size: int) -> Any:
    """The population as chunks: a frame whole, a file ``chunk_size`` rows at a time."""
    if isinstance(population, pd.DataFrame):
        return [population]
    path = Path(population)
    if not path.exists():
        raise FrameError("file not found", file=str(path))
    return read_chunks(path, chunk_size)


def _count_moves(facts: pd.DataFrame, runs: list[_Run], moves: _Moves) -> None:
    """Add one chunk's differences: transitions, policies and params moved, per-rule outcomes,
    and the customers affected."""
    r0, r1 = runs
    n = len(facts)
    np.add.at(moves.transitions, (r0.grades, r1.grades), 1)
    change = r0.grades != r1.grades
    gain_cols, lose_cols = {}, {}
    for pid in sorted(set(r0.has) | set(r1.has)):
        before = r0.has.get(pid, np.zeros(n, dtype=bool))
        after = r1.has.get(pid, np.zeros(n, dtype=bool))
        gain_cols[pid], lose_cols[pid] = after & ~before, before & ~after
        moves.gained[pid] += int(gain_cols[pid].sum())
        moves.lost[pid] += int(lose_cols[pid].sum())
        change |= gain_cols[pid] | lose_cols[pid]
    param_text = _param_moves(r0, r1, moves.params)
    segment_text = _segment_moves(r0, r1, moves.segments)
    change |= (param_text != "") | (segment_text != "")
    for key in dict.fromkeys([*r0.matched, *r1.matched]):
        a, b = r0.matched.get(key), r1.matched.get(key)
        matched = a | b if a is not None and b is not None else (a if b is None else b)
        moves.outcome[key] += int((matched & change).sum())
    rows = np.flatnonzero(change)
    if not len(rows):
        return
    labels = np.array([*moves.grades, "none"], dtype=object)
    moves.affected.append(pd.DataFrame({
        "customer_id": facts["customer_id"].to_numpy(dtype=object)[rows],
        "grade_before": labels[r0.grades[rows]], "grade_after": labels[r1.grades[rows]],
        "segments": segment_text[rows], "gained": _joined(gain_cols, rows),
        "lost": _joined(lose_cols, rows), "params": param_text[rows],
    }))


def _param_moves(r0: _Run, r1: _Run, counts: Counter) -> np.ndarray:
    """Per row, the params of policies it keeps that change (``pid.param: a -> b; ...``,
    empty when none), counting each (policy, param, before, after) into ``counts``.

    Worked out once per distinct pair of policy-grant combinations, never per row.
    """
    width = max(len(r1.hits), 1)
    pairs = r0.inverse.astype(np.int64) * width + r1.inverse.astype(np.int64)
    codes, inverse, sizes = np.unique(pairs, return_inverse=True, return_counts=True)
    texts = np.full(len(codes), "", dtype=object)
    for k, code in enumerate(codes.tolist()):
        before = {h.policy_id: h.params for h in r0.hits[code // width]}
        after = {h.policy_id: h.params for h in r1.hits[code % width]}
        moved = []
        for pid in (p for p in after if p in before):
            for name in dict.fromkeys([*before[pid], *after[pid]]):
                a, b = before[pid].get(name), after[pid].get(name)
                if a != b:
                    counts[(pid, name, a, b)] += int(sizes[k])
                    moved.append(f"{pid}.{name}: {_value(a)} -> {_value(b)}")
        texts[k] = "; ".join(moved)
    return texts[inverse.reshape(-1)] if len(pairs) else np.zeros(0, dtype=object)


def _segment_moves(r0: _Run, r1: _Run, counts: Counter) -> np.ndarray:
    """Per row, the segment fields that change (``field: a -> b; ...``, empty when none),
    counting each (field, before, after) into ``counts``."""
    n = len(r0.grades)
    out = np.full(n, "", dtype=object)
    for name in dict.fromkeys([*r0.segments, *r1.segments]):
        a = r0.segments.get(name, np.full(n, None, dtype=object))
        b = r1.segments.get(name, np.full(n, None, dtype=object))
        rows = np.flatnonzero(a != b)
        if not len(rows):
            continue
        pairs = pd.DataFrame({"a": a[rows], "b": b[rows]}).astype(str)
        for (x, y), k in pairs.value_counts(sort=False).items():
            counts[(name, x, y)] += int(k)
        text = (name + ": " + pairs["a"] + " -> " + pairs["b"]).to_numpy(dtype=object)
        out[rows] = [f"{o}; {t}" if o else t for o, t in zip(out[rows], text, strict=True)]
    return out


def _value(value: Any) -> str:
    return "(none)" if value is None else str(value).lower() if isinstance(value, bool) \
        else str(value)


def _joined(columns: dict[str, np.ndarray], rows: np.ndarray) -> np.ndarray:
    out = np.full(len(rows), "", dtype=object)
    for pid, col in columns.items():
        hit = col[rows]
        out[hit] = [f"{v};{pid}" if v else pid for v in out[hit]]
    return out


def _decide(side: _Side, run: TableRun, facts: pd.DataFrame, tariff: float | None,
            months: float) -> _Run:
    """Grade codes (len(side.grades) = none), per-policy membership masks, the policy hits of
    each grant combination and each rule's matches, for one chunk.

    Policies and their params are those the decisions carry: a policy several
    rules grant has its params combined as the catalogue says.
    """
    n = len(facts)
    ev = run.evaluation
    grade_code = {g: i for i, g in enumerate(side.grades)}
    grades = np.array([grade_code.get(g, len(side.grades)) for g in ev.outputs["grade"]],
                      dtype=np.int64) if n else np.zeros(0, dtype=np.int64)
    matched = {}
    for t in side.tables.tables:
        eff = ev.effective[t.name]
        for r in t.rules:
            matched[(t.name, r.id)] = np.asarray(eff[r.index], dtype=bool)
            side.rule_hits[(t.name, r.id)] += int(matched[(t.name, r.id)].sum())
    has = run.grants.receives()
    hits = run.grants.hits()
    per_combo: dict[tuple[str, str], np.ndarray] = {}
    for code, combo in enumerate(hits):
        for hit in combo:
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
    segments = {name: ev.outputs[name] for name in side.tables.outputs
                if name != "grade" and name in ev.outputs}
    if side.service is not None:
        side.service.add(grades, has, params, segments)
    return _Run(grades, has, np.asarray(run.grants.inverse).reshape(-1), hits, matched, segments)


def _transition_frame(transitions: np.ndarray, grades: tuple[str, ...]) -> pd.DataFrame:
    names = [*grades, "none"]
    matrix = pd.DataFrame(transitions, index=names, columns=names)
    keep = [g for i, g in enumerate(names) if i < len(grades) or transitions[i].any()
            or transitions[:, i].any()]
    return matrix.loc[keep, keep]


def _policy_frame(sides: list[_Side], gained: Counter, lost: Counter) -> pd.DataFrame:
    ids = sorted(set(sides[0].policy_customers) | set(sides[1].policy_customers))
    rows = [{"policy": pid, "before": sides[0].policy_customers[pid],
             "after": sides[1].policy_customers[pid], "gained": gained[pid],
             "lost": lost[pid]} for pid in ids if gained[pid] or lost[pid]]
    return pd.DataFrame(rows, columns=["policy", "before", "after", "gained", "lost"])


def _holders(sides: list[_Side]) -> pd.DataFrame:
    """Customers holding each policy on each side (every policy, changed or not)."""
    ids = sorted(set(sides[0].policy_customers) | set(sides[1].policy_customers))
    return pd.DataFrame([{"policy": pid, "before": sides[0].policy_customers[pid],
                          "after": sides[1].policy_customers[pid]} for pid in ids],
                        columns=["policy", "before", "after"])


def _param_frame(counts: Counter) -> pd.DataFrame:
    rows = [{"policy": pid, "param": name, "before": a, "after": b, "customers": n}
            for (pid, name, a, b), n in counts.items()]
    frame = pd.DataFrame(rows, columns=list(_PARAMS), dtype=object)
    if len(frame):
        frame["customers"] = frame["customers"].astype(np.int64)
        frame = frame.sort_values(["customers", "policy", "param"], ascending=[False, True, True],
                                  kind="mergesort", ignore_index=True)
    return frame


def _segment_frame(counts: Counter) -> pd.DataFrame:
    rows = [{"field": name, "before": a, "after": b, "customers": n}
            for (name, a, b), n in counts.items()]
    frame = pd.DataFrame(rows, columns=list(_SEGMENTS))
    if len(frame):
        frame["customers"] = frame["customers"].astype(np.int64)
        frame = frame.sort_values(["field", "customers"], ascending=[True, False],
                                  kind="mergesort", ignore_index=True)
    return frame


def _rule_frame(sides: list[_Side], outcome: Counter, diff: SetDiff) -> pd.DataFrame:
    edited = {(t.table, r.rule_id) for t in diff.tables for r in t.rules}
    keys = list(dict.fromkeys([*sides[0].rule_hits, *sides[1].rule_hits]))
    rows = []
    for table, rid in keys:
        before = sides[0].rule_hits.get((table, rid))
        after = sides[1].rule_hits.get((table, rid))
        moved = outcome[(table, rid)]
        if before != after or (table, rid) in edited:
            rows.append({"table": table, "rule": rid,
                         "before": "absent" if before is None else before,
                         "after": "absent" if after is None else after,
                         "change": (after or 0) - (before or 0), "outcome_changed": moved})
    return pd.DataFrame(rows, columns=list(_RULES))


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
