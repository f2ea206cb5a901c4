"""Property-based requests generated from the service's own OpenAPI document (schemathesis):
whatever the schema allows or nearly allows, the answer is never a 5xx, and every 4xx is in
the one error shape."""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.service import Settings, create_app
from engine.service.auth import add_key

ERROR_KEYS = {"status", "code", "message", "details"}
# Reloading runs every static check (seconds each) and changes nothing the fuzzing reaches.
SKIPPED = {"/v1/tables:reload"}


@pytest.fixture(scope="module")
def service(engine, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("schema")
    key = add_key(tmp / "keys.yaml", "ops", ["decide", "audit", "admin"])
    app = create_app(Settings.load(env={}, db=str(tmp / "log.sqlite"),
                                   keys_file=tmp / "keys.yaml"), engine=engine)
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    operations = [r.ok() for r in schema.get_all_operations()]
    return key, {f"{op.method.upper()} {op.path}": op for op in operations
                 if op.path not in SKIPPED}


def test_every_route_is_fuzzed(service):
    _key, operations = service
    assert set(operations) >= {"POST /v1/decisions", "POST /v1/decisions:batch",
                               "GET /v1/decisions/{decision_id}", "POST /v1/tables:validate"}


@pytest.mark.parametrize("operation", [
    "POST /v1/decisions", "POST /v1/decisions:batch", "GET /v1/decisions/{decision_id}",
    "GET /v1/decisions/{decision_id}/explanation", "GET /v1/tables", "POST /v1/tables:validate",
    "GET /healthz", "GET /metrics",
])
def test_no_server_errors_and_one_error_shape(service, operation):
    key, operations = service
    op = operations[operation]
    examples = 10 if operation == "POST /v1/tables:validate" else 25

    @given(data=st.data())
    @settings(max_examples=examples, deadline=None, derandomize=True, database=None,
              suppress_health_check=list(HealthCheck))
    def run(data):
        case = data.draw(op.as_strategy())
        response = case.call(headers={"Authorization": f"Bearer {key}"})
        assert response.status_code < 500, response.text
        if response.status_code >= 400:
            body = response.json()
            assert set(body) == ERROR_KEYS and body["status"] == response.status_code
            assert all("path" in d for d in body["details"])

    run()
