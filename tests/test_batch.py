"""The batch path: identical to Engine.decide row by row, bad input, resume after interruption."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

import engine.batch.decide as batch
from engine import synth
from engine.batch.decide import decide_file, decide_frame
from engine.batch.runfiles import parts_path, rejects_path
from engine.cli import app
from engine.errors import FrameError
from tests.factories import ROOT, artifact_sha256, plain_record

runner = CliRunner()


def _population(n: int, seed: int) -> pd.DataFrame:
    """Synthetic customers with the rarer branches of the tables made common."""
    frame = synth.generate(n, seed=seed).drop(columns=["default_12m"])
    rng = np.random.default_rng(seed)
    frame["previous_grade"] = rng.choice(np.array(["AAA", "AA", "A", "B", "C", None],
                                                  dtype=object), n)
    frame["months_connected"] = np.where(rng.random(n) < 0.2, rng.integers(0, 12, n),
                                         frame["months_connected"])
    frame["theft_incidents_36m"] = np.where(rng.random(n) < 0.05, 1, 0)
    frame["critical_load"] = rng.random(n) < 0.1
    until = pd.Timestamp(synth.DEFAULT_AS_OF) + pd.to_timedelta(rng.integers(-400, 400, n), "D")
    frame["theft_override_until"] = np.where(rng.random(n) < 0.05, until.astype(object), None)
    frame["perceived_service_quality"] = rng.integers(1, 6, n).astype(float)
    return frame


def _record(frame: pd.DataFrame, i: int) -> dict:
    return plain_record(frame.iloc[i].to_dict())


@settings(max_examples=4, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(seed=st.integers(0, 10_000))
def test_batch_equals_engine_decide_on_every_row(engine, seed):
    frame = _population(150, seed)
    decisions, rejects = decide_frame(engine, frame)
    assert rejects.empty and len(decisions) == len(frame)
    for i in range(len(frame)):
        single = engine.decide(_record(frame, i))
        row = decisions.iloc[i]
        got = (row["customer_id"], row["grade"], row["band_grade"], row["grade_rule"],
               None if pd.isna(row["override"]) else row["override"], row["policies"],
               *(row[k] for k in single.segments))
        want = (single.customer_id, single.grade.grade, single.grade.band_grade,
                single.grade.rule_id, single.grade.override, ";".join(single.policy_ids),
                *single.segments.values())
        assert got == want, f"row {i}"
        assert row["pd"] == pytest.approx(single.score.pd, abs=1e-12)


def test_a_run_with_bad_rows_keeps_every_row_and_names_stage_times(engine, tmp_path):
    frame = _population(500, 3)
    frame["overdue_bills_12m"] = frame["overdue_bills_12m"].astype(object)
    frame.loc[[5, 250], "overdue_bills_12m"] = "many"
    frame.loc[400, "customer_class"] = "farm"
    source = tmp_path / "in.csv"
    frame.to_csv(source, index=False)
    summary = decide_file(engine, source, tmp_path / "out.csv", chunk_size=120)
    assert (summary.rows_in, summary.decided, summary.rejected, summary.chunks) == (500, 497, 3, 5)
    written = pd.read_csv(tmp_path / "out.csv")
    assert len(written) == 497 and list(written.columns) == list(batch.DECISION_COLUMNS)
    bad = pd.read_csv(rejects_path(tmp_path / "out.csv"))
    assert bad["row"].tolist() == [5, 250, 400]
    assert bad["field"].tolist() == ["overdue_bills_12m", "overdue_bills_12m", "customer_class"]
    assert set(summary.stage_seconds) >= {"read", "validate", "score", "tables", "write"}
    assert "time by stage: read" in summary.text()
    assert not parts_path(tmp_path / "out.csv").exists()


SHIPPED = {"enterprise-2026.11": artifact_sha256(ROOT / "models" / "enterprise.json"),
           "residential-2026.11": artifact_sha256(ROOT / "models" / "residential.json")}


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_every_row_and_the_manifest_name_the_sha256_of_the_artifact_that_scored_it(
        engine, tmp_path, monkeypatch, suffix):
    frame = _population(300, 4)
    source = tmp_path / "in.parquet"
    frame.to_parquet(source)
    out = tmp_path / f"out{suffix}"
    _interrupt_after(monkeypatch, 1)
    with pytest.raises(_Interrupt):
        decide_file(engine, source, out, chunk_size=100)
    manifest = json.loads((parts_path(out) / "manifest.json").read_text())
    assert manifest["models"] == SHIPPED
    monkeypatch.undo()
    decide_file(engine, source, out, chunk_size=100, resume=True)
    written = pd.read_csv(out) if suffix == ".csv" else pd.read_parquet(out)
    assert set(written["model_id"]) == set(SHIPPED)
    assert written["model_sha256"].tolist() == written["model_id"].map(SHIPPED).tolist()
    assert written.loc[0, "model_sha256"] == engine.decide(_record(frame, 0)).score.model_sha256


def test_bad_files_are_refused_by_name(engine, tmp_path):
    frame = _population(50, 1)
    no_kwh = tmp_path / "no_kwh.parquet"
    frame.drop(columns=["monthly_kwh", "as_of"]).to_parquet(no_kwh)
    with pytest.raises(FrameError, match=r"no_kwh.parquet: missing required columns: as_of, "
                                         r"monthly_kwh \(the header has: customer_id"):
        decide_file(engine, no_kwh, tmp_path / "d.parquet")
    fake = tmp_path / "fake.parquet"
    fake.write_text("customer_id,monthly_kwh\nC1,3\n")
    with pytest.raises(FrameError, match=r"fake.parquet: not a readable Parquet file"):
        decide_file(engine, fake, tmp_path / "d.parquet")
    with pytest.raises(FrameError, match=r"unsupported file type '\.json'"):
        decide_file(engine, no_kwh, tmp_path / "d.json")
    empty = tmp_path / "empty.parquet"
    frame.head(0).to_parquet(empty)
    summary = decide_file(engine, empty, tmp_path / "e.parquet")
    assert (summary.rows_in, summary.decided, summary.rejected) == (0, 0, 0)
    assert list(pd.read_parquet(tmp_path / "e.parquet").columns) == list(batch.DECISION_COLUMNS)
    with pytest.raises(FrameError, match="e.parquet: output exists: use --overwrite"):
        decide_file(engine, empty, tmp_path / "e.parquet")
    assert decide_file(engine, empty, tmp_path / "e.parquet", overwrite=True).rows_in == 0


class _Interrupt(Exception):
    pass


def _interrupt_after(monkeypatch, calls: int) -> None:
    real = batch.decide_frame
    seen = {"n": 0}

    def flaky(*args, **kwargs):
        seen["n"] += 1
        if seen["n"] > calls:
            raise _Interrupt("power cut")
        return real(*args, **kwargs)

    monkeypatch.setattr(batch, "decide_frame", flaky)


def test_an_interrupted_run_resumes_without_duplicate_or_lost_rows(engine, tmp_path,
                                                                   monkeypatch):
    frame = _population(1_000, 8)
    frame.loc[[10, 777], "monthly_kwh"] = -5.0
    source = tmp_path / "in.parquet"
    frame.to_parquet(source)
    straight = decide_file(engine, source, tmp_path / "straight.parquet", chunk_size=150)

    out = tmp_path / "out.parquet"
    _interrupt_after(monkeypatch, 3)
    with pytest.raises(_Interrupt):
        decide_file(engine, source, out, chunk_size=150)
    manifest = json.loads((parts_path(out) / "manifest.json").read_text())
    assert sorted(manifest["chunks"]) == ["0", "1", "2"] and not out.exists()
    with pytest.raises(FrameError, match="interrupted run .* use --resume to continue it"):
        decide_file(engine, source, out, chunk_size=150)
    with pytest.raises(FrameError, match="cannot resume: 'chunk_size' changed"):
        decide_file(engine, source, out, chunk_size=100, resume=True)
    monkeypatch.undo()

    resumed = decide_file(engine, source, out, chunk_size=150, resume=True)
    assert resumed.resumed_chunks == 3 and resumed.chunks == 7
    assert (resumed.rows_in, resumed.decided, resumed.rejected) == (1_000, 998, 2)
    assert resumed.grades == straight.grades and resumed.policies == straight.policies
    pd.testing.assert_frame_equal(pd.read_parquet(out),
                                  pd.read_parquet(tmp_path / "straight.parquet"))
    assert pd.read_csv(rejects_path(out))["row"].tolist() == [10, 777]
    assert not parts_path(out).exists()


def test_resume_is_refused_when_the_input_changed(engine, tmp_path, monkeypatch):
    source = tmp_path / "in.csv"
    _population(300, 2).to_csv(source, index=False)
    _interrupt_after(monkeypatch, 1)
    with pytest.raises(_Interrupt):
        decide_file(engine, source, tmp_path / "o.parquet", chunk_size=100)
    monkeypatch.undo()
    _population(301, 2).to_csv(source, index=False)
    with pytest.raises(FrameError, match="cannot resume: 'source_bytes' changed"):
        decide_file(engine, source, tmp_path / "o.parquet", chunk_size=100, resume=True)
    summary = decide_file(engine, source, tmp_path / "o.parquet", chunk_size=100, overwrite=True)
    assert summary.rows_in == 301 and summary.resumed_chunks == 0


def test_cli_batch_prints_the_summary_and_explains_on_demand(tmp_path):
    frame = _population(400, 4)
    source = tmp_path / "in.parquet"
    frame.to_parquet(source)
    out = tmp_path / "d.parquet"
    result = runner.invoke(app, ["decide", "--input", str(source), "--out", str(out),
                                 "--chunk-size", "128", "--no-progress"])
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("rows in 400 = decided 400 + rejected 0")
    again = runner.invoke(app, ["decide", "--input", str(source), "--out", str(out)])
    assert again.exit_code == 2 and "output exists: use --overwrite to replace it" in again.output
    cid = frame.loc[9, "customer_id"]
    shown = runner.invoke(app, ["decide", "--input", str(source), "--explain", cid,
                                "--format", "md"])
    assert shown.exit_code == 0, shown.output
    grade = pd.read_parquet(out).set_index("customer_id").loc[cid, "grade"]
    assert f"## Grade {grade}" in shown.stdout
    missing = runner.invoke(app, ["decide", "--input", str(source), "--explain", "C-none"])
    assert missing.exit_code == 2 and "customer id(s) not in the input: C-none" in missing.output
    bad = runner.invoke(app, ["decide", "--input", str(source), "--out", str(tmp_path / "x.csv"),
                              "--dask", "yarn"])
    assert bad.exit_code == 2 and "--dask 'yarn': use 'local', 'local:N'" in bad.output
