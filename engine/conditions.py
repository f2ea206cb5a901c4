"""The one condition language of decision tables and event rules.

A ``when`` entry is written three ways (scalar = equals, list = one of,
operator map ANDed). Here it becomes ``Condition`` objects checked against a
field vocabulary (record fields for tables, fact fields for event rules: the
caller passes its ``FieldSpec``), with the same operators, aliases and
messages for both, and then a durable-rules condition (JSON grammar). The
tables' numpy form is ``engine.tables.masks``. Every form gives false on a
null value, for every operator.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from engine.errors import closest
from engine.records import FieldSpec
from engine.rulehost import ALWAYS

__all__ = [
    "ALIASES",
    "LISTS",
    "OPERATORS",
    "Condition",
    "durable_condition",
    "durable_value",
    "parse_condition",
    "value_problem",
]

OPERATORS = ("eq", "ne", "lt", "le", "gt", "ge", "in", "not_in")


@dataclass(frozen=True)
class Condition:
    """One test of one field; the conditions of a rule are ANDed.

    ``value`` is a scalar, or a tuple for ``in`` / ``not_in``. A condition on
    an absent (null) value is false for every operator, ``ne`` and ``not_in``
    included: a missing fact never satisfies a rule by accident.
    """

    field: str
    op: str
    value: Any
    line: int = 0

    def describe(self) -> str:
        symbol = {"eq": "=", "ne": "!=", "lt": "<", "le": "<=", "gt": ">", "ge": ">=",
                  "in": "in", "not_in": "not in"}[self.op]
        value = list(self.value) if isinstance(self.value, tuple) else self.value
        return f"{self.field} {symbol} {value!r}"


Report = Callable[[str, int, str | None], None]
_ORDERED = ("lt", "le", "gt", "ge")
ALIASES = {"gte": "ge", "lte": "le", "neq": "ne", "==": "eq", "!=": "ne", "<": "lt",
            "<=": "le", ">": "gt", ">=": "ge", "nin": "not_in", "notin": "not_in",
            "not in": "not_in", "equals": "eq", "=": "eq"}
LISTS = ("in", "not_in")


def value_problem(spec: FieldSpec, value: Any) -> tuple[str, str | None] | None:
    """Why ``value`` cannot be a value of the field, with a suggestion, or None."""
    if spec.kind in ("int", "float"):
        if isinstance(value, bool) or not isinstance(value, int | float):
            return f"'{spec.name}' is a number ({spec.unit}), not {value!r}", None
        if value != value:
            return f"'{spec.name}' needs a number, not NaN", None
        return None
    if spec.kind == "bool":
        if not isinstance(value, bool):
            return f"'{spec.name}' is true or false, not {value!r}", None
        return None
    if spec.kind == "category":
        choices = spec.choices or ()
        if not isinstance(value, str) or value not in choices:
            return (f"{value!r} is not a value of '{spec.name}': use one of "
                    + ", ".join(choices), closest(value, choices))
        return None
    if spec.kind == "id":
        return None if isinstance(value, str) else (f"'{spec.name}' is text, not {value!r}", None)
    return (f"'{spec.name}' is a {spec.kind} field and cannot be tested in a table: "
            "test a derived fact instead (for example theft_override_active)", None)


def parse_condition(spec: FieldSpec, raw: Any, line: int, report: Report,
                    key_line: Callable[[str], int] | None = None) -> list[Condition]:
    """Turn one ``when`` entry into conditions; report every problem found."""
    name = spec.name
    if spec.kind == "date":
        msg, hint = value_problem(spec, None) or ("", None)
        report(msg, line, hint)
        return []
    if isinstance(raw, dict):
        if not raw:
            report(f"'{name}': an operator map needs at least one of " + ", ".join(OPERATORS),
                   line, None)
            return []
        out = []
        for op, value in raw.items():
            at = key_line(op) if key_line else line
            if op not in OPERATORS:
                report(f"'{name}': unknown operator '{op}' (use one of "
                       + ", ".join(OPERATORS) + ")", at,
                       ALIASES.get(str(op)) or closest(op, OPERATORS))
                continue
            cond = _one(spec, str(op), value, at, report)
            if cond:
                out.append(cond)
        return out
    if isinstance(raw, list):
        cond = _one(spec, "in", raw, line, report)
        return [cond] if cond else []
    cond = _one(spec, "eq", raw, line, report)
    return [cond] if cond else []


def _one(spec: FieldSpec, op: str, value: Any, line: int, report: Report) -> Condition | None:
    name = spec.name
    if op in _ORDERED and spec.kind not in ("int", "float"):
        report(f"'{name}': operator '{op}' compares numbers, but '{name}' is a {spec.kind} "
               "field: list the accepted values instead", line, None)
        return None
    if op in LISTS:
        if not isinstance(value, list) or not value:
            report(f"'{name}': operator '{op}' needs a non-empty list of values", line, None)
            return None
        ok = True
        for item in value:
            problem = value_problem(spec, item)
            if problem:
                report(f"'{name}' {op}: {problem[0]}", line, problem[1])
                ok = False
        return Condition(name, op, tuple(value), line) if ok else None
    if isinstance(value, list | dict):
        report(f"'{name}': operator '{op}' needs a single value, not a "
               f"{type(value).__name__}", line, None)
        return None
    if value is None:
        report(f"'{name}' {op}: a condition needs a value (nulls never match)", line, None)
        return None
    problem = value_problem(spec, value)
    if problem:
        report(f"'{name}' {op}: {problem[0]}", line, problem[1])
        return None
    return Condition(name, op, value, line)


# --------------------------------------------------------------------------- durable-rules

_DURABLE_OPS = {"lt": "$lt", "le": "$lte", "gt": "$gt", "ge": "$gte"}


def durable_condition(conditions: Sequence[Condition],
                      first: dict[str, Any] | None = None) -> dict[str, Any]:
    """The durable-rules JSON for a rule's conditions, after the ``first`` term.

    The first term is what every fact of the rule set holds (a table's facts
    carry ``ALWAYS``, an event fact its kind), so an empty rule matches them all.
    """
    parts: list[dict[str, Any]] = [first or {ALWAYS: 1}]
    for c in conditions:
        if c.op == "eq":
            parts.append({c.field: c.value})
        elif c.op in _DURABLE_OPS:
            parts.append({_DURABLE_OPS[c.op]: {c.field: c.value}})
        elif c.op == "ne":
            parts += [{"$ex": {c.field: 1}}, {"$neq": {c.field: c.value}}]
        elif c.op == "in":
            options = [{c.field: v} for v in c.value]
            parts.append(options[0] if len(options) == 1 else {"$or": options})
        else:
            parts += [{"$ex": {c.field: 1}}, *({"$neq": {c.field: v}} for v in c.value)]
    return parts[0] if len(parts) == 1 else {"$and": parts}


def durable_value(value: Any) -> Any:
    """A fact value as durable-rules needs it (plain Python; None for null)."""
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and value != value:
        return None
    return value
