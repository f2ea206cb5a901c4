"""Keyed, hash-chained records: the archive and the release history.

Both tables have the same shape: a sequence number, a ``kind``, a ``key`` (a
content hash or a release version), the creation time and a JSON ``content``,
chained exactly as the decision log is::

    content_hash = sha256(canonical {seq, kind, key, created_at, content})
    row_hash     = sha256(prev_hash + that canonical text)

An edit to any stored byte, a removed or moved row, or rows cut from the end
(the chain head keeps the last sequence number and hash) is found by
``verify_chain``, which names the first row that fails.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, Engine, Table, bindparam, select
from sqlalchemy.exc import SQLAlchemyError

from engine.audit.rowcheck import Chained, ChainReport, check_rows
from engine.audit.store import AuditStoreError, chain_head, error_summary, write_transaction
from engine.decision import canonical_json

__all__ = ["ChainReport", "KeyedRow", "append_chained", "append_keyed", "keyed", "keyed_rows",
           "verify_chain"]

_LOCK_HEAD = (select(chain_head.c.seq, chain_head.c.row_hash)
              .where(chain_head.c.name == bindparam("chain")).with_for_update())
_READ_HEAD = select(chain_head.c.seq, chain_head.c.row_hash).where(
    chain_head.c.name == bindparam("chain"))
_MOVE_HEAD = (chain_head.update().where(chain_head.c.name == bindparam("chain"))
              .values(seq=bindparam("s"), row_hash=bindparam("h")))


@dataclass(frozen=True)
class KeyedRow:
    """One row of a keyed chain, content parsed."""

    seq: int
    kind: str
    key: str
    created_at: str
    content: Any
    row_hash: str


def keyed(table: Table) -> Chained:
    """The row check's view of a keyed chain."""
    return Chained(table.name, "", ("kind", "key", "created_at", "content"),
                   lambda row: f"{row['kind']} {row['key'][:16]}")


def now() -> str:
    """The creation time stored in a row: UTC, microseconds."""
    return datetime.now(UTC).isoformat(timespec="microseconds")


def append_chained(conn: Connection, kind: Chained, table: Table,
                   rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Chain ``rows`` after ``table``'s head and insert them, inside the caller's transaction.

    The head row is locked first (``FOR UPDATE``; on SQLite the transaction
    holds the file's write lock already), so two writers never chain from the
    same head. Rows are numbered, linked and hashed in place and returned.
    """
    if not rows:
        return rows
    head = conn.execute(_LOCK_HEAD, {"chain": table.name}).one()
    previous = None
    if kind.previous_key is not None and int(head.seq):
        previous = conn.scalar(select(table.c[kind.key_column]).where(
            table.c.seq == int(head.seq)))
    seq, prev = kind.link(rows, int(head.seq), head.row_hash, previous)
    conn.execute(table.insert(), rows)
    conn.execute(_MOVE_HEAD, {"chain": table.name, "s": seq, "h": prev})
    return rows


def append_keyed(engine: Engine, table: Table, kind: str, key: str, content: Any) -> KeyedRow:
    """Append one row to ``table``'s chain and return it; durable when this returns."""
    row = {"kind": kind, "key": key, "created_at": now(), "content": canonical_json(content)}
    try:
        with write_transaction(engine) as conn:
            append_chained(conn, keyed(table), table, [row])
    except SQLAlchemyError as exc:
        raise AuditStoreError(f"{table.name}: cannot append: {error_summary(exc)}") from None
    return KeyedRow(row["seq"], kind, key, row["created_at"], content, row["row_hash"])


def keyed_rows(engine: Engine, table: Table, *, kind: str | None = None,
               key: str | None = None) -> list[KeyedRow]:
    """Rows of a keyed chain in sequence order, optionally of one kind and key."""
    query = select(table).order_by(table.c.seq)
    if kind is not None:
        query = query.where(table.c.kind == kind)
    if key is not None:
        query = query.where(table.c.key == key)
    try:
        with engine.connect() as conn:
            rows = [dict(r) for r in conn.execute(query).mappings()]
    except SQLAlchemyError as exc:
        raise AuditStoreError(f"{table.name}: cannot read: {error_summary(exc)}") from None
    out = []
    for r in rows:
        try:
            content = json.loads(r["content"])
        except ValueError:
            content = None
        out.append(KeyedRow(int(r["seq"]), r["kind"], r["key"], r["created_at"], content,
                            r["row_hash"]))
    return out


def verify_chain(engine: Engine, table: Table, kind: Chained | None = None) -> ChainReport:
    """Recompute every hash of ``table``'s chain and compare its end with its head."""
    try:
        with engine.connect() as conn:
            head = conn.execute(_READ_HEAD, {"chain": table.name}).one_or_none()
            if head is None:
                return ChainReport(table.name, False, 0, 1, "the chain has no head row (the "
                                   "table was not made by gridcredit): run gridcredit audit "
                                   "migrate")
            rows = conn.execution_options(yield_per=1000).execute(
                select(table).order_by(table.c.seq)).mappings()
            return check_rows(kind or keyed(table), rows, (int(head.seq), head.row_hash))
    except SQLAlchemyError as exc:
        raise AuditStoreError(f"{table.name}: cannot verify: {error_summary(exc)}") from None
