"""``GET /v1/customers/{id}/collections?as_of=``: a customer's collections on a date.

The answer is the stable JSON of ``gridcredit collections show --json``
(docs/collections.md): cases with penalties and steps, protections, deposit,
the statement of account and the documents of the steps due that day. Keys
with the ``audit`` or the ``decide`` role may read it. A customer with no
logged decision on or before the date is a 404 saying to decide it first.
"""

from __future__ import annotations

import datetime as dt
import threading
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi import Path as PathParam
from fastapi.concurrency import run_in_threadpool
from pydantic import BeforeValidator

from engine.collections.documents import Documents
from engine.collections.statement import EARLIEST, LATEST, statement_of
from engine.collections.tables import load_collection_tables
from engine.records import CUSTOMER_ID, iso_date
from engine.service.auth import require_role
from engine.service.routes import errors
from engine.web.errors import Forbidden

__all__ = ["SCHEMAS", "router"]

router = APIRouter(tags=["collections"])
_OPEN = threading.Lock()
_AUDIT, _DECIDE = require_role("audit"), require_role("decide")


async def audit_or_decide(request: Request) -> Any:
    """The caller's key must hold the ``audit`` or the ``decide`` role."""
    try:
        return await _AUDIT(request)
    except Forbidden:
        return await _DECIDE(request)


def _readers(request: Request) -> tuple[Any, Documents]:
    state = request.app.state
    with _OPEN:
        found = getattr(state, "collections", None)
        engine = state.service.engine
        if found is None or found[0] is not engine:
            tables = load_collection_tables(engine.config.rules_dir, engine.catalogue)
            found = (engine, tables, Documents(engine.explainer.languages))
            state.collections = found
    return found[1], found[2]


def _read(request: Request, customer_id: str, as_of: dt.date) -> dict[str, Any]:
    tables, documents = _readers(request)
    service = request.app.state.service
    return statement_of(customer_id, as_of, service.event_store, service.log, tables,
                        documents).to_json()


_OBJECT = {"type": "object", "additionalProperties": True}
#: EARLIEST to LATEST by year, as a pattern a schema can carry (a test holds the two together).
_YEARS = r"^(19[7-9][0-9]|2[0-9]{3})-[0-9]{2}-[0-9]{2}$"
#: The answer's schema, for the service's OpenAPI components (docs/collections.md has each part).
SCHEMAS: dict[str, Any] = {"CustomerCollections": {
    "type": "object", "title": "CustomerCollections", "additionalProperties": True,
    "description": "A customer's collections on a date: the stable JSON of "
                   "`gridcredit collections show`, with its statement of account.",
    "required": ["customer_id", "as_of", "strategy", "customer_class", "grade", "decision_id",
                 "cases", "protections", "deposit", "digest", "statement", "documents"],
    "properties": {
        "customer_id": {"type": "string"}, "as_of": {"type": "string", "format": "date"},
        "strategy": {"type": "string", "description": "The collection strategy applied."},
        "customer_class": {"type": "string"},
        "grade": {"type": "string", "description": "The grade of the decision it follows."},
        "decision_id": {"type": "string", "description": "The logged decision it follows."},
        "cases": {"type": "array", "items": {"$ref": "#/components/schemas/CollectionCase"},
                  "description": "One case per bill."},
        "protections": {"type": "array",
                        "items": {"$ref": "#/components/schemas/CollectionProtection"}},
        "deposit": _OBJECT,
        "digest": {"type": "string", "description": "SHA-256 over the collections' JSON."},
        "statement": {"type": "array", "items": _OBJECT,
                      "description": "Bills, penalties, repayments and rebates in date order."},
        "documents": _OBJECT}},
    "CollectionCase": {
        "type": "object", "title": "CollectionCase", "additionalProperties": True,
        "description": "One overdue bill: what is owed, its penalty and its steps.",
        "required": ["bill_id", "amount", "due", "outstanding", "penalty", "steps"],
        "properties": {
            "bill_id": {"type": "string"}, "amount": {"type": "number"},
            "due": {"type": "string", "format": "date"},
            "outstanding": {"type": "number", "description": "Still unpaid on as_of."},
            "penalty": {"type": "object", "additionalProperties": True,
                        "required": ["amount", "days"],
                        "properties": {"amount": {"type": "number"},
                                       "days": {"type": "integer"}}},
            "steps": {"type": "array", "items": {"$ref": "#/components/schemas/CollectionStep"}}}},
    "CollectionStep": {
        "type": "object", "title": "CollectionStep", "additionalProperties": True,
        "required": ["action", "date", "status", "reason", "protection"],
        "properties": {
            "action": {"type": "string"}, "date": {"type": "string", "format": "date"},
            "status": {"type": "string", "enum": ["done", "due", "scheduled", "blocked",
                                                  "paused", "cancelled"]},
            "reason": {"type": "string", "description": "Why the step has its status."},
            "protection": {"type": ["string", "null"],
                           "description": "The protection kind blocking it, else null."}}},
    "CollectionProtection": {
        "type": "object", "title": "CollectionProtection", "additionalProperties": True,
        "required": ["kind", "from", "until"],
        "properties": {"kind": {"type": "string"},
                       "from": {"type": "string", "format": "date"},
                       "until": {"type": ["string", "null"], "format": "date"}}}}


@router.get("/v1/customers/{customer_id}/collections", operation_id="getCustomerCollections",
            dependencies=[Depends(audit_or_decide)], summary="A customer's collections on a date",
            response_model=None, responses={
                200: {"description": "The customer's collections", "content": {
                    "application/json": {"schema": {
                        "$ref": "#/components/schemas/CustomerCollections"}}}},
                **errors(401, 403, 404, 422, 503, s404="No decision is logged for the "
                         "customer on or before the date (`customer_not_decided`)")})
async def get_collections(
    request: Request,
    customer_id: Annotated[str, PathParam(pattern=CUSTOMER_ID.pattern)],
    as_of: Annotated[dt.date, BeforeValidator(iso_date), Query(
        description=f"The date (YYYY-MM-DD) of the collections, {EARLIEST} to {LATEST}.",
        json_schema_extra={"pattern": _YEARS})],
) -> dict[str, Any]:
    """Cases, steps, protections, deposit and statement of account of one customer."""
    return await run_in_threadpool(_read, request, customer_id, as_of)
