"""Which ``Host`` a request may name: the service answers only for the names it serves.

A request naming another host is refused 400 ``invalid_host`` before routing,
so no answer (a redirect, a link) can be built on a name an attacker chose,
and a page on another site cannot reach the service by rebinding its DNS
name to this address. ``allowed_hosts`` holds names and addresses, matched
without the port; ``*`` allows every name, and ``*.example.com`` a domain's.
"""

from __future__ import annotations

import ipaddress

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Receive, Scope, Send

from engine.web.errors import ServiceError, engine_error_response

__all__ = ["HostGuard", "InvalidHost", "default_hosts", "host_name", "is_loopback"]


class InvalidHost(ServiceError):
    code = "invalid_host"


def host_name(header: str) -> str:
    """The host of a ``Host`` header, without its port (``[::1]:8765`` -> ``::1``)."""
    if header.startswith("["):
        return header[1:].split("]", 1)[0]
    return header.rsplit(":", 1)[0] if header.count(":") == 1 else header


def is_loopback(host: str) -> bool:
    """Whether ``host`` (a name or address) is this machine's loopback interface."""
    if host in ("localhost", "localhost."):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def default_hosts(bind_host: str) -> tuple[str, ...]:
    """The names a server bound to ``bind_host`` answers by default: that host and loopback."""
    return tuple(dict.fromkeys([bind_host.strip("[]").lower(), "localhost", "127.0.0.1",
                                "::1"]))


def _allowed(host: str, allowed: tuple[str, ...]) -> bool:
    host = host.lower().rstrip(".")
    for name in allowed:
        if name == "*" or host == name or (name.startswith("*.") and host.endswith(name[1:])):
            return True
    return False


class HostGuard:
    """Refuse requests whose ``Host`` is not in ``allowed`` (None: every host is answered)."""

    def __init__(self, app: ASGIApp, *, allowed: tuple[str, ...] | None) -> None:
        self.app = app
        self.allowed = allowed

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.allowed is None or scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        host = host_name(Headers(scope=scope).get("host") or "")
        if _allowed(host, self.allowed):
            await self.app(scope, receive, send)
            return
        shown = host[:100]
        refusal = InvalidHost(
            f"this service does not answer for the host {shown!r}: use one of its names "
            "(the allowed_hosts setting)",
            [{"path": "headers.host", "value": shown, "message": "not an allowed host"}])
        await engine_error_response(refusal)(scope, receive, send)
