"""The OpenAPI document as a client generator needs it, finished after FastAPI writes it.

FastAPI writes the paths and the models; this adds what it cannot know:

- ``securitySchemes`` for the two ways to send a key (``bearer`` and the
  ``X-API-Key`` header) and the ``security`` of every route that needs one;
- the ``Idempotency-Key`` header of the two routes that take it;
- the statuses every route can answer besides its own (the protocol's 400,
  408, 431 and 503, routing's 405, 500; 401 and 403 where a key is needed),
  each in the one error shape, whose ``code`` is an enum of
  ``engine.web.codes.ERROR_CODES``;
- ``maxItems`` from the service's ``batch_limit`` on both batch bodies;
- links from a decision to its reading and explanation, and from an event
  to the customer's history (``_LINKS``);
- a description of every field of a decision (``FIELD_TEXT``) and a real
  decision of the shipped sample record as its example.
"""

from __future__ import annotations

from typing import Any

from engine.web.codes import ERROR_CODES

__all__ = ["error_codes", "finish_document"]

_SECURITY = [{"bearer": []}, {"apiKey": []}]
_SCHEMES = {
    "bearer": {"type": "http", "scheme": "bearer",
               "description": "A key made by `gridcredit keys add NAME --role ROLE`."},
    "apiKey": {"type": "apiKey", "in": "header", "name": "X-API-Key",
               "description": "The same key, in the X-API-Key header."},
}
_OPEN = {"/healthz", "/metrics"}
_IDEMPOTENT = {("post", "/v1/decisions"), ("post", "/v1/events")}
_IDEMPOTENCY_HEADER = {
    "name": "Idempotency-Key", "in": "header", "required": False,
    "schema": {"type": "string", "pattern": "^[!-~]{1,200}$"},
    "description": "Send the same key again to get the first answer of a request, without "
                   "a second decision (within idempotency_window_s). The same key with "
                   "another body is 409 idempotency_conflict.",
    "example": "3f1c0b6e-2f55-4d7c-9a0e-7d1f0c1b2a33",
}
_EVERY_ROUTE = {
    400: "A request the service cannot read (`bad_request`) or a Host not in allowed_hosts "
         "(`invalid_host`)",
    405: "The endpoint does not take this method (`method_not_allowed`)",
    408: "The headers did not arrive within header_timeout_s (`request_timeout`)",
    431: "Headers over max_header_bytes or max_headers (`headers_too_large`)",
    500: "An unexpected failure, logged; the service keeps serving (`internal_error`)",
    503: "More than max_connections connections open (`unavailable`)",
}
_KEYED = {401: "No API key, an unknown or an expired one (`unauthorized`)",
          403: "The key lacks the role (`forbidden`)"}
_ERROR_CONTENT = {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}}

#: What a client can do next with an answer (OpenAPI links, which stateful tests follow).
_LINKS: dict[tuple[str, str, str], dict[str, Any]] = {
    ("post", "/v1/decisions", "200"): {
        "GetDecision": {"operationId": "getDecision",
                        "parameters": {"decision_id": "$response.body#/decision_id"},
                        "description": "The logged decision, as answered."},
        "ExplainDecision": {"operationId": "explainDecision",
                            "parameters": {"decision_id": "$response.body#/decision_id"},
                            "description": "The decision in words."},
        "GetCustomerEvents": {"operationId": "getCustomerEvents",
                              "parameters": {"customer_id": "$response.body#/customer_id"},
                              "description": "The customer's stored events."}},
    ("post", "/v1/events", "201"): {
        "GetCustomerEvents": {"operationId": "getCustomerEvents",
                              "parameters": {"customer_id": "$response.body#/customer_id"},
                              "description": "The customer's stored events and outcomes."}},
    ("get", "/v1/decisions/{decision_id}", "200"): {
        "ExplainDecision": {"operationId": "explainDecision",
                            "parameters": {"decision_id": "$response.body#/decision_id"},
                            "description": "The decision in words."}},
}

#: What each part of a decision means, for the models FastAPI writes without descriptions.
FIELD_TEXT: dict[str, dict[str, str]] = {
    "Decision": {
        "decision_id": "The decision's id in the log: GET /v1/decisions/{decision_id}.",
        "customer_id": "The customer, as sent.",
        "customer_class": "residential, commercial, industrial or public.",
        "as_of": "The date the record describes (YYYY-MM-DD).",
        "inputs": "The record as decided: the fields sent, with history filled from the "
                  "customer's payment-event outcomes in force.",
        "score": "The model's score: discriminant z, probability of default and reasons.",
        "grade": "The credit grade and the rule that set it.",
        "segments": "Segment values the segment table set (consumption class, value tier, ...).",
        "policies": "The differentiated service policies granted, each with its rule.",
        "trace": "Every rule that fired, in order, with file:line.",
        "tables": "Versions and content hash of the table set that decided.",
        "timings_ms": "Time spent per stage, in milliseconds.",
        "engine_version": "The engine's version.",
        "digest": "SHA-256 over the decision's canonical JSON, chained in the log.",
        "events": "Payment-event outcomes that fed the decision.",
        "challenger": "The challenger model's score, in shadow (never decides), if one is "
                      "registered.",
    },
    "ScoreOutcome": {
        "model_id": "The model that scored.", "model_sha256": "SHA-256 of its artifact.",
        "z": "The discriminant score (higher = riskier).",
        "pd": "Probability of falling behind on bills within 12 months (0 to 1).",
        "reasons": "Each indicator's contribution to z, largest adverse first.",
    },
    "GradeOutcome": {
        "grade": "The credit grade (AAA best).", "band_grade": "The grade of the PD band alone.",
        "rule_id": "The grade-table rule that set it.",
        "override": "The override that set the grade instead of the band, if any.",
        "file": "The table file.", "line": "The rule's line in it.",
        "description": "The rule's description.", "source": "Where the rule comes from.",
    },
    "PolicyOutcome": {
        "policy_id": "The policy, as in the catalogue.",
        "params": "The policy's parameters, combined over its granting rules.",
        "rule_id": "The rule that granted it.", "table": "Its table.", "file": "The table file.",
        "line": "The rule's line.", "source": "Where the rule comes from.",
        "description": "The rule's description.",
        "grants": "Each granting rule, when several did.",
    },
    "RuleFired": {
        "table": "The table.", "rule_id": "The rule.", "file": "The table file.",
        "line": "The rule's line.", "description": "The rule's description.",
        "source": "Where the rule comes from.", "sets": "The facts the rule set.",
    },
    "TableVersions": {
        "version": "Version of the table set.", "versions": "Version of each table, by name.",
        "content_hash": "SHA-256 over the tables' contents.",
    },
    "Reason": {
        "indicator": "The indicator.", "group": "Its indicator group.",
        "value": "Its value for this customer.",
        "contribution": "Its contribution to z (positive = adverse).",
        "description": "What the indicator measures.",
    },
    "EventOutcome": {
        "kind": "What the events raised (overdue, theft, broken agreement, rebate, ...).",
        "rule_id": "The event rule that raised it.", "reason": "Why, in words.",
        "event_ids": "The events behind it.",
        "valid_from": "First moment it is in force (ISO 8601).",
        "valid_until": "Moment it ends (ISO 8601, exclusive).",
        "amount": "The amount it carries, if any.", "grade": "The grade it sets, if any.",
    },
}


def error_codes() -> list[str]:
    """Every ``code`` an answer of the service can carry: the keys of the one table."""
    return list(ERROR_CODES)


def finish_document(document: dict[str, Any], *, batch_limit: int, metrics_role: str | None,
                    decision_example: dict[str, Any] | None = None) -> dict[str, Any]:
    """Add security, headers, statuses, descriptions, examples and limits to FastAPI's
    document; ``decision_example`` is a real decision, shown as the Decision's example."""
    components = document.setdefault("components", {})
    components["securitySchemes"] = _SCHEMES
    schemas = components.setdefault("schemas", {})
    for path, operations in document.get("paths", {}).items():
        for method, operation in operations.items():
            _finish_operation(path, method, operation, metrics_role)
    _limit_batches(document, schemas, batch_limit)
    for model, fields in FIELD_TEXT.items():
        for name, text in fields.items():
            prop = schemas.get(model, {}).get("properties", {}).get(name)
            if prop is not None:
                prop.setdefault("description", text)
    if decision_example is not None and "Decision" in schemas:
        schemas["Decision"]["examples"] = [decision_example]
    return document


def _finish_operation(path: str, method: str, operation: dict[str, Any],
                      metrics_role: str | None) -> None:
    responses = operation.setdefault("responses", {})
    if path not in _OPEN or (path == "/metrics" and metrics_role):
        operation["security"] = _SECURITY
        for status, text in _KEYED.items():
            responses.setdefault(str(status), {"description": text, "content": _ERROR_CONTENT})
    elif path == "/metrics":
        responses.pop("401", None)
        responses.pop("403", None)
    if (method, path) in _IDEMPOTENT:
        operation.setdefault("parameters", []).append(_IDEMPOTENCY_HEADER)
    for status, text in _EVERY_ROUTE.items():
        responses.setdefault(str(status), {"description": text, "content": _ERROR_CONTENT})
    for parameter in operation.get("parameters", []):
        _plain_optional(parameter)
    for (m, p, status), links in _LINKS.items():
        if (m, p) == (method, path) and status in responses:
            responses[status]["links"] = links


def _plain_optional(parameter: dict[str, Any]) -> None:
    """An optional query parameter with an enum as one string schema, not ``anyOf`` null:
    a query string cannot send null, and a client generator then types it as the enum."""
    schema = parameter.get("schema", {})
    if "enum" in schema and "anyOf" in schema:
        schema.pop("anyOf")
        schema["type"] = "string"


def _limit_batches(document: dict[str, Any], schemas: dict[str, Any], batch_limit: int) -> None:
    if "BatchRequest" in schemas:
        schemas["BatchRequest"]["properties"]["records"]["maxItems"] = batch_limit
    events = (document.get("paths", {}).get("/v1/events", {}).get("post", {})
              .get("requestBody", {}).get("content", {}).get("application/json", {})
              .get("schema", {}))
    for choice in events.get("oneOf", []):
        if choice.get("type") == "array":
            choice["maxItems"] = batch_limit
