"""The event processor: one incoming event in, the customer's outcomes out.

Per event: validate it, refuse it if its id was seen, if it is far in the
future or too late, if its customer is unknown or its bill does not exist;
store it; load that customer's events inside the longest rule window; turn
them into facts; assert the facts into durable-rules under a fresh sid;
collect what fired; delete the state; store the outcomes. A refused event is
stored nowhere and the stream goes on.

Definitions the checks rely on:

* *unknown customer*: a customer id with no stored ``bill_issued`` event. A
  customer becomes known with its first bill; every other event type for an
  unknown customer is refused.
* *missing bill*: a ``bill_overdue`` or ``repayment`` whose ``bill_id`` has no
  stored ``bill_issued`` event for the same customer.
* *far in the future*: an event time later than the reference time plus the
  rule file's ``future_tolerance_hours``; the reference is the caller's clock
  when one is given (the service), else the latest event time stored. Rules
  themselves never read a clock: they see event times only.
* *too late*: an event time earlier than the latest event time stored minus
  ``late_tolerance_days``. Within the tolerance a late event is accepted and
  evaluated at its own time; if the customer already has later events, the
  rules run again at the latest of them, so nothing depends on arrival order.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import Connection
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from engine.audit_store import AuditStoreError, error_summary
from engine.decision import EventOutcome
from engine.events.model import Event, EventRejected, parse_event
from engine.events.rules import (
    DEFAULT_PATH,
    EventRule,
    EventRules,
    RuleMatcher,
    load_event_rules,
    scaled,
)
from engine.events.store import (
    EventStore,
    StoredEvent,
    from_micros,
    outcome_of,
    outcome_row,
)

__all__ = ["Accepted", "EventProcessor", "Rejected", "Result", "facts_at", "rebate_amount"]

_DAY_US = 86_400_000_000
_US = 1_000_000


@dataclass(frozen=True)
class Accepted:
    """An event stored, with the outcomes it newly raised."""

    event_id: str
    customer_id: str
    outcomes: tuple[EventOutcome, ...] = ()

    ok = True


@dataclass(frozen=True)
class Rejected:
    """An event refused before anything was stored, with the reason."""

    event_id: str | None
    customer_id: str | None
    reason: str
    field: str | None = None

    ok = False


Result = Accepted | Rejected


@dataclass
class _Evidence:
    """What a fact stands for: the events behind it and the period its outcomes last from."""

    subject: str
    event_ids: list[str]
    anchor_us: int
    from_us: int
    detail: dict[str, Any] = field(default_factory=dict)


def rebate_amount(penalty: float, share: float, cap: float) -> float:
    """The rebate: ``share`` of the late-payment penalty charged, at most ``cap``."""
    return round(min(max(penalty, 0.0) * share, cap), 2)


def facts_at(events: Sequence[StoredEvent], at_us: int, rules: EventRules,
             since_us: int) -> tuple[list[dict[str, Any]], list[_Evidence]]:
    """The facts the rules read at time ``at_us``, with the evidence of each.

    Only events at or before ``at_us`` count. Repayments, theft findings and
    broken agreements give one fact each from ``since_us`` on; every overdue
    bill gives one ``overdue_history`` fact counting the overdue bills in the
    window before it, and the days since the last one.
    """
    facts: list[dict[str, Any]] = []
    evidence: list[_Evidence] = []
    seen = [e for e in events if e.ts <= at_us]
    issued = {e.bill_id: e for e in seen if e.type == "bill_issued"}
    overdue: dict[str, StoredEvent] = {}
    for e in seen:
        if e.type == "bill_overdue" and e.bill_id not in overdue:
            overdue[e.bill_id or ""] = e
    paid: dict[str, float] = {}
    payments: dict[str, list[str]] = {}
    agreements = {e.data.get("agreement_id"): e for e in seen if e.type == "agreement_made"}

    def add(kind: str, ev: _Evidence, **values: float) -> None:
        facts.append({"kind": kind, **{k: scaled(kind, k, v) for k, v in values.items()}})
        evidence.append(ev)

    for e in seen:
        if e.type == "repayment":
            bill = e.bill_id or ""
            paid[bill] = paid.get(bill, 0.0) + float(e.data["amount"])
            payments.setdefault(bill, []).append(e.event_id)
            late = overdue.get(bill)
            if e.ts < since_us or late is None or late.ts > e.ts or bill not in issued:
                continue
            amount = float(issued[bill].data["amount"])
            penalty = float(late.data.get("penalty") or 0.0)
            add("repayment",
                _Evidence(bill, [issued[bill].event_id, late.event_id, *payments[bill]], e.ts,
                          e.ts, {"penalty": penalty, "bill_id": bill}),
                days_after_overdue=(e.ts - late.ts) / _DAY_US,
                outstanding=round(amount - paid[bill], 2), penalty=penalty, amount=amount)
        elif e.type == "theft_finding" and e.ts >= since_us:
            add("theft_finding", _Evidence(e.event_id, [e.event_id], e.ts, e.ts),
                days_since=(at_us - e.ts) / _DAY_US)
        elif e.type == "agreement_broken" and e.ts >= since_us:
            made = agreements.get(e.data.get("agreement_id"))
            ids = [made.event_id, e.event_id] if made else [e.event_id]
            add("agreement_broken", _Evidence(e.event_id, ids, e.ts, e.ts),
                days_since=(at_us - e.ts) / _DAY_US)
    late_bills = sorted((e for e in seen if e.type == "bill_overdue"), key=lambda e: e.ts)
    if late_bills:
        window_us = int(rules.window_days("overdue_history", 365.0) * _DAY_US)
        last = late_bills[-1].ts
        lo = 0
        for i, e in enumerate(late_bills):
            while late_bills[lo].ts <= e.ts - window_us:
                lo += 1
            in_window = late_bills[lo:i + 1]
            add("overdue_history",
                _Evidence(e.event_id, [x.event_id for x in in_window], last, e.ts,
                          {"trigger": i, "overdue": late_bills}),
                overdue_in_window=len(in_window), days_since_last_overdue=(at_us - last) / _DAY_US)
    return facts, evidence


def _outcome_rows(customer_id: str, raised_by: str, fired: Iterable[tuple[EventRule, int]],
                  evidence: Sequence[_Evidence]) -> list[dict[str, Any]]:
    """Stored outcome rows for what fired; an overdue run yields one mark per clean period."""
    rows: list[dict[str, Any]] = []
    marked_runs: set[tuple[str, int]] = set()
    for rule, ref in fired:
        ev = evidence[ref]
        lasts_us = int(rule.lasts_days * _DAY_US)
        subject, from_us, until_us = ev.subject, ev.from_us, ev.anchor_us + lasts_us
        if rule.on == "overdue_history":
            run = _run(ev.detail["overdue"], ev.detail["trigger"], lasts_us)
            if (rule.id, run[0]) in marked_runs:
                continue
            marked_runs.add((rule.id, run[0]))
            until_us = run[1] + lasts_us
            subject = f"run{run[0]}"
        amount = None
        if "rebate_earned" in rule.outcomes:
            amount = rebate_amount(ev.detail["penalty"], rule.rebate_share, rule.rebate_cap)
        for kind in rule.outcomes:
            rows.append(outcome_row(
                customer_id, kind, rule.id, subject, _reason(rule, kind, ev, amount),
                ev.event_ids, from_us, until_us, raised_by,
                amount=amount if kind == "rebate_earned" else None, grade=rule.grade))
    return rows


def _run(overdue: Sequence[StoredEvent], trigger: int, gap_us: int) -> tuple[int, int]:
    """(time of the trigger, time of the last overdue bill of its run): a run ends at a gap
    of ``gap_us`` (the clean period) without an overdue bill."""
    end = trigger
    while end + 1 < len(overdue) and overdue[end + 1].ts - overdue[end].ts < gap_us:
        end += 1
    start = trigger
    while start > 0 and overdue[start].ts - overdue[start - 1].ts < gap_us:
        start -= 1
    return overdue[start].ts, overdue[end].ts


def _reason(rule: EventRule, kind: str, ev: _Evidence, amount: float | None) -> str:
    text = rule.description
    if kind == "rebate_earned" and amount is not None:
        text += f" Bill {ev.detail['bill_id']}: rebate {amount:,.2f}."
    return text


class EventProcessor:
    """Validates, stores and evaluates events one at a time (thread-safe: one lock)."""

    def __init__(self, store: EventStore, rules: EventRules | None = None) -> None:
        self.store = store
        self.rules = rules or load_event_rules(DEFAULT_PATH)
        self.matcher = RuleMatcher(self.rules)
        self._lock = threading.Lock()
        self._latest: int | None = store.latest_time()
        self._since_us = int(self.rules.lookback_days * _DAY_US)

    @classmethod
    def open(cls, db: str | None = None, rules: str | Path | None = None,
             *, synchronous: str = "FULL") -> EventProcessor:
        """A processor on the database ``db`` (path or URL) with the rule file ``rules``."""
        from engine.events.store import open_store

        return cls(open_store(db, synchronous=synchronous),
                   load_event_rules(rules or DEFAULT_PATH))

    def process(self, data: Mapping[str, Any] | Event, *, now_us: int | None = None) -> Result:
        """Process one event in its own transaction."""
        return self.process_many([data], now_us=now_us)[0]

    def process_many(self, items: Iterable[Mapping[str, Any] | Event], *,
                     now_us: int | None = None) -> list[Result]:
        """Process events in order in one transaction; refused ones are reported, not stored."""
        with self._lock:
            results: list[Result] = []
            latest = self._latest
            try:
                with self.store.transaction() as conn:
                    for item in items:
                        result, latest = self._one(conn, item, latest, now_us)
                        results.append(result)
            except SQLAlchemyError as exc:
                raise AuditStoreError(f"event store {self.store.url}: "
                                      f"{error_summary(exc)}") from None
            self._latest = latest
            return results

    def stream(self, items: Iterable[Mapping[str, Any] | Event], *, batch: int = 500,
               now_us: int | None = None) -> Iterator[Result]:
        """Process a long stream in transactions of ``batch`` events."""
        chunk: list[Any] = []
        for item in items:
            chunk.append(item)
            if len(chunk) >= batch:
                yield from self.process_many(chunk, now_us=now_us)
                chunk = []
        if chunk:
            yield from self.process_many(chunk, now_us=now_us)

    def _one(self, conn: Connection, item: Any, latest: int | None,
             now_us: int | None) -> tuple[Result, int | None]:
        raw_id = item.get("event_id") if isinstance(item, Mapping) else None
        raw_cid = item.get("customer_id") if isinstance(item, Mapping) else None
        try:
            event = parse_event(dict(item) if isinstance(item, Mapping) else item)
            self._check(conn, event, latest, now_us)
            EventStore.insert(conn, event)
        except EventRejected as exc:
            return Rejected(exc.event_id or _text(raw_id), _text(raw_cid), exc.reason,
                            exc.field), latest
        except IntegrityError:
            return Rejected(event.event_id, event.customer_id,
                            "duplicate event id: an event with this id is already stored",
                            "event_id"), latest
        latest = event.micros if latest is None else max(latest, event.micros)
        rows = self._evaluate(conn, event)
        new = EventStore.add_outcomes(conn, rows)
        return Accepted(event.event_id, event.customer_id,
                        tuple(outcome_of(r) for r in new)), latest

    def _check(self, conn: Connection, event: Event, latest: int | None,
               now_us: int | None) -> None:
        t = event.micros
        eid = event.event_id
        first = EventStore.first_seen(conn, eid)
        if first is not None:
            raise EventRejected(
                f"duplicate event id: already stored for customer {first[0]!r} at "
                f"{from_micros(first[1]).isoformat()}; the same event counts once",
                event_id=eid, field="event_id", value=eid)
        reference = now_us if now_us is not None else latest
        if reference is not None and t > reference + self.rules.future_tolerance_s * _US:
            basis = "the service clock" if now_us is not None else "the latest event time seen"
            raise EventRejected(
                f"event time {event.time.isoformat()} is far in the future: more than "
                f"{self.rules.future_tolerance_s / 3600:g} h after {basis} "
                f"({from_micros(reference).isoformat()})", event_id=eid, field="time",
                value=event.time.isoformat())
        if latest is not None and t < latest - self.rules.late_tolerance_s * _US:
            raise EventRejected(
                f"event time {event.time.isoformat()} is too late: more than "
                f"{self.rules.late_tolerance_s / 86400:g} days before the latest event time seen "
                f"({from_micros(latest).isoformat()})", event_id=eid, field="time",
                value=event.time.isoformat())
        cid = event.customer_id
        if event.type == "bill_issued":
            if EventStore.has_bill(conn, cid, event.bill_id):
                raise EventRejected(f"bill {event.bill_id!r} was already issued to customer "
                                    f"{cid!r}: give the new bill its own bill_id",
                                    event_id=eid, field="bill_id", value=event.bill_id)
            return
        if not EventStore.has_bill(conn, cid):
            raise EventRejected(f"unknown customer {cid!r}: no bill was ever issued to it "
                                "(a customer becomes known with its first bill_issued event)",
                                event_id=eid, field="customer_id", value=cid)
        bill = event.bill_ref
        if event.type in ("bill_overdue", "repayment") and not EventStore.has_bill(conn, cid,
                                                                                   bill):
            raise EventRejected(f"bill {bill!r} does not exist for customer {cid!r}: send its "
                                "bill_issued event first", event_id=eid, field="bill_id",
                                value=bill)

    def _evaluate(self, conn: Connection, event: Event) -> list[dict[str, Any]]:
        """Assert the customer's window at the event's time (and at its latest time, if later)."""
        cid = event.customer_id
        t = event.micros
        latest = EventStore.latest_for(conn, cid) or t
        events = EventStore.window(conn, cid, min(t, latest) - self._since_us)
        rows: list[dict[str, Any]] = []
        for at in sorted({t, latest}):
            facts, evidence = facts_at(events, at, self.rules, at - self._since_us)
            fired = self.matcher.match(facts)
            rows.extend(_outcome_rows(cid, event.event_id, fired, evidence))
        return rows


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None
