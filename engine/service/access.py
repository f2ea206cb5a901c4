"""The access log: one line per request, naming the API key that made it (never the key).

uvicorn's own access line knows the client and the status but not who the
caller is; this layer writes ``client "METHOD path" status key=NAME ms`` to
the ``gridcredit.access`` logger instead, after the answer is sent. The key
name is what the key check left in the request's state (``key_name``), or
``-`` for a request without a known key.
"""

from __future__ import annotations

import logging
import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["AccessLog"]

log = logging.getLogger("gridcredit.access")


class AccessLog:
    """Log every HTTP request with its status, key name and duration."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not log.isEnabledFor(logging.INFO):
            await self.app(scope, receive, send)
            return
        began = time.perf_counter()
        status = [500]

        async def sending(message: Message) -> None:
            if message["type"] == "http.response.start":
                status[0] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            client = scope.get("client") or ("-", 0)
            name = (scope.get("state") or {}).get("key_name", "-")
            log.info('%s "%s %s" %d key=%s %.1fms', client[0], scope["method"],
                     scope["path"][:200], status[0], name,
                     (time.perf_counter() - began) * 1000)
