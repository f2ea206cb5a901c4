"""Payment-event outcomes applied to what is decided: one record, or a whole frame.

Every path that decides (service, CLI, batch, impact) reads the customer's
outcomes in force on the record's ``as_of`` from the event store and hands
them to the same stages: the outcome flags fill the record's history fields
before validation, so they decide through the same tables, and the decision
names each outcome with the events behind it. A history flag the record
already sets stays set; of two end dates (the record's and the outcome's) the
later one counts.

For a frame the store is read once per chunk (``EventStore.outcomes_for_many``,
one query per 512 customers), never once per row.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from pydantic import BaseModel

from engine.decision import EventOutcome

if TYPE_CHECKING:
    from engine.events.store import EventOutcomes, EventStore

__all__ = ["HISTORY_DATES", "FrameOutcomes", "frame_outcomes", "merge_history"]

#: History fields holding an end date: the later of the record's and the outcome's counts.
HISTORY_DATES = ("theft_override_until", "regrade_until")


def merge_history(record: Mapping[str, Any] | BaseModel,
                  history: Mapping[str, Any]) -> dict[str, Any]:
    """The record with event-outcome flags merged into its history fields."""
    data = record.model_dump() if isinstance(record, BaseModel) else dict(record)
    for name, value in history.items():
        if name in HISTORY_DATES:
            current = _date(data.get(name))
            data[name] = value if current is None or value > current else current
        elif value:
            data[name] = value
    return data


def _date(value: Any) -> dt.date | None:
    if value is None or value is pd.NaT or (isinstance(value, float) and value != value):
        return None
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(str(value)[:10])
    except ValueError:
        return None  # a malformed date is the validator's to refuse, not ours to guess


class FrameOutcomes:
    """A frame with its rows' outcomes merged in, and each row's outcomes (by position)."""

    def __init__(self, frame: pd.DataFrame, per_row: list[tuple[EventOutcome, ...]]) -> None:
        self.frame = frame
        self.per_row = per_row

    @property
    def rows_with_events(self) -> int:
        return sum(1 for o in self.per_row if o)


def frame_outcomes(frame: pd.DataFrame, store: EventStore) -> FrameOutcomes:
    """Read the outcomes in force for every row of ``frame`` and merge them in."""
    n = len(frame)
    per_row: list[tuple[EventOutcome, ...]] = [()] * n
    if n == 0 or "customer_id" not in frame.columns or "as_of" not in frame.columns:
        return FrameOutcomes(frame, per_row)
    ids = frame["customer_id"].astype("string").to_numpy(dtype=object, na_value=None)
    days = pd.to_datetime(frame["as_of"].astype("string"), errors="coerce", format="ISO8601")
    day_values = [None if pd.isna(d) else d.date() for d in days]
    keys = {(c, d) for c, d in zip(ids, day_values, strict=True)
            if isinstance(c, str) and d is not None}
    found: dict[tuple[str, dt.date], EventOutcomes] = store.outcomes_for_many(keys)
    hits = [(pos, found[(c, d)]) for pos, (c, d) in enumerate(zip(ids, day_values, strict=True))
            if (c, d) in found and found[(c, d)].outcomes]
    if not hits:
        return FrameOutcomes(frame, per_row)
    out = frame.copy()
    for pos, outcomes in hits:
        per_row[pos] = outcomes.outcomes
    for name in {k for _, o in hits for k in o.history()}:
        column = (out[name].astype(object).to_numpy(copy=True) if name in out.columns
                  else np.full(n, None, dtype=object))
        for pos, outcomes in hits:
            value = outcomes.history().get(name)
            if value is None:
                continue
            if name in HISTORY_DATES:
                current = _date(column[pos])
                column[pos] = (value if current is None or value > current else current
                               ).isoformat()
            else:
                column[pos] = value
        out[name] = pd.Series(column, index=out.index, dtype=object)
    return FrameOutcomes(out, per_row)
