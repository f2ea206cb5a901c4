"""Appends to a PostgreSQL decision log on one held connection, a group per transaction.

A group of decisions is one transaction of three statements::

    SELECT seq, row_hash, <its row's decision id> FROM chain_head ... FOR UPDATE
    INSERT INTO decision_log (...) VALUES (...), (...), ...   -- every row of the group
    UPDATE chain_head SET seq = ..., row_hash = ... WHERE name = 'decision_log'

The row lock on the chain head orders the writers of every worker, as on
SQLite the write lock does; the rows are chained after the head it returns
(``engine.audit.sqlitelog.chained``, the same links), and the head moves once
per group. After the head is read, the insert, the head's update and the
commit go to the server in one pipeline: the lock is held for one round trip
and the commit's flush, not for one per statement. Through a pooled
SQLAlchemy connection the same group cost a liveness ping, a ``BEGIN``, a
statement per chunk of rows and a reset at the end, each a round trip.

The connection is taken from the log's engine once and held; a connection
the server dropped is thrown away and the next group opens another.
"""

from __future__ import annotations

import threading
from typing import Any

import psycopg
from sqlalchemy import Engine

from engine.audit.sqlitelog import CHAIN, chained
from engine.audit.store import decision_log

__all__ = ["PostgresAppender"]

_COLUMNS = [c.name for c in decision_log.c]
#: The head and the decision id of its row, the head's row locked (as ``engine.audit.log``).
_SQL_LOCK_HEAD = ("SELECT seq, row_hash, (SELECT decision_id FROM decision_log "
                  "WHERE decision_log.seq = chain_head.seq) FROM chain_head WHERE name = %s "
                  "FOR UPDATE OF chain_head")
_SQL_MOVE = "UPDATE chain_head SET seq = %s, row_hash = %s WHERE name = %s"
_CHUNK = 1000  # rows per INSERT: 12 parameters each, far below PostgreSQL's 65,535
_ROW = f"({', '.join(['%s'] * len(_COLUMNS))})"


def _insert(n: int) -> str:
    """One INSERT of ``n`` rows (a multi-row VALUES list)."""
    return f"INSERT INTO decision_log ({', '.join(_COLUMNS)}) VALUES {', '.join([_ROW] * n)}"


class PostgresAppender:
    """Appends groups of decision rows to a PostgreSQL log on one held connection."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._held: Any = None
        self._lock = threading.Lock()

    def append(self, columns: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Chain and append ``columns`` in one transaction; durable when this returns."""
        with self._lock:
            if self._held is None:
                self._held = self._engine.raw_connection()
            db: psycopg.Connection = self._held.driver_connection
            try:
                with db.pipeline(), db.transaction():
                    seq, prev, previous = db.execute(_SQL_LOCK_HEAD, (CHAIN,)).fetchone()
                    rows, seq, prev = chained(columns, int(seq), prev, previous)
                    for start in range(0, len(rows), _CHUNK):
                        chunk = rows[start:start + _CHUNK]
                        db.execute(_insert(len(chunk)),
                                   [row[name] for row in chunk for name in _COLUMNS])
                    db.execute(_SQL_MOVE, (seq, prev, CHAIN))
            except BaseException:
                if db.closed or db.broken:
                    self._drop()
                raise
            return rows

    def _drop(self) -> None:
        held, self._held = self._held, None
        try:
            held.invalidate()
        except Exception:  # a connection already gone has nothing left to release
            held.close()

    def close(self) -> None:
        with self._lock:
            if self._held is not None:
                self._held.close()
                self._held = None
