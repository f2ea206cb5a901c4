"""An analyst's own files end to end: spec init, labels, filters, out of time, scales, ids."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from engine.cli import app
from engine.config import EngineConfig
from engine.decider import load_tables
from engine.errors import ConfigError, FrameError
from engine.modelops import (
    TrainingConfig,
    init_spec,
    labels,
    monitor_model,
    oot_file,
    train_file,
    write_model,
)
from engine.modelops.specinit import sentinels
from engine.scoring import ScoreModel, compute, load_catalogue, load_registry, score_file

ROOT = Path(__file__).resolve().parent.parent
SCALE = load_tables(EngineConfig.at(ROOT)).scale
CONFIG = TrainingConfig(folds=3, governance=False)
runner = CliRunner()

SPEC_HEAD = "schema: gridcredit.indicators/1\ngroups: [data]\n"
INCOME = ("indicators:\n  - name: income\n    sources: [income]\n    transform: identity\n"
          "    direction: lower_is_riskier\n    unit: '-'\n    group: data\n"
          "    description: Income.\n")


def _frame(n: int = 1_500, seed: int = 5) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    income = rng.lognormal(8, 0.5, n)
    bad = rng.random(n) < 1 / (1 + np.exp(1.5 + 1.2 * (np.log(income) - 8)))
    return pd.DataFrame({"id": np.arange(100_001, 100_001 + n), "income": income,
                         "months": rng.integers(1, 6, n),
                         "status": np.where(bad, "bad", "good"),
                         "as_of": pd.date_range("2024-01-01", periods=n, freq="6h")
                         .strftime("%Y-%m-%d")})


def _spec(tmp_path: Path, top: str = "") -> Path:
    path = tmp_path / "spec.yaml"
    path.write_text(SPEC_HEAD + top + INCOME, encoding="utf-8")
    return path


def _csv(tmp_path: Path, frame: pd.DataFrame, name: str = "data.csv") -> Path:
    path = tmp_path / name
    frame.to_csv(path, index=False)
    return path


# ------------------------------------------------------------------ bug 1, item 7: spec init

def test_spec_init_leaves_out_a_numeric_id():
    _, left_out = init_spec(_frame(), "status")
    assert "id: every value distinct (an identifier)" in left_out


def test_spec_init_proposes_sentinels_with_their_counts_and_marks_few_level_integers():
    frame = _frame()
    frame.loc[:29, "income"] = 99999999
    text, _ = init_spec(frame, "status")
    assert "# far from the rest of the column, likely codes, not amounts " \
           "(99999999: 30 rows)" in text
    assert "special_values: [99999999]" in text
    assert "# integer with 5 levels: a candidate category (transform: category)" in text
    assert sentinels(pd.Series([1, 2, 3, 4, 9, 9])) == ((9.0, 2),)
    assert sentinels(pd.Series([18, 40, 75, 99])) == ()


# ------------------------------------------------------------------ bug 2: three-valued target

def test_spec_init_writes_a_label_for_a_target_with_three_values(tmp_path):
    frame = _frame().drop(columns=["status"])
    rng = np.random.default_rng(1)
    frame["Status"] = rng.choice([0, 1, 2], len(frame), p=[0.6, 0.3, 0.1])
    frame.loc[frame["income"] < 1_200, "Status"] = 2
    data = _csv(tmp_path, frame)
    text, _ = init_spec(frame, "Status")
    assert "# 'Status' has 3 values: 0 (" in text
    assert "# Which mean default? List them under bad, those meaning no default under" in text
    spec = tmp_path / "starter.yaml"
    spec.write_text(text, encoding="utf-8")
    label = load_catalogue(spec).label
    assert label.bad == ("2",) and label.good == ("0", "1")
    result = runner.invoke(app, ["evaluate", "--data", str(data), "--target", "Status",
                                 "--spec", str(spec), "--folds", "3"])
    assert result.exit_code == 0, result.output
    assert "CV AUC" in result.output


# ------------------------------------------------------------------ bug 3: the stray value

def test_the_stray_value_message_names_the_values_it_means():
    series = pd.Series(["0", "1", "2", "1", "0"], name="Status")
    with pytest.raises(FrameError, match=r"^target 'Status' has 2 values besides the bad one "
                                         r"\('2'\): '0', '1'; list those meaning no default "
                                         r"under label: good in the spec"):
        labels(series, "2")
    with pytest.raises(FrameError, match=r"^target 'Status' has values other than the good and "
                                         r"bad ones: '0' \(bad: 2; good: 1\)"):
        labels(series, "2", ["1"])
    assert list(labels(series, "2", ["0", "1"])) == [0, 0, 1, 0, 0]


# ------------------------------------------------------------------ bug 4: out of time

def test_out_of_time_reads_the_later_rows_through_the_spec_filter_and_label(tmp_path):
    frame = _frame()
    frame.loc[frame.index % 10 == 0, "status"] = "withdrawn"
    spec = _spec(tmp_path, "filter:\n  status: {ne: withdrawn}\n"
                           "label:\n  bad: [bad]\n  good: [good]\n")
    run = oot_file(frame, target="status", spec=spec, bands=SCALE, date="2024-09-01",
                   column="as_of", config=CONFIG)
    later = frame[frame["as_of"] >= "2024-09-01"]
    earlier = frame[frame["as_of"] < "2024-09-01"]
    assert run.test_rows == int((later["status"] != "withdrawn").sum())
    assert run.train_rows == int((earlier["status"] != "withdrawn").sum())


# ------------------------------------------------------------------ bug 5, item 3: label filter

def test_a_label_filter_trains_on_its_rows_but_never_blocks_scoring_or_monitoring(tmp_path):
    frame = _frame()
    frame.loc[:99, "status"] = "withdrawn"
    spec = _spec(tmp_path, "filter:\n  status: [good, bad]\n  income: {gt: 500}\n"
                           "label:\n  bad: [bad]\n  good: [good]\n")
    result = train_file(frame, target="status", spec=spec, bands=SCALE, config=CONFIG)
    assert result.artifact["training"]["rows"] == int(
        ((frame["status"] != "withdrawn") & (frame["income"] > 500)).sum())
    model = ScoreModel(result.artifact, path="m.json")
    unlabelled = frame.drop(columns=["status"])
    out = score_file(model, unlabelled, SCALE)
    assert len(out.scored) + len(out.rejects) == len(frame)
    assert len(out.rejects) == int((frame["income"] <= 500).sum())
    assert out.notes == ("the filter on the label 'status' (status in ('good', 'bad')) was "
                         "not applied: the file has no outcomes",)
    labelled = score_file(model, frame, SCALE)
    assert labelled.notes == ("the filter on the label 'status' (status in ('good', 'bad')) "
                              "was not applied; it would have left out 100 rows",)
    monitored = monitor_model(model, SCALE, frame, unlabelled)
    assert monitored.notes == ("baseline: the filter on the label 'status' (status in "
                               "('good', 'bad')) was not applied; it would have left out "
                               "100 rows", "current: the filter on the label 'status' (status "
                               "in ('good', 'bad')) was not applied: the file has no outcomes")
    assert monitored.rejected_by == "the model's population filter (income gt 500)"


def test_a_filter_on_a_missing_column_names_the_line_and_the_column_meant(tmp_path):
    spec = _spec(tmp_path, "filter:\n  Income: {gt: 500}\n")
    with pytest.raises(FrameError, match=r"spec\.yaml:4: filter on 'Income', which the data "
                                         r"does not have \(did you mean 'income'\?\)"):
        train_file(_frame(), target="status", spec=spec, bands=SCALE, bad="bad", config=CONFIG)


# ------------------------------------------------------------------ bug 6, item 4: the scale

GRADES = """table: grades
version: "1"
description: A stricter master scale.
hit_policy: first
inputs: [pd]
outputs: [grade]
rules:
"""


def _rules(tmp_path: Path, edges: list[float]) -> Path:
    folder = tmp_path / "cardrules"
    folder.mkdir()
    names = ["AAA", "AA", "A", "B", "C"]
    cuts = [0.0, *edges, None]
    body = []
    for k, name in enumerate(names):
        lo, hi = cuts[k], cuts[k + 1]
        cond = (f"{{ge: {lo}, lt: {hi}}}" if k and hi is not None else
                f"{{lt: {hi}}}" if hi is not None else f"{{ge: {lo}}}")
        body.append(f"  - id: band-{name.lower()}\n    description: Band {name}.\n"
                    f"    when: {{pd: {cond}}}\n    then: {{grade: {name}}}\n")
    (folder / "grades.yaml").write_text(GRADES + "".join(body), encoding="utf-8")
    return folder


def test_score_and_monitor_grade_with_the_artifacts_scale_and_warn_naming_both(tmp_path):
    rules = _rules(tmp_path, [0.05, 0.1, 0.2, 0.3])
    data = _csv(tmp_path, _frame())
    spec = _spec(tmp_path)
    out = tmp_path / "models"
    done = runner.invoke(app, ["train", "--data", str(data), "--target", "status", "--bad",
                               "bad", "--spec", str(spec), "--rules", str(rules), "--out",
                               str(out), "--no-governance", "--folds", "3"])
    assert done.exit_code == 0, done.output
    model = out / "data.json"
    with_rules = runner.invoke(app, ["score", "--model", str(model), "--data", str(data),
                                     "--rules", str(rules)])
    without = runner.invoke(app, ["score", "--model", str(model), "--data", str(data),
                                  "--home", str(ROOT)])
    assert with_rules.exit_code == 0 and without.exit_code == 0, without.output
    grades = [line for line in without.output.splitlines() if line.startswith("grades:")]
    assert grades == [line for line in with_rules.output.splitlines()
                      if line.startswith("grades:")]
    assert "warning" not in with_rules.output
    assert (f"warning: model '{ScoreModel.load(model).model_id}' was governed on the master "
            f"scale 5 grades: AAA < 0.05, AA < 0.1, A < 0.2, B < 0.3, C ({rules}/grades.yaml); "
            "the home's grade table draws another, 5 grades: AAA < 0.015, AA < 0.03, "
            "A < 0.06, B < 0.15, C") in without.output
    monitored = runner.invoke(app, ["monitor", "--model", str(model), "--baseline", str(data),
                                    "--current", str(data), "--home", str(ROOT)])
    assert "was governed on the master scale 5 grades: AAA < 0.05" in monitored.output


# ------------------------------------------------------------------ bug 7: ids

def test_every_file_trained_artifact_has_its_own_id_and_model_id_names_one(tmp_path):
    spec = _spec(tmp_path)
    frame = _frame()
    a = train_file(frame, target="status", spec=spec, bands=SCALE, bad="bad", config=CONFIG)
    b = train_file(frame, target="status", spec=spec, bands=SCALE, bad="bad",
                   config=TrainingConfig(folds=3, seed=7, governance=False))
    again = train_file(frame, target="status", spec=spec, bands=SCALE, bad="bad",
                       config=CONFIG)
    assert a.artifact["model_id"] != b.artifact["model_id"]
    assert a.artifact["model_id"] == again.artifact["model_id"]
    assert a.artifact["model_id"].startswith("model-") and len(a.artifact["model_id"]) == 16
    named = train_file(frame, target="status", spec=spec, bands=SCALE, bad="bad",
                       config=TrainingConfig(folds=3, governance=False, model_id="card-v2"))
    assert named.artifact["model_id"] == "card-v2"


def test_a_registry_challenger_sharing_the_champions_id_is_refused(tmp_path):
    models = tmp_path / "models"
    models.mkdir()
    for name in ("indicators.yaml", "enterprise.json", "residential.json"):
        (models / name).write_bytes((ROOT / "models" / name).read_bytes())
    (models / "twin.json").write_bytes((ROOT / "models" / "residential.json").read_bytes())
    text = (ROOT / "models" / "registry.yaml").read_text(encoding="utf-8")
    (models / "registry.yaml").write_text(text.replace(
        "    artifact: residential.json\n",
        "    artifact: residential.json\n    challenger: twin.json\n"), encoding="utf-8")
    with pytest.raises(ConfigError, match=r"champion 'residential\.json' and challenger "
                                          r"'twin\.json' share the model id "
                                          r"'residential-2026\.11'"):
        load_registry(models)


def test_write_model_keeps_the_id(tmp_path):
    result = train_file(_frame(), target="status", spec=_spec(tmp_path), bands=SCALE,
                        bad="bad", config=CONFIG)
    path = write_model(result, tmp_path / "out", "m.json")
    assert ScoreModel.load(path).model_id == result.artifact["model_id"]


def test_evaluate_says_how_many_rows_the_filter_left_out_and_shows_iv(tmp_path):
    frame = _frame()
    frame.loc[:39, "status"] = "withdrawn"
    spec = _spec(tmp_path, "filter:\n  status: {ne: withdrawn}\n"
                           "label:\n  bad: [bad]\n  good: [good]\n")
    result = runner.invoke(app, ["evaluate", "--data", str(_csv(tmp_path, frame)), "--target",
                                 "status", "--spec", str(spec), "--folds", "3"])
    assert result.exit_code == 0, result.output
    assert (f"Rows: {len(frame):,} in the file, 40 left out by the spec's filter "
            "(status ne 'withdrawn').") in result.output
    assert "| indicator | iv | bins | trend |" in result.output
    assert "| income | 0." in result.output


# ------------------------------------------------------------------ messages

def test_a_missing_column_suggests_only_a_column_it_could_mean(tmp_path):
    spec = _spec(tmp_path)
    unlike = _frame().rename(columns={"income": "Home"})
    with pytest.raises(FrameError) as caught:
        train_file(unlike, target="status", spec=spec, bad="bad", bands=SCALE, config=CONFIG)
    assert str(caught.value).endswith("spec.yaml:4: indicator 'income' reads 'income'")
    assert "did you mean" not in str(caught.value)
    cased = _frame().rename(columns={"income": "INCOME"})
    with pytest.raises(FrameError, match=r"indicator 'income' reads 'income' \(did you mean "
                                         r"'INCOME'\?\)"):
        train_file(cased, target="status", spec=spec, bad="bad", bands=SCALE, config=CONFIG)


def test_an_existing_out_is_named_once(tmp_path):
    data = _csv(tmp_path, _frame())
    out = tmp_path / "spec.yaml"
    out.write_text("kept\n", encoding="utf-8")
    done = runner.invoke(app, ["spec", "init", "--data", str(data), "--target", "status",
                               "--out", str(out)])
    assert done.exit_code == 2
    assert done.output.strip() == f"error: {out}: exists; choose another --out or remove it"
    assert out.read_text(encoding="utf-8") == "kept\n"


# ------------------------------------------------------------------ unseen values

HOME = ("  - name: home\n    sources: [home]\n    transform: category\n"
        "    direction: auto\n    unit: '-'\n    group: data\n    description: Home.\n")


def test_unseen_categories_and_missing_values_are_counted_per_indicator(tmp_path):
    frame = _frame()
    frame["home"] = np.where(np.arange(len(frame)) % 3 == 0, "own", "rent")
    spec = tmp_path / "spec.yaml"
    spec.write_text(SPEC_HEAD + INCOME + HOME, encoding="utf-8")
    done = train_file(frame, target="status", spec=spec, bands=SCALE, bad="bad", config=CONFIG)
    path = write_model(done, tmp_path / "models", "data.json")
    model = ScoreModel.load(path)
    later = frame.copy()
    later.loc[:2, "home"] = "lease"
    later.loc[10:14, "income"] = np.nan
    scored = score_file(model, later, SCALE)
    assert ("values training never saw, scored with the neutral WoE 0: income 5 missing "
            "(training had none); home 3 unseen categories") in scored.notes
    woe = model.woe_matrix(compute(later, load_catalogue(spec), list(model.indicators)))
    assert (woe[:3, 1] == 0).all() and (woe[10:15, 0] == 0).all()
    assert score_file(model, frame, SCALE).notes == ()
    drift = monitor_model(model, SCALE, frame, later)
    assert ("current: values training never saw, scored with the neutral WoE 0: income 5 "
            "missing (training had none); home 3 unseen categories") in drift.notes
    assert "take WoE 0" in path.with_suffix(".md").read_text(encoding="utf-8")


# ------------------------------------------------------------------ points

def test_points_appear_in_the_card_per_bin_and_in_score_and_add_up(tmp_path):
    from engine.errors import ModelError
    from engine.scoring.points import Points, parse_points

    config = TrainingConfig(folds=3, governance=False, calibration=("platt",),
                            points={"base_score": 600, "base_odds": 50, "pdo": 20})
    done = train_file(_frame(), target="status", spec=_spec(tmp_path), bands=SCALE, bad="bad",
                      config=config)
    path = write_model(done, tmp_path / "models", "data.json")
    model = ScoreModel.load(path)
    scored = score_file(model, _frame(), SCALE).scored
    scale = Points(600, 50, 20)
    assert (scored["points"].to_numpy() == scale.of_pd(scored["pd"].to_numpy())).all()
    card = path.with_suffix(".md").read_text(encoding="utf-8")
    assert ("600 points at good:bad odds of 50:1, 20 points to double the odds" in card
            and "| bin | customers | defaults | woe | iv | points |" in card)
    base = float(card.split("calibration the points add up: ")[1].split(" base points")[0])
    entry = model.doc["indicators"][0]
    bins = model.bin_positions(compute(_frame(), load_catalogue(_spec(tmp_path)),
                                       list(model.indicators)))["income"]
    added = scale.bin_points(model.doc["calibration"], entry["coefficient"], entry["woe"])
    total = base + np.asarray(added)[bins]
    assert np.abs(total - scored["points"].to_numpy()).max() <= 0.6
    assert scale.of_pd([1 / 51])[0] == 600 and scale.of_pd([1 / 101])[0] == 620
    with pytest.raises(ConfigError, match=r"--points '600,50': give BASE,ODDS,PDO as three "
                                          r"numbers, for example 600,50,20"):
        parse_points("600,50")
    broken = dict(model.doc, points={"base_score": 600, "base_odds": 0, "pdo": 20})
    with pytest.raises(ModelError, match=r"key 'points': is .* expected \{base_score, "
                                         r"base_odds, pdo\} numbers"):
        ScoreModel(broken)
