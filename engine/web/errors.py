"""The one error shape of the service and the workbench, and the handlers that produce it.

Every 4xx and 5xx answer, whoever raises it (a handler, request validation,
the body guard, routing, an unexpected bug), is this JSON::

    {"status": 422, "code": "invalid_request", "message": "...",
     "details": [{"path": "records.3.monthly_kwh", "value": -1, "message": "..."}]}

``details`` is a list (possibly empty) whose items always carry ``path``: the
field path inside the request (dotted, list positions as numbers), or
``file:line`` for table problems. The service's own errors extend
``engine.errors``::

    EngineError
    └── ServiceError                 HTTP 400
        ├── BadRequestBody           400: malformed JSON, NaN/Infinity, too deep
        ├── Unauthorized             401: no API key, or an unknown one
        ├── Forbidden                403: the key lacks the role
        ├── PayloadTooLarge          413: body above max_body_bytes
        ├── UnsupportedMediaType     415: not application/json (or multipart for tables)
        └── BatchTooLarge            422: more records than batch_limit
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from engine.errors import EngineError, closest, did_you_mean
from engine.records import ABSENT_FOR_CLASS, FIELDS, REQUIRED_FOR_CLASS
from engine.web.redact import hidden

__all__ = [
    "BadRequestBody",
    "BatchTooLarge",
    "Forbidden",
    "PayloadTooLarge",
    "ServiceError",
    "Unauthorized",
    "UnsupportedMediaType",
    "bug_answer",
    "empty_body",
    "engine_error_answer",
    "engine_error_response",
    "error_body",
    "error_response",
    "install_handlers",
    "short_value",
    "validation_details",
]

log = logging.getLogger("gridcredit.service")

_STATUS_CODES = {400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found",
                 405: "method_not_allowed", 406: "not_acceptable", 408: "request_timeout",
                 409: "conflict", 413: "payload_too_large", 415: "unsupported_media_type",
                 422: "invalid_request", 429: "too_many_requests", 431: "headers_too_large",
                 500: "internal_error", 503: "unavailable"}


class ServiceError(EngineError):
    """A request the service refuses before the engine sees it."""

    http_status = 400
    code = "bad_request"

    def __init__(self, message: str, details: list[dict[str, Any]] | None = None) -> None:
        super().__init__(message)
        self._details = details or []

    def details(self) -> list[dict[str, Any]]:
        return self._details


class BadRequestBody(ServiceError):
    code = "malformed_json"


def empty_body() -> BadRequestBody:
    """The refusal of a request that needs a JSON body and sent none."""
    return BadRequestBody("empty body: send a JSON object (Content-Type: application/json)",
                          [{"path": "", "value": "", "message": "empty body"}])


class Unauthorized(ServiceError):
    http_status = 401
    code = "unauthorized"


class Forbidden(ServiceError):
    http_status = 403
    code = "forbidden"


class PayloadTooLarge(ServiceError):
    http_status = 413
    code = "payload_too_large"


class UnsupportedMediaType(ServiceError):
    http_status = 415
    code = "unsupported_media_type"


class BatchTooLarge(ServiceError):
    http_status = 422
    code = "batch_too_large"


MAX_MESSAGE = 1000


def error_body(status: int, code: str, message: str,
               details: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """The one error shape; every detail gets a ``path``, a ``value`` and a ``message``,
    and whatever echoes the request is shortened, so no answer repeats a huge input."""
    return {"status": status, "code": code, "message": _short(hidden(message), MAX_MESSAGE),
            "details": [_with_path(d, message) for d in details or []]}


def error_response(status: int, code: str, message: str,
                   details: list[dict[str, Any]] | None = None,
                   headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(error_body(status, code, message, details), status_code=status,
                        headers=headers)


def engine_error_response(exc: EngineError) -> JSONResponse:
    headers = {"WWW-Authenticate": "Bearer"} if isinstance(exc, Unauthorized) else None
    return error_response(exc.http_status, exc.code, exc.message, exc.details(), headers)


def _with_path(detail: dict[str, Any], message: str) -> dict[str, Any]:
    """A detail with its path, value and message (the error's own when it has none)."""
    if "path" in detail:
        path = str(detail["path"])
    elif detail.get("field") is not None:
        path = str(detail["field"])
    elif detail.get("file"):
        path = f"{detail['file']}:{detail['line']}" if detail.get("line") else str(detail["file"])
    else:
        path = ""
    out = {**detail, "path": _short(path, 200), "value": short_value(detail.get("value"))}
    said = out.get("message") or out.get("rule") or message
    out["message"] = _short(hidden(str(said)), MAX_MESSAGE)
    return out


def _short(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[:limit - 3] + "..."


_SPECS = {f.name: f for f in FIELDS}


def validation_details(errors: list[dict[str, Any]], strip: int = 0) -> list[dict[str, Any]]:
    """pydantic errors as details: field path, the value sent and the field's rule in words.

    ``strip`` drops leading location parts (FastAPI's ``body``).
    """
    out = []
    for err in errors:
        loc = [str(p) for p in err.get("loc", ())][strip:]
        message = str(err.get("msg", ""))
        value = err.get("input")
        if err.get("type") == REQUIRED_FOR_CLASS:
            loc, value = [*loc, err["ctx"]["field"]], None
        elif err.get("type") == ABSENT_FOR_CLASS:
            loc, value = [*loc, err["ctx"]["field"]], err["ctx"]["value"]
        elif err.get("type") == "extra_forbidden":
            message = "unknown field" + did_you_mean(closest(loc[-1] if loc else "", _SPECS))
        elif err.get("type") == "missing":
            message, value = "required field is missing", None
        elif loc and loc[-1] in _SPECS:
            message = f"{_SPECS[loc[-1]].rule()} ({message})"
        out.append({"path": ".".join(loc), "value": short_value(value), "message": message})
    return out


def short_value(value: Any) -> Any:
    """A value as JSON can carry it, shortened so an error never echoes a huge input."""
    if isinstance(value, dict | list):
        text = repr(value)
        return text if len(text) <= 200 else text[:197] + "..."
    if isinstance(value, float) and (value != value or abs(value) == float("inf")):
        return str(value)
    if value is not None and not isinstance(value, bool | int | float | str):
        value = str(value)
    if isinstance(value, str) and len(value) > 200:
        return value[:197] + "..."
    return value


def engine_error_answer(exc: EngineError) -> JSONResponse:
    """What a route answers for an ``EngineError``; a server-side one is logged too."""
    if exc.http_status >= 500:
        log.error("%s: %s", exc.code, exc.message)
    return engine_error_response(exc)


def bug_answer() -> JSONResponse:
    """What a route answers for an unexpected exception (logged with its traceback)."""
    log.exception("unexpected error")
    return error_response(500, "internal_error",
                          "the service failed on this request; it keeps serving, and the "
                          "error is in its log", [])


def install_handlers(app: FastAPI) -> None:
    """Route every error through ``error_body``."""

    @app.exception_handler(EngineError)
    async def _engine(_request: Request, exc: EngineError) -> JSONResponse:
        return engine_error_answer(exc)

    @app.exception_handler(RequestValidationError)
    async def _validation(_request: Request, exc: RequestValidationError) -> JSONResponse:
        details = validation_details(list(exc.errors()))
        for d in details:
            if d["path"].startswith("body."):
                d["path"] = d["path"][len("body."):]
            elif d["path"] == "body":
                d["path"] = ""
        if any(d["path"] == "" and d["message"] == "required field is missing"
               for d in details):
            return engine_error_response(empty_body())
        first = details[0] if details else {"path": "", "message": "invalid request"}
        where = f"'{first['path']}'" if first["path"] else "the request body"
        return error_response(422, "invalid_request", f"{where}: {first['message']}", details)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = _STATUS_CODES.get(exc.status_code, "http_error")
        message = exc.detail if isinstance(exc.detail, str) else code.replace("_", " ")
        if exc.status_code == 404 and message == "Not Found":
            message = "no such endpoint: see /docs for the routes this service offers"
        if exc.status_code == 405:
            message = "method not allowed on this endpoint: see /docs"
        return error_response(exc.status_code, code, message, headers=exc.headers)

    @app.exception_handler(Exception)
    async def _bug(_request: Request, exc: Exception) -> JSONResponse:
        return bug_answer()
