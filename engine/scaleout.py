"""The batch run, partition-wise on Dask: a local cluster or an existing scheduler.

The client reads the input chunk by chunk exactly as the single-process run
does, sends each chunk to a worker, and writes what comes back as the same
numbered part files with the same manifest (``engine.batch.BatchRun``). The
output is therefore identical to a single-process run, row for row, and an
interrupted Dask run resumes like any other.

Workers load the engine themselves, once per worker process, from the same
project folder (``--home`` / ``GRIDCREDIT_HOME``; the paths must exist on the
workers). Each chunk carries the content hash of the client's tables and the
hashes of its models; a worker that loaded anything else refuses the chunk,
so a cluster with a stale copy of the rules cannot mix two rule sets in one
output. Only a few chunks are in flight at once, so memory stays bounded on
the client as on the workers.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from engine.batch import BatchRun, BatchSummary, _progress, decide_frame
from engine.errors import ConfigError, InputError

if TYPE_CHECKING:
    from engine.decider import Engine

__all__ = ["ClusterSpec", "decide_file_dask", "parse_cluster"]

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
def _client(spec: ClusterSpec) -> Iterator[Any]:
    from distributed import Client, LocalCluster

    if spec.local:
        cluster = LocalCluster(n_workers=spec.workers, threads_per_worker=1, processes=True,
                               dashboard_address=None, silence_logs=logging.ERROR)
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
        from engine.config import EngineConfig
        from engine.decider import load

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


def _decide_chunk(where: tuple[str, str, str], tables_hash: str, models: dict[str, str],
                  frame: pd.DataFrame, first_row: int
                  ) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, float]]:
    engine = _worker_engine(*where, tables_hash, models)
    timings: dict[str, float] = {}
    decisions, rejects = decide_frame(engine, frame, first_row=first_row, timings=timings)
    return decisions, rejects, timings


def decide_file_dask(engine: Engine, source: str | Path, output: str | Path, *,
                     cluster: str | ClusterSpec = "local", overwrite: bool = False,
                     resume: bool = False, chunk_size: int = 100_000,
                     progress: bool = False, in_flight: int | None = None) -> BatchSummary:
    """``engine.batch.decide_file`` with the chunks decided on Dask workers.

    ``engine`` is the client's engine: its folders tell the workers what to
    load and its hashes what they must have loaded.
    """
    from distributed import as_completed

    spec = cluster if isinstance(cluster, ClusterSpec) else parse_cluster(cluster)
    run = BatchRun(engine, source, output, chunk_size=chunk_size, overwrite=overwrite,
                   resume=resume)
    config = engine.config
    where = (str(Path(config.home).resolve()), str(Path(config.rules_dir).resolve()),
             str(Path(config.models_dir).resolve()))
    models = {m.model_id: m.sha256 for m in engine.registry.models.values()}
    bar = _progress(run.total_rows, progress, initial=sum(c["rows"] for c in run.done.values()))
    with _client(spec) as client:
        workers = max(1, len(client.scheduler_info().get("workers", {})) or spec.workers)
        limit = in_flight or 2 * workers
        pending = as_completed()
        meta: dict[Any, tuple[int, int, int]] = {}

        def collect(future: Any) -> None:
            index, first_row, rows = meta.pop(future)
            decisions, rejects, timings = future.result()
            run.add_timings(timings)
            run.commit(index, first_row, rows, decisions, rejects)
            if bar is not None:
                bar.update(rows)

        for index, first_row, chunk in run.pending():
            data = client.scatter(chunk, hash=False)
            future = client.submit(_decide_chunk, where, engine.tables.content_hash, models,
                                   data, first_row, pure=False)
            meta[future] = (index, first_row, len(chunk))
            pending.add(future)
            while pending.count() >= limit:
                collect(next(pending))
        for future in pending:
            collect(future)
    if bar is not None:
        bar.close()
    return run.finish()
