"""Training end to end, governance, labels, master scale and the train/evaluate commands."""

from __future__ import annotations

import hashlib
import json
import re
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from engine import synth
from engine.cli import app
from engine.config import EngineConfig
from engine.decider import load_tables
from engine.errors import FrameError, GovernanceError
from engine.modelops import (
    TrainingConfig,
    band_table,
    check_governance,
    evaluate_registry,
    fit_registry,
    governance_problems,
    labels,
    metrics,
    train,
    train_registry,
)
from engine.recordframe import validate_frame
from engine.scale import Band
from engine.scoring import compute, load_catalogue, load_registry

ROOT = Path(__file__).resolve().parent.parent
MODELS = ROOT / "models"
GERMAN = ROOT / "tests" / "data" / "germancredit.csv"
runner = CliRunner()
SCALE = load_tables(EngineConfig.at(ROOT)).scale


@pytest.fixture(scope="module")
def models_dir(tmp_path_factory):
    """Registry and catalogue copied to a scratch folder, models trained on 16,000 customers."""
    home = tmp_path_factory.mktemp("home")
    models = home / "models"
    models.mkdir()
    for name in ("registry.yaml", "indicators.yaml"):
        shutil.copy(MODELS / name, models / name)
    frame = synth.generate(16_000, seed=8)
    results = train_registry(frame, models_dir=models, bands=SCALE,
                             config=TrainingConfig(folds=2, governance=False), source="test")
    return models, results


def test_end_to_end_synth_train_score(models_dir):
    models, results = models_dir
    assert (models / "enterprise.json").exists() and (models / "enterprise.md").exists()
    registry = load_registry(models)
    fresh = synth.generate(6_000, seed=99)
    accepted, _ = validate_frame(fresh.drop(columns="default_12m"))
    scored = registry.score_frame(accepted)
    y = fresh.loc[accepted.index, "default_12m"].to_numpy()
    assert metrics(y, scored["z"].to_numpy())["auc"] > 0.68
    assert scored["pd"].mean() == pytest.approx(y.mean(), abs=0.015)
    for result in results.values():
        assert 0.65 < result.artifact["cv_metrics"]["auc_mean"] < 0.9


def test_artifacts_are_small_and_carry_provenance(models_dir):
    models, _ = models_dir
    doc = json.loads((models / "residential.json").read_text())
    assert (models / "residential.json").stat().st_size < 300_000
    assert len(doc["training"]["data_sha256"]) == 64
    assert set(doc["versions"]) >= {"numpy", "scikit-learn", "optbinning"}
    assert doc["cv_metrics"]["auc_mean"] > 0.6
    assert len(doc["cv_metrics"]["folds"]) == 2
    assert [b["grade"] for b in doc["bands"]] == ["AAA", "AA", "A", "B", "C"]
    assert re.fullmatch(r"residential-2026\.11-[0-9a-f]{10}", doc["model_id"])
    assert f"Model card: {doc['model_id']}" in (models / "residential.md").read_text()


def test_every_trained_artifact_has_an_id_of_its_own(models_dir):
    """Trained on another population, as make demo does, a model never takes the shipped id."""
    models, results = models_dir
    shipped = {s: json.loads((MODELS / f"{s}.json").read_text())["model_id"]
               for s in ("enterprise", "residential")}
    other = fit_registry(synth.generate(6_000, seed=21), models_dir=models, bands=SCALE,
                         config=TrainingConfig(folds=2, governance=False), source="other")
    for segment, result in results.items():
        doc = json.loads((models / f"{segment}.json").read_text())
        digits = hashlib.sha256(json.dumps({**doc, "model_id": ""}, sort_keys=True,
                                           separators=(",", ":"), ensure_ascii=False
                                           ).encode()).hexdigest()[:10]
        assert doc["model_id"] == result.artifact["model_id"] == f"{segment}-2026.11-{digits}"
        ids = {doc["model_id"], other[segment].artifact["model_id"], shipped[segment]}
        assert len(ids) == 3, ids


def test_training_is_deterministic():
    catalogue = load_catalogue(MODELS / "indicators.yaml")
    names = ["max_days_overdue", "overdue_to_bill", "social_credit_rating",
             "calibration_on_schedule", "service_quality_gap"]
    frame = synth.generate(8_000, seed=8)
    accepted, _ = validate_frame(frame.drop(columns="default_12m"))
    values = compute(accepted, catalogue, names)
    y = frame["default_12m"].to_numpy()
    config = TrainingConfig(folds=2, governance=False)
    a, b = (train(values, y, catalogue.subset(names), segment="s", bands=SCALE,
                  config=config).artifact for _ in range(2))
    assert [e["coefficient"] for e in a["indicators"]] == \
        [e["coefficient"] for e in b["indicators"]]
    assert a["calibration"] == b["calibration"]
    assert a["training"]["data_sha256"] == b["training"]["data_sha256"]
    assert "created_at" not in a
    assert json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)


def _table(rates, counts, pds=None):
    pds = rates if pds is None else pds
    pd_values = np.concatenate([np.full(n, p) for p, n in zip(pds, counts, strict=True)])
    y = np.concatenate([(np.arange(n) < round(r * n)).astype(int)
                        for r, n in zip(rates, counts, strict=True)])
    return band_table(pd_values, y, SCALE)


def test_governance_accepts_rising_default_rates():
    assert governance_problems(_table([0.005, 0.02, 0.04, 0.1, 0.25], [2000] * 5)) == []


def test_governance_refuses_a_falling_band_and_shows_the_table():
    table = _table([0.005, 0.06, 0.02, 0.1, 0.25], [2000] * 5,
                   pds=[0.005, 0.02, 0.04, 0.1, 0.25])
    with pytest.raises(GovernanceError, match=r"(?s)model 'm-1' not published: default rate "
                       r"falls from AA \(6\.00%\) to A \(2\.00%\).*\| grade \| pd_from"):
        check_governance(table, model_id="m-1")


def test_governance_refuses_a_nearly_empty_band():
    problems = governance_problems(_table([0.005, 0.02, 0.04, 0.1, 0.25],
                                          [2000, 2000, 5, 2000, 2000]))
    assert problems == ["band A is nearly empty: 5 customers (needs at least 20)"]


def test_governance_tolerates_binomial_noise():
    # 1.2 % vs 1.1 % on 1,000 customers each is well within sampling error, and 11
    # defaults where 16 are predicted is inside the binomial interval
    assert governance_problems(_table([0.012, 0.011, 0.04, 0.1, 0.25], [1000] * 5,
                                      pds=[0.012, 0.016, 0.04, 0.1, 0.25])) == []


def test_governance_refuses_a_grade_whose_pd_is_twice_its_default_rate():
    # the residential AAA of an earlier release: 1.47 % predicted, 0.62 % observed
    table = _table([0.0062, 0.02, 0.04, 0.1, 0.25], [22_000, 2000, 2000, 2000, 2000],
                   pds=[0.0147, 0.02, 0.04, 0.1, 0.25])
    assert governance_problems(table) == [
        "grade AAA: observed default rate 0.62% is below the 99% binomial interval "
        "[1.26%, 1.68%] of its predicted 1.47% (22,000 customers, p = 3.3e-32)"]
    with pytest.raises(GovernanceError, match=r"point --rules at a grade table whose PD bands "
                                              r"do, or explore with --no-governance"):
        check_governance(table, model_id="r-1")


def test_labels_need_a_named_default_value():
    with pytest.raises(FrameError, match=r"target 'creditability' must be 0/1, got bad, good; "
                       r"name the default value with --bad VALUE"):
        labels(pd.Series(["good", "bad"], name="creditability"))
    assert labels(pd.Series(["good", "bad"], name="t"), bad="bad").tolist() == [0, 1]
    with pytest.raises(FrameError, match=r"target 't' never equals 'Bad'"):
        labels(pd.Series(["good", "bad"], name="t"), bad="Bad")


def test_shipped_models_pass_governance_on_the_project_scale():
    for name in ("enterprise.json", "residential.json"):
        doc = json.loads((MODELS / name).read_text())
        assert doc["governance"] == {"checked": True, "passed": True, "problems": []}
        assert [(b["grade"], b["pd_from"], b["pd_to"]) for b in doc["bands"]] == \
            [(b.grade, b.lo, b.hi) for b in SCALE]


def test_evaluate_cross_validates_any_labelled_file(tmp_path):
    spec = tmp_path / "spec.yaml"
    spec.write_text(
        "schema: gridcredit.indicators/1\ngroups: [account, loan]\nindicators:\n"
        "  - {name: checking, sources: [status_of_existing_checking_account], "
        "transform: category, direction: auto, unit: '-', group: account, "
        "description: Checking account band.}\n"
        "  - {name: duration, sources: [duration_in_month], transform: identity, "
        "direction: higher_is_riskier, unit: months, group: loan, description: Duration.}\n"
        "  - {name: history, sources: [credit_history], transform: category, "
        "direction: auto, unit: '-', group: loan, description: Credit history.}\n")
    result = runner.invoke(app, ["evaluate", "--data", str(GERMAN), "--target", "creditability",
                                 "--bad", "bad", "--spec", str(spec), "--folds", "3"])
    assert result.exit_code == 0, result.output
    assert re.search(r"germancredit-[0-9a-f]{10}: 1,000 rows, 30.00% defaults; CV AUC 0\.7",
                     result.output)
    assert "| decile | score_from |" in result.output


def test_train_without_a_default_value_exits_2(tmp_path):
    result = runner.invoke(app, ["train", "--data", str(GERMAN), "--target", "creditability",
                                 "--spec", str(ROOT / "tests/data/germancredit-indicators.yaml"),
                                 "--out", str(tmp_path)])
    assert result.exit_code == 2
    assert "error: target 'creditability' must be 0/1" in result.output


def test_evaluate_scores_held_out_customers_with_the_registry():
    result = runner.invoke(app, ["evaluate", "--n", "4000", "--population-seed", "3",
                                 "--models", str(MODELS)])
    assert result.exit_code == 0, result.output
    assert "### enterprise-2026.11:" in result.output
    assert "### residential-2026.11:" in result.output
    assert "| AAA | 0.0000 | 0.0150 |" in result.output


def test_train_refuses_to_publish_when_governance_fails(models_dir, tmp_path):
    models, _ = models_dir
    frame = synth.generate(3_000, seed=2)
    data = tmp_path / "pop.parquet"
    frame.to_parquet(data)
    out = tmp_path / "out"
    result = runner.invoke(app, ["train", "--data", str(data), "--models", str(models),
                                 "--out", str(out), "--folds", "2"])
    assert result.exit_code == 2
    assert "not published" in result.output and "| grade | pd_from |" in result.output
    assert not (out / "enterprise.json").exists()


def test_evaluate_registry_measures_each_model_on_its_customers():
    bands = (Band("good", 0.0, 0.05), Band("bad", 0.05, 1.0))
    frame = synth.generate(3000, seed=5)
    frame.loc[4, "monthly_kwh"] = -1.0
    result = evaluate_registry(load_registry(MODELS), frame, target="default_12m", bands=bands,
                               what="a test population")
    assert (result.scored, result.rejected) == (2999, 1)
    assert [s.model_id for s in result.segments] == ["enterprise-2026.11", "residential-2026.11"]
    assert sum(s.customers for s in result.segments) == 2999
    for seg in result.segments:
        assert set(seg.metrics) == {"auc", "ks", "gini", "brier"}
        assert 0.6 < seg.metrics["auc"] < 1.0
        assert list(seg.bands["grade"]) == ["good", "bad"]
        assert int(seg.bands["customers"].sum()) == seg.customers
    text = result.markdown()
    assert text.startswith("## Registry models on a test population (2,999 scored, 1 rejected)")
    only_residential = frame[frame["customer_class"] == "residential"]
    result = evaluate_registry(load_registry(MODELS), only_residential, target="default_12m",
                               bands=bands)
    assert result.segments[0].metrics is None
    assert "### enterprise: too few customers or defaults to measure" in result.markdown()
    with pytest.raises(FrameError, match="missing target column 'defaulted'"):
        evaluate_registry(load_registry(MODELS), frame, target="defaulted", bands=bands)
