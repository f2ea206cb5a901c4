"""The per-decision executor: each table compiled once into a plain-Python matcher.

For every field a table reads, the rules' conditions on that field are folded
ahead of time into one bit set per *region* of the field's values; bit ``k``
stands for the ``k``-th rule in the order its hit policy reads them (file
order, or highest ``priority:`` first). A rule matches when its bit is in the
set of every field, so matching one customer is one dictionary look-up or one
bisection per field and an AND of Python integers:

- a category or flag field has one set per value the vocabulary or a rule
  names (an indexed equality), one for any other value and one for null;
- a number field has one set per rank of the value among the thresholds its
  rules use, found by bisection (``2i + 1`` on threshold ``i``, ``2i`` just
  below it, as the durable-rules executor ranks numbers), and one for null.

A rule without a condition on a field has its bit in every set of that
field, the null set included; a rule with one never has it in the null set,
so a condition on a missing fact is false for every operator, ``ne`` and
``not_in`` included, exactly as in the durable-rules and vectorised
executors. A value of the wrong type for a number field (a flag, a text)
counts as null there, as durable-rules counts it.

The hit policy is resolved at compile time too: ``first`` and ``priority``
take the lowest bit, ``collect`` and ``rule_order`` every bit in file order,
``unique`` refuses a second bit and ``any`` compares the matching rules'
outputs. The trace entries of rules whose outputs are constants are built
once.

A table this executor cannot express is refused per rule with the reason
(``CompiledExecutor.problems``); ``gridcredit rules check`` reports each as
a finding and deciding on that table raises ``DecisionError``.
"""

from __future__ import annotations

import bisect
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from engine.conditions import OPERATORS, Condition
from engine.errors import DecisionError
from engine.records import vocabulary
from engine.rulehost import rank
from engine.tables.durable import numeric_scales
from engine.tables.hitpolicy import outputs_of, priority_order, winners
from engine.tables.model import (
    POLICY_OUTPUT,
    FieldRef,
    PolicyHit,
    Rule,
    RuleHit,
    Table,
)

__all__ = ["CompiledExecutor", "CompiledTable", "Unsupported", "plain"]

_NUMBER_KINDS = ("int", "float")
# Types a fact arrives as after validation: taken as they are, no conversion.
_PLAIN = frozenset({str, int, bool, type(None)})
_LOOKUP_KINDS = ("category", "bool", "id")


class Unsupported(Exception):
    """A rule the compiled executor cannot express, and why."""

    def __init__(self, rule: Rule, reason: str) -> None:
        super().__init__(f"rule '{rule.id}' ({rule.location}): {reason}")
        self.rule = rule
        self.reason = reason


def plain(value: Any) -> Any:
    """A fact value as the executors compare it: plain Python, None for every null."""
    kind = type(value)
    if kind is str or kind is int or kind is bool or value is None:
        return value
    if kind is float:
        return None if value != value else value
    if isinstance(value, np.generic):
        value = value.item()
        return None if isinstance(value, float) and value != value else value
    if value is pd.NA or value is pd.NaT:
        return None
    return value


def _holds(c: Condition, value: Any) -> bool:
    """Whether a non-null ``value`` meets one condition (used only while compiling)."""
    op = c.op
    if op == "eq":
        return value == c.value
    if op == "ne":
        return value != c.value
    if op == "in":
        return value in c.value
    if op == "not_in":
        return value not in c.value
    if op == "lt":
        return value < c.value
    if op == "le":
        return value <= c.value
    if op == "gt":
        return value > c.value
    return value >= c.value


def _set_of(test: tuple[Any, ...], value: Any) -> int:
    """The bit set a field's value selects, for any value (see the module docstring)."""
    _, number, scale, size, sets, other, null = test
    kind = type(value)
    if kind not in _PLAIN:
        value = plain(value)
        kind = type(value)
    if value is None:
        return null
    if number:
        if kind is bool or not (kind is float or kind is int
                                or isinstance(value, int | float)):
            return null
        x = float(value)
        i = bisect.bisect_left(scale, x)
        return sets[2 * i + 1 if i < size and scale[i] == x else 2 * i]
    try:
        return sets.get(value, other)
    except TypeError:
        return other


@dataclass(frozen=True)
class _Field:
    """One field a table tests: how a value finds its bit set."""

    name: str
    number: bool
    scale: tuple[float, ...]
    sets: Any
    other: int
    null: int


def _check(rule: Rule, c: Condition, kind: str) -> None:
    if c.op not in OPERATORS:
        raise Unsupported(rule, f"'{c.field}': operator '{c.op}' has no compiled form "
                                f"(use one of {', '.join(OPERATORS)})")
    values = c.value if isinstance(c.value, tuple) else (c.value,)
    if kind in _NUMBER_KINDS:
        for v in values:
            if isinstance(v, bool) or not isinstance(v, int | float) or v != v:
                raise Unsupported(rule, f"'{c.field}' is a number field but the condition "
                                        f"compares it with {v!r}: write a number")
        return
    if kind not in _LOOKUP_KINDS:
        raise Unsupported(rule, f"'{c.field}' is a {kind} field, which has no compiled "
                                "form: test a derived fact instead")
    if c.op in ("lt", "le", "gt", "ge"):
        raise Unsupported(rule, f"'{c.field}': operator '{c.op}' orders numbers, but "
                                f"'{c.field}' is a {kind} field: list the accepted values")
    for v in values:
        try:
            hash(v)
        except TypeError:
            raise Unsupported(rule, f"'{c.field}': {v!r} cannot be an indexed value: "
                                    "write a single value or a list of values") from None


def _field(name: str, kind: str, order: Sequence[Rule], scale: Sequence[float]) -> _Field:
    """The bit sets of one field over the rules in hit-policy order."""
    conditions = [[c for c in r.when if c.field == name] for r in order]
    free = sum(1 << k for k, conds in enumerate(conditions) if not conds)

    def bits(value: Any, conds_of: Any = None) -> int:
        return sum(1 << k for k, conds in enumerate(conds_of or conditions)
                   if all(_holds(c, value) for c in conds))

    if kind in _NUMBER_KINDS:
        points = tuple(float(x) for x in scale)
        ranked = [[_ranked(c, points) for c in conds] for conds in conditions]
        sets = tuple(bits(r, ranked) for r in range(2 * len(points) + 1))
        return _Field(name, True, points, sets, 0, free)
    mentioned = [v for conds in conditions for c in conds
                 for v in (c.value if isinstance(c.value, tuple) else (c.value,))]
    choices: tuple[Any, ...] = vocabulary()[name].choices or ()
    if kind == "bool":
        choices = (True, False)
    table = {v: bits(v) for v in dict.fromkeys([*choices, *mentioned])}
    other = sum(1 << k for k, conds in enumerate(conditions)
                if all(c.op in ("ne", "not_in") for c in conds))
    return _Field(name, False, (), table, other, free)


def _ranked(c: Condition, points: Sequence[float]) -> Condition:
    """A number condition over ranks: every threshold is in ``points``, so this is exact."""
    if isinstance(c.value, tuple):
        return Condition(c.field, c.op, tuple(rank(points, float(v)) for v in c.value), c.line)
    return Condition(c.field, c.op, rank(points, float(c.value)), c.line)


def _rule_hit(table: Table, rule: Rule, sets: Mapping[str, Any]) -> RuleHit:
    return RuleHit(table=table.name, rule_id=rule.id, file=rule.file, line=rule.line,
                   description=rule.description, source=rule.source, sets=sets)


class CompiledTable:
    """One table as bit sets per field, with its hit policy and trace entries fixed."""

    def __init__(self, table: Table) -> None:
        self.table = table
        vocab = vocabulary()
        order = ([table.rules[i] for i in priority_order(table)]
                 if table.hit_policy == "priority" else list(table.rules))
        self.order = tuple(order)
        tested = dict.fromkeys(c.field for r in order for c in r.when)
        for r in order:
            for c in r.when:
                if c.field not in vocab:
                    raise Unsupported(r, f"'{c.field}' is not a field of the vocabulary")
                _check(r, c, vocab[c.field].kind)
        scales = numeric_scales(table)
        self.fields = tuple(_field(name, vocab[name].kind, order, scales.get(name, ()))
                            for name in tested)
        self.everything = (1 << len(order)) - 1
        self.single = table.hit_policy in ("first", "priority")
        self.sets_outputs = not table.adds_policies
        self.refs = any(isinstance(v, FieldRef) for r in order for _, v in r.sets)
        self.policy_hits = tuple(tuple(
            PolicyHit(policy_id=a.policy_id, params=dict(a.merged), rule_id=r.id,
                      table=table.name, file=r.file, line=a.line or r.line, source=r.source)
            for a in r.policies) for r in order)
        if table.adds_policies:
            self.hits = tuple(_rule_hit(table, r, {POLICY_OUTPUT: tuple(
                a.policy_id for a in r.policies)}) for r in order)
        else:
            self.hits = tuple(_rule_hit(table, r, {name: plain(v) for name, v in r.sets})
                              for r in order)
        self.values = tuple({name: plain(v) for name, v in r.sets} for r in order)
        # ``fields`` as plain tuples, read once per field per customer
        self.tests = tuple((f.name, f.number, f.scale, len(f.scale), f.sets, f.other, f.null)
                           for f in self.fields)
        # per rule, and for no rule (last), the outputs it gives the tables after it
        self.gives = tuple({name: plain(v.get(name)) for name in table.outputs}
                           for v in (*self.values, {})) if self.sets_outputs else ()

    def matched(self, facts: Mapping[str, Any]) -> int:
        """The bit set of rules (in hit-policy order) whose conditions hold for ``facts``.

        The plain values a validated record holds (a finite float or an int for a
        number, a text or a flag for a look-up) go straight to their set; any other
        value goes through ``_set_of``.
        """
        m = self.everything
        for test in self.tests:
            name, number, scale, size, sets, other, null = test
            value = facts.get(name)
            kind = type(value)
            if number:
                if kind is float and value == value:
                    i = bisect.bisect_left(scale, value)
                    m &= sets[2 * i + 1 if i < size and scale[i] == value else 2 * i]
                elif kind is int:
                    x = float(value)
                    i = bisect.bisect_left(scale, x)
                    m &= sets[2 * i + 1 if i < size and scale[i] == x else 2 * i]
                else:
                    m &= _set_of(test, value)
            elif kind is str or kind is bool:
                m &= sets.get(value, other)
            else:
                m &= _set_of(test, value)
            if not m:
                return 0
        return m

    def indices(self, m: int) -> list[int]:
        """Positions (in hit-policy order) of the bits of ``m``, lowest first."""
        out = []
        while m:
            low = m & -m
            out.append(low.bit_length() - 1)
            m ^= low
        return out


class CompiledExecutor:
    """The compiled matchers of a table set; tables it cannot express are listed in ``problems``."""

    def __init__(self, tables: Sequence[Table]) -> None:
        self.compiled: dict[str, CompiledTable] = {}
        self.problems: dict[str, Unsupported] = {}
        for t in tables:
            try:
                self.compiled[t.name] = CompiledTable(t)
            except Unsupported as exc:
                self.problems[t.name] = exc

    def table(self, table: Table) -> CompiledTable:
        found = self.compiled.get(table.name)
        if found is None or found.table is not table:
            problem = self.problems.get(table.name)
            if problem is None:
                return CompiledTable(table)
            raise DecisionError(f"table '{table.name}' cannot run on the compiled executor: "
                                f"{problem}; decide with the durable executor or rewrite "
                                "the rule")
        return found

    def plan(self, tables: Sequence[Table]) -> tuple[tuple[CompiledTable, bool], ...] | None:
        """The compiled tables of ``tables`` for ``key``, or None if their outcome is not
        fixed by the rules that fire: a rule output copies a fact, or a table is not the
        one compiled at load (``run`` then decides them)."""
        out = []
        for t in tables:
            c = self.compiled.get(t.name)
            if c is None or c.table is not t or c.refs:
                return None
            out.append((c, c.single))
        return tuple(out)

    def key(self, plan: Sequence[tuple[CompiledTable, bool]], facts: Mapping[str, Any]
            ) -> tuple[int, ...]:
        """What ``run`` does for ``facts`` on a ``plan``'s tables, as one key: per table the
        rule it takes (first, priority) or the rules that match (the other hit policies).

        Equal keys are equal outcomes -- outputs, rules fired, policy hits -- because
        without outputs that copy facts those follow from the matching rules alone; a
        ``unique`` or ``any`` conflict is found by ``run``, which this does not replace.
        """
        current = dict(facts)
        key = []
        for c, single in plan:
            m = c.matched(current)
            key.append(m & -m if single else m)
            if c.gives:
                current.update(c.gives[(m & -m).bit_length() - 1 if m else -1])
        return tuple(key)

    def run(self, tables: Sequence[Table], facts: Mapping[str, Any]
            ) -> tuple[dict[str, Any], list[PolicyHit], list[RuleHit]]:
        """Outputs, policy hits (before de-duplication) and rules fired, table by table."""
        current = dict(facts)
        outputs: dict[str, Any] = {}
        fired: list[RuleHit] = []
        hits: list[PolicyHit] = []
        for t in tables:
            c = self.table(t)
            m = c.matched(current)
            if c.single:
                chosen = [((m & -m).bit_length() - 1)] if m else []
            elif t.hit_policy in ("collect", "rule_order"):
                chosen = c.indices(m)
            else:
                chosen = self._checked(c, m, current)
            if c.sets_outputs:
                if chosen:
                    values = (outputs_of(c.order[chosen[0]], current) if c.refs
                              else c.values[chosen[0]])
                else:
                    values = {}
                for name in t.outputs:
                    outputs[name] = current[name] = plain(values.get(name))
                if c.refs or (len(chosen) > 1 and not c.single):
                    for k in chosen:
                        rule = c.order[k]
                        fired.append(_rule_hit(t, rule, {name: outputs.get(name)
                                                         for name, _ in rule.sets}))
                else:
                    fired += [c.hits[k] for k in chosen]
            else:
                fired += [c.hits[k] for k in chosen]
            for k in chosen:
                hits += c.policy_hits[k]
        return outputs, hits, fired

    @staticmethod
    def _checked(c: CompiledTable, m: int, facts: Mapping[str, Any]) -> list[int]:
        """``unique`` and ``any``: the matches, after the policy's own check."""
        chosen = c.indices(m)
        if len(chosen) < 2:
            return chosen
        t = c.table
        who = f" for customer {facts['customer_id']!r}" if facts.get("customer_id") else ""
        read = {name: plain(facts.get(name)) for name in t.reads}
        winners(t, [c.order[k].index for k in chosen], read, who)
        return chosen
