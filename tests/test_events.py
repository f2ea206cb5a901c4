"""Payment events: validation and refusals, the rule file's errors, the store surviving a
restart, late events handled in event time, the replay command and the service endpoints."""

from __future__ import annotations

import datetime as dt
import functools
import json
import tempfile
from pathlib import Path

import pandas as pd
import pytest
from fastapi.testclient import TestClient
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from engine.cli import app
from engine.errors import ConfigError
from engine.events.model import REFUSALS, DuplicateEvent, EventRejected, parse_event, to_micros
from engine.events.processor import Accepted, EventProcessor, Rejected, rebate_amount
from engine.events.rules import RuleMatcher, load_event_rules
from engine.events.store import open_store

ROOT = Path(__file__).resolve().parent.parent
RULES = ROOT / "rules" / "events.yaml"
T0 = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)


def ev(type_: str, event_id: str, day: float, customer: str = "C1", **fields) -> dict:
    return {"type": type_, "event_id": event_id, "customer_id": customer,
            "time": (T0 + dt.timedelta(days=day)).isoformat(), **fields}


def now(day: float) -> int:
    return to_micros(T0 + dt.timedelta(days=day))


@pytest.fixture
def processor(tmp_path) -> EventProcessor:
    return EventProcessor(open_store(str(tmp_path / "ev.sqlite"), synchronous="NORMAL"),
                          load_event_rules(RULES))


# ---------------------------------------------------------------- bad input


@pytest.mark.parametrize(("event", "match"), [
    ({"type": "bil_issued", "event_id": "x"}, r"unknown event type 'bil_issued'.*did you mean "
                                              r"'bill_issued'"),
    ({"event_id": "x"}, "field 'type' is missing"),
    (ev("repayment", "x", 1, bill_id="B1", amount=-5.0), "field 'amount' = -5.0"),
    (ev("repayment", "x", 1, bill_id="B1", amount="12"), "field 'amount' = '12'"),
    (ev("repayment", "x", 1, bill_id="B1"), "field 'amount' is missing"),
    (ev("outage", "x", 1, planned=True, duration_minutes=5.0, extra=1), "unknown field 'extra'"),
    (ev("bill_issued", "x", 1, customer="bad id!", bill_id="B", amount=1.0),
     "field 'customer_id' must be"),
])
def test_malformed_events_are_rejected_naming_the_field(event, match):
    with pytest.raises(EventRejected, match=match):
        parse_event(event)


def test_a_refusal_code_must_be_a_known_one():
    assert {"duplicate_event", "future_event", "invalid_field"} <= set(REFUSALS)
    with pytest.raises(ValueError, match="unknown event refusal code 'duplicated'"):
        EventRejected("x", reason_code="duplicated")


def test_bad_events_are_stored_nowhere_and_the_stream_goes_on(processor):
    stream = [
        ev("bill_issued", "b1", 0, bill_id="B1", amount=100.0),
        ev("wobble", "w1", 1),
        ev("repayment", "r0", 1, customer="NEVER", bill_id="B1", amount=10.0),
        ev("repayment", "r1", 1, bill_id="B1", amount=-1.0),
        ev("repayment", "r2", 1, bill_id="NOPE", amount=10.0),
        ev("bill_issued", "b1", 1, bill_id="B2", amount=100.0),
        ev("bill_issued", "b2", 1, bill_id="B1", amount=100.0),
        ev("theft_finding", "t1", 30),
        ev("repayment", "r3", 1, bill_id="B1", amount=10.0),
    ]
    results = processor.process_many(stream, now_us=now(1))
    assert [r.ok for r in results] == [True] + [False] * 7 + [True]
    reasons = [r.reason for r in results if isinstance(r, Rejected)]
    assert "unknown event type 'wobble'" in reasons[0]
    assert "unknown customer 'NEVER'" in reasons[1]
    assert "field 'amount'" in reasons[2]
    assert "bill 'NOPE' does not exist" in reasons[3]
    assert "duplicate event id" in reasons[4]
    assert "bill 'B1' was already issued" in reasons[5]
    assert "far in the future" in reasons[6] and "24 h after the service clock" in reasons[6]
    codes = [r.reason_code for r in results if isinstance(r, Rejected)]
    assert codes == ["unknown_type", "unknown_customer", "invalid_field", "unknown_bill",
                     "duplicate_event", "duplicate_bill", "future_event"]
    assert type(results[5].error()) is DuplicateEvent
    assert type(results[6].error()) is EventRejected
    assert results[6].error().details()[0]["reason_code"] == "duplicate_bill"
    stored = {e["event_id"] for e in processor.store.events_for("C1")}
    assert stored == {"b1", "r3"}
    assert processor.store.events_for("NEVER") == []


def test_far_future_is_measured_from_the_latest_event_time_without_a_clock(processor):
    assert processor.process(ev("bill_issued", "b1", 0, bill_id="B1", amount=1.0)).ok
    assert processor.process(ev("bill_issued", "b2", 0.9, bill_id="B2", amount=1.0)).ok
    late = processor.process(ev("bill_issued", "b3", 3, bill_id="B3", amount=1.0))
    assert not late.ok and "after the latest event time seen" in late.reason


# ---------------------------------------------------------------- rules and outcomes


def test_rebate_window_share_and_cap(processor):
    stream = [ev("bill_issued", "b1", 0, bill_id="B1", amount=300.0),
              ev("bill_overdue", "o1", 31, bill_id="B1", penalty=40.0),
              ev("repayment", "r1", 35, bill_id="B1", amount=100.0),
              ev("repayment", "r2", 61, bill_id="B1", amount=200.0)]
    results = processor.process_many(stream, now_us=now(62))
    assert all(r.ok for r in results)
    assert results[2].outcomes == ()  # partial: nothing yet
    kinds = sorted(o.kind for o in results[3].outcomes)
    assert kinds == ["credit_improvement", "rebate_earned"]  # full on day 30 of the window
    rebate = next(o for o in results[3].outcomes if o.kind == "rebate_earned")
    assert rebate.amount == 20.0
    assert rebate.event_ids == ("b1", "o1", "r1", "r2")
    assert "Bill B1: rebate 20.00" in rebate.reason


@given(st.floats(0, 1e6), st.floats(0, 1), st.floats(0, 1e4))
def test_rebate_amount_is_the_share_capped(penalty, share, cap):
    amount = rebate_amount(penalty, share, cap)
    assert 0 <= amount <= round(cap, 2) + 1e-9
    assert amount == pytest.approx(min(penalty * share, cap), abs=0.006)


def test_late_event_within_tolerance_is_handled_in_event_time(processor):
    first = [ev("bill_issued", f"b{i}", 30 * i, bill_id=f"B{i}", amount=10.0) for i in range(4)]
    first += [ev("bill_overdue", "o1", 40, bill_id="B1"), ev("bill_overdue", "o3", 100,
                                                             bill_id="B3")]
    first.sort(key=lambda e: e["time"])
    assert all(r.ok for r in processor.process_many(first, now_us=now(100)))
    assert not processor.store.outcomes_for("C1", "2026-04-15").habitual_defaulter
    # o2 arrives after o3 but happened before it: the mark is raised as of the latest event
    late = processor.process(ev("bill_overdue", "o2", 95, bill_id="B2"), now_us=now(100))
    assert late.ok
    (mark,) = [o for o in late.outcomes if o.kind == "habitual_defaulter"]
    assert mark.event_ids == ("o1", "o2", "o3")
    assert processor.store.outcomes_for("C1", "2026-04-15").habitual_defaulter
    too_late = processor.process(ev("bill_overdue", "o0", 80, bill_id="B0"), now_us=now(100))
    assert not too_late.ok and "too late: more than 7 days" in too_late.reason


def test_a_restart_loses_nothing(tmp_path):
    db = str(tmp_path / "ev.sqlite")
    p1 = EventProcessor(open_store(db), load_event_rules(RULES))
    p1.process_many([ev("bill_issued", "b1", 0, bill_id="B1", amount=10.0),
                     ev("bill_overdue", "o1", 30, bill_id="B1", penalty=2.0)], now_us=now(30))
    p1.store.close()
    p2 = EventProcessor(open_store(db), load_event_rules(RULES))
    assert p2.process(ev("bill_overdue", "o1", 30, bill_id="B1")).reason.startswith("duplicate")
    result = p2.process(ev("repayment", "r1", 31, bill_id="B1", amount=10.0))
    assert isinstance(result, Accepted)
    assert {o.kind for o in result.outcomes} == {"rebate_earned", "credit_improvement"}
    far = p2.process(ev("repayment", "r2", 40, bill_id="B1", amount=1.0))
    assert "far in the future" in far.reason  # the latest time seen survived the restart


def test_matcher_frees_every_session(processor):
    matcher = RuleMatcher(processor.rules)
    facts = [{"kind": "theft_finding", "days_since": 1}, {"kind": "overdue_history",
                                                         "overdue_in_window": 1,
                                                         "days_since_last_overdue": 0}]
    for _ in range(2_000):  # above durable-rules' 1,024 live sessions per rule set
        fired = matcher.match(facts)
    assert [(r.id, ref) for r, ref in fired] == [("theft-override", 0)]


@pytest.mark.parametrize(("edit", "match"), [
    (("reads: theft_finding", "reads: theft_findng"),
     r"events.yaml:48: rule 'theft-override': reads: 'theft_findng' is not a fact kind.*"
     r"did you mean 'theft_finding'"),
    (("when: {outstanding: {le: 0}}", "when: {outstandin: {le: 0}}"),
     r"events.yaml:27: .*no field 'outstandin'.*did you mean 'outstanding'"),
    (("outcomes: [habitual_defaulter]", "outcomes: [habitual]"),
     r"unknown outcome 'habitual'.*did you mean 'habitual_defaulter'"),
    (("lasts_days: 730", "lasts_days: -1"),
     r"events.yaml:50: rule 'theft-override': 'lasts_days' = -1 must be above 0"),
    (("    when: {outstanding: {le: 0}}\n", "    when: {outstanding: {le: 0}}\n"
      "    rebate: {share: 5, cap: 1}\n"), r"'share' = 5 must be at least 0 and at most 1"),
    (("window_days: 365\n", "window_dayz: 365\n"), r"unknown key 'window_dayz'"),
])
def test_rule_file_errors_name_file_line_and_fix(tmp_path, edit, match):
    text = RULES.read_text()
    assert edit[0] in text
    bad = tmp_path / "events.yaml"
    bad.write_text(text.replace(edit[0], edit[1], 1))
    with pytest.raises(ConfigError, match=match):
        load_event_rules(bad)


# ---------------------------------------------------------------- replay command


def test_replay_command_sorts_by_event_time_and_reports_refusals(tmp_path):
    rows = [ev("repayment", "r1", 43, bill_id="B1", amount=50.0),
            ev("bill_overdue", "o1", 31, bill_id="B1", penalty=8.0),
            ev("bill_issued", "b1", 0, bill_id="B1", amount=50.0),
            ev("repayment", "r1", 43, bill_id="B1", amount=50.0),
            ev("mystery", "m1", 44)]
    file = tmp_path / "events.parquet"
    pd.DataFrame(rows).to_parquet(file)
    db = str(tmp_path / "log.sqlite")
    result = CliRunner().invoke(app, ["events", "replay", str(file), "--db", db,
                                      "--now", "2026-03-01", "--no-progress",
                                      "--rejects", str(tmp_path / "rej.csv")])
    assert result.exit_code == 0, result.output
    assert "replayed 5 events" in result.output
    assert "3 accepted, 2 rejected" in result.output
    assert "outcome rebate_earned: 1" in result.output
    rejects = pd.read_csv(tmp_path / "rej.csv")
    assert sorted(rejects["event_id"]) == ["m1", "r1"]
    assert set(rejects["reason_code"]) <= set(REFUSALS)
    shown = CliRunner().invoke(app, ["events", "show", "C1", "--db", db, "--as-of",
                                     "2026-03-01"])
    assert shown.exit_code == 0
    data = json.loads(shown.output)
    assert [o["kind"] for o in data["outcomes"]] == ["rebate_earned", "credit_improvement"]
    assert data["outcomes"][0]["amount"] == 4.0
    store = open_store(db, create=False)
    assert data == store.customer_events("C1", as_of=dt.date(2026, 3, 1)).to_json()
    everything = json.loads(CliRunner().invoke(app, ["events", "show", "C1", "--db", db]).output)
    assert everything["as_of"] is None
    assert [e["event_id"] for e in everything["events"]] == [
        e["event_id"] for e in store.events_for("C1")]


def test_replay_of_a_missing_file_exits_2(tmp_path):
    result = CliRunner().invoke(app, ["events", "replay", str(tmp_path / "none.csv"),
                                      "--db", str(tmp_path / "x.sqlite"), "--no-progress"])
    assert result.exit_code == 2
    assert "file not found" in result.output



def test_replay_without_now_takes_the_files_latest_time_so_a_history_replays_whole(tmp_path):
    rows = [ev("bill_issued", f"b{m}", 30 * m, bill_id=f"B{m}", amount=40.0) for m in range(12)]
    rows += [ev("bill_overdue", f"o{m}", 30 * m + 20, bill_id=f"B{m}", penalty=2.0)
             for m in range(3)]
    file = tmp_path / "history.csv"
    pd.DataFrame(rows).to_csv(file, index=False)
    db = str(tmp_path / "log.sqlite")
    result = CliRunner().invoke(app, ["events", "replay", str(file), "--db", db,
                                      "--no-progress"])
    assert result.exit_code == 0, result.output
    assert "15 accepted, 0 rejected" in result.output
    assert "outcome habitual_defaulter: 1" in result.output


def test_a_malformed_cell_refuses_its_row_only(tmp_path):
    rows = [ev("bill_issued", "b1", 0, bill_id="B1", amount="50.0"),
            ev("bill_issued", "b2", 1, bill_id="B2", amount="fifty"),
            ev("repayment", "r1", 2, bill_id="B1", amount="20")]
    file = tmp_path / "events.csv"
    pd.DataFrame(rows).to_csv(file, index=False)
    result = CliRunner().invoke(app, ["events", "replay", str(file), "--db",
                                      str(tmp_path / "log.sqlite"), "--no-progress",
                                      "--rejects", str(tmp_path / "rej.csv")])
    assert result.exit_code == 0, result.output
    assert "2 accepted, 1 rejected" in result.output
    rejects = pd.read_csv(tmp_path / "rej.csv")
    assert rejects[["row", "event_id", "field"]].values.tolist() == [[1, "b2", "amount"]]
    assert "'fifty'" in rejects["reason"][0]


def test_show_of_an_unknown_customer_says_so_and_exits_2(tmp_path):
    db = str(tmp_path / "log.sqlite")
    open_store(db).close()
    result = CliRunner().invoke(app, ["events", "show", "NOBODY", "--db", db])
    assert result.exit_code == 2
    assert "customer 'NOBODY' has no stored events or outcomes" in result.output


def test_show_refuses_a_log_that_does_not_exist(tmp_path):
    missing = tmp_path / "none.sqlite"
    result = CliRunner().invoke(app, ["events", "show", "C1", "--db", str(missing)])
    assert result.exit_code == 2
    assert f"no decision log at {missing}" in result.output
    assert not missing.exists()


# ---------------------------------------------------------------- service


@pytest.fixture
def service(engine, tmp_path):
    from engine.service import Settings, create_app
    from engine.service.auth import add_key

    keys = tmp_path / "keys.yaml"
    tokens = {"decide": add_key(keys, "billing", ["decide"]),
              "audit": add_key(keys, "auditor", ["audit"]),
              "all": add_key(keys, "ops", ["decide", "audit", "admin"])}
    settings = Settings.load(env={}, db=str(tmp_path / "log.sqlite"), keys_file=keys,
                             home=str(ROOT))
    with TestClient(create_app(settings, engine=engine)) as client:
        yield client, {k: {"Authorization": f"Bearer {v}"} for k, v in tokens.items()}


@pytest.mark.parametrize(("body", "headers", "status", "code"), [
    (b"", {"Content-Type": "application/json"}, 400, "malformed_json"),
    (b"   ", {"Content-Type": "application/json"}, 400, "malformed_json"),
    (b"{not json", {"Content-Type": "application/json"}, 400, "malformed_json"),
    (b"bill_issued", {"Content-Type": "text/plain"}, 415, "unsupported_media_type"),
])
def test_service_refuses_an_empty_or_non_json_event_body(service, body, headers, status, code):
    client, auth = service
    r = client.post("/v1/events", content=body, headers={**auth["decide"], **headers})
    assert r.status_code == status, r.text
    assert r.json()["code"] == code and r.json()["status"] == status


def test_service_posts_events_and_reads_them_back(service):
    client, auth = service
    today = dt.datetime.now(dt.UTC).replace(microsecond=0)
    bill = {"type": "bill_issued", "event_id": "s-b1", "customer_id": "S1",
            "time": (today - dt.timedelta(days=40)).isoformat(), "bill_id": "B1",
            "amount": 80.0}
    r = client.post("/v1/events", json=bill, headers=auth["decide"])
    assert r.status_code == 201, r.text
    assert r.json()["status"] == "accepted"
    batch = [{"type": "bill_overdue", "event_id": "s-o1", "customer_id": "S1",
              "time": (today - dt.timedelta(days=10)).isoformat(), "bill_id": "B1",
              "penalty": 6.0},
             {"type": "repayment", "event_id": "s-r1", "customer_id": "S1",
              "time": today.isoformat(), "bill_id": "B1", "amount": 80.0}]
    r = client.post("/v1/events", json=batch, headers=auth["decide"])
    assert r.status_code == 200 and r.json()["accepted"] == 2
    assert r.json()["events"][1]["outcomes"][0]["amount"] == 3.0
    dup = client.post("/v1/events", json=bill, headers=auth["decide"])
    assert dup.status_code == 409 and dup.json()["code"] == "duplicate_event"
    assert dup.json()["details"][0]["reason_code"] == "duplicate_event"
    again = client.post("/v1/events", json=[bill], headers=auth["decide"]).json()
    assert again["events"][0]["reason_code"] == "duplicate_event"
    future = dict(bill, event_id="s-b2", bill_id="B2",
                  time=(today + dt.timedelta(days=3)).isoformat())
    r = client.post("/v1/events", json=future, headers=auth["decide"])
    assert r.status_code == 422 and "far in the future" in r.json()["message"]
    assert r.json()["details"][0]["path"] == "time"
    r = client.get("/v1/customers/S1/events", headers=auth["audit"])
    assert r.status_code == 200
    assert [e["event_id"] for e in r.json()["events"]] == ["s-r1", "s-o1", "s-b1"]
    assert r.json()["as_of"] is None and r.json()["outcomes"][0]["kind"] == "rebate_earned"
    assert client.get("/v1/customers/S1/events", headers=auth["decide"]).status_code == 403
    assert client.post("/v1/events", json=bill, headers=auth["audit"]).status_code == 403
    assert client.post("/v1/events", json=bill).status_code == 401


# ---------------------------------------------------------------- batches and the matcher memo


def _mixed_stream() -> list[dict]:
    """Two years of bills for three customers with overdue runs, partial and very late
    repayments (bills issued before the 730-day window), a second overdue notice, duplicates,
    refusals and equal times: every path the batch's in-memory windows take."""
    out = []
    for c in range(3):
        cid = f"K{c}"
        for m in range(26):
            day = 30.0 * m + c
            out.append(ev("bill_issued", f"{cid}b{m}", day, cid, bill_id=f"{cid}B{m}",
                          amount=100.0 + m))
            if (m + c) % 3 == 0:
                out.append(ev("bill_overdue", f"{cid}o{m}", day + 20, cid, bill_id=f"{cid}B{m}",
                              penalty=6.0))
                out.append(ev("repayment", f"{cid}p{m}", day + 25, cid, bill_id=f"{cid}B{m}",
                              amount=50.0 + m / 2))
                out.append(ev("repayment", f"{cid}q{m}", day + 40 + 5 * c, cid,
                              bill_id=f"{cid}B{m}", amount=50.0 + m / 2))
            else:
                out.append(ev("repayment", f"{cid}p{m}", day + 10, cid, bill_id=f"{cid}B{m}",
                              amount=100.0 + m))
        out.append(ev("bill_overdue", f"{cid}o0x", 20.5 + c, cid, bill_id=f"{cid}B0",
                      penalty=1.0))
        out.append(ev("bill_overdue", f"{cid}late", 745.0 + c, cid, bill_id=f"{cid}B1"))
        out.append(ev("repayment", f"{cid}old", 746.0 + c, cid, bill_id=f"{cid}B1",
                      amount=101.0))
        out.append(ev("theft_finding", f"{cid}t", 300.0 + c, cid))
        out.append(ev("agreement_made", f"{cid}am", 400.0, cid, agreement_id=f"{cid}A"))
        out.append(ev("agreement_broken", f"{cid}ab", 430.0, cid, agreement_id=f"{cid}A"))
    out.append(ev("repayment", "stranger", 50, "NOBODY", bill_id="X", amount=1.0))
    out.append(ev("repayment", "nobill", 60, "K1", bill_id="NONE", amount=1.0))
    out.append(ev("bill_issued", "again", 70, "K2", bill_id="K2B0", amount=1.0))
    out.sort(key=lambda e: e["time"])
    out.insert(40, dict(out[10]))  # a duplicate id within a batch
    out.append(dict(out[5]))  # a duplicate of an event stored long before
    return out


def _outcomes(results) -> list[tuple]:
    return [(r.ok, r.event_id, getattr(r, "reason", None),
             tuple((o.kind, o.rule_id, o.event_ids, o.valid_from, o.valid_until, o.amount)
                   for o in getattr(r, "outcomes", ()))) for r in results]


def _feed(processor: EventProcessor, events: list[dict], size: int) -> list:
    results = []
    for i in range(0, len(events), size):
        results += processor.process_many(events[i:i + size], now_us=now(900))
    return results


def test_a_batch_decides_exactly_as_one_event_at_a_time(tmp_path):
    events = _mixed_stream()
    runs = {}
    for size in (1, 17, len(events)):
        p = EventProcessor(open_store(str(tmp_path / f"b{size}.sqlite"), synchronous="NORMAL"),
                           load_event_rules(RULES))
        runs[size] = _outcomes(_feed(p, events, size))
        p.store.close()
    assert runs[1] == runs[17] == runs[len(events)]
    kinds = [o[0] for r in runs[1] for o in r[3]]
    assert {"habitual_defaulter", "rebate_earned", "theft_override",
            "agreement_regrade"} <= set(kinds)
    refused = [r[2] for r in runs[1] if not r[0]]
    assert len(refused) == 5
    assert sum("duplicate event id" in r for r in refused) == 2
    assert any("unknown customer 'NOBODY'" in r for r in refused)


def test_a_restart_mid_stream_decides_as_one_run(tmp_path):
    events = _mixed_stream()
    one = EventProcessor(open_store(str(tmp_path / "one.sqlite"), synchronous="NORMAL"),
                         load_event_rules(RULES))
    expected = _outcomes(_feed(one, events, 50))
    db = str(tmp_path / "two.sqlite")
    first = EventProcessor(open_store(db, synchronous="NORMAL"), load_event_rules(RULES))
    got = _outcomes(_feed(first, events[:100], 50))
    first.store.close()
    second = EventProcessor(open_store(db, synchronous="NORMAL"), load_event_rules(RULES))
    got += _outcomes(_feed(second, events[100:], 50))
    assert got == expected
    assert second.store.count() == one.store.count() == sum(r[0] for r in expected)


_KINDS = st.sampled_from(["repayment", "overdue_history", "theft_finding", "agreement_broken"])
_VALUES = st.one_of(st.integers(-10, 10), st.sampled_from([0, 2_592_000, 2_592_001, 2_591_999,
                                                           31_536_000, 3, 2, 4]),
                    st.integers(-10**9, 10**9))


@settings(deadline=None)
@given(st.lists(st.tuples(_KINDS, st.lists(_VALUES, min_size=4, max_size=4)), min_size=1,
                max_size=6))
def test_the_matcher_memo_gives_durable_rules_verdicts(rows):
    from engine.events.rules import FACTS

    rules = load_event_rules(RULES)
    facts = [{"kind": kind, **dict(zip(FACTS[kind], values, strict=False))}
             for kind, values in rows]
    memo, plain = _MATCHERS
    got = [(r.id, ref) for r, ref in memo.match(facts)]
    assert got == [(r.id, ref) for r, ref in plain.match(facts)]
    assert got == _by_hand(rules, facts)


_OPS = {"lt": int.__lt__, "le": int.__le__, "gt": int.__gt__, "ge": int.__ge__, "eq": int.__eq__,
        "ne": int.__ne__, "in": lambda x, vs: x in vs, "not_in": lambda x, vs: x not in vs}


def _by_hand(rules, facts):
    """Which rules each fact satisfies, worked out without durable-rules."""
    from engine.events.rules import scaled

    def value(r, c):
        if isinstance(c.value, tuple):
            return tuple(scaled(r.on, c.field, v) for v in c.value)
        return scaled(r.on, c.field, c.value)

    return [(r.id, ref) for ref, f in enumerate(facts) for r in rules.rules
            if r.on == f["kind"] and all(_OPS[c.op](f[c.field], value(r, c)) for c in r.when)]


_EVERY_OPERATOR = RULES.read_text().replace(
    "overdue_in_window: {ge: 3}", "overdue_in_window: {ne: 4, not_in: [5, 6]}").replace(
    "when: {outstanding: {le: 0}}", "when: {outstanding: {in: [0, 1, 30]}}")


@functools.cache
def _every_operator() -> tuple:
    path = Path(tempfile.mkdtemp()) / "events.yaml"
    path.write_text(_EVERY_OPERATOR)
    rules = load_event_rules(path)
    return rules, RuleMatcher(rules, memo=True), RuleMatcher(rules)


@settings(deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["repayment", "overdue_history"]),
                          st.lists(st.sampled_from([0, 1, 4, 5, 6, 7, 86_400, 2_592_000]),
                                   min_size=4, max_size=4)), min_size=1, max_size=6))
def test_event_rules_take_every_operator_of_the_tables(rows):
    from engine.events.rules import FACTS

    rules, memo, plain = _every_operator()
    assert {"ne", "in", "not_in"} <= {c.op for r in rules.rules for c in r.when}
    facts = [{"kind": kind, **dict(zip(FACTS[kind], values, strict=False))}
             for kind, values in rows]
    got = [(r.id, ref) for r, ref in memo.match(facts)]
    assert got == [(r.id, ref) for r, ref in plain.match(facts)] == _by_hand(rules, facts)


_MATCHERS = (RuleMatcher(load_event_rules(RULES), memo=True), RuleMatcher(load_event_rules(RULES)))


def test_docs_table_of_shipped_event_rules_matches_the_file():
    text = (ROOT / "docs" / "events.md").read_text()
    rows = {line.split("|")[1].strip(): line for line in text.splitlines()
            if line.startswith("| `")}
    rules = load_event_rules(RULES)
    assert {f"`{r.id}`" for r in rules.rules} <= set(rows)
    for r in rules.rules:
        cells = [c.strip() for c in rows[f"`{r.id}`"].split("|")[1:-1]]
        assert cells[1].startswith(f"`{r.on}`")
        if r.window_days:
            assert f"window {r.window_days:g} days" in cells[1]
        assert cells[2].split(" (")[0] == (", ".join(f"`{c.field}` {c.op} {c.value:g}"
                                                     for c in r.when) or "—")
        assert [c.split(" ")[0].strip("`") for c in cells[3].split(", ")] == list(r.outcomes)
        assert cells[4] == f"{r.lasts_days:g}"


# ---------------------------------------------------------------- outcomes in CLI decisions


def test_cli_decisions_read_event_outcomes_from_the_db_and_log_single_ones(tmp_path):
    from engine.audit.log import open_log
    from engine.records import SAMPLE_RECORD

    rows = [ev("bill_issued", "c-b1", 0, customer="CLI1", bill_id="B1", amount=90.0),
            ev("theft_finding", "c-f1", 5, customer="CLI1")]
    events = tmp_path / "events.csv"
    pd.DataFrame(rows).to_csv(events, index=False)
    db = str(tmp_path / "log.sqlite")
    assert CliRunner().invoke(app, ["events", "replay", str(events), "--db", db,
                                    "--no-progress"]).exit_code == 0
    as_of = (T0 + dt.timedelta(days=30)).date().isoformat()
    thief = {**SAMPLE_RECORD, "customer_id": "CLI1", "as_of": as_of}
    other = {**SAMPLE_RECORD, "customer_id": "CLI2", "as_of": as_of}
    record = tmp_path / "record.json"
    record.write_text(json.dumps(thief))
    plain = json.loads(CliRunner().invoke(app, ["decide", str(record)]).output)
    assert plain["grade"]["grade"] != "C" and "events" not in plain
    result = CliRunner().invoke(app, ["decide", str(record), "--db", db])
    assert result.exit_code == 0, result.output
    decided = json.loads(result.output)
    assert decided["grade"]["override"] == "theft-override"
    assert [(e["kind"], e["event_ids"]) for e in decided["events"]] == [
        ("theft_override", ["c-f1"])]
    with open_log(db, create=False) as log:
        assert log.get(decided["decision_id"]).digest == decided["digest"]
    frame = tmp_path / "customers.csv"
    pd.DataFrame([thief, other]).to_csv(frame, index=False)
    out = tmp_path / "decisions.csv"
    batch = CliRunner().invoke(app, ["decide", "--input", str(frame), "--out", str(out),
                                     "--db", db, "--no-progress"])
    assert batch.exit_code == 0, batch.output
    grades = pd.read_csv(out).set_index("customer_id")
    assert grades.loc["CLI1", "grade"] == "C"
    assert grades.loc["CLI1", "override"] == "theft-override"
    assert grades.loc["CLI2", "grade"] == plain["grade"]["grade"]


def test_frame_outcomes_of_a_store_without_outcomes_read_no_customer(tmp_path, monkeypatch):
    from engine.events.outcomes import frame_outcomes
    from engine.events.store import EventStore

    store = open_store(str(tmp_path / "ev.sqlite"))
    calls = []
    real = EventStore.outcomes_for_many
    monkeypatch.setattr(EventStore, "outcomes_for_many",
                        lambda self, keys: calls.append(1) or real(self, keys))
    frame = pd.DataFrame({"customer_id": [f"C{i}" for i in range(2000)],
                          "as_of": ["2026-01-31"] * 2000})
    result = frame_outcomes(frame, store)
    # one probe finds no outcome on any of the frame's days: no customer is looked up
    assert calls == [] and result.rows_with_events == 0
    assert result.frame is frame
