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

import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine, Table, bindparam, select
from sqlalchemy.exc import SQLAlchemyError

from engine.audit.store import (
    GENESIS,
    AuditStoreError,
    chain_head,
    error_summary,
    write_transaction,
)
from engine.decision import canonical_json

__all__ = ["ChainReport", "KeyedRow", "append_keyed", "keyed_rows", "verify_chain"]


@dataclass(frozen=True)
class KeyedRow:
    """One row of a keyed chain, content parsed."""

    seq: int
    kind: str
    key: str
    created_at: str
    content: Any
    row_hash: str


@dataclass(frozen=True)
class ChainReport:
    """The outcome of recomputing one keyed chain."""

    chain: str
    ok: bool
    rows: int
    first_broken: int | None
    reason: str


def _canonical(row: dict[str, Any]) -> str:
    return canonical_json({"seq": int(row["seq"]), "kind": row["kind"], "key": row["key"],
                           "created_at": row["created_at"], "content": row["content"]})


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def now() -> str:
    """The creation time stored in a row: UTC, microseconds."""
    return datetime.now(UTC).isoformat(timespec="microseconds")


def append_keyed(engine: Engine, table: Table, kind: str, key: str, content: Any) -> KeyedRow:
    """Append one row to ``table``'s chain and return it; durable when this returns."""
    name = table.name
    text = canonical_json(content)
    try:
        with write_transaction(engine) as conn:
            head = conn.execute(
                select(chain_head.c.seq, chain_head.c.row_hash)
                .where(chain_head.c.name == name).with_for_update()
            ).one()
            row = {"seq": int(head.seq) + 1, "kind": kind, "key": key, "created_at": now(),
                   "content": text}
            canonical = _canonical(row)
            row["content_hash"] = _sha256(canonical)
            row["prev_hash"] = head.row_hash
            row["row_hash"] = _sha256(head.row_hash + canonical)
            conn.execute(table.insert(), [row])
            conn.execute(
                chain_head.update().where(chain_head.c.name == bindparam("chain"))
                .values(seq=bindparam("s"), row_hash=bindparam("h")),
                {"chain": name, "s": row["seq"], "h": row["row_hash"]},
            )
    except SQLAlchemyError as exc:
        raise AuditStoreError(f"{name}: cannot append: {error_summary(exc)}") from None
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


def _stream(engine: Engine, table: Table) -> Iterator[dict[str, Any]]:
    with engine.connect() as conn:
        result = conn.execution_options(yield_per=500).execute(
            select(table).order_by(table.c.seq))
        for row in result.mappings():
            yield dict(row)


def verify_chain(engine: Engine, table: Table) -> ChainReport:
    """Recompute every hash of ``table``'s chain and compare the end with its head."""
    name = table.name
    try:
        with engine.connect() as conn:
            head = conn.execute(select(chain_head.c.seq, chain_head.c.row_hash)
                                .where(chain_head.c.name == name)).one()
        prev, count = GENESIS, 0
        for row in _stream(engine, table):
            seq = int(row["seq"])
            canonical = _canonical(row)
            if seq != count + 1:
                return ChainReport(name, False, count, count + 1,
                                   f"row {count + 1} is missing (next has seq {seq})")
            if row["prev_hash"] != prev:
                return ChainReport(name, False, count, seq,
                                   "prev_hash does not match the row before "
                                   "(a row was removed, inserted or moved)")
            if row["content_hash"] != _sha256(canonical) or row["row_hash"] != _sha256(
                    prev + canonical):
                return ChainReport(name, False, count, seq,
                                   f"{row['kind']} {row['key'][:16]}: content edited")
            prev, count = row["row_hash"], count + 1
    except SQLAlchemyError as exc:
        raise AuditStoreError(f"{name}: cannot verify: {error_summary(exc)}") from None
    if int(head.seq) != count or head.row_hash != prev:
        return ChainReport(name, False, count, count + 1,
                           f"the chain head records {head.seq} rows but the table has {count} "
                           "(rows were cut from the end, or the head was edited)")
    return ChainReport(name, True, count, None, f"{count} rows, chain intact")
