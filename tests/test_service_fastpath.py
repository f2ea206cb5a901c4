"""The decision fast path answers as the route does, and passes every other request on."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from engine.audit.log import open_log
from engine.audit.store import AuditStoreError
from engine.service import Settings, create_app
from engine.service import routes as route_module
from engine.service.auth import add_key
from engine.service.fastpath import DecisionFastPath
from tests.factories import synth_records

VOLATILE = ("decision_id", "digest", "timings_ms")


@pytest.fixture(scope="module")
def records() -> list[dict]:
    return synth_records(6, seed=21)


@pytest.fixture
def service(engine, tmp_path):
    keys = tmp_path / "keys.yaml"
    decide, audit = add_key(keys, "billing", ["decide"]), add_key(keys, "auditor", ["audit"])
    settings = Settings.load(env={}, db=str(tmp_path / "log.sqlite"), keys_file=keys)
    with TestClient(create_app(settings, engine=engine)) as client:
        yield client, {"Authorization": f"Bearer {decide}"}, {"X-API-Key": audit}


@pytest.fixture
def route_calls(monkeypatch) -> list[int]:
    """Counts the route's own record parsing: the fast path never reaches it."""
    calls: list[int] = []
    original = route_module._record

    async def counted(request, state):
        calls.append(1)
        return await original(request, state)

    monkeypatch.setattr(route_module, "_record", counted)
    return calls


def _content(answer) -> dict:
    return {k: v for k, v in answer.json().items() if k not in VOLATILE}


def test_the_fast_path_answers_as_the_route_does(service, records, route_calls, monkeypatch,
                                                 tmp_path):
    client, decide, _ = service
    fast = client.post("/v1/decisions", json=records[0], headers=decide)
    assert fast.status_code == 200 and route_calls == []
    monkeypatch.setattr(DecisionFastPath, "_record", lambda self, scope: None)
    routed = client.post("/v1/decisions", json=records[0], headers=decide)
    assert routed.status_code == 200 and route_calls == [1]
    assert fast.headers["content-type"] == routed.headers["content-type"] == "application/json"
    assert _content(fast) == _content(routed)
    assert fast.json()["grade"]["grade"] == routed.json()["grade"]["grade"]
    with open_log(str(tmp_path / "log.sqlite"), create=False) as log:
        assert log.count() == 2
        for answer in (fast, routed):
            assert log.get(answer.json()["decision_id"]).digest == answer.json()["digest"]
    metrics = client.get("/metrics").text
    assert ('gridcredit_http_requests_total{method="POST",route="/v1/decisions",status="200"} '
            '2.0') in metrics
    grade = fast.json()["grade"]["grade"]
    assert f'gridcredit_decisions_total{{grade="{grade}"}} 2.0' in metrics


def test_every_refusal_is_left_to_the_route(service, records, route_calls):
    client, decide, audit = service
    missing = client.post("/v1/decisions", json=records[1])
    assert missing.status_code == 401 and "no API key" in missing.json()["message"]
    wrong_role = client.post("/v1/decisions", json=records[1], headers=audit)
    assert wrong_role.status_code == 403
    assert "lacks the role 'decide'" in wrong_role.json()["message"]
    bad = client.post("/v1/decisions", json={**records[1], "monthly_kwh": -5}, headers=decide)
    assert bad.status_code == 422 and bad.json()["details"][0]["path"] == "monthly_kwh"
    not_object = client.post("/v1/decisions", json=[records[1]], headers=decide)
    assert not_object.status_code == 422 and not_object.json()["code"] == "invalid_request"
    assert len(route_calls) == 2  # the two with a good key reached the route's parsing


def test_a_log_that_fails_is_answered_503_in_the_one_error_shape(service, records,
                                                                 route_calls, monkeypatch):
    client, decide, _ = service
    state = client.app.state.service

    async def down(decision):
        raise AuditStoreError("audit log sqlite:///x: cannot append: disk I/O error")

    monkeypatch.setattr(state.writer, "append", down)
    answer = client.post("/v1/decisions", json=records[2], headers=decide)
    assert answer.status_code == 503 and route_calls == []
    assert answer.json() == {"status": 503, "code": "audit_store_unavailable",
                             "message": "audit log sqlite: cannot append: disk I/O error",
                             "details": []}
