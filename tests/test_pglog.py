"""The PostgreSQL log appends each group on one held connection: a group is one transaction,
the head moves once per group, and a connection the server dropped refuses its group and is
replaced for the next, with the chain whole."""

from __future__ import annotations

import psycopg
import pytest
from sqlalchemy import text

from engine.audit.log import open_log
from engine.audit.store import AuditStoreError
from tests.factories import make_decision


@pytest.fixture
def pg_log(postgres_server):
    log = open_log(postgres_server.create_database("pglog"))
    yield log
    log.close()


def _head_version(log) -> int:
    """The id of the transaction that last wrote the chain head (its row's ``xmin``)."""
    with log.engine.connect() as conn:
        return conn.execute(text("SELECT xmin::text::bigint FROM chain_head "
                                 "WHERE name = 'decision_log'")).scalar()


def test_a_group_is_one_transaction_that_moves_the_head_once(pg_log):
    pg_log.append_many([make_decision(i) for i in range(3)])
    before = _head_version(pg_log)
    pg_log.append_many([make_decision(i) for i in range(3, 40)])
    after = _head_version(pg_log)
    with pg_log.engine.connect() as conn:
        xmins = set(conn.execute(text("SELECT xmin::text::bigint FROM decision_log "
                                      "WHERE seq > 3")).scalars())
    # every row of the group and the head's new version were written by one transaction
    assert xmins == {after} and after != before
    report = pg_log.verify()
    assert report.ok and report.rows == 40


def test_a_connection_the_server_dropped_refuses_its_group_and_the_next_one_reconnects(
        pg_log):
    pg_log.append_many([make_decision(i) for i in range(5)])
    held = pg_log._postgres._held.driver_connection
    with pg_log.engine.connect() as conn:
        conn.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": held.info.backend_pid})
        conn.commit()
    with pytest.raises(AuditStoreError, match="cannot append"):
        pg_log.append_many([make_decision(i) for i in range(5, 10)])
    assert [pg_log.has(f"d-{i:05d}") for i in (5, 9)] == [False, False]
    pg_log.append_many([make_decision(i) for i in range(5, 10)])
    report = pg_log.verify()
    assert report.ok and report.rows == 10
    assert isinstance(held, psycopg.Connection) and held.closed
