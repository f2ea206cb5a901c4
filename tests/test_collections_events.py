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


BAD_EVENTS = [  # (event, field, value, reason starts with)
    (ev("protection_granted", "x1", 2, customer="NOBODY", kind="medical_certificate"),
     "customer_id", "NOBODY", "unknown customer 'NOBODY'"),
    (ev("protection_granted", "x2", 2, kind="medical_certificat"),
     "kind", "medical_certificat", "unknown protection kind 'medical_certificat'"),
    (ev("protection_granted", "x3", 10, kind="dispute", until="2026-01-05"),
     "until", "2026-01-05",
     "field 'until' = '2026-01-05': until 2026-01-05 is before the protection's start "
     "2026-01-11"),
    (ev("bill_overdue", "x4", -3, bill_id="B1"), "time", "2025-12-29T00:00:00+00:00",
     "bill_overdue time 2025-12-29T00:00:00+00:00 is before its bill 'B1' was issued"),
    (ev("bill_overdue", "x5", 19, bill_id="B1"), "time", "2026-01-20T00:00:00+00:00",
     "bill_overdue time 2026-01-20T00:00:00+00:00 is not after the due date 2026-01-20"),
]


def test_the_service_refuses_bad_protections_and_early_overdue_naming_field_and_value(
        tmp_path, engine):
    from fastapi.testclient import TestClient

    from engine.service import Settings, create_app
    from engine.service.auth import add_key

    keys = tmp_path / "keys.yaml"
    key = add_key(keys, "billing", ["decide"])
    settings = Settings.load(env={}, db=str(tmp_path / "db.sqlite"), keys_file=keys)
    with TestClient(create_app(settings, engine=engine)) as client:
        head = {"Authorization": f"Bearer {key}"}
        bill = ev("bill_issued", "b1", 0, bill_id="B1", amount=80.0, due="2026-01-20")
        first = client.post("/v1/events", json=bill, headers=head)
        assert first.status_code == 201, first.text
        answer = client.post("/v1/events", json=[e for e, *_ in BAD_EVENTS], headers=head)
        assert answer.status_code == 200, answer.text
        body = answer.json()
        assert (body["accepted"], body["rejected"]) == (0, len(BAD_EVENTS))
        for got, (_, field, value, reason) in zip(body["events"], BAD_EVENTS, strict=True):
            assert (got["status"], got["field"], got["value"]) == ("rejected", field, value)
            assert got["reason"].startswith(reason), got["reason"]
        late = client.post("/v1/events", json=ev("bill_overdue", "ok", 20, bill_id="B1"),
                           headers=head)
        assert late.status_code == 201, late.text


def test_events_replay_refuses_the_same_rows_and_lists_them_as_rejects(tmp_path):
    import pandas as pd
    from typer.testing import CliRunner

    from engine.cli import app

    rows = [ev("bill_issued", "b0", -10, bill_id="B0", amount=80.0, due="2025-12-31"),
            ev("bill_issued", "b1", 0, bill_id="B1", amount=80.0, due="2026-01-20"),
            *[e for e, *_ in BAD_EVENTS]]
    source, rejects = tmp_path / "events.csv", tmp_path / "rejects.csv"
    pd.DataFrame(rows).to_csv(source, index=False)
    result = CliRunner().invoke(app, ["events", "replay", str(source), "--db",
                                      str(tmp_path / "db.sqlite"), "--rejects", str(rejects),
                                      "--no-progress", "--home", str(ROOT)])
    assert result.exit_code == 0, result.output
    assert "2 accepted, 5 rejected" in result.output
    found = pd.read_csv(rejects).set_index("event_id")
    for event, field, _value, reason in BAD_EVENTS:
        got = found.loc[event["event_id"]]
        if event["event_id"] == "x4":  # replayed in time order, its bill is not issued yet
            assert (got["field"], got["reason_code"]) == ("bill_id", "unknown_bill")
            continue
        assert got["field"] == field
        assert got["reason"].startswith(reason)


def _collections(tmp_path, name: str, engine, order: list[int]) -> dict:
    from tests.collections_world import World

    world = World(tmp_path / f"{name}.sqlite")
    world.decide(engine, "H1", "household", "2026-01-01")
    sent = [("bill_issued", "2026-01-01", {"bill_id": "B1", "amount": 200.0,
                                           "due": "2026-01-20"}),
            ("bill_overdue", "2026-01-21", {"bill_id": "B1"}),
            ("protection_granted", "2026-02-14", {"kind": "medical_certificate",
                                                  "reference": "MC-1"}),
            ("repayment", "2026-02-10", {"bill_id": "B1", "amount": 200.0})]
    for i in order:
        type_, on, fields = sent[i]
        world.send(type_, on, **fields)
    found = world.show("2026-03-01").to_json()
    world.close()
    return {k: v for k, v in found.items() if k not in ("digest", "decision_id")}


def test_an_event_late_within_the_tolerance_counts_at_its_own_time(tmp_path, engine):
    in_order = _collections(tmp_path, "a", engine, [0, 1, 3, 2])
    late = _collections(tmp_path, "b", engine, [0, 1, 2, 3])  # the repayment 4 days late
    assert late == in_order
    case = late["cases"][0]
    assert (case["paid_on"], case["penalty"], case["outstanding"]) == (
        "2026-02-10", {"amount": 4.2, "days": 21}, 0.0)
    assert [s["status"] for s in case["steps"]] == ["done", "done", "done", "cancelled",
                                                    "cancelled"]
