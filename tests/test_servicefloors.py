"""The service-gap guard: floors every customer keeps, and the gap between grades (paper 3.2).

A table change that drops the C grade's repair below the floor is refused by
``rules check`` at its file:line; a change that widens the repair-hours gap
between the best and the worst grade beyond its threshold is a finding of
``rules impact``, counted as deciding with each set does; a broken floor
declaration is refused at its line.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from engine import synth
from engine.batch.impact import compare
from engine.cli import app
from engine.config import default_home
from engine.errors import ConfigError
from engine.floors import load_floors
from engine.policies import load_catalogue
from engine.rulecheck import check_floors, grade_levels, service_spread
from engine.tables import load_table_set

runner = CliRunner()
RULES = default_home() / "rules"
CATALOGUE = default_home() / "policies" / "catalogue.yaml"
SAFEGUARDS = "    when: {grade: C}\n    then:\n      - policy: security_deposit\n"


def _c_grade_slow_repair(folder: Path) -> tuple[Path, int]:
    """The shipped rules with grade C granted the priority channel at 12 hours."""
    shutil.copytree(RULES, folder)
    path = folder / "service-policies.yaml"
    text = path.read_text()
    assert SAFEGUARDS in text
    grant = "      - policy: priority_repair_channel\n        params: {response_target_hours: 12}\n"
    text = text.replace(SAFEGUARDS, SAFEGUARDS + grant)
    path.write_text(text)
    line = text[:text.index(grant)].count("\n") + 1
    return folder, line


def _top_grade_fast_repair(folder: Path) -> Path:
    """The shipped rules with a rule giving every AAA customer a half-hour repair target."""
    shutil.copytree(RULES, folder)
    path = folder / "service-policies.yaml"
    rule = ("  - id: top-grade-fast-repair\n"
            "    description: AAA customers get a half-hour repair target.\n"
            "    source: test\n"
            "    when: {grade: AAA}\n"
            "    then:\n"
            "      - policy: priority_repair_channel\n"
            "        params: {response_target_hours: 0.5}\n")
    text = path.read_text().replace("examples:\n", rule + "examples:\n", 1)
    path.write_text(text)
    return folder


def test_rules_check_refuses_a_c_grade_repair_below_the_floor_with_file_and_line(tmp_path):
    folder, line = _c_grade_slow_repair(tmp_path / "rules")
    result = runner.invoke(app, ["rules", "check", str(folder), "--no-examples"])
    assert result.exit_code == 1, result.output
    floor = load_floors(CATALOGUE).by_id["repair_hours"]
    expected = (f"{folder / 'service-policies.yaml'}:{line}: lowest-grade-safeguards: grants "
                "priority_repair_channel with response_target_hours 12 hours to grade C, worse "
                "than the floor 'Repair within the committed hours' (at most 8 hours for every "
                f"customer whatever the grade, {floor.where}): set response_target_hours to at "
                "most 8")
    assert expected in result.output


def test_the_shipped_tables_keep_every_floor_and_no_gap_between_grades(engine):
    floors = load_floors(engine.catalogue.file, engine.catalogue.policies)
    assert {f.id for f in floors} == {"repair_hours", "outage_notice_days",
                                      "complaint_answer_hours"}
    assert check_floors(engine.tables, floors) == []
    result = runner.invoke(app, ["rules", "check", "--no-examples"])
    assert result.exit_code == 0, result.output
    assert ("service spread repair_hours: AAA 8, C 8 hours by the grades' own rules, gap 0 "
            "hours, within the threshold 4") in result.output


def test_the_static_spread_counts_only_rules_that_test_the_grade(engine, tmp_path):
    tables = load_table_set(_top_grade_fast_repair(tmp_path / "rules"), engine.catalogue)
    floors = load_floors(engine.catalogue.file, engine.catalogue.policies)
    levels = grade_levels(tables, floors.by_id["repair_hours"])
    assert levels == {"AAA": 0.5, "AA": 8.0, "A": 8.0, "B": 8.0, "C": 8.0}
    line = next(s for s in service_spread(tables, floors) if "repair_hours" in s)
    assert "AAA 0.5, C 8 hours by the grades' own rules, gap 7.5 hours, beyond the threshold 4" \
        in line


def test_rules_check_names_the_rule_that_widens_the_gap_with_file_and_line(tmp_path):
    folder = _top_grade_fast_repair(tmp_path / "rules")
    text = (folder / "service-policies.yaml").read_text()
    grant = "      - policy: priority_repair_channel\n        params: {response_target_hours: 0.5}"
    line = text[:text.index(grant)].count("\n") + 1
    result = runner.invoke(app, ["rules", "check", str(folder), "--no-examples"])
    floor = load_floors(CATALOGUE).by_id["repair_hours"]
    assert (f"service spread repair_hours: AAA 0.5, C 8 hours by the grades' own rules, gap "
            f"7.5 hours, beyond the threshold 4 ({floor.where}); set for AAA by "
            f"{folder / 'service-policies.yaml'}:{line} rule 'top-grade-fast-repair': bring "
            "the grades' levels closer or raise spread_threshold in the catalogue"
            ) in result.output
    # A gap within the threshold names no rule: it is a level, not a warning.
    plain = runner.invoke(app, ["rules", "check", str(RULES), "--no-examples"])
    spread = next(s for s in plain.output.splitlines() if "service spread repair_hours" in s)
    assert spread.strip().endswith(f"within the threshold 4 ({floor.where})")


def test_rules_check_refuses_a_segment_served_below_the_floor(tmp_path):
    folder = tmp_path / "rules"
    shutil.copytree(RULES, folder)
    path = folder / "service-policies.yaml"
    rule = ("  - id: slow-repair-for-outage-sensitive\n"
            "    description: test\n"
            "    source: test\n"
            "    when: {outage_sensitivity: high}\n"
            "    then:\n"
            "      - policy: priority_repair_channel\n"
            "        params: {response_target_hours: 10}\n")
    text = path.read_text().replace("examples:\n", rule + "examples:\n", 1)
    path.write_text(text)
    line = text[:text.index("      - policy: priority_repair_channel\n        params: "
                            "{response_target_hours: 10}")].count("\n") + 1
    result = runner.invoke(app, ["rules", "check", str(folder), "--no-examples"])
    assert result.exit_code == 1, result.output
    assert (f"{path}:{line}: slow-repair-for-outage-sensitive: grants priority_repair_channel "
            "with response_target_hours 10 hours to every grade in segment outage_sensitivity "
            "eq high, worse than the floor 'Repair within the committed hours'") in result.output


@pytest.fixture(scope="module")
def population() -> pd.DataFrame:
    return synth.generate(2_500, seed=21).drop(columns=["default_12m"])


def _mean_repair_by_grade(decisions) -> pd.Series:
    """Each grade's mean repair level, worked out from the decisions themselves."""
    rows = []
    for d in decisions:
        held = {p.policy_id: p.params for p in d.policies}
        repair = held.get("priority_repair_channel")
        rows.append((d.grade.grade, float(repair["response_target_hours"]) if repair else 8.0))
    frame = pd.DataFrame(rows, columns=["grade", "hours"])
    return frame.groupby("grade")["hours"].mean()


def test_rules_impact_finds_a_repair_gap_widened_beyond_its_threshold(engine, population,
                                                                      tmp_path):
    candidate = load_table_set(_top_grade_fast_repair(tmp_path / "rules"), engine.catalogue)
    impact = compare(engine, engine.tables, candidate, population)
    spreads = impact.service.spreads.set_index("floor")
    decided, _ = engine.with_tables(candidate).decide_many(population)
    by_grade = _mean_repair_by_grade(decided)
    assert spreads.loc["repair_hours", "after"] == pytest.approx(by_grade["C"] - by_grade["AAA"])
    levels = impact.service.levels.set_index(["floor", "grade"])
    assert levels.loc[("repair_hours", "AAA"), "level_after"] == pytest.approx(0.5)
    assert spreads.loc["repair_hours", "after"] > 4 > spreads.loc["repair_hours", "before"]
    found = [f for f in impact.service.findings if f.kind == "spread"]
    assert [f.floor.id for f in found] == ["repair_hours"]
    text = found[0].text()
    assert "the candidate serves grade C" in text and "beyond the spread threshold of 4 hours" \
        in text
    assert "Service gap between the best and the worst grade" in impact.markdown()
    source = tmp_path / "pop.parquet"
    population.to_parquet(source)
    result = runner.invoke(app, ["rules", "impact", "--baseline", str(RULES), "--candidate",
                                 str(tmp_path / "rules"), "--population", str(source),
                                 "--out", str(tmp_path / "impact.html"), "--allow-findings"])
    # the candidate's new rule has no zh-CN text yet: that finding is allowed here
    assert result.exit_code == 0, result.output
    assert "The candidate has 2 rules check findings" in result.output
    assert "finding: " in result.stderr and "floor repair_hours" in result.stderr
    page = (tmp_path / "impact.html").read_text()
    assert 'id="service-findings"' in page and "beyond the spread threshold" in page


def test_an_unchanged_set_has_no_service_finding(engine, population):
    impact = compare(engine, engine.tables, engine.tables, population)
    assert impact.service.findings == ()
    levels = impact.service.levels
    assert (levels["below_after"] == 0).all()
    assert (levels["level_before"] == levels["level_after"]).all()


def test_a_broken_floor_is_refused_at_its_line(tmp_path):
    home = tmp_path / "policies"
    shutil.copytree(CATALOGUE.parent, home)
    path = home / "catalogue.yaml"
    text = path.read_text()
    path.write_text(text.replace("param: response_target_hours}",
                                 "param: response_hours}"))
    catalogue = load_catalogue(path)
    with pytest.raises(ConfigError, match=r"catalogue\.yaml:\d+: floor 'repair_hours': policy "
                       r"'priority_repair_channel' has no param 'response_hours' \(did you "
                       r"mean 'response_target_hours'\?\)"):
        load_floors(path, catalogue.policies)


def test_publish_warns_when_the_grades_own_rules_widen_the_gap(tmp_path):
    home = tmp_path / "project"
    _top_grade_fast_repair(home / "rules")
    shutil.copytree(CATALOGUE.parent, home / "policies")
    (home / "models").symlink_to(default_home() / "models")
    po = home / "policies" / "locale" / "zh_CN" / "LC_MESSAGES" / "gridcredit.po"
    po.write_text(po.read_text() + '\nmsgid "AAA customers get a half-hour repair target."\n'
                  'msgstr "AAA级客户的抢修目标为半小时。"\n\nmsgid "test"\nmsgstr "测试"\n')
    result = runner.invoke(app, ["rules", "publish", "--home", str(home), "--db",
                                 str(tmp_path / "log.sqlite"), "-m", "faster repair for AAA",
                                 "--approved-by", "li", "--publisher", "wang"])
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("published ")
    assert ("warning: service spread repair_hours: AAA 0.5, C 8 hours by the grades' own "
            "rules, gap 7.5 hours, beyond the threshold 4") in result.stderr
