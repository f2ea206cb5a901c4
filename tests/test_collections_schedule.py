"""Properties of every schedule: no cut inside the notice period or under a protection, and
the same events give the same steps and step decisions (digests), whatever order they
arrive in."""

from __future__ import annotations

import datetime as dt
import random

from hypothesis import given, settings
from hypothesis import strategies as st

from engine.audit.decisionrows import payload_digest
from engine.collections.cases import Profile, collections_of
from engine.collections.steps import step_decisions
from engine.collections.strategy import LEGAL_OVERDUE_DAYS, notice_days
from tests.collections_world import DOCUMENTS, TABLES

T0 = dt.date(2026, 1, 1)
KINDS = sorted(TABLES.protections.kinds)


def at(days: int) -> str:
    return f"{T0 + dt.timedelta(days=days)}T09:00:00Z"


@st.composite
def histories(draw):
    klass = draw(st.sampled_from(["residential", "commercial", "industrial", "public"]))
    profile = Profile("X1", klass, draw(st.sampled_from(["AAA", "AA", "A", "B", "C"])),
                      {"value_tier": draw(st.sampled_from(["high", "standard"]))},
                      draw(st.booleans()), draw(st.booleans()),
                      {"supply_cut_warning": {"notice_days": draw(st.integers(3, 15))}})
    due = draw(st.integers(5, 40))
    events = [{"type": "bill_issued", "time": at(0), "bill_id": "B1", "due":
               (T0 + dt.timedelta(days=due)).isoformat(), "amount": 500.0}]
    for _ in range(draw(st.integers(0, 3))):
        start = draw(st.integers(0, 120))
        until = draw(st.one_of(st.none(), st.integers(start, start + 60)))
        events.append({"type": "protection_granted", "time": at(start),
                       "kind": draw(st.sampled_from(KINDS)), "reference": f"R{start}",
                       "until": (T0 + dt.timedelta(days=until)).isoformat()
                       if until is not None else None})
        if draw(st.booleans()):
            events.append({"type": "protection_ended", "time": at(start +
                                                                  draw(st.integers(1, 90))),
                           "kind": events[-1]["kind"], "reference": f"R{start}"})
    if draw(st.booleans()):
        made = draw(st.integers(due, due + 40))
        events.append({"type": "agreement_made", "time": at(made), "agreement_id": "A1"})
        if draw(st.booleans()):
            events.append({"type": "agreement_broken", "time": at(made +
                                                                  draw(st.integers(0, 40))),
                           "agreement_id": "A1"})
    for _ in range(draw(st.integers(0, 2))):
        events.append({"type": "repayment", "time": at(draw(st.integers(1, 150))),
                       "bill_id": "B1", "amount": float(draw(st.sampled_from([100, 250, 500])))})
    as_of = T0 + dt.timedelta(days=draw(st.integers(0, 200)))
    return profile, events, as_of


@settings(max_examples=400, deadline=None)
@given(histories())
def test_no_cut_inside_the_notice_period_or_while_a_protection_holds(history):
    profile, events, as_of = history
    found = collections_of(profile, events, as_of, TABLES)
    params = TABLES.params(profile.policies)
    for case in found.cases:
        by = {s.action: s for s in case.steps}
        order, warning = by["supply_cut_order"], by["supply_cut_warning"]
        live = ("done", "due", "scheduled")
        if order.status in live:
            need = notice_days(profile.customer_class, params["supply_cut_warning"])
            # the warning was given, or a protection ending before the cut moved it
            assert warning.status in live or (warning.status == "blocked"
                                              and as_of < warning.date)
            assert order.date >= warning.date + dt.timedelta(days=need)
            assert order.date > case.due + dt.timedelta(days=LEGAL_OVERDUE_DAYS)
        for step in case.steps:
            if step.status not in live:
                continue
            for p in found.protections:
                if step.action in p.blocks:
                    assert not p.holds_on(step.date), (step, p)
        if case.paid_on is not None:
            assert all(s.status == "cancelled" for s in case.steps if s.date >= case.paid_on)


@settings(max_examples=200, deadline=None)
@given(histories(), st.integers(0, 2**16))
def test_replaying_the_same_events_in_any_arrival_order_gives_the_same_steps(history, seed):
    profile, events, as_of = history
    shuffled = list(events)
    random.Random(seed).shuffle(shuffled)
    first = collections_of(profile, events, as_of, TABLES).to_json()
    again = collections_of(profile, shuffled, as_of, TABLES).to_json()
    assert first == again and first["digest"] == again["digest"]


@settings(max_examples=60, deadline=None)
@given(histories(), st.integers(0, 2**16))
def test_the_step_decisions_of_a_day_have_the_same_digests_in_any_arrival_order(history,
                                                                                 seed):
    profile, events, as_of = history
    events = [{**e, "event_id": f"E{i}"} for i, e in enumerate(events)]
    shuffled = list(events)
    random.Random(seed).shuffle(shuffled)
    days = [as_of + dt.timedelta(days=k) for k in range(0, 60, 3)]
    for day in days:
        first = step_decisions(collections_of(profile, events, day, TABLES), events, TABLES,
                               DOCUMENTS, "t" * 64)
        again = step_decisions(collections_of(profile, shuffled, day, TABLES), shuffled,
                               TABLES, DOCUMENTS, "t" * 64)
        assert first == again
        assert all(p["digest"] == payload_digest(p) for p in first)
        assert len({p["step_id"] for p in first}) == len(first)
