"""Property-based requests generated from the service's own OpenAPI document (schemathesis):
whatever the schema allows or nearly allows, the answer is never a 5xx, and every 4xx is in
the one error shape."""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

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


CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance,
          response_schema_conformance]
OPERATIONS = [
    "POST /v1/decisions", "POST /v1/decisions:batch", "GET /v1/decisions/{decision_id}",
    "GET /v1/decisions/{decision_id}/explanation", "GET /v1/tables", "POST /v1/tables:validate",
    "GET /healthz", "GET /metrics", "POST /v1/events", "GET /v1/customers/{customer_id}/events",
    "GET /v1/customers/{customer_id}/collections",
]


def test_every_documented_route_is_checked(service):
    _key, operations = service
    assert set(operations) == set(OPERATIONS)


@pytest.mark.parametrize("operation", OPERATIONS)
def test_routes_conform_to_their_schema_and_answer_one_error_shape(service, operation):
    key, operations = service
    op = operations[operation]
    examples = 10 if operation == "POST /v1/tables:validate" else 25

    @given(data=st.data())
    @settings(max_examples=examples, deadline=None, derandomize=True, database=None,
              suppress_health_check=list(HealthCheck))
    def run(data):
        case = data.draw(op.as_strategy())
        # A generous timeout: a shared, loaded machine must not turn slowness into a failure.
        response = case.call_and_validate(headers={"Authorization": f"Bearer {key}"},
                                          checks=CHECKS, timeout=120)
        if response.status_code >= 400:
            body = response.json()
            assert set(body) == ERROR_KEYS and body["status"] == response.status_code
            assert all("path" in d for d in body["details"])

    run()


def test_docs_page_works_offline(tmp_path):
    from fastapi.testclient import TestClient

    from engine.service import Settings, create_app

    app = create_app(Settings.load(env={}, db=str(tmp_path / "docs.sqlite")))
    with TestClient(app) as client:
        page = client.get("/docs")
        assert page.status_code == 200
        assert "/static-offline-docs/swagger-ui-bundle.js" in page.text
        assert "cdn" not in page.text.lower() and "https://" not in page.text
        script = client.get("/static-offline-docs/swagger-ui-bundle.js")
        assert script.status_code == 200 and len(script.content) > 100_000
        assert client.get("/static-offline-docs/swagger-ui.css").status_code == 200


def test_openapi_documents_every_record_field_with_unit_and_range():
    from engine.records import FIELDS, SAMPLE_RECORD, CustomerRecord

    schema = CustomerRecord.model_json_schema()
    for spec in FIELDS:
        prop = schema["properties"][spec.name]
        assert prop["description"].startswith(spec.description)
        assert prop["x-unit"] == spec.unit
        if spec.ge is not None:
            assert f"Range: {spec.ge:g} to" in prop["description"]
    assert schema["examples"] == [SAMPLE_RECORD]
