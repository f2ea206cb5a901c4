"""Synthetic bills and payments: reproducible, in time order, accepted by the processor."""

from __future__ import annotations

import datetime as dt

from engine import synth
from engine.collections.synthetic import generate_events
from engine.events.model import to_micros
from engine.events.replay import rows_of
from tests.collections_world import World


def test_the_same_seed_gives_the_same_events_in_time_order():
    customers = synth.generate(300, seed=5)
    first = generate_events(customers, seed=3, end=dt.date(2026, 10, 31))
    assert first.equals(generate_events(customers, seed=3, end=dt.date(2026, 10, 31)))
    times = first["time"].tolist()
    assert times == sorted(times) and times[-1] <= "2026-10-31T23:59:59Z"
    bills = first[first["type"] == "bill_issued"]
    assert len(bills) == 300 * 12
    assert (bills.groupby("customer_id").size() == 12).all()
    share = (first["type"] == "bill_overdue").sum() / len(bills)
    assert 0.04 < share < 0.20


def test_every_synthetic_event_is_accepted_by_the_processor(tmp_path):
    customers = synth.generate(40, seed=8)
    events = generate_events(customers, seed=2, end=dt.date(2026, 10, 31))
    world = World(tmp_path / "db.sqlite")
    clock = to_micros(dt.datetime(2026, 10, 31, 23, tzinfo=dt.UTC))
    results = world.processor.process_many([event for _, event in rows_of(events)],
                                           now_us=clock)
    refused = [r for r in results if not r.ok]
    world.close()
    assert refused == [] and len(results) == len(events)
