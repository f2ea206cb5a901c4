"""Event outcomes reach decisions through the real HTTP service (``gridcredit serve``).

A theft finding posted to the service makes the next decision grade C by the
theft override; a replayed run of overdue bills makes a batch decision carry
the habitual-defaulter policies; a full repayment within the window gives the
overdue rebate with its amount. An event store that cannot be reached
answers 503 and logs nothing.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import httpx
import pandas as pd
import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from engine.audit.log import open_log
from engine.cli import app
from engine.records import SAMPLE_RECORD
from engine.service.auth import add_key
from tests.served import free_port, start_serve, stop_serve

ROOT = Path(__file__).resolve().parent.parent
TODAY = dt.datetime.now(dt.UTC).replace(microsecond=0)




@pytest.fixture(scope="module")
def served(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("served")
    keys, db, port = tmp / "keys.yaml", tmp / "decisions.sqlite", free_port()
    key = add_key(keys, "ops", ["decide", "audit", "admin"])
    server = start_serve(["--db", str(db), "--keys", str(keys), "--log-level", "warning"],
                         port, {"GRIDCREDIT_HOME": str(ROOT)})
    base = f"http://127.0.0.1:{port}"
    with httpx.Client(base_url=base, timeout=60,
                      headers={"Authorization": f"Bearer {key}"}) as client:
        yield client, db
    stop_serve(server)


def event(kind: str, event_id: str, customer: str, days_ago: float, **fields) -> dict:
    return {"type": kind, "event_id": event_id, "customer_id": customer,
            "time": (TODAY - dt.timedelta(days=days_ago)).isoformat(), **fields}


def record(customer: str, **changes) -> dict:
    return {**SAMPLE_RECORD, "customer_id": customer, "as_of": TODAY.date().isoformat(),
            **changes}


def test_a_replayed_habitual_defaulter_run_reaches_a_batch_decision(served, tmp_path):
    """First in the module: a history replays before the service's own recent events,
    which would make it too late (limits.late_tolerance_days)."""
    client, db = served
    rows = [event("bill_issued", f"h-b{m}", "HABIT1", 200 - 30 * m, bill_id=f"B{m}",
                  amount=60.0) for m in range(5)]
    rows += [event("bill_overdue", f"h-o{m}", "HABIT1", 180 - 30 * m, bill_id=f"B{m}",
                   penalty=3.0) for m in range(3)]
    file = tmp_path / "history.csv"
    pd.DataFrame(rows).to_csv(file, index=False)
    replayed = CliRunner().invoke(app, ["events", "replay", str(file), "--db", str(db),
                                        "--no-progress", "--synchronous", "FULL"])
    assert replayed.exit_code == 0, replayed.output
    assert "outcome habitual_defaulter: 1" in replayed.output
    answer = client.post("/v1/decisions:batch",
                         json={"records": [record("HABIT1"), record("CLEAN1")]})
    assert answer.status_code == 200, answer.text
    habitual, clean = (item["decision"] for item in answer.json()["items"])
    wanted = {"on_site_inspection", "follow_up_investigation", "late_payment_penalty",
              "security_deposit"}
    assert wanted <= {p["policy_id"] for p in habitual["policies"]}
    assert {p["rule_id"] for p in habitual["policies"]} >= {
        "habitual-defaulter-non-residential"}
    assert [e["kind"] for e in habitual["events"]] == ["habitual_defaulter"]
    assert set(habitual["events"][0]["event_ids"]) == {"h-o0", "h-o1", "h-o2"}
    assert not wanted & {p["policy_id"] for p in clean["policies"]}


def test_a_theft_finding_makes_the_next_decision_grade_c_naming_the_event(served):
    client, _db = served
    before = client.post("/v1/decisions", json=record("THEFT1"))
    assert before.status_code == 200 and before.json()["grade"]["grade"] != "C"
    assert "events" not in before.json()
    for e in (event("bill_issued", "t-b1", "THEFT1", 20, bill_id="B1", amount=300.0),
              event("theft_finding", "t-f1", "THEFT1", 1, reference="INSP-7")):
        assert client.post("/v1/events", json=e).status_code == 201
    answer = client.post("/v1/decisions", json=record("THEFT1"))
    assert answer.status_code == 200, answer.text
    decision = answer.json()
    assert decision["grade"]["grade"] == "C"
    assert decision["grade"]["override"] == "theft-override"
    assert [(e["kind"], e["rule_id"], e["event_ids"]) for e in decision["events"]] == [
        ("theft_override", "theft-override", ["t-f1"])]
    text = client.get(f"/v1/decisions/{decision['decision_id']}/explanation",
                      params={"lang": "en"}).text
    assert "t-f1" in text


def test_a_full_repayment_in_the_window_gives_the_overdue_rebate_with_its_amount(served):
    client, _db = served
    for e in (event("bill_issued", "r-b1", "REPAY1", 7, bill_id="B1", amount=80.0),
              event("bill_overdue", "r-o1", "REPAY1", 5, bill_id="B1", penalty=6.0),
              event("repayment", "r-r1", "REPAY1", 1, bill_id="B1", amount=80.0)):
        assert client.post("/v1/events", json=e).status_code == 201, e
    decision = client.post("/v1/decisions", json=record("REPAY1")).json()
    rebate = next(p for p in decision["policies"] if p["policy_id"] == "overdue_rebate")
    assert rebate["rule_id"] == "prompt-repayment-rebate"
    earned = next(e for e in decision["events"] if e["kind"] == "rebate_earned")
    assert earned["amount"] == 3.0 and earned["event_ids"][-1] == "r-r1"


def test_an_unreachable_event_store_answers_503_and_logs_nothing(engine, tmp_path):
    from engine.service import Settings, create_app

    keys = tmp_path / "keys.yaml"
    key = add_key(keys, "ops", ["decide"])
    log = open_log(str(tmp_path / "log.sqlite"))
    settings = Settings.load(env={}, db="postgresql://nobody:x@127.0.0.1:9/none",
                             keys_file=keys)
    with TestClient(create_app(settings, engine=engine, decision_log=log)) as client:
        headers = {"Authorization": f"Bearer {key}"}
        one = client.post("/v1/decisions", json=record("DOWN1"), headers=headers)
        assert one.status_code == 503, one.text
        assert one.json()["code"] == "audit_store_unavailable"
        assert "event store" in one.json()["message"]
        many = client.post("/v1/decisions:batch", json={"records": [record("DOWN2")]},
                           headers=headers)
        assert many.status_code == 503
    with open_log(str(tmp_path / "log.sqlite"), create=False) as again:
        assert again.count() == 0
