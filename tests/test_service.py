"""The HTTP decision service: decisions logged before the answer, one error shape, API-key
roles, atomic table reload, metrics and OpenAPI. The log tests run on SQLite and on a real
PostgreSQL server (``tests.pg``)."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

from engine import synth
from engine.audit.log import open_log
from engine.decider import load
from engine.service import Settings, create_app
from engine.service.auth import add_key
from tests.factories import plain_record, project_copy
from tests.pg import postgres_server  # noqa: F401

ROOT = Path(__file__).resolve().parent.parent
ERROR_KEYS = {"status", "code", "message", "details"}


def _plain(row: dict) -> dict:
    return plain_record(row)


@pytest.fixture(scope="module")
def records() -> list[dict]:
    frame = synth.generate(60, seed=11).drop(columns=["default_12m"])
    return [_plain(r) for r in frame.to_dict(orient="records")]


@pytest.fixture(scope="module")
def keys(tmp_path_factory) -> dict:
    path = tmp_path_factory.mktemp("keys") / "keys.yaml"
    return {"file": path,
            "all": add_key(path, "ops", ["decide", "audit", "admin"]),
            "decide": add_key(path, "billing", ["decide"]),
            "audit": add_key(path, "auditor", ["audit"])}


def _auth(key: str) -> dict:
    return {"Authorization": f"Bearer {key}"}


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request, tmp_path) -> str:
    if request.param == "sqlite":
        return str(tmp_path / "decisions.sqlite")
    server = request.getfixturevalue("postgres_server")
    return server.create_database("svc")


@pytest.fixture
def make_client(engine, keys, tmp_path):
    clients = []

    def make(db: str | None = None, engine_=None, **settings) -> TestClient:
        s = Settings.load(env={}, db=db or str(tmp_path / "log.sqlite"),
                          keys_file=keys["file"], **settings)
        client = TestClient(create_app(s, engine=engine_ or engine))
        client.__enter__()
        clients.append(client)
        return client

    yield make
    for c in clients:
        c.__exit__(None, None, None)


@pytest.fixture
def client(make_client) -> TestClient:
    return make_client()


# ---------------------------------------------------------------- decisions and the log

def test_decision_is_logged_read_back_and_explained(make_client, db_url, keys, records):
    client = make_client(db_url)
    answer = client.post("/v1/decisions", json=records[0], headers=_auth(keys["decide"]))
    assert answer.status_code == 200
    decision = answer.json()
    assert decision["customer_id"] == records[0]["customer_id"]
    assert decision["grade"]["grade"] in ("AAA", "AA", "A", "B", "C")
    got = client.get(f"/v1/decisions/{decision['decision_id']}", headers=_auth(keys["audit"]))
    assert got.status_code == 200 and got.json()["digest"] == decision["digest"]
    for fmt, media in [("text", "text/plain"), ("md", "text/markdown"), ("html", "text/html")]:
        text = client.get(f"/v1/decisions/{decision['decision_id']}/explanation",
                          params={"format": fmt}, headers=_auth(keys["audit"]))
        assert text.status_code == 200 and text.headers["content-type"].startswith(media)
        assert records[0]["customer_id"] in text.text
    with open_log(db_url, create=False) as log:
        report = log.verify()
    assert report.ok and report.rows == 1


def test_batch_answers_each_item_and_logs_the_decided_ones(make_client, db_url, keys, records):
    client = make_client(db_url)
    bad = {**records[2], "monthly_kwh": -5.0}
    answer = client.post("/v1/decisions:batch", json={"records": [records[1], bad, records[3]]},
                         headers=_auth(keys["decide"]))
    assert answer.status_code == 200
    body = answer.json()
    assert (body["decided"], body["refused"]) == (2, 1)
    assert [i["ok"] for i in body["items"]] == [True, False, True]
    error = body["items"][1]["error"]
    assert set(error) == ERROR_KEYS and error["status"] == 422
    assert error["details"][0]["path"] == "records.1.monthly_kwh"
    assert error["details"][0]["value"] == -5.0
    with open_log(db_url, create=False) as log:
        assert log.count() == 2 and log.verify().ok


def test_unknown_decision_id_is_404_in_the_error_shape(client, keys):
    answer = client.get("/v1/decisions/nope-123", headers=_auth(keys["audit"]))
    assert answer.status_code == 404
    assert answer.json()["code"] == "decision_not_found"
    assert set(answer.json()) == ERROR_KEYS


def test_concurrent_requests_all_decided_in_one_valid_chain(client, keys, records):
    app = client.app

    async def fire() -> list[httpx.Response]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://svc") as c:
            return await asyncio.gather(*[
                c.post("/v1/decisions", json=r, headers=_auth(keys["decide"]))
                for r in records[:40]])

    answers = asyncio.run(fire())
    assert [a.status_code for a in answers] == [200] * 40
    assert len({a.json()["decision_id"] for a in answers}) == 40
    report = app.state.service.log.verify()
    assert report.ok and report.rows == 40


# ---------------------------------------------------------------- one error shape

def test_error_shape_is_pinned(client, keys, records):
    answer = client.post("/v1/decisions", json={**records[0], "monthly_kwh": "12"},
                         headers=_auth(keys["decide"]))
    assert answer.status_code == 422
    assert answer.json() == {
        "status": 422,
        "code": "invalid_request",
        "message": "'monthly_kwh': must be a number >= 0 and <= 1e+09 (kWh/month) "
                   "(Input should be a valid number)",
        "details": [{"path": "monthly_kwh", "value": "12",
                     "message": "must be a number >= 0 and <= 1e+09 (kWh/month) "
                                "(Input should be a valid number)"}],
    }
    assert client.post("/v1/decisions", json=records[0]).json() == {
        "status": 401, "code": "unauthorized",
        "message": "no API key: send 'Authorization: Bearer <key>' "
                   "(create one with gridcredit keys add NAME --role ROLE)",
        "details": []}


def _big_body() -> bytes:
    return b'{"customer_id": "' + b"x" * (50 * 1024 * 1024) + b'"}'


BAD_INPUTS = {
    "malformed JSON": (b'{"customer_id": ', "application/json", 400, "malformed_json"),
    "wrong content type": (b"customer_id=C1", "application/x-www-form-urlencoded", 415,
                           "unsupported_media_type"),
    "50 MB body": (None, "application/json", 413, "payload_too_large"),
    "deep nesting": (b"[" * 5000 + b"]" * 5000, "application/json", 400, "malformed_json"),
    "NaN": (b'{"monthly_kwh": NaN}', "application/json", 400, "malformed_json"),
    "Infinity": (b'{"monthly_kwh": -Infinity}', "application/json", 400, "malformed_json"),
    "not an object": (b"[1, 2]", "application/json", 422, "invalid_request"),
}


@pytest.mark.parametrize("name", list(BAD_INPUTS))
def test_bad_bodies_get_a_4xx_in_the_error_shape_and_the_service_keeps_serving(
        client, keys, name):
    body, media, status, code = BAD_INPUTS[name]
    answer = client.post("/v1/decisions", content=_big_body() if body is None else body,
                         headers={**_auth(keys["decide"]), "Content-Type": media})
    assert (answer.status_code, answer.json()["code"]) == (status, code)
    assert set(answer.json()) == ERROR_KEYS
    assert client.get("/healthz").status_code == 200


@pytest.mark.parametrize("field,value,path,message", [
    ("monthly_kwh", "691.7", "monthly_kwh", "must be a number"),
    ("overdue_bills_12m", 2.5, "overdue_bills_12m", "must be a whole number"),
    ("customer_class", "farm", "customer_class", "must be one of residential"),
    ("monthly_kwh_", 1.0, "monthly_kwh_", "unknown field (did you mean 'monthly_kwh'?)"),
    ("critical_load", "yes", "critical_load", "must be true or false"),
])
def test_field_errors_name_the_path_and_the_value(client, keys, records, field, value, path,
                                                  message):
    answer = client.post("/v1/decisions", json={**records[0], field: value},
                         headers=_auth(keys["decide"]))
    assert answer.status_code == 422
    detail = next(d for d in answer.json()["details"] if d["path"] == path)
    assert detail["value"] == value and detail["message"].startswith(message)


def test_missing_financial_status_names_the_field(client, keys, records):
    record = next(r for r in records if r["customer_class"] != "residential")
    sent = {k: v for k, v in record.items() if k != "current_ratio"}
    answer = client.post("/v1/decisions", json=sent, headers=_auth(keys["decide"]))
    assert answer.status_code == 422
    assert answer.json()["details"][0] == {
        "path": "current_ratio", "value": None,
        "message": "required for non-residential customers (financial status); supply it"}


def test_batch_over_the_limit_is_refused_whole(make_client, keys, records):
    client = make_client(batch_limit=3)
    answer = client.post("/v1/decisions:batch", json={"records": records[:4]},
                         headers=_auth(keys["decide"]))
    assert answer.status_code == 422
    assert answer.json()["code"] == "batch_too_large"
    assert answer.json()["details"] == [{"path": "records", "value": 4, "message": "at most 3"}]


def test_chunked_body_over_the_limit_is_refused_without_content_length(client, keys):
    def chunks():
        for _ in range(40):
            yield b"x" * 65536

    answer = client.post("/v1/decisions", content=chunks(),
                         headers={**_auth(keys["decide"]), "Content-Type": "application/json"})
    assert answer.status_code == 413 and answer.json()["code"] == "payload_too_large"


# ---------------------------------------------------------------- auth

@pytest.mark.parametrize("method,path,role", [
    ("post", "/v1/decisions", "decide"),
    ("get", "/v1/decisions/abc", "audit"),
    ("get", "/v1/tables", "audit"),
    ("post", "/v1/tables:reload", "admin"),
])
def test_missing_key_401_wrong_role_403(client, keys, method, path, role):
    other = "audit" if role != "audit" else "decide"
    assert getattr(client, method)(path).status_code == 401
    assert getattr(client, method)(path, headers=_auth("gck_not-a-key")).status_code == 401
    refused = getattr(client, method)(path, headers={"X-API-Key": keys[other]})
    assert refused.status_code == 403
    assert f"lacks the role '{role}'" in refused.json()["message"]


def test_keys_are_never_logged(client, keys, records, caplog):
    with caplog.at_level(logging.DEBUG):
        client.post("/v1/decisions", json=records[0], headers=_auth(keys["decide"]))
        client.get("/v1/tables", headers=_auth("gck_wrong-key"))
    text = "\n".join(r.getMessage() for r in caplog.records)
    assert keys["decide"] not in text and "gck_wrong-key" not in text
    stored = keys["file"].read_text()
    assert keys["decide"] not in stored and "sha256" in stored


# ---------------------------------------------------------------- tables

@pytest.fixture(scope="module")
def home(tmp_path_factory) -> Path:
    return project_copy(tmp_path_factory.mktemp("home"), copied=("rules",),
                        linked=("models", "policies"))


def _line_of(text: str, needle: str) -> int:
    """The 1-based line of ``text`` that reads ``needle`` (after its indentation)."""
    return next(n for n, line in enumerate(text.splitlines(), start=1)
                if line.strip() == needle)


def test_reload_swaps_only_a_clean_set_and_keeps_the_old_one_otherwise(
        make_client, keys, records, home):
    client = make_client(engine_=load(home))
    admin = _auth(keys["all"])
    before = client.get("/v1/tables", headers=admin).json()
    grades = home / "rules" / "grades.yaml"
    good = grades.read_text()
    assert "when: {regrade_active: true}" in good
    grades.write_text(good.replace("when: {regrade_active: true}",
                                   "when: {regrade_activ: true}"))
    try:
        refused = client.post("/v1/tables:reload", headers=admin)
        assert refused.status_code == 422
        body = refused.json()
        assert body["code"] == "tables_rejected"
        assert "did you mean 'regrade_active'" in body["message"]
        line = _line_of(good, "when: {regrade_active: true}")
        assert body["details"][0]["path"].endswith(f"grades.yaml:{line}")
        assert client.get("/v1/tables", headers=admin).json() == before
        decided = client.post("/v1/decisions", json=records[0], headers=admin).json()
        assert decided["tables"]["content_hash"] == before["tables_content_hash"]

        grades.write_text(good.replace('version: "2026.12.0"', 'version: "2026.12.1"', 1))
        loaded = client.post("/v1/tables:reload", headers=admin)
        assert loaded.status_code == 200
        assert loaded.json()["tables"]["grades"] == "2026.12.1"
        assert loaded.json()["tables_content_hash"] != before["tables_content_hash"]
        after = client.post("/v1/decisions", json=records[0], headers=admin).json()
        assert after["tables"]["versions"]["grades"] == "2026.12.1"
    finally:
        grades.write_text(good)


def test_reload_refuses_bands_that_overlap(make_client, keys, records, home):
    """An overlap under 'first' is no static finding, but the master scale refuses it."""
    client = make_client(engine_=load(home))
    admin = _auth(keys["all"])
    before = client.get("/v1/tables", headers=admin).json()
    grades = home / "rules" / "grades.yaml"
    good = grades.read_text()
    grades.write_text(good.replace("when: {pd: {ge: 0.015, lt: 0.03}}",
                                   "when: {pd: {ge: 0.01, lt: 0.03}}"))
    try:
        refused = client.post("/v1/tables:reload", headers=admin)
        assert refused.status_code == 422
        body = refused.json()
        assert body["code"] == "tables_rejected"
        rule = _line_of(good, "- id: band-aa")
        assert body["details"][0]["path"].endswith(f"grades.yaml:{rule}")
        assert "band AA [0.01, 0.03) leaves an overlap" in body["message"]
        assert client.get("/v1/tables", headers=admin).json() == before
    finally:
        grades.write_text(good)


def _reload_reaches(first, second, admin: dict, record: dict, grades: Path, good: str,
                    version: str) -> None:
    """A reload in ``first`` of grades at ``version``: ``second`` follows it. Its requests
    go on with the old set while it loads the new one in a thread (``tests/test_reload.py``),
    so it is asked until it answers with the new one."""
    grades.write_text(good.replace('version: "2026.12.0"', f'version: "{version}"', 1))
    assert first.post("/v1/tables:reload", headers=admin).status_code == 200
    deadline = time.monotonic() + 120
    while True:
        after = second.post("/v1/decisions", json=record, headers=admin).json()
        if after["tables"]["versions"]["grades"] == version:
            break
        assert time.monotonic() < deadline, "the other worker never followed the reload"
        time.sleep(0.05)


def test_a_reload_in_one_worker_reaches_the_others(make_client, keys, records, home):
    first, second = make_client(engine_=load(home)), make_client(engine_=load(home))
    admin = _auth(keys["all"])
    grades = home / "rules" / "grades.yaml"
    good = grades.read_text()
    try:
        _reload_reaches(first, second, admin, records[0], grades, good, "2026.12.2")
        assert "when: {regrade_active: true}" in good
        grades.write_text(good.replace("when: {regrade_active: true}",
                                       "when: {regrade_activ: true}"))
        marker = first.app.state.service.settings.marker
        marker.write_text(marker.read_text().replace('"content_hash": "',
                                                     '"content_hash": "0'))
        kept = second.post("/v1/decisions", json=records[0], headers=admin).json()
        assert kept["tables"]["versions"]["grades"] == "2026.12.2"
    finally:
        grades.write_text(good)


def test_without_a_change_counter_a_reload_still_reaches_the_other_workers(
        make_client, keys, home, records, monkeypatch, caplog):
    from engine.service import state

    def refused(path):
        raise state.EngineError(f"change counter {path}: cannot open it (Read-only file system)")

    monkeypatch.setattr(state, "ChangeCounter", refused)
    with caplog.at_level(logging.WARNING, logger="gridcredit.service"):
        first, second = make_client(engine_=load(home)), make_client(engine_=load(home))
    assert "look at the marker's modification time on every request instead" in caplog.text
    grades = home / "rules" / "grades.yaml"
    good = grades.read_text()
    try:
        _reload_reaches(first, second, _auth(keys["all"]), records[0], grades, good,
                        "2026.12.3")
    finally:
        grades.write_text(good)


def test_a_new_key_works_at_once_and_a_removed_one_is_refused_within_a_second(
        client, keys, records, monkeypatch):
    from engine.service import auth

    added = add_key(keys["file"], "late-comer", ["decide"])
    assert client.post("/v1/decisions", json=records[0],
                       headers=_auth(added)).status_code == 200
    kept = keys["file"].read_text()
    entries = auth.yaml.safe_load(kept)["keys"]
    keys["file"].write_text(auth.yaml.safe_dump(
        {"keys": [e for e in entries if e["name"] != "late-comer"]}, sort_keys=False))
    store = client.app.state.keys
    clock = [store.clock()]
    monkeypatch.setattr(store, "clock", lambda: clock[0])
    try:
        assert client.post("/v1/decisions", json=records[0],
                           headers=_auth(added)).status_code == 200, "known: not looked at yet"
        clock[0] += auth.RECHECK_S
        refused = client.post("/v1/decisions", json=records[0], headers=_auth(added))
        assert refused.status_code == 401 and "unknown API key" in refused.json()["message"]
        assert client.post("/v1/decisions", json=records[0],
                           headers=_auth(keys["decide"])).status_code == 200
    finally:
        keys["file"].write_text(kept)


def test_validate_reports_findings_and_changes_nothing(client, keys):
    admin = _auth(keys["all"])
    before = client.get("/v1/tables", headers=admin).json()
    files = {p.name: p.read_text() for p in (ROOT / "rules").glob("*.yaml")}
    files["service-policies.yaml"] = files["service-policies.yaml"].replace(
        "consumption_class", "consumptoin_class", 1)
    answer = client.post("/v1/tables:validate", headers=admin,
                         files=[("files", (n, t, "application/yaml")) for n, t in files.items()])
    assert answer.status_code == 200
    body = answer.json()
    assert body["ok"] is False
    finding = body["findings"][0]
    assert finding["file"] == "service-policies.yaml"
    assert finding["path"].startswith("service-policies.yaml:")
    assert "did you mean 'consumption_class'" in finding["message"]
    assert client.get("/v1/tables", headers=admin).json() == before


def test_validate_refuses_json_and_odd_file_names(client, keys):
    admin = _auth(keys["all"])
    assert client.post("/v1/tables:validate", json={"a": 1},
                       headers=admin).status_code == 415
    odd = client.post("/v1/tables:validate", headers=admin,
                      files=[("files", ("../../etc/passwd", "x", "text/plain"))])
    assert odd.status_code == 422 and "named like grades.yaml" in odd.json()["message"]


# ---------------------------------------------------------------- service surface

def test_metrics_count_requests_and_decisions_by_grade_and_policy(client, keys, records):
    decision = client.post("/v1/decisions", json=records[0], headers=_auth(keys["decide"])).json()
    text = client.get("/metrics").text
    grade = decision["grade"]["grade"]
    assert f'gridcredit_decisions_total{{grade="{grade}"}} 1.0' in text
    for p in decision["policies"]:
        assert f'gridcredit_policies_total{{policy="{p["policy_id"]}"}}' in text
    assert ('gridcredit_http_requests_total{method="POST",route="/v1/decisions",status="200"} '
            '1.0') in text
    assert 'gridcredit_http_request_duration_seconds_bucket{le="0.5",method="POST"' in text


def test_body_guard_refusals_are_counted_under_their_route(client, keys):
    answer = client.post("/v1/decisions", content=b'{"customer_id": NaN}',
                         headers={**_auth(keys["decide"]), "content-type": "application/json"})
    assert answer.status_code == 400
    assert answer.json()["message"] == ("NaN is not a JSON number: send finite numbers only")
    text = client.get("/metrics").text
    assert ('gridcredit_http_requests_total{method="POST",route="/v1/decisions",status="400"}'
            in text)
    assert 'route="<unmatched>"' not in text


def test_openapi_documents_every_record_field_with_its_range(client):
    spec = client.get("/openapi.json").json()
    paths = set(spec["paths"])
    assert {"/v1/decisions", "/v1/decisions:batch", "/v1/decisions/{decision_id}",
            "/v1/decisions/{decision_id}/explanation", "/v1/tables", "/v1/tables:reload",
            "/v1/tables:validate", "/healthz", "/metrics"} <= paths
    for name in ("EnterpriseRecord", "ResidentialRecord"):
        record = spec["components"]["schemas"][name]
        assert record["properties"]["monthly_kwh"]["maximum"] == 1e9
        assert record["properties"]["overdue_bills_12m"]["minimum"] == 0
        assert record["additionalProperties"] is False
    assert client.get("/docs").status_code == 200


def test_routers_plug_in_with_their_own_roles(make_client, keys, tmp_path, monkeypatch):
    module = tmp_path / "gc_extra_routes.py"
    module.write_text(
        "from fastapi import APIRouter, Depends\n"
        "from engine.service.auth import require_role\nrouter = APIRouter()\n\n"
        "@router.get('/v1/extra', dependencies=[Depends(require_role('decide'))])\n"
        "async def extra() -> dict:\n    return {'ok': True}\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr("engine.service.app.PLUGIN_ROUTERS", ("gc_extra_routes",))
    client = make_client()
    assert client.get("/v1/extra").status_code == 401
    assert client.get("/v1/extra", headers=_auth(keys["audit"])).status_code == 403
    assert client.get("/v1/extra", headers=_auth(keys["decide"])).json() == {"ok": True}


def test_settings_read_yaml_then_environment(tmp_path):
    file = tmp_path / "service.yaml"
    file.write_text("batch_limit: 50\ndb: a.sqlite\nkeys_file: k.yaml\n")
    s = Settings.load(file, env={"GRIDCREDIT_DB": "postgresql://u@h/db"})
    assert (s.batch_limit, s.db, s.keys_file) == (50, "postgresql://u@h/db", Path("k.yaml"))
    assert Settings.load(env=s.to_env()) == s
    file.write_text("batch_limit: lots\n")
    with pytest.raises(Exception, match=r"batch_limit = 'lots': give a whole number"):
        Settings.load(file, env={})
    file.write_text("batch_limt: 5\n")
    with pytest.raises(Exception, match=r"unknown service setting\(s\) batch_limt"):
        Settings.load(file, env={})


def test_a_logged_decision_round_trips_as_json(client, keys, records):
    decision = client.post("/v1/decisions", json=records[4], headers=_auth(keys["decide"])).json()
    from engine.decision import Decision

    assert Decision.from_json(json.dumps(decision)).digest == decision["digest"]


def test_sighup_reload_logs_a_refusal_and_keeps_the_active_set(make_client, keys, home, caplog):
    from engine.service.app import reload_on_sighup

    client = make_client(engine_=load(home))
    state = client.app.state.service
    before = state.engine
    grades = home / "rules" / "grades.yaml"
    good = grades.read_text()
    grades.write_text(good.replace("hit_policy: first", "hit_policy: firstt"))
    try:
        with caplog.at_level(logging.ERROR, logger="gridcredit.service"):
            asyncio.run(reload_on_sighup(state))
    finally:
        grades.write_text(good)
    assert state.engine is before
    assert "SIGHUP reload refused, the active tables stay" in caplog.text
    assert 'gridcredit_table_reloads_total{outcome="refused"} 1.0' in client.get("/metrics").text


def test_documented_error_codes_are_the_ones_the_service_answers():
    import re
    from pathlib import Path

    import engine.service.app  # noqa: F401 - the service and its errors
    import engine.service.events_routes  # noqa: F401 - the event routes and theirs
    from engine.errors import EngineError
    from engine.web.errors import _STATUS_CODES

    text = (Path(__file__).resolve().parents[1] / "docs" / "service.md").read_text()
    documented = set(re.findall(r"\| (\d{3}) \| `([a-z_]+)` \|", text))

    def subclasses(cls):
        for sub in cls.__subclasses__():
            yield sub
            yield from subclasses(sub)

    served = ("engine.service", "engine.web", "engine.events", "engine.audit", "engine.decision",
              "engine.governance")
    raised = {(str(c.http_status), c.code) for c in subclasses(EngineError)
              if c.__module__.startswith(served)}
    handlers = {("404", "not_found"), ("405", "method_not_allowed"),
                ("422", "invalid_request"), ("500", "internal_error"), ("422", "invalid_input"),
                ("422", "unsupported_language"), ("408", "request_timeout"),
                ("431", "headers_too_large"), ("503", "unavailable")}
    assert handlers <= {(str(k), v) for k, v in _STATUS_CODES.items()} | {
        ("422", "invalid_request"), ("422", "invalid_input"), ("422", "unsupported_language")}
    assert documented == raised | handlers
