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

import copy
import os
import re
from pathlib import PurePath
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, File, Header, Path, Query, Request, Response, UploadFile
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from orjson import dumps as orjson_dumps
from pydantic import ValidationError

from engine import __version__
from engine.decision import Decision
from engine.errors import EngineError, LanguageError
from engine.explanation import AUDIENCES
from engine.language import LANGUAGES, negotiate
from engine.records import FIELDS, NON_RESIDENTIAL, SAMPLE_RECORD, CustomerRecord
from engine.service.answers import (
    BatchItem,
    BatchRequest,
    BatchResponse,
    ErrorBody,
    Health,
    ReloadAnswer,
    TablesAnswer,
    Validation,
)
from engine.service.auth import ApiKey, require_role
from engine.service.idempotency import answer_once
from engine.service.metrics import CONTENT_TYPE
from engine.service.state import ServiceState
from engine.statements import LEGAL_NOTICES
from engine.web.errors import (
    BatchTooLarge,
    ServiceError,
    empty_body,
    error_body,
    validation_details,
)
from engine.web.limits import NO_BODY, parsed_json

__all__ = ["DECIDE_PATH", "VALIDATE_PATH", "decision_answer", "errors", "record_schemas",
           "router"]

DECIDE_PATH = "/v1/decisions"
VALIDATE_PATH = "/v1/tables:validate"
DECISION_ID = r"^[A-Za-z0-9_.:-]{1,128}$"
_TABLE_FILE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,100}\.ya?ml$")
_STATUS_TEXT = {
    400: "Malformed JSON (`malformed_json`: syntax, NaN/Infinity, a key twice, nesting too "
         "deep, an empty body), a bad Idempotency-Key or request (`bad_request`), or a Host "
         "not in allowed_hosts (`invalid_host`)",
    401: "No API key, an unknown or an expired one (`unauthorized`)",
    403: "The key lacks the role (`forbidden`)",
    404: "No logged decision has this id (`decision_not_found`)",
    409: "The Idempotency-Key was used with another body (`idempotency_conflict`) or its "
         "first request is still answered (`idempotency_in_progress`)",
    413: "Body over max_body_bytes (`payload_too_large`)",
    415: "Wrong Content-Type (`unsupported_media_type`)",
    422: "A field broke its rule: details name the path and value (`invalid_request`)",
    503: "The decision log or the event store cannot be reached (`audit_store_unavailable`)",
}


def errors(*codes: int, **texts: str) -> dict[int | str, dict[str, Any]]:
    """OpenAPI entries for the error statuses a route can answer, each in the one shape;
    ``texts`` (``s404="..."``) says what a status means on this route when it differs."""
    return {code: {"description": texts.get(f"s{code}", _STATUS_TEXT[code]),
                   "content": {"application/json": {
                       "schema": {"$ref": "#/components/schemas/ErrorBody"}}}}
            for code in codes}


_DECIDE_ERRORS = errors(400, 401, 403, 409, 413, 415, 422, 503, s409=_STATUS_TEXT[409]
                        + ", or a decision with its id is already logged "
                        "(`decision_duplicate`)")
_BATCH_ERRORS = errors(400, 401, 403, 413, 415, 422, 503, s422="The body is not a batch "
                       "(`invalid_request`) or holds more than batch_limit records "
                       "(`batch_too_large`); a record that fails is answered in its item")
_READ_ERRORS = errors(401, 403, 404, 422, 503, s422="The id names a batch run "
                      "(`decision_is_a_run`) or a collection step (`decision_is_a_step`), or "
                      "the logged decision no longer matches its "
                      "digest (`decision_tampered`)")
_VALIDATE_ERRORS = errors(400, 401, 403, 413, 415, 422, 503, s422="A posted file has a bad "
                          "name or is posted twice (`invalid_input`)")


class NoticeNotCarried(ServiceError):
    """A legal document asked of a decision whose policies do not include it."""

    http_status = 404
    code = "notice_not_found"


class BadTableFile(ServiceError):
    """A posted table file with a name no table has, or posted twice."""

    http_status = 422
    code = "invalid_input"


def _decision_schema(description: str) -> dict[str, Any]:
    return {"model": Decision, "description": description}


router = APIRouter()

DecideKey = Depends(require_role("decide"))
AuditKey = Depends(require_role("audit"))
AdminKey = Depends(require_role("admin"))


_FINANCIAL = [f.name for f in FIELDS if f.required == "non-residential"]


def record_schemas() -> dict[str, Any]:
    """The OpenAPI components of the posted record: ``CustomerRecord`` is one of two whole
    records, told apart by ``customer_class``. An enterprise (commercial, industrial or
    public) supplies its financial status as numbers; a residential customer leaves it out
    (or null). Two whole schemas say the conditional requirement without ``if``/``then``,
    so generators of clients and of test data read it alike."""
    schema = CustomerRecord.model_json_schema(ref_template="#/components/schemas/{model}")
    components = schema.pop("$defs", {})
    for part in (schema, *components.values()):
        for field in part.get("properties", {}).values():
            if field.get("default", 0) is None:
                del field["default"]
    enterprise, residential = copy.deepcopy(schema), copy.deepcopy(schema)
    enterprise["title"], residential["title"] = "EnterpriseRecord", "ResidentialRecord"
    enterprise["properties"]["customer_class"]["enum"] = list(NON_RESIDENTIAL)
    residential["properties"]["customer_class"]["enum"] = ["residential"]
    enterprise["required"] = [*schema["required"], *_FINANCIAL]
    for name in _FINANCIAL:
        choices = enterprise["properties"][name].pop("anyOf")
        enterprise["properties"][name].update(next(c for c in choices if c["type"] != "null"))
        residential["properties"][name] = {
            "type": "null", "description": "Absent or null: financial status is asked of "
                                           "commercial, industrial and public customers only."}
    residential["examples"] = [{**SAMPLE_RECORD, "customer_class": "residential",
                                **dict.fromkeys(_FINANCIAL)}]
    mapping = {c: "#/components/schemas/EnterpriseRecord" for c in NON_RESIDENTIAL}
    mapping["residential"] = "#/components/schemas/ResidentialRecord"
    record = {"title": "CustomerRecord", "description": schema.get("description", ""),
              "oneOf": [{"$ref": "#/components/schemas/EnterpriseRecord"},
                        {"$ref": "#/components/schemas/ResidentialRecord"}],
              "discriminator": {"propertyName": "customer_class", "mapping": mapping},
              "examples": schema.get("examples", [])}
    return {**components, "EnterpriseRecord": enterprise, "ResidentialRecord": residential,
            "CustomerRecord": record}


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


@router.post(DECIDE_PATH, tags=["decisions"], response_model=None, operation_id="decide",
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
             responses=_BATCH_ERRORS, operation_id="decideBatch",
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
            operation_id="getDecision",
            responses={200: _decision_schema("The logged decision"), **_READ_ERRORS},
            response_class=Response, summary="A logged decision, digest checked")
async def get_decision(decision_id: DecisionId, request: Request,
                       _key: Any = AuditKey) -> Response:
    decision = await run_in_threadpool(_state(request).log.get, decision_id)
    return decision_answer(decision)


_MEDIA = {"text": "text/plain; charset=utf-8", "md": "text/markdown; charset=utf-8",
          "html": "text/html; charset=utf-8"}


_AUDIENCE_TEXT = ("auditor: rules, file:line and versions; customer: the notice, without "
                  "internal rule ids; " + "; ".join(
                      f"{a}: the separate {n.replace('_', ' ')}, for a decision whose "
                      f"policies include {n} (else 404 notice_not_found)"
                      for a, n in LEGAL_NOTICES.items()))
_EXPLAIN_ERRORS = {**_READ_ERRORS, **errors(
    404, 422, s404="No logged decision has this id (`decision_not_found`), or the decision "
                   "carries no such legal document (`notice_not_found`)",
    s422="A `lang` the engine does not speak (`unsupported_language`), another `format` or "
         "`audience` (`invalid_request`), or a decision that is a batch run or no longer "
         "matches its digest")}


@router.get("/v1/decisions/{decision_id}/explanation", tags=["audit"], responses={
    **_EXPLAIN_ERRORS, 200: {"description": "The explanation, in the format asked for",
                             "content": {m.split(";")[0]: {"schema": {"type": "string"}}
                                         for m in _MEDIA.values()}}},
    response_class=Response, operation_id="explainDecision",
    summary="Plain-language explanation of a logged decision, or one of its legal documents")
async def explain(decision_id: DecisionId, request: Request,
                  format: Literal["text", "md", "html"] = Query("text"),
                  lang: str = Query(
                      None, description="zh-CN or en; default: the Accept-Language header, "
                                        "else the project's language. Any other value is "
                                        "422 unsupported_language.",
                      json_schema_extra={"enum": list(LANGUAGES)}),
                  audience: Literal[AUDIENCES] = Query(  # type: ignore[valid-type]
                      "auditor", description=_AUDIENCE_TEXT),
                  accept_language: str | None = Header(None),
                  _key: Any = AuditKey) -> Response:
    state = _state(request)
    engine = state.engine
    if lang is not None and lang not in LANGUAGES:
        raise LanguageError(lang, LANGUAGES)
    chosen = lang or negotiate(accept_language, engine.config.language)
    decision = await run_in_threadpool(state.log.get, decision_id)
    if audience in LEGAL_NOTICES and engine.explainer.statements(
            decision, engine.tables).notice(audience) is None:
        raise NoticeNotCarried(
            f"decision {decision.decision_id} carries no {LEGAL_NOTICES[audience]}, so it "
            f"has no {audience}: ask for audience customer or auditor",
            [{"path": "audience", "value": audience,
              "message": f"the decision's policies do not include {LEGAL_NOTICES[audience]}"}])
    text = engine.explain(decision, format, lang=chosen, audience=audience)
    return Response(text, media_type=_MEDIA[format],
                    headers={"Content-Language": chosen, "Vary": "Accept-Language"})


@router.get("/v1/tables", tags=["tables"], responses=errors(401, 403),
            response_model=TablesAnswer, operation_id="getTables",
            summary="Active table set: versions and content hashes")
async def tables(request: Request, _key: Any = AuditKey) -> TablesAnswer:
    engine = _state(request).engine
    home = engine.config.home.resolve()
    return TablesAnswer(**engine.versions(),
                        files={t.name: _shown(t.file, home) for t in engine.tables.tables})


def _shown(file: str, home: Any) -> str:
    try:
        return PurePath(file).relative_to(home).as_posix()
    except ValueError:
        return file


@router.post("/v1/tables:reload", tags=["tables"], response_model=ReloadAnswer,
             operation_id="reloadTables", responses=errors(
                 401, 403, 422, 503, s422="The set on disk fails to load or to pass the "
                 "checks (`tables_rejected`); the active set stays",
                 s503="The decision log, where the set is archived first, cannot be reached "
                      "(`audit_store_unavailable`)"),
             summary="Load the rules folder; only a clean set replaces the active one")
async def reload(request: Request, _key: Any = AdminKey) -> ReloadAnswer:
    engine = await run_in_threadpool(_state(request).reload)
    return ReloadAnswer(reloaded=True, **engine.versions())


@router.post(VALIDATE_PATH, tags=["tables"], response_model=Validation,
             responses=_VALIDATE_ERRORS, operation_id="validateTables",
             summary="Check posted table files as a set; nothing changes")
async def validate(request: Request,
                   files: Annotated[list[UploadFile],
                                    File(description="Table files (*.yaml).", min_length=1)],
                   _key: Any = AdminKey) -> Validation:
    contents: dict[str, bytes] = {}
    for f in files:
        name = os.path.basename(f.filename or "")
        if not _TABLE_FILE.match(name):
            raise BadTableFile(f"file {f.filename!r}: give table files named like grades.yaml",
                             [{"path": "files", "value": f.filename,
                               "message": "a table file name ends in .yaml or .yml"}])
        if name in contents:
            raise BadTableFile(f"file {name!r} posted twice: each table file once",
                             [{"path": "files", "value": name, "message": "posted twice"}])
        contents[name] = await f.read()
    result = await run_in_threadpool(_state(request).validate, contents)
    return Validation(**result.__dict__)


@router.get("/healthz", tags=["service"], response_model=Health, operation_id="healthz",
            summary="Liveness and the active table set")
async def healthz(request: Request) -> Health:
    engine = _state(request).engine
    keys = request.app.state.keys
    keys.refresh_due()
    return Health(status="ok", engine_version=__version__, pid=os.getpid(),
                  tables_version=engine.tables.version,
                  tables_content_hash=engine.tables.content_hash, keys_problem=keys.problem)


@router.get("/metrics", tags=["service"], response_class=Response,
            responses={200: {"description": "Prometheus text exposition",
                             "content": {"text/plain": {"schema": {"type": "string"}}}},
                       **errors(401, 403)},
            operation_id="metrics", summary="Prometheus metrics")
async def metrics(request: Request) -> Response:
    role = _state(request).settings.metrics_role
    if role is not None:
        await require_role(role)(request)
    return Response(_state(request).metrics.render(), media_type=CONTENT_TYPE)
