"""Whole customer bases: validate, score and decide column-wise, chunk by chunk.

The batch path runs the same stages as ``Engine.decide`` (records, facts,
indicators, score, tables) over whole frames with the vectorised table
executor, and writes one flat row per customer. Rows that fail validation go
to a rejects file beside the output with the field and the reason, so that
rows in = rows decided + rows rejected, always.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from engine import scale as master_scale
from engine.errors import FrameError
from engine.facts import frame_facts
from engine.frames import FORMATS
from engine.records import validate_frame
from engine.tables import FIRED_PREFIX

if TYPE_CHECKING:
    from engine.decider import Engine

__all__ = ["DECISION_COLUMNS", "BatchSummary", "decide_file", "decide_frame", "rejects_path"]

REASONS = 4
DECISION_COLUMNS = (
    "customer_id", "customer_class", "as_of", "model_id", "z", "pd", "band_grade", "grade",
    "grade_rule", "override", "consumption_class", "outage_sensitivity", "service_sensitivity",
    "value_tier", "policies", *(f"reason_{i}" for i in range(1, REASONS + 1)),
    "table_version", "table_hash",
)
REJECT_COLUMNS = ("row", "customer_id", "field", "value", "reason")
DECISION_SCHEMA = pa.schema([(c, pa.float64() if c in ("z", "pd") else pa.string())
                             for c in DECISION_COLUMNS])


def decide_frame(engine: Engine, frame: pd.DataFrame, *, first_row: int = 0
                 ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Decide every valid row of ``frame``; return ``(decisions, rejects)``.

    ``first_row`` numbers the rejects when ``frame`` is one chunk of a larger input.
    """
    accepted, rejects = validate_frame(frame)
    rejects = rejects.assign(row=rejects["row"] + first_row)
    if accepted.empty:
        return _empty_decisions(), rejects
    facts = frame_facts(accepted)
    scored = engine.registry.score_frame(facts)
    facts["z"] = scored["z"].to_numpy()
    facts["pd"] = scored["pd"].to_numpy()
    decided = engine.tables.decide_frame(facts)

    grade_table = next(t for t in engine.tables.tables if "grade" in t.outputs)
    grade_rule = decided[FIRED_PREFIX + grade_table.name].map(lambda ids: ids[0] if ids else None)
    band_ids = {rid for table, rid in engine.band_rules if table == grade_table.name}
    is_band = grade_rule.isin(band_ids).to_numpy()
    bands = np.array([b.grade for b in engine.bands], dtype=object)
    pd_values = facts["pd"].to_numpy(dtype=float)
    out = {
        "customer_id": facts["customer_id"].astype(str).to_numpy(),
        "customer_class": facts["customer_class"].astype(str).to_numpy(),
        "as_of": pd.to_datetime(facts["as_of"]).dt.strftime("%Y-%m-%d").to_numpy(),
        "model_id": scored["model_id"].to_numpy(dtype=object),
        "z": facts["z"].to_numpy(dtype=float),
        "pd": pd_values,
        "band_grade": bands[master_scale.assign(pd_values, engine.bands)],
        "grade": decided["grade"].to_numpy(dtype=object),
        "grade_rule": grade_rule.to_numpy(dtype=object),
        "override": np.where(is_band, None, grade_rule.to_numpy(dtype=object)),
    }
    for name in ("consumption_class", "outage_sensitivity", "service_sensitivity", "value_tier"):
        out[name] = decided[name].to_numpy(dtype=object)
    out["policies"] = decided["policies"].map(";".join).to_numpy(dtype=object)
    for i in range(1, REASONS + 1):
        column = f"reason_{i}"
        out[column] = (scored[column].to_numpy(dtype=object) if column in scored
                       else np.full(len(facts), None, dtype=object))
    out["table_version"] = np.full(len(facts), engine.tables.version, dtype=object)
    out["table_hash"] = np.full(len(facts), engine.tables.content_hash, dtype=object)
    return pd.DataFrame(out, index=accepted.index), rejects


def _empty_decisions() -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype=float if c in ("z", "pd") else object)
                         for c in DECISION_COLUMNS})


# --------------------------------------------------------------------------- files

@dataclass
class BatchSummary:
    """What a batch run did: counts in, decided, rejected, and where the files are."""

    output: Path
    rejects: Path
    rows_in: int = 0
    decided: int = 0
    rejected: int = 0
    seconds: float = 0.0
    grades: Counter = field(default_factory=Counter)
    policies: Counter = field(default_factory=Counter)
    reject_reasons: Counter = field(default_factory=Counter)

    def add(self, decisions: pd.DataFrame, rejects: pd.DataFrame, rows: int) -> None:
        self.rows_in += rows
        self.decided += len(decisions)
        self.rejected += len(rejects)
        self.grades.update(decisions["grade"].value_counts().to_dict())
        for ids, n in decisions["policies"].value_counts().items():
            for pid in filter(None, str(ids).split(";")):
                self.policies[pid] += int(n)
        self.reject_reasons.update(rejects["field"].value_counts().to_dict())

    def text(self) -> str:
        rate = self.rows_in / self.seconds if self.seconds > 0 else 0.0
        lines = [
            f"rows in {self.rows_in:,} = decided {self.decided:,} + rejected {self.rejected:,}"
            f" ({self.seconds:.1f} s, {rate:,.0f} rows/s)",
            f"decisions: {self.output}",
            f"rejects:   {self.rejects}",
        ]
        if self.grades:
            order = ["AAA", "AA", "A", "B", "C"]
            lines.append("grades:   " + ", ".join(
                f"{g} {self.grades[g]:,}" for g in order if self.grades.get(g)))
        if self.policies:
            lines.append("policies:")
            lines += [f"  {pid:<28} {n:>10,}" for pid, n in self.policies.most_common()]
        if self.reject_reasons:
            lines.append("rejected by field: " + ", ".join(
                f"{f} {n:,}" for f, n in self.reject_reasons.most_common()))
        return "\n".join(lines)

    def as_dict(self) -> dict[str, Any]:
        return {
            "output": str(self.output), "rejects": str(self.rejects), "rows_in": self.rows_in,
            "decided": self.decided, "rejected": self.rejected, "seconds": self.seconds,
            "grades": dict(self.grades), "policies": dict(self.policies),
        }


def rejects_path(output: Path) -> Path:
    """Rejects go beside the output: ``decisions.parquet`` -> ``decisions.rejects.csv``."""
    return output.with_name(f"{output.stem}.rejects.csv")


def decide_file(engine: Engine, source: str | Path, output: str | Path, *,
                overwrite: bool = False, chunk_size: int = 100_000,
                progress: bool = False) -> BatchSummary:
    """Decide a CSV/Parquet file chunk by chunk into a CSV/Parquet output and a rejects CSV."""
    source, output = Path(source), Path(output)
    for path in (source, output):
        if path.suffix.lower() not in FORMATS:
            raise FrameError(f"unsupported file type '{path.suffix or '(none)'}': "
                             "use a .csv or .parquet file", file=str(path))
    if not source.exists():
        raise FrameError("file not found", file=str(source))
    bad = rejects_path(output)
    for path in (output, bad):
        if path.exists() and not overwrite:
            raise FrameError("output exists: use --overwrite to replace it", file=str(path))
    summary = BatchSummary(output=output, rejects=bad)
    started = time.perf_counter()
    output.parent.mkdir(parents=True, exist_ok=True)
    total = _count_rows(source)
    bar = _progress(total, progress)
    with _Writer(output, DECISION_SCHEMA) as decisions_out, _Writer(bad) as rejects_out:
        first_row = 0
        for chunk in _chunks(source, chunk_size):
            decisions, rejects = decide_frame(engine, chunk, first_row=first_row)
            decisions_out.write(decisions)
            rejects_out.write(rejects.reindex(columns=REJECT_COLUMNS))
            summary.add(decisions, rejects, len(chunk))
            first_row += len(chunk)
            if bar is not None:
                bar.update(len(chunk))
        if summary.rows_in == 0:
            decisions_out.write(_empty_decisions())
            rejects_out.write(pd.DataFrame(columns=list(REJECT_COLUMNS)))
    if bar is not None:
        bar.close()
    summary.seconds = time.perf_counter() - started
    return summary


def _count_rows(source: Path) -> int | None:
    if source.suffix.lower() == ".parquet":
        try:
            return pq.ParquetFile(source).metadata.num_rows
        except (pa.ArrowInvalid, OSError) as exc:
            raise FrameError(f"not a readable Parquet file ({exc})", file=str(source)) from None
    return None


def _chunks(source: Path, size: int) -> Iterator[pd.DataFrame]:
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


def _progress(total: int | None, enabled: bool):
    if not enabled:
        return None
    from tqdm import tqdm

    return tqdm(total=total, unit="rows", unit_scale=True, desc="deciding", leave=False)


class _Writer:
    """Appends frames to one CSV or Parquet file; creates it on the first write."""

    def __init__(self, path: Path, schema: pa.Schema | None = None) -> None:
        self.path = path
        self.schema = schema
        self.parquet = path.suffix.lower() == ".parquet"
        self._writer: pq.ParquetWriter | None = None
        self._csv_started = False

    def __enter__(self) -> _Writer:
        return self

    def write(self, frame: pd.DataFrame) -> None:
        if self.parquet:
            schema = self._writer.schema if self._writer else self.schema
            table = pa.Table.from_pandas(frame.reset_index(drop=True), preserve_index=False,
                                         schema=schema)
            if self._writer is None:
                self._writer = pq.ParquetWriter(self.path, table.schema)
            self._writer.write_table(table)
            return
        frame.to_csv(self.path, mode="a" if self._csv_started else "w",
                     header=not self._csv_started, index=False)
        self._csv_started = True

    def __exit__(self, *exc: object) -> None:
        if self._writer is not None:
            self._writer.close()
