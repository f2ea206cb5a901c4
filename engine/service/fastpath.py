"""The common case of ``POST /v1/decisions``, answered without the framework's walk.

Most requests a service system sends are a known key with the decide role
and a valid customer record. For those, routing, dependency solving and the
exception layers cost the worker about as much as deciding and logging, so
this pure ASGI layer, inside the body guard, answers them itself with the
functions the route uses: ``holder`` checks the key, ``CustomerRecord``
validates the record the body guard already parsed, and
``ServiceState.decide_and_log`` decides, logs and counts, and
``decision_answer`` writes the route's answer.

Every other request passes to the application untouched (the body guard
replays its body): no key, an unknown key or one without the role, an
empty body, JSON that is not an object, a record the model refuses. The
route then refuses it exactly as it always has. A refusal raised while
deciding or logging is answered here in the route's one error shape.
"""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Receive, Scope, Send

from engine.errors import EngineError
from engine.records import CustomerRecord
from engine.service.auth import KeyStore, holder
from engine.service.idempotency import HEADER
from engine.service.routes import DECIDE_PATH, decision_answer
from engine.service.state import ServiceState
from engine.web.errors import bug_answer, engine_error_answer
from engine.web.limits import PARSED_JSON

__all__ = ["DecisionFastPath"]


class DecisionFastPath:
    """Answer authorised, valid ``POST /v1/decisions`` requests; pass on the rest."""

    def __init__(self, app: ASGIApp, *, state: ServiceState, keys: KeyStore,
                 route: Any) -> None:
        self.app = app
        self.state = state
        self.keys = keys
        self.route = route  # the route's own object, so metrics label it alike

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        record = self._record(scope) if scope.get("path") == DECIDE_PATH else None
        if record is None:
            await self.app(scope, receive, send)
            return
        scope["route"] = self.route
        try:
            decision = await self.state.decide_and_log(record)
        except EngineError as exc:
            await engine_error_answer(exc)(scope, receive, send)
            return
        except Exception:  # answered as the application's last handler answers it
            await bug_answer()(scope, receive, send)
            return
        await decision_answer(decision)(scope, receive, send)

    def _record(self, scope: Scope) -> CustomerRecord | None:
        """The request's record when this layer may answer it, else None."""
        if scope["type"] != "http" or scope["method"] != "POST":
            return None
        headers = Headers(scope=scope)
        if HEADER in headers:  # the route answers retries under an Idempotency-Key
            return None
        data = scope.get(PARSED_JSON)
        found = holder(self.keys, headers, "decide") if isinstance(data, dict) else None
        if found is None:
            return None
        scope.setdefault("state", {})["key_name"] = found.name  # for the access log
        try:
            return CustomerRecord.model_validate(data)
        except ValidationError:
            return None
