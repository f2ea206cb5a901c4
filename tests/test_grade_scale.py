"""A master scale of any number of bands, with any names, declared in the grade table.

The project's grade table is redrawn with seven bands (``SEVEN_BANDS``):
the tables are checked against those seven grades, so a policy table that
names a grade the scale lacks is refused at its line, and decisions, the
batch summary, the auditor report and the workbench all show the seven.
"""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd
import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from engine import synth
from engine.batch.decide import decide_frame
from engine.cli import app
from engine.decider import load
from engine.errors import TableSetError
from engine.policies import load_catalogue
from engine.scale import band_grades
from engine.tables import load_table_set
from tests.factories import ROOT, SEVEN_BANDS, seven_band_project

GRADES = [g for g, _ in SEVEN_BANDS]
runner = CliRunner()


@pytest.fixture(scope="module")
def home(tmp_path_factory) -> Path:
    return seven_band_project(tmp_path_factory.mktemp("seven") / "home")


@pytest.fixture(scope="module")
def seven(home):
    return load(home)


@pytest.fixture(scope="module")
def population() -> pd.DataFrame:
    return synth.generate(3_000, seed=21).drop(columns=["default_12m"])


@pytest.fixture(scope="module")
def decided(seven, population, tmp_path_factory) -> Path:
    decisions, rejects = decide_frame(seven, population)
    assert len(rejects) == 0
    path = tmp_path_factory.mktemp("decided") / "decisions.parquet"
    decisions.to_parquet(path)
    return path


def test_the_scale_has_the_seven_bands_the_grade_table_declares(seven):
    assert [b.grade for b in seven.bands] == GRADES
    assert [b.lo for b in seven.bands] == [lo for _, lo in SEVEN_BANDS]
    assert band_grades(seven.tables.tables) == tuple(GRADES)


def test_rules_check_passes_the_seven_band_set(home):
    done = runner.invoke(app, ["rules", "check", str(home / "rules"), "--home", str(home)])
    assert done.exit_code == 0, done.output
    assert "no findings" in done.output


def test_a_policy_table_naming_a_grade_the_scale_lacks_is_refused_at_its_line(home, tmp_path):
    rules = tmp_path / "rules"
    rules.mkdir()
    for p in (home / "rules").iterdir():
        (rules / p.name).write_text(p.read_text(encoding="utf-8"), encoding="utf-8")
    path = rules / "service-policies.yaml"
    text = path.read_text(encoding="utf-8")
    first = re.search(r"grade: \[AAA, AA\]", text)
    assert first is not None
    path.write_text(text[:first.start()] + "grade: [AAA, BBX]" + text[first.end():],
                    encoding="utf-8")
    line = text[:first.start()].count("\n") + 1
    with pytest.raises(TableSetError) as caught:
        load_table_set(rules, load_catalogue(home / "policies" / "catalogue.yaml"))
    message = str(caught.value)
    assert (f"{path}:{line}" in message
            and "'BBX' is not a value of 'grade': use one of AAA, AA, A, BBB, BB, B, C"
            in message and "did you mean 'BB'?" in message), message
    done = runner.invoke(app, ["rules", "check", str(rules), "--home", str(home)])
    assert done.exit_code != 0 and f"{path}:{line}" in done.output


def test_the_shipped_scale_still_refuses_a_seven_band_grade(tmp_path):
    folder = tmp_path / "rules"
    folder.mkdir()
    for p in (ROOT / "rules").iterdir():
        (folder / p.name).write_text(p.read_text(encoding="utf-8"), encoding="utf-8")
    path = folder / "service-policies.yaml"
    path.write_text(path.read_text(encoding="utf-8").replace("grade: [AAA, AA]",
                                                             "grade: [AAA, BBB]", 1))
    with pytest.raises(TableSetError, match="'BBB' is not a value of 'grade': use one of "
                                            "AAA, AA, A, B, C"):
        load_table_set(folder, load_catalogue(ROOT / "policies" / "catalogue.yaml"))


def test_decisions_grade_on_all_seven_bands(seven, population, decided):
    frame = pd.read_parquet(decided)
    assert set(frame["band_grade"].astype(str)) == set(GRADES)
    assert set(frame["grade"].astype(str)) == set(GRADES)
    row = frame[frame["band_grade"].astype(str) == "BBB"].iloc[0]
    assert 0.04 <= float(row["pd"]) < 0.06
    record = population[population["customer_id"] == row["customer_id"]].iloc[0]
    plain = {k: (v.item() if hasattr(v, "item") else v) for k, v in record.items()
             if not pd.isna(v)}
    assert seven.decide(plain).grade.band_grade == "BBB"


def test_the_batch_summary_counts_the_seven_grades_best_first(home, population, tmp_path):
    source = tmp_path / "in.parquet"
    population.to_parquet(source)
    done = runner.invoke(app, ["decide", "--home", str(home), "--input", str(source), "--out",
                               str(tmp_path / "d.parquet"), "--no-progress"])
    assert done.exit_code == 0, done.output
    line = next(x for x in done.stdout.splitlines() if x.startswith("grades:"))
    counts = pd.read_parquet(tmp_path / "d.parquet")["grade"].astype(str).value_counts()
    assert line == "grades:   " + ", ".join(f"{g} {counts[g]:,}" for g in GRADES)


def test_the_report_shows_the_seven_grades(home, decided, tmp_path):
    out = tmp_path / "report.html"
    done = runner.invoke(app, ["report", "--home", str(home), "--decisions", str(decided),
                               "--out", str(out)])
    assert done.exit_code == 0, done.output
    html = out.read_text(encoding="utf-8")
    cells = re.findall(r"<td>(AAA|AA|A|BBB|BB|B|C)</td>", html)
    assert list(dict.fromkeys(cells)) == GRADES


def test_the_workbench_shows_the_seven_grades(home, tmp_path):
    from engine.studio.app import create_studio_app
    from engine.studio.workbench import StudioSettings

    client = TestClient(create_studio_app(StudioSettings(home=home, drafts=tmp_path / "drafts",
                                                         populations=(tmp_path,))),
                        base_url="http://127.0.0.1:8765")
    page = client.get("/studio/tables/grades")
    assert page.status_code == 200, page.text
    for grade in GRADES:
        assert f"band-{grade.lower()}" in page.text
        assert f'value="{grade}" data-column="grade"' in page.text, grade


def test_rules_impact_counts_moves_between_seven_grades(engine, seven, population, decided):
    from engine.batch.impact import compare

    impact = compare(engine, engine.tables, seven.tables, population)
    assert list(impact.transitions.index) == ["AAA", "AA", "A", "B", "C", "BBB", "BB"]
    before = decide_frame(engine, population)[0]["grade"].astype(str).to_numpy()
    after = pd.read_parquet(decided)["grade"].astype(str).to_numpy()
    assert impact.transitions.loc["A", "BBB"] == int(((before == "A") & (after == "BBB")).sum())
    assert impact.transitions.loc["A", "BBB"] > 0
    assert impact.grade_changed == int((before != after).sum())
