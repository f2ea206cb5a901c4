"""A batch run's entry in the decision log, written once its files are assembled.

The entry is one row of the log's chain (``Recorder.batch_run``); what it
records, and how ``audit show``, ``replay`` and ``verify`` read it back, is
described in ``engine.governance.batchruns``.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

from engine import __version__
from engine.audit.recorder import open_recorder
from engine.audit.store import AuditStoreError
from engine.batch.digests import file_sha256
from engine.errors import EngineError, InputError

if TYPE_CHECKING:
    from engine.batch.runfiles import BatchRun, BatchSummary
    from engine.decider import Engine

__all__ = ["FORMAT", "log_run", "run_entry"]

FORMAT = "gridcredit.batch-run/1"


def run_entry(engine: Engine, run: BatchRun, summary: BatchSummary, executor: str
              ) -> dict[str, Any]:
    """The run entry of a finished run whose files are assembled but not yet in place."""
    parts, first_output = [], 0
    for index in sorted(run.done):
        counts = run.done[index]
        parts.append({"index": index, "first_row": counts["first_row"], "rows": counts["rows"],
                      "decided": counts["decided"], "rejected": counts["rejected"],
                      "first_output_row": first_output, "sha256": counts["sha256"]})
        first_output += counts["decided"]
    registry = engine.registry
    segments = [{"segment": s.segment, "customer_classes": list(s.customer_classes),
                 "model_sha256": registry.models[s.segment].sha256,
                 "challenger_sha256": registry.challengers[s.segment].sha256
                 if s.segment in registry.challengers else None}
                for s in registry.spec.segments]
    return {
        "kind": "batch_run", "format": FORMAT, "run_id": run.run_id,
        "as_of": dt.datetime.now(dt.UTC).date().isoformat(),
        "engine_version": __version__,
        "executor": {"run": executor, "tables": "vectorised"},
        "input": {"path": str(run.source.resolve()), "bytes": run.source.stat().st_size,
                  "sha256": file_sha256(run.source)},
        "tables": {"version": engine.tables.version, "versions": dict(engine.tables.versions),
                   "content_hash": engine.tables.content_hash},
        "models": {m.model_id: m.sha256 for m in registry.models.values()},
        "challengers": {m.model_id: m.sha256 for m in registry.challengers.values()},
        "segments": segments,
        "counts": {"rows_in": summary.rows_in, "decided": summary.decided,
                   "rejected": summary.rejected},
        "output": {"path": str(run.output.resolve()),
                   "format": run.output.suffix.lower().lstrip("."),
                   "sha256": file_sha256(run.pending_output), "rows": summary.decided,
                   "schema": [[f.name, str(f.type)] for f in run.schema], "parts": parts},
        "rejects": {"path": str(run.rejects.resolve()), "rows": summary.rejected,
                    "sha256": file_sha256(run.pending_rejects)},
    }


def log_run(db: str, engine: Engine, run: BatchRun, summary: BatchSummary,
            executor: str) -> None:
    """Append the run's entry to the log at ``db``; a failure keeps the parts for ``--resume``."""
    if summary.rows_in != summary.decided + summary.rejected:
        raise InputError(f"batch run {run.run_id}: rows in {summary.rows_in} != decided "
                         f"{summary.decided} + rejected {summary.rejected}: nothing is logged")
    entry = run_entry(engine, run, summary, executor)
    try:
        with open_recorder(db) as recorder:
            recorder.batch_run(entry)
    except EngineError as exc:
        raise AuditStoreError(
            f"batch run {run.run_id}: all {summary.rows_in:,} rows are decided, but the run "
            f"cannot be logged in {db} ({exc.message}); the decided chunks are kept in "
            f"{run.parts}: make the database writable (or wait until the process holding its "
            "lock is done) and run the same command again with --resume to log the run"
        ) from None
