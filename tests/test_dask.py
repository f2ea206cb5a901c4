"""Scale-out: the batch on a two-process Dask LocalCluster gives the single-process output."""

from __future__ import annotations

import pandas as pd
import pytest

from engine import synth
from engine.batch import decide_file, rejects_path
from engine.errors import InputError
from engine.scaleout import decide_file_dask, parse_cluster


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
