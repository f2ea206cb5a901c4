"""Decisions end to end: one record, a batch, the CLI around them, and their explanations."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from engine import synth
from engine.batch.decide import decide_file, decide_frame
from engine.batch.runfiles import rejects_path
from engine.cli import app
from engine.decision import Decision, DecisionTampered
from engine.errors import FrameError, RecordError
from tests.factories import plain_record

runner = CliRunner()


@pytest.fixture(scope="module")
def population() -> pd.DataFrame:
    return synth.generate(400, seed=21).drop(columns=["default_12m"])


def _record(population: pd.DataFrame, i: int) -> dict:
    return plain_record(population.iloc[i].to_dict())


def test_a_decision_carries_score_grade_policies_and_versions(engine, population):
    decision = engine.decide(_record(population, 0))
    assert decision.customer_id == population.iloc[0]["customer_id"]
    assert 0.0 < decision.score.pd < 1.0
    assert decision.grade.grade in ("AAA", "AA", "A", "B", "C")
    assert decision.grade.file == "rules/grades.yaml" and decision.grade.line > 0
    assert decision.tables.content_hash == engine.tables.content_hash
    assert decision.score.model_sha256 == engine.registry.model_for(
        decision.customer_class).sha256
    for policy in decision.policies:
        assert policy.file.startswith("rules/") and policy.line > 0 and policy.rule_id


def test_same_input_same_versions_same_decision(engine, population):
    record = _record(population, 5)
    a, b = engine.decide(record), engine.decide(record)
    assert a.decision_id != b.decision_id
    assert a.content() == b.content()


def test_decision_json_round_trips_and_refuses_edits(engine, population):
    decision = engine.decide(_record(population, 1))
    again = Decision.from_json(decision.to_json())
    assert again.model_dump(mode="json") == decision.model_dump(mode="json")
    edited = json.loads(decision.to_json())
    edited["grade"]["grade"] = "AAA" if decision.grade.grade != "AAA" else "C"
    with pytest.raises(DecisionTampered, match="digest mismatch: the decision was edited"):
        Decision.from_json(json.dumps(edited), source="d.json")


def test_a_bad_record_is_refused_with_its_field(engine, population):
    record = _record(population, 2) | {"monthly_kwh": -3.0}
    with pytest.raises(RecordError, match=r"field 'monthly_kwh' = -3.0: must be a number >= 0"):
        engine.decide(record)


def test_batch_decisions_equal_single_decisions(engine, population):
    decisions, rejects = decide_frame(engine, population)
    assert rejects.empty and len(decisions) == len(population)
    for i in range(0, len(population), 7):
        single = engine.decide(_record(population, i))
        row = decisions.iloc[i]
        assert row["customer_id"] == single.customer_id
        assert row["pd"] == pytest.approx(single.score.pd, abs=1e-12)
        assert row["grade"] == single.grade.grade
        assert row["band_grade"] == single.grade.band_grade
        assert row["grade_rule"] == single.grade.rule_id
        assert (None if pd.isna(row["override"]) else row["override"]) == single.grade.override
        assert row["policies"] == ";".join(single.policy_ids)
        for key, value in single.segments.items():
            assert row[key] == value


def test_batch_keeps_every_row(engine, population):
    frame = population.copy()
    frame.loc[3, "monthly_kwh"] = -1.0
    frame.loc[10, "customer_class"] = "farm"
    decisions, rejects = decide_frame(engine, frame, first_row=1000)
    assert len(decisions) + len(rejects) == len(frame)
    assert rejects["row"].tolist() == [1003, 1010]
    assert rejects["field"].tolist() == ["monthly_kwh", "customer_class"]


def test_decide_file_streams_chunks_and_writes_rejects(engine, population, tmp_path):
    source = tmp_path / "customers.csv"
    frame = population.copy()
    frame["overdue_bills_12m"] = frame["overdue_bills_12m"].astype(object)
    frame.loc[17, "overdue_bills_12m"] = "many"
    frame.to_csv(source, index=False)
    out = tmp_path / "decisions.parquet"
    summary = decide_file(engine, source, out, chunk_size=64)
    assert (summary.rows_in, summary.decided, summary.rejected) == (400, 399, 1)
    written = pd.read_parquet(out)
    assert len(written) == 399 and written["customer_id"].is_unique
    bad = pd.read_csv(rejects_path(out))
    assert bad.loc[0, "row"] == 17 and bad.loc[0, "field"] == "overdue_bills_12m"
    with pytest.raises(FrameError, match="output exists: use --overwrite"):
        decide_file(engine, source, out)


def test_decide_file_refuses_missing_columns_and_other_formats(engine, population, tmp_path):
    source = tmp_path / "c.csv"
    population.drop(columns=["monthly_kwh"]).to_csv(source, index=False)
    with pytest.raises(FrameError, match="missing required columns: monthly_kwh"):
        decide_file(engine, source, tmp_path / "d.csv")
    with pytest.raises(FrameError, match=r"unsupported file type '\.xlsx'"):
        decide_file(engine, tmp_path / "c.xlsx", tmp_path / "d2.csv")


def test_cli_decides_one_record_and_explains_it(population, tmp_path):
    record = tmp_path / "record.json"
    record.write_text(json.dumps(_record(population, 3)))
    result = runner.invoke(app, ["decide", str(record)])
    assert result.exit_code == 0, result.output
    decision = Decision.from_json(result.stdout)
    path = tmp_path / "decision.json"
    path.write_text(result.stdout)
    for fmt, marker in [("text", "GRADE "), ("md", "## Grade "), ("html", '<span class="grade">')]:
        shown = runner.invoke(app, ["explain", str(path), "--format", fmt])
        assert shown.exit_code == 0, shown.output
        assert marker + decision.grade.grade in shown.stdout
    bad = runner.invoke(app, ["explain", str(path), "--format", "pdf"])
    assert bad.exit_code == 2
    assert "unknown format 'pdf': use one of text, md, html" in bad.output


def test_cli_refuses_a_bad_record_and_an_edited_decision(population, tmp_path):
    record = tmp_path / "record.json"
    record.write_text(json.dumps(_record(population, 4) | {"customer_class": "farm"}))
    result = runner.invoke(app, ["decide", str(record)])
    assert result.exit_code == 2
    assert "field 'customer_class' = 'farm': must be one of residential" in result.output
    ok = tmp_path / "ok.json"
    ok.write_text(json.dumps(_record(population, 4)))
    decided = json.loads(runner.invoke(app, ["decide", str(ok)]).stdout)
    decided["score"]["pd"] = 0.0001
    edited = tmp_path / "edited.json"
    edited.write_text(json.dumps(decided))
    result = runner.invoke(app, ["explain", str(edited)])
    assert result.exit_code == 2 and "digest mismatch" in result.output


def test_cli_batch_on_an_empty_file_reports_zero(tmp_path):
    source = tmp_path / "empty.csv"
    source.write_text("")
    result = runner.invoke(app, ["decide", "--input", str(source), "--out",
                                 str(tmp_path / "d.parquet")])
    assert result.exit_code == 0, result.output
    assert "rows in 0 = decided 0 + rejected 0" in result.stdout
    assert pd.read_parquet(tmp_path / "d.parquet").empty


def test_html_explanations_escape_what_records_contain(engine, population):
    record = _record(population, 6) | {"customer_id": "C-<b>x"}
    with pytest.raises(RecordError):
        engine.decide(record)
    decision = engine.decide(_record(population, 6))
    forged = decision.model_copy(update={"customer_id": "<script>alert(1)</script>"})
    html = engine.explain(forged, "html")
    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html


def test_every_catalogue_policy_has_a_template_that_renders(engine):
    for policy in engine.catalogue:
        text = engine.explainer.policy_text(policy.id, policy.defaults())
        assert len(text) > 20, policy.id
        for name, value in policy.defaults().items():
            if isinstance(value, int | float) and not isinstance(value, bool):
                assert name in policy.params


def test_a_decision_keeps_the_json_it_was_sealed_over(engine, population):
    """The assembled JSON equals the model's own dump, so the digest covers the decision."""
    from engine.decision import canonical_json

    for i in range(0, 400, 7):
        decision = engine.decide(_record(population, i))
        dumped = decision.model_dump(mode="json")
        assert decision.as_json() == dumped
        assert list(decision.as_json()) == list(dumped)
        assert decision.sealed().digest == decision.digest
        assert Decision.from_json(decision.to_json()).digest == decision.digest
        body = {k: v for k, v in dumped.items() if k != "digest"}
        assert canonical_json(body) == json.dumps(body, sort_keys=True, separators=(",", ":"),
                                                  ensure_ascii=False)


@pytest.mark.parametrize("executor", ["compiled", "durable"])
def test_decisions_are_identical_on_every_executor(engine, population, executor):
    """Per record on both per-decision executors and per frame: same content, bit for bit."""
    from engine.batch.decide import decide_frame as batch_frame

    other = engine.with_executor(executor)
    records = [_record(population, i) for i in range(0, 400, 3)]
    reference = [engine.with_executor("durable").decide(r).content() for r in records]
    assert [other.decide(r).content() for r in records] == reference
    decided, _ = batch_frame(engine, pd.DataFrame(records))
    for row, want in zip(decided.to_dict("records"), reference, strict=True):
        assert row["grade"] == want["grade"]["grade"]
        assert row["z"] == want["score"]["z"] and row["pd"] == want["score"]["pd"]
        assert row["policies"] == ";".join(p["policy_id"] for p in want["policies"])


_JSON_LEAVES = st.one_of(
    st.none(), st.booleans(), st.integers(-(2**70), 2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    st.floats(1e-12, 1e-3), st.floats(-1e-3, -1e-12),
    st.text(alphabet=st.sampled_from("ab-e09.:,\"\\\x1f\u00e9\u4e2d\u2028 ")),
)


@settings(max_examples=300, deadline=None)
@given(data=st.recursive(_JSON_LEAVES, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=5), inner, max_size=4)),
    max_leaves=25))
def test_canonical_json_is_json_dumps_byte_for_byte(data):
    """The orjson fast path never changes a digest: same text as the json.dumps form."""
    from engine.decision import canonical_json

    assert canonical_json(data) == json.dumps(data, sort_keys=True, separators=(",", ":"),
                                              ensure_ascii=False)


def test_cli_lists_every_missing_field_of_a_record(tmp_path):
    from engine.records import SAMPLE_RECORD

    partial = {k: v for k, v in SAMPLE_RECORD.items()
               if k not in ("monthly_kwh", "critical_load", "overdue_amount")}
    file = tmp_path / "record.json"
    file.write_text(json.dumps(partial))
    result = CliRunner().invoke(app, ["decide", str(file)])
    assert result.exit_code == 2
    assert "customer 'C0001': 3 fields refused:" in result.output
    for name in ("monthly_kwh", "critical_load", "overdue_amount"):
        assert f"field '{name}' = None: required field is missing" in result.output


def test_shipped_sample_record_is_the_openapi_example_and_decides(engine):
    from pathlib import Path

    from engine.records import SAMPLE_RECORD

    shipped = json.loads((Path(__file__).resolve().parents[1] / "docs" /
                          "sample-record.json").read_text())
    assert shipped == SAMPLE_RECORD
    assert engine.decide(shipped).grade.grade in ("AAA", "AA", "A", "B", "C")


def test_cli_decide_on_either_executor_prints_the_same_decision(tmp_path, population):
    record = tmp_path / "r.json"
    record.write_text(json.dumps(_record(population, 2)))
    shown = {}
    for executor in ("compiled", "durable"):
        result = runner.invoke(app, ["decide", str(record), "--executor", executor])
        assert result.exit_code == 0, result.output
        shown[executor] = Decision.from_json(result.stdout).content()
    assert shown["compiled"] == shown["durable"]
    bad = runner.invoke(app, ["decide", str(record), "--executor", "rete"])
    assert bad.exit_code == 2
    assert "unknown table executor 'rete': use one of compiled, durable" in bad.output
