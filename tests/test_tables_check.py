"""Static checks and the rules commands: findings, exit codes, and every table's examples."""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from engine.cli import app
from engine.policies import load_catalogue
from engine.tables import check_table_set, load_table_set, run_examples

ROOT = Path(__file__).resolve().parents[1]
CATALOGUE = load_catalogue(ROOT / "policies" / "catalogue.yaml")
SHIPPED = load_table_set(ROOT / "rules", CATALOGUE)
runner = CliRunner()

BANDS = """\
table: grades
version: "1"
hit_policy: {hit}
inputs: [pd, overdue_amount]
outputs: [grade]
rules:
  - id: low
    description: Low PD.
    when: {{pd: {{lt: 0.1}}}}
    then: {{grade: A}}
  - id: mid
    description: Middle PD.
    when: {{pd: {{ge: {mid}, lt: 0.5}}}}
    then: {{grade: B}}
  - id: high
    description: High PD.
    when: {{pd: {{ge: 0.5}}}}
    then: {{grade: C}}
  - id: never
    description: Contradictory conditions.
    when: {{pd: {{lt: 0.1, gt: 0.2}}}}
    then: {{grade: C}}
"""


def load(tmp_path, text: str):
    (tmp_path / "t.yaml").write_text(text)
    return load_table_set(tmp_path, CATALOGUE)


@pytest.mark.parametrize("table", [t.name for t in SHIPPED.tables])
def test_every_shipped_example_passes_in_both_executors(table):
    t = SHIPPED.table(table)
    assert t.examples, f"table {table} carries no examples"
    assert [f for f in run_examples(SHIPPED) if f.subject.startswith(table + " ")] == []


def test_shipped_tables_have_no_findings():
    assert check_table_set(SHIPPED, examples=False) == []


def test_gap_names_the_uncovered_band(tmp_path):
    findings = check_table_set(load(tmp_path, BANDS.format(hit="first", mid=0.2)))
    gap = [f for f in findings if f.kind == "gap"]
    assert len(gap) == 1
    assert str(gap[0]).endswith("grades: no rule sets grade for pd = 0.1; pd in (0.1, 0.2)")
    assert str(gap[0]).startswith(f"{tmp_path / 't.yaml'}:1: ")


def test_unreachable_rule(tmp_path):
    findings = check_table_set(load(tmp_path, BANDS.format(hit="first", mid=0.1)))
    assert [(f.subject, f.kind, f.line) for f in findings] == [("never", "unreachable", 19)]


def test_overlap_under_unique(tmp_path):
    findings = check_table_set(load(tmp_path, BANDS.format(hit="unique", mid=0.05)))
    overlap = [f for f in findings if f.kind == "overlap"]
    assert len(overlap) == 1
    assert overlap[0].subject == "mid"
    assert "overlaps rule 'low'" in overlap[0].message and "pd = 0.05" in overlap[0].message


def test_shadowed_rule_under_first(tmp_path):
    text = BANDS.format(hit="first", mid=0.1).replace("{pd: {lt: 0.1, gt: 0.2}}",
                                                      "{pd: {ge: 0.6}}")
    findings = check_table_set(load(tmp_path, text))
    assert [(f.subject, f.kind) for f in findings] == [("never", "shadowed")]
    assert "taken first by 'high'" in findings[0].message


def test_conflicting_policies_are_found(tmp_path):
    text = """\
table: bad-collection
version: "1"
hit_policy: collect
inputs: [overdue_amount, critical_load]
outputs: [policy]
rules:
  - id: protect
    description: Critical loads are protected.
    when: {critical_load: true}
    then: [{policy: protected_supply}]
  - id: warn
    description: Overdue customers are warned (forgets critical loads).
    when: {overdue_amount: {gt: 0}}
    then: [{policy: supply_cut_warning}]
"""
    findings = check_table_set(load(tmp_path, text))
    assert [(f.subject, f.kind) for f in findings] == [("warn", "conflict")]
    assert "'protected_supply' and 'supply_cut_warning'" in findings[0].message
    assert "critical_load = true" in findings[0].message


CLASH = """\
table: repair
version: "1"
hit_policy: collect
inputs: [customer_class, critical_load]
outputs: [policy]
rules:
  - id: valuable
    description: Public customers get the repair channel.
    when: {customer_class: public}
    then: [{policy: priority_repair_channel}]
  - id: critical
    description: Critical loads get a faster repair and an inspection.
    when: {critical_load: true}
    then:
      - policy: priority_repair_channel
        params: {response_target_hours: 1.0}
      - policy: on_site_inspection
        params: {collect_fees: false}
  - id: inspect
    description: Public customers are inspected and pay fees on site.
    when: {customer_class: public}
    then: [{policy: on_site_inspection}]
"""


def test_undeclared_clash_of_two_granting_rules_is_found(tmp_path):
    findings = check_table_set(load(tmp_path, CLASH))
    assert [(f.subject, f.kind, f.line) for f in findings] == [("inspect", "clash", 22)]
    message = findings[0].message
    assert "grants policy 'on_site_inspection' with other params than rule 'critical'" in message
    assert "collect_fees False vs True" in message
    assert "customer_class = public, critical_load = true" in message
    assert "declare how they combine (combine: min, max or first on 'collect_fees'" in message


def test_declared_clash_combines_and_cites_every_granting_rule(tmp_path):
    ts = load(tmp_path, CLASH)
    facts = {"customer_class": "public", "critical_load": True}
    result = ts.decide(facts)
    repair = next(p for p in result.policies if p.policy_id == "priority_repair_channel")
    assert repair.params == {"response_target_hours": 1.0}
    assert repair.rule_id == "valuable"
    assert [(g.rule_id, g.line, dict(g.params)) for g in repair.grants] == [
        ("valuable", 10, {"response_target_hours": 2.0}),
        ("critical", 15, {"response_target_hours": 1.0})]
    inspection = next(p for p in result.policies if p.policy_id == "on_site_inspection")
    assert inspection.params["collect_fees"] is False  # undeclared: the first grant wins
    frame = ts.decide_frame(pd.DataFrame([facts], dtype=object))
    assert ts.row_result(frame, 0) == result
    alone = ts.decide({"customer_class": "public", "critical_load": False})
    assert all(p.grants == () for p in alone.policies)


def test_failing_example_is_a_finding(tmp_path):
    text = BANDS.format(hit="first", mid=0.1).replace("  - id: never", """\
examples:
  - given: {pd: 0.3}
    expect: {grade: C}
rules_unused:
  - id: never""")
    text = text.split("rules_unused:")[0]
    findings = check_table_set(load(tmp_path, text))
    assert [f.kind for f in findings] == ["example"]
    assert "grade = 'B', expected 'C'" in findings[0].message


def test_cli_check_clean_exit_0():
    result = runner.invoke(app, ["rules", "check", str(ROOT / "rules"), "--catalogue",
                                 str(ROOT / "policies" / "catalogue.yaml")])
    assert result.exit_code == 0, result.output
    assert f"table set 2026.12.0 sha256:{SHIPPED.content_hash}" in result.output
    assert result.output.rstrip().endswith("examples passed, no findings")


def test_cli_check_findings_exit_1(tmp_path):
    (tmp_path / "t.yaml").write_text(BANDS.format(hit="first", mid=0.2))
    result = runner.invoke(app, ["rules", "check", str(tmp_path), "--catalogue",
                                 str(ROOT / "policies" / "catalogue.yaml")])
    assert result.exit_code == 1
    assert f"{tmp_path / 't.yaml'}:19: never: can never fire" in result.output


def test_cli_check_load_error_exit_2(tmp_path):
    shutil.copy(ROOT / "tests" / "data" / "tables" / "tab-indented.yaml", tmp_path / "t.yaml")
    result = runner.invoke(app, ["rules", "check", str(tmp_path), "--catalogue",
                                 str(ROOT / "policies" / "catalogue.yaml")])
    assert result.exit_code == 2
    assert "Traceback" not in result.output
    assert f"error: {tmp_path / 't.yaml'}:7: YAML syntax error" in result.output


def test_cli_schema_prints_json():
    import json

    result = runner.invoke(app, ["rules", "schema", "--catalogue",
                                 str(ROOT / "policies" / "catalogue.yaml")])
    assert result.exit_code == 0
    schema = json.loads(result.output)
    assert "protected_supply" in json.dumps(schema)
    assert schema["$defs"]["rule"]["required"] == ["id", "description", "then"]
