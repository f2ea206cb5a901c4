"""Batch runs in the decision log: the run entry, its decisions, and checking its files.

The entry is written by ``engine.batch.runlog``; this module reads it back.

A batch run with ``--db`` is one row of the decision log's chain
(``DecisionLog.append_run``), written once every chunk is decided and before
the output is moved into place. Its payload, the *run entry*, records::

    run_id, as_of (the day it was logged), engine_version, executor
    input     path, bytes, sha256 of the file decided
    tables    version, versions, content_hash     models / challengers  id -> sha256
    segments  per model segment: customer classes, model and challenger sha256
    counts    rows_in = decided + rejected
    output    path, format, sha256 of the file, schema, and per part (chunk):
              input rows, decided, rejected, first output row, part digest
    rejects   path, sha256

Each output row carries its decision id (``<run id>-<input row>``), its
digest (the seal ``Engine.decide`` gives the same record,
``engine.batch.seals``), its explanation columns and the record it was decided
from (``input_<field>``), so the output alone holds every decision whole:
``audit show`` and ``audit replay`` find a batch decision through the run
entry and the output file and decide its stored inputs again with the
archived tables and models, and ``audit verify`` recomputes the output's
digests and names an edited row.
"""

from __future__ import annotations

import contextlib
import json
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from engine.audit.archive import Archive
from engine.audit.log import DecisionLog, DecisionNotFound
from engine.batch.decide import decide_frame
from engine.batch.digests import file_sha256, read_output, row_groups, table_digest
from engine.batch.runfiles import decisions_table
from engine.batch.seals import INPUT_PREFIX, row_of_id
from engine.decider import Engine, load
from engine.decision import Decision, EventOutcome, canonical_json
from engine.errors import EngineError, InputError

if TYPE_CHECKING:
    from engine.tables import TableSet

__all__ = ["BatchReplay", "BatchRow", "RunCheck", "find_row", "output_ids", "rebuild",
           "replay_row", "run_engine", "verify_runs"]
_TYPES = {"string": pa.string(), "double": pa.float64(), "int64": pa.int64(),
          "bool": pa.bool_()}


# --------------------------------------------------------------------------- reading

def _schema(run: dict[str, Any]) -> pa.Schema:
    return pa.schema([(name, _TYPES[kind]) for name, kind in run["output"]["schema"]])


def _read_range(path: Path, schema: pa.Schema, start: int, stop: int) -> pa.Table:
    """Rows ``start`` to ``stop`` of an output; Parquet reads only the row groups holding them."""
    if path.suffix.lower() != ".parquet":
        return read_output(path, schema).slice(start, stop - start)
    import pyarrow.parquet as pq

    pf = pq.ParquetFile(path)
    groups, first = row_groups(pf, start, stop)
    if not groups:
        return schema.empty_table()
    table = pf.read_row_groups(groups).cast(schema)
    return table.slice(start - first, stop - start)


@dataclass(frozen=True)
class BatchRow:
    """One decision of a logged batch run: its run entry and its output row."""

    run: dict[str, Any]
    row: dict[str, Any]
    file: Path
    number: int

    @property
    def decision_id(self) -> str:
        return str(self.row["decision_id"])

    def where(self) -> str:
        return f"run {self.run['run_id']}, {self.file} row {self.number}"


def find_row(log: DecisionLog, decision_id: str) -> BatchRow:
    """The output row of a batch decision, found through its run entry."""
    parsed = row_of_id(decision_id)
    if parsed is None:
        raise DecisionNotFound(f"decision {decision_id!r} is not in the log {log.url}: check "
                               "the id (a batch decision's id is <run id>-<input row>)")
    run_id, input_row = parsed
    run = log.run(run_id)
    part = next((p for p in run["output"]["parts"]
                 if p["first_row"] <= input_row < p["first_row"] + p["rows"]), None)
    if part is None:
        raise DecisionNotFound(f"run {run_id} has no input row {input_row} "
                               f"({run['counts']['rows_in']:,} rows in)")
    path = Path(run["output"]["path"])
    if not path.is_file():
        raise InputError(f"the output of batch run {run_id} is gone from {path}: restore the "
                         "file there (its SHA-256 is in the run entry) to read its decisions")
    start = part["first_output_row"]
    table = _read_range(path, _schema(run), start, start + part["decided"])
    ids = table.column("decision_id").to_pylist()
    if decision_id not in ids:
        raise DecisionNotFound(f"decision {decision_id!r}: input row {input_row} of run "
                               f"{run_id} was not decided (see its rejects file "
                               f"{run['rejects']['path']})")
    at = ids.index(decision_id)
    return BatchRow(run, table.slice(at, 1).to_pylist()[0], path, start + at)


def output_ids(run: dict[str, Any], start: int, stop: int) -> list[str]:
    """The decision ids of output rows ``start`` to ``stop`` of ``run`` ([] if the file is gone)."""
    path = Path(run["output"]["path"])
    if not path.is_file():
        return []
    return [str(i) for i in _read_range(path, _schema(run), start, stop)
            .column("decision_id").to_pylist()]


def _record(row: dict[str, Any]) -> dict[str, Any]:
    return {k[len(INPUT_PREFIX):]: v for k, v in row.items()
            if k.startswith(INPUT_PREFIX) and v is not None}


def _events(row: dict[str, Any]) -> tuple[EventOutcome, ...]:
    text = row.get("events")
    return tuple(EventOutcome.model_validate(e) for e in json.loads(text)) if text else ()


@contextlib.contextmanager
def run_engine(log: DecisionLog, run: dict[str, Any]) -> Iterator[Engine]:
    """The engine a run decided with, loaded from the archive."""

    needed = f"that batch run {run['run_id']} decided with "
    with tempfile.TemporaryDirectory(prefix="gridcredit-run-") as tmp:
        home = Archive(log.engine).materialise_segments(
            Path(tmp), run["tables"]["content_hash"], run["segments"], needed_for=needed)
        yield load(home)


def rebuild(engine: Engine, found: BatchRow) -> Decision:
    """The decision of a batch row, made again through ``Engine.decide`` from its stored record."""
    try:
        made = engine.decide(_record(found.row), decision_id=found.decision_id)
    except EngineError as exc:
        raise InputError(f"decision {found.decision_id} ({found.where()}): its stored inputs "
                         f"no longer decide: {exc.message}") from None
    return made.model_copy(update={"timings_ms": {}, "events": _events(found.row)}).sealed()


def _view(decision: Decision) -> dict[str, Any]:
    """A decision as the columns its batch row holds."""
    return {"grade": decision.grade.grade, "band_grade": decision.grade.band_grade,
            "grade_rule": decision.grade.rule_id, "override": decision.grade.override,
            **{k: decision.segments.get(k) for k in ("consumption_class", "outage_sensitivity",
                                                     "service_sensitivity", "value_tier")},
            "policies": ";".join(decision.policy_ids),
            "policy_params": canonical_json({p.policy_id: p.params
                                             for p in decision.policies}),
            "model_id": decision.score.model_id, "z": decision.score.z, "pd": decision.score.pd,
            "table_hash": decision.tables.content_hash, "digest": decision.digest}


def _row_differences(row: dict[str, Any], decision: Decision) -> list[str]:
    view = _view(decision)
    return [f"{k}: {row.get(k)!r} -> {v!r}" for k, v in view.items()
            if (row.get(k) or None) != (v or None)]


@dataclass(frozen=True)
class BatchReplay:
    """A batch decision and the decision made again from its stored inputs."""

    found: BatchRow
    replayed: Decision
    differences: tuple[str, ...]
    counterfactual: str | None = None

    @property
    def reproduced(self) -> bool:
        """The digest is met and the row holds what the decision says."""
        return (self.counterfactual is None and not self.differences
                and self.replayed.digest == self.found.row["digest"])

    def report(self) -> str:
        f, d = self.found, self.replayed
        if self.counterfactual is not None:
            head = (f"COUNTERFACTUAL for batch decision {f.decision_id} (customer "
                    f"{d.customer_id}, as of {d.as_of}; {f.where()}): the same inputs decided "
                    f"with {self.counterfactual}, not the tables in force on the day")
            lines = [line for line in self.differences if not line.startswith(
                ("digest:", "table_hash:"))]
            if not lines:
                return head + "\nthe same outcome as logged\n"
            return head + "\n" + "".join(f"  {line}\n" for line in lines)
        if self.reproduced:
            return (f"reproduced: batch decision {f.decision_id} digest {d.digest} "
                    f"({f.where()}; tables {d.tables.content_hash[:16]}..., model "
                    f"{d.score.model_id})\n")
        lines = "".join(f"  {line}\n" for line in self.differences)
        return (f"DIFFERS: batch decision {f.decision_id} ({f.where()}) logged digest "
                f"{f.row['digest']}, replayed {d.digest}\n{lines}")


def replay_row(log: DecisionLog, decision_id: str, *, with_tables: TableSet | None = None,
               label: str | None = None) -> BatchReplay:
    """Decide a batch decision again with its archived tables and models (or ``with_tables``)."""
    found = find_row(log, decision_id)
    with run_engine(log, found.run) as engine:
        if with_tables is not None:
            engine = engine.with_tables(with_tables)
        decision = rebuild(engine, found)
    return BatchReplay(found, decision, tuple(_row_differences(found.row, decision)),
                       counterfactual=(label or "another table set") if with_tables else None)


# --------------------------------------------------------------------------- checking

@dataclass(frozen=True)
class RunCheck:
    """What checking one run's files found: ``problems`` is empty when they are as logged."""

    run_id: str
    rows: int
    problems: tuple[str, ...]

    @property
    def ok(self) -> bool:
        return not self.problems


def verify_runs(log: DecisionLog) -> list[RunCheck]:
    """Recompute every logged run's file digests; name the first edited row of each run."""
    return [_check_run(log, run) for run in log.runs()]


def _check_run(log: DecisionLog, run: dict[str, Any]) -> RunCheck:
    out, rejects = run["output"], run["rejects"]
    path = Path(out["path"])
    problems = []
    if not path.is_file():
        problems.append(f"output {path} is missing")
    elif file_sha256(path) != out["sha256"]:
        problems.append(_edited(log, run, path))
    bad = Path(rejects["path"])
    if not bad.is_file():
        problems.append(f"rejects file {bad} is missing")
    elif file_sha256(bad) != rejects["sha256"]:
        problems.append(f"rejects file {bad} was edited (its SHA-256 is not the logged one)")
    return RunCheck(run["run_id"], run["counts"]["rows_in"], tuple(problems))


def _edited(log: DecisionLog, run: dict[str, Any], path: Path) -> str:
    """What changed in an output whose bytes differ from the logged ones."""
    schema = _schema(run)
    try:
        table = read_output(path, schema)
    except (pa.ArrowInvalid, OSError, KeyError) as exc:
        return f"output {path} no longer reads as the run wrote it ({exc})"
    if table.num_rows != run["output"]["rows"]:
        return (f"output {path} has {table.num_rows:,} rows, the run wrote "
                f"{run['output']['rows']:,} (rows were removed or added)")
    for part in run["output"]["parts"]:
        rows = table.slice(part["first_output_row"], part["decided"])
        if table_digest(rows) != part["sha256"]:
            return _edited_row(log, run, path, part, rows)
    return (f"output {path}: its bytes differ from the logged SHA-256 although every row "
            "holds the logged values (the file was rewritten)")


def _what_changed(changed: list[str], have: dict[str, Any], want: dict[str, Any]) -> str:
    """A row's edit in words: its outcome columns, or its inputs when its digest moved."""
    def short(value: Any) -> str:
        text = repr(value)
        return text if len(text) <= 60 else text[:57] + "..."

    if "digest" in changed:
        outcomes = [k for k in changed if k != "digest"]
        return ("was edited: its stored inputs no longer give its digest (they, or the digest, "
                "were changed)" + (f"; decided again they change {', '.join(outcomes)}"
                                   if outcomes else ""))
    return "was edited: " + ", ".join(f"{k} {short(have.get(k))} where its decision says "
                                      f"{short(want.get(k))}" for k in changed)


def _cell(value: Any) -> Any:
    """A value as the part digest sees it: an empty text and an empty cell are one."""
    return None if value == "" else value


def _edited_row(log: DecisionLog, run: dict[str, Any], path: Path, part: dict[str, Any],
                rows: pa.Table) -> str:
    """Decide a part's stored inputs again and name the first row that is not its decision."""
    import pandas as pd


    stored = rows.to_pylist()
    frame = pd.DataFrame([_record(r) for r in stored])
    start = part["first_output_row"]
    with run_engine(log, run) as engine:
        decisions, rejects = decide_frame(
            engine, frame, run_id=run["run_id"], events=[_events(r) for r in stored],
            decision_ids=[str(r["decision_id"]) for r in stored])
    if len(rejects):
        at = int(rejects["row"].iloc[0])
        return (f"output {path} row {start + at} (decision {stored[at]['decision_id']}): its "
                f"stored inputs were edited ({rejects['field'].iloc[0]}: "
                f"{rejects['reason'].iloc[0]})")
    expected = decisions_table(decisions, rows.schema).to_pylist()
    for at, (have, want) in enumerate(zip(stored, expected, strict=True)):
        changed = [k for k in rows.schema.names if _cell(have.get(k)) != _cell(want.get(k))]
        if changed:
            return f"output {path} row {start + at} (decision {have['decision_id']}) " + (
                _what_changed(changed, have, want))
    return (f"output {path} rows {start}-{start + part['decided'] - 1} (part "
            f"{part['index']}) differ from the logged digest, yet every row is its own "
            "decision: the rows were sealed again after the run; do not trust them")
