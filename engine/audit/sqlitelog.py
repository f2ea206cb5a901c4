"""Appends to a SQLite decision log on one held connection, through ``sqlite3``.

The statements are the ones SQLAlchemy would send, in the same transaction;
see ``SqliteAppender``. ``engine.audit.log`` uses it for every SQLite log.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import threading
from typing import Any

from sqlalchemy import Engine

from engine.audit.decisionrows import DECISIONS, PREVIOUS_GONE
from engine.audit.store import decision_log, sqlite_file

__all__ = ["CHAIN", "SqliteAppender", "chained"]

CHAIN = "decision_log"


def chained(columns: list[dict[str, Any]], seq: int, prev: str, previous: str | None
            ) -> tuple[list[dict[str, Any]], int, str]:
    """The rows of ``columns`` chained after the head ``(seq, prev)``, and the new head.

    ``previous`` is the decision id of the row at the head, read with the head
    itself; None past the first row means that row is gone.
    """
    rows = [dict(c) for c in columns]
    if previous is None and seq:
        previous = PREVIOUS_GONE
    seq, prev = DECISIONS.link(rows, seq, prev, previous)
    return rows, seq, prev


#: The head and the decision id of its row, in one statement.
_SQL_HEAD = ("SELECT seq, row_hash, (SELECT decision_id FROM decision_log "
             "WHERE decision_log.seq = chain_head.seq) FROM chain_head WHERE name = ?")
_SQL_MOVE = "UPDATE chain_head SET seq = ?, row_hash = ? WHERE name = ?"
_SQL_INSERT = (f"INSERT INTO decision_log ({', '.join(c.name for c in decision_log.c)}) "
               f"VALUES ({', '.join(':' + c.name for c in decision_log.c)})")


class SqliteAppender:
    """Appends to a SQLite log on one held connection, through the ``sqlite3`` module.

    The statements are the ones SQLAlchemy would send, in the same transaction
    (``BEGIN IMMEDIATE`` takes the write lock before the head is read); only
    SQLAlchemy's own work per call is saved: a connection checked out and
    reset, each statement compiled and each row's parameters processed, about
    as much CPU as the rest of an append. The connection comes from the log's
    engine, so it is configured as every other one (WAL, ``synchronous``, busy
    timeout); appends from several threads take turns on it.
    """

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._held: Any = None
        self._copier: Any = None
        self._lock = threading.Lock()
        self._copier_lock = threading.Lock()
        self.autocheckpoint = True  # False: wal_autocheckpoint = 0 on the held connection
        self.sync_on_commit = True  # False: synchronous = NORMAL on it, flushed by sync()
        self._set = (True, True)  # what the held connection runs with
        self._wal: int | None = None  # a descriptor of the WAL file, for sync()
        self._wal_lock = threading.Lock()

    def append(self, columns: list[dict[str, Any]]) -> list[dict[str, Any]]:
        with self._lock:
            if self._held is None:
                self._held = self._engine.raw_connection()
            db = self._held.driver_connection
            if (self.autocheckpoint, self.sync_on_commit) != self._set:
                self._configure(db, self.autocheckpoint, self.sync_on_commit)
            db.execute("BEGIN IMMEDIATE")
            try:
                seq, prev, previous = db.execute(_SQL_HEAD, (CHAIN,)).fetchone()
                rows, seq, prev = chained(columns, int(seq), prev, previous)
                db.executemany(_SQL_INSERT, rows)
                db.execute(_SQL_MOVE, (seq, prev, CHAIN))
                db.execute("COMMIT")
            except BaseException:
                if db.in_transaction:
                    db.execute("ROLLBACK")
                raise
            return rows

    def _configure(self, db: Any, autocheckpoint: bool, sync_on_commit: bool) -> None:
        db.execute(f"PRAGMA wal_autocheckpoint = {1000 if autocheckpoint else 0}")
        db.execute(f"PRAGMA synchronous = {'FULL' if sync_on_commit else 'NORMAL'}")
        self._set = (autocheckpoint, sync_on_commit)

    def sync(self) -> None:
        with self._wal_lock:  # the held connection keeps the WAL file in place while it is open
            if self._wal is None:
                self._wal = os.open(f"{sqlite_file(self._engine)}-wal", os.O_RDONLY)
            os.fdatasync(self._wal)

    def checkpoint(self) -> None:
        with self._copier_lock:
            if self._copier is None:
                self._copier = self._engine.raw_connection()
            self._copier.driver_connection.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()

    def close(self) -> None:
        with self._lock:
            if self._held is not None:
                if self._set != (True, True):  # back to the pool as the pool gave it
                    with contextlib.suppress(sqlite3.Error):
                        self._configure(self._held.driver_connection, True, True)
                self._held.close()
                self._held = None
        with self._wal_lock:
            if self._wal is not None:
                os.close(self._wal)
                self._wal = None
        with self._copier_lock:
            if self._copier is not None:
                self._copier.close()
                self._copier = None
