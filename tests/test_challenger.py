"""Champion/challenger: shadow scores on every path, never deciding; compare and promote."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from engine import synth
from engine.cli import app
from engine.config import EngineConfig
from engine.decider import load, load_tables
from engine.errors import ConfigError
from engine.scoring import load_registry
from tests.candidates import CHALLENGER_NAMES, registry_text, train_challenger

ROOT = Path(__file__).resolve().parent.parent
SCALE = load_tables(EngineConfig.at(ROOT)).scale
runner = CliRunner()


@pytest.fixture(scope="module")
def home(tmp_path_factory):
    models = tmp_path_factory.mktemp("models")
    for name in ("indicators.yaml", "enterprise.json", "enterprise.md", "residential.json",
                 "residential.md"):
        shutil.copy(ROOT / "models" / name, models / name)
    artifact = train_challenger(models, CHALLENGER_NAMES)
    (models / "registry.yaml").write_text(registry_text(artifact), encoding="utf-8")
    return models


@pytest.fixture(scope="module")
def engines(home):
    return (load(EngineConfig.at(ROOT, models_dir=home)),
            load(EngineConfig.at(ROOT)))


def test_decisions_carry_the_challenger_in_shadow_and_it_never_decides(engines):
    shadowed, plain = engines
    frame = synth.generate(300, seed=52).drop(columns="default_12m")
    records = frame.to_dict("records")
    for record in records[:40]:
        record = {k: v for k, v in record.items() if not pd.isna(v)}
        a, b = shadowed.decide(record), plain.decide(record)
        assert a.content() | {"challenger": None} == b.content() | {"challenger": None}
        if a.customer_class == "residential":
            ch = a.challenger
            assert ch is not None and ch.used is False
            assert ch.model_id == "residential-challenger"
            assert ch.grade in {band.grade for band in SCALE}
            assert a.as_json()["challenger"]["used"] is False
        else:
            assert a.challenger is None and "challenger" not in a.as_json()
    many, _ = shadowed.decide_many(frame)
    one = {d.customer_id: d for d in (shadowed.decide({k: v for k, v in r.items()
                                                        if not pd.isna(v)})
                                      for r in records[:20])}
    for d in many:
        if d.customer_id in one:
            assert d.challenger == one[d.customer_id].challenger


def test_batch_output_has_the_shadow_columns(engines, tmp_path):
    shadowed, _ = engines
    from engine.batch.decide import decide_file

    source = tmp_path / "customers.csv"
    synth.generate(500, seed=53).drop(columns="default_12m").to_csv(source, index=False)
    decide_file(shadowed, source, tmp_path / "out.parquet")
    out = pd.read_parquet(tmp_path / "out.parquet")
    residential = out["customer_class"] == "residential"
    assert set(out.loc[residential, "challenger_model_id"]) == {"residential-challenger"}
    assert out.loc[~residential, "challenger_pd"].isna().all()
    assert not out["challenger_used"].any()
    assert out.loc[residential, "challenger_grade"].isin([b.grade for b in SCALE]).all()


def test_a_challenger_on_other_indicators_is_refused(home, tmp_path):
    folder = tmp_path / "models"
    shutil.copytree(home, folder)
    path = folder / "residential-challenger.json"
    doc = json.loads(path.read_text(encoding="utf-8"))
    doc["indicators"][0]["name"] = "asset_liability_ratio"   # an enterprise indicator
    path.write_text(json.dumps(doc), encoding="utf-8")
    with pytest.raises(ConfigError, match=r"registry\.yaml:\d+: segment 'residential': "
                                          r"challenger 'residential-challenger\.json' was "
                                          r"trained on indicators this segment does not "
                                          r"compute: asset_liability_ratio; retrain it"):
        load_registry(folder)


def test_models_compare_reports_both_on_labelled_outcomes(home, tmp_path):
    data = tmp_path / "labelled.csv"
    synth.generate(4_000, seed=54).to_csv(data, index=False)
    result = runner.invoke(app, ["models", "compare", "--data", str(data), "--models",
                                 str(home), "--home", str(ROOT), "--db",
                                 str(tmp_path / "log.sqlite")])
    assert result.exit_code == 0, result.output
    assert re.search(r"### residential: champion residential-2026\.11 \(sha256 [0-9a-f]{12}\) "
                     r"vs challenger residential-challenger \(sha256 [0-9a-f]{12}\) on",
                     result.output)
    assert "DeLong 95 % interval [" in result.output
    assert "logged as comparison #1 in " in result.output
    assert "| measure | champion | challenger | difference |" in result.output
    for measure in ("auc", "ks", "gini", "brier", "grades_calibrated"):
        assert f"| {measure} |" in result.output


def test_models_promote_swaps_the_registry_and_notes_the_cards(home, tmp_path):
    folder = tmp_path / "models"
    shutil.copytree(home, folder)
    db = str(tmp_path / "log.sqlite")
    refused = runner.invoke(app, ["models", "promote", "residential", "--models", str(folder),
                                  "--home", str(ROOT), "--db", db])
    assert refused.exit_code == 2
    assert "no comparison of these two artifacts is logged" in refused.output
    result = runner.invoke(app, ["models", "promote", "residential", "--note",
                                 "better Brier on 2026 outcomes", "--models", str(folder),
                                 "--home", str(ROOT), "--db", db, "--force", "--reason",
                                 "outcomes of 2026 only"])
    assert result.exit_code == 0, result.output
    registry = load_registry(folder)
    assert registry.models["residential"].model_id == "residential-challenger"
    assert registry.challengers["residential"].model_id == "residential-2026.11"
    for card in ("residential.md", "residential-challenger.md"):
        text = (folder / card).read_text(encoding="utf-8")
        assert "## Champion/challenger history" in text
        assert ("residential-challenger (sha256 " in text
                and "replaced residential-2026.11" in text
                and "forced: outcomes of 2026 only" in text
                and "better Brier on 2026 outcomes" in text)
    again = runner.invoke(app, ["models", "promote", "enterprise", "--models", str(folder),
                                "--home", str(ROOT), "--db", db])
    assert again.exit_code == 2
    assert "segment 'enterprise' names no challenger to promote" in again.output


def test_a_decision_with_a_challenger_replays_from_the_archive(engines, tmp_path):
    from engine.audit.archive import Archive
    from engine.audit.log import open_log
    from engine.governance.replay import record_of, replay

    with_challenger, _ = engines
    frame = synth.generate(40, seed=9).drop(columns=["default_12m"])
    decisions, _ = with_challenger.decide_many(frame)
    shadowed = next(d for d in decisions if d.challenger is not None)
    logged = with_challenger.decide(record_of(shadowed))
    with open_log(str(tmp_path / "log.sqlite")) as log:
        Archive(log.engine).keep(with_challenger)
        log.append(logged)
        result = replay(log, logged.decision_id)
    assert result.reproduced, result.report()
    assert result.replayed.challenger == logged.challenger
