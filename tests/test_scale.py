"""One master scale: the loaded grade table draws the bands every consumer uses.

The project is copied to a scratch folder, its grade table renamed to
``credit-grades.yaml`` and the AAA/AA edge moved from 1.5 % to 2 %: decisions,
the batch band column, the report, training governance, evaluation,
sensitivity and impact must all follow the moved edge.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from engine import synth
from engine.batch.decide import decide_frame
from engine.batch.impact import compare
from engine.cli import app
from engine.decider import load
from engine.errors import TableError
from engine.scale import Band
from engine.tables import load_table_set
from tests.factories import project_copy

ROOT = Path(__file__).resolve().parent.parent
GERMAN = ROOT / "tests" / "data" / "germancredit.csv"
MOVED = (0.0, 0.02, 0.03, 0.06, 0.15)
runner = CliRunner()


def _project(folder: Path) -> Path:
    return project_copy(folder)


def _edit_grades(home: Path, *pairs: tuple[str, str]) -> Path:
    """Apply text replacements to the project's grade table; return its path."""
    path = next(p for p in (home / "rules").glob("*grades.yaml"))
    text = path.read_text()
    for old, new in pairs:
        assert old in text, old
        text = text.replace(old, new)
    path.write_text(text)
    return path


@pytest.fixture(scope="module")
def home(tmp_path_factory) -> Path:
    """The project with its grade table renamed and the AAA/AA edge moved to 2 %."""
    root = _project(tmp_path_factory.mktemp("moved"))
    (root / "rules" / "grades.yaml").rename(root / "rules" / "credit-grades.yaml")
    _edit_grades(root, ("pd: {lt: 0.015}", "pd: {lt: 0.02}"),
                 ("pd: {ge: 0.015, lt: 0.03}", "pd: {ge: 0.02, lt: 0.03}"))
    return root


@pytest.fixture(scope="module")
def moved(home):
    return load(home)


@pytest.fixture(scope="module")
def population() -> pd.DataFrame:
    return synth.generate(3_000, seed=12).drop(columns=["default_12m"])


@pytest.fixture(scope="module")
def decided(moved, population) -> pd.DataFrame:
    decisions, rejects = decide_frame(moved, population)
    assert len(decisions) + len(rejects) == len(population)
    return decisions


def _between(pd_values, lo=0.015, hi=0.02) -> np.ndarray:
    values = np.asarray(pd_values, dtype=float)
    return (values >= lo) & (values < hi)


def test_the_scale_is_the_loaded_grade_table(moved, home):
    assert [b.lo for b in moved.bands] == list(MOVED)
    assert moved.bands == (Band("AAA", 0.0, 0.02), Band("AA", 0.02, 0.03), Band("A", 0.03, 0.06),
                           Band("B", 0.06, 0.15), Band("C", 0.15, 1.0))
    assert {b.file for b in moved.bands} == {str(home / "rules" / "credit-grades.yaml")}
    assert [b.rule_id for b in moved.bands] == ["band-aaa", "band-aa", "band-a", "band-b",
                                                "band-c"]
    assert moved.band_rules == {("grades", b.rule_id) for b in moved.bands}


def test_batch_band_column_equals_the_tables_band(decided):
    banded = decided["override"].isna().to_numpy()
    assert banded.sum() > 1_000
    assert (decided["band_grade"].astype(str).to_numpy()[banded]
            == decided["grade"].astype(str).to_numpy()[banded]).all()
    moved_rows = _between(decided["pd"])
    assert moved_rows.sum() > 0
    assert set(decided["band_grade"].astype(str)[moved_rows]) == {"AAA"}


def test_each_decision_bands_on_the_table_edges(moved, population, decided):
    rows = decided.index[_between(decided["pd"]) & decided["override"].isna().to_numpy()][:5]
    assert len(rows) > 0
    for record in population.loc[rows].to_dict(orient="records"):
        record = {k: v.item() if hasattr(v, "item") else v for k, v in record.items()
                  if not pd.isna(v)}
        decision = moved.decide(record)
        assert decision.grade.band_grade == decision.grade.grade == "AAA"
        assert decision.grade.file == "rules/credit-grades.yaml"


def test_the_report_draws_the_table_edges(home, decided, tmp_path, monkeypatch):
    from engine.report import charts

    drawn: list[list[float]] = []
    original = charts.pd_histogram_chart

    def spy(pd_values, classes, band_edges=(), **options):
        drawn.append(list(band_edges))
        return original(pd_values, classes, band_edges, **options)

    monkeypatch.setattr(charts, "pd_histogram_chart", spy)
    decisions = tmp_path / "decisions.parquet"
    decided.to_parquet(decisions)
    result = runner.invoke(app, ["report", "--home", str(home), "--decisions", str(decisions),
                                 "--out", str(tmp_path / "report.html")])
    assert result.exit_code == 0, result.output
    assert drawn == [list(MOVED[1:])]


def test_training_governance_bands_on_the_table_edges(home, tmp_path):
    result = runner.invoke(app, [
        "train", "--home", str(home), "--data", str(GERMAN), "--target", "creditability",
        "--bad", "bad", "--spec", str(ROOT / "tests/data/germancredit-indicators.yaml"),
        "--folds", "2", "--no-governance", "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    doc = json.loads((tmp_path / "germancredit.json").read_text())
    assert [b["pd_from"] for b in doc["bands"]] == list(MOVED)
    assert doc["bands"][0]["pd_to"] == 0.02


def test_evaluate_bands_on_the_table_edges(home):
    result = runner.invoke(app, ["evaluate", "--home", str(home), "--n", "2000"])
    assert result.exit_code == 0, result.output
    assert "| AAA | 0.0000 | 0.0200 |" in result.output
    assert "| AA | 0.0200 | 0.0300 |" in result.output


def test_sensitivity_grades_on_the_table_edges(home, tmp_path):
    result = runner.invoke(app, ["sensitivity", "--home", str(home), "--n", "1500",
                                 "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    detail = pd.read_parquet(tmp_path / "sensitivity-customers.parquet")
    moved_rows = _between(detail["pd_before"])
    assert moved_rows.sum() > 0
    assert set(detail.loc[moved_rows, "grade_before"]) == {"AAA"}


def test_impact_of_moving_the_edge_back(engine, moved, population):
    impact = compare(engine, moved.tables, engine.tables, population)
    before, _ = decide_frame(moved, population)
    after, _ = decide_frame(engine, population)
    changed = before["grade"].astype(str).to_numpy() != after["grade"].astype(str).to_numpy()
    assert impact.grade_changed == changed.sum() > 0
    assert impact.downgraded == impact.grade_changed
    assert impact.transitions.loc["AAA", "AA"] == changed.sum()


# --------------------------------------------------------------------------- refusals

BROKEN = [
    ("gap", ("pd: {ge: 0.02, lt: 0.03}", "pd: {ge: 0.025, lt: 0.03}"), "band-aa",
     r"band AA \[0.025, 0.03\) leaves a gap after band AAA \[0, 0.02\)"),
    ("overlap", ("pd: {ge: 0.02, lt: 0.03}", "pd: {ge: 0.01, lt: 0.03}"), "band-aa",
     r"band AA \[0.01, 0.03\) leaves an overlap after band AAA"),
    ("short", ("when: {pd: {ge: 0.15}}", "when: {pd: {ge: 0.15, lt: 0.9}}"), "band-c",
     r"the worst band ends at pd 0.9: PDs from there to 1 reach no grade"),
    ("late start", ("when: {pd: {lt: 0.02}}", "when: {pd: {ge: 0.001, lt: 0.02}}"), "band-aaa",
     r"the best band starts at pd 0.001"),
    ("closed above", ("when: {pd: {ge: 0.02, lt: 0.03}}", "when: {pd: {ge: 0.02, le: 0.03}}"),
     "band-aa", r"pd le 0.03: a PD band is written when: \{pd: \{ge: LO, lt: HI\}\}"),
]


def _rule_line(path: Path, rule_id: str) -> int:
    lines = path.read_text().splitlines()
    return next(i for i, line in enumerate(lines, 1) if line.strip() == f"- id: {rule_id}")


@pytest.mark.parametrize(("what", "edit", "rule", "message"), BROKEN, ids=[b[0] for b in BROKEN])
def test_a_broken_scale_is_refused_at_its_rule(home, tmp_path, what, edit, rule, message):
    broken = _project(tmp_path)
    shutil.copy(home / "rules" / "credit-grades.yaml", broken / "rules" / "credit-grades.yaml")
    (broken / "rules" / "grades.yaml").unlink()
    path = _edit_grades(broken, edit)
    line = _rule_line(path, rule)
    if what == "closed above":  # an operator is refused at the line of its condition
        line = next(i for i, text in enumerate(path.read_text().splitlines(), 1)
                    if edit[1] in text)
    where = f"{path}:{line}"
    with pytest.raises(TableError, match=rf"^{where}: rule '{rule}': {message}"):
        load(broken)
    result = runner.invoke(app, ["decide", "--home", str(broken),
                                 str(ROOT / "tests" / "data" / "missing.json")])
    assert result.exit_code == 2
    assert result.output.startswith(f"error: {where}: rule '{rule}': ")


def test_a_grade_table_without_band_rules_is_refused(tmp_path):
    broken = _project(tmp_path)
    path = broken / "rules" / "grades.yaml"
    text = path.read_text().split("  - id: band-aaa")[0]
    path.write_text(text + "  - id: everyone-else\n    description: All others.\n"
                    "    when: {months_connected: {ge: 0}}\n    then: {grade: B}\n")
    with pytest.raises(TableError, match=rf"^{path}:8: table 'grades' has no PD band rules"):
        load(broken)
    result = runner.invoke(app, ["evaluate", "--home", str(broken), "--n", "200"])
    assert result.exit_code == 2
    assert f"error: {path}:8: table 'grades' has no PD band rules" in result.output


def test_a_table_set_without_a_grade_table_has_no_scale(tmp_path, engine):
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "size.yaml").write_text(
        'table: size\nversion: "1"\nhit_policy: first\ninputs: [monthly_kwh]\n'
        "outputs: [consumption_class]\nrules:\n"
        "  - {id: large, description: Large., when: {monthly_kwh: {ge: 5000}}, "
        "then: {consumption_class: large}}\n"
        "  - {id: small, description: Small., when: {monthly_kwh: {lt: 5000}}, "
        "then: {consumption_class: small}}\n")
    tables = load_table_set(rules, engine.catalogue)
    with pytest.raises(TableError, match=rf"^{rules}: no table sets 'grade', so there is no "
                                         "master scale"):
        tables.scale  # noqa: B018
    with pytest.raises(TableError, match="no table sets 'grade'"):
        engine.with_tables(tables)
    with pytest.raises(TableError, match="no table sets 'grade'"):
        compare(engine, engine.tables, tables, synth.generate(10, seed=1))
