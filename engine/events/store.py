"""Payment events and their outcomes, kept in the decision log's database.

Events are the durable state of the event rules: durable-rules holds one
customer's facts only for the length of one evaluation, so a restart loses
nothing. Both tables are part of the log database's schema
(``engine.audit.store``), created with it on open, and their rows are
hash-chained and append-only like the decisions they feed
(``engine.audit.eventchain``): ``audit verify`` names a deleted, edited or
moved event by its id.

``payment_events`` keeps each accepted event once (``event_id`` is unique)
with its time as integer microseconds since the epoch (UTC), so ordering and
windows are integer comparisons on every backend. ``event_outcomes`` keeps
each outcome the rules raised, with the rule, the reason, the ids of the
events that caused it and the period it is in force; ``outcome_key`` makes
raising the same outcome again a no-op.

On a SQLite file, every write transaction is counted on the change counter
beside the file (``<file>.events-changes``, an
``engine.changecount.ChangeCounter``), so the service's hot path knows,
from shared memory, when it must look for new outcomes.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import sqlite3
from collections import namedtuple
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

from sqlalchemy import (
    Connection,
    Engine,
    bindparam,
    func,
    select,
    text,
)
from sqlalchemy.exc import SQLAlchemyError

from engine.audit.recorder import Recorder
from engine.audit.store import (
    AuditStoreError,
    ensure_schema,
    error_summary,
    event_outcomes,
    make_engine,
    payment_events,
    resolve_url,
    sqlite_file,
    write_transaction,
)
from engine.changecount import ChangeCounter
from engine.decision import EventOutcome
from engine.errors import EngineError
from engine.events.model import Event, to_micros

__all__ = [
    "CustomerEvents",
    "EventOutcomes",
    "EventStore",
    "InlineOutcomes",
    "StoredEvent",
    "from_micros",
    "open_store",
    "outcome_of",
    "outcome_row",
    "payload_of",
]

_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_DAY_US = 86_400_000_000


def from_micros(us: int) -> dt.datetime:
    """Integer microseconds since the epoch as a UTC datetime."""
    return _EPOCH + dt.timedelta(microseconds=int(us))


def _iso(us: int) -> str:
    return from_micros(us).isoformat().replace("+00:00", "Z")


@dataclass(frozen=True)
class StoredEvent:
    """An accepted event as the rules see it: the columns plus its validated fields.

    ``data`` is read from the stored JSON on first use: most events of a window
    are only compared by type and time, so most payloads are never parsed.
    """

    seq: int
    event_id: str
    customer_id: str
    type: str
    ts: int
    bill_id: str | None
    payload: str

    @cached_property
    def data(self) -> dict[str, Any]:
        return json.loads(self.payload)


def _stored(r: Any) -> StoredEvent:
    return StoredEvent(int(r[0]), r[1], r[2], r[3], int(r[4]), r[5], r[6])


def _order(e: StoredEvent) -> tuple[int, int]:
    return e.ts, e.seq


def payload_of(event: Event) -> str:
    """The stored JSON of an event's validated fields (sorted keys, compact)."""
    return json.dumps(event.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))


_CHUNK = 512
_PAIRS = 250


def _chunks(items: Sequence[Any], size: int = _CHUNK) -> Iterable[list[Any]]:
    """``items`` in lists of at most ``size``, each padded by repeating its last item to a
    power of two: an ``IN`` list of any length then renders as one of ten statements, which
    the driver prepares once and keeps, instead of one new prepared statement per length."""
    for start in range(0, len(items), size):
        chunk = list(items[start:start + size])
        width = 1 << (len(chunk) - 1).bit_length()
        yield chunk + [chunk[-1]] * (min(width, size) - len(chunk))


_c = payment_events.c
_COLUMNS = (_c.seq, _c.event_id, _c.customer_id, _c.type, _c.ts, _c.bill_id, _c.payload)
_SEEN = select(_c.event_id, _c.customer_id, _c.ts).where(
    _c.event_id.in_(bindparam("ids", expanding=True)))
_RECENT = select(*_COLUMNS).where(_c.customer_id.in_(bindparam("ids", expanding=True)),
                                  _c.ts >= bindparam("since"))
_KNOWN = select(_c.customer_id).distinct().where(
    _c.customer_id.in_(bindparam("ids", expanding=True)), _c.type == "bill_issued")
_OUTCOME_KEYS = select(event_outcomes.c.outcome_key).where(
    event_outcomes.c.outcome_key.in_(bindparam("keys", expanding=True)))
_BILLS = text(
    "SELECT p.seq, p.event_id, p.customer_id, p.type, p.ts, p.bill_id, p.payload "
    "FROM (VALUES " + ", ".join(f"(:c{i}, :b{i})" for i in range(_PAIRS)) + ") AS v "
    "JOIN payment_events p ON p.customer_id = v.column1 AND p.bill_id = v.column2 "
    "WHERE p.type IN ('bill_issued', 'bill_overdue') AND p.ts < :before")


@dataclass(frozen=True)
class EventOutcomes:
    """A customer's outcomes in force on one date: what the next decision reads.

    ``history()`` gives the record's history fields (habitual_defaulter,
    rebate_earned, theft_override_until); ``outcomes`` names each outcome with
    its reason and the events behind it, as ``Decision.events`` carries them.
    """

    customer_id: str
    as_of: dt.date
    outcomes: tuple[EventOutcome, ...] = ()

    def _kinds(self, kind: str) -> list[EventOutcome]:
        return [o for o in self.outcomes if o.kind == kind]

    @property
    def habitual_defaulter(self) -> bool:
        return bool(self._kinds("habitual_defaulter"))

    @property
    def rebate_earned(self) -> bool:
        return bool(self._kinds("rebate_earned"))

    @property
    def theft_override_until(self) -> dt.date | None:
        ends = [_last_day(o.valid_until) for o in self._kinds("theft_override")]
        return max(ends) if ends else None

    @property
    def regrade_until(self) -> dt.date | None:
        """Last day a broken repayment agreement forces a re-grade, if one is in force."""
        ends = [_last_day(o.valid_until) for o in self._kinds("agreement_regrade")]
        return max(ends) if ends else None

    def history(self) -> dict[str, Any]:
        """The record's history fields these outcomes set (only those they set)."""
        out: dict[str, Any] = {}
        if self.habitual_defaulter:
            out["habitual_defaulter"] = True
        if self.rebate_earned:
            out["rebate_earned"] = True
        if self.theft_override_until is not None:
            out["theft_override_until"] = self.theft_override_until
        if self.regrade_until is not None:
            out["regrade_until"] = self.regrade_until
        return out


@dataclass(frozen=True)
class CustomerEvents:
    """What is known of one customer's payments: stored events and outcomes.

    The one answer to "show me this customer's events", whoever asks (the
    ``events show`` command, ``GET /v1/customers/{id}/events``): events newest
    first; outcomes all ever raised (oldest first) or, given ``as_of``, those
    in force on that date as the next decision reads them.
    """

    customer_id: str
    as_of: dt.date | None
    events: tuple[dict[str, Any], ...]
    outcomes: tuple[EventOutcome, ...]

    def to_json(self) -> dict[str, Any]:
        return {"customer_id": self.customer_id,
                "as_of": self.as_of.isoformat() if self.as_of else None,
                "events": list(self.events),
                "outcomes": [o.model_dump(mode="json") for o in self.outcomes]}


# Built once: one decision's read is the service's hot path, and composing the
# statement costs several times the indexed read itself.
_OUTCOMES_OF_ONE = select(event_outcomes).where(
    event_outcomes.c.customer_id == bindparam("id"),
    event_outcomes.c.valid_until > bindparam("start"),
    event_outcomes.c.valid_from < bindparam("end")).order_by(event_outcomes.c.seq)


_CUSTOMERS_SINCE = "SELECT seq, customer_id FROM event_outcomes WHERE seq > ?"


class _OutcomeRow(namedtuple("_OutcomeRow", [c.name for c in event_outcomes.c])):
    """A raw ``event_outcomes`` row read by ``InlineOutcomes``, shaped as SQLAlchemy's rows."""

    @property
    def _mapping(self) -> dict[str, Any]:
        return self._asdict()


class InlineOutcomes:
    """``EventStore.outcomes_for`` on one SQLite connection held open, for one thread.

    The service decides on its event loop and reads each customer's outcomes
    there; going through SQLAlchemy's pool and statement machinery costs
    several times the indexed read itself. The connection is in autocommit
    (``engine.audit.store`` turns the driver's own transactions off), so every
    read is a statement of its own and sees each event committed before it.

    Most customers have no outcome at all. The reader keeps the set of
    customers that have one, brought up to date (from the outcomes stored
    since) whenever the store's change counter has moved, and answers any
    other customer with no read. While a write is in progress, or where
    there is no counter, it brings the set up to date before every answer.
    """

    def __init__(self, store: EventStore) -> None:
        compiled = _OUTCOMES_OF_ONE.compile(dialect=store.engine.dialect)
        self._sql = str(compiled)
        self._order = tuple(compiled.positiontup or ())
        self._url = store.url
        self._raw = store.engine.raw_connection()
        self._changes = store.changes
        self._with_outcomes: set[str] = set()
        self._read_to = 0  # the last outcome seq the set has seen
        self._current_for: int | None = None  # the settled count the set is current for

    def __call__(self, customer_id: str, as_of: dt.date | str) -> EventOutcomes:
        day = _day(as_of)
        try:
            if self._changes is not None:
                settled = self._changes.settled()
                if settled is None or settled != self._current_for:
                    self._catch_up(settled)
                if customer_id not in self._with_outcomes:
                    return EventOutcomes(customer_id, day, ())
            start = _start_us(day)
            given = {"id": customer_id, "start": start, "end": start + _DAY_US}
            cursor = self._raw.cursor()
            rows = cursor.execute(self._sql, [given[k] for k in self._order]).fetchall()
            cursor.close()
        except sqlite3.Error as exc:
            raise AuditStoreError(f"event store {self._url}: {exc}") from None
        return _in_force(customer_id, day, [_OutcomeRow(*r) for r in rows])

    def _catch_up(self, settled: int | None) -> None:
        """Add the customers of the outcomes stored since the last look (read after the count)."""
        cursor = self._raw.cursor()
        for seq, customer_id in cursor.execute(_CUSTOMERS_SINCE, (self._read_to,)):
            self._with_outcomes.add(customer_id)
            self._read_to = max(self._read_to, seq)
        cursor.close()
        self._current_for = settled

    def close(self) -> None:
        self._raw.close()


def _day(value: dt.date | str) -> dt.date:
    return dt.date.fromisoformat(value) if isinstance(value, str) else value


def _start_us(day: dt.date) -> int:
    return to_micros(dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC))


def _in_force(customer_id: str, day: dt.date, rows: Iterable[Any]) -> EventOutcomes:
    """Of a customer's outcome rows, those in force on ``day`` (the longest per cause)."""
    start = _start_us(day)
    end = start + _DAY_US
    best: dict[tuple[str, str, str], Any] = {}
    for r in rows:
        if not (r.valid_from < end and r.valid_until > start):
            continue
        key = (r.kind, r.rule_id, r.outcome_key.split("|")[2])
        if key not in best or r.valid_until > best[key].valid_until:
            best[key] = r
    ordered = sorted(best.values(), key=lambda r: (r.valid_from, r.seq))
    return EventOutcomes(customer_id, day, tuple(_outcome(r) for r in ordered))


def _last_day(until_iso: str) -> dt.date:
    """The last date an outcome is in force (its end is exclusive)."""
    end = dt.datetime.fromisoformat(until_iso.replace("Z", "+00:00"))
    return (end - dt.timedelta(microseconds=1)).date()


class EventStore:
    """Reads and writes of the two event tables; writers pass their open connection."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    @cached_property
    def changes(self) -> ChangeCounter | None:
        """The change counter beside a SQLite file (None for PostgreSQL or memory)."""
        file = sqlite_file(self.engine)
        if file is None:
            return None
        try:
            return ChangeCounter(f"{file}.events-changes")
        except EngineError as exc:
            raise AuditStoreError(f"event store {self.url}: {exc.message}") from None

    # ------------------------------------------------------------------ writes (in a transaction)

    @contextlib.contextmanager
    def transaction(self) -> Iterator[Connection]:
        """A write transaction (the database's write lock from the first statement on
        SQLite), counted on the change counter from before it begins to after it ends."""
        counted = self.changes.changing() if self.changes is not None else contextlib.nullcontext()
        with counted, write_transaction(self.engine) as conn:
            yield conn

    @staticmethod
    def seen(conn: Connection, event_ids: Iterable[str]) -> dict[str, tuple[str, int]]:
        """(customer, time) of every stored event among ``event_ids``: one query per 512 ids."""
        out: dict[str, tuple[str, int]] = {}
        for chunk in _chunks(sorted(set(event_ids))):
            for eid, cid, ts in conn.execute(_SEEN, {"ids": chunk}):
                out[eid] = (cid, int(ts))
        return out

    @staticmethod
    def recent(conn: Connection, customer_ids: Iterable[str],
               since_us: int) -> list[StoredEvent]:
        """The customers' events from ``since_us`` on, ordered by time: one query per 512."""
        rows: list[StoredEvent] = []
        for chunk in _chunks(sorted(set(customer_ids))):
            rows.extend(_stored(r) for r in conn.execute(_RECENT, {"ids": chunk,
                                                                   "since": since_us}))
        rows.sort(key=_order)
        return rows

    @staticmethod
    def bill_events(conn: Connection, bills: Iterable[tuple[str, str]],
                    before_us: int) -> list[StoredEvent]:
        """The ``bill_issued`` and ``bill_overdue`` events before ``before_us`` of the
        (customer, bill) pairs: the bills a window refers to, issued or overdue earlier.

        The pairs travel as a ``VALUES`` list joined to the customer-bill index (a
        row-value ``IN`` would scan the table on SQLite), padded to a fixed length so
        the statement is compiled once.
        """
        rows: list[StoredEvent] = []
        for chunk in _chunks(sorted(set(bills)), _PAIRS):
            padded = chunk + [chunk[-1]] * (_PAIRS - len(chunk))
            params: dict[str, Any] = {"before": before_us}
            for i, (cid, bill) in enumerate(padded):
                params[f"c{i}"] = cid
                params[f"b{i}"] = bill
            rows.extend(_stored(r) for r in conn.execute(_BILLS, params))
        unique = {r.seq: r for r in rows}
        return sorted(unique.values(), key=_order)

    @staticmethod
    def known(conn: Connection, customer_ids: Iterable[str]) -> set[str]:
        """The customers among ``customer_ids`` with a stored ``bill_issued`` event."""
        out: set[str] = set()
        for chunk in _chunks(sorted(set(customer_ids))):
            out.update(conn.scalars(_KNOWN, {"ids": chunk}))
        return out

    @staticmethod
    def insert_rows(conn: Connection, rows: Sequence[dict[str, Any]]) -> None:
        """Chain and store ``payment_events`` rows in order, through the recorder."""
        Recorder.events(conn, list(rows))

    @staticmethod
    def stored_outcome_keys(conn: Connection, keys: Iterable[str]) -> set[str]:
        """The outcome keys among ``keys`` already stored: one query per 512 keys."""
        out: set[str] = set()
        for chunk in _chunks(sorted(set(keys))):
            out.update(conn.scalars(_OUTCOME_KEYS, {"keys": chunk}))
        return out

    @staticmethod
    def insert_outcomes(conn: Connection, rows: Sequence[dict[str, Any]]) -> None:
        """Chain and store outcome rows known to be new, in order."""
        Recorder.outcomes(conn, list(rows))

    # ------------------------------------------------------------------ reads

    def latest_time(self) -> int | None:
        """The latest event time stored (microseconds), the store's notion of "now"."""
        return self._read(lambda conn: conn.scalar(select(func.max(payment_events.c.ts))))

    def count(self) -> int:
        return int(self._read(lambda conn: conn.scalar(
            select(func.count()).select_from(payment_events))) or 0)

    def events_for(self, customer_id: str, *, limit: int = 1000) -> list[dict[str, Any]]:
        """The customer's stored events, newest first, as their validated fields."""
        c = payment_events.c
        rows = self._read(lambda conn: list(conn.execute(
            select(c.payload).where(c.customer_id == customer_id)
            .order_by(c.ts.desc(), c.seq.desc()).limit(limit))))
        return [json.loads(r[0]) for r in rows]

    def outcomes_list(self, customer_id: str) -> list[EventOutcome]:
        """Every outcome ever raised for the customer, oldest first."""
        c = event_outcomes.c
        rows = self._read(lambda conn: list(conn.execute(
            select(event_outcomes).where(c.customer_id == customer_id).order_by(c.seq))))
        return [_outcome(r) for r in rows]

    def outcomes_for(self, customer_id: str, as_of: dt.date | str) -> EventOutcomes:
        """The outcomes in force on ``as_of``: raised by then and not yet expired.

        An outcome is in force on a date when it was raised before the end of
        that day and ends after its start. Of several outcomes of one kind and
        rule raised by the same events (a habitual-defaulter mark extended by
        later overdue bills), the one lasting longest is kept. One indexed
        query (customer id, end of validity).
        """
        day = _day(as_of)
        start = _start_us(day)
        rows = self._read(lambda conn: conn.execute(_OUTCOMES_OF_ONE, {
            "id": customer_id, "start": start, "end": start + _DAY_US}).all())
        return _in_force(customer_id, day, rows)

    def any_outcome_between(self, first: dt.date, last: dt.date) -> bool:
        """Whether any stored outcome is in force on some day from ``first`` to ``last``.

        One probe: a batch whose days no outcome touches (an event
        store without outcomes, most of all) reads nothing per customer.
        """
        c = event_outcomes.c
        start, end = _start_us(first), _start_us(last) + _DAY_US
        query = (select(c.seq).where(c.valid_until > bindparam("start"),
                                     c.valid_from < bindparam("end")).limit(1))
        return self._read(lambda conn: conn.execute(
            query, {"start": start, "end": end}).first()) is not None

    def outcomes_for_many(self, keys: Iterable[tuple[str, dt.date | str]]
                          ) -> dict[tuple[str, dt.date], EventOutcomes]:
        """``outcomes_for`` of many (customer, as-of date) pairs: one query per 512 customers.

        A batch of records reads its customers' outcomes at once, never one
        query per record; every pair gets an answer (empty when none is in force).
        """
        wanted = {(cid, _day(day)) for cid, day in keys}
        if not wanted:
            return {}
        days = {day for _, day in wanted}
        start = _start_us(min(days))
        end = _start_us(max(days)) + _DAY_US
        c = event_outcomes.c
        query = select(event_outcomes).where(
            c.customer_id.in_(bindparam("ids", expanding=True)),
            c.valid_until > bindparam("start"), c.valid_from < bindparam("end")).order_by(c.seq)
        ids = sorted({cid for cid, _ in wanted})

        def read(conn: Connection) -> list[Any]:
            rows: list[Any] = []
            for chunk in _chunks(ids):
                rows.extend(conn.execute(query, {"ids": chunk, "start": start, "end": end}))
            return rows

        by_customer: dict[str, list[Any]] = {}
        for r in self._read(read):
            by_customer.setdefault(r.customer_id, []).append(r)
        # most customers have no outcome: their empty answer needs no look at any row
        return {(cid, day): _in_force(cid, day, by_customer[cid]) if cid in by_customer
                else EventOutcomes(cid, day) for cid, day in wanted}

    def customer_events(self, customer_id: str, *, as_of: dt.date | None = None,
                        limit: int = 1000) -> CustomerEvents:
        """The customer's latest ``limit`` events and its outcomes (see ``CustomerEvents``)."""
        events = self.events_for(customer_id, limit=limit)
        outcomes = (self.outcomes_for(customer_id, as_of).outcomes if as_of is not None
                    else self.outcomes_list(customer_id))
        return CustomerEvents(customer_id, as_of, tuple(events), tuple(outcomes))

    def inline_reader(self) -> InlineOutcomes | None:
        """A held-connection ``outcomes_for`` for one thread's hot path; SQLite only."""
        return InlineOutcomes(self) if self.engine.dialect.name == "sqlite" else None

    def _read(self, fn: Any) -> Any:
        try:
            with self.engine.connect() as conn:
                return fn(conn)
        except SQLAlchemyError as exc:
            raise AuditStoreError(f"event store {self.url}: {error_summary(exc)}") from None

    @property
    def url(self) -> str:
        return self.engine.url.render_as_string(hide_password=True)

    def close(self) -> None:
        self.engine.dispose()
        changes = self.__dict__.pop("changes", None)  # made again if the store is used again
        if changes is not None:
            changes.close()


def _outcome(r: Any) -> EventOutcome:
    return outcome_of(r._mapping)


def outcome_of(row: Any) -> EventOutcome:
    """An ``event_outcomes`` row (a mapping) as the outcome decisions carry."""
    return EventOutcome(kind=row["kind"], rule_id=row["rule_id"], reason=row["reason"],
                        event_ids=tuple(json.loads(row["event_ids"])),
                        valid_from=_iso(row["valid_from"]), valid_until=_iso(row["valid_until"]),
                        amount=row["amount"], grade=row["grade"])


def open_store(url: str | None = None, path: str | Path | None = None, *,
               synchronous: str = "FULL", create: bool = True) -> EventStore:
    """Open the event tables in the decision log's database, creating them if needed.

    Readers pass ``create=False``: a SQLite file that does not exist is then an
    error naming it, not a new empty store that would answer "no events".
    """
    resolved = resolve_url(url, path)
    engine = make_engine(resolved, synchronous=synchronous, create=create)
    try:
        ensure_schema(engine)
    except AuditStoreError as exc:
        raise AuditStoreError(f"event store: {exc.message}") from None
    return EventStore(engine)


def outcome_row(customer_id: str, kind: str, rule_id: str, subject: str, reason: str,
                event_ids: Iterable[str], valid_from: int, valid_until: int, raised_by: str,
                amount: float | None = None, grade: str | None = None) -> dict[str, Any]:
    """An ``event_outcomes`` row; the key makes the same outcome raised twice one row."""
    return {"outcome_key": f"{kind}|{rule_id}|{customer_id}:{subject}|{valid_until}",
            "customer_id": customer_id, "kind": kind, "rule_id": rule_id, "reason": reason,
            "event_ids": json.dumps(list(event_ids)), "valid_from": int(valid_from),
            "valid_until": int(valid_until), "amount": amount, "grade": grade,
            "raised_by": raised_by}

