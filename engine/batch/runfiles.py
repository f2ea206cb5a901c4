"""Batch runs on disk: reading input in chunks, part files, the manifest, resume, assembly.

A run never holds more than one chunk in memory. Each finished chunk is
written as numbered part files in a folder beside the output
(``decisions.parquet.parts/``) and recorded in that folder's ``manifest.json``;
only when every chunk is done are the parts assembled into the output and the
folder removed. An interrupted run therefore leaves complete chunks behind,
and ``resume=True`` continues after the last of them: no row is decided twice
and none is lost. ``engine.batch.decide`` decides the chunks; ``engine.batch.scaleout``
drives the same run from Dask workers.
"""

from __future__ import annotations

import json
import os
import shutil
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from engine.batch.digests import logged_schema, table_digest
from engine.errors import FrameError
from engine.frames import FORMATS
from engine.language import ENGLISH, Language
from engine.records import FIELDS

if TYPE_CHECKING:
    from engine.decider import Engine

__all__ = [
    "DECISION_COLUMNS",
    "REJECT_COLUMNS",
    "SHADOW_COLUMNS",
    "SHADOW_SCHEMA",
    "STAGES",
    "BatchRun",
    "BatchSummary",
    "chunk_counts",
    "decisions_table",
    "empty_decisions",
    "part_file",
    "parts_path",
    "read_chunks",
    "rejects_path",
    "store_chunk",
]

REASONS = 4
DECISION_COLUMNS = (
    "customer_id", "customer_class", "as_of", "model_id", "model_sha256", "z", "pd",
    "band_grade", "grade",
    "grade_rule", "override", "consumption_class", "outage_sensitivity", "service_sensitivity",
    "value_tier", "policies", *(f"reason_{i}" for i in range(1, REASONS + 1)),
    "table_version", "table_hash",
)
REJECT_COLUMNS = ("row", "customer_id", "field", "value", "reason")
DECISION_SCHEMA = pa.schema([(c, pa.float64() if c in ("z", "pd") else pa.string())
                             for c in DECISION_COLUMNS])
SHADOW_COLUMNS = ("challenger_model_id", "challenger_pd", "challenger_grade", "challenger_used")
SHADOW_SCHEMA = pa.schema([*DECISION_SCHEMA, ("challenger_model_id", pa.string()),
                           ("challenger_pd", pa.float64()), ("challenger_grade", pa.string()),
                           ("challenger_used", pa.bool_())])
REJECT_SCHEMA = pa.schema([("row", pa.int64())] + [(c, pa.string()) for c in REJECT_COLUMNS[1:]])
STAGES = ("read", "validate", "score", "tables", "assemble", "seal", "write", "log")
MANIFEST = "manifest.json"
MANIFEST_FORMAT = "gridcredit.batch/4"



def empty_decisions() -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype=float if c in ("z", "pd") else object)
                         for c in DECISION_COLUMNS})


# --------------------------------------------------------------------------- summary

@dataclass
class BatchSummary:
    """What a batch run did: counts in, decided, rejected, and where the files are."""

    output: Path
    rejects: Path
    rows_in: int = 0
    decided: int = 0
    rejected: int = 0
    seconds: float = 0.0
    chunks: int = 0
    resumed_chunks: int = 0
    grades: Counter = field(default_factory=Counter)
    policies: Counter = field(default_factory=Counter)
    reject_reasons: Counter = field(default_factory=Counter)
    stage_seconds: dict[str, float] = field(default_factory=dict)
    scale: tuple[str, ...] = ()

    def add(self, decisions: pd.DataFrame, rejects: pd.DataFrame, rows: int) -> None:
        self.add_counts(chunk_counts(decisions, rejects, rows))

    def add_counts(self, counts: Mapping[str, Any]) -> None:
        """Add one chunk's counts as ``chunk_counts`` gives them (and manifests keep them)."""
        self.chunks += 1
        self.rows_in += int(counts["rows"])
        self.decided += int(counts["decided"])
        self.rejected += int(counts["rejected"])
        self.grades.update(counts["grades"])
        self.policies.update(counts["policies"])
        self.reject_reasons.update(counts["reject_fields"])

    def text(self, lang: Language | None = None) -> str:
        """The run in a few lines, in ``lang`` (English when none is given)."""
        t = lang or ENGLISH
        rate = self.rows_in / self.seconds if self.seconds > 0 else 0.0
        seconds = f"{self.seconds:.1f}"
        lines = [
            t.gettext("rows in %(rows)s = decided %(decided)s + rejected %(rejected)s "
                      "(%(seconds)s s, %(rate)s rows/s)", rows=t.count(self.rows_in),
                      decided=t.count(self.decided), rejected=t.count(self.rejected),
                      seconds=seconds, rate=t.count(round(rate))),
            t.gettext("decisions: %(path)s", path=str(self.output)),
            t.gettext("rejects:   %(path)s", path=str(self.rejects)),
        ]
        if self.resumed_chunks:
            lines.append(t.gettext("resumed:  %(done)s of %(chunks)s chunks were already "
                                   "decided by the interrupted run",
                                   done=self.resumed_chunks, chunks=self.chunks))
        if self.grades:
            order = [*self.scale, *sorted(set(self.grades) - set(self.scale))]
            lines.append(t.gettext("grades:   %(counts)s", counts=", ".join(
                f"{g} {t.count(self.grades[g])}" for g in order if self.grades.get(g))))
        if self.policies:
            lines.append(t.gettext("policies:"))
            lines += [f"  {pid:<28} {t.count(n):>10}" for pid, n in self.policies.most_common()]
        if self.reject_reasons:
            lines.append(t.gettext("rejected by field: %(counts)s", counts=", ".join(
                f"{f} {t.count(n)}" for f, n in self.reject_reasons.most_common())))
        total = sum(self.stage_seconds.values())
        if total > 0:
            stages = {"read": t.gettext("read"), "validate": t.gettext("validate"),
                      "score": t.gettext("score"), "tables": t.gettext("tables"),
                      "assemble": t.gettext("assemble"), "seal": t.gettext("seal"),
                      "write": t.gettext("write"), "log": t.gettext("log")}
            lines.append(t.gettext("time by stage: %(shares)s", shares=", ".join(
                f"{stages.get(s, s)} {self.stage_seconds[s] / total:.0%}" for s in STAGES
                if self.stage_seconds.get(s))))
        return "\n".join(lines)

    def as_dict(self) -> dict[str, Any]:
        return {
            "output": str(self.output), "rejects": str(self.rejects), "rows_in": self.rows_in,
            "decided": self.decided, "rejected": self.rejected, "seconds": self.seconds,
            "chunks": self.chunks, "resumed_chunks": self.resumed_chunks,
            "grades": dict(self.grades), "policies": dict(self.policies),
            "stage_seconds": {k: round(v, 3) for k, v in self.stage_seconds.items()},
        }


def chunk_counts(decisions: pd.DataFrame, rejects: pd.DataFrame, rows: int) -> dict[str, Any]:
    """One chunk's counts, small enough to keep in the manifest (JSON)."""
    policies: Counter = Counter()
    for ids, n in decisions["policies"].value_counts().items():
        for pid in filter(None, str(ids).split(";")):
            policies[pid] += int(n)
    return {
        "rows": int(rows), "decided": len(decisions), "rejected": len(rejects),
        "grades": {str(k): int(v) for k, v in decisions["grade"].value_counts().items()},
        "policies": dict(policies),
        "reject_fields": {str(k): int(v) for k, v in rejects["field"].value_counts().items()},
    }


# --------------------------------------------------------------------------- files

def rejects_path(output: Path) -> Path:
    """Rejects go beside the output: ``decisions.parquet`` -> ``decisions.rejects.csv``."""
    return output.with_name(f"{output.stem}.rejects.csv")


def parts_path(output: Path) -> Path:
    """Where a run keeps its finished chunks until it assembles the output."""
    return output.with_name(f"{output.name}.parts")


def read_chunks(source: Path, size: int) -> Iterator[pd.DataFrame]:
    """The input, ``size`` rows at a time (CSV or Parquet), never more in memory."""
    if source.suffix.lower() == ".parquet":
        try:
            for batch in pq.ParquetFile(source).iter_batches(batch_size=size):
                yield batch.to_pandas()
        except (pa.ArrowInvalid, OSError) as exc:
            raise FrameError(f"not a readable Parquet file ({exc})", file=str(source)) from None
        return
    if source.stat().st_size == 0:
        return
    try:
        reader = pd.read_csv(source, chunksize=size, dtype={"customer_id": "string"})
        for chunk in reader:
            yield chunk.reset_index(drop=True)
    except (pd.errors.ParserError, UnicodeDecodeError, ValueError) as exc:
        raise FrameError(f"not a readable CSV file ({exc})", file=str(source)) from None
    except pd.errors.EmptyDataError:
        return


def _columns(source: Path) -> list[str] | None:
    """The input's column names (None for an empty file); refuses unreadable files."""
    if source.suffix.lower() == ".parquet":
        try:
            return list(pq.read_schema(source).names)
        except (pa.ArrowInvalid, OSError) as exc:
            raise FrameError(f"not a readable Parquet file ({exc})", file=str(source)) from None
    if source.stat().st_size == 0:
        return None
    try:
        return list(pd.read_csv(source, nrows=0).columns)
    except pd.errors.EmptyDataError:
        return None
    except (pd.errors.ParserError, UnicodeDecodeError, ValueError) as exc:
        raise FrameError(f"not a readable CSV file ({exc})", file=str(source)) from None


def _count_rows(source: Path) -> int | None:
    if source.suffix.lower() == ".parquet":
        return pq.ParquetFile(source).metadata.num_rows
    return None


class BatchRun:
    """One batch run's files: checks, part files, the manifest of finished chunks, assembly.

    The manifest records the input (size and modification time), the chunk
    size and the versions that decide; resuming with any of them changed is
    refused, because the finished parts would no longer match the rest.
    """

    def __init__(self, engine: Engine, source: str | Path, output: str | Path, *,
                 chunk_size: int = 100_000, overwrite: bool = False,
                 resume: bool = False, logged: bool = False) -> None:
        self.source, self.output = Path(source), Path(output)
        self.schema = SHADOW_SCHEMA if engine.registry.challengers else DECISION_SCHEMA
        if logged:

            self.schema = logged_schema(self.schema)
        self.logged = logged
        self.scale = tuple(b.grade for b in engine.tables.scale)
        self.run_id = "run-" + uuid.uuid4().hex
        self.rejects = rejects_path(self.output)
        self.parts = parts_path(self.output)
        self.chunk_size = int(chunk_size)
        if self.chunk_size < 1:
            raise FrameError(f"chunk size must be at least 1, not {chunk_size}")
        for path in (self.source, self.output):
            if path.suffix.lower() not in FORMATS:
                raise FrameError(f"unsupported file type '{path.suffix or '(none)'}': "
                                 "use a .csv or .parquet file", file=str(path))
        if not self.source.exists():
            raise FrameError("file not found", file=str(self.source))
        columns = _columns(self.source)
        if columns is not None:
            missing = [f.name for f in FIELDS if f.required == "all" and f.name not in columns]
            if missing:
                raise FrameError("missing required columns: " + ", ".join(missing)
                                 + " (the header has: " + ", ".join(columns) + ")",
                                 columns=missing, file=str(self.source))
        for path in (self.output, self.rejects):
            if path.exists() and not overwrite:
                raise FrameError("output exists: use --overwrite to replace it", file=str(path))
        stat = self.source.stat()
        self.identity = {
            "format": MANIFEST_FORMAT,
            "source": str(self.source.resolve()),
            "source_bytes": stat.st_size,
            "source_mtime_ns": stat.st_mtime_ns,
            "chunk_size": self.chunk_size,
            "tables_hash": engine.tables.content_hash,
            "models": {m.model_id: m.sha256 for m in engine.registry.models.values()},
            "logged": logged,
        }
        self.done: dict[int, dict[str, Any]] = {}
        self.stage_seconds: dict[str, float] = {}
        self.resumed = 0
        manifest = self.parts / MANIFEST
        if self.parts.exists() and resume and manifest.exists():
            self._load_manifest(manifest)
        elif self.parts.exists() and not (resume or overwrite):
            raise FrameError("an interrupted run left its finished chunks here: use --resume "
                             "to continue it or --overwrite to start over", file=str(self.parts))
        elif self.parts.exists():
            shutil.rmtree(self.parts)
        self.parts.mkdir(parents=True, exist_ok=True)
        self.total_rows = _count_rows(self.source)
        self._writers: list[tuple[str, Path, _Writer]] | None = None
        self._assembled = 0
        self.started = time.perf_counter()

    def _load_manifest(self, path: Path) -> None:
        try:
            data = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise FrameError(f"cannot resume: manifest unreadable ({exc}); use --overwrite "
                             "to start over", file=str(path)) from None
        for key, value in self.identity.items():
            if data.get(key) != value:
                raise FrameError(f"cannot resume: '{key}' changed since the interrupted run "
                                 f"(was {data.get(key)!r}, now {value!r}); use --overwrite "
                                 "to start over", file=str(path))
        self.run_id = str(data.get("run_id") or self.run_id)
        self.done = {int(k): v for k, v in data.get("chunks", {}).items()
                     if self._part(int(k), "decisions").exists()
                     and self._part(int(k), "rejects").exists()}
        self.resumed = len(self.done)

    def _part(self, index: int, kind: str) -> Path:
        return part_file(self.parts, index, kind)

    def pending(self) -> Iterator[tuple[int, int, pd.DataFrame]]:
        """``(chunk index, first row, frame)`` for every chunk not finished yet."""
        first_row = 0
        reader = read_chunks(self.source, self.chunk_size)
        index = 0
        while True:
            t0 = time.perf_counter()
            chunk = next(reader, None)
            self._add_time("read", time.perf_counter() - t0)
            if chunk is None:
                break
            if index not in self.done:
                yield index, first_row, chunk
            first_row += len(chunk)
            index += 1
        self.chunk_count = index

    def chunk_plan(self) -> list[tuple[int, int, int]] | None:
        """``(chunk index, first row, rows)`` of every chunk, from Parquet metadata alone.

        The same chunks ``pending`` reads (fixed-size slices of the whole file,
        across row groups), so that workers reading their own ranges write the
        parts a single process would. None for CSV, whose rows are only known
        by reading it.
        """
        if self.total_rows is None:
            return None
        size = self.chunk_size
        plan = [(i, first, min(size, self.total_rows - first))
                for i, first in enumerate(range(0, self.total_rows, size))]
        self.chunk_count = len(plan)
        return plan

    def commit(self, index: int, first_row: int, rows: int, decisions: pd.DataFrame,
               rejects: pd.DataFrame) -> dict[str, Any]:
        """Write one finished chunk's parts, then record it in the manifest (in that order)."""
        t0 = time.perf_counter()
        counts = store_chunk(self.parts, index, first_row, rows, decisions, rejects,
                             schema=self.schema)
        self.record(index, counts)
        self._add_time("write", time.perf_counter() - t0)
        return counts

    def record(self, index: int, counts: Mapping[str, Any]) -> None:
        """Record a chunk whose parts are written (by this process or a worker)."""
        self.done[index] = dict(counts)
        manifest = self.identity | {"run_id": self.run_id,
                                    "chunks": {str(k): v for k, v in sorted(self.done.items())}}
        tmp = self.parts / (MANIFEST + ".tmp")
        tmp.write_text(json.dumps(manifest, indent=1))
        os.replace(tmp, self.parts / MANIFEST)

    def _add_time(self, stage: str, seconds: float) -> None:
        self.stage_seconds[stage] = self.stage_seconds.get(stage, 0.0) + seconds

    def add_timings(self, timings: Mapping[str, float]) -> None:
        for stage, seconds in timings.items():
            self._add_time(stage, seconds)

    def finish(self, log: Callable[[BatchRun, BatchSummary], None] | None = None
               ) -> BatchSummary:
        """Assemble the parts into the output and the rejects file; check rows in = out.

        ``log`` is called with the assembled files still beside their targets
        (``pending_output``, ``pending_rejects``) and the parts still in place:
        when it raises, the parts stay and ``resume`` assembles and logs again.
        """
        t0 = time.perf_counter()
        count = getattr(self, "chunk_count", None)
        if count is None or sorted(self.done) != list(range(count)):
            raise FrameError("the run is not complete: decide every chunk before assembling",
                             file=str(self.parts))
        summary = BatchSummary(output=self.output, rejects=self.rejects,
                               resumed_chunks=self.resumed, scale=self.scale)
        expected = 0
        for i in range(count):
            counts = self.done[i]
            if counts["first_row"] != expected:
                raise FrameError(f"chunk {i} starts at row {counts['first_row']}, expected "
                                 f"{expected}: use --overwrite to start over",
                                 file=str(self.parts))
            expected += counts["rows"]
            summary.add_counts(counts)
        self.assemble_ready()
        t0 = time.perf_counter()
        writers = self._writers or []
        for _kind, _target, writer in writers:
            writer.close()
        self._writers = None
        if self.total_rows is not None and summary.rows_in != self.total_rows:
            raise FrameError(f"read {summary.rows_in} rows of {self.total_rows}",
                             file=str(self.source))
        if log is not None:
            self._add_time("write", time.perf_counter() - t0)
            t0 = time.perf_counter()
            try:
                log(self, summary)
            except BaseException:
                for _kind, _target, writer in writers:
                    writer.path.unlink(missing_ok=True)
                raise
            self._add_time("log", time.perf_counter() - t0)
            t0 = time.perf_counter()
        for _kind, target, writer in writers:
            os.replace(writer.path, target)
        shutil.rmtree(self.parts)
        self._add_time("write", time.perf_counter() - t0)
        summary.stage_seconds = dict(self.stage_seconds)
        summary.seconds = time.perf_counter() - self.started
        return summary

    @property
    def pending_output(self) -> Path:
        """The assembled output before it is moved into place."""
        return self.output.with_name(self.output.name + ".tmp")

    @property
    def pending_rejects(self) -> Path:
        return self.rejects.with_name(self.rejects.name + ".tmp")

    def assemble_ready(self) -> None:
        """Append the finished chunks that follow the assembled ones, in order, to the output.

        A run calls this as chunks finish, so the output is written while
        workers are still deciding; ``finish`` appends the rest and moves the
        files into place. Until then they are temporary files beside the output.
        """
        t0 = time.perf_counter()
        if self._writers is None:
            self._writers = [
                (kind, target, _Writer(target.with_name(target.name + ".tmp"), schema).open())
                for kind, target, schema in (("decisions", self.output, self.schema),
                                             ("rejects", self.rejects, REJECT_SCHEMA))]
            self._assembled = 0
        while self._assembled in self.done:
            for kind, _target, writer in self._writers:
                with pa.OSFile(str(self._part(self._assembled, kind))) as source:
                    writer.write(pa.ipc.open_file(source).read_all())
            self._assembled += 1
        self._add_time("write", time.perf_counter() - t0)


def _arrow(frame: pd.DataFrame, schema: pa.Schema, coded: bool = False) -> pa.Table:
    """A frame as an Arrow table of ``schema``; categorical columns stay cheap to convert.

    With ``coded`` a categorical text column stays a dictionary array (its
    codes and categories as they are): the part files keep it so, and the
    output writer hands it to Parquet's dictionary encoding without casting
    it to text and hashing it back.
    """
    arrays = []
    for f in schema:
        col = frame[f.name] if f.name in frame.columns else pd.Series([None] * len(frame))
        if isinstance(col.dtype, pd.CategoricalDtype):
            arrays.append(_dictionary(col, f.type, keep=coded))
        elif isinstance(col.dtype, pd.ArrowDtype):
            arrays.append(pa.array(col.array).cast(f.type))
        elif pa.types.is_floating(f.type) or pa.types.is_integer(f.type):
            arrays.append(pa.array(col.to_numpy(), type=f.type, from_pandas=True))
        elif isinstance(col.dtype, pd.StringDtype):
            arrays.append(pa.array(col.array).cast(f.type))
        else:
            values = np.array(col.to_numpy(dtype=object), dtype=object, copy=True)
            values[pd.isna(values)] = None
            arrays.append(pa.array(values, type=f.type, from_pandas=True))
    if not coded:
        return pa.Table.from_arrays(arrays, schema=schema)
    return pa.Table.from_arrays(arrays, names=schema.names)


def _dictionary(col: pd.Series, typ: pa.DataType, keep: bool) -> pa.Array:
    """A categorical column as a dictionary array of ``typ`` values, or cast to ``typ``."""
    codes = col.cat.codes.to_numpy()
    cats = pa.array(col.cat.categories.astype(object).to_numpy(), type=typ)
    arr = pa.DictionaryArray.from_arrays(pa.array(codes.astype(np.int32), mask=codes < 0),
                                         cats)
    return arr if keep and pa.types.is_string(typ) else arr.cast(typ)


def decisions_table(frame: pd.DataFrame, schema: pa.Schema) -> pa.Table:
    """A decisions frame as the Arrow table a run of ``schema`` writes."""
    return _arrow(frame, schema)


def part_file(parts: Path, index: int, kind: str) -> Path:
    """One finished chunk's decisions or rejects, as an Arrow IPC file.

    Parts are read back once, to assemble the output: Arrow IPC costs next
    to nothing to write and to map, where Parquet would be encoded twice.
    """
    return parts / f"{kind}-{index:06d}.arrow"


def store_chunk(parts: Path, index: int, first_row: int, rows: int, decisions: pd.DataFrame,
                rejects: pd.DataFrame, schema: pa.Schema | None = None) -> dict[str, Any]:
    """Write one chunk's parts (atomically) and return its counts for the manifest.

    A Dask worker calls this for the chunks it decides; the process that owns
    the manifest records the counts only once both parts exist. ``schema`` is
    the run's (by default the decision columns, with shadow columns when the
    frame has them). A part of a logged run (its schema holds ``digest``)
    also records its rows' digest (``engine.batch.digests.table_digest``).
    """
    if schema is None:
        schema = SHADOW_SCHEMA if "challenger_pd" in decisions.columns else DECISION_SCHEMA
    table = _arrow(decisions, schema, coded=True)
    _write_atomic(part_file(parts, index, "decisions"), table)
    _write_atomic(part_file(parts, index, "rejects"),
                  _arrow(rejects.reindex(columns=REJECT_COLUMNS), REJECT_SCHEMA))
    counts = chunk_counts(decisions, rejects, rows) | {"first_row": int(first_row)}
    if "digest" in schema.names:

        counts["sha256"] = table_digest(table, schema)
    return counts


def _write_atomic(path: Path, table: pa.Table) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with pa.OSFile(str(tmp), "wb") as sink, pa.ipc.new_file(sink, table.schema) as writer:
        writer.write_table(table)
    os.replace(tmp, path)


class _Writer:
    """Appends Arrow tables to one CSV or Parquet file; writes the header even when empty.

    Parquet text columns other than the unique ones are dictionary-encoded,
    and they are written from dictionary arrays (parts keep their categorical
    columns so); the file's columns are still plain text, as ``schema`` says:
    the Arrow schema is not stored, so readers see Parquet's own UTF-8 type.
    Column statistics are kept for the unique and numeric columns; the coded
    ones, a handful of values in every row group, would only repeat them.
    """

    def __init__(self, path: Path, schema: pa.Schema) -> None:
        self.path = path
        self.schema = schema
        self.parquet = Path(str(path).removesuffix(".tmp")).suffix.lower() == ".parquet"
        self.coded = {f.name for f in schema if pa.types.is_string(f.type)
                      and f.name not in ("customer_id", "decision_id", "digest")}
        self.stored = pa.schema([pa.field(f.name, pa.dictionary(pa.int32(), f.type))
                                 if f.name in self.coded else f for f in schema])
        self._writer: Any = None

    def open(self) -> _Writer:
        if self.parquet:
            self._writer = pq.ParquetWriter(
                self.path, self.stored, use_dictionary=sorted(self.coded), store_schema=False,
                write_statistics=[n for n in self.schema.names if n not in self.coded])
        else:
            import pyarrow.csv as pacsv

            self._writer = pacsv.CSVWriter(self.path, self.schema)
        return self

    def write(self, table: pa.Table) -> None:
        if not self.parquet:
            self._writer.write_table(table.cast(self.schema))
            return
        columns = [_coded(table.column(f.name), f.type) if f.name in self.coded
                   else table.column(f.name).cast(f.type) for f in self.stored]
        self._writer.write_table(pa.Table.from_arrays(columns, schema=self.stored))

    def close(self) -> None:
        self._writer.close()


def _coded(column: pa.ChunkedArray, typ: pa.DataType) -> pa.ChunkedArray:
    """A text column as a dictionary column of int32 codes into ``typ.value_type`` values."""
    if not pa.types.is_dictionary(column.type):
        column = pc.dictionary_encode(column.cast(typ.value_type))
    return column.cast(typ)
