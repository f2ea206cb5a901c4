"""Champion/challenger for spec-trained models: DeLong, a logged comparison, a gate, --force."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.metrics import roc_auc_score
from typer.testing import CliRunner

from engine.audit.chain import keyed_rows, verify_chain
from engine.audit.log import open_log
from engine.audit.store import releases
from engine.cli import app
from engine.modelops import delong
from engine.scoring import ScoreModel

runner = CliRunner()

SPEC = """schema: gridcredit.indicators/1
groups: [data]
label:
  bad: [bad]
  good: [good]
indicators:
"""
ENTRY = """  - name: {name}
    sources: [{name}]
    transform: identity
    direction: auto
    unit: '-'
    group: data
    description: Column {name}.
"""


def _data(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    strong, weak = rng.normal(0, 1, n), rng.normal(0, 1, n)
    logit = -1.0 + 1.4 * strong + 0.2 * weak
    bad = rng.random(n) < 1 / (1 + np.exp(-logit))
    return pd.DataFrame({"strong": strong, "weak": weak,
                         "status": np.where(bad, "bad", "good")})


def _train(tmp_path: Path, data: Path, names: list[str], model_id: str) -> Path:
    spec = tmp_path / f"{model_id}.yaml"
    spec.write_text(SPEC + "".join(ENTRY.format(name=n) for n in names), encoding="utf-8")
    out = tmp_path / "models"
    done = runner.invoke(app, ["train", "--data", str(data), "--target", "status", "--spec",
                               str(spec), "--out", str(out), "--no-governance", "--folds", "3",
                               "--model-id", model_id])
    assert done.exit_code == 0, done.output
    path = out / f"{model_id}.json"
    (out / f"{data.stem}.json").rename(path)
    (out / f"{data.stem}.md").rename(path.with_suffix(".md"))
    return path


@pytest.fixture(scope="module")
def pair(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("pair")
    train = tmp / "train.csv"
    _data(2_000, 1).to_csv(train, index=False)
    later = tmp / "later.csv"
    _data(3_000, 2).to_csv(later, index=False)
    weak = _train(tmp, train, ["weak"], "card-weak")
    strong = _train(tmp, train, ["strong", "weak"], "card-strong")
    return tmp, weak, strong, later


def test_compare_reports_delong_and_logs_it_and_the_gate_guards_promote(pair):
    tmp, weak, strong, later = pair
    db = str(tmp / "log.sqlite")
    worse = runner.invoke(app, ["models", "compare", "--champion", str(strong), "--challenger",
                                str(weak), "--data", str(later), "--db", db])
    assert worse.exit_code == 0, worse.output
    assert "### champion card-strong (sha256 " in worse.output
    assert "vs challenger card-weak (sha256 " in worse.output
    assert "| measure | champion | challenger | difference |" in worse.output
    assert "DeLong 95 % interval [" in worse.output
    assert "Gate (the DeLong 95 % interval of AUC(challenger) - AUC(champion) lies above 0 " \
           "and the challenger's Brier score is no worse): not met." in worse.output
    refused = runner.invoke(app, ["models", "promote", "--champion", str(strong),
                                  "--challenger", str(weak), "--db", db])
    assert refused.exit_code == 2
    assert ("challenger card-weak may not replace card-strong: the gate is that the DeLong "
            "95 % interval") in refused.output
    assert "1 logged comparison(s) of these two did not meet it" in refused.output
    better = runner.invoke(app, ["models", "compare", "--champion", str(weak), "--challenger",
                                 str(strong), "--data", str(later), "--db", db])
    assert "): met." in better.output
    done = runner.invoke(app, ["models", "promote", "--champion", str(weak), "--challenger",
                               str(strong), "--db", db])
    assert done.exit_code == 0, done.output
    assert done.output.startswith("card-strong replaces card-weak (log entry #3 in ")
    card = strong.with_suffix(".md").read_text(encoding="utf-8")
    assert "## Champion/challenger history" in card
    assert "card-strong (sha256 " in card and "replaced card-weak" in card
    assert "(logged comparison #2); log entry #3" in card
    with open_log(db) as log:
        rows = keyed_rows(log.engine, releases)
        assert [r.kind for r in rows] == ["model-comparison"] * 2 + ["model-promotion"]
        assert rows[0].content["passed"] is False and rows[1].content["passed"] is True
        chain = verify_chain(log.engine, releases)
    assert chain.ok and chain.rows == 3


def test_force_needs_a_reason_and_is_logged(pair):
    tmp, weak, strong, _ = pair
    db = str(tmp / "forced.sqlite")
    bare = runner.invoke(app, ["models", "promote", "--champion", str(strong), "--challenger",
                               str(weak), "--db", db, "--force"])
    assert bare.exit_code == 2
    assert "--force needs --reason TEXT" in bare.output
    forced = runner.invoke(app, ["models", "promote", "--champion", str(strong), "--challenger",
                                 str(weak), "--db", db, "--force", "--reason",
                                 "regulator asked for the simpler card"])
    assert forced.exit_code == 0, forced.output
    with open_log(db) as log:
        (row,) = keyed_rows(log.engine, releases, kind="model-promotion")
    assert row.content["basis"] == {"forced": True,
                                    "reason": "regulator asked for the simpler card"}
    assert row.content["champion_after"]["model_id"] == "card-weak"
    assert "forced: regulator asked for the simpler card" in \
        weak.with_suffix(".md").read_text(encoding="utf-8")


def test_the_same_artifact_twice_is_refused(pair):
    tmp, weak, _, later = pair
    result = runner.invoke(app, ["models", "compare", "--champion", str(weak), "--challenger",
                                 str(weak), "--data", str(later), "--db",
                                 str(tmp / "same.sqlite")])
    assert result.exit_code == 2
    assert "champion and challenger are the same artifact" in result.output
    assert ScoreModel.load(weak).model_id == "card-weak"


@settings(deadline=None, max_examples=40)
@given(st.integers(0, 10_000), st.integers(30, 300))
def test_delong_aucs_are_sklearns_and_the_difference_is_antisymmetric(seed, n):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    y[:2] = [0, 1]
    a = y + rng.normal(0, 1.5, n)
    b = np.round(y * 0.5 + rng.normal(0, 1, n), 1)
    test, back = delong(y, a, b), delong(y, b, a)
    assert test["auc_a"] == pytest.approx(roc_auc_score(y, a))
    assert test["auc_b"] == pytest.approx(roc_auc_score(y, b))
    assert test["difference"] == pytest.approx(-back["difference"])
    assert test["p_value"] == pytest.approx(back["p_value"])
    assert test["low"] <= test["difference"] <= test["high"]
    assert 0.0 <= test["p_value"] <= 1.0
    same = delong(y, a, a)
    assert same["difference"] == 0.0 and same["p_value"] == 1.0
