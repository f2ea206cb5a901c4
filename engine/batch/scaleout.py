"""The batch run, partition-wise on Dask: a local cluster or an existing scheduler.

The client only plans, records and assembles. For a Parquet input it cuts the
file into the same chunks a single-process run reads (from the metadata
alone) and hands each worker a range of them, aligned with the file's row
groups; the worker reads its own rows, decides them and writes the numbered
part files itself, returning only each chunk's counts, which the client
records in the manifest (``engine.batch.decide.BatchRun``). A CSV input, whose rows
cannot be found without reading it, is read by the client and sent chunk by
chunk, the parts still written by the workers. The output is therefore
identical to a single-process run, row for row, and an interrupted Dask run
resumes like any other. The workers and the client must see the same input
and output folders (a local cluster always does).

Workers of a local cluster are forked from the client with its engine
already loaded; other workers load the engine themselves, once per worker
process, from the same project folder (``--home`` / ``GRIDCREDIT_HOME``; the
paths must exist on the workers). Each chunk carries the content hash of the client's tables and the
hashes of its models; a worker that loaded anything else refuses the chunk,
so a cluster with a stale copy of the rules cannot mix two rule sets in one
output. A worker holds one chunk at a time, and the client never holds one
of a Parquet input, so memory stays bounded on both.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import os
import re
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from engine.batch.decide import archive_for_run, decide_frame, progress_bar, run_logger
from engine.batch.digests import row_groups
from engine.batch.runfiles import BatchRun, BatchSummary, store_chunk
from engine.config import EngineConfig
from engine.decider import load
from engine.errors import ConfigError, InputError
from engine.events.outcomes import frame_outcomes
from engine.events.store import open_store

if TYPE_CHECKING:
    from engine.decider import Engine

__all__ = ["ClusterSpec", "decide_file_dask", "parse_cluster", "read_rows", "task_ranges"]

_ADDRESS = re.compile(r"^(tcp|tls|ucx|inproc)://\S+$")
_LOCAL = re.compile(r"^local(?::(\d+))?$")
_ENGINES: dict[tuple[str, str, str], Any] = {}


class ClusterSpec:
    """Where to run: ``local`` / ``local:N`` (a LocalCluster) or a scheduler address."""

    def __init__(self, text: str) -> None:
        self.text = text.strip()
        local = _LOCAL.match(self.text)
        if local:
            self.address = None
            self.workers = int(local.group(1)) if local.group(1) else max(2, os.cpu_count() or 2)
            if self.workers < 1:
                raise InputError(f"--dask {text}: a local cluster needs at least 1 worker")
        elif _ADDRESS.match(self.text):
            self.address = self.text
            self.workers = 0
        else:
            raise InputError(f"--dask {text!r}: use 'local', 'local:N' (N worker processes) "
                             "or a scheduler address such as tcp://scheduler:8786")

    @property
    def local(self) -> bool:
        return self.address is None


def parse_cluster(text: str) -> ClusterSpec:
    """Read a ``--dask`` value, refusing anything that is neither local[:N] nor an address."""
    return ClusterSpec(text)


@contextlib.contextmanager
def _client(spec: ClusterSpec, engine: Engine | None = None,
            where: tuple[str, str, str] | None = None) -> Iterator[Any]:
    """A client on the cluster ``spec`` names.

    Local worker processes are forked from this one where the platform can,
    holding ``engine`` already: spawning them would import every library
    and load the engine again in each, seconds of CPU that a two-core
    machine pays before the first chunk.
    """
    import dask
    from distributed import Client, LocalCluster

    if spec.local:
        fork = "fork" in multiprocessing.get_all_start_methods()
        if fork and engine is not None and where is not None:
            _ENGINES[where] = engine
        try:
            with dask.config.set({"distributed.worker.multiprocessing-method":
                                  "fork" if fork else "spawn"}):
                cluster = LocalCluster(n_workers=spec.workers, threads_per_worker=1,
                                       processes=True, dashboard_address=None,
                                       silence_logs=logging.ERROR)
        finally:
            if where is not None:
                _ENGINES.pop(where, None)
        with cluster, Client(cluster) as client:
            yield client
        return
    try:
        client = Client(spec.address, timeout="20s")
    except OSError as exc:
        raise InputError(f"--dask {spec.address}: cannot reach the scheduler ({exc}); start "
                         "one with 'dask scheduler' or use --dask local") from None
    with client:
        yield client


def _worker_engine(home: str, rules_dir: str, models_dir: str, tables_hash: str,
                   models: dict[str, str]) -> Engine:
    """This worker's engine, loaded once; refused if it is not the client's."""
    key = (home, rules_dir, models_dir)
    engine = _ENGINES.get(key)
    if engine is None:

        engine = load(EngineConfig.at(home, rules_dir=rules_dir, models_dir=models_dir))
        _ENGINES[key] = engine
    if engine.tables.content_hash != tables_hash:
        raise ConfigError(f"worker loaded tables sha256:{engine.tables.content_hash[:12]} but "
                          f"the client decides with sha256:{tables_hash[:12]}: give every "
                          "worker the same rules folder", file=rules_dir)
    mine = {m.model_id: m.sha256 for m in engine.registry.models.values()}
    if mine != models:
        raise ConfigError("worker loaded other model artifacts than the client: give every "
                          "worker the same models folder", file=models_dir)
    return engine


Chunk = tuple[int, int, int]
Result = tuple[int, dict[str, Any], dict[str, float]]


def read_rows(source: str | Path, start: int, stop: int, size: int
              ) -> Iterator[tuple[int, pd.DataFrame]]:
    """Rows ``start`` to ``stop`` of a Parquet file as ``(first row, frame)`` of ``size`` rows.

    Only the row groups that hold the range are read, one batch at a time;
    frames start at ``start + k * size`` whatever the row groups, so they are
    the chunks ``engine.batch.decide.read_chunks`` yields for the whole file.
    """
    pf = pq.ParquetFile(source)
    groups, first = row_groups(pf, start, stop)
    if not groups:
        return
    position, at = first, start
    held: list[pa.RecordBatch] = []
    count = 0
    for batch in pf.iter_batches(batch_size=size, row_groups=groups):
        if position + batch.num_rows <= at:
            position += batch.num_rows
            continue
        if position < at:
            batch = batch.slice(at - position)
            position = at
        held.append(batch)
        count += batch.num_rows
        position += batch.num_rows
        while at < stop and count >= min(size, stop - at):
            take = min(size, stop - at)
            table = pa.Table.from_batches(held)
            yield at, table.slice(0, take).to_pandas()
            held = table.slice(take).to_batches()
            count -= take
            at += take
        if at >= stop:
            return


def task_ranges(plan: Sequence[Chunk], source: Path, workers: int) -> list[list[Chunk]]:
    """Pending chunks grouped into worker tasks: one per row group, split for load balance.

    A task starts at the first chunk that starts in a new row group, so a
    worker decodes each row group once; with fewer row groups than twice the
    workers, the groups are split further (a split costs at most one extra
    decode of the rows before the split).
    """
    meta = pq.ParquetFile(source).metadata
    starts, offset = [], 0
    for i in range(meta.num_row_groups):
        starts.append(offset)
        offset += meta.row_group(i).num_rows
    tasks: list[list[Chunk]] = []
    group = -1
    for chunk in plan:
        mine = max(i for i, s in enumerate(starts) if s <= chunk[1]) if starts else 0
        if mine != group or not tasks:
            tasks.append([])
            group = mine
        tasks[-1].append(chunk)
    target = 2 * max(1, workers)
    while len(tasks) < target and any(len(t) > 1 for t in tasks):
        longest = max(range(len(tasks)), key=lambda i: len(tasks[i]))
        half = len(tasks[longest]) // 2
        tasks[longest:longest + 1] = [tasks[longest][:half], tasks[longest][half:]]
    return tasks


class _Logged:
    """What a worker of a logged run needs: the run id, its schema and the event store's URL."""

    def __init__(self, run_id: str | None, schema: pa.Schema, db: str | None) -> None:
        self.run_id, self.schema, self.db = run_id, schema, db

    def decide(self, engine: Engine, frame: pd.DataFrame, first_row: int,
               timings: dict[str, float]) -> tuple[pd.DataFrame, pd.DataFrame]:
        """Decide one chunk, with its rows' event outcomes and seals when the run is logged."""
        events = None
        if self.db is not None:

            found = frame_outcomes(frame, _worker_store(self.db))
            frame, events = found.frame, found.per_row
        return decide_frame(engine, frame, first_row=first_row, timings=timings,
                            run_id=self.run_id, events=events)


_STORES: dict[str, Any] = {}


def _worker_store(db: str) -> Any:
    """This worker's event store of ``db``, opened once per process."""
    store = _STORES.get(db)
    if store is None:

        store = _STORES[db] = open_store(db, create=False)
    return store


def _decide_range(where: tuple[str, str, str], tables_hash: str, models: dict[str, str],
                  source: str, parts: str, size: int, chunks: list[Chunk],
                  logged: _Logged) -> list[Result]:
    """On a worker: read these chunks of a Parquet input, decide them, write their parts."""
    engine = _worker_engine(*where, tables_hash, models)
    wanted = {first: (index, rows) for index, first, rows in chunks}
    start, stop = chunks[0][1], chunks[-1][1] + chunks[-1][2]
    results: list[Result] = []
    t0 = time.perf_counter()
    for first, frame in read_rows(source, start, stop, size):
        timings = {"read": time.perf_counter() - t0}
        if first in wanted:
            index, rows = wanted[first]
            decisions, rejects = logged.decide(engine, frame, first, timings)
            t1 = time.perf_counter()
            counts = store_chunk(Path(parts), index, first, rows, decisions, rejects,
                                 schema=logged.schema)
            timings["write"] = time.perf_counter() - t1
            results.append((index, counts, timings))
        t0 = time.perf_counter()
    return results


def _decide_chunk(where: tuple[str, str, str], tables_hash: str, models: dict[str, str],
                  parts: str, index: int, frame: pd.DataFrame, first_row: int,
                  logged: _Logged) -> list[Result]:
    """On a worker: decide one chunk the client sent and write its parts."""
    engine = _worker_engine(*where, tables_hash, models)
    timings: dict[str, float] = {}
    decisions, rejects = logged.decide(engine, frame, first_row, timings)
    t0 = time.perf_counter()
    counts = store_chunk(Path(parts), index, first_row, len(frame), decisions, rejects,
                         schema=logged.schema)
    timings["write"] = time.perf_counter() - t0
    return [(index, counts, timings)]


def decide_file_dask(engine: Engine, source: str | Path, output: str | Path, *,
                     cluster: str | ClusterSpec = "local", overwrite: bool = False,
                     resume: bool = False, chunk_size: int = 100_000,
                     progress: bool = False, in_flight: int | None = None,
                     db: str | None = None) -> BatchSummary:
    """``engine.batch.decide.decide_file`` with the chunks decided on Dask workers.

    ``engine`` is the client's engine: its folders tell the workers what to
    load and its hashes what they must have loaded. ``in_flight`` bounds the
    chunks a CSV client has sent and not yet seen finished. With ``db`` the
    run is logged there as a single-process run is: the workers read their
    rows' event outcomes from it and seal every row, the client logs the run.
    """
    from distributed import as_completed


    spec = cluster if isinstance(cluster, ClusterSpec) else parse_cluster(cluster)
    if db is not None:
        archive_for_run(engine, db)
    run = BatchRun(engine, source, output, chunk_size=chunk_size, overwrite=overwrite,
                   resume=resume, logged=db is not None)
    logged = _Logged(run.run_id if db is not None else None, run.schema, db)
    config = engine.config
    where = (str(Path(config.home).resolve()), str(Path(config.rules_dir).resolve()),
             str(Path(config.models_dir).resolve()))
    models = {m.model_id: m.sha256 for m in engine.registry.models.values()}
    parts = str(run.parts.resolve())
    bar = progress_bar(run.total_rows, progress, initial=sum(c["rows"] for c in run.done.values()))
    with _client(spec, engine, where) as client:
        workers = max(1, len(client.scheduler_info().get("workers", {})) or spec.workers)
        pending = as_completed()

        def collect(future: Any) -> None:
            for index, counts, timings in future.result():
                run.add_timings(timings)
                run.record(index, counts)
                if bar is not None:
                    bar.update(counts["rows"])
            run.assemble_ready()

        plan = run.chunk_plan()
        if plan is not None:
            todo = [c for c in plan if c[0] not in run.done]
            for chunks in task_ranges(todo, run.source, workers) if todo else []:
                pending.add(client.submit(_decide_range, where, engine.tables.content_hash,
                                          models, str(run.source.resolve()), parts,
                                          run.chunk_size, chunks, logged, pure=False))
        else:
            limit = in_flight or 2 * workers
            for index, first_row, chunk in run.pending():
                data = client.scatter(chunk, hash=False)
                pending.add(client.submit(_decide_chunk, where, engine.tables.content_hash,
                                          models, parts, index, data, first_row, logged,
                                          pure=False))
                while pending.count() >= limit:
                    collect(next(pending))
        for future in pending:
            collect(future)
    if bar is not None:
        bar.close()
    return run.finish(log=run_logger(engine, db, f"dask {spec.text}") if db else None)
