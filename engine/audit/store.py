"""The audit database: schema, connection settings and the append-only guard.

The decision log lives in any database SQLAlchemy reaches; two are supported
and tested: SQLite (the embedded default, one file) and PostgreSQL (the server
option, through psycopg 3). This module owns what differs between them so
that ``engine.audit.log`` speaks only of chains and decisions.

Schema. Every hash-chained table has its own row in ``chain_head`` (name,
last sequence number, last row hash). The head row is what writers lock, and
it lets ``verify`` notice rows cut from the end of a chain, which the chain
itself cannot show. A new chained table (payment events, for instance) is one
more ``Table`` on ``METADATA``, one more name in ``CHAINS`` and one more entry
in ``APPEND_ONLY``.

Durability. SQLite runs in WAL mode with ``synchronous=FULL``: a decision is
logged before its response is sent, so a commit that returned must survive a
power cut, not only a crash of the process. ``NORMAL`` would be faster but may
lose the last commits on power loss (the WAL is not synced at each commit),
which would leave decisions that customers were told about with no record.

Concurrency. Appends run in a transaction that first takes the chain's write
lock: ``BEGIN IMMEDIATE`` on SQLite (one writer per file, others wait up to
``BUSY_TIMEOUT_S``), ``SELECT ... FOR UPDATE`` on the chain-head row on
PostgreSQL. Two writers therefore never read the same head, and the chain
cannot fork.

Append-only. The library has no update or delete call; the database refuses
them too, by triggers on the log table (and, on PostgreSQL, on TRUNCATE).
"""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path
from typing import Any

from sqlalchemy import (
    BigInteger,
    Column,
    Connection,
    Engine,
    Float,
    Index,
    MetaData,
    String,
    Table,
    Text,
    create_engine,
    event,
    inspect,
    select,
    text,
)
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, SQLAlchemyError

from engine.audit.rowcheck import GENESIS
from engine.config import DB_ENV, default_database
from engine.errors import ConfigError, EngineError

__all__ = [
    "APPEND_ONLY",
    "BUSY_TIMEOUT_S",
    "CHAINS",
    "ENV_VAR",
    "GENESIS",
    "METADATA",
    "AuditStoreError",
    "archive",
    "chain_head",
    "create_guards",
    "decision_log",
    "ensure_schema",
    "event_outcomes",
    "payment_events",
    "unchained_tables",
    "sqlite_file",
    "error_summary",
    "make_engine",
    "releases",
    "resolve_url",
    "write_transaction",
]

ENV_VAR = DB_ENV
BUSY_TIMEOUT_S = 30.0

METADATA = MetaData()

chain_head = Table(
    "chain_head",
    METADATA,
    Column("name", String(64), primary_key=True),
    Column("seq", BigInteger, nullable=False),
    Column("row_hash", String(64), nullable=False),
)

decision_log = Table(
    "decision_log",
    METADATA,
    Column("seq", BigInteger, primary_key=True, autoincrement=False),
    Column("decision_id", String(128), nullable=False, unique=True),
    Column("customer_id", String(128), nullable=False),
    Column("as_of", String(32), nullable=False),
    Column("created_at", String(40), nullable=False),
    Column("table_hash", String(64), nullable=False),
    Column("model_id", String(200), nullable=False),
    Column("payload", Text, nullable=False),
    Column("content_hash", String(64), nullable=False),
    Column("prev_hash", String(64), nullable=False),
    Column("row_hash", String(64), nullable=False),
    # The decision id of the row before (engine.audit.decisionrows); last, as an older log
    # gains it from ensure_schema.
    Column("prev_decision_id", String(128), nullable=False, server_default=""),
)
Index("ix_decision_log_customer_seq", decision_log.c.customer_id, decision_log.c.seq)



def _links(previous: str, width: int) -> list[Column]:
    """The chain columns of a table whose rows name the row before them."""
    return [Column(previous, String(width), nullable=False),
            Column("content_hash", String(64), nullable=False),
            Column("prev_hash", String(64), nullable=False),
            Column("row_hash", String(64), nullable=False)]


def _keyed(name: str) -> Table:
    """A chained table of keyed JSON records (``engine.audit.chain``)."""
    return Table(
        name,
        METADATA,
        Column("seq", BigInteger, primary_key=True, autoincrement=False),
        Column("kind", String(16), nullable=False),
        Column("key", String(64), nullable=False),
        Column("created_at", String(40), nullable=False),
        Column("content", Text, nullable=False),
        Column("content_hash", String(64), nullable=False),
        Column("prev_hash", String(64), nullable=False),
        Column("row_hash", String(64), nullable=False),
    )


# Everything that decided or explained, by content hash: table sets and model artifacts.
archive = _keyed("archive")
Index("ix_archive_kind_key", archive.c.kind, archive.c.key, unique=True)
# Published table sets: who published what, approved by whom, and the rule-level diff.
releases = _keyed("releases")
Index("ix_releases_key", releases.c.key)

# Payment events and the outcomes the event rules raised (``engine.events``): chained like
# the log, each row also naming the row before it, so that a deleted one can be named.
payment_events = Table(
    "payment_events",
    METADATA,
    Column("seq", BigInteger, primary_key=True, autoincrement=False),
    Column("event_id", String(128), nullable=False, unique=True),
    Column("customer_id", String(64), nullable=False),
    Column("type", String(32), nullable=False),
    Column("ts", BigInteger, nullable=False),
    Column("bill_id", String(128)),
    Column("payload", Text, nullable=False),
    *_links("prev_event_id", 128),
)
Index("ix_payment_events_customer_ts", payment_events.c.customer_id, payment_events.c.ts)
Index("ix_payment_events_customer_bill", payment_events.c.customer_id, payment_events.c.bill_id,
      payment_events.c.type)

event_outcomes = Table(
    "event_outcomes",
    METADATA,
    Column("seq", BigInteger, primary_key=True, autoincrement=False),
    Column("outcome_key", String(300), nullable=False, unique=True),
    Column("customer_id", String(64), nullable=False),
    Column("kind", String(32), nullable=False),
    Column("rule_id", String(128), nullable=False),
    Column("reason", Text, nullable=False),
    Column("event_ids", Text, nullable=False),
    Column("valid_from", BigInteger, nullable=False),
    Column("valid_until", BigInteger, nullable=False),
    Column("amount", Float),
    Column("grade", String(8)),
    Column("raised_by", String(128), nullable=False),
    *_links("prev_outcome_key", 300),
)
Index("ix_event_outcomes_customer", event_outcomes.c.customer_id, event_outcomes.c.valid_until)

#: The columns a table written before its rows were chained lacks.
LINK_COLUMNS = {"payment_events": "prev_event_id", "event_outcomes": "prev_outcome_key"}
CHAINS = ("decision_log", "archive", "releases", "payment_events", "event_outcomes")
APPEND_ONLY = CHAINS


class AuditStoreError(EngineError):
    """The audit database cannot be reached or refused an operation."""

    http_status = 503
    code = "audit_store_unavailable"


def resolve_url(url: str | None = None, path: str | Path | None = None) -> str:
    """The SQLAlchemy URL for an explicit URL, a file path, ``$GRIDCREDIT_DB`` or the default.

    The default is ``out/decisions.sqlite`` under the project home
    (``engine.config.default_database``), never under the working folder.
    A value without ``://`` is a SQLite file path. ``postgresql://`` and
    ``postgres://`` URLs are sent to the psycopg 3 driver, the one installed.
    """
    if url is None and path is None:
        url = default_database()
    if url is not None and "://" not in url:
        path, url = url, None
    if url is None:
        file = Path(path).expanduser()  # type: ignore[arg-type]
        return f"sqlite:///{file}"
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix):]
    return url


def make_engine(url: str, *, synchronous: str = "FULL", create: bool = True) -> Engine:
    """An engine configured for the log: WAL and explicit locking on SQLite."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise ConfigError(
            f"audit database URL {url!r} is not a database URL: use a file path "
            "or postgresql://user@host:port/dbname"
        ) from None
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        database = parsed.database or ""
        if database in ("", ":memory:"):
            raise ConfigError(
                "the audit log needs a file (an in-memory SQLite log would vanish "
                "at exit): give a path such as out/decisions.sqlite"
            )
        if not create and not Path(database).is_file():
            raise ConfigError(
                f"no decision log at {database}: give the log with --db PATH-or-URL "
                f"or set ${ENV_VAR}"
            )
        Path(database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(
            url, connect_args={"timeout": BUSY_TIMEOUT_S, "check_same_thread": False}
        )
        _configure_sqlite(engine, synchronous)
        return engine
    if backend == "postgresql":
        return create_engine(url, pool_pre_ping=True)
    raise ConfigError(
        f"audit database {backend!r} is not supported: use a SQLite path or a postgresql:// URL"
    )


def _configure_sqlite(engine: Engine, synchronous: str) -> None:
    """Let the library issue BEGIN itself, so appends can take the write lock up front."""
    if synchronous not in ("FULL", "NORMAL", "EXTRA"):
        raise ConfigError(f"synchronous={synchronous!r}: use FULL, NORMAL or EXTRA")

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout={int(BUSY_TIMEOUT_S * 1000)}")
        _use_wal(cursor)
        cursor.execute(f"PRAGMA synchronous={synchronous}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        mode = conn.get_execution_options().get("sqlite_begin", "DEFERRED")
        conn.exec_driver_sql(f"BEGIN {mode}")


def _use_wal(cursor: Any) -> None:
    """Put a new database in WAL mode, waiting while another process does the same.

    SQLite answers "database is locked" at once, without its busy handler, to a
    connection that asks for WAL while a peer is switching the same new file.
    """
    deadline = time.monotonic() + BUSY_TIMEOUT_S
    while True:
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.01)


def sqlite_file(engine: Engine) -> str | None:
    """The file of a SQLite engine, beside which its side files live; None otherwise."""
    url = engine.url
    if url.get_backend_name() != "sqlite" or url.database in (None, "", ":memory:"):
        return None
    return url.database


def write_transaction(engine: Engine) -> Any:
    """A transaction that holds the database's write lock from its first statement on SQLite.

    On PostgreSQL the lock is the ``FOR UPDATE`` on the chain-head row, taken
    by the caller's first query; an ordinary transaction is enough here.
    """
    conn = engine.connect()
    if engine.dialect.name == "sqlite":
        conn.execution_options(sqlite_begin="IMMEDIATE")
    return _Transaction(conn)


class _Transaction:
    """Context manager: commit on success, roll back on any error, always close."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def __enter__(self) -> Connection:
        self.conn.begin()
        return self.conn

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        try:
            if exc_type is None:
                self.conn.commit()
            else:
                self.conn.rollback()
        finally:
            self.conn.close()


_PG_GUARD = """
CREATE OR REPLACE FUNCTION gridcredit_refuse_change() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION '% is append-only: % refused', TG_TABLE_NAME, TG_OP
        USING ERRCODE = 'insufficient_privilege';
END;
$$ LANGUAGE plpgsql
"""


def _guard_ddl(dialect: str, table: str) -> list[str]:
    if dialect == "sqlite":
        return [
            f"CREATE TRIGGER IF NOT EXISTS {table}_no_{op.lower()} BEFORE {op} ON {table} "
            f"BEGIN SELECT RAISE(ABORT, '{table} is append-only: {op} refused'); END"
            for op in ("UPDATE", "DELETE")
        ]
    if dialect == "postgresql":
        return [
            _PG_GUARD,
            f"CREATE TRIGGER {table}_no_change BEFORE UPDATE OR DELETE ON {table} "
            "FOR EACH ROW EXECUTE FUNCTION gridcredit_refuse_change()",
            f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
            "FOR EACH STATEMENT EXECUTE FUNCTION gridcredit_refuse_change()",
        ]
    return []


_PG_SCHEMA_LOCK = 0x67726964  # any constant: serialises schema creation across processes


def ensure_schema(engine: Engine) -> None:
    """Create the tables, their guards and the chain heads once, safely under concurrency."""
    dialect = engine.dialect.name
    try:
        if _schema_ready(engine):
            return
        with write_transaction(engine) as conn:
            if dialect == "postgresql":
                conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PG_SCHEMA_LOCK})
            existing = set(inspect(conn).get_table_names())
            old = unchained_tables(conn)
            if old:
                raise AuditStoreError(
                    f"audit database {engine.url.render_as_string(hide_password=True)}: "
                    f"{' and '.join(old)} were written by an earlier version, before payment "
                    "events were hash-chained: run gridcredit audit migrate --db "
                    "<this database> once to chain them (nothing stored is changed)")
            METADATA.create_all(conn, checkfirst=True)
            if "decision_log" in existing and not _names_previous(conn):
                conn.execute(text(_ADD_PREVIOUS))
            for table in APPEND_ONLY:
                if dialect == "sqlite" or table not in existing:
                    create_guards(conn, table)
            have = set(conn.scalars(select(chain_head.c.name)))
            for name in CHAINS:
                if name not in have:
                    conn.execute(chain_head.insert().values(name=name, seq=0, row_hash=GENESIS))
    except SQLAlchemyError as exc:
        raise AuditStoreError(
            f"audit database {engine.url.render_as_string(hide_password=True)}: "
            f"cannot prepare the log: {error_summary(exc)}"
        ) from None


#: What a log written before rows named the decision before them gains: a column, empty in
#: its old rows, whose hashes do not cover it (nothing stored is changed).
_ADD_PREVIOUS = ("ALTER TABLE decision_log ADD COLUMN prev_decision_id VARCHAR(128) "
                 "NOT NULL DEFAULT ''")


def _names_previous(conn: Connection) -> bool:
    """Whether the decision log has its ``prev_decision_id`` column."""
    return "prev_decision_id" in {c["name"] for c in inspect(conn).get_columns("decision_log")}


def unchained_tables(conn: Connection) -> list[str]:
    """The event tables of this database that exist without their chain columns."""
    found = inspect(conn)
    names = set(found.get_table_names())
    return [table for table, column in LINK_COLUMNS.items()
            if table in names and column not in {c["name"] for c in found.get_columns(table)}]


def create_guards(conn: Connection, table: str) -> None:
    """Install the triggers that refuse updates and deletes of ``table``'s rows."""
    for statement in _guard_ddl(conn.dialect.name, table):
        conn.execute(text(statement))


def _schema_ready(engine: Engine) -> bool:
    """True when every table and chain head exists: readers then never wait for the write lock."""
    with engine.connect() as conn:
        if not set(METADATA.tables) <= set(inspect(conn).get_table_names()):
            return False
        return (set(CHAINS) <= set(conn.scalars(select(chain_head.c.name)))
                and _names_previous(conn))


def error_summary(exc: BaseException) -> str:
    """The database's own one-line message, without SQLAlchemy's statement dump."""
    orig = getattr(exc, "orig", None) or exc
    return str(orig).strip().splitlines()[0] if str(orig).strip() else type(orig).__name__
