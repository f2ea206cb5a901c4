"""The collection tables: shipped strategies, the law's minimums, refusals at file:line."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from engine.cli import app
from engine.collections.protections import load_protections
from engine.collections.strategy import LEGAL_NOTICE_DAYS, classes_of, load_strategies, notice_days
from engine.errors import ConfigErrors
from engine.policies import load_catalogue

ROOT = Path(__file__).resolve().parents[1]
CATALOGUE = load_catalogue(ROOT / "policies" / "catalogue.yaml")
SHIPPED = load_strategies(ROOT / "rules" / "collections.yaml", CATALOGUE)
runner = CliRunner()

STRATEGY = """\
collections: strategies
version: "1"
strategies:
  - id: only
    description: The one strategy.
    when: {when}
    steps:
      - {{action: default_liability_notice, after_days: 5, channel: letter, policy: {notice}}}
      - {{action: supply_cut_warning, after_days: {warning}, channel: letter,
          policy: supply_cut_warning}}
      - {{action: supply_cut_order, after_days: {order}, channel: visit,
          policy: supply_cut_warning}}
{fallback}examples:
  - given: {{customer_class: commercial, grade: B}}
    expect: {{strategy: {expect}}}
"""
FALLBACK = """\
  - id: rest
    description: Everyone else.
    steps:
      - {action: reminder, after_days: 3, channel: sms, policy: late_payment_penalty}
"""


def write(tmp_path: Path, **kw) -> Path:
    values = {"when": "{customer_class: commercial}", "notice": "default_liability_notice",
              "warning": 31, "order": 34, "fallback": FALLBACK, "expect": "only", **kw}
    path = tmp_path / "collections.yaml"
    path.write_text(STRATEGY.format(**values))
    return path


def refusal(tmp_path: Path, **kw) -> str:
    with pytest.raises(ConfigErrors) as caught:
        load_strategies(write(tmp_path, **kw), CATALOGUE)
    return caught.value.message


def test_shipped_strategies_follow_the_paper_and_the_practice():
    first = {s.id: [st.action for st in s.steps] for s in SHIPPED.strategies}
    for sid in ("high-value-account-manager", "top-grade-account-manager", "important-user"):
        assert first[sid][0] == "account_manager_call"
        assert first[sid].index("account_manager_call") < first[sid].index(
            "default_liability_notice")
    assert "on_site_collection" in first["habitual-defaulter-on-site"]
    days = {s.id: {st.action: st.after_days for st in s.steps} for s in SHIPPED.strategies}
    c, home = days["grade-c-short"], days["household-standard"]
    assert c["supply_cut_warning"] < home["supply_cut_warning"]
    assert c["supply_cut_order"] - c["supply_cut_warning"] == LEGAL_NOTICE_DAYS["residential"]


@pytest.mark.parametrize(("profile", "expected"), [
    ({"customer_class": "residential", "grade": "AAA", "value_tier": "standard"},
     "top-grade-account-manager"),
    ({"customer_class": "commercial", "grade": "B", "value_tier": "high"},
     "high-value-account-manager"),
    ({"customer_class": "public", "grade": "C", "critical_load": True}, "important-user"),
    ({"customer_class": "residential", "grade": "B", "habitual_defaulter": True},
     "habitual-defaulter-on-site"),
    ({"customer_class": "industrial", "grade": "C"}, "grade-c-short"),
    ({"customer_class": "residential", "grade": "A"}, "household-standard"),
    ({"customer_class": "industrial", "grade": "A"}, "standard"),
])
def test_the_first_matching_strategy_is_chosen(profile, expected):
    assert SHIPPED.choose(profile).id == expected


def test_a_cut_inside_the_notice_period_is_refused_at_its_line(tmp_path):
    path = tmp_path / "collections.yaml"
    message = refusal(tmp_path, when="{customer_class: [residential, commercial]}", order=35)
    assert message == (
        f"{path}:11: strategy 'only': supply_cut_order 4 days after the supply_cut_warning "
        "(line 9), but a residential customer must have at least 7 days' notice: set "
        "after_days to at least 38")


def test_others_need_three_days_and_a_residential_fallback_seven(tmp_path):
    assert load_strategies(write(tmp_path), CATALOGUE).choose(
        {"customer_class": "commercial"}).id == "only"
    assert "must have at least 3 days' notice" in refusal(tmp_path, order=33)
    assert "residential customer must have at least 7" in refusal(tmp_path, when="null",
                                                                   fallback="", order=34)


def test_a_cut_order_needs_a_warning_more_than_30_days_overdue_and_a_notice_first(tmp_path):
    assert "supply may be cut only on a bill overdue more than 30 days" in refusal(
        tmp_path, warning=20, order=30)
    text = STRATEGY.replace("action: default_liability_notice", "action: reminder")
    (tmp_path / "collections.yaml").write_text(text.format(
        when="{customer_class: commercial}", notice="late_payment_penalty", warning=31,
        order=34, fallback=FALLBACK, expect="only"))
    with pytest.raises(ConfigErrors, match=r"collections.yaml:9: .*needs an earlier "
                                           r"default_liability_notice"):
        load_strategies(tmp_path / "collections.yaml", CATALOGUE)


def test_a_step_reading_a_policy_missing_from_the_catalogue_is_refused(tmp_path):
    message = refusal(tmp_path, notice="default_liability_notise")
    assert message.startswith(f"{tmp_path / 'collections.yaml'}:8: strategy 'only': step "
                              "'default_liability_notice' reads policy "
                              "'default_liability_notise', which the catalogue")
    assert message.endswith("(did you mean 'default_liability_notice'?)")


def test_a_failing_example_and_a_missing_fallback_are_refused(tmp_path):
    assert "example expects strategy 'rest' but 'only' is chosen" in refusal(tmp_path,
                                                                             expect="rest")
    assert "the last strategy must have no 'when'" in refusal(tmp_path, fallback="")


def test_notice_days_never_go_below_the_law():
    assert notice_days("residential", {"notice_days": 3}) == 7
    assert notice_days("commercial", {"notice_days": 3}) == 3
    assert notice_days("commercial", {"notice_days": 10}) == 10
    only = next(s for s in SHIPPED.strategies if s.id == "household-standard")
    assert classes_of(only) == ("residential",)


def test_rules_check_reports_a_broken_strategy_with_file_and_line(tmp_path):
    rules = tmp_path / "rules"
    shutil.copytree(ROOT / "rules", rules)
    text = (rules / "collections.yaml").read_text()
    (rules / "collections.yaml").write_text(text.replace(
        "{action: supply_cut_order, after_days: 40, channel: visit",
        "{action: supply_cut_order, after_days: 33, channel: visit"))
    result = runner.invoke(app, ["rules", "check", str(rules), "--catalogue",
                                 str(ROOT / "policies" / "catalogue.yaml")])
    assert result.exit_code == 1, result.output
    assert (f"{rules / 'collections.yaml'}:86: collections: strategy 'household-standard': "
            "supply_cut_order 3 days after the supply_cut_warning (line 85), but a residential "
            "customer must have at least 7 days' notice") in result.output


def test_protections_table_names_kinds_and_refuses_unknown_actions(tmp_path):
    shipped = load_protections(ROOT / "rules" / "protections.yaml")
    assert set(shipped.kinds) == {"medical_certificate", "life_support", "critical_load",
                                  "dispute", "vulnerable", "weather_hold"}
    assert shipped.kinds["medical_certificate"].lasts_days == 30
    assert shipped.kinds["critical_load"].from_record == "critical_load"
    assert "reminder" not in shipped.kinds["dispute"].blocks
    bad = tmp_path / "protections.yaml"
    bad.write_text("protections: kinds\nkinds:\n  storm:\n    lasts_days: 2\n"
                   "    blocks: [supply_cut_ordr]\n")
    with pytest.raises(ConfigErrors, match=r"protections.yaml:5: protection 'storm': cannot "
                                           r"block 'supply_cut_ordr'.*did you mean "
                                           r"'supply_cut_order'"):
        load_protections(bad)
