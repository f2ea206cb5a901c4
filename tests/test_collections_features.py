"""Step definitions for features/collections.feature, against the real event store, the
decision log, the shipped tables and the shipped model."""

from __future__ import annotations

import datetime as dt

import pytest
from pytest_bdd import given, parsers, scenarios, then, when

from tests.collections_world import World

scenarios("collections.feature")


@pytest.fixture
def world(tmp_path) -> World:
    found = World(tmp_path / "db.sqlite")
    yield found
    found.close()


def _case(world: World, bill: str):
    return next(c for c in world.read.collections.cases if c.bill_id == bill)


@given(parsers.re(r'an? (?P<shape>household|shop|hospital|C-grade household) "(?P<cid>[^"]+)" '
                  r'decided on (?P<on>[\d-]+)'))
def decided(world: World, engine, shape: str, cid: str, on: str) -> None:
    world.decide(engine, cid, shape, on)


@given(parsers.parse('bill "{bill}" of {amount:g} issued on {on} due on {due}'))
def issued(world: World, bill: str, amount: float, on: str, due: str) -> None:
    world.send("bill_issued", on, bill_id=bill, amount=float(amount), due=due)


@given(parsers.parse('a {kind} protection "{ref}" granted on {on}'))
def protected(world: World, kind: str, ref: str, on: str) -> None:
    world.send("protection_granted", on, kind=kind, reference=ref)


@given(parsers.parse('the customer repays {amount:g} on bill "{bill}" on {on}'))
def repays(world: World, amount: float, bill: str, on: str) -> None:
    world.send("repayment", on, bill_id=bill, amount=float(amount))


@given(parsers.parse('repayment agreement "{aid}" made on {on}'))
def agreement(world: World, aid: str, on: str) -> None:
    world.send("agreement_made", on, agreement_id=aid)


@when(parsers.parse('repayment agreement "{aid}" is broken on {on}'))
def broken(world: World, aid: str, on: str) -> None:
    world.send("agreement_broken", on, agreement_id=aid)


@given(parsers.re(r"monthly bills of (?P<amount>[\d.]+) from (?P<first>[\d-]+) to "
                  r"(?P<last>[\d-]+), each paid on its due date(?: but the one of "
                  r"(?P<month>[\d-]+) (?P<late>\d+) days late)?, and a deposit of "
                  r"(?P<deposit>[\d.]+) paid on (?P<paid>[\d-]+)$"))
def monthly(world: World, amount: str, first: str, last: str, month: str | None,
            late: str | None, deposit: str, paid: str) -> None:
    start, end = dt.date.fromisoformat(first), dt.date.fromisoformat(last)
    events = [("deposit_paid", dt.date.fromisoformat(paid),
               {"deposit_id": "DEP1", "amount": float(deposit)})]
    k = 0
    while (on := dt.date(start.year + (start.month - 1 + k) // 12,
                         (start.month - 1 + k) % 12 + 1, 1)) <= end:
        due = on + dt.timedelta(days=19)
        events.append(("bill_issued", on, {"bill_id": f"M{k}", "amount": float(amount),
                                           "due": due.isoformat()}))
        lag = int(late) if month and on == dt.date.fromisoformat(month) else 0
        if lag:
            events.append(("bill_overdue", due + dt.timedelta(days=1), {"bill_id": f"M{k}"}))
        events.append(("repayment", due + dt.timedelta(days=lag),
                       {"bill_id": f"M{k}", "amount": float(amount)}))
        k += 1
    for type_, on, fields in sorted(events, key=lambda e: (e[1], e[0] != "bill_issued")):
        world.send(type_, on.isoformat(), **fields)


@when(parsers.parse("its collections are read on {on}"))
def read(world: World, on: str) -> None:
    world.show(on)


@then(parsers.parse('the strategy is "{strategy}"'))
def strategy_is(world: World, strategy: str) -> None:
    assert world.read.collections.strategy == strategy


@then(parsers.parse('bill "{bill}" owes {owed:f} with a penalty of {penalty:f} over {days:d} '
                    'days'))
def owes(world: World, bill: str, owed: float, penalty: float, days: int) -> None:
    case = _case(world, bill)
    assert (case.outstanding, case.penalty.amount, case.penalty.days) == (owed, penalty, days)


@then(parsers.parse('the steps of bill "{bill}" are'))
def steps_are(world: World, bill: str, datatable) -> None:
    header, *rows = datatable
    got = [[s.action, s.date.isoformat(), s.status] for s in _case(world, bill).steps]
    assert header == ["action", "date", "status"]
    assert got == rows


@then(parsers.parse("the cut order comes at least {days:d} days after the cut warning, with a "
                    "call {hours:d} hours before"))
def notice_kept(world: World, days: int, hours: int) -> None:
    for case in world.read.collections.cases:
        by = {s.action: s for s in case.steps}
        order = by["supply_cut_order"]
        assert (order.date - by["supply_cut_warning"].date).days >= days
        assert order.extra["notice_days"] == days and order.extra["call_hours_before"] == hours


@then(parsers.re(r'the work list of (?P<on>[\d-]+) holds (?P<action>\w+) for "(?P<cid>[^"]+)"'
                 r'(?: blocked by (?P<kind>\w+))?$'))
def work_list_holds(world: World, on: str, action: str, cid: str, kind: str | None) -> None:
    rows = world.due(on).rows
    mine = rows[(rows["customer_id"] == cid) & (rows["action"] == action)]
    assert len(mine) == 1, rows.to_dict("records")
    row = mine.iloc[0]
    assert row["status"] == ("blocked" if kind else "due")
    assert row["protection"] == kind or (kind is None and row["protection"] is None)


@then(parsers.parse('the work list of {on} has nothing for "{cid}"'))
def work_list_empty(world: World, on: str, cid: str) -> None:
    rows = world.due(on).rows
    assert rows[rows["customer_id"] == cid].empty


@then(parsers.parse('the {action} document in {lang} says "{text}"'))
def document_says(world: World, action: str, lang: str, text: str) -> None:
    docs = [d for key, d in world.read.documents.items() if key.endswith("/" + action)]
    assert len(docs) == 1, list(world.read.documents)
    assert text in docs[0][lang], docs[0][lang]


@then(parsers.parse("every blocked step names the protection {kind}"))
def blocked_named(world: World, kind: str) -> None:
    blocked = [s for c in world.read.collections.cases for s in c.steps if s.status == "blocked"]
    assert blocked and all(s.protection == kind for s in blocked)


@then(parsers.parse('the first step of bill "{bill}" is {action}'))
def first_step(world: World, bill: str, action: str) -> None:
    assert _case(world, bill).steps[0].action == action


@then(parsers.parse('the steps {first} and {second} of bill "{bill}" are blocked by {kind}'))
def both_blocked(world: World, first: str, second: str, bill: str, kind: str) -> None:
    by = {s.action: s for s in _case(world, bill).steps}
    for action in (first, second):
        assert (by[action].status, by[action].protection) == ("blocked", kind)


@then(parsers.parse('every step of bill "{bill}" copies the regulator'))
def copies(world: World, bill: str) -> None:
    assert all(s.extra.get("copy_to") == "regulator" for s in _case(world, bill).steps)


@then(parsers.parse("the statement of account ends with a balance of {balance:f}"))
def balance(world: World, balance: float) -> None:
    assert world.read.lines[-1]["balance"] == balance


@then(parsers.parse("the deposit asked by the grade is {amount:f}"))
def deposit_asked(world: World, amount: float) -> None:
    assert world.read.collections.deposit.required == amount


@then(parsers.parse("the deposit refund of {amount:f} is due on {on}"))
def refund_due(world: World, amount: float, on: str) -> None:
    refund = world.read.collections.deposit.refund
    assert (refund.status, refund.date.isoformat(), refund.extra["amount"]) == ("due", on,
                                                                                amount)


@then(parsers.parse("the deposit review returns {amount:f} on {on}"))
def review_returns(world: World, amount: float, on: str) -> None:
    review = world.read.collections.deposit.review
    assert (review.status, review.date.isoformat(), review.extra["change"]) == ("due", on,
                                                                                -amount)


@then(parsers.parse("the deposit refund of {amount:f} is scheduled on {on}"))
def refund_scheduled(world: World, amount: float, on: str) -> None:
    refund = world.read.collections.deposit.refund
    assert (refund.status, refund.date.isoformat(), refund.extra["amount"]) == (
        "scheduled", on, amount)
