"""Scale-out: the batch on a two-process Dask LocalCluster gives the single-process output."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import engine.batch.decide as batch
from engine import synth
from engine.batch.decide import decide_file
from engine.batch.runfiles import parts_path, read_chunks, rejects_path
from engine.batch.scaleout import decide_file_dask, parse_cluster, read_rows, task_ranges
from engine.errors import InputError


def test_cluster_specs_are_read_or_refused():
    assert parse_cluster("local:3").workers == 3 and parse_cluster("local:3").local
    remote = parse_cluster("tcp://10.0.0.5:8786")
    assert remote.address == "tcp://10.0.0.5:8786" and not remote.local
    with pytest.raises(InputError, match=r"--dask 'spark://x': use 'local', 'local:N'"):
        parse_cluster("spark://x")
    with pytest.raises(InputError, match="needs at least 1 worker"):
        parse_cluster("local:0")


def test_two_local_workers_give_the_single_process_output(engine, tmp_path):
    frame = synth.generate(6_000, seed=31).drop(columns=["default_12m"])
    frame.loc[[42, 4_321], "monthly_kwh"] = -1.0
    source = tmp_path / "in.parquet"
    frame.to_parquet(source)
    single = decide_file(engine, source, tmp_path / "one.parquet", chunk_size=700)
    spread = decide_file_dask(engine, source, tmp_path / "dask.parquet", cluster="local:2",
                              chunk_size=700)
    assert (spread.rows_in, spread.decided, spread.rejected) == (6_000, 5_998, 2)
    assert spread.chunks == single.chunks == 9 and spread.grades == single.grades
    pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "dask.parquet"),
                                  pd.read_parquet(tmp_path / "one.parquet"))
    pd.testing.assert_frame_equal(pd.read_csv(rejects_path(tmp_path / "dask.parquet")),
                                  pd.read_csv(rejects_path(tmp_path / "one.parquet")))
    decide_file(engine, source, tmp_path / "whole.parquet", chunk_size=100_000)
    whole = pd.read_parquet(tmp_path / "whole.parquet")
    spread_rows = pd.read_parquet(tmp_path / "dask.parquet")
    for column in ("z", "pd"):
        assert spread_rows[column].to_numpy().tobytes() == whole[column].to_numpy().tobytes()


@settings(max_examples=25, deadline=None)
@given(total=st.integers(0, 300), group=st.integers(1, 120), size=st.integers(1, 90),
       start_chunk=st.integers(0, 10), chunks=st.integers(1, 6))
def test_a_worker_reads_exactly_the_chunks_a_single_process_reads(tmp_path_factory, total,
                                                                  group, size, start_chunk,
                                                                  chunks):
    source = tmp_path_factory.mktemp("rows") / "in.parquet"
    pq.write_table(pa.table({"n": np.arange(total)}), source, row_group_size=group)
    whole = [(i * size, c["n"].tolist()) for i, c in enumerate(read_chunks(source, size))]
    start = min(start_chunk * size, total)
    stop = min(start + chunks * size, total)
    got = [(first, c["n"].tolist()) for first, c in read_rows(source, start, stop, size)]
    assert got == [(first, rows) for first, rows in whole if start <= first < stop]


def test_row_groups_split_into_worker_tasks_without_losing_a_chunk(tmp_path):
    source = tmp_path / "in.parquet"
    pq.write_table(pa.table({"n": np.arange(1_000)}), source, row_group_size=300)
    plan = [(i, i * 100, min(100, 1_000 - i * 100)) for i in range(10)]
    tasks = task_ranges(plan, source, workers=1)
    assert [[c[0] for c in t] for t in tasks] == [[0, 1, 2], [3, 4, 5], [6, 7, 8], [9]]
    split = task_ranges(plan[:3], source, workers=2)
    assert sum(split, []) == plan[:3] and len(split) == 3


def test_workers_reading_their_own_row_groups_resume_an_interrupted_run(engine, tmp_path,
                                                                       monkeypatch):
    frame = synth.generate(3_000, seed=7).drop(columns=["default_12m"])
    frame.loc[[17, 2_222], "monthly_kwh"] = -1.0
    source = tmp_path / "in.parquet"
    pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), source,
                   row_group_size=1_100)
    single = decide_file(engine, source, tmp_path / "one.parquet", chunk_size=400)
    out = tmp_path / "dask.parquet"
    real = batch.decide_frame
    seen = {"n": 0}

    def flaky(*args, **kwargs):
        seen["n"] += 1
        if seen["n"] > 3:
            raise RuntimeError("power cut")
        return real(*args, **kwargs)

    monkeypatch.setattr(batch, "decide_frame", flaky)
    with pytest.raises(RuntimeError, match="power cut"):
        decide_file(engine, source, out, chunk_size=400)
    monkeypatch.undo()
    spread = decide_file_dask(engine, source, out, cluster="local:2", chunk_size=400,
                              resume=True)
    assert (spread.resumed_chunks, spread.chunks) == (3, single.chunks) == (3, 8)
    assert (spread.rows_in, spread.decided, spread.rejected) == (3_000, 2_998, 2)
    pd.testing.assert_frame_equal(pd.read_parquet(out), pd.read_parquet(tmp_path / "one.parquet"))
    assert pd.read_csv(rejects_path(out))["row"].tolist() == [17, 2_222]
    assert not parts_path(out).exists()
