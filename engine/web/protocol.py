"""The HTTP connection as uvicorn reads it, with the limits a public service needs.

uvicorn on httptools sets no limit on how long a client may take to send its
headers, how large they may be or how many, and it answers a request it
cannot parse with a text/plain 400. ``GuardedHttpTools`` is uvicorn's own
httptools protocol with four additions, each answered in the one error shape
(``engine.web.errors``) and then closed:

- a client that has not sent all its headers ``header_timeout_s`` after the
  connection opened (or after its previous request began) is answered 408;
- request line and headers over ``max_header_bytes`` are answered 431, and so
  are more than ``max_headers`` header lines;
- a connection past ``max_connections`` open at once in this worker is
  answered 503 before anything is read from it;
- a request httptools cannot parse (an unknown method, a bad request line)
  is answered 400 ``bad_request`` as JSON.

The limits come from the environment (``ConnectionLimits.from_env``) because
uvicorn makes the protocol itself, in every worker, from a class name.
"""

from __future__ import annotations

import os
from asyncio import TimerHandle, Transport
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any

import orjson
from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol

from engine.errors import ConfigError
from engine.web.errors import error_body

__all__ = ["LIMIT_ENV", "ConnectionLimits", "GuardedHttpTools"]

#: The environment variable of each connection limit (``Settings`` passes them to workers).
LIMIT_ENV = {
    "header_timeout_s": "GRIDCREDIT_HEADER_TIMEOUT_S",
    "max_header_bytes": "GRIDCREDIT_MAX_HEADER_BYTES",
    "max_headers": "GRIDCREDIT_MAX_HEADERS",
    "max_connections": "GRIDCREDIT_MAX_CONNECTIONS",
}


@dataclass(frozen=True)
class ConnectionLimits:
    """What one connection may send before its request reaches the application."""

    header_timeout_s: float = 10.0
    max_header_bytes: int = 32_768
    max_headers: int = 100
    max_connections: int = 2_000

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> ConnectionLimits:
        env = os.environ if env is None else env
        values: dict[str, Any] = {}
        for f in fields(cls):
            text = env.get(LIMIT_ENV[f.name])
            if text:
                try:
                    values[f.name] = float(text) if f.name.endswith("_s") else int(text)
                except ValueError:
                    raise ConfigError(f"{LIMIT_ENV[f.name]} = {text!r}: give a number") from None
        return cls(**values)


_LIMITS: list[ConnectionLimits] = []


def _limits() -> ConnectionLimits:
    """The limits of this process, read from the environment once."""
    if not _LIMITS:
        _LIMITS.append(ConnectionLimits.from_env())
    return _LIMITS[0]


class _Refused(Exception):
    """Raised inside a parser callback to stop reading a request that broke a limit."""


class GuardedHttpTools(HttpToolsProtocol):
    """uvicorn's httptools protocol with a header timeout, header limits, a connection limit
    and JSON answers for requests it cannot parse."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.limits = _limits()
        self._head_timer: TimerHandle | None = None
        self._in_head = True
        self._head_bytes = 0
        self._head_lines = 0
        self._head_size = 0  # request line and headers as parsed
        self._refusal: tuple[int, str, str] | None = None

    def connection_made(self, transport: Transport) -> None:  # type: ignore[override]
        crowded = len(self.server_state.connections) >= self.limits.max_connections
        super().connection_made(transport)
        if crowded:
            self._answer(503, "unavailable",
                         f"more than {self.limits.max_connections} connections are open: "
                         "try again shortly")
            return
        self._arm_head_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm_head_timer()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        if self._in_head and self.parser is not None and not self.transport.is_closing():
            self._head_bytes += len(data)  # all of it is head: the headers are not complete
            if self._head_bytes > self.limits.max_header_bytes:
                self._answer(*self._too_large())

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._in_head, self._head_bytes, self._head_lines, self._head_size = True, 0, 0, 0
        if self._head_timer is None:
            self._arm_head_timer()

    def on_url(self, url: bytes) -> None:
        super().on_url(url)
        self._head_size += len(url)
        if self._head_size > self.limits.max_header_bytes:
            self._refuse(*self._too_large())

    def on_header(self, name: bytes, value: bytes) -> None:
        super().on_header(name, value)
        self._head_lines += 1
        self._head_size += len(name) + len(value) + 4
        if self._head_size > self.limits.max_header_bytes:
            self._refuse(*self._too_large())
        if self._head_lines > self.limits.max_headers:
            self._refuse(431, "headers_too_large",
                         f"more than {self.limits.max_headers} header lines: send fewer")

    def on_headers_complete(self) -> None:
        self._in_head = False
        self._disarm_head_timer()
        super().on_headers_complete()

    def send_400_response(self, msg: str) -> None:
        refusal = self._refusal or (400, "bad_request",
                                    "the request is not valid HTTP/1.1 (request line, method "
                                    "or headers): see /docs for the routes and methods")
        self._answer(*refusal)

    # ------------------------------------------------------------------ helpers

    def _too_large(self) -> tuple[int, str, str]:
        return (431, "headers_too_large",
                f"request line and headers over {self.limits.max_header_bytes:,} bytes: "
                "send shorter headers")

    def _refuse(self, status: int, code: str, message: str) -> None:
        self._refusal = (status, code, message)
        raise _Refused(message)

    def _arm_head_timer(self) -> None:
        self._disarm_head_timer()
        self._head_timer = self.loop.call_later(self.limits.header_timeout_s, self._head_late)

    def _disarm_head_timer(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_late(self) -> None:
        self._head_timer = None
        if self._in_head and not self.transport.is_closing():
            self._answer(408, "request_timeout",
                         f"the request's headers did not arrive within "
                         f"{self.limits.header_timeout_s:g} s")

    def _answer(self, status: int, code: str, message: str) -> None:
        """Answer ``status`` in the one error shape and close the connection."""
        self._disarm_head_timer()
        body = orjson.dumps(error_body(status, code, message))
        head = [STATUS_LINE[status]]
        for name, value in self.server_state.default_headers:
            head += [name, b": ", value, b"\r\n"]
        head += [b"content-type: application/json\r\n",
                 b"content-length: ", str(len(body)).encode(), b"\r\n",
                 b"connection: close\r\n\r\n", body]
        self.transport.write(b"".join(head))
        self.transport.close()
