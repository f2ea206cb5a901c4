"""Inputs that once made the service fail with 500: each is now a 4xx in the one error shape,
naming the field and echoing the value sent (shortened where long)."""

from __future__ import annotations

import time

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.records import SAMPLE_RECORD
from engine.service import Settings, create_app
from engine.service.auth import add_key

ERROR_KEYS = {"status", "code", "message", "details"}
BILL = {"type": "bill_issued", "event_id": "E-1", "customer_id": "C0001",
        "time": "2026-10-01T08:00:00Z", "bill_id": "B-1", "amount": 40.5}


@pytest.fixture(scope="module")
def service(engine, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("refusals")
    keys = tmp / "keys.yaml"
    key = add_key(keys, "ops", ["decide", "audit", "admin"])
    app = create_app(Settings.load(env={}, db=str(tmp / "log.sqlite"), keys_file=keys),
                     engine=engine)
    with TestClient(app, raise_server_exceptions=False) as client:
        client.headers["Authorization"] = f"Bearer {key}"
        yield client, keys


def _refused(answer, status: int, code: str) -> dict:
    body = answer.json()
    assert (answer.status_code, body["code"]) == (status, code), body
    assert set(body) == ERROR_KEYS and body["status"] == status
    assert all({"path", "value", "message"} <= set(d) for d in body["details"])
    return body


@pytest.mark.parametrize("time_", ["0001-01-01T00:00:00+14:00", "9999-12-31T23:00:00-23:59"])
def test_an_event_time_that_overflows_in_utc_is_refused_and_only_that_event(service, time_):
    client, _ = service
    one = _refused(client.post("/v1/events", json={**BILL, "time": time_}), 422,
                   "event_rejected")
    assert one["details"][0]["path"] == "time" and one["details"][0]["value"] == time_
    assert "outside the years 1 to 9999 once converted to UTC" in one["message"]
    listed = client.post("/v1/events", json=[{**BILL, "event_id": "E-ovf", "time": time_},
                                             {**BILL, "event_id": f"E-ok-{time_[:4]}",
                                              "bill_id": f"B-{time_[:4]}"}])
    assert listed.status_code == 200
    assert [e["status"] for e in listed.json()["events"]] == ["rejected", "accepted"]


@pytest.mark.parametrize("kind", [{}, [], 5, None])
def test_an_event_type_that_is_not_text_is_refused(service, kind):
    client, _ = service
    answer = client.post("/v1/events", json=[{**BILL, "event_id": "E-t", "type": kind}])
    assert answer.status_code == 200
    (event,) = answer.json()["events"]
    assert event["status"] == "rejected" and event["field"] == "type"
    assert event["reason_code"] in ("unknown_type", "missing_type")


def test_an_epoch_number_is_refused_as_an_event_time(service):
    client, _ = service
    body = _refused(client.post("/v1/events", json={**BILL, "time": 1_790_000_000}), 422,
                    "event_rejected")
    assert body["details"][0]["value"] == 1_790_000_000
    assert "ISO 8601 text" in body["message"]


def test_an_empty_body_is_400_malformed_json(service):
    client, _ = service
    for path in ("/v1/decisions", "/v1/decisions:batch", "/v1/events"):
        _refused(client.post(path, content=b"", headers={"Content-Type": "application/json"}),
                 400, "malformed_json")


def test_a_key_sent_twice_in_one_object_is_refused(service):
    client, _ = service
    raw = b'{"customer_id": "C1", "customer_id": "C2"}'
    body = _refused(client.post("/v1/decisions", content=raw,
                                headers={"Content-Type": "application/json"}), 400,
                    "malformed_json")
    assert body["details"][0]["value"] == "customer_id"
    assert "appears twice" in body["message"]


def test_a_batch_item_that_is_not_an_object_fails_alone(service):
    client, _ = service
    answer = client.post("/v1/decisions:batch", json={"records": [5, None, SAMPLE_RECORD]})
    assert answer.status_code == 200
    body = answer.json()
    assert (body["decided"], body["refused"]) == (1, 2)
    errors = [item["error"] for item in body["items"][:2]]
    assert [e["details"][0]["path"] for e in errors] == ["records.0", "records.1"]
    assert [e["details"][0]["value"] for e in errors] == [5, None]
    assert {e["code"] for e in errors} == {"invalid_request"}


def test_an_unknown_audience_is_invalid_request_and_an_unknown_customer_404(service):
    client, _ = service
    decided = client.post("/v1/decisions", json=SAMPLE_RECORD).json()
    body = _refused(client.get(f"/v1/decisions/{decided['decision_id']}/explanation",
                               params={"audience": "xyz"}), 422, "invalid_request")
    assert body["details"][0]["value"] == "xyz"
    body = _refused(client.get("/v1/customers/NOSUCH/events"), 404, "customer_not_found")
    assert body["details"] == [{"path": "customer_id", "value": "NOSUCH",
                                "message": "no stored events"}]


def test_no_answer_names_the_database_file(service):
    client, _ = service
    body = _refused(client.get("/v1/decisions/NOPE"), 404, "decision_not_found")
    assert "sqlite" in body["message"] and "log.sqlite" not in body["message"]
    assert "/" not in body["message"].split("check the id")[0]


def test_a_slash_redirect_never_names_the_host_sent(service):
    client, _ = service
    answer = client.get("/v1/tables/", headers={"Host": "evil.example"},
                        follow_redirects=False)
    assert "location" not in answer.headers
    assert "evil.example" not in answer.text


def test_a_keys_file_that_fails_to_parse_keeps_the_last_good_keys(service, caplog):
    client, keys = service
    good = keys.read_text()
    try:
        keys.write_text("keys: [")
        time.sleep(1.1)  # past the keys store's recheck interval
        assert client.get("/v1/tables").status_code == 200
        health = client.get("/healthz").json()
        assert health["keys_problem"].startswith("line 1: YAML syntax error")
        assert str(keys) not in health["keys_problem"]
        assert "keys file" in caplog.text and "stay in force" in caplog.text
        no_key = client.get("/v1/tables", headers={"Authorization": ""})
        assert no_key.status_code == 401
    finally:
        keys.write_text(good)
    time.sleep(1.1)
    assert client.get("/healthz").json()["keys_problem"] is None


@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
@given(value=st.one_of(st.text(max_size=3000), st.integers(),
                       st.floats(allow_nan=False, allow_infinity=False), st.none(),
                       st.booleans(), st.lists(st.integers(), max_size=500),
                       st.dictionaries(st.text(max_size=5), st.integers(), max_size=5)),
       field=st.sampled_from(["time", "type", "customer_id", "amount", "bill_id", "event_id"]))
def test_any_value_in_any_event_field_is_answered_in_the_error_shape_or_accepted(
        service, value, field):
    client, _ = service
    answer = client.post("/v1/events", json={**BILL, "event_id": "E-prop", field: value})
    assert answer.status_code < 500
    if answer.status_code >= 400:
        body = answer.json()
        assert set(body) == ERROR_KEYS and len(body["message"]) <= 1000
        assert all(len(repr(d["value"])) <= 210 for d in body["details"])


RESIDENTIAL = dict(SAMPLE_RECORD, customer_class="residential", asset_liability_ratio=None,
                   current_ratio=None, return_on_net_assets=None,
                   loan_repayment_on_schedule_rate=None)


@pytest.mark.parametrize("as_of", ["2026-10-31T00:00:00", "2026-10-31T00:00:00Z",
                                   1793404800, "20261031", "2026-10-31 "])
def test_a_date_is_only_yyyy_mm_dd(service, as_of):
    client, _keys = service
    body = _refused(client.post("/v1/decisions", json=dict(SAMPLE_RECORD, as_of=as_of)),
                    422, "invalid_request")
    assert body["details"][0] == {"path": "as_of", "value": as_of, "message": (
        "must be a date (YYYY-MM-DD) (only YYYY-MM-DD is read as a date: no time of day, "
        "no epoch number)")}
    history = client.get("/v1/customers/C0001/events", params={"as_of": "2026-10-31T00:00"})
    assert _refused(history, 422, "invalid_request")["details"][0]["path"] == "query.as_of"


@given(field=st.sampled_from(["asset_liability_ratio", "current_ratio", "return_on_net_assets",
                              "loan_repayment_on_schedule_rate"]),
       value=st.floats(0, 1))
@settings(max_examples=12, deadline=None, suppress_health_check=list(HealthCheck))
def test_a_residential_record_with_financial_status_is_refused_naming_the_field(
        service, field, value):
    client, _keys = service
    body = _refused(client.post("/v1/decisions", json={**RESIDENTIAL, field: value}),
                    422, "invalid_request")
    assert body["details"] == [{"path": field, "value": value, "message": (
        "absent for residential customers: financial status is asked of commercial, "
        "industrial and public customers only; leave it out or null")}]


def test_residential_financial_status_is_refused_in_a_file_too():
    import pandas as pd

    from engine.recordframe import validate_frame

    frame = pd.DataFrame([RESIDENTIAL, {**RESIDENTIAL, "customer_id": "C0002",
                                        "current_ratio": 1.2}])
    accepted, rejected = validate_frame(frame)
    assert list(accepted["customer_id"]) == ["C0001"]
    assert list(rejected["field"]) == ["current_ratio"]
    assert rejected["reason"].iloc[0].startswith("absent for residential customers")


def test_a_whole_number_may_be_written_2_0_but_not_2_5(service):
    client, _keys = service
    decided = client.post("/v1/decisions", json=dict(SAMPLE_RECORD, overdue_bills_12m=1.0))
    assert decided.status_code == 200 and decided.json()["inputs"]["overdue_bills_12m"] == 1
    body = _refused(client.post("/v1/decisions", json=dict(SAMPLE_RECORD, overdue_bills_12m=1.5)),
                    422, "invalid_request")
    assert body["details"][0]["path"] == "overdue_bills_12m"
