"""``Idempotency-Key``: a retried request gets the first answer, and nothing is logged twice.

A client that lost an answer (a timeout, a dropped connection) sends the same
request again with the same ``Idempotency-Key`` header. Within the window
(``idempotency_window_s``, 24 h by default) the service answers it with the
answer it gave the first time, byte for byte, without deciding or logging
again. The same key with a different body is 409 ``idempotency_conflict``;
a retry that arrives while the first request is still being answered is 409
``idempotency_in_progress`` (retry it a moment later).

Keys are kept in the log database, in a table of their own
(``idempotency_keys``), so every worker and every restart sees them. A key
belongs to the API key that sent it and to the route: two clients may use the
same value without meeting. The body is compared by the SHA-256 of its JSON
with keys sorted, so a retry that serialises its fields in another order is
still the same request.
"""

from __future__ import annotations

import hashlib
import re
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import orjson
from fastapi import Request, Response
from fastapi.concurrency import run_in_threadpool
from sqlalchemy import (
    BigInteger,
    Column,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    and_,
    delete,
    insert,
    select,
    update,
)
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from engine.audit.store import AuditStoreError, error_summary, make_engine, resolve_url
from engine.web.errors import ServiceError

__all__ = ["HEADER", "IdempotencyConflict", "IdempotencyInProgress", "IdempotencyStore",
           "Replay", "answer_once", "body_digest", "checked_key"]

HEADER = "idempotency-key"
_KEY = re.compile(r"^[\x21-\x7e]{1,200}$")
_metadata = MetaData()
_TABLE = Table(
    "idempotency_keys", _metadata,
    Column("holder", String(200), primary_key=True),
    Column("route", String(100), primary_key=True),
    Column("idem_key", String(200), primary_key=True),
    Column("body_sha256", String(64), nullable=False),
    Column("created_us", BigInteger, nullable=False),
    Column("status", Integer, nullable=True),  # None while the first request is answered
    Column("answer", LargeBinary, nullable=True),
)


class IdempotencyConflict(ServiceError):
    """The same Idempotency-Key with a different body."""

    http_status = 409
    code = "idempotency_conflict"


class IdempotencyInProgress(ServiceError):
    """The same Idempotency-Key while the first request is still being answered."""

    http_status = 409
    code = "idempotency_in_progress"


class BadIdempotencyKey(ServiceError):
    http_status = 400
    code = "bad_request"


@dataclass(frozen=True)
class Replay:
    """The first answer to a request, given again."""

    status: int
    body: bytes


def checked_key(value: str) -> str:
    """An Idempotency-Key as sent, refused unless 1-200 visible ASCII characters."""
    if not _KEY.match(value):
        raise BadIdempotencyKey(
            "Idempotency-Key must be 1 to 200 visible ASCII characters (a UUID is usual)",
            [{"path": "headers.idempotency-key", "value": value[:200],
              "message": "1-200 visible ASCII characters"}])
    return value


def body_digest(parsed: Any) -> str:
    """The SHA-256 of a JSON body with its keys sorted: the same request, however written."""
    return hashlib.sha256(orjson.dumps(parsed, option=orjson.OPT_SORT_KEYS)).hexdigest()


class IdempotencyStore:
    """The remembered keys in the log database at ``url``."""

    def __init__(self, url: str, window_s: int) -> None:
        self.window_us = window_s * 1_000_000
        self._url = resolve_url(url)
        self._engine: Engine | None = None
        self._lock = threading.Lock()

    @property
    def engine(self) -> Engine:
        with self._lock:
            if self._engine is None:
                engine = make_engine(self._url)
                _metadata.create_all(engine)
                self._engine = engine
            return self._engine

    def claim(self, holder: str, route: str, key: str, digest: str) -> Replay | None:
        """Take ``key`` for this request (None: answer it, then ``finish``), or the first
        answer to give again; refuse a different body or a first request still running."""
        now = _now_us()
        row = {"holder": holder, "route": route, "idem_key": key, "body_sha256": digest,
               "created_us": now, "status": None, "answer": None}
        where = and_(_TABLE.c.holder == holder, _TABLE.c.route == route,
                     _TABLE.c.idem_key == key)
        try:
            with self.engine.begin() as conn:
                conn.execute(delete(_TABLE).where(where, _TABLE.c.created_us
                                                  < now - self.window_us))
                try:
                    with conn.begin_nested():
                        conn.execute(insert(_TABLE).values(**row))
                    return None
                except IntegrityError:
                    found = conn.execute(select(_TABLE).where(where)).one()
        except SQLAlchemyError as exc:
            raise AuditStoreError(f"idempotency keys: {error_summary(exc)}") from None
        if found.body_sha256 != digest:
            raise IdempotencyConflict(
                f"Idempotency-Key {key[:100]!r} was used for a different request body: use a "
                "new key for a new request",
                [{"path": "headers.idempotency-key", "value": key[:200],
                  "message": "used before with another body"}])
        if found.status is None:
            raise IdempotencyInProgress(
                f"the request with Idempotency-Key {key[:100]!r} is still being answered: "
                "retry it in a moment",
                [{"path": "headers.idempotency-key", "value": key[:200],
                  "message": "first request still running"}])
        return Replay(found.status, bytes(found.answer))

    def finish(self, holder: str, route: str, key: str, status: int, body: bytes) -> None:
        """Keep the answer given to the request that claimed ``key``."""
        self._write(update(_TABLE).where(*self._where(holder, route, key))
                    .values(status=status, answer=body))

    def release(self, holder: str, route: str, key: str) -> None:
        """Forget a claim whose request failed, so that a retry is answered afresh."""
        self._write(delete(_TABLE).where(*self._where(holder, route, key),
                                         _TABLE.c.status.is_(None)))

    @staticmethod
    def _where(holder: str, route: str, key: str) -> tuple[Any, ...]:
        return (_TABLE.c.holder == holder, _TABLE.c.route == route, _TABLE.c.idem_key == key)

    def _write(self, statement: Any) -> None:
        try:
            with self.engine.begin() as conn:
                conn.execute(statement)
        except SQLAlchemyError as exc:
            raise AuditStoreError(f"idempotency keys: {error_summary(exc)}") from None

    def close(self) -> None:
        if self._engine is not None:
            self._engine.dispose()
            self._engine = None


def _now_us() -> int:
    return time.time_ns() // 1000


async def answer_once(store: IdempotencyStore, request: Request, holder: str, route: str,
                      parsed: Any, produce: Callable[[], Awaitable[Response]]) -> Response:
    """``produce``'s answer, or, for a retry under the same Idempotency-Key, the first one.

    Without the header the request is answered as always. A request that fails
    (an error raised, or a 5xx) leaves no claim behind, so its retry is answered
    afresh; a 2xx or 4xx answer is kept for the window.
    """
    sent = request.headers.get(HEADER)
    if sent is None:
        return await produce()
    key = checked_key(sent)
    replay = await run_in_threadpool(store.claim, holder, route, key, body_digest(parsed))
    if replay is not None:
        return Response(replay.body, status_code=replay.status, media_type="application/json",
                        headers={"Idempotent-Replayed": "true"})
    try:
        response = await produce()
    except BaseException:
        await run_in_threadpool(store.release, holder, route, key)
        raise
    if response.status_code >= 500:
        await run_in_threadpool(store.release, holder, route, key)
    else:
        await run_in_threadpool(store.finish, holder, route, key, response.status_code,
                                bytes(response.body))
    return response
