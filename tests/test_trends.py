"""The trend of a ``direction: auto`` indicator, chosen on the training rows by a stated rule."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.metrics import roc_auc_score

from engine.config import EngineConfig
from engine.decider import load_tables
from engine.errors import ConfigError
from engine.modelops import TrainingConfig, render, train
from engine.modelops.trends import MONOTONE, TURN_Z, choose_trend, shape_fit
from engine.scoring import ScoreModel, catalogue_from_doc

ROOT = Path(__file__).resolve().parent.parent
SCALE = load_tables(EngineConfig.at(ROOT)).scale


def _valley(n: int, seed: int) -> tuple[pd.DataFrame, np.ndarray]:
    """Default rates high for the youngest and the oldest, low in between; plus a monotone one."""
    rng = np.random.default_rng(seed)
    age = rng.uniform(18, 80, n)
    debt = rng.gamma(2.0, 1.0, n)
    logit = -2.2 + 3.0 * ((age - 49) / 31) ** 2 + 0.5 * (debt - 2)
    y = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(np.int64)
    return pd.DataFrame({"age": age, "debt": debt}), y


def _catalogue():
    entry = {"transform": "identity", "direction": "auto", "unit": "-", "group": "data"}
    return catalogue_from_doc({
        "schema": "gridcredit.indicators/1", "groups": ["data"],
        "indicators": [{"name": "age", "sources": ["age"], "description": "Age.", **entry},
                       {"name": "debt", "sources": ["debt"], "description": "Debt.", **entry}]},
        "synthetic")


def _fit(x: pd.DataFrame, y: np.ndarray, trend: str):
    return train(x, y, _catalogue(), segment="synthetic", bands=SCALE,
                 config=TrainingConfig(folds=3, governance=False, trend=trend))


def test_a_real_valley_is_chosen_and_scores_better_than_both_fixed_settings():
    x, y = _valley(3_000, seed=1)
    later, y_later = _valley(20_000, seed=2)
    results = {t: _fit(x, y, t) for t in ("choose", "auto", "auto_asc_desc")}
    trend = {e["name"]: e["trend"] for e in results["choose"].artifact["indicators"]}
    assert trend["age"]["chosen"] == "valley"
    assert "the valley is better than the best monotone trend by" in trend["age"]["why"]
    assert trend["debt"]["chosen"] == "ascending"
    auc = {t: roc_auc_score(y_later, ScoreModel(r.artifact).score_frame(later).z)
           for t, r in results.items()}
    assert auc["choose"] > auc["auto_asc_desc"] + 0.02
    assert auc["choose"] >= auc["auto"] - 1e-9
    card = render(results["choose"].artifact)
    assert "| age | data | valley |" in card
    assert "age: valley; held-out log-loss per row" in card


@pytest.mark.parametrize("seed", range(6))
def test_a_monotone_truth_with_noise_keeps_a_monotone_trend(seed):
    rng = np.random.default_rng(seed)
    x = rng.normal(0, 1, 1_500)
    y = (rng.random(1_500) < 1 / (1 + np.exp(1.2 - 0.6 * x))).astype(np.int64)
    choice = choose_trend(x, y, seed=seed)
    assert choice.trend == "ascending", choice.why
    assert "the best monotone trend is kept" in choice.why


def test_the_rule_compares_a_turn_with_the_best_monotone_at_the_stated_threshold():
    x, y = _valley(3_000, seed=4)
    choice = choose_trend(x["age"].to_numpy(), y)
    losses = choice.log_loss
    assert set(losses) == {"ascending", "descending", "peak", "valley"}
    assert losses["valley"] < min(losses[t] for t in MONOTONE)
    assert f"> {TURN_Z})" in choice.why


def test_fixed_directions_and_unknown_settings():
    x, y = _valley(1_000, seed=5)
    result = _fit(x, y, "auto_asc_desc")
    assert {e["trend"]["why"] for e in result.artifact["indicators"]} == {
        "optbinning's own 'auto_asc_desc' setting"}
    with pytest.raises(ConfigError, match=r"trend 'asc' for direction auto: use one of choose, "
                                          r"auto, auto_asc_desc"):
        TrainingConfig(trend="asc")


@settings(deadline=None, max_examples=80)
@given(st.lists(st.tuples(st.integers(0, 40), st.integers(0, 40)), min_size=2, max_size=15))
def test_each_shape_fit_has_its_shape(cells):
    events = np.array([min(e, t) for e, t in cells], dtype=float)
    total = np.array([t for _, t in cells], dtype=float)
    rises = np.diff(shape_fit(events, total, "ascending"))
    assert (rises >= -1e-12).all()
    assert (np.diff(shape_fit(events, total, "descending")) <= 1e-12).all()
    for trend, sign in (("peak", 1), ("valley", -1)):
        steps = np.sign(np.round(np.diff(shape_fit(events, total, trend)) * sign, 12))
        moves = steps[steps != 0]
        assert (np.diff(moves) <= 0).all()  # rises (or falls) first, then only the other way
