"""Facts the decision tables read besides the record: derived fields, computed once.

``service_quality_gap``, ``theft_override_active`` and ``regrade_active`` are declared in
``engine.records.DERIVED``; this module is the only place that computes them,
per record and per frame, with the same formulas. ``facts_rows`` turns frame
facts back into the dicts ``record_facts`` gives, so a decision built from a
frame row carries the same inputs as one decided alone.

``raw_facts`` is the per-decision fast path: it checks a raw record (a
dict as service systems send it) field by field with checks worked out at
import, and gives its facts when every field is plainly valid -- the exact
type, in range, a listed choice, an ISO date -- which ``validate_record``
would accept and turn into the same values. Anything else (a missing or
unknown field, a wrong type, a value out of range, a date in another
spelling) gives ``None``, and the caller validates the record the general
way, which refuses it with its own message or accepts what pydantic's
coercions allow. So the fast path refuses exactly what validation refuses,
with the same messages: it never refuses anything itself.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
from pydantic import BaseModel

from engine.records import CUSTOMER_ID, FIELDS, NON_RESIDENTIAL, vocabulary

__all__ = ["facts_rows", "frame_facts", "plain_column", "raw_facts", "record_facts"]

_RECORD_FIELDS = [f.name for f in FIELDS]
# Dated overrides: the record field holding the end date -> the flag tables read.
_UNTIL = {"theft_override_until": "theft_override_active", "regrade_until": "regrade_active"}


def record_facts(record: BaseModel) -> dict[str, Any]:
    """The table facts of one validated record: its fields (absent = None) plus derived ones."""
    return _derived({name: getattr(record, name) for name in _RECORD_FIELDS})


# Per field: name, kind, lowest, highest, choices, whether it may be absent. pydantic's
# ``pattern`` matches the whole text (no trailing newline), as ``fullmatch`` does.
_ID_TEXT = re.compile(CUSTOMER_ID.pattern.removeprefix("^").removesuffix("$"))
_ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_CHECKS = tuple(
    (f.name, f.kind, -math.inf if f.ge is None else f.ge, math.inf if f.le is None else f.le,
     frozenset(f.choices or ()), f.required != "all") for f in FIELDS)
_KNOWN = frozenset(_RECORD_FIELDS)
_FINANCIAL = tuple(f.name for f in FIELDS if f.required == "non-residential")
# Integers a float field takes as they are: beyond 2**53 a float is no longer exact.
_EXACT = 2 ** 53


def raw_facts(data: Mapping[str, Any]) -> dict[str, Any] | None:
    """``record_facts(validate_record(data))`` when every field is plainly valid, else None."""
    if type(data) is not dict or not _KNOWN.issuperset(data):
        return None
    facts: dict[str, Any] = {}
    get = data.get
    for name, kind, lo, hi, choices, optional in _CHECKS:
        value = get(name)
        if value is None:
            if not optional:
                return None
        elif kind == "float":
            kind_of = type(value)
            if kind_of is int and -_EXACT <= value <= _EXACT:
                value = float(value)
            elif kind_of is not float:
                return None
            if not lo <= value <= hi:
                return None
        elif kind == "int":
            if type(value) is not int or not lo <= value <= hi:
                return None
        elif kind == "bool":
            if type(value) is not bool:
                return None
        elif kind == "category":
            if type(value) is not str or value not in choices:
                return None
        elif kind == "date":
            value = _date(value)
            if value is None:
                return None
        elif type(value) is not str or _ID_TEXT.fullmatch(value) is None:
            return None
        facts[name] = value
    enterprise = facts["customer_class"] in NON_RESIDENTIAL
    if any((facts[name] is None) is enterprise for name in _FINANCIAL):
        return None
    return _derived(facts)


def _date(value: Any) -> dt.date | None:
    """An ISO date text or a date (not a datetime) as the date it names, else None."""
    if type(value) is dt.date:
        return value
    if type(value) is not str or _ISO_DATE.fullmatch(value) is None:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        return None


def _derived(facts: dict[str, Any]) -> dict[str, Any]:
    """The derived facts added to a record's fields, as ``record_facts`` adds them."""
    as_of = facts["as_of"]
    facts["as_of"] = as_of.isoformat()
    facts["service_quality_gap"] = round(
        float(facts["expected_service_quality"]) - float(facts["perceived_service_quality"]), 9
    )
    for field, flag in _UNTIL.items():
        until = facts.get(field)
        facts[flag] = bool(isinstance(until, dt.date) and until >= as_of)
        if isinstance(until, dt.date):
            facts[field] = until.isoformat()
    return facts


def frame_facts(frame: pd.DataFrame) -> pd.DataFrame:
    """The same facts for a validated frame (``engine.recordframe.validate_frame`` output)."""
    out = frame.copy()
    gap = (out["expected_service_quality"].to_numpy(dtype=float)
           - out["perceived_service_quality"].to_numpy(dtype=float))
    out["service_quality_gap"] = np.round(gap, 9)
    as_of = pd.to_datetime(out["as_of"])
    for field, flag in _UNTIL.items():
        until = pd.to_datetime(out[field])
        out[flag] = (until.notna() & (until >= as_of)).to_numpy(dtype=bool)
    return out


def facts_rows(facts: pd.DataFrame) -> list[dict[str, Any]]:
    """``record_facts`` of every row of ``frame_facts`` output, column by column.

    Keys and value types are those of ``record_facts``: declared fields in
    ``FIELDS`` order (absent = None, whole numbers as int, dates as ISO text)
    and the derived facts after them.
    """
    specs = vocabulary()
    names = [*_RECORD_FIELDS, "service_quality_gap", *_UNTIL.values()]
    columns = [plain_column(specs[name].kind, facts[name]) for name in names]
    return [dict(zip(names, values, strict=True)) for values in zip(*columns, strict=True)]


def plain_column(kind: str, column: pd.Series) -> list[Any]:
    """A column as plain Python values (None where absent) of the field's kind."""
    out = np.empty(len(column), dtype=object)
    if kind in ("int", "float"):
        values = column.to_numpy(dtype=float, na_value=np.nan)
        present = ~np.isnan(values)
        kept = values[present]
        out[present] = (kept.astype(np.int64) if kind == "int" else kept).tolist()
    elif kind == "bool":
        flags = column.astype("boolean")
        present = flags.notna().to_numpy()
        out[present] = flags[present].to_numpy(dtype=bool).tolist()
    elif kind == "date":
        days = pd.to_datetime(column)
        present = days.notna().to_numpy()
        out[present] = days[present].dt.strftime("%Y-%m-%d").tolist()
    else:
        text = column.astype("string")
        present = text.notna().to_numpy()
        out[present] = text[present].tolist()
    return out.tolist()
