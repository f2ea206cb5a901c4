"""Payment-event endpoints: post an event, read a customer's events and outcomes.

``POST /v1/events`` (role ``decide``) takes one event, or a list of events,
and answers with what was accepted and the outcomes raised; a refused event
is stored nowhere and answered in the service's error shape (422, or 409 for
an event id already stored). The far-in-the-future check uses the service's
clock, supplied to the processor; the rules themselves read event times only.
``GET /v1/customers/{id}/events`` (role ``audit``) lists the stored events,
newest first, and the outcomes (all, or those in force on ``as_of``).

durable-rules is not thread-safe across Hosts either, so event evaluation
takes the service's durable-rules lock, the one decisions take.
"""

from __future__ import annotations

import datetime as dt
import threading
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi import Path as PathParam
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, BeforeValidator, Field, TypeAdapter

from engine.decision import EventOutcome
from engine.events.model import Event, EventRejected, to_micros
from engine.events.processor import Accepted, EventProcessor, Rejected
from engine.events.rules import load_event_rules
from engine.records import CUSTOMER_ID, iso_date
from engine.service.auth import ApiKey, require_role
from engine.service.idempotency import answer_once
from engine.service.routes import errors
from engine.web.errors import BadRequestBody, BatchTooLarge, ServiceError, short_value
from engine.web.limits import strict_json

__all__ = ["SCHEMAS", "CustomerHistory", "EventAnswer", "EventListAnswer", "router"]

router = APIRouter(tags=["events"])
DecideKey = Depends(require_role("decide"))
_OPEN = threading.Lock()


def _processor(request: Request) -> EventProcessor:
    """The app's processor, opened on first use on the decision log's database."""
    app_state = request.app.state
    with _OPEN:
        processor = getattr(app_state, "events", None)
        if processor is None:
            service = app_state.service
            rules = load_event_rules(service.engine.config.event_rules)
            processor = EventProcessor(service.event_store, rules)
            app_state.events = processor
    return processor


def _process(request: Request, items: list[Any]) -> list[Accepted | Rejected]:
    processor = _processor(request)
    now = to_micros(dt.datetime.now(dt.UTC))
    with request.app.state.service.durable_lock:
        return processor.process_many(items, now_us=now)


def _accepted(result: Accepted) -> dict[str, Any]:
    return {"event_id": result.event_id, "customer_id": result.customer_id,
            "status": "accepted",
            "outcomes": [o.model_dump(mode="json") for o in result.outcomes]}


def _rejected(result: Rejected, sent: Any) -> dict[str, Any]:
    return {"event_id": result.event_id, "customer_id": result.customer_id,
            "status": "rejected", "field": result.field, "value": _sent(sent, result.field),
            "reason_code": result.reason_code, "reason": result.reason}


def _sent(item: Any, field: str | None) -> Any:
    """The value the refused field had in the event as sent (shortened), or the event itself
    when it was not an object."""
    if not isinstance(item, dict):
        return short_value(item)
    return short_value(item.get(field)) if field else None


def _refusal(result: Rejected, sent: Any) -> EventRejected:
    error = result.error()
    error.value = _sent(sent, result.field)
    return error


class CustomerNotFound(ServiceError):
    """A customer with no stored event and no outcome (the CLI exits 2 for it)."""

    http_status = 404
    code = "customer_not_found"


_EVENT = TypeAdapter(Annotated[Event, Field(discriminator="type")]).json_schema(
    ref_template="#/components/schemas/{model}")
#: Schemas the event routes refer to, for the service's OpenAPI components.
SCHEMAS: dict[str, Any] = _EVENT.pop("$defs", {})
_BODY = {"required": True, "content": {"application/json": {"schema": {
    "oneOf": [_EVENT, {"type": "array", "minItems": 1, "items": {"anyOf": [_EVENT, {
        "description": "Anything else is answered as a rejected event in the list, not a "
                       "refused request."}]}}]},
    "example": {"type": "bill_issued", "event_id": "E-2026-0001", "customer_id": "C0001",
                "time": "2026-10-01T08:00:00Z", "bill_id": "B-2026-10", "amount": 412.5}}}}


class EventAnswer(BaseModel):
    """One event's answer: accepted with the outcomes it raised, or rejected and why."""

    event_id: str | None
    customer_id: str | None
    status: Literal["accepted", "rejected"]
    outcomes: list[EventOutcome] | None = None
    field: str | None = None
    value: Any = Field(None, description="The refused field's value as sent (shortened).")
    reason_code: str | None = None
    reason: str | None = None


class EventListAnswer(BaseModel):
    accepted: int
    rejected: int
    events: list[EventAnswer]


class CustomerHistory(BaseModel):
    customer_id: str
    as_of: dt.date | None
    events: list[dict[str, Any]] = Field(
        description="The customer's stored events, newest first, each as it was accepted.",
        json_schema_extra={"items": _EVENT})
    outcomes: list[EventOutcome]


@router.post("/v1/events", status_code=201, operation_id="postEvents",
             openapi_extra={"requestBody": _BODY}, response_model=None,
             summary="Process one event or a list of events",
             responses={201: {"model": EventAnswer, "description": "The event was accepted"},
                        200: {"model": EventListAnswer,
                              "description": "A list of events, answered per event"},
                        **errors(400, 401, 403, 409, 413, 415, 422, 503, s409=(
                            "One event whose id is already stored (`duplicate_event`), or the "
                            "Idempotency-Key used with another body (`idempotency_conflict`) "
                            "or still being answered (`idempotency_in_progress`)"),
                            s422="One event refused (`event_rejected`: details[0].reason_code "
                                 "says why), or more than batch_limit events "
                                 "(`batch_too_large`)",
                            s400="Malformed JSON (`malformed_json`), an empty list "
                                 "(`bad_request`), or a Host not in allowed_hosts")})
async def post_events(request: Request, key: ApiKey = DecideKey) -> Any:
    """Process one event (an object) or several (a list, in order; answered per event)."""
    raw = await request.body()
    if not raw.strip():
        raise BadRequestBody("empty body: send one event as a JSON object, or a list of them",
                             [{"path": "", "value": None, "message": "empty body"}])
    body = strict_json(raw, request.app.state.service.settings.max_json_depth)

    async def answer() -> Response:
        result = await _answer(request, body)
        return result if isinstance(result, Response) else JSONResponse(result, status_code=201)

    return await answer_once(request.app.state.idempotency, request, key.name, "/v1/events",
                             body, answer)


async def _answer(request: Request, body: Any) -> Any:
    """The answer to the events in ``body``: a JSONResponse for a list, else one event's."""
    if isinstance(body, list):
        limit = request.app.state.service.settings.batch_limit
        if len(body) > limit:
            raise BatchTooLarge(f"{len(body)} events in one request; at most {limit}")
        if not body:
            raise ServiceError("an empty list of events: send at least one")
        results = await run_in_threadpool(_process, request, body)
        items = [_accepted(r) if isinstance(r, Accepted) else _rejected(r, sent)
                 for r, sent in zip(results, body, strict=True)]
        accepted = sum(isinstance(r, Accepted) for r in results)
        return JSONResponse({"accepted": accepted, "rejected": len(results) - accepted,
                             "events": items}, status_code=200)
    (result,) = await run_in_threadpool(_process, request, [body])
    if isinstance(result, Rejected):
        raise _refusal(result, body)
    return _accepted(result)


@router.get("/v1/customers/{customer_id}/events",
            dependencies=[Depends(require_role("audit"))], response_model=CustomerHistory,
            summary="A customer's stored events and outcomes", operation_id="getCustomerEvents",
            responses=errors(401, 403, 404, 422, 503, s404="No stored event or outcome for "
                             "this customer (`customer_not_found`)"))
async def get_events(
    request: Request,
    customer_id: Annotated[str, PathParam(pattern=CUSTOMER_ID.pattern)],
    as_of: Annotated[dt.date | None, BeforeValidator(iso_date), Query(
        description="Outcomes in force on this date (YYYY-MM-DD)")] = None,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 1000,
) -> dict[str, Any]:
    """The customer's stored events (newest first) and its outcomes."""
    store = _processor(request).store
    history = await run_in_threadpool(store.customer_events, customer_id, as_of=as_of,
                                      limit=limit)
    if not history.events and not history.outcomes:
        raise CustomerNotFound(
            f"customer {customer_id!r} has no stored events or outcomes: check the id, or "
            "post its events first",
            [{"path": "customer_id", "value": customer_id, "message": "no stored events"}])
    return history.to_json()
