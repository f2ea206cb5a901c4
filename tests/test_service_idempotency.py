"""Idempotency-Key on POST /v1/decisions and POST /v1/events: a retry gets the first answer
and logs nothing new; the same key with another body is 409; keys outlive the process."""

from __future__ import annotations

import json
import time

import httpx
import pytest
from fastapi.testclient import TestClient

from engine.audit.log import open_log
from engine.records import SAMPLE_RECORD
from engine.service import Settings, create_app
from engine.service.auth import add_key
from tests.served import free_port, start_serve, stop_serve

BILL = {"type": "bill_issued", "event_id": "E-idem-1", "customer_id": "C0001",
        "time": "2026-10-01T08:00:00Z", "bill_id": "B-idem-1", "amount": 40.5}


@pytest.fixture
def setup(tmp_path):
    keys = tmp_path / "keys.yaml"
    key = add_key(keys, "ops", ["decide", "audit"])
    other = add_key(keys, "other", ["decide"])
    settings = Settings.load(env={}, db=str(tmp_path / "log.sqlite"), keys_file=keys)
    return settings, {"Authorization": f"Bearer {key}"}, {"Authorization": f"Bearer {other}"}


def _rows(settings) -> int:
    with open_log(settings.db, create=False) as log:
        return log.verify().rows


def test_a_retried_decision_returns_the_first_answer_and_logs_once(setup, engine):
    settings, key, other = setup
    with TestClient(create_app(settings, engine=engine)) as client:
        first = client.post("/v1/decisions", json=SAMPLE_RECORD,
                            headers={**key, "Idempotency-Key": "k-1"})
        reordered = json.dumps(dict(reversed(list(SAMPLE_RECORD.items()))))
        again = client.post("/v1/decisions", content=reordered,
                            headers={**key, "Idempotency-Key": "k-1",
                                     "Content-Type": "application/json"})
        assert first.status_code == again.status_code == 200
        assert again.content == first.content
        assert again.headers["idempotent-replayed"] == "true"
        changed = client.post("/v1/decisions", json={**SAMPLE_RECORD, "monthly_kwh": 1.0},
                              headers={**key, "Idempotency-Key": "k-1"})
        assert changed.status_code == 409
        assert changed.json()["code"] == "idempotency_conflict"
        assert changed.json()["details"][0]["value"] == "k-1"
        # another API key's same value is its own request
        theirs = client.post("/v1/decisions", json=SAMPLE_RECORD,
                             headers={**other, "Idempotency-Key": "k-1"})
        assert theirs.status_code == 200
        assert theirs.json()["decision_id"] != first.json()["decision_id"]
        plain = client.post("/v1/decisions", json=SAMPLE_RECORD, headers=key)
        assert plain.json()["decision_id"] != first.json()["decision_id"]
        bad = client.post("/v1/decisions", json=SAMPLE_RECORD,
                          headers={**key, "Idempotency-Key": "x" * 300})
        assert bad.status_code == 400
    assert _rows(settings) == 3
    # a restart remembers the key: the log database holds it
    with TestClient(create_app(settings, engine=engine)) as client:
        after = client.post("/v1/decisions", json=SAMPLE_RECORD,
                            headers={**key, "Idempotency-Key": "k-1"})
        assert after.content == first.content
    assert _rows(settings) == 3


def test_a_retried_event_is_answered_as_the_first_time(setup, engine):
    settings, key, _other = setup
    with TestClient(create_app(settings, engine=engine)) as client:
        first = client.post("/v1/events", json=BILL, headers={**key, "Idempotency-Key": "e-1"})
        again = client.post("/v1/events", json=BILL, headers={**key, "Idempotency-Key": "e-1"})
        assert first.status_code == again.status_code == 201
        assert again.content == first.content
        without = client.post("/v1/events", json=BILL, headers=key)
        assert without.status_code == 409 and without.json()["code"] == "duplicate_event"
        listed = client.post("/v1/events", json=[BILL], headers={**key, "Idempotency-Key": "e-1"})
        assert listed.status_code == 409 and listed.json()["code"] == "idempotency_conflict"


def test_a_key_older_than_the_window_is_forgotten(setup, engine, tmp_path):
    settings, key, _other = setup
    import dataclasses

    short = dataclasses.replace(settings, idempotency_window_s=1)
    with TestClient(create_app(short, engine=engine)) as client:
        first = client.post("/v1/decisions", json=SAMPLE_RECORD,
                            headers={**key, "Idempotency-Key": "w"})
        time.sleep(1.2)
        later = client.post("/v1/decisions", json=SAMPLE_RECORD,
                            headers={**key, "Idempotency-Key": "w"})
        assert later.json()["decision_id"] != first.json()["decision_id"]


@pytest.mark.slow
def test_retries_across_two_workers_log_one_decision(tmp_path):
    keys = tmp_path / "keys.yaml"
    key = add_key(keys, "ops", ["decide", "audit"])
    db = tmp_path / "log.sqlite"
    port = free_port()
    server = start_serve(["--workers", "2"], port,
                         {"GRIDCREDIT_KEYS": str(keys), "GRIDCREDIT_DB": str(db)})
    try:
        pids, answers = set(), set()
        deadline = time.monotonic() + 120
        headers = {"Authorization": f"Bearer {key}", "Idempotency-Key": "retry-1"}
        while (len(pids) < 2 or len(answers) < 1) and time.monotonic() < deadline:
            with httpx.Client(base_url=f"http://127.0.0.1:{port}") as client:  # new connection
                pids.add(client.get("/healthz").json()["pid"])
                answer = client.post("/v1/decisions", json=SAMPLE_RECORD, headers=headers,
                                     timeout=30)
                assert answer.status_code == 200
                answers.add(answer.content)
        for _ in range(10):
            with httpx.Client(base_url=f"http://127.0.0.1:{port}") as client:
                answers.add(client.post("/v1/decisions", json=SAMPLE_RECORD, headers=headers,
                                        timeout=30).content)
        assert len(pids) == 2 and len(answers) == 1
    finally:
        stop_serve(server)
    with open_log(str(db), create=False) as log:
        assert log.verify().rows == 1


def test_keys_expire_are_listed_with_last_use_and_revoked(tmp_path, engine):
    import datetime as dt

    from typer.testing import CliRunner

    from engine.cli import app

    runner = CliRunner()
    keys = tmp_path / "keys.yaml"
    tomorrow = (dt.datetime.now(dt.UTC).date() + dt.timedelta(days=1)).isoformat()
    made = runner.invoke(app, ["keys", "add", "billing", "--role", "decide", "--expires",
                               tomorrow, "--keys", str(keys)])
    assert made.exit_code == 0, made.output
    key = made.stdout.strip()
    past = runner.invoke(app, ["keys", "add", "old", "--role", "decide", "--expires",
                               "2020-01-01", "--keys", str(keys)])
    assert past.exit_code == 2 and "give today or a later date" in past.stderr
    settings = Settings.load(env={}, db=str(tmp_path / "log.sqlite"), keys_file=keys,
                             metrics_role="audit")
    with TestClient(create_app(settings, engine=engine)) as client:
        assert client.post("/v1/decisions", json=SAMPLE_RECORD,
                           headers={"X-API-Key": key}).status_code == 200
        assert client.get("/metrics").status_code == 401
        assert client.get("/metrics", headers={"X-API-Key": key}).status_code == 403
    listed = runner.invoke(app, ["keys", "list", "--keys", str(keys)])
    assert listed.exit_code == 0
    line = next(x for x in listed.stdout.splitlines() if x.startswith("billing"))
    assert tomorrow in line and "never" not in line and key not in listed.stdout
    gone = runner.invoke(app, ["keys", "revoke", "billing", "--keys", str(keys)])
    assert gone.exit_code == 0
    missing = runner.invoke(app, ["keys", "revoke", "billing", "--keys", str(keys)])
    assert missing.exit_code == 2 and "no key named 'billing'" in missing.stderr
    assert "billing" not in runner.invoke(app, ["keys", "list", "--keys", str(keys)]).stdout


def test_an_expired_key_is_refused_with_its_date(tmp_path, engine):
    import datetime as dt

    from engine.service.auth import KeyStore

    keys = tmp_path / "keys.yaml"
    key = add_key(keys, "temp", ["decide"], dt.datetime.now(dt.UTC).date())
    store = KeyStore(keys)
    found = store.lookup(key)
    assert found is not None and not found.expired(dt.datetime.now(dt.UTC).date())
    assert found.expired(dt.datetime.now(dt.UTC).date() + dt.timedelta(days=1))


def test_the_openapi_document_describes_keys_retries_and_limits(setup, engine):
    settings, _key, _other = setup
    with TestClient(create_app(settings, engine=engine)) as client:
        document = client.get("/openapi.json").json()
    assert set(document["components"]["securitySchemes"]) == {"bearer", "apiKey"}
    assert document["components"]["securitySchemes"]["apiKey"]["name"] == "X-API-Key"
    decide = document["paths"]["/v1/decisions"]["post"]
    assert decide["security"] == [{"bearer": []}, {"apiKey": []}]
    assert "Idempotency-Key" in [p["name"] for p in decide["parameters"]]
    assert "security" not in document["paths"]["/healthz"]["get"]
    assert {"405", "500"} <= set(document["paths"]["/v1/tables"]["get"]["responses"])
    records = document["components"]["schemas"]["BatchRequest"]["properties"]["records"]
    assert records["maxItems"] == settings.batch_limit
