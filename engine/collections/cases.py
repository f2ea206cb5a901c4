"""A customer's collection cases on an as-of date, from its stored events alone.

``collections_of`` reads the customer's events up to the end of the as-of date
(event time, never the wall clock), and for every bill whose due date has
passed unpaid opens a case: the amount, what is still outstanding, the
late-payment penalty accrued (``engine.collections.penalty``), the rebate a
prompt full repayment earned, and the strategy's steps dated and given their
status (``engine.collections.schedule``). A bill paid in full closes its case:
its open steps are cancelled and its penalty stops. Besides the cases it
reports the protections (``engine.collections.protections``) and the deposit:
its size by grade (``months_of_average_bill`` x the average of the customer's
own bills of the last 12 months), the refund step, due 12 months after the
later of the payment of the deposit and the last day a bill was overdue, and
until then a yearly review on each anniversary of the deposit's first payment,
which returns what the deposit holds above that size or asks for what it lacks.

The customer's class, grade and segments are a ``Profile``: the facts of its
latest logged decision on the as-of date (``engine.collections.profiles``).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from engine.collections.penalty import Penalty, penalty_of, rebate_of
from engine.collections.protections import Protection, ProtectionTable, as_date, periods_of
from engine.collections.schedule import Agreement, ScheduledStep, schedule
from engine.collections.strategy import Strategy, StrategyTable
from engine.policies import Catalogue

__all__ = ["Case", "CollectionTables", "CustomerCollections", "Deposit", "Profile",
           "case_of", "collections_of", "event_day", "regulator_copied"]

REFUND_AFTER_MONTHS = 12  # deposits refunded after 12 months of good payment (practice notes)
_POLICIES = ("late_payment_penalty", "overdue_rebate", "supply_cut_warning", "security_deposit",
             "protected_supply")


@dataclass(frozen=True)
class CollectionTables:
    """What collections read: the strategies, the protection kinds and the catalogue."""

    strategies: StrategyTable
    protections: ProtectionTable
    catalogue: Catalogue

    @cached_property
    def defaults(self) -> dict[str, dict[str, Any]]:
        """Each policy's catalogue defaults (computed once per loaded catalogue)."""
        return {p.id: p.defaults() for p in self.catalogue}

    def params(self, granted: Mapping[str, Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
        """Each policy's params: the catalogue's defaults under what the decision granted."""
        return {pid: {**values, **granted[pid]} if granted.get(pid) else values
                for pid, values in self.defaults.items()}


@dataclass(frozen=True)
class Profile:
    """The facts of the customer's latest decision that choose its strategy."""

    customer_id: str
    customer_class: str
    grade: str
    segments: Mapping[str, Any]
    habitual_defaulter: bool
    critical_load: bool
    policies: Mapping[str, Mapping[str, Any]]
    decision_id: str | None = None
    decided_on: str | None = None

    def facts(self) -> dict[str, Any]:
        return {"customer_class": self.customer_class, "grade": self.grade, **self.segments,
                "habitual_defaulter": self.habitual_defaulter,
                "critical_load": self.critical_load}


@dataclass(frozen=True)
class Case:
    """One overdue bill on the as-of date."""

    bill_id: str
    amount: float
    due: dt.date
    outstanding: float
    penalty: Penalty
    rebate: float
    paid_on: dt.date | None
    steps: tuple[ScheduledStep, ...]

    def to_json(self) -> dict[str, Any]:
        return {"bill_id": self.bill_id, "amount": self.amount, "due": self.due.isoformat(),
                "outstanding": self.outstanding,
                "penalty": {"amount": self.penalty.amount, "days": self.penalty.days},
                "rebate": self.rebate,
                "paid_on": self.paid_on.isoformat() if self.paid_on else None,
                "steps": [s.to_json() for s in self.steps]}


@dataclass(frozen=True)
class Deposit:
    """The deposit the grade asks for, what was paid, its refund step and its next yearly
    review."""

    required: float
    paid: float
    refund: ScheduledStep | None
    review: ScheduledStep | None = None

    def to_json(self) -> dict[str, Any]:
        return {"required": self.required, "paid": self.paid,
                "refund": self.refund.to_json() if self.refund else None,
                "review": self.review.to_json() if self.review else None}


@dataclass(frozen=True)
class CustomerCollections:
    """A customer's collections on one date: the stable JSON of ``collections show``."""

    customer_id: str
    as_of: dt.date
    strategy: str
    profile: Profile
    cases: tuple[Case, ...]
    protections: tuple[Protection, ...]
    deposit: Deposit
    bills: tuple[Mapping[str, Any], ...] = field(default=(), repr=False)
    repayments: tuple[Mapping[str, Any], ...] = field(default=(), repr=False)

    def to_json(self) -> dict[str, Any]:
        body = {"customer_id": self.customer_id, "as_of": self.as_of.isoformat(),
                "strategy": self.strategy, "customer_class": self.profile.customer_class,
                "grade": self.profile.grade, "decision_id": self.profile.decision_id,
                "cases": [c.to_json() for c in self.cases],
                "protections": [p.to_json() for p in self.protections],
                "deposit": self.deposit.to_json()}
        body["digest"] = hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()
        return body


def event_day(event: Mapping[str, Any]) -> dt.date:
    """The UTC day of an event's time (ISO text or datetime)."""
    return _instant(event["time"]).date()


def _ordered(events: Iterable[Mapping[str, Any]], as_of: dt.date) -> list[dict[str, Any]]:
    """The events up to ``as_of`` in event-time order; events of the same time in the order
    of their content, so the order they arrived in never changes a case."""
    out = []
    for e in events:
        at = _instant(e["time"])
        day = at.date()
        if day <= as_of:
            out.append({**e, "day": day, "_key": (
                at, str(e["type"]), *(str(e.get(k) or "") for k in _TIES),
                float(e.get("amount") or 0.0))})
    out.sort(key=lambda e: e["_key"])
    return out


_TIES = ("bill_id", "agreement_id", "kind", "reference", "deposit_id", "until", "event_id")


def _instant(t: Any) -> dt.datetime:
    value = dt.datetime.fromisoformat(t.replace("Z", "+00:00")) if isinstance(t, str) else t
    return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


def _agreements(events: Sequence[Mapping[str, Any]]) -> list[Agreement]:
    made: dict[str, dt.date] = {}
    broken: dict[str, dt.date] = {}
    for e in events:
        if e["type"] == "agreement_made":
            made.setdefault(e["agreement_id"], e["day"])
        elif e["type"] == "agreement_broken" and e["agreement_id"] in made:
            broken.setdefault(e["agreement_id"], e["day"])
    return sorted((Agreement(a, d, broken.get(a)) for a, d in made.items()),
                  key=lambda a: a.made)


def _due_of(bill: Mapping[str, Any], overdue_day: dt.date | None) -> dt.date | None:
    if bill.get("due"):
        return as_date(bill["due"])
    return overdue_day - dt.timedelta(days=1) if overdue_day else None


def _paid_in_full(amount: float, repayments: Sequence[tuple[dt.date, float]]) -> dt.date | None:
    total = 0.0
    for day, value in repayments:
        total += value
        if total >= amount - 0.005:
            return day
    return None


def collections_of(profile: Profile, events: Iterable[Mapping[str, Any]], as_of: dt.date,
                   tables: CollectionTables) -> CustomerCollections:
    """The customer's cases, protections and deposit on ``as_of`` (see the module doc)."""
    seen = _ordered(events, as_of)
    params = tables.params(profile.policies)
    strategy = tables.strategies.choose(profile.facts())
    first_day = min((e["day"] for e in seen), default=as_of)
    protections = periods_of(seen, tables.protections, profile.customer_class,
                             {"critical_load": profile.critical_load}, first_day)
    agreements = _agreements(seen)
    bills = [e for e in seen if e["type"] == "bill_issued"]
    overdue = {}
    for e in seen:
        if e["type"] == "bill_overdue":
            overdue.setdefault(e["bill_id"], e["day"])
    paid: dict[str, list[tuple[dt.date, float]]] = {}
    for e in seen:
        if e["type"] == "repayment":
            paid.setdefault(e["bill_id"], []).append((e["day"], float(e["amount"])))
    copy = regulator_copied(profile, params)
    cases = []
    for bill in bills:
        due = _due_of(bill, overdue.get(bill["bill_id"]))
        if due is None or due >= as_of:
            continue
        case = case_of(bill["bill_id"], float(bill["amount"]), due,
                       paid.get(bill["bill_id"], []), as_of, profile.customer_class, strategy,
                       params, agreements=agreements, protections=protections, copy=copy)
        if case is not None:
            cases.append(case)
    deposit = _deposit(seen, cases, as_of, params["security_deposit"],
                       "security_deposit" in profile.policies)
    return CustomerCollections(profile.customer_id, as_of, strategy.id, profile, tuple(cases),
                               tuple(protections), deposit, tuple(bills),
                               tuple(e for e in seen if e["type"] == "repayment"))


def regulator_copied(profile: Profile, params: Mapping[str, Mapping[str, Any]]) -> bool:
    """Whether the customer's steps copy the regulator: an important user (critical load,
    or ``protected_supply`` granted), unless the policy's params say otherwise."""
    return bool(profile.critical_load or "protected_supply" in profile.policies) and bool(
        params.get("protected_supply", {}).get("regulator_copied", True))


def case_of(bill_id: str, amount: float, due: dt.date,
            repay: Sequence[tuple[dt.date, float]], as_of: dt.date, customer_class: str,
            strategy: Strategy, params: Mapping[str, Mapping[str, Any]], *,
            agreements: Sequence[Agreement] = (), protections: Sequence[Protection] = (),
            copy: bool) -> Case | None:
    """The case of one bill due before ``as_of`` (None when it was paid in full by its due
    date): what is owed, the penalty, the rebate and the dated steps."""
    paid_on = _paid_in_full(amount, repay)
    if paid_on is not None and paid_on <= due:
        return None
    penalty = penalty_of(amount, due, repay, as_of, customer_class,
                         params["late_payment_penalty"])
    rebate = rebate_of(penalty, due, paid_on, params["overdue_rebate"])
    steps = schedule(strategy, due, as_of, customer_class, params, paid_on=paid_on,
                     agreements=agreements, protections=protections, copy_regulator=copy)
    outstanding = round(max(amount - sum(a for _, a in repay), 0.0), 2)
    return Case(bill_id, amount, due, outstanding, penalty, rebate.amount if rebate else 0.0,
                paid_on, tuple(steps))


def _add_months(day: dt.date, months: int) -> dt.date:
    y, m = divmod(day.month - 1 + months, 12)
    year, month = day.year + y, m + 1
    for d in (day.day, 30, 29, 28):
        try:
            return dt.date(year, month, d)
        except ValueError:
            continue
    raise AssertionError("unreachable")  # pragma: no cover


def _deposit(seen: Sequence[Mapping[str, Any]], cases: Sequence[Case], as_of: dt.date,
             params: Mapping[str, Any], granted: bool) -> Deposit:
    year_ago = _add_months(as_of, -12)
    recent = [float(e["amount"]) for e in seen
              if e["type"] == "bill_issued" and e["day"] > year_ago]
    average = sum(recent) / len(recent) if recent else 0.0
    required = round(float(params["months_of_average_bill"]) * average, 2) if granted else 0.0
    payments = [e for e in seen if e["type"] == "deposit_paid"]
    paid = round(sum(float(e["amount"]) for e in payments), 2) + 0.0
    if not payments:
        return Deposit(required, paid, None)
    last_overdue = max((c.paid_on or as_of for c in cases), default=None)
    clean_from = max([payments[-1]["day"]] + ([last_overdue] if last_overdue else []))
    unpaid = any(c.paid_on is None for c in cases)
    date = _add_months(clean_from, REFUND_AFTER_MONTHS)
    if unpaid:
        status, why = "blocked", "a bill is still overdue: the 12 clean months have not begun"
    else:
        status = "done" if date < as_of else "due" if date == as_of else "scheduled"
        why = (f"{REFUND_AFTER_MONTHS} months without an overdue bill from "
               f"{clean_from.isoformat()}")
    refund = ScheduledStep("deposit_refund", date, status, why, "letter", "security_deposit",
                           extra={"amount": paid, "since": clean_from.isoformat(),
                                  "months": REFUND_AFTER_MONTHS})
    review = _review(payments[0]["day"], as_of, refund, required, paid, average,
                     float(params["months_of_average_bill"]))
    return Deposit(required, paid, refund, review)


def _review(first: dt.date, as_of: dt.date, refund: ScheduledStep, required: float,
            paid: float, average: float, months: float) -> ScheduledStep | None:
    """The next yearly review of a deposit held (on each anniversary of its first payment,
    today or later), unless the refund comes first: the deposit is brought to what the
    grade asks, at most ``months_of_average_bill`` x the customer's own average bill."""
    years = max(as_of.year - first.year, 1)
    date = _add_months(first, 12 * years)
    if date < as_of:
        date = _add_months(first, 12 * (years + 1))
    if refund.status != "blocked" and refund.date <= date:
        return None
    change = round(required - paid, 2) + 0.0
    what = ("the excess is returned" if change < 0 else "the shortfall is asked"
            if change > 0 else "the deposit stays as it is")
    why = (f"yearly review of the deposit paid on {first.isoformat()}: {paid:.2f} held, at most "
           f"{required:.2f} asked ({months:g} months of the average bill {average:.2f}); {what}")
    return ScheduledStep("deposit_review", date, "due" if date == as_of else "scheduled", why,
                         "letter", "security_deposit",
                         extra={"amount": abs(change), "change": change, "held": paid,
                                "required": required, "average": round(average, 2),
                                "months": months})
