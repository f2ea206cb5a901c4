"""Scoring from the JSON artifact: equal to sklearn, reason codes, refusal of bad files."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.isotonic import IsotonicRegression

from engine import synth
from engine.config import EngineConfig
from engine.decider import load_tables
from engine.errors import ModelError
from engine.modelops import TrainingConfig, train, write_model
from engine.recordframe import validate_frame
from engine.scoring import ScoreModel, compute, compute_one, load_catalogue, load_registry
from tests.factories import plain_record

ROOT = Path(__file__).resolve().parent.parent
MODELS = ROOT / "models"
SCALE = load_tables(EngineConfig.at(ROOT)).scale


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A small enterprise model (8 indicators, 12,000 synthetic customers), written to JSON."""
    catalogue = load_catalogue(MODELS / "indicators.yaml")
    frame = synth.generate(12_000, seed=21)
    accepted, _ = validate_frame(frame.drop(columns="default_12m"))
    values = compute(accepted, catalogue)
    names = ["max_days_overdue", "overdue_to_bill", "social_credit_rating", "current_ratio",
             "loan_repayment_rate", "reactive_compensation", "calibration_on_schedule",
             "months_connected"]
    enterprise = (accepted["customer_class"] != "residential").to_numpy()
    y = frame["default_12m"].to_numpy()
    result = train(values.loc[enterprise, names], y[enterprise], catalogue.subset(names),
                   segment="enterprise", bands=SCALE,
                   config=TrainingConfig(folds=2, governance=False))
    path = write_model(result, tmp_path_factory.mktemp("models"), "enterprise.json")
    return result, path, values.loc[enterprise], accepted.loc[enterprise], catalogue


def test_json_scoring_equals_the_sklearn_pipeline(trained):
    result, path, values, _, catalogue = trained
    model = ScoreModel.load(path, catalogue=catalogue)
    kept = [e["name"] for e in result.artifact["indicators"]]
    expected = result.pipeline.decision_function(values[kept])
    scored = model.score_frame(values)
    np.testing.assert_allclose(scored.z, expected, rtol=0, atol=1e-9)
    cal = result.artifact["calibration"]
    if cal["kind"] == "isotonic":
        iso = IsotonicRegression(out_of_bounds="clip").fit(result.oof_z, result.y)
        pd_expected = np.clip(iso.predict(expected), 1e-4, 1 - 1e-4)
    else:
        pd_expected = 1 / (1 + np.exp(-(cal["slope"] * expected + cal["intercept"])))
    np.testing.assert_allclose(scored.pd, pd_expected, rtol=0, atol=1e-9)


def test_unseen_and_missing_categories_score_as_optbinning_does(trained):
    result, path, values, _, _ = trained
    model = ScoreModel.load(path)
    probe = values.iloc[:3].copy()
    probe["social_credit_rating"] = ["E", None, "A"]
    kept = [e["name"] for e in result.artifact["indicators"]]
    np.testing.assert_allclose(model.score_frame(probe).z,
                               result.pipeline.decision_function(probe[kept]), atol=1e-9)


def test_contributions_explain_the_distance_to_the_mean_score(trained):
    _, path, values, _, _ = trained
    model = ScoreModel.load(path)
    scored = model.score_frame(values)
    mean_z = float(model.mean_woe @ model.coef + model.intercept)
    np.testing.assert_allclose(scored.contributions.sum(axis=1), scored.z - mean_z, atol=1e-9)


def test_score_one_matches_the_frame_and_orders_adverse_reasons(trained):
    _, path, values, accepted, catalogue = trained
    model = ScoreModel.load(path)
    scored = model.score_frame(values)
    worst = int(np.argmax(scored.z))
    record = {k: (None if v is pd.NA or (isinstance(v, float) and np.isnan(v)) else v)
              for k, v in accepted.iloc[worst].to_dict().items()}
    score = model.score_one(compute_one(record, catalogue))
    assert score.z == pytest.approx(scored.z[worst], abs=1e-9)
    assert score.pd == pytest.approx(scored.pd[worst], abs=1e-12)
    assert 1 <= len(score.reasons) <= 4
    contributions = [r.contribution for r in score.reasons]
    assert contributions == sorted(contributions, reverse=True)
    assert all(c > 0 for c in contributions)
    assert score.reasons[0].group in catalogue.groups
    frame = scored.to_frame()
    assert frame["reason_1"].iloc[worst] == score.reasons[0].indicator


def test_every_coefficient_agrees_with_its_evidence(trained):
    result, *_ = trained
    assert all(e["coefficient"] <= 0 for e in result.artifact["indicators"])


def test_sha256_ignores_layout(trained, tmp_path):
    _, path, *_ = trained
    doc = json.loads(path.read_text())
    other = tmp_path / "compact.json"
    other.write_text(json.dumps(doc, separators=(",", ":")))
    assert ScoreModel.load(other).sha256 == ScoreModel.load(path).sha256


def test_prior_moves_the_portfolio_mean(trained):
    _, path, values, _, _ = trained
    model = ScoreModel.load(path)
    shifted = model.with_prior(0.10)
    assert shifted.score_frame(values).pd.mean() > model.score_frame(values).pd.mean()
    np.testing.assert_allclose(shifted.score_frame(values).z, model.score_frame(values).z)


def _corrupt(path: Path, tmp_path: Path, edit) -> Path:
    doc = json.loads(path.read_text())
    edit(doc)
    out = tmp_path / "broken.json"
    out.write_text(json.dumps(doc))
    return out


@pytest.mark.parametrize(("edit", "message"), [
    (lambda d: d["indicators"][0].pop("coefficient"),
     r"broken.json: key 'indicators\[0\] \(max_days_overdue\)\.coefficient': missing"),
    (lambda d: d["indicators"][1]["woe"].__setitem__(0, float("nan")),
     r"broken.json: key 'indicators\[1\]\.woe\[0\]': must be a finite number"),
    (lambda d: d.__setitem__("schema_version", 2),
     r"key 'schema_version': is 2; this engine reads version 1"),
    (lambda d: d.__setitem__("schema", "something-else"),
     r"key 'schema': is 'something-else', expected 'gridcredit.score-model'"),
    (lambda d: d["indicators"][0].__setitem__("name", "max_days_overdu"),
     r"key 'indicators\[0\]\.name': indicator 'max_days_overdu' is not in the catalogue"),
    (lambda d: d["indicators"][0]["splits"].pop(),
     r"key 'indicators\[0\] \(max_days_overdue\)\.woe': has \d+ values, expected \d+"),
    (lambda d: d["calibration"].__setitem__("slope", "1.0"),
     r"key 'calibration\.slope': must be a number"),
    (lambda d: d["indicators"].append(dict(d["indicators"][0])),
     r"indicator 'max_days_overdue' is listed twice"),
])
def test_corrupted_artifacts_are_refused_naming_file_and_key(trained, tmp_path, edit, message):
    _, path, _, _, catalogue = trained
    with pytest.raises(ModelError, match=message):
        ScoreModel.load(_corrupt(path, tmp_path, edit), catalogue=catalogue)


def test_invalid_json_is_refused_with_position(tmp_path):
    bad = tmp_path / "model.json"
    bad.write_text('{"schema": ')
    with pytest.raises(ModelError, match=r"model.json: not valid JSON at line 1 column 12"):
        ScoreModel.load(bad)


def test_shipped_registry_scores_a_mixed_frame():
    registry = load_registry(MODELS)
    frame, _ = validate_frame(synth.generate(3_000, seed=4).drop(columns="default_12m"))
    scored = registry.score_frame(frame)
    assert scored.index.equals(frame.index)
    residential = (frame["customer_class"] == "residential").to_numpy()
    assert set(scored.loc[residential, "model_id"]) == {"residential-2026.11"}
    assert set(scored.loc[~residential, "model_id"]) == {"enterprise-2026.11"}
    assert scored["pd"].between(0, 1).all()
    assert registry.model_for("industrial").model_id == "enterprise-2026.11"
    assert len(registry.model_for("residential").sha256) == 64


def test_registry_refuses_a_model_that_does_not_match_the_catalogue(tmp_path):
    models = tmp_path / "models"
    shutil.copytree(MODELS, models)
    doc = json.loads((models / "residential.json").read_text())
    doc["indicators"][0]["kind"] = "category"
    doc["indicators"][0]["categories"] = [["x"]]
    doc["indicators"][0]["woe"] = [0.0]
    doc["indicators"][0]["unknown_woe"] = 0.0
    (models / "residential.json").write_text(json.dumps(doc))
    with pytest.raises(ModelError, match=r"residential.json: key 'indicators\[0\] \(\w+\)\.kind'"
                       r": is 'category' but the catalogue says 'numeric'"):
        load_registry(models)


def test_one_record_scores_bit_for_bit_as_its_row_of_a_frame(engine):
    """score_one (plain floats) and the frame path sum in one order: equal z and PD bytes."""

    from engine import synth
    from engine.facts import frame_facts, record_facts
    from engine.recordframe import validate_frame
    from engine.records import validate_record

    raw = synth.generate(3_000, seed=41).drop(columns=["default_12m"])
    scored = engine.registry.score_frame(frame_facts(validate_frame(raw)[0]))
    for i, row in enumerate(raw.to_dict(orient="records")):
        record = plain_record(row)
        facts = record_facts(validate_record(record))
        model = engine.registry.model_for(facts["customer_class"])
        one = model.score_one(compute_one(facts, engine.registry.catalogue,
                                          names=model.indicators))
        assert one.z.hex() == float(scored["z"].iloc[i]).hex()
        assert one.pd.hex() == float(scored["pd"].iloc[i]).hex()
