"""Explanations are built from statements, and every statement holds of its decision.

For random records (hypothesis) with random payment-event outcomes: each
value a statement carries is read back from the decision field it names; every
date and every money figure a rendered customer notice (en and zh-CN) shows is
one a statement or the record holds; the decisive statement comes first. The
customer notice speaks to the customer, names what set the grade with its end
date, gives at most four reasons each carrying at least the catalogue's share,
never files our service under "how to improve your grade", and leaves legal
notices to documents of their own with their own dates.
"""

from __future__ import annotations

import datetime as dt
import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.decision import EventOutcome
from engine.events.store import EventOutcomes
from engine.reasons import principal_reasons, reason_policy
from engine.records import SAMPLE_RECORD
from engine.statements import last_day, resolve

RESIDENTIAL = dict(SAMPLE_RECORD, customer_class="residential", monthly_kwh=420.0,
                   contracted_capacity_kva=8.0, asset_liability_ratio=None, current_ratio=None,
                   return_on_net_assets=None, loan_repayment_on_schedule_rate=None)
AS_OF = dt.date(2026, 10, 31)
EN_DATE = re.compile(r"(?:January|February|March|April|May|June|July|August|September|October|"
                     r"November|December) \d{1,2}, \d{4}")
ZH_DATE = re.compile(r"(\d{4})年(\d{1,2})月(\d{1,2})日")
MONEY = re.compile(r"(?:CN¥|¥)([\d,]+\.\d{2})")


def _outcome(kind: str, start: dt.datetime, days: int, n: int = 1) -> EventOutcome:
    end = start + dt.timedelta(days=days)
    return EventOutcome(kind=kind, rule_id=kind.replace("_", "-"), reason="stated by the rule",
                        event_ids=tuple(f"{kind}-{i}" for i in range(n)),
                        valid_from=start.isoformat().replace("+00:00", "Z"),
                        valid_until=end.isoformat().replace("+00:00", "Z"),
                        grade="C" if kind == "agreement_regrade" else None)


records = st.fixed_dictionaries({
    "customer_class": st.sampled_from(["residential", "commercial"]),
    "months_connected": st.integers(0, 200),
    "overdue_bills_12m": st.integers(0, 6),
    "overdue_amount": st.sampled_from([0.0, 0.0, 80.0, 350.0, 2400.5]),
    "max_days_overdue_12m": st.integers(0, 120),
    "theft_incidents_36m": st.sampled_from([0, 0, 0, 1]),
    "has_repayment_agreement": st.booleans(),
    "calibration_on_schedule": st.booleans(),
    "perceived_service_quality": st.sampled_from([2.0, 3.5, 4.0, 5.0]),
    "previous_grade": st.sampled_from([None, "C", "AA"]),
    "habitual_defaulter": st.booleans(),
})
events = st.lists(st.tuples(st.sampled_from(["theft_override", "agreement_regrade",
                                             "habitual_defaulter"]),
                            st.integers(0, 700), st.integers(0, 23), st.integers(1, 4)),
                  max_size=3)


def _decide(engine, fields, drawn):
    base = dict(RESIDENTIAL if fields["customer_class"] == "residential" else SAMPLE_RECORD)
    record = {**base, **fields}
    outcomes = []
    for kind, ago, hour, n in drawn:
        start = dt.datetime.combine(AS_OF, dt.time(hour), dt.UTC) - dt.timedelta(days=ago)
        days = {"theft_override": 730, "agreement_regrade": 365, "habitual_defaulter": 365}[kind]
        if start + dt.timedelta(days=days) > dt.datetime.combine(AS_OF, dt.time(0), dt.UTC):
            outcomes.append(_outcome(kind, start, days, n))
    found = EventOutcomes(record["customer_id"], AS_OF, tuple(outcomes)) if outcomes else None
    return engine.decide(record, outcomes=found)


def _dates(text: str, lang: str) -> set[dt.date]:
    if lang == "en":
        return {dt.datetime.strptime(d, "%B %d, %Y").date() for d in EN_DATE.findall(text)}
    return {dt.date(int(y), int(m), int(d)) for y, m, d in ZH_DATE.findall(text)}


def _holds(engine, decision, statement) -> None:
    for name, path in statement.fields.items():
        value = statement.values[name]
        if path.startswith("table:"):
            rule_id, field, op = path.removeprefix("table:").split(".")
            rule = next(r for t in engine.tables.tables for r in t.rules if r.id == rule_id)
            assert any(c.field == field and c.op == op and c.value == value for c in rule.when)
        else:
            assert resolve(decision, path) == value, (type(statement).__name__, name, path)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                 HealthCheck.function_scoped_fixture])
@given(fields=records, drawn=events)
def test_every_statement_of_every_explanation_maps_to_a_decision_field(engine, fields, drawn):
    decision = _decide(engine, fields, drawn)
    statements = engine.explainer.statements(decision, engine.tables)
    for statement in statements.all():
        _holds(engine, decision, statement)
    told = {v for s in statements.all() for v in s.values.values() if isinstance(v, dt.date)}
    if "until" in statements.decisive.values:
        told.add(statements.decisive.values["until"] + dt.timedelta(days=1))  # "from D+1 on"
    amounts = {round(float(decision.inputs.get("overdue_amount") or 0), 2)}
    amounts |= {round(float(v), 2) for p in decision.policies for k, v in p.params.items()
                if k in ("cap_amount", "minimum_charge")}
    rebate = engine.catalogue["overdue_rebate"].defaults()
    amounts.add(round(float(rebate["cap_amount"]), 2))
    for lang in ("en", "zh-CN"):
        for audience in ("customer", "liability-notice", "cut-warning"):
            if audience != "customer" and not statements.notice(audience):
                continue
            text = engine.explain(decision, "text", lang=lang, audience=audience)
            assert _dates(text, lang) <= told | {AS_OF}, (lang, audience)
            shown = {round(float(m.replace(",", "")), 2) for m in MONEY.findall(text)}
            assert shown <= amounts, (lang, audience, shown)
        notice = engine.explain(decision, "text", lang=lang, audience="customer")
        assert notice.index(_heading(lang)) < notice.index(_reasons_heading(lang, decision))


def _heading(lang: str) -> str:
    return "WHAT SET YOUR GRADE" if lang == "en" else "决定您等级的原因"


def _reasons_heading(lang: str, decision) -> str:
    if decision.grade.override:
        return "OTHER THINGS IN YOUR RECORD" if lang == "en" else "您记录中其他增加风险的因素"
    return "THE MAIN REASONS FOR THIS GRADE" if lang == "en" else "评定该等级的主要原因"


def test_a_theft_event_leads_the_notice_with_the_finding_and_its_last_day(engine):
    found = dt.datetime(2026, 9, 15, 0, 0, tzinfo=dt.UTC)
    theft = _outcome("theft_override", found, 730)
    decision = engine.decide(RESIDENTIAL, outcomes=EventOutcomes("C0001", AS_OF, (theft,)))
    assert decision.grade.grade == "C"
    assert last_day(theft.valid_until) == dt.date(2028, 9, 13)
    en = engine.explain(decision, "text", lang="en", audience="customer")
    lead = en.split("WHAT SET YOUR GRADE")[1].split("OTHER THINGS")[0]
    assert "On September 15, 2026 electricity theft was found at your supply." in lead
    assert "until September 13, 2028 (inclusive). From September 14, 2028 on" in lead
    assert "What you can do: If you believe the finding is wrong, ask for a human review" in lead
    zh = engine.explain(decision, "text", lang="zh-CN", audience="customer")
    assert "2026年9月15日，在您的用电处查实窃电。" in zh
    assert "直至2028年9月13日（含当日）" in zh and "该客户" not in zh
    assert "HOW TO IMPROVE YOUR GRADE" not in en  # nothing lifts the grade before its end
    auditor = engine.explain(decision, "text", lang="en")
    assert "in force September 15, 2026 to September 13, 2028" in auditor


def test_the_notice_speaks_to_the_customer_and_every_measure_says_why(engine):
    record = dict(RESIDENTIAL, overdue_amount=350.0, overdue_bills_12m=4, max_days_overdue_12m=75)
    decision = engine.decide(record)
    assert {"security_deposit", "supply_cut_warning", "default_liability_notice"} <= set(
        decision.policy_ids)
    for lang, third in (("en", "The customer"), ("zh-CN", "该客户")):
        text = engine.explain(decision, "text", lang=lang, audience="customer")
        assert third not in text
    en = engine.explain(decision, "text", lang="en", audience="customer")
    deposit = next(line for line in en.splitlines() if "Security deposit" in line)
    assert deposit.endswith("Why: your credit grade is C.")
    assert "no sooner than" not in en and "after this warning" not in en
    assert "A separate written warning before supply is cut is sent to you" in en
    warning = engine.explain(decision, "text", lang="en", audience="cut-warning")
    assert "supply may be cut on November 7, 2026 at the earliest, 7 days after this warning" \
        in warning
    assert "Your credit grade" not in warning
    zh = engine.explain(decision, "text", lang="zh-CN", audience="cut-warning")
    assert "最早可于2026年11月7日（本警告发出7天后）对您停止供电" in zh
    liability = engine.explain(decision, "text", lang="en", audience="liability-notice")
    assert "Your electricity charges of CN¥350.00 are overdue." in liability


def test_reasons_that_matter_carry_their_share_and_our_service_is_no_tip(engine):
    policy = engine.explainer.reason_policy
    assert policy.min_share == pytest.approx(0.1) and policy.service_gap is False
    poor = dict(SAMPLE_RECORD, expected_service_quality=5.0, perceived_service_quality=1.0)
    decision = engine.decide(poor)
    lang = engine.explainer.language("en")
    assert "service_quality_gap" in {r.indicator for r in decision.score.reasons}
    shown = principal_reasons(decision, lang, min_share=0.1, service_gap=False)
    assert "service_quality_gap" not in {r.indicator for r in shown}
    assert all(r.share >= 0.1 for r in shown) and len(shown) <= 4
    notice = engine.explain(decision, "text", lang="en", audience="customer")
    assert "falls short" not in notice and "below what was expected" not in notice
    assert " only " not in notice.split("ASK FOR A HUMAN REVIEW")[0]


def test_the_reason_policy_is_checked_with_its_file_and_line():
    from engine.errors import ConfigError
    from engine.yamlfile import parse_yaml

    section = parse_yaml("min_reason_share: 1.5\n")
    with pytest.raises(ConfigError, match=r"cat.yaml:1: .*min_reason_share = 1.5 must be"):
        reason_policy(section, "cat.yaml")
    with pytest.raises(ConfigError, match="unknown key 'min_share'"):
        reason_policy(parse_yaml("min_share: 0.2\n"), "cat.yaml")
