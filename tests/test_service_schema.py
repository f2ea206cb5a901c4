"""Schemathesis against a real ``gridcredit serve``, from the document it serves: requests the
schema allows and requests it forbids, then sequences along the document's links (a decision,
then its reading and explanation; an event, then the customer's history), each answer held to
every check: no server error, a documented status, content type and body, forbidden data
refused and allowed data accepted. Every 4xx is in the one error shape.

``GRIDCREDIT_SCHEMA_EXAMPLES`` sets the examples per operation and mode (default 8, for CI);
docs/service.md gives the longer run and its result.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.generation import GenerationMode
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    positive_data_acceptance,
    response_schema_conformance,
    status_code_conformance,
)

from engine.service.auth import add_key
from tests.served import free_port, start_serve, stop_serve

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = int(os.environ.get("GRIDCREDIT_SCHEMA_EXAMPLES", "8"))
ERROR_KEYS = {"status", "code", "message", "details"}
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance,
          response_schema_conformance, negative_data_rejection, positive_data_acceptance]
# Reloading runs every static check (seconds each) and changes nothing the others reach.
SKIPPED = {"/v1/tables:reload"}
OPERATIONS = [
    "POST /v1/decisions", "POST /v1/decisions:batch", "GET /v1/decisions/{decision_id}",
    "GET /v1/decisions/{decision_id}/explanation", "GET /v1/tables", "POST /v1/tables:validate",
    "GET /healthz", "GET /metrics", "POST /v1/events", "GET /v1/customers/{customer_id}/events",
    "GET /v1/customers/{customer_id}/collections",
]
# Refusals of schema-valid requests that no schema can say: an event refused by what the
# store holds (an unknown customer or bill, an event more than 7 days late), and a posted
# table file whose name (not part of a multipart schema) is not a table's.
STATE_REFUSALS = {"POST /v1/events": {"event_rejected"},
                  "POST /v1/tables:validate": {"invalid_input"}}
# Operations with no parameter or body to break.
NO_INPUT = {"GET /healthz", "GET /metrics"}


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("schema")
    keys, port = tmp / "keys.yaml", free_port()
    key = add_key(keys, "ops", ["decide", "audit", "admin"])
    server = start_serve(["--db", str(tmp / "log.sqlite"), "--keys", str(keys),
                          "--workers", "1", "--log-level", "warning"], port,
                         {"GRIDCREDIT_HOME": str(ROOT)})
    try:
        schema = schemathesis.openapi.from_url(f"http://127.0.0.1:{port}/openapi.json",
                                               timeout=60)
        operations = {f"{op.method.upper()} {op.path}": op
                      for op in (r.ok() for r in schema.get_all_operations())
                      if op.path not in SKIPPED}
        yield schema, operations, {"Authorization": f"Bearer {key}"}
    finally:
        stop_serve(server)


def _one_error_shape(response) -> None:
    if response.status_code >= 400:
        body = response.json()
        assert set(body) == ERROR_KEYS and body["status"] == response.status_code
        assert all({"path", "value", "message"} <= set(d) for d in body["details"])


def test_every_documented_route_is_checked(served):
    _schema, operations, _headers = served
    assert set(operations) == set(OPERATIONS)


@pytest.mark.parametrize(("operation", "mode"), [
    (o, m) for o in OPERATIONS for m in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)
    if not (m is GenerationMode.NEGATIVE and o in NO_INPUT)])
def test_routes_conform_to_their_schema_and_answer_one_error_shape(served, operation, mode):
    _schema, operations, headers = served
    op = operations[operation]
    allowed = STATE_REFUSALS.get(operation, set())
    checks = [c for c in CHECKS if not (allowed and c is positive_data_acceptance)]

    @given(data=st.data())
    @settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
              suppress_health_check=list(HealthCheck))
    def run(data):
        case = data.draw(op.as_strategy(generation_mode=mode))
        response = case.call_and_validate(headers=headers, checks=checks, timeout=120)
        _one_error_shape(response)
        if allowed and mode is GenerationMode.POSITIVE and response.status_code == 422:
            assert response.json()["code"] in allowed, response.text

    run()


def test_sequences_along_the_links_conform(served):
    schema, _operations, headers = served
    links = schema.as_state_machine()

    class Sequences(links):  # type: ignore[misc, valid-type]
        def get_call_kwargs(self, case):
            return {"headers": headers, "timeout": 120}

        def validate_response(self, response, case, additional_checks=None, **kwargs):
            allowed = STATE_REFUSALS.get(f"{case.method.upper()} {case.path}", set())
            checks = [c for c in CHECKS if not (allowed and c is positive_data_acceptance)]
            case.validate_response(response, checks=checks, transport_kwargs=kwargs)
            _one_error_shape(response)
            if allowed and response.status_code == 422:
                assert response.json()["code"] in allowed, response.text

    Sequences.run(settings=settings(max_examples=EXAMPLES, deadline=None, database=None,
                                    stateful_step_count=4,
                                    suppress_health_check=list(HealthCheck)))


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
