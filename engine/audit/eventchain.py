"""Payment events and their outcomes as chained, append-only rows of the log database.

The event store (``engine.events.store``) reads and writes these two tables;
this module is how their rows are chained and checked, so that they are as
tamper-evident as the decisions they feed. Each row stores, besides its three
hashes, the key of the row before it (``prev_event_id``, ``prev_outcome_key``):
a deleted theft finding is then named by its event id, not only by its
position. ``migrate`` chains the tables of a log written before events were
chained, in their stored order, without changing what they hold.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Engine, Table, inspect, select, text
from sqlalchemy.exc import SQLAlchemyError

from engine.audit.chain import append_chained, verify_chain
from engine.audit.rowcheck import GENESIS, Chained, ChainReport
from engine.audit.store import (
    LINK_COLUMNS,
    AuditStoreError,
    chain_head,
    create_guards,
    ensure_schema,
    error_summary,
    event_outcomes,
    payment_events,
    unchained_tables,
    write_transaction,
)

__all__ = ["EVENTS", "OUTCOMES", "Migration", "append_events", "append_outcomes", "migrate",
           "verify_events"]


def _outcome_name(row: Mapping[str, Any]) -> str:
    try:
        events = ", ".join(json.loads(row["event_ids"]))
    except (TypeError, ValueError):
        events = str(row["event_ids"])
    return f"{row['kind']} of customer {row['customer_id']} (events {events})"


def _columns(table: Table) -> tuple[str, ...]:
    return tuple(c.name for c in table.c
                 if c.name not in ("seq", "content_hash", "prev_hash", "row_hash"))


EVENTS = Chained("payment_events", "event", _columns(payment_events),
                 lambda row: row["event_id"], previous_key="prev_event_id",
                 key_column="event_id")
OUTCOMES = Chained("event_outcomes", "outcome", _columns(event_outcomes), _outcome_name,
                   previous_key="prev_outcome_key", key_column="outcome_key")
_KINDS = ((EVENTS, payment_events), (OUTCOMES, event_outcomes))


def append_events(conn: Connection, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Chain and insert ``payment_events`` rows, in order, in the caller's transaction."""
    return append_chained(conn, EVENTS, payment_events, rows)


def append_outcomes(conn: Connection, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Chain and insert ``event_outcomes`` rows, in order, in the caller's transaction."""
    return append_chained(conn, OUTCOMES, event_outcomes, rows)


def verify_events(engine: Engine) -> list[ChainReport]:
    """Recompute the chains of the payment events and of their outcomes."""
    return [verify_chain(engine, table, kind) for kind, table in _KINDS]


@dataclass(frozen=True)
class Migration:
    """What ``migrate`` did: rows chained per table (empty when nothing needed it)."""

    chained: dict[str, int]
    renumbered: dict[str, int]


def migrate(engine: Engine) -> Migration:
    """Chain the event tables of a log written before they were chained; idempotent.

    The rows keep their content and their order (by stored sequence number);
    they gain the key of the row before, their hashes, the chain head and the
    triggers that refuse updates and deletes from now on. A sequence with gaps
    (a PostgreSQL sequence skips numbers after a rolled-back insert) is closed
    up first, since the chain counts rows without gaps; ``renumbered`` says how
    many rows moved.
    """
    chained: dict[str, int] = {}
    renumbered: dict[str, int] = {}
    url = engine.url.render_as_string(hide_password=True)
    try:
        with write_transaction(engine) as conn:
            for name in unchained_tables(conn):
                kind, table = next(k for k in _KINDS if k[0].table == name)
                renumbered[name] = _close_gaps(conn, name)
                chained[name] = _chain_existing(conn, kind, table)
                create_guards(conn, name)
    except SQLAlchemyError as exc:
        raise AuditStoreError(f"audit database {url}: cannot migrate: {error_summary(exc)}"
                              ) from None
    ensure_schema(engine)
    return Migration(chained, {k: v for k, v in renumbered.items() if v})


def _close_gaps(conn: Connection, name: str) -> int:
    seqs = list(conn.scalars(text(f"SELECT seq FROM {name} ORDER BY seq")))
    moved = 0
    for number, seq in enumerate(seqs, start=1):
        if seq != number:
            conn.execute(text(f"UPDATE {name} SET seq = :n WHERE seq = :s"),
                         {"n": number, "s": seq})
            moved += 1
    return moved


def _chain_existing(conn: Connection, kind: Chained, table: Table) -> int:
    previous_column = LINK_COLUMNS[table.name]
    for column, width in ((previous_column, table.c[previous_column].type.length),
                          ("content_hash", 64), ("prev_hash", 64), ("row_hash", 64)):
        if column not in {c["name"] for c in inspect(conn).get_columns(table.name)}:
            conn.execute(text(f"ALTER TABLE {table.name} ADD COLUMN {column} "
                              f"VARCHAR({width}) NOT NULL DEFAULT ''"))
    rows = [dict(r) for r in conn.execute(select(table).order_by(table.c.seq)).mappings()]
    if rows:
        prev, previous = GENESIS, None
        for row in rows:  # each row keeps its own number: link() numbers from the one before
            _, prev = kind.link([row], int(row["seq"]) - 1, prev, previous)
            previous = row[kind.key_column]
            conn.execute(table.update().where(table.c.seq == row["seq"]).values(
                {previous_column: row[previous_column], "content_hash": row["content_hash"],
                 "prev_hash": row["prev_hash"], "row_hash": row["row_hash"]}))
        head = (int(rows[-1]["seq"]), rows[-1]["row_hash"])
    else:
        head = (0, GENESIS)
    conn.execute(chain_head.delete().where(chain_head.c.name == table.name))
    conn.execute(chain_head.insert().values(name=table.name, seq=head[0], row_hash=head[1]))
    return len(rows)
