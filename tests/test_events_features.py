"""Step definitions for features/events_*.feature: payment events through the real engine.

Each scenario gets its own SQLite database; events go through the processor
with the shipped rules/events.yaml, and decisions use the shipped tables and
models with the customer's outcomes in force on the decision date.
"""

from __future__ import annotations

import datetime as dt
import itertools
from pathlib import Path

import pytest
from pytest_bdd import given, parsers, scenarios, then, when

from engine.decision import Decision
from engine.events.model import to_micros
from engine.events.processor import Accepted, EventProcessor
from engine.events.rules import load_event_rules
from engine.events.store import open_store
from tests.baseline import clean_record

RULES = Path(__file__).resolve().parent.parent / "rules" / "events.yaml"

scenarios("events_rebate.feature", "events_habitual.feature", "events_theft.feature")

class World:
    """One scenario's processor, customer and the events it sent."""

    def __init__(self, processor: EventProcessor) -> None:
        self.processor = processor
        self.customer = ""
        self.ids = itertools.count(1)
        self.results: list[Accepted] = []
        self.by_bill: dict[str, list[str]] = {}
        self.overdue_at: dict[str, dt.datetime] = {}

    def send(self, type_: str, when: dt.datetime, **fields: object) -> str:
        event_id = f"{type_}-{next(self.ids)}"
        event = {"type": type_, "event_id": event_id, "customer_id": self.customer,
                 "time": when.isoformat(), **fields}
        result = self.processor.process(event, now_us=to_micros(when) + 3_600_000_000)
        assert result.ok, result
        self.results.append(result)
        if "bill_id" in fields:
            self.by_bill.setdefault(str(fields["bill_id"]), []).append(event_id)
        return event_id

    def outcomes(self, kind: str) -> list:
        return [o for r in self.results for o in r.outcomes if o.kind == kind]

    def decide(self, engine, day: str) -> Decision:
        outcomes = self.processor.store.outcomes_for(self.customer, day)
        record = clean_record("residential", customer_id=self.customer, as_of=day)
        return engine.decide(record, outcomes=outcomes)


def _day(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text).replace(tzinfo=dt.UTC)


@pytest.fixture
def world(tmp_path) -> World:
    store = open_store(str(tmp_path / "events.sqlite"), synchronous="NORMAL")
    yield World(EventProcessor(store, load_event_rules(RULES)))
    store.close()


@given(parsers.parse('customer "{cid}" was billed {amount:g} on {day} as bill "{bill}"'))
def billed(world: World, cid: str, amount: float, day: str, bill: str) -> None:
    world.customer = cid
    world.send("bill_issued", _day(day), bill_id=bill, amount=float(amount))


@given(parsers.parse('bill "{bill}" fell overdue on {day} with a late-payment penalty of '
                     '{penalty:g}'))
def fell_overdue(world: World, bill: str, day: str, penalty: float) -> None:
    world.overdue_at[bill] = _day(day)
    world.send("bill_overdue", _day(day), bill_id=bill, penalty=float(penalty))


@given(parsers.parse('bill "{bill}" of {amount:g} issued on {issued} fell overdue on {day} '
                     'with a late-payment penalty of {penalty:g}'))
def other_bill(world: World, bill: str, amount: float, issued: str, day: str,
               penalty: float) -> None:
    world.send("bill_issued", _day(issued), bill_id=bill, amount=float(amount))
    fell_overdue(world, bill, day, penalty)


@given(parsers.re(r'customer "(?P<cid>[^"]+)" has bills that fell overdue on '
                  r'(?P<days>[0-9-]+(?:, [0-9-]+)* and [0-9-]+)'))
def overdue_bills(world: World, cid: str, days: str) -> None:
    world.customer = cid
    for i, day in enumerate(days.replace(" and ", ", ").split(", ")):
        due = _day(day)
        world.send("bill_issued", due - dt.timedelta(days=30), bill_id=f"B{i}", amount=100.0)
        world.send("bill_overdue", due, bill_id=f"B{i}", penalty=3.0)


@when(parsers.parse('the customer repays {amount:g} on bill "{bill}" {days:d} days after it '
                    'fell overdue'))
def repays(world: World, amount: float, bill: str, days: int) -> None:
    world.send("repayment", world.overdue_at[bill] + dt.timedelta(days=days), bill_id=bill,
               amount=float(amount))


@when(parsers.parse("a theft finding is recorded on {day}"))
def theft(world: World, day: str) -> None:
    world.send("theft_finding", _day(day), reference="inspection report")


@when(parsers.parse('the customer makes repayment agreement "{agreement}" on {made} and '
                    'breaks it on {broken}'))
def agreement(world: World, agreement: str, made: str, broken: str) -> None:
    world.send("agreement_made", _day(made), agreement_id=agreement, amount=100.0)
    world.send("agreement_broken", _day(broken), agreement_id=agreement)


@then(parsers.parse("the customer earns a rebate of {amount:g}"))
def earns(world: World, amount: float) -> None:
    rebates = world.outcomes("rebate_earned")
    assert [o.amount for o in rebates] == [pytest.approx(amount)], rebates


@then("the customer earns no rebate")
def no_rebate(world: World) -> None:
    assert world.outcomes("rebate_earned") == []
    assert world.outcomes("credit_improvement") == []


@then(parsers.parse("the outcome {kind} is raised"))
def raised(world: World, kind: str) -> None:
    assert len(world.outcomes(kind)) == 1


@then(parsers.parse('the decision on {day} grants {policy} naming the events of bill "{bill}"'))
def grants_naming_bill(engine, world: World, day: str, policy: str, bill: str) -> None:
    decision = world.decide(engine, day)
    assert policy in decision.policy_ids
    cited = {i for o in decision.events for i in o.event_ids}
    assert set(world.by_bill[bill]) <= cited
    text = engine.explain(decision, "text")
    for event_id in world.by_bill[bill]:
        assert event_id in text


@then(parsers.parse("the decision on {day} does not grant {policy}"))
def not_granted(engine, world: World, day: str, policy: str) -> None:
    decision = world.decide(engine, day)
    assert policy not in decision.policy_ids
    assert decision.events == ()


@then(parsers.parse("the customer is a habitual defaulter on {day}"))
def habitual(world: World, day: str) -> None:
    assert world.processor.store.outcomes_for(world.customer, day).habitual_defaulter


@then(parsers.parse("the customer is not a habitual defaulter on {day}"))
def not_habitual(world: World, day: str) -> None:
    assert not world.processor.store.outcomes_for(world.customer, day).habitual_defaulter


@then(parsers.parse("the habitual-defaulter mark names {n:d} overdue events"))
def mark_names(world: World, n: int) -> None:
    (mark,) = world.outcomes("habitual_defaulter")
    assert len(mark.event_ids) == n
    assert all(i.startswith("bill_overdue-") for i in mark.event_ids)
    assert mark.rule_id == "habitual-defaulter"


@then(parsers.parse("the decision on {day} grants {policy} naming the overdue events"))
def grants_naming_overdue(engine, world: World, day: str, policy: str) -> None:
    decision = world.decide(engine, day)
    assert policy in decision.policy_ids
    assert decision.inputs["habitual_defaulter"] is True
    (mark,) = [o for o in decision.events if o.kind == "habitual_defaulter"]
    md = engine.explain(decision, "md")
    assert all(f"`{i}`" in md for i in mark.event_ids)


@then(parsers.parse("the decision on {day} has grade {grade} by rule {rule} naming the theft "
                    "finding"))
def graded_by(engine, world: World, day: str, grade: str, rule: str) -> None:
    decision = world.decide(engine, day)
    assert decision.grade.grade == grade
    assert decision.grade.rule_id == rule
    (finding,) = [o for o in decision.events if o.kind == "theft_override"]
    assert finding.event_ids == (world.results[-1].event_id,)
    assert finding.event_ids[0] in engine.explain(decision, "html")


@then(parsers.parse("the decision on {day} has grade {grade} by rule {rule} naming the broken "
                    "agreement"))
def regraded_by(engine, world: World, day: str, grade: str, rule: str) -> None:
    decision = world.decide(engine, day)
    assert (decision.grade.grade, decision.grade.rule_id) == (grade, rule)
    (regrade,) = [o for o in decision.events if o.kind == "agreement_regrade"]
    assert regrade.event_ids[-1] == world.results[-1].event_id
    assert regrade.event_ids[-1] in engine.explain(decision, "text")


@then(parsers.parse("the decision on {day} is not graded by rule {rule}"))
def not_graded_by(engine, world: World, day: str, rule: str) -> None:
    decision = world.decide(engine, day)
    assert decision.grade.rule_id != rule
    assert decision.grade.override is None
    assert decision.events == ()


@then(parsers.parse("the outcome {kind} with grade {grade} is in force on {day}"))
def in_force(world: World, kind: str, grade: str, day: str) -> None:
    outcomes = [o for o in world.processor.store.outcomes_for(world.customer, day).outcomes
                if o.kind == kind]
    assert [o.grade for o in outcomes] == [grade]
    assert len(outcomes[0].event_ids) == 2


@then(parsers.parse("no outcome {kind} is in force on {day}"))
def not_in_force(world: World, kind: str, day: str) -> None:
    outcomes = world.processor.store.outcomes_for(world.customer, day).outcomes
    assert [o for o in outcomes if o.kind == kind] == []
