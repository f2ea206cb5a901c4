"""Payment events and their outcomes are chained rows: tampering is named by event id.

On SQLite and PostgreSQL: a deleted theft finding and its outcome, an edited
outcome amount, two events swapped; each makes ``audit verify`` exit 1 and
name the event. A log written before events were chained is refused with the
command that migrates it, and the migration chains it without changing it.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text
from typer.testing import CliRunner

from engine.audit.eventchain import migrate, verify_events
from engine.audit.log import open_log
from engine.audit.store import AuditStoreError
from engine.cli import app
from engine.events.model import to_micros
from engine.events.processor import EventProcessor
from engine.events.rules import load_event_rules
from engine.events.store import open_store

RULES = Path(__file__).resolve().parent.parent / "rules" / "events.yaml"
T0 = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)


def ev(type_: str, event_id: str, day: float, customer: str = "C1", **fields) -> dict:
    return {"type": type_, "event_id": event_id, "customer_id": customer,
            "time": (T0 + dt.timedelta(days=day)).isoformat(), **fields}


STREAM = [ev("bill_issued", "b1", 0, bill_id="B1", amount=300.0),
          ev("bill_overdue", "o1", 31, bill_id="B1", penalty=40.0),
          ev("repayment", "r1", 35, bill_id="B1", amount=300.0),
          ev("theft_finding", "t1", 40),
          ev("bill_issued", "b2", 41, bill_id="B2", amount=120.0)]


@pytest.fixture
def filled(db: str) -> Iterator[str]:
    store = open_store(db)
    processor = EventProcessor(store, load_event_rules(RULES))
    results = processor.process_many(STREAM, now_us=to_micros(T0 + dt.timedelta(days=42)))
    assert all(r.ok for r in results), results
    store.close()
    yield db


def sql(db: str, statement: str, **params: object) -> None:
    with open_log(db) as log, log.engine.begin() as conn:
        conn.execute(text(statement), params)


def unguard(db: str) -> None:
    """What an attacker with database rights does first: drop the append-only triggers."""
    with open_log(db) as log:
        sqlite = log.engine.dialect.name == "sqlite"
    for table in ("payment_events", "event_outcomes"):
        if sqlite:
            sql(db, f"DROP TRIGGER {table}_no_update")
            sql(db, f"DROP TRIGGER {table}_no_delete")
        else:
            sql(db, f"DROP TRIGGER {table}_no_change ON {table}")


def verify(db: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, ["audit", "verify", "--db", db])
    return result.exit_code, result.output


def test_an_intact_event_chain_verifies(filled):
    code, out = verify(filled)
    assert code == 0, out
    assert "payment events: 5 rows, chain intact" in out
    assert "event outcomes: " in out and "chain intact" in out.split("event outcomes: ")[1]


def test_updates_and_deletes_of_events_are_refused_by_the_database(filled):
    with pytest.raises(Exception, match="payment_events is append-only"):
        sql(filled, "DELETE FROM payment_events WHERE event_id = 't1'")
    with pytest.raises(Exception, match="event_outcomes is append-only"):
        sql(filled, "UPDATE event_outcomes SET amount = 400")
    assert verify(filled)[0] == 0


def test_a_deleted_theft_finding_and_its_outcome_are_named(filled):
    unguard(filled)
    sql(filled, "DELETE FROM event_outcomes WHERE kind = 'theft_override'")
    sql(filled, "DELETE FROM payment_events WHERE event_id = 't1'")
    code, out = verify(filled)
    assert code == 1
    assert ("payment events: BROKEN at row 4: row 4 (event t1) is missing: the next row has "
            "seq 5") in out
    assert ("event outcomes: BROKEN at row 3: the chain head records 3 rows ending in" in out
            and "(rows were cut from the end, or the head was edited)" in out)


def test_an_edited_outcome_amount_is_named_with_its_events(filled):
    unguard(filled)
    sql(filled, "UPDATE event_outcomes SET amount = 400 WHERE seq = 1")
    code, out = verify(filled)
    assert code == 1
    line = next(x for x in out.splitlines() if x.startswith("event outcomes:"))
    assert "BROKEN at row 1: outcome " in line and "content edited" in line
    with open_log(filled) as log, log.engine.connect() as conn:
        ids = json.loads(conn.execute(text(
            "SELECT event_ids FROM event_outcomes WHERE seq = 1")).scalar_one())
    assert f"(events {', '.join(ids)})" in line


def test_two_swapped_events_are_named(filled):
    unguard(filled)
    sql(filled, "UPDATE payment_events SET seq = 100 WHERE seq = 2")
    sql(filled, "UPDATE payment_events SET seq = 2 WHERE seq = 3")
    sql(filled, "UPDATE payment_events SET seq = 3 WHERE seq = 100")
    code, out = verify(filled)
    assert code == 1
    assert "payment events: BROKEN at row 2: prev_hash" in out
    assert "of event r1 does not match" in out


# ---------------------------------------------------------------- a log from before the chain

_OLD_EVENTS = """CREATE TABLE payment_events (seq INTEGER PRIMARY KEY, event_id VARCHAR(128)
 NOT NULL UNIQUE, customer_id VARCHAR(64) NOT NULL, type VARCHAR(32) NOT NULL, ts BIGINT NOT NULL,
 bill_id VARCHAR(128), payload TEXT NOT NULL)"""
_OLD_OUTCOMES = """CREATE TABLE event_outcomes (seq INTEGER PRIMARY KEY, outcome_key VARCHAR(300)
 NOT NULL UNIQUE, customer_id VARCHAR(64) NOT NULL, kind VARCHAR(32) NOT NULL, rule_id
 VARCHAR(128) NOT NULL, reason TEXT NOT NULL, event_ids TEXT NOT NULL, valid_from BIGINT NOT
 NULL, valid_until BIGINT NOT NULL, amount FLOAT, grade VARCHAR(8), raised_by VARCHAR(128)
 NOT NULL)"""


def _old_log(db: str, filled_from: str) -> None:
    """A log as the previous version wrote it: event tables without chain columns."""
    with open_log(filled_from) as source, source.engine.connect() as conn:
        events = [dict(r._mapping) for r in conn.execute(text(
            "SELECT seq, event_id, customer_id, type, ts, bill_id, payload FROM payment_events"))]
    with open_log(db) as log, log.engine.begin() as conn:
        for table in ("payment_events", "event_outcomes"):
            conn.execute(text(f"DROP TABLE {table}"))
            conn.execute(text(f"DELETE FROM chain_head WHERE name = '{table}'"))
        conn.execute(text(_OLD_EVENTS))
        conn.execute(text(_OLD_OUTCOMES))
        for row in events:
            row["seq"] *= 2  # a PostgreSQL sequence leaves gaps after rolled-back inserts
            conn.execute(text("INSERT INTO payment_events VALUES (:seq, :event_id, "
                              ":customer_id, :type, :ts, :bill_id, :payload)"), row)


def test_a_log_from_before_the_chain_is_refused_then_migrated(filled, tmp_path):
    old = str(tmp_path / "old.sqlite")
    _old_log(old, filled)
    with pytest.raises(AuditStoreError, match=r"payment_events and event_outcomes were written "
                       r"by an earlier version.*run gridcredit audit migrate --db"):
        open_log(old)
    code, out = verify(old)
    assert code == 2 and "gridcredit audit migrate" in out
    with open_log(old, migrating=True) as log, log.engine.connect() as conn:
        before = [tuple(r) for r in conn.execute(text(
            "SELECT event_id, customer_id, type, ts, bill_id, payload FROM payment_events "
            "ORDER BY seq"))]
    result = CliRunner().invoke(app, ["audit", "migrate", "--db", old])
    assert result.exit_code == 0, result.output
    assert "payment events: 5 rows chained (5 renumbered to close gaps" in result.output
    assert verify(old)[0] == 0
    with open_log(old) as log, log.engine.connect() as conn:
        after = [tuple(r) for r in conn.execute(text(
            "SELECT event_id, customer_id, type, ts, bill_id, payload FROM payment_events "
            "ORDER BY seq"))]
        assert after == before
        assert all(r.ok for r in verify_events(log.engine))
        assert migrate(log.engine).chained == {}
    again = CliRunner().invoke(app, ["audit", "migrate", "--db", old])
    assert "nothing to migrate" in again.output
    unguard(old)
    sql(old, "DELETE FROM payment_events WHERE event_id = 'o1'")
    code, out = verify(old)
    assert code == 1 and "row 2 (event o1) is missing" in out
