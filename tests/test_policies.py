"""The policy catalogue: every strategy present, params typed and bounded, templates render."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.errors import ConfigError
from engine.explanation import Explainer
from engine.policies import load_catalogue

ROOT = Path(__file__).resolve().parents[1]
CATALOGUE = load_catalogue(ROOT / "policies" / "catalogue.yaml")
EXPLAINER = Explainer(ROOT / "policies" / "templates", CATALOGUE)
DESIGN_IDS = [
    "dedicated_account_manager", "on_site_service", "pre_outage_negotiation",
    "priority_repair_channel", "emergency_response_plan", "emergency_power_supply",
    "outage_advance_notice", "no_price_concession", "overdue_rebate",
    "default_liability_notice", "late_payment_penalty", "on_site_inspection",
    "follow_up_investigation", "security_deposit", "personalised_service",
    "fast_response_service", "supply_cut_warning",
]


def test_every_strategy_of_the_design_is_in_the_catalogue():
    assert set(DESIGN_IDS) <= set(CATALOGUE.policies)


def test_regulatory_defaults():
    penalty = CATALOGUE["late_payment_penalty"].params
    assert (penalty["daily_rate_current_year"].default, penalty["daily_rate_earlier_years"].default,
            penalty["minimum_charge"].default) == (0.002, 0.003, 1.0)
    notice = CATALOGUE["outage_advance_notice"].params
    assert (notice["planned_lead_days"].default, notice["temporary_lead_hours"].default) == (7, 24)
    assert CATALOGUE["supply_cut_warning"].params["notice_days"].min == 3
    assert CATALOGUE.conflicts() == [("protected_supply", "supply_cut_warning")]


@pytest.mark.parametrize("policy_id", sorted(CATALOGUE.policies))
@pytest.mark.parametrize("lang", ["en", "zh-CN"])
def test_every_template_renders_plain_text_with_defaults(policy_id, lang):
    path = CATALOGUE.template_path(policy_id)
    assert path.name == f"{policy_id}.md.j2"
    text = EXPLAINER.policy_text(policy_id, CATALOGUE[policy_id].defaults(), lang=lang)
    assert (20 if lang == "en" else 10) < len(text) < 400
    assert "<" not in text and "{{" not in text


def test_params_outside_bounds_are_refused():
    spec = CATALOGUE["security_deposit"].params["months_of_average_bill"]
    assert spec.problem(2.0) is None
    assert spec.problem(3) == "3 is above its maximum 2 months"
    assert spec.problem("two") == "must be a number, not 'two'"
    channel = CATALOGUE["outage_advance_notice"].params["channel"]
    assert channel.problem("pigeon") == "must be one of phone, sms, letter, email, not 'pigeon'"


def _catalogue(tmp_path: Path, body: str) -> Path:
    (tmp_path / "templates").mkdir(exist_ok=True)
    (tmp_path / "templates" / "p.md.j2").write_text("A policy.")
    path = tmp_path / "catalogue.yaml"
    path.write_text('version: "1"\npolicies:\n' + body)
    return path


GOOD = """\
  p:
    title: P
    category: service
    description: A policy.
    params:
      days: {type: int, default: 7, min: 1, max: 30}
    conflicts_with: []
    template: templates/p.md.j2
"""


def test_small_catalogue_loads(tmp_path):
    cat = load_catalogue(_catalogue(tmp_path, GOOD))
    assert cat["p"].defaults() == {"days": 7}
    assert cat.merged_params("p", {"days": 9}) == {"days": 9}


@pytest.mark.parametrize(("change", "message"), [
    (("default: 7", "default: 70"), r"catalogue.yaml:8: policy 'p': param 'days': default 70 is "
                                    r"above its maximum 30"),
    (("category: service", "category: sevrice"), r"category 'sevrice' must be one of"),
    (("conflicts_with: []", "conflicts_with: [q]"), r"conflicts_with names unknown policy 'q'"),
    (("templates/p.md.j2", "templates/missing.md.j2"), r"template 'templates/missing.md.j2' "
                                                       r"does not exist"),
    (("    title: P\n", "    titel: P\n"), r"unknown key 'titel' \(did you mean 'title'\?\)"),
    (("max: 30}", "max: 30, combine: minn}"), r"param 'days': combine 'minn' is not one of "
                                              r"first, min, max, any, all \(did you mean 'min'"),
    (("max: 30}", "max: 30, combine: any}"), r"combine 'any' does not apply to a int param "
                                             r"\(use first, min, max\)"),
])
def test_bad_catalogue_names_line_and_fix(tmp_path, change, message):
    with pytest.raises(ConfigError, match=message):
        load_catalogue(_catalogue(tmp_path, GOOD.replace(*change)))


def test_every_catalogue_policy_is_used_by_a_shipped_table():
    from engine.tables import load_table_set

    ts = load_table_set(ROOT / "rules", CATALOGUE)
    used = {a.policy_id for t in ts.tables for r in t.rules for a in r.policies}
    assert used == set(CATALOGUE.policies)


@pytest.mark.parametrize(("how", "values", "combined"), [
    ("min", [2.0, 1.0, 1.5], 1.0), ("max", [0.3, 0.5], 0.5), ("first", [12, 6], 12),
    (None, [12, 6], 12), ("min", [6, 6], 6),
])
def test_declared_combination_joins_the_values_of_several_rules(tmp_path, how, values,
                                                                combined):
    body = GOOD.replace("max: 30}", f"max: 30, combine: {how}}}" if how else "max: 30}")
    cat = load_catalogue(_catalogue(tmp_path, body))
    assert cat["p"].params["days"].combine == how
    assert cat.combine("p", [{"days": v} for v in values]) == {"days": combined}
    assert cat.clashes("p", {"days": 1}, {"days": 2}) == ([] if how else ["days"])


def test_shipped_catalogue_gives_critical_loads_the_strictest_targets():
    assert CATALOGUE.combine("priority_repair_channel", [
        {"response_target_hours": 2.0}, {"response_target_hours": 1.0}]) == {
        "response_target_hours": 1.0}
    assert CATALOGUE.combine("emergency_response_plan", [
        {"drill_interval_months": 12}, {"drill_interval_months": 6}]) == {
        "drill_interval_months": 6}
