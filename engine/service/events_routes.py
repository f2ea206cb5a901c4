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
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi import Path as PathParam
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse

from engine.events.model import to_micros
from engine.events.processor import Accepted, EventProcessor, Rejected
from engine.events.rules import load_event_rules
from engine.events.store import open_store
from engine.records import CUSTOMER_ID
from engine.service.auth import require_role
from engine.service.errors import BatchTooLarge, ServiceError

__all__ = ["router"]

router = APIRouter(tags=["events"])
_OPEN = threading.Lock()


def _processor(request: Request) -> EventProcessor:
    """The app's processor, opened on first use on the decision log's database."""
    app_state = request.app.state
    with _OPEN:
        processor = getattr(app_state, "events", None)
        if processor is None:
            settings = app_state.service.settings
            home = Path(settings.home) if settings.home else Path(".")
            rules = load_event_rules(home / "rules" / "events.yaml")
            processor = EventProcessor(open_store(settings.db), rules)
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


def _rejected(result: Rejected) -> dict[str, Any]:
    return {"event_id": result.event_id, "customer_id": result.customer_id,
            "status": "rejected", "field": result.field, "reason_code": result.reason_code,
            "reason": result.reason}


@router.post("/v1/events", status_code=201, dependencies=[Depends(require_role("decide"))])
async def post_events(request: Request) -> Any:
    """Process one event (an object) or several (a list, in order; answered per event)."""
    body = await request.json()
    if isinstance(body, list):
        limit = request.app.state.service.settings.batch_limit
        if len(body) > limit:
            raise BatchTooLarge(f"{len(body)} events in one request; at most {limit}")
        if not body:
            raise ServiceError("an empty list of events: send at least one")
        results = await run_in_threadpool(_process, request, body)
        items = [_accepted(r) if isinstance(r, Accepted) else _rejected(r) for r in results]
        accepted = sum(isinstance(r, Accepted) for r in results)
        return JSONResponse({"accepted": accepted, "rejected": len(results) - accepted,
                             "events": items}, status_code=200)
    (result,) = await run_in_threadpool(_process, request, [body])
    if isinstance(result, Rejected):
        raise result.error()
    return _accepted(result)


@router.get("/v1/customers/{customer_id}/events",
            dependencies=[Depends(require_role("audit"))])
async def get_events(
    request: Request,
    customer_id: Annotated[str, PathParam(pattern=CUSTOMER_ID.pattern)],
    as_of: Annotated[dt.date | None, Query(description="Outcomes in force on this date")] = None,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 1000,
) -> dict[str, Any]:
    """The customer's stored events (newest first) and its outcomes."""
    store = _processor(request).store
    history = await run_in_threadpool(store.customer_events, customer_id, as_of=as_of,
                                      limit=limit)
    return history.to_json()
