"""The service's routes: decisions, explanations, tables, health and metrics.

Handlers parse, authorise, call the library and return; every refusal is an
``EngineError`` that ``engine.web.errors`` turns into the one error shape.
Decisions are answered with the JSON they were sealed over, written by orjson
(``Decision.as_json``): no second dump of the model, no encoder walk.
A decision is written to the log before its response is sent: the handler
awaits the append, and a log that cannot be written answers 503 instead of
an unlogged decision.
"""

from __future__ import annotations

import os
import re
from pathlib import PurePath
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, File, Header, Path, Query, Request, Response, UploadFile
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from orjson import dumps as orjson_dumps
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from engine import __version__
from engine.decision import Decision
from engine.errors import EngineError, InputError, LanguageError
from engine.language import LANGUAGES, negotiate
from engine.records import CustomerRecord
from engine.service.auth import ApiKey, require_role
from engine.service.idempotency import answer_once
from engine.service.metrics import CONTENT_TYPE
from engine.service.state import ServiceState
from engine.web.errors import BatchTooLarge, empty_body, error_body, validation_details
from engine.web.limits import NO_BODY, parsed_json

__all__ = ["DECIDE_PATH", "VALIDATE_PATH", "decision_answer", "errors", "record_schemas",
           "router"]

DECIDE_PATH = "/v1/decisions"
VALIDATE_PATH = "/v1/tables:validate"
DECISION_ID = r"^[A-Za-z0-9_.:-]{1,128}$"
_TABLE_FILE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,100}\.ya?ml$")
_STATUS_TEXT = {
    400: "Malformed JSON, NaN/Infinity, nesting too deep, or an empty body",
    401: "No API key, or an unknown one",
    403: "The key lacks the role",
    404: "No logged decision has this id",
    409: "An event with this id is already stored",
    413: "Body over the size limit",
    415: "Wrong Content-Type",
    422: "A field broke its rule (details name the path and value)",
    503: "The decision log or the event store cannot be reached",
}


def errors(*codes: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI entries for the error statuses a route can answer, each in the one shape."""
    return {code: {"description": _STATUS_TEXT[code], "content": {"application/json": {
        "schema": {"$ref": "#/components/schemas/ErrorBody"}}}} for code in codes}


_DECIDE_ERRORS = errors(400, 401, 403, 413, 415, 422, 503)
_READ_ERRORS = errors(401, 403, 404, 422, 503)
_ERRORS = errors(400, 401, 403, 413, 415, 422, 503)


def _decision_schema(description: str) -> dict[str, Any]:
    return {"model": Decision, "description": description}


router = APIRouter()

DecideKey = Depends(require_role("decide"))
AuditKey = Depends(require_role("audit"))
AdminKey = Depends(require_role("admin"))


class ErrorDetail(BaseModel):
    model_config = ConfigDict(extra="allow")
    path: str = Field(description="Field path in the request, or file:line for table problems.")


class ErrorBody(BaseModel):
    """The one shape of every 4xx and 5xx answer."""

    status: int
    code: str
    message: str
    details: list[ErrorDetail]


class BatchRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    records: list[Any] = Field(
        description="Customer records (each as for POST /v1/decisions); at most the "
                    "service's batch_limit. An item that is not a valid record fails on "
                    "its own; the others are decided.",
        json_schema_extra={"items": {"$ref": "#/components/schemas/CustomerRecord"}})


class BatchItem(BaseModel):
    index: int
    ok: bool
    decision: dict[str, Any] | None = Field(
        None, json_schema_extra={"anyOf": [{"$ref": "#/components/schemas/Decision"},
                                           {"type": "null"}]})
    error: ErrorBody | None = None


class BatchResponse(BaseModel):
    decided: int
    refused: int
    items: list[BatchItem]


class Validation(BaseModel):
    ok: bool
    version: str | None
    content_hash: str | None
    tables: dict[str, str]
    findings: list[dict[str, Any]]


def record_schemas() -> dict[str, Any]:
    """The OpenAPI component of the posted record, as FastAPI writes a body model's."""
    schema = CustomerRecord.model_json_schema(ref_template="#/components/schemas/{model}")
    components = schema.pop("$defs", {})
    for part in (schema, *components.values()):
        for field in part.get("properties", {}).values():
            if field.get("default", 0) is None:
                del field["default"]
    return {**components, "CustomerRecord": schema}


def _state(request: Request) -> ServiceState:
    return request.app.state.service


def _payload(decision: Decision) -> dict[str, Any]:
    return decision.as_json()


def decision_answer(decision: Decision) -> Response:
    """A decision as answered: the JSON it was sealed over, written by orjson."""
    return Response(orjson_dumps(decision.as_json()), media_type="application/json")


# The record is parsed by the body guard and validated here, once, by the engine's own
# model; the route still documents its body as a CustomerRecord.
_RECORD_BODY = {"requestBody": {"required": True, "content": {"application/json": {
    "schema": {"$ref": "#/components/schemas/CustomerRecord"}}}}}
_NOT_AN_OBJECT = "Input should be a valid dictionary or object to extract fields from"


async def _record(request: Request, state: ServiceState) -> Any:
    """The posted customer record, validated; refusals read as FastAPI's body validation."""
    data = await parsed_json(request, state.settings.max_json_depth)
    if data is NO_BODY:
        raise empty_body()
    if not isinstance(data, dict):
        raise RequestValidationError([{"type": "model_attributes_type", "loc": ("body",),
                                       "msg": _NOT_AN_OBJECT, "input": data}])
    try:
        return CustomerRecord.model_validate(data)
    except ValidationError as exc:
        raise RequestValidationError(exc.errors()) from None


@router.post(DECIDE_PATH, tags=["decisions"], response_model=None,
             responses={200: _decision_schema("The decision, as logged"), **_DECIDE_ERRORS},
             response_class=Response, openapi_extra=_RECORD_BODY,
             summary="Decide for one customer record; logged before the answer")
async def decide(request: Request, key: ApiKey = DecideKey) -> Response:
    state = _state(request)
    record = await _record(request, state)

    async def answer() -> Response:
        return decision_answer(await state.decide_and_log(record))

    return await answer_once(request.app.state.idempotency, request, key.name, DECIDE_PATH,
                             record.model_dump(mode="json"), answer)


@router.post("/v1/decisions:batch", tags=["decisions"], response_model=BatchResponse,
             responses=_DECIDE_ERRORS,
             summary="Decide for many records; each item succeeds or fails on its own")
async def decide_batch(batch: BatchRequest, request: Request,
                       _key: Any = DecideKey) -> BatchResponse:
    state = _state(request)
    limit = state.settings.batch_limit
    if len(batch.records) > limit:
        raise BatchTooLarge(
            f"{len(batch.records)} records in one batch: at most {limit}; split the batch",
            [{"path": "records", "value": len(batch.records), "message": f"at most {limit}"}])
    engine = state.engine
    items, decisions = await run_in_threadpool(_decide_each, state, engine, batch.records)
    if decisions:
        await run_in_threadpool(_log_durably, state.log, decisions)
        state.metrics.count_decisions(decisions)
    return BatchResponse(decided=len(decisions), refused=len(items) - len(decisions),
                         items=items)


def _log_durably(log: Any, decisions: list[Decision]) -> None:
    """Append a batch's decisions in one transaction and flush it before any is answered.

    The log writer defers SQLite's WAL flush to after each commit
    (``DecisionLog.defer_syncs``); a batch appended beside it is flushed the same way.
    """
    log.append_many(decisions)
    log.sync()


def _decide_each(state: ServiceState, engine: Any, records: list[Any]
                 ) -> tuple[list[BatchItem], list[Decision]]:
    items: list[BatchItem] = []
    decisions: list[Decision] = []
    valid: dict[int, Any] = {}
    for i, raw in enumerate(records):
        try:
            valid[i] = CustomerRecord.model_validate(raw)
        except ValidationError:
            continue
    # One read of the event store for the whole batch; unreachable, the batch answers 503.
    found = state.event_store.outcomes_for_many(
        (r.customer_id, r.as_of) for r in valid.values())
    for i, raw in enumerate(records):
        try:
            record = valid[i] if i in valid else CustomerRecord.model_validate(raw)
            decision = state.decide(engine, record, found[(record.customer_id, record.as_of)])
        except ValidationError as exc:
            details = (validation_details(list(exc.errors())) if isinstance(raw, dict) else
                       [{"path": "", "value": raw, "message": _NOT_A_RECORD}])
            for d in details:
                d["path"] = f"records.{i}.{d['path']}" if d["path"] else f"records.{i}"
            items.append(BatchItem(index=i, ok=False, error=ErrorBody(**error_body(
                422, "invalid_request", f"'{details[0]['path']}': {details[0]['message']}",
                details))))
            continue
        except EngineError as exc:
            items.append(BatchItem(index=i, ok=False, error=ErrorBody(**error_body(
                exc.http_status, exc.code, exc.message, exc.details()))))
            continue
        decisions.append(decision)
        items.append(BatchItem(index=i, ok=True, decision=_payload(decision)))
    return items, decisions


_NOT_A_RECORD = "a customer record is a JSON object of field: value"


DecisionId = Annotated[str, Path(pattern=DECISION_ID, description="A logged decision's id.")]


@router.get("/v1/decisions/{decision_id}", tags=["audit"], response_model=None,
            responses={200: _decision_schema("The logged decision"), **_READ_ERRORS},
            response_class=Response, summary="A logged decision, digest checked")
async def get_decision(decision_id: DecisionId, request: Request,
                       _key: Any = AuditKey) -> Response:
    decision = await run_in_threadpool(_state(request).log.get, decision_id)
    return decision_answer(decision)


_MEDIA = {"text": "text/plain; charset=utf-8", "md": "text/markdown; charset=utf-8",
          "html": "text/html; charset=utf-8"}


@router.get("/v1/decisions/{decision_id}/explanation", tags=["audit"], responses={
    **_READ_ERRORS, 200: {"content": {m.split(";")[0]: {"schema": {"type": "string"}}
                                 for m in _MEDIA.values()}}},
    response_class=Response, summary="Plain-language explanation of a logged decision")
async def explain(decision_id: DecisionId, request: Request,
                  format: Literal["text", "md", "html"] = Query("text"),
                  lang: str | None = Query(
                      None, description="zh-CN or en; default: the Accept-Language header, "
                                        "else the project's language. Any other value is "
                                        "422 unsupported_language.",
                      json_schema_extra={"enum": list(LANGUAGES)}),
                  audience: Literal["auditor", "customer"] = Query(
                      "auditor", description="auditor (rules, file:line, versions) or "
                                             "customer (a notice without internal rule ids)."),
                  accept_language: str | None = Header(None),
                  _key: Any = AuditKey) -> Response:
    state = _state(request)
    engine = state.engine
    if lang is not None and lang not in LANGUAGES:
        raise LanguageError(lang, LANGUAGES)
    chosen = lang or negotiate(accept_language, engine.config.language)
    decision = await run_in_threadpool(state.log.get, decision_id)
    text = engine.explain(decision, format, lang=chosen, audience=audience)
    return Response(text, media_type=_MEDIA[format],
                    headers={"Content-Language": chosen, "Vary": "Accept-Language"})


@router.get("/v1/tables", tags=["tables"], responses=errors(401, 403),
            summary="Active table set: versions and content hashes")
async def tables(request: Request, _key: Any = AuditKey) -> dict[str, Any]:
    engine = _state(request).engine
    home = engine.config.home.resolve()
    return {**engine.versions(),
            "files": {t.name: _shown(t.file, home) for t in engine.tables.tables}}


def _shown(file: str, home: Any) -> str:
    try:
        return PurePath(file).relative_to(home).as_posix()
    except ValueError:
        return file


@router.post("/v1/tables:reload", tags=["tables"], responses=errors(401, 403, 422),
             summary="Load the rules folder; only a clean set replaces the active one")
async def reload(request: Request, _key: Any = AdminKey) -> dict[str, Any]:
    engine = await run_in_threadpool(_state(request).reload)
    return {"reloaded": True, **engine.versions()}


@router.post(VALIDATE_PATH, tags=["tables"], response_model=Validation, responses=_ERRORS,
             summary="Check posted table files as a set; nothing changes")
async def validate(request: Request,
                   files: Annotated[list[UploadFile],
                                    File(description="Table files (*.yaml).")],
                   _key: Any = AdminKey) -> Validation:
    contents: dict[str, bytes] = {}
    for f in files:
        name = os.path.basename(f.filename or "")
        if not _TABLE_FILE.match(name):
            raise InputError(f"file {f.filename!r}: give table files named like grades.yaml")
        if name in contents:
            raise InputError(f"file {name!r} posted twice: each table file once")
        contents[name] = await f.read()
    result = await run_in_threadpool(_state(request).validate, contents)
    return Validation(**result.__dict__)


@router.get("/healthz", tags=["service"], summary="Liveness and the active table set")
async def healthz(request: Request) -> dict[str, Any]:
    engine = _state(request).engine
    keys = request.app.state.keys
    keys.refresh_due()
    return {"status": "ok", "engine_version": __version__, "pid": os.getpid(),
            "tables_version": engine.tables.version,
            "tables_content_hash": engine.tables.content_hash,
            "keys_problem": keys.problem}


@router.get("/metrics", tags=["service"], response_class=Response,
            responses={200: {"content": {"text/plain": {"schema": {"type": "string"}}}}},
            summary="Prometheus metrics")
async def metrics(request: Request) -> Response:
    role = _state(request).settings.metrics_role
    if role is not None:
        await require_role(role)(request)
    return Response(_state(request).metrics.render(), media_type=CONTENT_TYPE)
