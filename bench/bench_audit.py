"""What logging every decision durably costs: the hash-chained log against a plain fsync'd file.

Baseline, measured in the same run: the same canonical JSON of each decision
appended as one line to a plain file, with ``fsync`` after each decision
(one-at-a-time) or after each batch of 1,000 (batched). That is the cheapest
way to make a record survive a power cut; the ratios say what the database,
the hash chain and the write lock add on top (ratio > 1: slower than the file).

Measured: SQLite in WAL mode with ``synchronous=FULL`` (the default) and with
``NORMAL`` (for comparison), and a local PostgreSQL server with fsync on, when
its binaries are installed.
"""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from engine.audit import DecisionLog, open_log
from engine.audit_store import ensure_schema, make_engine, resolve_url
from engine.decision import Decision, canonical_json
from tests.pg import PostgresServer, find_bin_dir
from tests.test_audit import make_decision

BATCH = 1000


def _file_single(path: Path, decisions: list[Decision]) -> float:
    started = time.perf_counter()
    with path.open("ab") as f:
        for d in decisions:
            f.write(canonical_json(d.model_dump(mode="json")).encode() + b"\n")
            f.flush()
            os.fsync(f.fileno())
    return time.perf_counter() - started


def _file_batched(path: Path, decisions: list[Decision]) -> float:
    started = time.perf_counter()
    with path.open("ab") as f:
        for start in range(0, len(decisions), BATCH):
            for d in decisions[start:start + BATCH]:
                f.write(canonical_json(d.model_dump(mode="json")).encode() + b"\n")
            f.flush()
            os.fsync(f.fileno())
    return time.perf_counter() - started


def _log_single(log: DecisionLog, decisions: list[Decision]) -> float:
    started = time.perf_counter()
    for d in decisions:
        log.append(d)
    return time.perf_counter() - started


def _log_batched(log: DecisionLog, decisions: list[Decision]) -> float:
    started = time.perf_counter()
    for start in range(0, len(decisions), BATCH):
        log.append_many(decisions[start:start + BATCH])
    return time.perf_counter() - started


def _measure(open_fresh: Callable[[], DecisionLog], single: list[Decision],
             batched: list[Decision], file_single: float, file_batched: float) -> dict[str, Any]:
    with open_fresh() as log:
        t_single = _log_single(log, single)
        t_batched = _log_batched(log, batched)
        started = time.perf_counter()
        report = log.verify()
        t_verify = time.perf_counter() - started
    assert report.ok and report.rows == len(single) + len(batched), report
    return {
        "appends_per_s_single": round(len(single) / t_single),
        "appends_per_s_batched": round(len(batched) / t_batched),
        "ms_per_append_single": round(1000 * t_single / len(single), 3),
        "ratio_vs_fsync_file_single": round(t_single / file_single, 2),
        "ratio_vs_fsync_file_batched": round(t_batched / file_batched, 2),
        "verify_rows_per_s": round(report.rows / t_verify),
    }


def run(results: Path, quick: bool = False) -> dict[str, Any]:
    n_single = 200 if quick else 2000
    n_batched = 5 * BATCH if quick else 50 * BATCH
    single = [make_decision(i) for i in range(n_single)]
    batched = [make_decision(i) for i in range(n_single, n_single + n_batched)]
    figures: dict[str, Any] = {"single_appends": n_single, "batched_appends": n_batched,
                               "batch_size": BATCH}
    with tempfile.TemporaryDirectory(dir=results) as tmp:
        folder = Path(tmp)
        file_single = _file_single(folder / "single.jsonl", single)
        file_batched = _file_batched(folder / "batched.jsonl", batched)
        figures["baseline_fsync_file"] = {
            "appends_per_s_single": round(n_single / file_single),
            "appends_per_s_batched": round(n_batched / file_batched),
        }

        def sqlite(sync: str) -> Callable[[], DecisionLog]:
            def open_fresh() -> DecisionLog:
                engine = make_engine(resolve_url(path=folder / f"log-{sync}.sqlite"),
                                     synchronous=sync)
                ensure_schema(engine)
                return DecisionLog(engine)
            return open_fresh

        figures["sqlite_wal_full"] = _measure(sqlite("FULL"), single, batched,
                                              file_single, file_batched)
        figures["sqlite_wal_normal"] = _measure(sqlite("NORMAL"), single, batched,
                                                file_single, file_batched)
    bin_dir = find_bin_dir()
    if bin_dir is None:
        figures["postgresql"] = "skipped: PostgreSQL binaries not installed"
        return figures
    server = PostgresServer(bin_dir, durable=True).start()
    try:
        url = server.create_database("bench")
        figures["postgresql"] = _measure(lambda: open_log(url), single, batched,
                                         file_single, file_batched)
    finally:
        server.stop()
    return figures
