"""rules check covers everything that decides or explains: event rules, catalogue, templates."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from engine.cli import app
from engine.errors import ConfigErrors, TableSetError
from engine.events.rules import load_event_rules
from engine.explanation import Explainer
from engine.policies import load_catalogue
from engine.rulecheck import check_templates, sample_decisions
from engine.tables import load_table_set

ROOT = Path(__file__).resolve().parents[1]
runner = CliRunner()


@pytest.fixture
def home(home, monkeypatch):
    """The suite's project copy, made the current home."""
    monkeypatch.setenv("GRIDCREDIT_HOME", str(home))
    return home


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, old
    path.write_text(text.replace(old, new, 1))


def check() -> tuple[int, list[str]]:
    result = runner.invoke(app, ["rules", "check", "--no-examples"])
    return result.exit_code, [line for line in result.output.splitlines()
                              if ": " in line and not line.startswith(("table set", "  "))
                              and "finding(s)" not in line]


def test_event_rule_typos_are_all_reported_with_did_you_mean(home):
    events = home / "rules" / "events.yaml"
    edit(events, "reads: repayment", "reads: repaymnet")
    edit(events, "overdue_in_window: {ge: 3}", "overdue_in_window: {gte: 3}")
    edit(events, "outcomes: [theft_override]", "outcomes: [theft_overide]")
    code, lines = check()
    assert code == 2
    assert lines == [
        f"{events}:26: event rules: rule 'overdue-rebate': reads: 'repaymnet' is not a fact "
        "kind: use one of repayment, overdue_history, theft_finding, agreement_broken (did you "
        "mean 'repayment'?)",
        f"{events}:40: event rules: rule 'habitual-defaulter': 'overdue_in_window': unknown "
        "operator 'gte' (use one of eq, ne, lt, le, gt, ge, in, not_in) (did you mean 'ge'?)",
        f"{events}:49: event rules: rule 'theft-override': unknown outcome 'theft_overide': "
        "use one of rebate_earned, credit_improvement, habitual_defaulter, theft_override, "
        "agreement_regrade (did you mean 'theft_override'?)",
    ]
    with pytest.raises(ConfigErrors) as caught:
        load_event_rules(events)
    assert len(caught.value.errors) == 3


def test_misspelled_template_param_is_refused_at_its_line(home):
    template = home / "policies" / "templates" / "emergency_response_plan.md.j2"
    template.write_text("A joint plan.\nDrills every {{ params.drill_interval_month }} months.")
    code, lines = check()
    assert code == 1
    assert lines == [
        f"{template}:2: emergency_response_plan: names param 'drill_interval_month', which "
        "policy 'emergency_response_plan' does not have (its params: drill_interval_months) "
        "(did you mean 'drill_interval_months'?)"]


def test_template_syntax_error_is_refused_at_its_line(home):
    template = home / "policies" / "templates" / "decision.md.j2"
    edit(template, "{% for p in policies %}", "{% for p in policies %")
    code, lines = check()
    assert code == 1
    assert len(lines) == 1 and lines[0].startswith(f"{template}:")
    assert "decision.md.j2: does not compile:" in lines[0]


def test_template_failing_to_render_is_refused_at_its_line(home):
    template = home / "policies" / "templates" / "decision.html.j2"
    edit(template, "{{ e.reason }}", "{{ e.reasons }}")
    line = next(i for i, t in enumerate(template.read_text().splitlines(), 1)
                if "e.reasons" in t)
    code, lines = check()
    assert code == 1
    assert lines == [f"{template}:{line}: html explanation: explanation template failed: "
                     "'dict object' has no attribute 'reasons'"]


def test_samples_exercise_every_policy_param_value_and_event_kind():
    catalogue = load_catalogue(ROOT / "policies" / "catalogue.yaml")
    samples = sample_decisions(catalogue)
    given = {(p.policy_id, k, repr(v)) for d in samples for p in d.policies
             for k, v in p.params.items()}
    for policy in catalogue:
        for name, spec in policy.params.items():
            assert (policy.id, name, repr(spec.default)) in given
            if spec.type == "bool":
                assert {(policy.id, name, "True"), (policy.id, name, "False")} <= given
    assert {e.kind for d in samples for e in d.events} >= {"theft_override", "rebate_earned"}
    assert {d.grade.override for d in samples} == {None, "sample-override"}
    explainer = Explainer(ROOT / "policies" / "templates", catalogue)
    assert check_templates(explainer, catalogue) == []


def test_unused_catalogue_policy_is_a_finding(home):
    rules = home / "rules" / "service-policies.yaml"
    edit(rules, "      - policy: personalised_service\n", "      - policy: fast_response_service\n")
    code, lines = check()
    assert code == 1
    assert len(lines) == 1
    assert lines[0].endswith("personalised_service: no rule grants this policy: add a rule "
                             "that gives it or remove it from the catalogue")


def test_missing_grade_band_is_the_first_finding(home):
    grades = home / "rules" / "grades.yaml"
    text = grades.read_text()
    start, end = text.index("  - id: band-b"), text.index("  - id: band-c")
    grades.write_text(text[:start] + text[end:])
    result = runner.invoke(app, ["rules", "check"])
    assert result.exit_code == 1
    findings = [line for line in result.output.splitlines() if str(grades) in line
                and not line.startswith("  ")]
    assert findings[0].endswith("grades: the master scale has no band for pd in [0.06, 0.15) "
                                "between rule 'band-a' and rule 'band-c': add a band rule for "
                                "it or move the edges")


def test_every_error_of_a_rule_is_reported(home):
    rules = home / "rules" / "service-policies.yaml"
    edit(rules, "when: {rebate_earned: true}", "when: {rebate_earned: true, monthly_kwh: {gtt: 5}}")
    with pytest.raises(TableSetError) as caught:
        load_table_set(home / "rules", load_catalogue(home / "policies" / "catalogue.yaml"))
    messages = [e.reason for e in caught.value.errors]
    assert messages == [
        "field 'monthly_kwh' is not among the table's inputs: add it to 'inputs:'",
        "'monthly_kwh': unknown operator 'gtt' (use one of eq, ne, lt, le, gt, ge, in, not_in)"]
    assert {e.rule_id for e in caught.value.errors} == {"prompt-repayment-rebate"}


@pytest.mark.parametrize(("path", "old", "new"), [
    ("policies/templates/priority_repair_channel.md.j2", "priority line", "priority phone line"),
    ("policies/templates/decision.txt.j2", "Principal reasons", "Main reasons"),
    ("policies/locale/zh_CN/LC_MESSAGES/gridcredit.po", "主要原因", "首要原因"),
    ("rules/events.yaml", "lasts_days: 730", "lasts_days: 731"),
    ("policies/catalogue.yaml", "combine: max, description: Inspection",
     "combine: first, description: Inspection"),
    ("rules/grades.yaml", "lt: 0.015", "lt: 0.016"),
])
def test_content_hash_covers_tables_catalogue_templates_and_event_rules(home, path, old, new):
    def content_hash() -> str:
        cat = load_catalogue(home / "policies" / "catalogue.yaml")
        return load_table_set(home / "rules", cat).content_hash

    before = content_hash()
    edit(home / path, old, new)
    assert content_hash() != before
