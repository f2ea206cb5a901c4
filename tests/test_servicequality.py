"""Service-quality surveys and their evaluation (paper 3.2).

Surveys are held to the customer record's rules (rows in = accepted +
rejected, each reject with its field and reason); the difference in
differences recovers a policy's known effect on perceived responsiveness;
sensitivity and its drivers follow the generative model of ``synth``; the
interval helpers agree with independent formulas; the CLI writes the report
in both languages and refuses bad input with the file named.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from engine import synth
from engine.cli import app
from engine.errors import FrameError
from engine.servicequality.evaluation import (
    evaluate,
    mean_interval,
    policy_association,
    slope_interval,
)
from engine.servicequality.surveys import (
    DIMENSIONS,
    DUPLICATE,
    read_surveys,
    validate_surveys,
)

runner = CliRunner()
POLICY = "fast_response_service"


def _customers(n: int, seed: int, share: float = 0.4) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame({
        "customer_id": [f"K{i:05d}" for i in range(n)],
        "consumption_class": rng.choice(["large", "average", "small"], n),
        "grade": rng.choice(["AAA", "AA", "A", "B", "C"], n),
        "policies": np.where(rng.random(n) < share, POLICY, ""),
    })


def _waves(customers: pd.DataFrame, effect: float, seed: int = 7):
    effects = {POLICY: {"responsiveness": effect}}
    before = synth.generate_surveys(customers.assign(policies=""), "2026-Q1", seed=seed,
                                    wave=0, effects=effects)
    after = synth.generate_surveys(customers, "2026-Q3", seed=seed, wave=1, effects=effects)
    return validate_surveys(after)[0], validate_surveys(before)[0]


def test_surveys_keep_every_row_accepted_or_rejected_with_its_reason():
    frame = synth.generate_surveys(_customers(20, 1), "2026-Q3").astype(object)
    frame.loc[2, "perceived_empathy"] = 7
    frame.loc[5, "channel"] = "pigeon"
    frame.loc[8, "satisfaction"] = None
    frame.loc[11, "customer_id"] = frame.loc[10, "customer_id"]
    accepted, rejects = validate_surveys(frame)
    assert len(accepted) + len(rejects) == 20
    by_row = rejects.set_index("row")
    assert by_row.loc[2, "field"] == "perceived_empathy"
    assert by_row.loc[2, "reason"] == "must be a number >= 1 and <= 5 (score 1-5)"
    assert by_row.loc[5, "field"] == "channel"
    assert by_row.loc[5, "reason"].startswith("must be one of counter, phone")
    assert by_row.loc[8, "reason"] == "required field is missing"
    assert by_row.loc[11, "reason"] == DUPLICATE
    assert list(rejects["row"]) == [2, 5, 8, 11]
    gap = accepted["perceived_reliability"] - accepted["expected_reliability"]
    assert np.allclose(accepted["gap_reliability"], gap)


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_a_survey_file_is_read_with_its_rejects_file(tmp_path, suffix):
    frame = synth.generate_surveys(_customers(30, 2), "2026-Q3")
    frame.loc[3, "expected_tangibles"] = 0.2
    path = tmp_path / f"surveys{suffix}"
    frame.to_csv(path, index=False) if suffix == ".csv" else frame.to_parquet(path)
    read = read_surveys(path, rejects_to=tmp_path / "bad.csv")
    assert (read.rows_in, len(read.surveys), len(read.rejects)) == (30, 29, 1)
    assert pd.read_csv(tmp_path / "bad.csv")["field"].tolist() == ["expected_tangibles"]
    assert read.text().endswith("30 rows in = 29 accepted + 1 rejected")


def test_a_survey_file_without_a_required_column_is_refused_by_name(tmp_path):
    path = tmp_path / "s.csv"
    synth.generate_surveys(_customers(5, 3), "2026-Q3").drop(columns=["satisfaction"]).to_csv(
        path, index=False)
    with pytest.raises(FrameError, match=r"s\.csv: missing required columns: satisfaction"):
        read_surveys(path)


def test_difference_in_differences_recovers_a_known_policy_effect():
    customers = _customers(3000, 11)
    current, baseline = _waves(customers, effect=0.5)
    linked = policy_association(current.merge(customers, on="customer_id"), [POLICY],
                                baseline.merge(customers, on="customer_id"))
    row = linked.set_index("dimension").loc["responsiveness"]
    assert row["did_low"] <= 0.5 <= row["did_high"]
    assert row["did_high"] - row["did_low"] < 0.1
    for other in ("tangibles", "reliability", "assurance", "empathy"):
        r = linked.set_index("dimension").loc[other]
        assert r["did_low"] <= 0.0 <= r["did_high"], other
    # the plain comparison now mixes in what sets holders apart; the panel DiD is the
    # holders' mean change minus the non-holders', computed here independently
    before = baseline.set_index("customer_id")["gap_responsiveness"]
    change = current.set_index("customer_id")["gap_responsiveness"] - before
    held = customers.set_index("customer_id")["policies"].eq(POLICY)
    assert row["did"] == pytest.approx(change[held].mean() - change[~held].mean())


def test_without_an_effect_the_interval_holds_zero():
    customers = _customers(2000, 12)
    current, baseline = _waves(customers, effect=0.0)
    result = evaluate(current, customers, baseline=baseline, policies=[POLICY])
    row = result.policies.set_index("dimension").loc["responsiveness"]
    assert row["did_low"] <= 0.0 <= row["did_high"]


def test_sensitivity_and_drivers_follow_the_paper_groups():
    customers = _customers(4000, 13, share=0.0)
    surveys = validate_surveys(synth.generate_surveys(customers, "2026-Q3"))[0]
    result = evaluate(surveys, customers)
    slopes = result.sensitivity.set_index("group")
    assert slopes.loc["large", "low"] > slopes.loc["small", "high"]
    drivers = result.drivers.set_index(["group", "dimension"])["weight"]
    assert drivers["large"].idxmax() == "responsiveness"
    assert drivers["average"].idxmax() == "empathy"
    grades = set(result.by_grade["group"])
    assert grades == {"AAA", "AA", "A", "B", "C"}


@settings(max_examples=40, deadline=None)
@given(st.lists(st.floats(-4, 4, allow_nan=False), min_size=2, max_size=60))
def test_the_mean_interval_holds_the_mean_and_matches_the_t_formula(values):
    mean, low, high = mean_interval(np.array(values))
    assert low <= mean <= high
    from scipy import stats

    sem = np.std(values, ddof=1) / np.sqrt(len(values))
    assert high - mean == pytest.approx(stats.t.ppf(0.975, len(values) - 1) * sem, abs=1e-9)


@settings(max_examples=40, deadline=None)
@given(st.floats(-3, 3), st.floats(-2, 2),
       st.lists(st.floats(1, 5, allow_nan=False), min_size=3, max_size=40, unique=True))
def test_an_exact_line_gives_its_slope_with_no_width(intercept, slope, xs):
    x = np.array(xs)
    got, low, high, _ = slope_interval(x, intercept + slope * x)
    assert got == pytest.approx(slope, abs=1e-6)
    assert high - low == pytest.approx(0.0, abs=1e-6)


def test_the_cli_writes_the_report_in_both_languages(tmp_path, engine):
    population = synth.generate(400, seed=9).drop(columns=["default_12m"])
    decided, _ = engine.decide_many(population)
    decisions = pd.DataFrame({
        "customer_id": [d.customer_id for d in decided],
        "consumption_class": [d.segments["consumption_class"] for d in decided],
        "grade": [d.grade.grade for d in decided],
        "policies": [";".join(d.policy_ids) for d in decided]})
    decisions.to_csv(tmp_path / "d.csv", index=False)
    surveys = synth.generate_surveys(decisions, "2026-Q3", wave=1)
    surveys.loc[0, "channel"] = "fax"
    surveys.to_csv(tmp_path / "s.csv", index=False)
    synth.generate_surveys(decisions.assign(policies=""), "2026-Q1").to_csv(
        tmp_path / "b.csv", index=False)
    for lang, out in (("en", "sq.html"), ("zh-CN", "sq.zh.html")):
        result = runner.invoke(app, ["service-quality", "--surveys", str(tmp_path / "s.csv"),
                                     "--baseline", str(tmp_path / "b.csv"), "--decisions",
                                     str(tmp_path / "d.csv"), "--out", str(tmp_path / out),
                                     "--lang", lang])
        assert result.exit_code == 0, result.output
        assert "s.csv: 400 rows in = 399 accepted + 1 rejected" in result.output
    page = (tmp_path / "sq.html").read_text()
    for section in ("inputs", "gaps", "grades", "sensitivity", "change", "policies"):
        assert f'id="{section}"' in page
    assert "Association, not proof" in page
    assert pd.read_csv(tmp_path / "s.rejects.csv")["field"].tolist() == ["channel"]
    chinese = (tmp_path / "sq.zh.html").read_text()
    assert "服务质量评价" in chinese and "这是关联，不是因果证明" in chinese


def test_a_shortfall_sentence_states_the_numbers_of_its_table(tmp_path):
    customers = _customers(600, 14, share=0.0)
    surveys = validate_surveys(synth.generate_surveys(customers, "2026-Q3"))[0]
    result = evaluate(surveys, customers)
    from engine.config import EngineConfig
    from engine.report.servicequality import service_quality_html

    page = service_quality_html(result, templates_dir=EngineConfig.at().templates_dir)
    large = result.by_segment[(result.by_segment["group"] == "large")
                              & (result.by_segment["dimension"] != "overall")]
    worst = large.loc[large["gap"].idxmin()]
    sentence = re.search(r"large: the largest shortfall is on (\w+), ([-+0-9.]+) points", page)
    assert sentence is not None
    assert sentence.group(1) == worst["dimension"]
    assert float(sentence.group(2)) == pytest.approx(worst["gap"], abs=0.005)


def test_a_missing_survey_file_is_refused_with_its_name(tmp_path):
    result = runner.invoke(app, ["service-quality", "--surveys", str(tmp_path / "none.csv"),
                                 "--out", str(tmp_path / "sq.html")])
    assert result.exit_code == 2
    assert "none.csv: file not found" in result.output
    assert set(DIMENSIONS) == {"tangibles", "reliability", "responsiveness", "assurance",
                               "empathy"}
