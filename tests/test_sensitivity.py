"""Sensitivity analysis: adverse shocks per risk-factor group and their effect on the portfolio."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from engine import synth
from engine.cli import app
from engine.config import EngineConfig
from engine.decider import load_tables
from engine.modelops import SHOCKS, Shock, analyse, shock_indicator
from engine.recordframe import validate_frame
from engine.scoring import Indicator, load_catalogue, load_registry

ROOT = Path(__file__).resolve().parent.parent
MODELS = ROOT / "models"


def _indicator(**kw) -> Indicator:
    base = dict(name="x", sources=("x",), transform="identity", direction="higher_is_riskier",
                unit="-", group="market", description="-")
    return Indicator(**{**base, **kw})


def test_numeric_shocks_move_each_customer_the_adverse_way():
    rng = np.random.default_rng(0)
    values = pd.Series([0.0, 1.0, 2.0, np.nan])
    up = shock_indicator(_indicator(), values, Shock("10 %", "relative", 0.1), rng)
    np.testing.assert_allclose(up, [0.0, 1.1, 2.2, np.nan])
    down = shock_indicator(_indicator(direction="lower_is_riskier"), values,
                           Shock("+1 sd", "sd", 1.0), rng)
    np.testing.assert_allclose(down, values - np.nanstd(values))
    clipped = shock_indicator(_indicator(clip=(0.0, 2.0)), values,
                              Shock("30 %", "relative", 0.3), rng)
    assert np.nanmax(clipped) == 2.0


@settings(max_examples=40, deadline=None)
@given(good=st.integers(0, 400), bad=st.integers(0, 400), size=st.sampled_from([0.1, 0.2, 0.3]))
def test_flag_shock_moves_the_mean_by_the_requested_share(good, bad, size):
    values = pd.Series([1.0] * good + [0.0] * bad)
    ind = _indicator(transform="flag", direction="lower_is_riskier")
    after = shock_indicator(ind, values, Shock("p", "relative", size), np.random.default_rng(1))
    moved = int((values.to_numpy() - after).sum())
    assert moved <= good and abs(moved - size * good) <= 1
    assert set(np.unique(after)) <= {0.0, 1.0}
    assert np.all(after <= values.to_numpy())


def test_ordered_category_steps_one_level_worse_and_leaves_unrated_alone():
    ind = _indicator(transform="category", levels=("A", "B", "C", "D"), group="social credit")
    values = pd.Series(["A"] * 50 + ["D"] * 50 + ["unrated"] * 50 + [None] * 10, dtype=object)
    after = shock_indicator(ind, values, Shock("+1 sd", "sd", 1.0), np.random.default_rng(3))
    after = pd.Series(after)
    assert set(after[:50]) <= {"A", "B"} and (after[:50] == "B").any()
    assert (after[50:100] == "D").all()
    assert (after[100:150] == "unrated").all()
    assert after[150:].isna().all()


@pytest.fixture(scope="module")
def portfolio():
    registry = load_registry(MODELS)
    accepted, _ = validate_frame(synth.generate(4_000, seed=12).drop(columns="default_12m"))
    values = registry.indicators(accepted)
    result = analyse(values, accepted["customer_class"], registry.score_indicators,
                     registry.catalogue, load_tables(EngineConfig.at(ROOT)).scale,
                     customer_id=accepted["customer_id"])
    return result, len(accepted)


def test_adverse_changes_never_improve_anyone(portfolio):
    result, n = portfolio
    table = result.table
    assert len(table) == 6 * len(SHOCKS)
    assert set(table["group"]) == set(load_catalogue(MODELS / "indicators.yaml").groups)
    assert (table["mean_pd_after"] >= table["mean_pd_before"] - 1e-12).all()
    assert (table["upgraded"] == 0).all()
    detail = result.customers
    assert len(detail) == n * len(table)
    assert (detail["pd_after"] >= detail["pd_before"] - 1e-12).all()


def test_larger_relative_shocks_hurt_at_least_as_much(portfolio):
    result, _ = portfolio
    for _, rows in result.table.groupby("group"):
        rel = rows[rows["shock"].str.endswith("%")]["mean_pd_after"].to_numpy()
        assert np.all(np.diff(rel) >= -1e-12)


def test_payment_behaviour_moves_the_portfolio_most_at_one_sd(portfolio):
    result, _ = portfolio
    sd = result.table[result.table["shock"] == "+1 sd"].set_index("group")
    assert sd["change_pp"].idxmax() == "payment behaviour"


def test_sensitivity_command_writes_table_chart_and_detail(tmp_path):
    out = tmp_path / "sens"
    result = CliRunner().invoke(app, ["sensitivity", "--n", "1500", "--models", str(MODELS),
                                      "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "| payment behaviour | +1 sd |" in result.output
    for name in ("sensitivity.csv", "sensitivity.md", "sensitivity.png",
                 "sensitivity-customers.parquet"):
        assert (out / name).stat().st_size > 0
    assert (out / "sensitivity.png").read_bytes()[:4] == b"\x89PNG"
    table = pd.read_csv(out / "sensitivity.csv")
    assert list(table.columns[:5]) == ["group", "shock", "indicators", "mean_pd_before",
                                       "mean_pd_after"]
