"""Drift monitoring: PSI/CSI on the model's bins, thresholds, calibration tests, the command."""

from __future__ import annotations

import datetime as dt
import re

import numpy as np
import pandas as pd
import pytest
from scipy.stats import binom
from typer.testing import CliRunner

from engine import synth
from engine.cli import app
from engine.config import EngineConfig
from engine.decider import load_tables
from engine.errors import FrameError
from engine.modelops import (
    BREACH,
    WATCH,
    calibration_problems,
    grade_calibration,
    level,
    monitor_registry,
    psi_table,
    split_at,
)
from engine.scoring import load_registry

runner = CliRunner()
SCALE = load_tables(EngineConfig.at()).scale


@pytest.fixture(scope="module")
def registry():
    return load_registry("models")


@pytest.fixture(scope="module")
def populations(tmp_path_factory):
    folder = tmp_path_factory.mktemp("monitor")
    base = synth.generate(4_000, seed=31)
    same = base.copy()
    shifted = synth.generate(4_000, seed=32)
    shifted["overdue_bills_12m"] = shifted["overdue_bills_12m"] * 3 + 1
    paths = {}
    for name, frame in (("base", base), ("same", same), ("shifted", shifted)):
        paths[name] = folder / f"{name}.csv"
        frame.to_csv(paths[name], index=False)
    return folder, base, shifted, paths


def test_psi_is_jeffreys_divergence_of_the_shares():
    base = np.repeat([0, 1, 2], [500, 300, 200])
    cur = np.repeat([0, 1, 2], [300, 300, 400])
    table = psi_table(base, cur, ["a", "b", "c"])
    e, a = np.array([0.5, 0.3, 0.2]), np.array([0.3, 0.3, 0.4])
    assert table["psi"].sum() == pytest.approx(float(np.sum((a - e) * np.log(a / e))))
    assert list(table["baseline"]) == [500, 300, 200]


@pytest.mark.parametrize(("value", "expected"), [
    (0.0, "stable"), (WATCH - 1e-9, "stable"), (WATCH, "watch"), (BREACH - 1e-9, "watch"),
    (BREACH, "breach"), (None, "stable")])
def test_thresholds_are_0_10_and_0_25(value, expected):
    assert level(value) == expected


def test_a_grade_outside_its_binomial_interval_is_flagged():
    n, p = 2_000, 0.02
    lo, hi = binom.interval(0.99, n, p)
    grades = np.array(["AAA"] * n + ["AA"] * n, dtype=object)
    pd_values = np.full(2 * n, p)
    y = np.zeros(2 * n, dtype=np.int64)
    y[: int(hi) + 5] = 1          # AAA: too many defaults for its PD
    y[n: n + int(p * n)] = 1      # AA: exactly as predicted
    table = grade_calibration(grades, pd_values, y, ["AAA", "AA", "A"])
    assert list(table["agrees"]) == [False, True, True]
    assert table.loc[0, "high"] == pytest.approx(hi / n)
    assert table.loc[2, "customers"] == 0
    (problem,) = calibration_problems(table)
    assert problem == ("grade AAA: observed default rate 3.10% is above the 99% binomial "
                       "interval [1.25%, 2.85%] of its predicted 2.00% (2,000 customers, "
                       "p = 0.001)")


def test_identical_populations_are_stable(registry, populations):
    _, base, _, _ = populations
    result = monitor_registry(registry, SCALE, base.drop(columns="default_12m"),
                              base.drop(columns="default_12m"))
    assert not result.breached
    for d in result.drifts:
        assert d.score_psi == pytest.approx(0.0, abs=1e-12)
        assert d.grade_psi == pytest.approx(0.0, abs=1e-12)
        assert d.csi["csi"].max() == pytest.approx(0.0, abs=1e-12)
        assert d.performance is None and d.status == "stable"


def test_a_shifted_indicator_breaches_its_csi_alone(registry, populations):
    _, base, shifted, _ = populations
    result = monitor_registry(registry, SCALE, base, shifted)
    assert result.breached
    for d in result.drifts:
        csi = d.csi.set_index("indicator")["csi"]
        assert csi["overdue_bills"] >= BREACH
        assert csi.drop("overdue_bills").max() < BREACH
        assert any("CSI of overdue_bills" in text for _, text in d.findings)
        bins = d.csi_bins[d.csi_bins["indicator"] == "overdue_bills"]
        assert bins["baseline"].sum() == d.baseline_rows
        assert bins["bin"].iloc[-1] == "missing"
        assert d.performance is not None and set(d.performance["metric"]) == {"auc", "ks",
                                                                               "gini"}
        assert d.performance_source == "the labelled baseline population"


def test_monitor_command_writes_a_report_and_exits_1_on_breach(populations):
    folder, _, _, paths = populations
    out = folder / "drift.html"
    result = runner.invoke(app, ["monitor", "--baseline", str(paths["base"]), "--current",
                                 str(paths["shifted"]), "--out", str(out)])
    assert result.exit_code == 1, result.output
    assert "breach: CSI of overdue_bills" in result.output
    html = out.read_text()
    assert html.count("<img ") >= 6 and 'src="data:image/png;base64,' in html
    assert "A threshold is breached." in html and "Calibration by grade" in html


def test_monitor_command_exits_0_when_stable(populations):
    _, _, _, paths = populations
    result = runner.invoke(app, ["monitor", "--baseline", str(paths["base"]), "--current",
                                 str(paths["same"])])
    assert result.exit_code in (0, 1), result.output
    assert "score PSI 0.000, grade PSI 0.000" in result.output
    assert "CSI of" not in result.output


def test_labels_without_the_key_are_refused(populations, tmp_path):
    _, base, _, paths = populations
    labels = tmp_path / "labels.csv"
    base[["default_12m"]].to_csv(labels, index=False)
    result = runner.invoke(app, ["monitor", "--baseline", str(paths["base"]), "--current",
                                 str(paths["same"]), "--labels", str(labels)])
    assert result.exit_code == 2
    assert f"error: {labels}: no column 'customer_id'; name it with --id" in result.output


def test_a_population_without_the_model_indicators_is_refused(populations, tmp_path):
    _, base, _, paths = populations
    thin = tmp_path / "thin.csv"
    base.drop(columns=["overdue_bills_12m"]).to_csv(thin, index=False)
    result = runner.invoke(app, ["monitor", "--baseline", str(paths["base"]), "--current",
                                 str(thin)])
    assert result.exit_code == 2
    assert "overdue_bills_12m" in result.output and "Traceback" not in result.output


def test_split_at_refuses_a_date_outside_the_data():
    frame = pd.DataFrame({"as_of": ["2025-01-31", "2025-06-30"], "x": [1, 2]})
    before, after = split_at(frame, "as_of", "2025-03-01")
    assert list(before["x"]) == [1] and list(after["x"]) == [2]
    with pytest.raises(FrameError, match=r"no rows dated from 2026-01-01 in 'as_of' \(dates "
                                         r"run from 2025-01-31 to 2025-06-30\)"):
        split_at(frame, "as_of", "2026-01-01")
    with pytest.raises(FrameError, match="no date column 'when'.*--date-column"):
        split_at(frame, "when", "2025-03-01")
    with pytest.raises(FrameError, match="is not a date; use YYYY-MM-DD"):
        split_at(frame, "as_of", "March")


def test_evaluate_out_of_time_trains_before_and_measures_after(tmp_path):
    early = synth.generate(5_000, seed=41, as_of=dt.date(2025, 10, 31))
    late = synth.generate(2_500, seed=42)
    late["customer_id"] = late["customer_id"] + "-late"
    data = tmp_path / "oot.csv"
    pd.concat([early, late]).to_csv(data, index=False)
    result = runner.invoke(app, ["evaluate", "--data", str(data), "--oot-date", "2026-01-01",
                                 "--folds", "2"])
    assert result.exit_code == 0, result.output
    heads = re.findall(r"## (\S+): out of time, measured on ([\d,]+) rows dated from "
                       r"2026-01-01 \(out of time\), trained on ([\d,]+) earlier rows",
                       result.output)
    # models trained for the measurement: ids of their own, never the shipped ones'
    assert [re.fullmatch(r"(\w+)-2026\.11-[0-9a-f]{10}", h[0])[1] for h in heads] == [
        "enterprise", "residential"]
    assert sum(int(h[1].replace(",", "")) for h in heads) <= 2_500
    assert sum(int(h[2].replace(",", "")) for h in heads) <= 5_000
    assert "| grade | customers | defaults | observed | mean_pd | low | high |" in result.output


def test_monitor_a_spec_trained_model_on_files_of_its_kind(tmp_path):
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    data = root / "tests" / "data" / "germancredit.csv"
    out = tmp_path / "m"
    trained = runner.invoke(app, ["train", "--data", str(data), "--target", "creditability",
                                  "--bad", "bad", "--spec",
                                  str(root / "tests" / "data" / "germancredit-indicators.yaml"),
                                  "--out", str(out), "--no-governance", "--folds", "3",
                                  "--model-id", "germancredit-2026.11"])
    assert trained.exit_code == 0, trained.output
    frame = pd.read_csv(data)
    frame.iloc[:500].to_csv(tmp_path / "a.csv", index=False)
    older = frame.iloc[500:].copy()
    older["age_in_years"] = older["age_in_years"] + 30
    older.to_csv(tmp_path / "b.csv", index=False)
    result = runner.invoke(app, ["monitor", "--model", str(out / "germancredit.json"),
                                 "--baseline", str(tmp_path / "a.csv"), "--current",
                                 str(tmp_path / "b.csv")])
    assert result.exit_code == 1, result.output
    assert result.output.startswith("germancredit-2026.11: breach; 500 current vs 500 baseline")
    assert "breach: CSI of age_in_years" in result.output


def test_the_drift_report_names_the_models_outcome_its_filter_and_the_metrics_note(
        tmp_path, monkeypatch):
    from html import unescape
    from pathlib import Path

    from engine.report import monitoring as page

    root = Path(__file__).resolve().parent.parent
    data = root / "tests" / "data" / "germancredit.csv"
    out = tmp_path / "m"
    trained = runner.invoke(app, ["train", "--data", str(data), "--target", "creditability",
                                  "--bad", "bad", "--spec",
                                  str(root / "tests" / "data" / "germancredit-indicators.yaml"),
                                  "--out", str(out), "--no-governance", "--folds", "3"])
    assert trained.exit_code == 0, trained.output
    axes: list[str] = []
    drawn = page._calibration_chart
    monkeypatch.setattr(page, "_calibration_chart",
                        lambda table, outcome: axes.append(outcome) or drawn(table, outcome))
    frame = pd.read_csv(data)
    frame.iloc[:500].to_csv(tmp_path / "a.csv", index=False)
    frame.iloc[500:].to_csv(tmp_path / "b.csv", index=False)
    frame.iloc[500:].drop(columns=["creditability"]).to_csv(tmp_path / "c.csv", index=False)
    model = str(out / "germancredit.json")
    html = tmp_path / "drift.html"
    labelled = runner.invoke(app, ["monitor", "--model", model, "--baseline",
                                   str(tmp_path / "a.csv"), "--current", str(tmp_path / "b.csv"),
                                   "--out", str(html)])
    assert labelled.exit_code in (0, 1), labelled.output
    bad = int((frame.iloc[500:]["creditability"] == "bad").sum())
    note = f"AUC and KS computed on the 500 current rows with a known outcome ({bad:,} bad)."
    assert f"  {note}" in labelled.output
    text = unescape(html.read_text(encoding="utf-8"))
    assert note in text and "Rows left out by the model's population filter" in text
    assert "refused by validation" not in text
    assert axes == ["observed rate of creditability = bad"]
    unlabelled = runner.invoke(app, ["monitor", "--model", model, "--baseline",
                                     str(tmp_path / "a.csv"), "--current",
                                     str(tmp_path / "c.csv")])
    assert unlabelled.exit_code in (0, 1), unlabelled.output
    assert ("  AUC and KS were not computed: the current file brings no outcomes (pass "
            "--labels, or a file with the model's target column).") in unlabelled.output
