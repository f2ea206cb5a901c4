"""Exports for regulators: a range of the decision log with the proof that links it.

An export holds every log row whose sequence lies between the first row
created on ``--from`` and the last created on ``--to`` (a contiguous run, so
the chain can be checked), each row whole (payload and hashes), plus a header:

- ``prev_hash``: the row hash just before the range (64 zeros at the start of
  the log), which the first row must chain from;
- ``last_row_hash``: where the range ends;
- ``head``: the log's chain head when the export was made, to compare with a
  head published earlier.

``verify_export`` needs nothing but the file: it recomputes every content and
row hash from ``prev_hash`` on, checks every decision's digest, and names the
first row that fails. JSON Lines puts the header on the first line; Parquet
keeps it in the file's metadata under ``gridcredit.export``.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from engine.audit.decisionrows import DECISIONS, PREVIOUS, RUN_CUSTOMER, entry_kind
from engine.audit.log import DecisionLog
from engine.audit.rowcheck import row_problem
from engine.audit.store import GENESIS, chain_head, decision_log
from engine.decision import Decision
from engine.errors import EngineError, InputError

__all__ = ["FORMAT", "ExportReport", "export_range", "verify_export"]

FORMAT = "gridcredit.audit-export/1"
FORMATS = ("jsonl", "parquet")
_META_KEY = b"gridcredit.export"
_COLUMNS = [c.name for c in decision_log.c]


@dataclass(frozen=True)
class ExportReport:
    """What an export holds, or what checking one found."""

    ok: bool
    rows: int
    first_seq: int | None
    last_seq: int | None
    reason: str
    decision_id: str | None = None


def _seq_bounds(log: DecisionLog, start: dt.date, end: dt.date) -> tuple[int | None, int | None]:
    lo, hi = start.isoformat(), (end + dt.timedelta(days=1)).isoformat()
    with log.engine.connect() as conn:
        first = conn.scalar(select(func.min(decision_log.c.seq))
                            .where(decision_log.c.created_at >= lo))
        last = conn.scalar(select(func.max(decision_log.c.seq))
                           .where(decision_log.c.created_at < hi))
    if first is None or last is None or last < first:
        return None, None
    return int(first), int(last)


def _rows(log: DecisionLog, first: int, last: int) -> Iterator[dict[str, Any]]:
    query = (select(decision_log).where(decision_log.c.seq.between(first, last))
             .order_by(decision_log.c.seq))
    with log.engine.connect() as conn:
        for row in conn.execution_options(yield_per=2000).execute(query).mappings():
            yield dict(row)


def _header(log: DecisionLog, start: dt.date, end: dt.date, first: int, last: int,
            rows: int, last_hash: str) -> dict[str, Any]:
    with log.engine.connect() as conn:
        prev = GENESIS if first == 1 else conn.scalar(
            select(decision_log.c.row_hash).where(decision_log.c.seq == first - 1))
        head = conn.execute(select(chain_head.c.seq, chain_head.c.row_hash)
                            .where(chain_head.c.name == "decision_log")).one()
    return {"format": FORMAT, "from": start.isoformat(), "to": end.isoformat(),
            "first_seq": first, "last_seq": last, "rows": rows, "prev_hash": prev,
            "last_row_hash": last_hash, "head": {"seq": int(head.seq), "row_hash": head.row_hash},
            "exported_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "source": log.url}


def export_range(log: DecisionLog, start: dt.date, end: dt.date, out: Path,
                 fmt: str = "jsonl") -> ExportReport:
    """Write the decisions logged from ``start`` to ``end`` (inclusive) with their chain proof."""
    if fmt not in FORMATS:
        raise InputError(f"--format {fmt}: use one of {', '.join(FORMATS)}")
    if end < start:
        raise InputError(f"--to {end} is before --from {start}: give the range oldest first")
    first, last = _seq_bounds(log, start, end)
    if first is None or last is None:
        raise InputError(f"no decisions were logged from {start} to {end} in {log.url}")
    out.parent.mkdir(parents=True, exist_ok=True)
    rows = list(_rows(log, first, last))
    header = _header(log, start, end, first, last, len(rows), rows[-1]["row_hash"])
    if fmt == "jsonl":
        with out.open("w", encoding="utf-8") as fh:
            fh.write(json.dumps(header, sort_keys=True) + "\n")
            for row in rows:
                fh.write(json.dumps(row, sort_keys=True, ensure_ascii=False) + "\n")
    else:
        import pyarrow as pa
        import pyarrow.parquet as pq

        table = pa.Table.from_pylist(rows, schema=_arrow_schema())
        table = table.replace_schema_metadata({_META_KEY: json.dumps(header).encode()})
        pq.write_table(table, out)
    runs = sum(1 for row in rows if row["customer_id"] == RUN_CUSTOMER)
    return ExportReport(True, len(rows), first, last,
                        f"exported {_entries(len(rows) - runs, runs)}")


def _entries(decisions: int, runs: int) -> str:
    """``4 decisions``, ``1 batch run`` or ``3 decisions and 1 batch run``."""
    parts = [f"{decisions:,} decision{'s' if decisions != 1 else ''}"] if decisions or not runs \
        else []
    if runs:
        parts.append(f"{runs:,} batch run{'s' if runs != 1 else ''}")
    return " and ".join(parts)


def _arrow_schema() -> Any:
    import pyarrow as pa

    return pa.schema([(name, pa.int64() if name == "seq" else pa.string()) for name in _COLUMNS])


def _read(path: Path) -> tuple[dict[str, Any], Iterator[dict[str, Any]]]:
    if not path.is_file():
        raise InputError(f"{path}: no such export file")
    if path.suffix.lower() == ".parquet":
        import pyarrow.parquet as pq

        try:
            table = pq.read_table(path)
        except Exception as exc:  # pyarrow raises several unrelated types for a bad file
            raise InputError(f"{path}: not a Parquet export ({exc})") from None
        meta = (table.schema.metadata or {}).get(_META_KEY)
        if meta is None:
            raise InputError(f"{path}: no gridcredit.export header in the Parquet metadata")
        return json.loads(meta), iter(table.to_pylist())
    fh = path.open(encoding="utf-8")
    try:
        header = json.loads(fh.readline())
    except ValueError:
        fh.close()
        raise InputError(f"{path}:1: the first line is not the export header (JSON)") from None

    def rows() -> Iterator[dict[str, Any]]:
        with fh:
            for number, line in enumerate(fh, start=2):
                try:
                    yield json.loads(line)
                except ValueError:
                    yield {"_bad_line": number}
    return header, rows()


def _row_problem(row: dict[str, Any], expected: int, prev: str) -> tuple[str, str | None] | None:
    """What fails at ``row``, and the decision it concerns (a missing one, when it is known)."""
    if "_bad_line" in row:
        return f"line {row['_bad_line']} is not JSON", None
    missing = [c for c in _COLUMNS if c not in row and c != PREVIOUS]  # older exports lack it
    if missing:
        return f"row {expected}: missing {', '.join(missing)}", row.get("decision_id")
    problem = row_problem(DECISIONS, row, expected, prev)
    if problem:
        return f"row {problem[0]}: {problem[1]}", problem[2]
    if entry_kind(row["payload"]) != "decision":
        return None
    try:
        Decision.from_json(row["payload"], source=f"row {expected}")
    except EngineError as exc:
        return exc.message, row.get("decision_id")
    return None


def verify_export(path: Path) -> ExportReport:
    """Check an export offline: every row's hashes, their chain, and every decision's digest."""
    header, rows = _read(path)
    if header.get("format") != FORMAT:
        raise InputError(f"{path}: not a gridcredit audit export (format "
                         f"{header.get('format')!r}, expected {FORMAT})")
    first = int(header["first_seq"])
    prev, count, expected = str(header["prev_hash"]), 0, first
    runs = 0
    for row in rows:
        problem = _row_problem(row, expected, prev)
        if problem:
            return ExportReport(False, count, first, expected - 1 if count else None,
                                *problem)
        prev, count, expected = row["row_hash"], count + 1, expected + 1
        runs += row["customer_id"] == RUN_CUSTOMER
    if count != int(header["rows"]) or prev != header["last_row_hash"]:
        return ExportReport(False, count, first, expected - 1,
                            f"the header says {header['rows']} rows ending in "
                            f"{str(header['last_row_hash'])[:12]}..., the file has {count} "
                            f"ending in {prev[:12]}... (rows were removed or added)")
    return ExportReport(True, count, first, expected - 1,
                        f"{_entries(count - runs, runs)}, seq {first}-{expected - 1}, "
                        "chain intact from "
                        f"{str(header['prev_hash'])[:12]}...; log head at export: seq "
                        f"{header['head']['seq']} {header['head']['row_hash']}")
