"""Facts the decision tables read besides the record: derived fields, computed once.

``service_quality_gap`` and ``theft_override_active`` are declared in
``engine.records.DERIVED``; this module is the only place that computes them,
per record and per frame, with the same formulas.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import numpy as np
import pandas as pd
from pydantic import BaseModel

from engine.records import FIELDS

__all__ = ["record_facts", "frame_facts"]

_RECORD_FIELDS = [f.name for f in FIELDS]


def record_facts(record: BaseModel) -> dict[str, Any]:
    """The table facts of one validated record: its fields (absent = None) plus derived ones."""
    facts: dict[str, Any] = {name: getattr(record, name) for name in _RECORD_FIELDS}
    facts["as_of"] = record.as_of.isoformat()  # type: ignore[attr-defined]
    until = facts.get("theft_override_until")
    if isinstance(until, dt.date):
        facts["theft_override_until"] = until.isoformat()
    facts["service_quality_gap"] = round(
        float(facts["expected_service_quality"]) - float(facts["perceived_service_quality"]), 9
    )
    facts["theft_override_active"] = bool(
        isinstance(until, dt.date) and until >= record.as_of  # type: ignore[attr-defined]
    )
    return facts


def frame_facts(frame: pd.DataFrame) -> pd.DataFrame:
    """The same facts for a validated frame (``engine.records.validate_frame`` output)."""
    out = frame.copy()
    gap = (out["expected_service_quality"].to_numpy(dtype=float)
           - out["perceived_service_quality"].to_numpy(dtype=float))
    out["service_quality_gap"] = np.round(gap, 9)
    until = pd.to_datetime(out["theft_override_until"])
    as_of = pd.to_datetime(out["as_of"])
    out["theft_override_active"] = (until.notna() & (until >= as_of)).to_numpy(dtype=bool)
    return out
