"""The payment events and collections section of the auditor report.

Its facts come from two places an auditor can check on their own:

- the decision log's chained ``payment_events`` (every event, by type) and
  ``event_outcomes`` (what the event rules raised: theft overrides, re-grades
  after a broken repayment agreement, rebates earned with their amounts,
  habitual-defaulter marks), read up to the end of the as-of date;
- the collection cases of every customer with events on that date, from
  ``engine.collections.cases.collections_of`` (the code ``collections show``
  and the day's work list run): each bill that fell overdue, whether it is
  still open, the penalty accrued, the rebate earned, and its steps by status
  (``done``, ``due``, ``scheduled``, ``blocked`` with the protection that
  blocks it, ``paused``, ``cancelled``).

A customer with events but no decision is counted apart (``undecided``): its
strategy cannot be chosen, so its cases are not invented. Every sentence is
built from these counts and sums, in the report's language.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import select

from engine.audit.store import event_outcomes, payment_events
from engine.collections.cases import CollectionTables, Profile, collections_of
from engine.events.model import EVENT_TYPES
from engine.language import Language
from engine.vocabulary import label

__all__ = ["STATUSES", "PaymentFacts", "log_events", "log_outcomes", "payment_facts",
           "payment_section"]

STATUSES = ("done", "due", "scheduled", "blocked", "paused", "cancelled")
_DAY_US = 86_400_000_000
_OUTCOME_KINDS = ("theft_override", "agreement_regrade", "rebate_earned", "credit_improvement",
                  "habitual_defaulter")


@dataclass(frozen=True)
class PaymentFacts:
    """What the section states: events by type, outcomes by kind, cases and their steps."""

    source: str
    as_of: dt.date
    events: int
    customers: int
    by_type: Mapping[str, int]
    outcomes: Mapping[str, Mapping[str, float]] | None
    cases: int = 0
    open_cases: int = 0
    closed_cases: int = 0
    case_customers: int = 0
    outstanding: float = 0.0
    penalty: float = 0.0
    penalty_open: float = 0.0
    rebate: float = 0.0
    steps: Mapping[str, int] = field(default_factory=dict)
    open_steps: Mapping[str, int] = field(default_factory=dict)
    blocked_by: Mapping[str, int] = field(default_factory=dict)
    undecided: tuple[str, ...] = ()
    protections: Mapping[str, str] = field(default_factory=dict)


def log_events(engine: Any, as_of: dt.date) -> pd.DataFrame:
    """Every ``payment_events`` row up to the end of ``as_of``, as its validated fields."""
    c = payment_events.c
    end = _end_us(as_of)
    with engine.connect() as conn:
        texts = conn.scalars(select(c.payload).where(c.ts < end).order_by(c.ts, c.seq)).all()
    return pd.DataFrame([json.loads(t) for t in texts])


def log_outcomes(engine: Any, as_of: dt.date) -> pd.DataFrame:
    """Every ``event_outcomes`` row raised up to the end of ``as_of``: kind, customer, amount."""
    c = event_outcomes.c
    query = (select(c.kind, c.customer_id, c.rule_id, c.amount)
             .where(c.valid_from < _end_us(as_of)).order_by(c.seq))
    with engine.connect() as conn:
        rows = conn.execute(query).all()
    return pd.DataFrame(rows, columns=["kind", "customer_id", "rule_id", "amount"])


def _end_us(day: dt.date) -> int:
    start = dt.datetime.combine(day, dt.time(), tzinfo=dt.UTC)
    return int(start.timestamp()) * 1_000_000 + _DAY_US


def _outcome_counts(outcomes: pd.DataFrame) -> dict[str, dict[str, float]]:
    out = {}
    for kind in list(_OUTCOME_KINDS) + sorted(set(outcomes["kind"]) - set(_OUTCOME_KINDS)):
        part = outcomes[outcomes["kind"] == kind]
        out[kind] = {"raised": len(part), "customers": int(part["customer_id"].nunique()),
                     "amount": round(float(pd.to_numeric(part["amount"]).fillna(0).sum()), 2)}
    return out


def _by_customer(events: pd.DataFrame) -> list[tuple[str, list[dict[str, Any]]]]:
    """The events as plain records, grouped by customer (one conversion, no loop per row)."""
    plain = events.astype(object).where(events.notna(), None)
    who, names = pd.factorize(plain["customer_id"].astype(str))
    order = np.argsort(who, kind="stable")
    records = plain.to_dict("records")
    bounds = np.flatnonzero(np.diff(who[order])) + 1
    return [(str(names[who[g[0]]]), [records[i] for i in g])
            for g in (np.split(order, bounds) if len(order) else [])]


def payment_facts(events: pd.DataFrame, profile_of: Callable[[str], Profile | None],
                  as_of: dt.date, tables: CollectionTables, *,
                  outcomes: pd.DataFrame | None, source: str) -> PaymentFacts:
    """The section's facts from events (``log_events``), the customers' decisions
    (``profile_of``, e.g. ``profiles_from_frame(decisions).get``) and, from the log,
    the outcomes the event rules raised (None: not read, and the section says so)."""
    raised = _outcome_counts(outcomes) if outcomes is not None else None
    if not len(events):
        return PaymentFacts(source, as_of, 0, 0, {}, raised)
    kinds = events["type"].astype(str).value_counts()
    by_type = {k: int(kinds[k]) for k in [*EVENT_TYPES, *sorted(set(kinds.index)
                                                                 - set(EVENT_TYPES))]
               if k in kinds.index}
    totals: dict[str, Any] = {"cases": 0, "open_cases": 0, "closed_cases": 0,
                              "case_customers": 0, "outstanding": 0.0, "penalty": 0.0,
                              "penalty_open": 0.0, "rebate": 0.0}
    steps = dict.fromkeys(STATUSES, 0)
    open_steps = dict.fromkeys(STATUSES, 0)
    blocked: dict[str, int] = {}
    undecided = []
    for cid, records in _by_customer(events):
        profile = profile_of(cid)
        if profile is None:
            undecided.append(cid)
            continue
        found = collections_of(profile, records, as_of, tables)
        totals["case_customers"] += bool(found.cases)
        for case in found.cases:
            is_open = case.paid_on is None
            totals["cases"] += 1
            totals["open_cases" if is_open else "closed_cases"] += 1
            totals["outstanding"] += case.outstanding
            totals["penalty"] += case.penalty.amount
            totals["penalty_open"] += case.penalty.amount if is_open else 0.0
            totals["rebate"] += case.rebate
            for s in case.steps:
                steps[s.status] = steps.get(s.status, 0) + 1
                if is_open:
                    open_steps[s.status] = open_steps.get(s.status, 0) + 1
                if s.status == "blocked":
                    blocked[s.protection or ""] = blocked.get(s.protection or "", 0) + 1
    money = ("outstanding", "penalty", "penalty_open", "rebate")
    return PaymentFacts(source, as_of, len(events), int(events["customer_id"].nunique()),
                        by_type, raised, **{k: round(v, 2) if k in money else v
                                            for k, v in totals.items()},
                        steps=steps, open_steps=open_steps,
                        blocked_by=dict(sorted(blocked.items(), key=lambda kv: -kv[1])),
                        undecided=tuple(sorted(undecided)),
                        protections={k: v.description
                                     for k, v in tables.protections.kinds.items()})


def _status_words(t: Language) -> dict[str, str]:
    return {"done": t.pgettext("step status", "done"), "due": t.pgettext("step status", "due"),
            "scheduled": t.pgettext("step status", "scheduled"),
            "blocked": t.pgettext("step status", "blocked"),
            "paused": t.pgettext("step status", "paused"),
            "cancelled": t.pgettext("step status", "cancelled")}


def _type_words(t: Language) -> dict[str, str]:
    return {"bill_issued": t.pgettext("event type", "bill issued"),
            "bill_overdue": t.pgettext("event type", "bill overdue"),
            "repayment": t.pgettext("event type", "repayment"),
            "theft_finding": t.pgettext("event type", "theft finding"),
            "agreement_made": t.pgettext("event type", "repayment agreement made"),
            "agreement_broken": t.pgettext("event type", "repayment agreement broken"),
            "outage": t.pgettext("event type", "outage"),
            "protection_granted": t.pgettext("event type", "protection granted"),
            "protection_ended": t.pgettext("event type", "protection ended"),
            "deposit_paid": t.pgettext("event type", "deposit paid")}


def _outcome_sentences(raised: Mapping[str, Mapping[str, float]], t: Language) -> list[str]:
    def n(kind: str, key: str = "raised") -> int:
        return int(raised.get(kind, {}).get(key, 0))

    out = [
        t.ngettext("%(num)s theft finding forced grade C on %(customers)s customers.",
                   "%(num)s theft findings forced grade C on %(customers)s customers.",
                   n("theft_override"), num=t.count(n("theft_override")),
                   customers=t.count(n("theft_override", "customers")))
        if n("theft_override") else t.gettext("No theft finding forced a grade."),
        t.ngettext("%(num)s broken repayment agreement forced a re-grade to C on "
                   "%(customers)s customers.",
                   "%(num)s broken repayment agreements forced a re-grade to C on "
                   "%(customers)s customers.", n("agreement_regrade"),
                   num=t.count(n("agreement_regrade")),
                   customers=t.count(n("agreement_regrade", "customers")))
        if n("agreement_regrade") else t.gettext("No broken repayment agreement forced a "
                                                 "re-grade."),
    ]
    rebates = n("rebate_earned")
    total = float(raised.get("rebate_earned", {}).get("amount", 0.0))
    if rebates:
        out.append(t.ngettext(
            "%(num)s overdue bill repaid in full within the rebate window earned a rebate; "
            "rebates total %(total)s.",
            "%(num)s overdue bills repaid in full within the rebate window earned a rebate; "
            "rebates total %(total)s.", rebates, num=t.count(rebates), total=t.money(total)))
        if not total:
            out.append(t.gettext(
                "A rebate an event raises is a share of the penalty its overdue event "
                "records; these overdue events record none, so the total is zero."))
    else:
        out.append(t.gettext("No overdue bill earned a rebate."))
    marks = n("habitual_defaulter")
    out.append(t.ngettext(
        "%(num)s habitual-defaulter mark was raised on %(customers)s customers.",
        "%(num)s habitual-defaulter marks were raised on %(customers)s customers.",
        marks, num=t.count(marks), customers=t.count(n("habitual_defaulter", "customers")))
        if marks else t.gettext("No habitual-defaulter mark was raised."))
    return out


def _case_sentences(f: PaymentFacts, t: Language) -> list[str]:
    day = t.date(f.as_of)
    out = [t.ngettext(
        "By %(day)s, %(num)s bill of %(customers)s customers had fallen overdue: %(open)s "
        "still open with %(outstanding)s outstanding, %(closed)s paid in full late.",
        "By %(day)s, %(num)s bills of %(customers)s customers had fallen overdue: %(open)s "
        "still open with %(outstanding)s outstanding, %(closed)s paid in full late.",
        f.cases, day=day, num=t.count(f.cases), customers=t.count(f.case_customers),
        open=t.count(f.open_cases), outstanding=t.money(f.outstanding),
        closed=t.count(f.closed_cases)),
        t.gettext("Late-payment penalties accrued on these bills: %(penalty)s, of which "
                  "%(open)s on the open ones; rebates earned on their penalties: %(rebate)s.",
                  penalty=t.money(f.penalty), open=t.money(f.penalty_open),
                  rebate=t.money(f.rebate))]
    blocked = int(f.steps.get("blocked", 0))
    if blocked:
        out.append(t.ngettext(
            "%(num)s step is blocked by a protection; the table below names the protection.",
            "%(num)s steps are blocked by a protection; the table below names each kind.",
            blocked, num=t.count(blocked)))
    else:
        out.append(t.gettext("No step is blocked by a protection."))
    if f.undecided:
        out.append(t.ngettext(
            "%(num)s customer with events has no decision, so its cases are not counted: "
            "decide it first.",
            "%(num)s customers with events have no decision, so their cases are not "
            "counted: decide them first.", len(f.undecided), num=t.count(len(f.undecided))))
    return out


def payment_section(facts: PaymentFacts, t: Language) -> dict[str, Any]:
    """The section for the template: counts, tables and sentences in ``t``'s language."""
    base = {"source": facts.source, "as_of": t.date(facts.as_of), "events": facts.events}
    if not facts.events:
        return {**base, "empty": t.gettext(
            "The decision log holds no payment events up to %(day)s, so there are no event "
            "outcomes and no collection cases to report.", day=t.date(facts.as_of))}
    words, types = _status_words(t), _type_words(t)
    outcomes = None
    if facts.outcomes is not None:
        outcomes = {"sentences": _outcome_sentences(facts.outcomes, t),
                    "rows": [{"kind": k, "name": label(t, "event", k), **v}
                             for k, v in facts.outcomes.items()]}
    return {
        **base, "empty": None, "customers": facts.customers,
        "intro": t.ngettext(
            "%(num)s payment event of %(customers)s customers up to %(day)s.",
            "%(num)s payment events of %(customers)s customers up to %(day)s.", facts.events,
            num=t.count(facts.events), customers=t.count(facts.customers),
            day=t.date(facts.as_of)),
        "by_type": [{"type": k, "word": types.get(k, k), "count": n}
                    for k, n in facts.by_type.items()],
        "outcomes": outcomes,
        "cases": _case_sentences(facts, t),
        "steps": [{"status": s, "word": words.get(s, s), "steps": facts.steps.get(s, 0),
                   "open": facts.open_steps.get(s, 0)} for s in STATUSES],
        "blocked_by": [{"kind": k, "steps": n,
                        "description": t.gettext(facts.protections[k])
                        if facts.protections.get(k) else ""}
                       for k, n in facts.blocked_by.items()],
    }
