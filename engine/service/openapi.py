"""The OpenAPI document as a client generator needs it, finished after FastAPI writes it.

FastAPI writes the paths and the models; this adds what it cannot know:

- ``securitySchemes`` for the two ways to send a key (``bearer`` and the
  ``X-API-Key`` header) and the ``security`` of every route that needs one;
- the ``Idempotency-Key`` header of the two routes that take it;
- the statuses every route can answer (405 and 500 besides its own), each in
  the one error shape (``error_codes`` lists the codes it can carry);
- ``maxItems`` from the service's ``batch_limit`` on both batch bodies, and
  the discriminator on the event ``type``.
"""

from __future__ import annotations

from typing import Any

from engine.errors import EngineError

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
    "schema": {"type": "string", "minLength": 1, "maxLength": 200},
    "description": "Send the same key again to get the first answer of a request, without "
                   "a second decision (within idempotency_window_s). The same key with "
                   "another body is 409 idempotency_conflict.",
    "example": "3f1c0b6e-2f55-4d7c-9a0e-7d1f0c1b2a33",
}
_EVERY_ROUTE = {
    405: "The endpoint does not take this method",
    500: "An unexpected failure (logged; the service keeps serving)",
}
#: Codes answered by the layers in front of the routes (the protocol, routing, validation).
_FRONT_CODES = ("bad_request", "malformed_json", "invalid_host", "unauthorized", "forbidden",
                "not_found", "method_not_allowed", "request_timeout", "payload_too_large",
                "unsupported_media_type", "invalid_request", "invalid_input",
                "unsupported_language", "headers_too_large", "internal_error", "unavailable")


def _subclasses(cls: type) -> list[type]:
    out = []
    for sub in cls.__subclasses__():
        out += [sub, *_subclasses(sub)]
    return out


def error_codes() -> list[str]:
    """Every ``code`` an answer of the service can carry."""
    codes = {c.code for c in _subclasses(EngineError)} | set(_FRONT_CODES)
    return sorted(codes)



def finish_document(document: dict[str, Any], *, batch_limit: int,
                    metrics_role: str | None) -> dict[str, Any]:
    """Add security, headers, statuses, error codes and limits to FastAPI's document."""
    components = document.setdefault("components", {})
    components["securitySchemes"] = _SCHEMES
    schemas = components.setdefault("schemas", {})
    for path, operations in document.get("paths", {}).items():
        for method, operation in operations.items():
            if path not in _OPEN or (path == "/metrics" and metrics_role):
                operation["security"] = _SECURITY
            if (method, path) in _IDEMPOTENT:
                operation.setdefault("parameters", []).append(_IDEMPOTENCY_HEADER)
            responses = operation.setdefault("responses", {})
            for status, text in _EVERY_ROUTE.items():
                responses.setdefault(str(status), {"description": text, "content": {
                    "application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}}})
    _limit_batches(document, schemas, batch_limit)
    return document


def _limit_batches(document: dict[str, Any], schemas: dict[str, Any], batch_limit: int) -> None:
    if "BatchRequest" in schemas:
        schemas["BatchRequest"]["properties"]["records"]["maxItems"] = batch_limit
    events = (document.get("paths", {}).get("/v1/events", {}).get("post", {})
              .get("requestBody", {}).get("content", {}).get("application/json", {})
              .get("schema", {}))
    for choice in events.get("oneOf", []):
        if choice.get("type") == "array":
            choice["maxItems"] = batch_limit
