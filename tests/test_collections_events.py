"""Protection and deposit events: validated, refused with the field and value, stored."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from engine.collections.protections import load_protections
from engine.events.model import EventRejected, parse_event, to_micros
from engine.events.processor import EventProcessor

ROOT = Path(__file__).resolve().parent.parent
T0 = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)


def ev(type_: str, event_id: str, day: float, customer: str = "H1", **fields) -> dict:
    return {"type": type_, "event_id": event_id, "customer_id": customer,
            "time": (T0 + dt.timedelta(days=day)).isoformat(), **fields}


CLOCK = to_micros(T0 + dt.timedelta(days=30))


def send(processor: EventProcessor, event: dict):
    return processor.process(event, now_us=CLOCK)


@pytest.fixture
def processor(tmp_path) -> EventProcessor:
    kinds = load_protections(ROOT / "rules" / "protections.yaml").kinds
    return EventProcessor.open(str(tmp_path / "ev.sqlite"), ROOT / "rules" / "events.yaml",
                               synchronous="NORMAL", protection_kinds=kinds)


def test_a_protection_ending_before_it_starts_is_refused_naming_until():
    with pytest.raises(EventRejected) as caught:
        parse_event(ev("protection_granted", "p1", 10, kind="medical_certificate",
                       until="2026-01-05"))
    assert caught.value.field == "until" and caught.value.value == "2026-01-05"
    assert "until 2026-01-05 is before the protection's start 2026-01-11" in caught.value.reason


def test_protection_events_for_an_unknown_customer_or_kind_are_refused(processor):
    refused = send(processor, ev("protection_granted", "p0", 1, kind="medical_certificate"))
    assert (refused.ok, refused.reason_code, refused.field) == (False, "unknown_customer",
                                                                "customer_id")
    send(processor, ev("bill_issued", "b1", 0, bill_id="B1", amount=80.0, due="2026-01-20"))
    wrong = send(processor, ev("protection_granted", "p1", 2, kind="medical_certificat"))
    assert (wrong.ok, wrong.field) == (False, "kind")
    assert wrong.reason.startswith("unknown protection kind 'medical_certificat': use one of "
                                   "critical_load, dispute, life_support")
    assert wrong.reason.endswith("(did you mean 'medical_certificate'?)")
    ended = send(processor, ev("protection_ended", "p2", 3, kind="weather"))
    assert (ended.ok, ended.field) == (False, "kind")
    ok = [send(processor, e) for e in (
        ev("protection_granted", "p3", 2, kind="medical_certificate", reference="MC-7",
           until="2026-02-28"),
        ev("protection_ended", "p4", 20, kind="medical_certificate", reference="MC-7"),
        ev("deposit_paid", "d1", 15, deposit_id="D1", amount=160.0))]
    assert [r.ok for r in ok] == [True, True, True]
    types = [e["type"] for e in processor.store.events_for("H1")]
    assert types == ["protection_ended", "deposit_paid", "protection_granted", "bill_issued"]
