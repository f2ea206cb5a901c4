"""The dated steps of one overdue bill: the strategy's plan moved by the law, protections
and repayment agreements, then given a status on the as-of date.

For each step of the strategy, in order, the date is::

    planned = due + after_days
    + the days each broken repayment agreement held it (agreement_made to agreement_broken),
      for a step planned on or after the agreement
    then, for a step a protection blocks, moved past each protection holding that date;
    for a cut order, never before the cut warning + notice days (``notice_days``: the
    policy's, at least the law's) nor before the bill is more than 30 days overdue,
    moved until no rule moves it further.

A step a kept agreement holds is ``paused``; a step an open-ended protection
holds (or one that holds on the as-of date) is ``blocked``, naming the
protection; once the bill is paid in full, every step from that day on is
``cancelled``. Otherwise a step is ``done`` before the as-of date, ``due`` on
it and ``scheduled`` after it. Everything is a function of the events and the
as-of date: replaying the same events gives the same steps.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from engine.collections.protections import Protection, holding
from engine.collections.strategy import LEGAL_OVERDUE_DAYS, Step, Strategy, notice_days

__all__ = ["Agreement", "ScheduledStep", "schedule"]

_DAY = dt.timedelta(days=1)


@dataclass(frozen=True)
class Agreement:
    """A repayment agreement: made on ``made``, broken on ``broken`` (None: kept so far)."""

    agreement_id: str
    made: dt.date
    broken: dt.date | None


@dataclass(frozen=True)
class ScheduledStep:
    """A step with its date and status on the as-of date, and why."""

    action: str
    date: dt.date
    status: str
    reason: str
    channel: str
    policy: str
    protection: str | None = None
    planned: dt.date | None = None
    agreement: str | None = None
    extra: Mapping[str, Any] | None = None

    def to_json(self) -> dict[str, Any]:
        out = {"action": self.action, "date": self.date.isoformat(), "status": self.status,
               "reason": self.reason, "protection": self.protection, "channel": self.channel,
               "policy": self.policy,
               "planned": self.planned.isoformat() if self.planned else None,
               "agreement": self.agreement}
        out.update(self.extra or {})
        return out


@dataclass
class _Plan:
    date: dt.date
    reasons: list[str]
    protection: Protection | None = None
    held: Protection | None = None       # an open-ended protection: no date to move to
    paused: Agreement | None = None


def _agreements(plan: _Plan, agreements: Sequence[Agreement]) -> None:
    for a in agreements:
        if plan.date < a.made:
            continue
        if a.broken is None:
            plan.paused = a
            return
        held = (a.broken - a.made).days
        if held:
            plan.date += dt.timedelta(days=held)
            plan.reasons.append(f"held {held} days by repayment agreement {a.agreement_id}, "
                                f"broken on {a.broken.isoformat()}")


def _protect(plan: _Plan, action: str, protections: Sequence[Protection]) -> bool:
    """Move the date past the protections holding it; True when the date moved."""
    moved = False
    while (p := holding(protections, action, plan.date)) is not None:
        plan.protection = p
        if p.until is None:
            plan.held = p
            return moved
        plan.date = p.until + _DAY
        moved = True
    return moved


def _place(step: Step, due: dt.date, warning: dt.date | None, notice: int,
           agreements: Sequence[Agreement], protections: Sequence[Protection]) -> _Plan:
    plan = _Plan(due + dt.timedelta(days=step.after_days),
                 [f"{step.after_days} days after the due date"])
    _agreements(plan, agreements)
    if plan.paused:
        return plan
    while True:
        _protect(plan, step.action, protections)
        if plan.held or step.action != "supply_cut_order":
            return plan
        earliest = max(warning + dt.timedelta(days=notice) if warning else plan.date,
                       due + dt.timedelta(days=LEGAL_OVERDUE_DAYS + 1))
        if earliest <= plan.date:
            return plan
        plan.date = earliest
        plan.reasons.append(f"not before {notice} days after the cut warning and more than "
                            f"{LEGAL_OVERDUE_DAYS} days overdue")


def _status(plan: _Plan, as_of: dt.date, paid_on: dt.date | None, planned: dt.date
            ) -> tuple[str, str | None]:
    if paid_on is not None and plan.date >= paid_on:
        return "cancelled", f"the bill was paid in full on {paid_on.isoformat()}"
    if plan.paused:
        a = plan.paused
        return "paused", f"repayment agreement {a.agreement_id} kept since {a.made.isoformat()}"
    if plan.held:
        p = plan.held
        return "blocked", f"{p.kind} protection since {p.start.isoformat()}, until it is ended"
    p = plan.protection
    if p is not None and planned <= as_of < plan.date:
        return "blocked", (f"{p.kind} protection from {p.start.isoformat()} to "
                           f"{p.until.isoformat() if p.until else '-'}; allowed from "
                           f"{plan.date.isoformat()}")
    if plan.date < as_of:
        return "done", None
    return ("due" if plan.date == as_of else "scheduled"), None


def schedule(strategy: Strategy, due: dt.date, as_of: dt.date, customer_class: str,
             params: Mapping[str, Mapping[str, Any]], *, paid_on: dt.date | None,
             agreements: Sequence[Agreement], protections: Sequence[Protection],
             copy_regulator: bool) -> list[ScheduledStep]:
    """The steps of a bill due on ``due``, dated and given their status on ``as_of``."""
    out: list[ScheduledStep] = []
    warning: dt.date | None = None
    warning_held = False
    held_warning: Protection | None = None
    for step in strategy.steps:
        notice = notice_days(customer_class, params.get(step.policy, {}))
        plan = _place(step, due, warning, notice, agreements, protections)
        if step.action == "supply_cut_order" and warning_held and not plan.held:
            plan.held = plan.protection = held_warning
        planned = due + dt.timedelta(days=step.after_days)
        status, why = _status(plan, as_of, paid_on, planned)
        extra: dict[str, Any] = {}
        if step.action == "supply_cut_order":
            extra["call_hours_before"] = int(params.get(step.policy, {}).get(
                "call_hours_before", 0))
            extra["notice_days"] = notice
        if copy_regulator:
            extra["copy_to"] = "regulator"
        reason = f"{strategy.id}: " + "; ".join(plan.reasons + ([why] if why else []))
        protection = plan.protection.kind if plan.protection and status == "blocked" else None
        out.append(ScheduledStep(step.action, plan.date, status, reason, step.channel,
                                 step.policy, protection, planned,
                                 plan.paused.agreement_id if plan.paused else None, extra))
        if step.action == "supply_cut_warning" and warning is None:
            warning = plan.date
            warning_held = plan.held is not None or plan.paused is not None
            held_warning = plan.held
    return out
