"""The body guard: size, media type and strict JSON, checked before any handler parses.

A pure ASGI middleware so that a 50 MB body is refused from its
``Content-Length`` (or, without one, as soon as the stream passes the limit)
and never held in memory whole. JSON bodies are parsed once here with the
rules the engine needs and Python's ``json`` does not apply by default:
``NaN``/``Infinity`` are refused, and so is nesting deeper than the limit.
The checked bytes are handed on unchanged, and the parsed value rides along
in the ASGI scope (``parsed_json``), so a handler that takes the body as JSON
never parses it a second time.

orjson parses first: it accepts only strict JSON (no ``NaN``, no
``Infinity``), so a body it takes is one ``json`` with the refusals above
takes too. A body orjson refuses goes through ``json``, which gives the
message the client sees, so every refusal reads as it always did.
"""

from __future__ import annotations

import contextlib
import json
import re
from typing import Any

import orjson
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from engine.web.errors import (
    BadRequestBody,
    PayloadTooLarge,
    ServiceError,
    UnsupportedMediaType,
    engine_error_response,
)

__all__ = ["NO_BODY", "PARSED_JSON", "BodyGuard", "check_depth", "parsed_json", "strict_json"]

_BODY_METHODS = {"POST", "PUT", "PATCH"}
PARSED_JSON = "gridcredit.json"
NO_BODY: Any = object()  # what ``parsed_json`` gives for an empty body (JSON null is None)


def _refuse_constant(name: str) -> Any:
    raise BadRequestBody(f"{name} is not a JSON number: send finite numbers only",
                         [{"path": "", "value": name, "message": "NaN and Infinity are refused"}])


def strict_json(raw: bytes, max_depth: int) -> Any:
    """Parse JSON as the service accepts it: UTF-8, finite numbers, bounded nesting."""
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError:
        pass
    else:
        if check_depth(value, max_depth) != len(_KEY_END.findall(raw)):
            _refuse_duplicate_keys(raw)
        return value
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BadRequestBody(f"the body is not UTF-8 (byte {exc.start}): send UTF-8 JSON") from None
    try:
        value = json.loads(text, parse_constant=_refuse_constant)
    except json.JSONDecodeError as exc:
        raise BadRequestBody(
            f"malformed JSON at line {exc.lineno} column {exc.colno}: {exc.msg}",
            [{"path": "", "value": None, "message": exc.msg, "line": exc.lineno,
              "column": exc.colno}]) from None
    except RecursionError:
        raise BadRequestBody(f"JSON nested too deep: at most {max_depth} levels") from None
    check_depth(value, max_depth)
    _refuse_duplicate_keys(raw)
    return value


# Every key of a JSON object ends in '"' and then ':'; the pattern also meets '\":' inside
# a string, so it counts at least the keys there are. When it counts exactly as many as the
# parsed objects hold, no key came twice; otherwise the careful reading below decides.
_KEY_END = re.compile(rb'"[ \t\r\n]*:')


def _refuse_duplicate_keys(raw: bytes) -> None:
    """Refuse an object that names one key twice (JSON parsers silently keep the last)."""

    def pairs(items: list[tuple[str, Any]]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key, value in items:
            if key in out:
                raise BadRequestBody(
                    f"key {key[:100]!r} appears twice in one JSON object: send each key once",
                    [{"path": key[:200], "value": key[:200], "message": "duplicate key"}])
            out[key] = value
        return out

    with contextlib.suppress(ValueError, RecursionError):
        json.loads(raw.decode("utf-8", "replace"), object_pairs_hook=pairs,
                   parse_constant=lambda name: name)


async def parsed_json(request: Request, max_depth: int) -> Any:
    """The request's JSON body as the body guard parsed it (parsed here if it did not);
    ``NO_BODY`` for an empty body."""
    value = request.scope.get(PARSED_JSON, NO_BODY)
    if value is not NO_BODY:
        return value
    raw = await request.body()
    return strict_json(raw, max_depth) if raw else NO_BODY


def check_depth(value: Any, max_depth: int) -> int:
    """Refuse containers nested deeper than ``max_depth`` (iteratively: no recursion limit);
    the number of object keys in ``value``."""
    stack = [(value, 1)]
    keys = 0
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict | list):
            if depth > max_depth:
                raise BadRequestBody(f"JSON nested {depth} levels deep: at most {max_depth}")
            if isinstance(item, dict):
                keys += len(item)
                children: Any = item.values()
            else:
                children = item
            stack.extend((c, depth + 1) for c in children if isinstance(c, dict | list))
    return keys


class BodyGuard:
    """Refuse oversized, mistyped or non-strict request bodies with the one error shape.

    ``multipart_paths`` take ``multipart/form-data``; every other body must be
    ``application/json``.
    """

    def __init__(self, app: ASGIApp, *, max_body_bytes: int, max_json_depth: int,
                 multipart_paths: frozenset[str] = frozenset()) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.max_json_depth = max_json_depth
        self.multipart_paths = multipart_paths

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in _BODY_METHODS:
            await self.app(scope, receive, send)
            return
        try:
            body = await self._read(scope, receive)
        except ServiceError as exc:
            await engine_error_response(exc)(scope, receive, send)
            return
        delivered = False

        async def replay() -> Message:
            nonlocal delivered
            if not delivered:
                delivered = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    async def _read(self, scope: Scope, receive: Receive) -> bytes:
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
        limit = self.max_body_bytes
        length = headers.get("content-length")
        if length is not None:
            if not length.isdigit():
                raise BadRequestBody(f"Content-Length {length!r} is not a number")
            if int(length) > limit:
                raise self._too_large(int(length))
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                break
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                raise self._too_large(size, partial=True)
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        if not body:
            return body
        media = headers.get("content-type", "").split(";")[0].strip().lower()
        if scope["path"] in self.multipart_paths:
            if media != "multipart/form-data":
                raise UnsupportedMediaType(
                    f"Content-Type {media or '(none)'!r}: send the table files as "
                    "multipart/form-data (curl -F files=@rules/grades.yaml ...)")
            return body
        if media != "application/json":
            raise UnsupportedMediaType(
                f"Content-Type {media or '(none)'!r}: send application/json")
        scope[PARSED_JSON] = strict_json(body, self.max_json_depth)
        return body

    def _too_large(self, size: int, partial: bool = False) -> PayloadTooLarge:
        got = f"more than {self.max_body_bytes:,}" if partial else f"{size:,}"
        return PayloadTooLarge(
            f"request body of {got} bytes is over the limit of {self.max_body_bytes:,}: "
            "send fewer records per request (or raise max_body_bytes)",
            [{"path": "", "value": size, "message": f"at most {self.max_body_bytes} bytes"}])
