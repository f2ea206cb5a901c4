"""Step definitions for features/*.feature: the paper's strategies, run on the real engine.

Every scenario builds a customer record from a clean baseline of its class,
decides it with the shipped tables and models (no mocks) and checks the
outcome a policy officer would check.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from pytest_bdd import given, parsers, scenarios, then, when

from engine.decision import Decision
from tests.baseline import clean_record

FEATURES = Path(__file__).resolve().parent.parent / "features"
# The strategy features decide one record; events_*.feature replay payment
# events and collections*.feature move cases over time: they have their own
# steps in tests/test_events_features.py and tests/test_collections_features.py.
scenarios(*sorted(str(p) for p in FEATURES.glob("*.feature")
                  if not p.name.startswith(("events_", "collections"))))

def _list(text: str) -> list[str]:
    return [part.strip() for part in text.replace(" and ", ",").split(",") if part.strip()]


@given(parsers.parse("a {klass} customer with a clean record"), target_fixture="record")
def clean(klass: str) -> dict:
    return clean_record(klass, customer_id=f"BDD-{klass}")


@given(parsers.parse("the customer uses {kwh:d} kWh a month"))
def uses(record: dict, kwh: int) -> None:
    record["monthly_kwh"] = float(kwh)
    record["contracted_capacity_kva"] = round(kwh / (730 * 0.5), 1)


@given("the customer supplies a critical load")
def critical(record: dict) -> None:
    record["critical_load"] = True


@given(parsers.re(r"the customer has (?P<n>\d+) overdue bills? in the last 12 months, "
                  r"the longest (?P<days>\d+) days late"))
def overdue_bills(record: dict, n: str, days: str) -> None:
    record["overdue_bills_12m"] = int(n)
    record["max_days_overdue_12m"] = int(days)


@given(parsers.parse("the customer owes {amount:g} in overdue charges"))
def owes(record: dict, amount: float) -> None:
    record["overdue_amount"] = float(amount)


@given(parsers.parse("the customer has been connected for {months:d} months"))
def connected(record: dict, months: int) -> None:
    record["months_connected"] = months


@given(parsers.parse("the customer was graded {grade} last year"))
def graded(record: dict, grade: str) -> None:
    record["previous_grade"] = grade


@given(parsers.parse("a theft finding forces the lowest grade until {date}"))
def theft_override(record: dict, date: str) -> None:
    record["theft_override_until"] = date


@given(parsers.re(r"the customer has (?P<n>\d+) theft findings? in the last 36 months"))
def theft(record: dict, n: str) -> None:
    record["theft_incidents_36m"] = int(n)


@given("the customer is flagged as a habitual defaulter")
def habitual(record: dict) -> None:
    record["habitual_defaulter"] = True


@given("the customer earned an overdue-charge rebate")
def rebate(record: dict) -> None:
    record["rebate_earned"] = True


@given(parsers.parse("the customer expects service quality {expected:g} and perceives "
                     "{perceived:g}"))
def service(record: dict, expected: float, perceived: float) -> None:
    record["expected_service_quality"] = expected
    record["perceived_service_quality"] = perceived


@pytest.fixture
def history() -> list[Decision]:
    return []


@when("the engine decides", target_fixture="decision")
def decides(engine, record: dict, history: list[Decision]) -> Decision:
    decision = engine.decide(record)
    history.append(decision)
    return decision


@when("the customer repays the overdue charges and the engine decides again",
      target_fixture="decision")
def repays(engine, record: dict, history: list[Decision]) -> Decision:
    record.update(overdue_amount=0.0, overdue_bills_12m=0, max_days_overdue_12m=0)
    decision = engine.decide(record)
    history.append(decision)
    return decision


@then(parsers.re(r"the grade is (?P<grade>AAA|AA|A|B|C)$"))
def grade_is(decision: Decision, grade: str) -> None:
    assert decision.grade.grade == grade, decision.grade


@then(parsers.parse("the grade is one of {grades}"))
def grade_one_of(decision: Decision, grades: str) -> None:
    assert decision.grade.grade in _list(grades), decision.grade


@then(parsers.parse('the grade is set by override "{rule}"'))
def override_is(decision: Decision, rule: str) -> None:
    assert decision.grade.override == rule, decision.grade


@then("no override applies")
def no_override(decision: Decision) -> None:
    assert decision.grade.override is None, decision.grade
    assert decision.grade.grade == decision.grade.band_grade


@then(parsers.re(r"the (?P<segment>consumption class|outage sensitivity|service sensitivity"
                 r"|value tier) is (?P<value>\w+)"))
def segment_is(decision: Decision, segment: str, value: str) -> None:
    key = segment.replace(" ", "_")
    assert decision.segments[key] == value, decision.segments


@then(parsers.parse("the customer receives {policies}"))
def receives(decision: Decision, policies: str) -> None:
    missing = [p for p in _list(policies) if p not in decision.policy_ids]
    assert not missing, f"missing {missing}; got {decision.policy_ids}"


@then(parsers.parse("the customer does not receive {policies}"))
def does_not_receive(decision: Decision, policies: str) -> None:
    present = [p for p in _list(policies) if p in decision.policy_ids]
    assert not present, f"unexpected {present}"


@then(parsers.parse("the policy {policy} has {param} = {value}"))
def policy_param(decision: Decision, policy: str, param: str, value: str) -> None:
    found = [p for p in decision.policies if p.policy_id == policy]
    assert found, f"{policy} not given; got {decision.policy_ids}"
    assert float(found[0].params[param]) == pytest.approx(float(value)), found[0].params


@then(parsers.parse("the explanation cites the rule behind {policy}"))
def explanation_cites(engine, decision: Decision, policy: str) -> None:
    hit = next(p for p in decision.policies if p.policy_id == policy)
    text = engine.explain(decision, "text")
    assert f"rule '{hit.rule_id}' at {hit.file}:{hit.line}" in text


@then(parsers.parse("the explanation cites rule {rule} giving {policy} {param} = {value}"))
def explanation_cites_grant(engine, decision: Decision, rule: str, policy: str, param: str,
                            value: str) -> None:
    hit = next(p for p in decision.policies if p.policy_id == policy)
    grant = next(g for g in hit.grants if g.rule_id == rule)
    assert float(grant.params[param]) == pytest.approx(float(value))
    text = engine.explain(decision, "text")
    assert f"rule '{rule}' at {grant.file}:{grant.line}: {param} = {value}" in text


@then("the probability of default is lower than before")
def pd_lower(history: list[Decision]) -> None:
    before, after = history[-2], history[-1]
    assert after.score.pd < before.score.pd


@then("the grade is no worse than before")
def grade_no_worse(history: list[Decision]) -> None:
    order = ["AAA", "AA", "A", "B", "C"]
    before, after = history[-2], history[-1]
    assert order.index(after.grade.grade) <= order.index(before.grade.grade)
