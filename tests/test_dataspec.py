"""Own data: specials, missing rules, filter, label, categories, spec init, score."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from engine.cli import app
from engine.config import EngineConfig
from engine.decider import load_tables
from engine.errors import ConfigError, FrameError
from engine.modelops import TrainingConfig, init_spec, labels, render, train_file
from engine.scoring import ScoreModel, canonical, compute, load_catalogue, score_file

ROOT = Path(__file__).resolve().parent.parent
GERMAN = ROOT / "tests" / "data" / "germancredit.csv"
SCALE = load_tables(EngineConfig.at(ROOT)).scale
CONFIG = TrainingConfig(folds=3, governance=False)
runner = CliRunner()

HEAD = "schema: gridcredit.indicators/1\ngroups: [data]\n"


def _entry(name, source, transform="identity", direction="auto", **extra) -> str:
    lines = [f"  - name: {name}", f"    sources: [{source}]", f"    transform: {transform}",
             f"    direction: {direction}", "    unit: '-'", "    group: data",
             f"    description: {name}."]
    lines += [f"    {k}: {json.dumps(v)}" for k, v in extra.items()]
    return "\n".join(lines) + "\n"


def _spec(tmp_path: Path, body: str, top: str = "") -> Path:
    path = tmp_path / "spec.yaml"
    path.write_text(HEAD + top + "indicators:\n" + body, encoding="utf-8")
    return path


def _frame(n: int = 1_200, seed: int = 3) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    income = rng.lognormal(8, 0.5, n)
    risk = rng.integers(1, 4, n)
    logit = -1.5 + 0.8 * (risk - 2) - 0.8 * (np.log(income) - 8)
    bad = rng.random(n) < 1 / (1 + np.exp(-logit))
    income[rng.random(n) < 0.08] = 99999999
    return pd.DataFrame({"income": income, "risk": risk.astype(float),
                         "status": np.where(bad, "bad", "good"),
                         "region": rng.choice(["n", "s"], n)})


@pytest.mark.parametrize(("value", "expected"), [
    (1, "1"), (1.0, "1"), ("1", "1"), (" 1 ", "1"), ("1.0", "1"), (np.int64(7), "7"),
    (2.5, "2.5"), ("2.50", "2.5"), ("007", "007"), ("A", "A"), ("", None), (None, None),
    (float("nan"), None), (True, "True")])
def test_category_codes_are_canonical(value, expected):
    assert canonical(value) == expected


GERMAN_SPEC = load_catalogue(ROOT / "tests" / "data" / "germancredit-indicators.yaml")


@settings(deadline=None, max_examples=60)
@given(st.lists(st.integers(min_value=0, max_value=9), min_size=1, max_size=30),
       st.integers(min_value=0, max_value=29))
def test_a_blank_cell_never_changes_the_categories(codes, blank_at):
    catalogue_entry = GERMAN_SPEC
    ints = pd.DataFrame({"status_of_existing_checking_account": codes})
    with_blank = ints.astype("float64")
    if blank_at < len(codes):
        with_blank.iloc[blank_at, 0] = np.nan
    names = ["checking_account"]
    a = compute(ints, catalogue_entry, names)["checking_account"].tolist()
    b = compute(with_blank, catalogue_entry, names)["checking_account"].tolist()
    text = compute(ints.astype(str), catalogue_entry, names)["checking_account"].tolist()
    assert a == text
    assert [x for i, x in enumerate(b) if i != blank_at] == \
        [x for i, x in enumerate(a) if i != blank_at]


def test_special_values_get_their_own_bin_and_score(tmp_path):
    spec = _spec(tmp_path, _entry("income", "income", direction="lower_is_riskier",
                                  special_values=[99999999])
                 + _entry("risk", "risk", direction="higher_is_riskier"))
    frame = _frame()
    result = train_file(frame, target="status", spec=spec, bands=SCALE, bad="bad",
                        config=CONFIG)
    entry = next(e for e in result.artifact["indicators"] if e["name"] == "income")
    (special,) = entry["specials"]
    assert special["value"] == 99999999
    rows = [b for b in entry["bins"] if b["bin"] == "special 99999999"]
    assert rows and rows[0]["customers"] == int((frame["income"] == 99999999).sum())
    assert all(s < 99999999 for s in entry["splits"])
    model = ScoreModel(result.artifact)
    probe = pd.DataFrame({"income": [99999999.0, 3000.0], "risk": [2.0, 2.0]})
    w = model.woe_matrix(probe)
    assert w[0, 0] == pytest.approx(special["woe"])
    assert w[1, 0] != pytest.approx(special["woe"])
    np.testing.assert_allclose(model.score_frame(probe).z,
                               result.pipeline.decision_function(probe), atol=1e-9)


def test_ordered_levels_and_direction_are_honoured(tmp_path):
    frame = _frame()
    frame["risk_band"] = frame["risk"].map({1.0: "low", 2.0: "mid", 3.0: "high"})
    frame.loc[:30, "risk_band"] = "unrated"
    spec = _spec(tmp_path, _entry("band", "risk_band", transform="category",
                                  direction="higher_is_riskier", levels=["low", "mid", "high"])
                 + _entry("income", "income", direction="lower_is_riskier"))
    result = train_file(frame, target="status", spec=spec, bands=SCALE, bad="bad",
                        config=CONFIG)
    entry = next(e for e in result.artifact["indicators"] if e["name"] == "band")
    flat = [c for group in entry["categories"] for c in group]
    assert flat == ["low", "mid", "high"]
    assert all(a >= b for a, b in zip(entry["woe"], entry["woe"][1:], strict=False))
    assert any(b["bin"] == "unlisted" and b["customers"] == 31 for b in entry["bins"])


def test_direction_on_an_unordered_category_is_refused(tmp_path):
    spec = _spec(tmp_path, _entry("region", "region", transform="category",
                                  direction="higher_is_riskier"))
    with pytest.raises(ConfigError, match=r"spec\.yaml:4: indicator 'region': direction "
                                          r"'higher_is_riskier' needs an order: list the "
                                          r"categories in 'levels'"):
        load_catalogue(spec)


def test_filter_and_label_are_applied_and_recorded(tmp_path):
    frame = _frame()
    frame.loc[:49, "status"] = "withdrawn"
    top = ("filter:\n  status: [good, bad]\nlabel:\n  bad: [bad]\n  good: [good]\n"
           "  definition: Ninety days past due within a year.\n")
    spec = _spec(tmp_path, _entry("income", "income", direction="lower_is_riskier"), top)
    result = train_file(frame, target="status", spec=spec, bands=SCALE, config=CONFIG)
    doc = result.artifact
    assert doc["training"]["rows"] == len(frame) - 50
    assert doc["population"] == {"rows_in": len(frame), "filtered_out": 50,
                                 "filter": "status in ('good', 'bad')"}
    assert doc["label"] == {"target": "status", "bad": ["bad"], "good": ["good"],
                            "definition": "Ninety days past due within a year."}
    card = render(doc)
    assert "- default (1): `status` in {bad}" in card
    assert "- definition: Ninety days past due within a year." in card
    assert "### income (IV " in card and "## Intended use" in card and "## Limitations" in card


def test_a_label_with_other_values_is_refused():
    series = pd.Series(["good", "bad", "unknown", "good"], name="status")
    with pytest.raises(FrameError, match=r"target 'status' has values other than the good and "
                                         r"bad ones: 'unknown' \(bad: bad; good: good\); list "
                                         r"them under label: good or bad"):
        labels(series, "bad", ["good"])
    with pytest.raises(FrameError, match=r"2 values besides the bad one \('bad'\): 'good', "
                                         r"'unknown'"):
        labels(series, "bad")
    assert list(labels(series.iloc[[0, 1, 3]], "bad")) == [0, 1, 0]


def test_missing_refuse_names_the_column_and_the_spec_line(tmp_path):
    spec = _spec(tmp_path, _entry("income", "income", missing="refuse"))
    frame = _frame()
    frame.loc[5, "income"] = np.nan
    with pytest.raises(FrameError, match=r"indicator 'income': source 'income' has 1 missing "
                                         r"values \(first at row 5\) and its spec says missing: "
                                         r"refuse \(spec line 4\)"):
        compute(frame, load_catalogue(spec))
    filled = _spec(tmp_path, _entry("income", "income", missing={"value": 0}))
    assert compute(frame, load_catalogue(filled))["income"].iloc[5] == 0.0


def test_messages_for_text_columns_and_wrong_case_names(tmp_path):
    spec = _spec(tmp_path, _entry("region", "region"))
    with pytest.raises(FrameError, match=r"non-numeric value '[ns]'; if the column holds "
                                         r"categories, use transform: category"):
        compute(_frame(), load_catalogue(spec))
    spec = _spec(tmp_path, _entry("income", "Income"))
    with pytest.raises(FrameError, match=r"missing columns the indicators need: Income; "
                                         r".*spec\.yaml:4: indicator 'income' reads 'Income' "
                                         r"\(did you mean 'income'\?\)"):
        compute(_frame(), load_catalogue(spec))


def test_every_indicator_dropped_is_a_clear_error(tmp_path):
    frame = _frame()
    frame["flat"] = 1.0
    spec = _spec(tmp_path, _entry("flat", "flat"))
    result = runner.invoke(app, ["evaluate", "--data", str(_csv(tmp_path, frame)),
                                 "--target", "status", "--bad", "bad", "--spec", str(spec)])
    assert result.exit_code == 2, result.output
    assert "every indicator was left out" in result.output
    assert "flat: a single bin" in result.output and "Traceback" not in result.output


def _csv(tmp_path: Path, frame: pd.DataFrame) -> Path:
    path = tmp_path / "data.csv"
    frame.to_csv(path, index=False)
    return path


def test_training_bytes_are_reproducible(tmp_path):
    spec = _spec(tmp_path, _entry("income", "income", direction="lower_is_riskier"))
    data = _csv(tmp_path, _frame())
    outs = []
    for k in range(2):
        out = tmp_path / f"m{k}"
        result = runner.invoke(app, ["train", "--data", str(data), "--target", "status",
                                     "--bad", "bad", "--spec", str(spec), "--out", str(out),
                                     "--no-governance", "--folds", "3"])
        assert result.exit_code == 0, result.output
        outs.append(out)
    for name in ("data.json", "data.md"):
        assert (outs[0] / name).read_bytes() == (outs[1] / name).read_bytes()


def test_spec_init_writes_a_spec_that_evaluate_accepts(tmp_path):
    frame = _frame()
    frame["row_id"] = [f"r{i}" for i in range(len(frame))]
    frame["as_of"] = "2026-01-31"
    data = _csv(tmp_path, frame)
    text, left_out = init_spec(frame, "status")
    assert left_out == ["row_id: every value distinct (an identifier)",
                        "as_of: constant or empty"]
    spec = tmp_path / "starter.yaml"
    result = runner.invoke(app, ["spec", "init", "--data", str(data), "--target", "status",
                                 "--out", str(spec)])
    assert result.exit_code == 0, result.output
    assert result.output == f"wrote {spec} (3 indicators; left out 2 columns)\n"
    catalogue = load_catalogue(spec)
    assert [(i.name, i.transform, i.direction) for i in catalogue] == [
        ("income", "identity", "auto"), ("risk", "identity", "auto"),
        ("region", "category", "auto")]
    assert catalogue.label.bad == ("bad",)
    result = runner.invoke(app, ["evaluate", "--data", str(data), "--target", "status",
                                 "--spec", str(spec), "--folds", "3"])
    assert result.exit_code == 0, result.output
    assert "CV AUC" in result.output


def test_score_scores_the_rows_of_the_file_it_was_trained_on(tmp_path):
    frame = _frame()
    top = "filter:\n  region: {ne: s}\n"
    spec = _spec(tmp_path, _entry("income", "income", direction="lower_is_riskier"), top)
    result = train_file(frame, target="status", spec=spec, bands=SCALE, bad="bad",
                        config=CONFIG)
    model = ScoreModel(result.artifact, path="m.json")
    result_file = score_file(model, frame.drop(columns="status"), SCALE)
    scored, rejects = result_file.scored, result_file.rejects
    assert len(scored) + len(rejects) == len(frame)
    assert len(rejects) == int((frame["region"] == "s").sum())
    assert set(rejects["reason"]) == {"outside the model's population (region ne 's')"}
    expected = result.pipeline.decision_function(
        compute(frame[frame["region"] != "s"], load_catalogue(spec), ["income"]))
    np.testing.assert_allclose(scored["z"].to_numpy(), expected, atol=1e-9)
    assert set(scored["grade"]) <= {b.grade for b in SCALE}


def test_score_refuses_a_registry_model():
    result = runner.invoke(app, ["score", "--model", str(ROOT / "models" / "residential.json"),
                                 "--data", str(GERMAN)])
    assert result.exit_code == 2
    assert "scores customer records, not a file of its own kind: use 'gridcredit decide " \
           "--input FILE'" in result.output
