"""Impact runs in the background, with progress the page can poll.

A run compares two table sets over a population file with
``engine.batch.impact.compare`` in a worker thread; the page asks for its
state (rows done of rows in the file) until it is finished or failed.
"""

from __future__ import annotations

import threading
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from engine.batch.impact import compare
from engine.errors import EngineError, InputError

if TYPE_CHECKING:
    from engine.batch.impact import Impact
    from engine.decider import Engine
    from engine.tables import TableSet

__all__ = ["ImpactJob", "Jobs", "count_rows"]

MAX_JOBS = 20


def count_rows(path: Path) -> int:
    """Rows in a population file, cheaply (Parquet metadata, CSV line count)."""
    if path.suffix.lower() == ".parquet":
        import pyarrow.parquet as pq

        return pq.ParquetFile(path).metadata.num_rows
    with path.open("rb") as f:
        lines = sum(chunk.count(b"\n") for chunk in iter(lambda: f.read(1 << 20), b""))
    return max(lines - 1, 0)


@dataclass
class ImpactJob:
    """One impact run: its inputs, progress and, when done, the result or the error."""

    id: str
    baseline: str
    candidate: str
    population: str
    total: int
    done: int = 0
    state: str = "running"  # running, finished, failed
    error: str = ""
    result: Impact | None = field(default=None, repr=False)

    def status(self) -> dict[str, Any]:
        return {"id": self.id, "state": self.state, "done": self.done, "total": self.total,
                "error": self.error}


class Jobs:
    """The impact runs of one workbench, newest last."""

    def __init__(self) -> None:
        self._jobs: dict[str, ImpactJob] = {}
        self._lock = threading.Lock()

    def get(self, job_id: str) -> ImpactJob:
        with self._lock:
            job = self._jobs.get(job_id)
        if job is None:
            raise InputError(f"no impact run {job_id!r} (runs are kept in memory until the "
                             "workbench restarts)")
        return job

    def start(self, engine: Engine, baseline: tuple[str, TableSet],
              candidate: tuple[str, TableSet], population: Path) -> ImpactJob:

        total = count_rows(population)
        job = ImpactJob(uuid.uuid4().hex[:12], baseline[0], candidate[0], population.name, total)
        chunk = max(2_000, total // 20 or 1)

        def run() -> None:
            def progress(rows: int) -> None:
                job.done = rows

            try:
                job.result = compare(engine, baseline[1], candidate[1], population,
                                     baseline_label=baseline[0], candidate_label=candidate[0],
                                     chunk_size=chunk, progress=progress)
                job.done = job.result.rows_in
                job.state = "finished"
            except EngineError as exc:
                job.error, job.state = exc.message, "failed"

        with self._lock:
            self._jobs[job.id] = job
            while len(self._jobs) > MAX_JOBS:
                self._jobs.pop(next(iter(self._jobs)))
        threading.Thread(target=run, name=f"impact-{job.id}", daemon=True).start()
        return job
