"""What an explanation says, as typed statements built from the decision alone.

An explanation is first a list of statements, then words: ``build`` reads a
``Decision`` (and, when given, the tables that made it) and returns the
statements every audience and language renders. Templates and phrases only
put them into words, so each sentence traces to a fact of the decision.

Each statement names, for every value it carries, the decision field the value
comes from (``fields``): a dotted path into the decision's JSON
(``grade.band_grade``, ``inputs.months_connected``, ``events.0.valid_from``),
optionally followed by ``|`` and one of the derivations of ``DERIVE``
(``|day``: the date of a timestamp; ``|last_day``: the last day an outcome
whose end is exclusive is in force). :func:`resolve` reads a path back, so a
test (and anyone) can check that every statement holds of its decision.

The statements, in the order a customer notice reads them:

- ``Decisive``: what set the grade. An override (a theft finding, a broken
  repayment agreement, a new connection, a C grade rising one step, unpaid
  arrears) with the dates it holds between, or the PD band.
- ``ReasonStatement``: the principal reasons behind the PD (``engine.reasons``
  ranks and filters them), secondary when an override decided.
- ``Measure``: each policy with its grounds: the facts the granting rule
  tested that hold for this customer (``Ground``), so a deposit, an inspection
  or an investigation says why. A habitual-defaulter mark is a ``Mark``.
- ``LegalNotice``: the default-liability notice and the cut warning, which are
  documents of their own with their own dates (``notice_days`` after issue).

"In force to D" means on D and not on D+1: an event outcome's stored end is
exclusive, so its last day is the day of (end - 1 microsecond).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from engine.decision import Decision

__all__ = [
    "DERIVE",
    "LEGAL_NOTICES",
    "OVERRIDE_CAUSES",
    "Decisive",
    "Ground",
    "LegalNotice",
    "Mark",
    "Measure",
    "Statements",
    "build",
    "last_day",
    "resolve",
]

#: What each grade override means to the customer, by the fact its rule tests first.
OVERRIDE_CAUSES: Mapping[str, str] = {
    "theft_override_active": "theft",
    "regrade_active": "broken_agreement",
    "previous_grade": "rises_one_step",
    "months_connected": "new_connection",
    "overdue_amount": "arrears",
}
#: The event outcome behind an override cause, and the record field holding its end date.
_CAUSE_EVENTS = {"theft": ("theft_override", "theft_override_until"),
                 "broken_agreement": ("agreement_regrade", "regrade_until")}
#: Policies that are legal documents of their own, by the audience that renders them.
LEGAL_NOTICES: Mapping[str, str] = {"liability-notice": "default_liability_notice",
                                    "cut-warning": "supply_cut_warning"}
# Facts a granting rule tests that are no ground to tell a customer: they only pick
# the parameters (customer class) or they hold when something is absent.
_NOT_GROUNDS = frozenset({"customer_class"})
_GROUND_OPS = frozenset({"eq", "in", "ge", "gt"})


def last_day(until: str) -> dt.date:
    """The last day an outcome is in force: its stored end is exclusive."""
    end = dt.datetime.fromisoformat(str(until).replace("Z", "+00:00"))
    if end.tzinfo is not None:
        end = end.astimezone(dt.UTC).replace(tzinfo=None)
    if len(str(until)) <= 10:  # a plain date is already the last day
        return end.date()
    return (end - dt.timedelta(microseconds=1)).date()


def _day(value: Any) -> dt.date:
    return value if isinstance(value, dt.date) else dt.date.fromisoformat(str(value)[:10])


DERIVE = {"day": _day, "last_day": last_day, "count": len,
          "days": lambda v: dt.timedelta(days=int(v))}


def resolve(decision: Decision | Mapping[str, Any], path: str) -> Any:
    """The value at ``path`` of the decision's JSON: ``a.b.0.c``, optionally ``|derivation``
    (``DERIVE``); ``p + q`` adds two such values (a date and a number of ``|days``)."""
    if " + " in path:
        left, right = path.split(" + ", 1)
        return resolve(decision, left) + resolve(decision, right)
    where, _, how = path.partition("|")
    node: Any = decision.as_json() if isinstance(decision, Decision) else decision
    for part in where.split("."):
        node = node[int(part)] if isinstance(node, list | tuple) else node[part]
    return DERIVE[how](node) if how else node


@dataclass(frozen=True)
class Statement:
    """A statement's values and, for each, the decision field it is read from."""

    values: Mapping[str, Any]
    fields: Mapping[str, str]


@dataclass(frozen=True)
class Decisive(Statement):
    """What set the grade: ``cause`` is ``band`` or one of ``OVERRIDE_CAUSES``' values."""

    cause: str = "band"
    rule_id: str = ""


@dataclass(frozen=True)
class Ground(Statement):
    """One fact a granting rule tested that holds for the customer (``field`` = value)."""

    field: str = ""


@dataclass(frozen=True)
class Measure(Statement):
    """A policy the decision grants, with the grounds of the rule that granted it."""

    policy_id: str = ""
    category: str = ""
    grounds: tuple[Ground, ...] = ()


@dataclass(frozen=True)
class Mark(Statement):
    """A habitual-defaulter mark: from a payment-event outcome (dated) or the record."""

    from_events: bool = False


@dataclass(frozen=True)
class LegalNotice(Statement):
    """A legal document the decision calls for: the audience that renders it and its dates."""

    audience: str = ""
    policy_id: str = ""


@dataclass(frozen=True)
class Statements:
    """Everything an explanation of one decision may say, decisive statement first."""

    decisive: Decisive
    measures: tuple[Measure, ...]
    marks: tuple[Mark, ...]
    notices: tuple[LegalNotice, ...]
    extra: Mapping[str, Any] = field(default_factory=dict)

    def all(self) -> list[Statement]:
        out: list[Statement] = [self.decisive, *self.marks, *self.notices]
        for m in self.measures:
            out.extend((m, *m.grounds))
        return out

    def notice(self, audience: str) -> LegalNotice | None:
        return next((n for n in self.notices if n.audience == audience), None)


def build(decision: Decision, tables: Any = None,
          categories: Mapping[str, str] | None = None) -> Statements:
    """The statements of ``decision``; ``tables`` (a ``TableSet``) supplies the conditions of
    the rules that fired, from which the grounds of each measure and an override's limit come.
    """
    rules = _rules(tables)
    policies = tuple(_measure(decision, i, rules.get((p.table, p.rule_id)),
                              (categories or {}).get(p.policy_id, ""))
                     for i, p in enumerate(decision.policies))
    return Statements(decisive=decisive(decision, rules), measures=policies,
                      marks=tuple(_marks(decision)), notices=tuple(_notices(decision)))


def _rules(tables: Any) -> dict[tuple[str, str], Any]:
    if tables is None:
        return {}
    return {(t.name, r.id): r for t in tables.tables for r in t.rules}


def _override_cause(decision: Decision, rules: Mapping[tuple[str, str], Any]) -> str | None:
    """The cause of the override that set the grade: from the fields its rule tests when the
    rule is known, else from the decision's own flags."""
    grade = decision.grade
    rule = next((r for (_, rid), r in rules.items() if rid == grade.rule_id), None)
    if rule is not None:
        for cond in rule.when:
            if cond.field in OVERRIDE_CAUSES:
                return OVERRIDE_CAUSES[cond.field]
        return None
    inputs = decision.inputs
    for name, cause in OVERRIDE_CAUSES.items():
        if name == "theft_override_active" and inputs.get(name):
            return cause
        if name == "regrade_active" and inputs.get(name):
            return cause
    return None


def decisive(decision: Decision, rules: Mapping[tuple[str, str], Any] | None = None
             ) -> Decisive:
    """The statement of what set the grade, with the dates an override holds between."""
    g = decision.grade
    base = {"grade": g.grade}
    where = {"grade": "grade.grade"}
    if not g.override:
        return Decisive({**base, "pd": decision.score.pd},
                        {**where, "pd": "score.pd"}, cause="band", rule_id=g.rule_id)
    base["band_grade"] = g.band_grade
    where["band_grade"] = "grade.band_grade"
    cause = _override_cause(decision, rules or {}) or "other"
    values, fields = dict(base), dict(where)
    if cause in _CAUSE_EVENTS:
        kind, until_field = _CAUSE_EVENTS[cause]
        found = [(i, e) for i, e in enumerate(decision.events) if e.kind == kind]
        if found:
            i, event = max(found, key=lambda ie: last_day(ie[1].valid_until))
            values.update(since=_day(event.valid_from), until=last_day(event.valid_until))
            fields.update(since=f"events.{i}.valid_from|day",
                          until=f"events.{i}.valid_until|last_day")
        until = decision.inputs.get(until_field)
        if until and ("until" not in values or _day(until) > values["until"]):
            values["until"] = _day(until)
            fields["until"] = f"inputs.{until_field}|day"
            values.pop("since", None)
            fields.pop("since", None)
    elif cause == "new_connection":
        values["months"] = decision.inputs.get("months_connected")
        fields["months"] = "inputs.months_connected"
        limit = _limit(rules or {}, g.rule_id, "months_connected")
        if limit is not None:  # a fact of the grade table, not of the decision
            values["limit"] = int(limit)
            fields["limit"] = f"table:{g.rule_id}.months_connected.lt"
    elif cause == "rises_one_step":
        values["previous_grade"] = decision.inputs.get("previous_grade")
        fields["previous_grade"] = "inputs.previous_grade"
    elif cause == "arrears":
        values["amount"] = decision.inputs.get("overdue_amount")
        fields["amount"] = "inputs.overdue_amount"
    return Decisive(values, fields, cause=cause, rule_id=g.rule_id)


def _limit(rules: Mapping[tuple[str, str], Any], rule_id: str, name: str) -> float | None:
    """The bound an override rule puts on ``name`` (its ``lt`` value), from the table."""
    rule = next((r for (_, rid), r in rules.items() if rid == rule_id), None)
    if rule is None:
        return None
    return next((float(c.value) for c in rule.when if c.field == name and c.op == "lt"), None)


def _measure(decision: Decision, index: int, rule: Any, category: str) -> Measure:
    p = decision.policies[index]
    at = f"policies.{index}"
    grounds: list[Ground] = []
    if rule is not None:
        for cond in rule.when:
            value = decision.inputs.get(cond.field, decision.segments.get(cond.field))
            source = ("inputs" if cond.field in decision.inputs else "segments")
            if cond.field == "grade":
                value, source = decision.grade.grade, "grade"
            if (cond.field in _NOT_GROUNDS or cond.op not in _GROUND_OPS
                    or value in (None, False, 0, 0.0, "")):
                continue
            path = "grade.grade" if source == "grade" else f"{source}.{cond.field}"
            grounds.append(Ground({"value": value}, {"value": path}, field=cond.field))
    return Measure({"policy_id": p.policy_id, "params": dict(p.params)},
                   {"policy_id": f"{at}.policy_id", "params": f"{at}.params"},
                   policy_id=p.policy_id, category=category, grounds=tuple(grounds))


def _marks(decision: Decision) -> list[Mark]:
    found = [(i, e) for i, e in enumerate(decision.events) if e.kind == "habitual_defaulter"]
    if found:
        i, e = found[-1]
        return [Mark({"count": len(e.event_ids), "until": last_day(e.valid_until)},
                     {"count": f"events.{i}.event_ids|count",
                      "until": f"events.{i}.valid_until|last_day"}, from_events=True)]
    if decision.inputs.get("habitual_defaulter"):
        return [Mark({"flag": True}, {"flag": "inputs.habitual_defaulter"})]
    return []


def _notices(decision: Decision) -> list[LegalNotice]:
    out = []
    for audience, policy_id in LEGAL_NOTICES.items():
        i = next((i for i, p in enumerate(decision.policies) if p.policy_id == policy_id), None)
        if i is None:
            continue
        params = decision.policies[i].params
        issued = _day(decision.as_of)
        values: dict[str, Any] = {"issued": issued,
                                  "amount": decision.inputs.get("overdue_amount")}
        fields = {"issued": "as_of|day", "amount": "inputs.overdue_amount"}
        if "notice_days" in params:
            values["earliest_cut"] = issued + dt.timedelta(days=int(params["notice_days"]))
            fields["earliest_cut"] = f"as_of|day + policies.{i}.params.notice_days|days"
        if params.get("call_hours_before"):
            values["call_hours"] = params["call_hours_before"]
            fields["call_hours"] = f"policies.{i}.params.call_hours_before"
        out.append(LegalNotice(values, fields, audience=audience, policy_id=policy_id))
    return out

