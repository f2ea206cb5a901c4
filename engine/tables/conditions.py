"""Conditions: parsing and type checks, and their two compiled forms.

A ``when`` entry is written three ways (scalar = equals, list = one of,
operator map ANDed). Here it becomes ``Condition`` objects checked against the
field vocabulary, then either a durable-rules condition (JSON grammar) or a
numpy mask over a whole column. Both forms give false on a null value, for
every operator.
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
from engine.tables.model import OPERATORS, Condition

__all__ = [
    "Column",
    "durable_condition",
    "encode_column",
    "mask",
    "parse_condition",
    "value_problem",
]

Report = Callable[[str, int, str | None], None]
_ORDERED = ("lt", "le", "gt", "ge")
_ALIASES = {"gte": "ge", "lte": "le", "neq": "ne", "==": "eq", "!=": "ne", "<": "lt",
            "<=": "le", ">": "gt", ">=": "ge", "nin": "not_in", "notin": "not_in",
            "not in": "not_in", "equals": "eq", "=": "eq"}
_LISTS = ("in", "not_in")


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
                       _ALIASES.get(str(op)) or closest(op, OPERATORS))
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
    if op in _LISTS:
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


def durable_condition(conditions: Sequence[Condition]) -> dict[str, Any]:
    """The durable-rules JSON for a rule's conditions (an empty rule always matches)."""
    parts: list[dict[str, Any]] = [{ALWAYS: 1}]
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


# --------------------------------------------------------------------------- numpy masks

@dataclass(frozen=True)
class Column:
    """A whole column ready for masks: floats with NaN, or category codes.

    Category codes are -1 for null and -2 for a value no rule mentions, so
    that ``ne`` and ``not_in`` stay true for it, as in the durable executor.
    """

    kind: str
    values: np.ndarray
    codes: dict[Any, int] | None = None

    @property
    def null(self) -> np.ndarray:
        if self.codes is None:
            return np.isnan(self.values)
        return self.values == -1


def encode_column(spec: FieldSpec, data: Any, mentioned: Sequence[Any] = ()) -> Column:
    """Encode one column of facts for mask evaluation."""
    series = data if isinstance(data, pd.Series) else pd.Series(data, dtype=object)
    if spec.kind in ("int", "float"):
        if pd.api.types.is_bool_dtype(series.dtype):
            series = series.astype("float64")
        values = pd.to_numeric(series, errors="coerce").to_numpy(dtype=np.float64,
                                                                  na_value=np.nan)
        return Column("num", values)
    if spec.kind == "bool":
        if pd.api.types.is_bool_dtype(series.dtype) and series.dtype != object:
            values = series.astype("boolean").to_numpy(dtype=np.float64, na_value=np.nan)
        else:
            obj = series.to_numpy(dtype=object)
            values = np.full(len(obj), np.nan)
            known = pd.notna(obj)
            values[known] = [1.0 if bool(v) else 0.0 for v in obj[known]]
        return Column("num", values)
    cats = list(dict.fromkeys([*(spec.choices or ()), *mentioned]))
    codes = pd.Index(cats, dtype=object).get_indexer(series.astype(object)).astype(np.int16)
    other = (codes == -1) & series.notna().to_numpy()
    if other.any():
        codes = codes.copy()
        codes[other] = -2
    return Column("cat", codes, {c: i for i, c in enumerate(cats)})


def mask(cond: Condition, col: Column) -> np.ndarray:
    """Rows where the condition holds; null rows are always false."""
    v = col.values
    if col.codes is not None:
        wanted = [col.codes.get(x, -3) for x in
                  (cond.value if isinstance(cond.value, tuple) else (cond.value,))]
        if cond.op == "eq":
            return v == wanted[0]
        if cond.op == "in":
            return np.isin(v, wanted)
        if cond.op == "ne":
            return (v != wanted[0]) & (v != -1)
        if cond.op == "not_in":
            return ~np.isin(v, wanted) & (v != -1)
        raise ValueError(f"operator {cond.op} on a category column")
    value = cond.value
    if cond.op in _LISTS:
        wanted_num = np.array([float(x) for x in value])
        hit = np.isin(v, wanted_num)
        return hit if cond.op == "in" else ~hit & ~np.isnan(v)
    x = float(value)
    with np.errstate(invalid="ignore"):
        if cond.op == "eq":
            return v == x
        if cond.op == "ne":
            return (v != x) & ~np.isnan(v)
        if cond.op == "lt":
            return v < x
        if cond.op == "le":
            return v <= x
        if cond.op == "gt":
            return v > x
        return v >= x
