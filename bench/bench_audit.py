"""What logging every decision durably costs: the hash-chained log against a plain fsync'd file.

Baseline, measured in the same run: the same canonical JSON of each decision
appended as one line to a plain file, with ``fsync`` after each decision
(one-at-a-time) or after each batch of 1,000 (batched). That is the cheapest
way to make a record survive a power cut; the ratios say what the database,
the hash chain and the write lock add on top (ratio > 1: slower than the file).

Each round measures the baseline and every store back to back on the same
decisions; the figures are medians over the rounds, so a busy machine skews
the ratios less than the absolute rates. Measured: SQLite in WAL mode with
``synchronous=FULL`` (the default) and with ``NORMAL`` (for comparison), and a
local PostgreSQL server with fsync on, when its binaries are installed.
"""

from __future__ import annotations

import os
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from engine.audit.log import DecisionLog, open_log
from engine.audit.store import ensure_schema, make_engine, resolve_url
from engine.decision import Decision, canonical_json
from tests.factories import make_decision
from tests.pg import PostgresServer, find_bin_dir

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


def _median(values: list[float]) -> float:
    return statistics.median(values)


def _round(stores: dict[str, Callable[[str], DecisionLog]], folder: Path,
           single: list[Decision], batched: list[Decision]) -> dict[str, dict[str, float]]:
    """One round: the file baseline, then every store, on the same decisions."""
    times = {"file": {"single": _file_single(folder / "single.jsonl", single),
                      "batched": _file_batched(folder / "batched.jsonl", batched)}}
    for name, open_fresh in stores.items():
        with open_fresh(name) as log:
            t_single = _log_single(log, single)
            t_batched = _log_batched(log, batched)
            started = time.perf_counter()
            report = log.verify()
            t_verify = time.perf_counter() - started
        assert report.ok and report.rows == len(single) + len(batched), report
        times[name] = {"single": t_single, "batched": t_batched, "verify": t_verify}
    return times


def _summary(rounds: list[dict[str, dict[str, float]]], name: str, n_single: int,
             n_batched: int) -> dict[str, Any]:
    def per_round(key: str) -> list[float]:
        return [r[name][key] for r in rounds]

    out: dict[str, Any] = {
        "appends_per_s_single": round(_median([n_single / t for t in per_round("single")])),
        "appends_per_s_batched": round(_median([n_batched / t for t in per_round("batched")])),
    }
    if name == "file":
        return out
    out["ms_per_append_single"] = round(1000 * _median(per_round("single")) / n_single, 3)
    out["ratio_vs_fsync_file_single"] = round(
        _median([r[name]["single"] / r["file"]["single"] for r in rounds]), 2)
    out["ratio_vs_fsync_file_batched"] = round(
        _median([r[name]["batched"] / r["file"]["batched"] for r in rounds]), 2)
    out["verify_rows_per_s"] = round(
        _median([(n_single + n_batched) / t for t in per_round("verify")]))
    return out


def run(results: Path, quick: bool = False) -> dict[str, Any]:
    """Medians over rounds; each round measures the baseline and every store back to back."""
    n_rounds = 1 if quick else 3
    n_single = 200 if quick else 1000
    n_batched = 5 * BATCH if quick else 20 * BATCH
    single = [make_decision(i) for i in range(n_single)]
    batched = [make_decision(i) for i in range(n_single, n_single + n_batched)]
    figures: dict[str, Any] = {"rounds": n_rounds, "single_appends": n_single,
                               "batched_appends": n_batched, "batch_size": BATCH}
    server = None
    bin_dir = find_bin_dir()
    if bin_dir is not None:
        server = PostgresServer(bin_dir, durable=True).start()
    try:
        rounds = []
        for _ in range(n_rounds):
            with tempfile.TemporaryDirectory(dir=results) as tmp:
                folder = Path(tmp)

                def open_fresh(name: str, folder: Path = folder) -> DecisionLog:
                    if name == "postgresql":
                        assert server is not None
                        return open_log(server.create_database("bench"))
                    sync = {"sqlite_wal_full": "FULL", "sqlite_wal_normal": "NORMAL"}[name]
                    engine = make_engine(resolve_url(path=folder / f"{name}.sqlite"),
                                         synchronous=sync)
                    ensure_schema(engine)
                    return DecisionLog(engine)

                names = ["sqlite_wal_full", "sqlite_wal_normal"]
                names += ["postgresql"] if server is not None else []
                rounds.append(_round({n: open_fresh for n in names}, folder, single, batched))
    finally:
        if server is not None:
            server.stop()
    figures["baseline_fsync_file"] = _summary(rounds, "file", n_single, n_batched)
    for name in rounds[0]:
        if name != "file":
            figures[name] = _summary(rounds, name, n_single, n_batched)
    if server is None:
        figures["postgresql"] = "skipped: PostgreSQL binaries not installed"
    return figures
