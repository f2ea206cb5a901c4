"""The tamper-evident decision log: every decision, hash-chained, append-only.

Each decision is written before its answer leaves the engine. A row holds the
decision as canonical JSON plus the columns an auditor searches by, and three
hashes::

    content_hash = sha256(canonical content)
    row_hash     = sha256(prev_hash + canonical content)
    prev_hash    = row_hash of the row before (64 zeros for the first row)

where the canonical content is the sorted-key JSON of the row's sequence
number, decision id, customer id, as-of date, creation time, table hash, model
id, payload and the decision id of the row before (``prev_decision_id``; rows
logged before rows recorded it leave it out). A deleted decision is named by
the row after it; the link is the row's, not the decision's, so a digest never
covers it.

A batch run is one row of the same chain (``engine.batch.runlog``): its id is
the run id, its customer id ``RUN_CUSTOMER``, its payload the run entry
(``"kind": "batch_run"``: input, tables, models, counts, output digests),
sealed like a decision by a ``digest`` over the rest of the payload. The
decisions of the run are the rows of its output, each carrying its own id
and digest. Changing any stored byte, removing a row, or moving one
breaks the chain at that row, and ``verify`` names it. Rows cut from the end
are caught by the chain head, which records the last sequence number and
hash; publishing ``VerifyReport.head_hash`` from time to time anchors even a
log rewritten wholesale.

Errors::

    EngineError
    ├── AuditStoreError (engine.audit.store)   HTTP 503: the database is unreachable
    └── InputError
        ├── DecisionNotFound (also LookupError)  HTTP 404: no such decision id
        └── DuplicateDecision                    HTTP 409: the id is already logged
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import psycopg
from sqlalchemy import Connection, Engine, bindparam, func, select
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from engine.audit.decisionrows import (
    DECISIONS,
    RUN_CUSTOMER,
    RUN_KIND,
    STEP_KIND,
    STEP_MODEL,
    entry_kind,
    payload_digest,
    run_models,
)
from engine.audit.pglog import PostgresAppender
from engine.audit.rowcheck import check_rows
from engine.audit.sqlitelog import CHAIN, SqliteAppender, chained
from engine.audit.store import (
    GENESIS,
    AuditStoreError,
    chain_head,
    decision_log,
    ensure_schema,
    error_summary,
    make_engine,
    resolve_url,
    write_transaction,
)
from engine.decision import Decision, canonical_json, sha256_hex
from engine.errors import InputError

__all__ = [
    "AuditStoreError",
    "DecisionLog",
    "DecisionNotFound",
    "DuplicateDecision",
    "LogEntry",
    "RunNotADecision",
    "StepNotADecision",
    "VerifyReport",
    "open_log",
    "verify_rows",
]

_ENTRY_COLUMNS = [c for c in decision_log.c if c.name != "payload"]
_INSERT_CHUNK = 1000

# Built once: composing SQLAlchemy expressions per append costs more than the write itself.
_LOCK_HEAD = (
    select(chain_head.c.seq, chain_head.c.row_hash,
           select(decision_log.c.decision_id).where(decision_log.c.seq == chain_head.c.seq)
           .scalar_subquery().label("previous"))
    .where(chain_head.c.name == bindparam("chain"))
    .with_for_update(of=chain_head)
)
_READ_HEAD = select(chain_head.c.seq, chain_head.c.row_hash).where(
    chain_head.c.name == bindparam("chain")
)
_MOVE_HEAD = (
    chain_head.update()
    .where(chain_head.c.name == bindparam("chain"))
    .values(seq=bindparam("head_seq"), row_hash=bindparam("head_hash"))
)
_INSERT = decision_log.insert()


class DecisionNotFound(InputError, LookupError):
    """No decision with this id is in the log."""

    http_status = 404
    code = "decision_not_found"


class DuplicateDecision(InputError):
    """A decision id that is already in the log: ids are unique, the log is append-only."""

    http_status = 409
    code = "decision_duplicate"


class RunNotADecision(InputError):
    """The id names a batch run: its decisions are the rows of its output."""

    code = "decision_is_a_run"


class StepNotADecision(InputError):
    """The id names a collection step (``engine.collections.steps``), not a credit decision."""

    code = "decision_is_a_step"


@dataclass(frozen=True)
class LogEntry:
    """One row of the log without its payload (``DecisionLog.get`` returns the decision)."""

    seq: int
    decision_id: str
    customer_id: str
    as_of: str
    created_at: str
    table_hash: str
    model_id: str
    content_hash: str
    prev_hash: str
    row_hash: str
    prev_decision_id: str = ""  # the decision of the row before ("" in rows logged before it was)


@dataclass(frozen=True)
class VerifyReport:
    """The outcome of recomputing the chain.

    ``first_broken`` is the sequence number of the first row that fails (for a
    missing row, the number that is missing); ``reason`` says what differs.
    """

    ok: bool
    rows: int
    first_broken: int | None
    reason: str
    decision_id: str | None = None
    head_hash: str = GENESIS


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds")


def _columns_of(decision: Decision) -> dict[str, Any]:
    """The row columns of a decision (all but seq and hashes); refuses an unsealed decision."""
    if not isinstance(decision, Decision):
        raise InputError(
            "the decision log stores engine.decision.Decision objects, "
            f"not {type(decision).__name__}"
        )
    payload = decision.canonical_payload()
    if not _seals(payload, decision.digest):
        raise InputError(
            f"decision {decision.decision_id!r} is not sealed (its digest does not cover its "
            "content): log decision.sealed()"
        )
    return {
        "decision_id": decision.decision_id,
        "customer_id": decision.customer_id,
        "as_of": decision.as_of,
        "created_at": _now(),
        "table_hash": decision.tables.content_hash,
        "model_id": decision.score.model_id,
        "payload": payload.decode(),
    }


def _seals(payload: bytes, digest: str) -> bool:
    """Whether ``digest`` is the SHA-256 of the canonical ``payload`` without its digest.

    The canonical JSON of the rest is the payload with its ``"digest"`` member cut
    out: keys are sorted and ``"as_of"`` sorts before it, so the member is
    ``,"digest":"<hex>"``, and it appears once (a quote inside a text is escaped,
    and no nested value can hold the hash of the document that holds it).
    """
    member = b',"digest":' + orjson.dumps(digest)
    if payload.count(member) != 1:
        return False
    return sha256_hex(payload.replace(member, b"", 1)) == digest


def _entry(row: Mapping[str, Any]) -> LogEntry:
    return LogEntry(**{c.name: row[c.name] for c in _ENTRY_COLUMNS})


class DecisionLog:
    """An open decision log. Safe to share between threads; several processes may append."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.url = engine.url.render_as_string(hide_password=True)
        self._sqlite = SqliteAppender(engine) if engine.dialect.name == "sqlite" else None
        self._postgres = (PostgresAppender(engine) if engine.dialect.name == "postgresql"
                          else None)

    def __enter__(self) -> DecisionLog:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"DecisionLog({self.url!r})"

    def append(self, decision: Decision) -> LogEntry:
        """Log one decision and return its row; it is durable when this returns."""
        rows = self._append_rows([_columns_of(decision)])
        return _entry(rows[0])

    def append_many(self, decisions: Iterable[Decision]) -> int:
        """Log many decisions in one transaction, chained in the given order; returns the count.

        Either all are logged or none: a duplicate id refuses the whole batch.
        """
        columns = [_columns_of(d) for d in decisions]
        seen: set[str] = set()
        for c in columns:
            if c["decision_id"] in seen:
                raise DuplicateDecision(
                    f"decision id {c['decision_id']!r} appears twice in the batch: "
                    "give every decision its own id"
                )
            seen.add(c["decision_id"])
        return len(self._append_rows(columns)) if columns else 0

    def _append_rows(self, columns: list[dict[str, Any]]) -> list[dict[str, Any]]:
        try:
            if self._sqlite is not None:
                return self._sqlite.append(columns)
            if self._postgres is not None:
                return self._postgres.append(columns)
            with write_transaction(self.engine) as conn:
                head = conn.execute(_LOCK_HEAD, {"chain": CHAIN}).one()
                rows, seq, prev = chained(columns, int(head.seq), head.row_hash, head.previous)
                for start in range(0, len(rows), _INSERT_CHUNK):
                    conn.execute(_INSERT, rows[start:start + _INSERT_CHUNK])
                conn.execute(_MOVE_HEAD, {"chain": CHAIN, "head_seq": seq, "head_hash": prev})
                return rows
        except (IntegrityError, sqlite3.IntegrityError, psycopg.IntegrityError) as exc:
            taken = self._existing_ids([c["decision_id"] for c in columns])
            if taken:
                raise DuplicateDecision(
                    f"decision id {taken[0]!r} is already in the log {self.url} "
                    f"({len(taken)} of the {len(columns)} given are): the log is append-only, "
                    "decide again under a new id"
                ) from None
            raise self._store_error("cannot append", exc) from None
        except (SQLAlchemyError, sqlite3.Error, psycopg.Error) as exc:
            raise self._store_error("cannot append", exc) from None

    def _existing_ids(self, ids: list[str]) -> list[str]:
        found: list[str] = []
        with self.engine.connect() as conn:
            for start in range(0, len(ids), 500):
                chunk = ids[start:start + 500]
                found += conn.scalars(
                    select(decision_log.c.decision_id).where(decision_log.c.decision_id.in_(chunk))
                ).all()
        return sorted(found)

    def append_run(self, payload: dict[str, Any]) -> LogEntry:
        """Log one batch run's entry (``engine.batch.runlog``), sealed by its ``digest``."""
        data = {k: v for k, v in payload.items() if k != "digest"}
        data["digest"] = payload_digest(data)
        columns = {
            "decision_id": data["run_id"],
            "customer_id": RUN_CUSTOMER,
            "as_of": data["as_of"],
            "created_at": _now(),
            "table_hash": data["tables"]["content_hash"],
            "model_id": run_models(data),
            "payload": canonical_json(data),
        }
        return _entry(self._append_rows([columns])[0])

    def append_steps(self, payloads: list[dict[str, Any]]) -> int:
        """Log the collection steps (``engine.collections.steps``) whose ids are not logged
        yet, sealed by their ``digest``, in one transaction; returns how many were new."""
        fresh: dict[str, dict[str, Any]] = {}
        for payload in payloads:
            data = {k: v for k, v in payload.items() if k != "digest"}
            data["digest"] = payload_digest(data)
            fresh.setdefault(data["step_id"], data)
        for taken in self._existing_ids(list(fresh)):
            fresh.pop(taken)
        columns = [{"decision_id": sid, "customer_id": d["customer_id"], "as_of": d["as_of"],
                    "created_at": _now(), "table_hash": d["tables"]["content_hash"],
                    "model_id": STEP_MODEL, "payload": canonical_json(d)}
                   for sid, d in fresh.items()]
        return len(self._append_rows(columns)) if columns else 0

    def kind(self, decision_id: str) -> str | None:
        """What the row of this id holds (``decision``, ``batch_run``, ``collection_step``);
        None when no row has it."""
        payload = self._payload(decision_id)
        return None if payload is None else entry_kind(payload)

    def step(self, step_id: str) -> dict[str, Any]:
        """A logged collection step, its digest checked; ``DecisionNotFound`` if none."""
        return self._entry(step_id, STEP_KIND, "collection step",
                           "check the id (the step_id column of collections due)",
                           "is not a collection step")

    def _entry(self, entry_id: str, kind: str, noun: str, unknown: str,
               other: str) -> dict[str, Any]:
        """The logged entry of ``kind`` (a batch run or a collection step), digest checked."""
        payload = self._payload(entry_id)
        if payload is None:
            raise DecisionNotFound(f"{noun} {entry_id!r} is not in the log {self.url}: {unknown}")
        data = json.loads(payload)
        if not isinstance(data, dict) or data.get("kind") != kind:
            raise InputError(f"{entry_id!r} in {self.url} {other}")
        if data.get("digest") != payload_digest(data):
            raise InputError(f"{self.url}: {noun} {entry_id}: its entry was edited (the "
                             "digest does not match its content): run gridcredit audit verify")
        return data

    def _payload(self, decision_id: str) -> str | None:
        try:
            with self.engine.connect() as conn:
                return conn.scalar(
                    select(decision_log.c.payload).where(decision_log.c.decision_id == decision_id)
                )
        except SQLAlchemyError as exc:
            raise self._store_error("cannot read", exc) from None

    def has(self, decision_id: str) -> bool:
        """Whether a row of this id (decision or batch run) is in the log."""
        try:
            with self.engine.connect() as conn:
                return conn.scalar(select(decision_log.c.seq).where(
                    decision_log.c.decision_id == decision_id)) is not None
        except SQLAlchemyError as exc:
            raise self._store_error("cannot read", exc) from None

    def get(self, decision_id: str) -> Decision:
        """The logged decision; its digest is checked, so an edited payload is refused."""
        payload = self._payload(decision_id)
        if payload is None:
            raise DecisionNotFound(
                f"decision {decision_id!r} is not in the log {self.url}: check the id "
                "(gridcredit audit show takes the decision_id of a logged decision)"
            )
        kind = entry_kind(payload)
        if kind == RUN_KIND:
            raise RunNotADecision(
                f"{decision_id!r} is a batch run in {self.url}, not one decision: give the id "
                "of one of its decisions (the decision_id column of its output)")
        if kind == STEP_KIND:
            raise StepNotADecision(
                f"{decision_id!r} is a collection step in {self.url}, not a credit decision: "
                f"gridcredit audit replay {decision_id} recomputes it")
        return Decision.from_json(payload, source=f"{self.url}: decision {decision_id}")

    def run(self, run_id: str) -> dict[str, Any]:
        """A batch run's entry, its digest checked; ``DecisionNotFound`` for an unknown run."""
        return self._entry(run_id, RUN_KIND, "batch run",
                           "the run was not logged (decided without --db, or its log entry "
                           "failed: finish it with --resume)", "is a decision, not a batch run")

    def runs(self) -> list[dict[str, Any]]:
        """Every batch run's entry, oldest first (digests not checked: ``verify`` does)."""
        query = (select(decision_log.c.payload)
                 .where(decision_log.c.customer_id == RUN_CUSTOMER)
                 .order_by(decision_log.c.seq))
        try:
            with self.engine.connect() as conn:
                texts = list(conn.scalars(query))
        except SQLAlchemyError as exc:
            raise self._store_error("cannot read", exc) from None
        out = []
        for text in texts:
            try:
                data = json.loads(text)
            except ValueError:
                continue
            if isinstance(data, dict) and data.get("kind") == RUN_KIND:
                out.append(data)
        return out

    def entries(self, customer_id: str | None = None, limit: int = 100) -> list[LogEntry]:
        """The latest rows, newest first, optionally of one customer."""
        if limit < 1:
            raise InputError(f"limit={limit}: give a positive number of entries")
        query = select(*_ENTRY_COLUMNS).order_by(decision_log.c.seq.desc()).limit(limit)
        if customer_id is not None:
            query = query.where(decision_log.c.customer_id == customer_id)
        try:
            with self.engine.connect() as conn:
                return [_entry(r) for r in conn.execute(query).mappings()]
        except SQLAlchemyError as exc:
            raise self._store_error("cannot read", exc) from None

    def count(self) -> int:
        """How many decisions the log holds."""
        try:
            with self.engine.connect() as conn:
                return int(conn.scalar(select(func.count()).select_from(decision_log)) or 0)
        except SQLAlchemyError as exc:
            raise self._store_error("cannot read", exc) from None

    def verify(self) -> VerifyReport:
        """Recompute every hash in sequence order and report the first row that fails."""
        try:
            with self.engine.connect() as conn:
                return verify_rows(_stream(conn), _head(conn))
        except SQLAlchemyError as exc:
            raise self._store_error("cannot verify", exc) from None

    def defer_checkpoints(self) -> bool:
        """Stop SQLite appends from copying the WAL into the file themselves; True on SQLite.

        SQLite's own checkpoint runs inside the commit that grows the WAL past
        a thousand pages: every few hundred decisions, one commit copies them
        all into the database file and waits for its fsync, several times a
        normal commit. A caller that appends all the time defers that work
        and calls ``checkpoint`` from another thread, so no commit waits for it.
        """
        if self._sqlite is None:
            return False
        self._sqlite.autocheckpoint = False
        return True

    def defer_syncs(self) -> bool:
        """Let SQLite appends return before the WAL reaches the disk; True on SQLite.

        With ``synchronous=FULL`` a commit waits for the WAL's fsync while it
        holds the database's write lock, so every other process appending to
        the file waits for that flush too. A caller that defers the flush
        calls ``sync`` after each commit, outside the lock, and tells nobody a
        decision is logged before ``sync`` returns: what it confirms is as
        durable as under FULL (SQLite itself still syncs around checkpoints
        and when the WAL starts over), and commits of other processes proceed
        while the disk flushes.
        """
        if self._sqlite is None:
            return False
        self._sqlite.sync_on_commit = False
        return True

    def sync(self) -> None:
        """Flush every commit so far to the disk (``fdatasync`` of the SQLite WAL)."""
        if self._sqlite is not None:
            try:
                self._sqlite.sync()
            except OSError as exc:
                raise AuditStoreError(f"audit log {self.url}: cannot flush the WAL to the disk "
                                      f"({exc.strerror}): the last decisions are refused as "
                                      "not durable") from None

    def checkpoint(self) -> None:
        """Copy the committed WAL pages into the SQLite file (a passive checkpoint).

        It runs on a connection of its own and never blocks appends, which go
        on while it copies; what a commit adds meanwhile waits for the next one.
        """
        if self._sqlite is not None:
            try:
                self._sqlite.checkpoint()
            except sqlite3.Error as exc:
                raise self._store_error("cannot checkpoint", exc) from None

    def close(self) -> None:
        """Release the connections; the log stays on disk or on the server."""
        if self._sqlite is not None:
            self._sqlite.close()
        if self._postgres is not None:
            self._postgres.close()
        self.engine.dispose()

    def _store_error(self, what: str, exc: Exception) -> AuditStoreError:
        return AuditStoreError(f"audit log {self.url}: {what}: {error_summary(exc)}")


def _head(conn: Connection) -> tuple[int, str]:
    row = conn.execute(_READ_HEAD, {"chain": CHAIN}).one()
    return int(row.seq), row.row_hash


def _stream(conn: Connection) -> Iterator[dict[str, Any]]:
    result = conn.execution_options(yield_per=2000).execute(
        select(decision_log).order_by(decision_log.c.seq)
    )
    for row in result.mappings():
        yield dict(row)


def verify_rows(rows: Iterable[dict[str, Any]], head: tuple[int, str]) -> VerifyReport:
    """The chain check itself, over rows in sequence order: pure, so it is tested directly."""
    report = check_rows(DECISIONS, rows, head)
    return VerifyReport(report.ok, report.rows, report.first_broken, report.reason,
                        report.subject, report.head_hash)


def open_log(
    url: str | None = None, path: str | Path | None = None, *, create: bool = True,
    migrating: bool = False,
) -> DecisionLog:
    """Open (creating if needed) the decision log at a database URL or a SQLite file path.

    With neither, ``$GRIDCREDIT_DB`` is used, else ``out/decisions.sqlite`` under the
    project home.
    A ``url`` without ``://`` is taken as a path. Readers pass ``create=False``
    so that a mistyped path is an error instead of a new, empty log. A log
    written by an earlier version is refused with the command that migrates
    it; ``migrating=True`` opens it as it is, for that command.
    """
    resolved = resolve_url(url, path)
    engine = make_engine(resolved, create=create)
    if not migrating:
        try:
            ensure_schema(engine)
        except BaseException:
            engine.dispose()
            raise
    return DecisionLog(engine)
