"""Replay: decide a logged decision again, from its stored inputs, with what decided it then.

The logged decision names its table set (content hash) and model (SHA-256);
both come back from the archive as a project folder, the record comes back
from the decision's own ``inputs`` (the fields of the record contract, with
the payment-event history it was decided with), and the engine decides again
under the same decision id. Timings are measurements, not outcomes, so the
replayed decision carries the logged timings, and the event outcomes it names
are the logged ones (they were inputs read from the event store). Then::

    replayed digest == logged digest   -> reproduced
    otherwise                          -> each difference, field by field

``with_tables`` decides the same inputs with another table set instead: a
counterfactual ("what would the edited tables have decided"), never a
reproduction.
"""

from __future__ import annotations

import datetime as dt
import random
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import select

from engine.audit.archive import Archive, ArchiveMissing
from engine.audit.decisionrows import RUN_CUSTOMER, STEP_KIND
from engine.audit.log import DecisionLog
from engine.audit.store import decision_log
from engine.batch.seals import row_of_id
from engine.collections.steps import replay_step
from engine.decider import load
from engine.decision import Decision
from engine.errors import EngineError, InputError
from engine.governance.batchruns import output_ids, replay_row
from engine.records import FIELDS
from engine.tables import TableSet

__all__ = ["Replay", "SampleReport", "differences", "record_of", "replay", "replay_sample"]

_RECORD_FIELDS = tuple(f.name for f in FIELDS)


@dataclass(frozen=True)
class Replay:
    """A logged decision and the decision made again from its inputs."""

    logged: Decision
    replayed: Decision
    differences: tuple[str, ...]
    counterfactual: str | None = None

    @property
    def reproduced(self) -> bool:
        return self.counterfactual is None and self.replayed.digest == self.logged.digest

    def report(self) -> str:
        """What an auditor reads: the verdict, then each difference."""
        d = self.logged
        if self.counterfactual is not None:
            head = (f"COUNTERFACTUAL for decision {d.decision_id} (customer {d.customer_id}, "
                    f"as of {d.as_of}): the same inputs decided with {self.counterfactual}, "
                    "not the tables in force on the day")
            if not self.differences:
                return head + "\nthe same outcome as logged\n"
            return head + "\n" + "".join(f"  {line}\n" for line in self.differences)
        if self.reproduced:
            return (f"reproduced: decision {d.decision_id} digest {d.digest} "
                    f"(tables {d.tables.content_hash[:16]}..., model {d.score.model_id})\n")
        lines = "".join(f"  {line}\n" for line in self.differences)
        return (f"DIFFERS: decision {d.decision_id} logged digest {d.digest}, replayed "
                f"{self.replayed.digest}\n{lines}")


def record_of(decision: Decision) -> dict[str, Any]:
    """The customer record a decision was made from: its contract fields that were present."""
    inputs = decision.inputs
    return {k: inputs[k] for k in _RECORD_FIELDS if inputs.get(k) is not None}


def differences(logged: Any, replayed: Any, path: str = "") -> list[str]:
    """Every place two JSON documents differ, as ``path: logged -> replayed``."""
    if isinstance(logged, dict) and isinstance(replayed, dict):
        out: list[str] = []
        for key in sorted(set(logged) | set(replayed), key=str):
            where = f"{path}.{key}" if path else str(key)
            if key not in replayed:
                out.append(f"{where}: {logged[key]!r} -> (absent)")
            elif key not in logged:
                out.append(f"{where}: (absent) -> {replayed[key]!r}")
            else:
                out += differences(logged[key], replayed[key], where)
        return out
    if isinstance(logged, list) and isinstance(replayed, list) and len(logged) == len(replayed):
        return [line for i, (a, b) in enumerate(zip(logged, replayed, strict=True))
                for line in differences(a, b, f"{path}[{i}]")]
    return [] if logged == replayed else [f"{path}: {logged!r} -> {replayed!r}"]


def replay(log: DecisionLog, decision_id: str, *, with_tables: TableSet | None = None,
           label: str | None = None) -> Any:
    """Decide ``decision_id`` again with its archived tables and model (or ``with_tables``).

    A decision of a logged batch run (an id ``<run id>-<row>``) is found in its
    run's output and replayed by ``engine.audit.runs.replay_row``; a collection step
    that fell due is computed again by ``engine.collections.steps.replay_step``.
    """

    if row_of_id(decision_id) is not None and not log.has(decision_id):

        return replay_row(log, decision_id, with_tables=with_tables, label=label)
    if log.kind(decision_id) == STEP_KIND:
        if with_tables is not None:
            raise InputError(f"{decision_id} is a collection step: it replays with the tables "
                             "archived for it only (leave out --with)")
        return replay_step(log, decision_id, differences)
    logged = log.get(decision_id)
    archive = Archive(log.engine)
    needed = f"that decision {decision_id} was made with "
    with tempfile.TemporaryDirectory(prefix="gridcredit-replay-") as tmp:
        shadow = logged.challenger.model_sha256 if logged.challenger else None
        home = archive.materialise(Path(tmp), logged.tables.content_hash,
                                   [logged.score.model_sha256], needed_for=needed,
                                   challenger=shadow)
        engine = load(home)
        if with_tables is not None:
            engine = engine.with_tables(with_tables)
        try:
            made = engine.decide(record_of(logged), decision_id=logged.decision_id)
        except EngineError as exc:
            raise InputError(f"decision {decision_id}: its stored inputs no longer decide: "
                             f"{exc.message}") from None
    replayed = made.model_copy(update={"timings_ms": dict(logged.timings_ms),
                                       "events": logged.events}).sealed()
    diff = differences(_comparable(logged), _comparable(replayed))
    return Replay(logged, replayed, tuple(diff),
                  counterfactual=(label or "another table set") if with_tables else None)


def _comparable(decision: Decision) -> dict[str, Any]:
    data = decision.model_dump(mode="json")
    data.pop("digest", None)
    return data


@dataclass(frozen=True)
class SampleReport:
    """A periodic replay control: how many of a random sample reproduced."""

    since: str
    population: int
    sampled: tuple[str, ...]
    reproduced: int
    differs: tuple[str, ...]
    missing: tuple[str, ...]
    why: tuple[tuple[str, str], ...] = ()  # (decision id, what stopped its replay)

    def report(self) -> str:
        lines = [f"replayed {len(self.sampled):,} of {self.population:,} decisions logged "
                 f"since {self.since}: {self.reproduced:,} reproduced, "
                 f"{len(self.differs):,} differ, {len(self.missing):,} cannot be replayed "
                 "(archive entry or output file missing)"]
        why = dict(self.why)
        lines += [f"  differs: {i}" + (f" ({why[i]})" if i in why else "")
                  for i in self.differs]
        lines += [f"  missing: {i}" for i in self.missing]
        return "\n".join(lines) + "\n"

    @property
    def ok(self) -> bool:
        return not self.differs and not self.missing


def _ids_since(log: DecisionLog, since: dt.date) -> Iterator[str]:
    query = (select(decision_log.c.decision_id)
             .where(decision_log.c.created_at >= since.isoformat())
             .where(decision_log.c.customer_id != RUN_CUSTOMER)
             .order_by(decision_log.c.seq))
    with log.engine.connect() as conn:
        yield from conn.scalars(query)


def _batch_population(log: DecisionLog, since: dt.date) -> list[tuple[dict[str, Any], int]]:
    """Each batch run logged since ``since``, with how many decisions its output holds."""
    return [(run, int(run["counts"]["decided"])) for run in log.runs()
            if run.get("as_of", "") >= since.isoformat() and run["counts"]["decided"]]


def _batch_id(run: dict[str, Any], position: int) -> str | None:
    """The decision id at output row ``position`` of ``run`` (None when the output is gone)."""

    ids = output_ids(run, position, position + 1)
    return ids[0] if ids else None


def replay_sample(log: DecisionLog, since: dt.date, n: int, *, seed: int = 0) -> SampleReport:
    """Replay ``n`` decisions drawn at random (seeded) from those logged since ``since``.

    The population holds the decisions logged one by one (service, CLI) and
    every row of the batch runs logged since then, so a control samples both
    in proportion; a batch row is read from its run's output only when drawn.
    """

    if n < 1:
        raise InputError(f"--sample {n}: give a positive number of decisions to replay")
    ids = list(_ids_since(log, since))
    runs = _batch_population(log, since)
    population = len(ids) + sum(rows for _run, rows in runs)
    drawn = sorted(random.Random(seed).sample(range(population), min(n, population)))
    chosen, gone = [], []
    for position in drawn:
        if position < len(ids):
            chosen.append(ids[position])
            continue
        position -= len(ids)
        for run, rows in runs:
            if position < rows:
                found = _batch_id(run, position)
                if found is None:
                    gone.append(f"run {run['run_id']} output row {position} "
                                f"(its output {run['output']['path']} is gone)")
                else:
                    chosen.append(found)
                break
            position -= rows
    reproduced, differs, missing, why = 0, [], list(gone), []
    for decision_id in chosen:
        try:
            result = replay(log, decision_id)
        except ArchiveMissing:
            missing.append(decision_id)
            continue
        except EngineError as exc:  # an edited row: it differs from what was logged
            differs.append(decision_id)
            why.append((decision_id, exc.message))
            continue
        if result.reproduced:
            reproduced += 1
        else:
            differs.append(decision_id)
    return SampleReport(since.isoformat(), population, tuple(chosen + gone), reproduced,
                        tuple(differs), tuple(missing), tuple(why))
