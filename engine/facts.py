"""Facts the decision tables read besides the record: derived fields, computed once.

``service_quality_gap``, ``theft_override_active`` and ``regrade_active`` are declared in
``engine.records.DERIVED``; this module is the only place that computes them,
per record and per frame, with the same formulas. ``facts_rows`` turns frame
facts back into the dicts ``record_facts`` gives, so a decision built from a
frame row carries the same inputs as one decided alone.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import numpy as np
import pandas as pd
from pydantic import BaseModel

from engine.records import FIELDS, vocabulary

__all__ = ["facts_rows", "frame_facts", "record_facts"]

_RECORD_FIELDS = [f.name for f in FIELDS]
# Dated overrides: the record field holding the end date -> the flag tables read.
_UNTIL = {"theft_override_until": "theft_override_active", "regrade_until": "regrade_active"}


def record_facts(record: BaseModel) -> dict[str, Any]:
    """The table facts of one validated record: its fields (absent = None) plus derived ones."""
    facts: dict[str, Any] = {name: getattr(record, name) for name in _RECORD_FIELDS}
    as_of = record.as_of  # type: ignore[attr-defined]
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
    """The same facts for a validated frame (``engine.records.validate_frame`` output)."""
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
    columns = [_plain_column(specs[name].kind, facts[name]) for name in names]
    return [dict(zip(names, values, strict=True)) for values in zip(*columns, strict=True)]


def _plain_column(kind: str, column: pd.Series) -> list[Any]:
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
