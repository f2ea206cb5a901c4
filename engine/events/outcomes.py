"""Payment-event outcomes applied to what is decided: one record, or a whole frame.

Every path that decides (service, CLI, batch, impact) reads the customer's
outcomes in force on the record's ``as_of`` from the event store and hands
them to the same stages (``engine.history.merge_history`` for one record):
the outcome flags fill the record's history fields before validation, so
they decide through the same tables, and the decision names each outcome
with the events behind it.

For a frame the store is read once per chunk (``EventStore.outcomes_for_many``,
one query per 512 customers), never once per row.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from engine.decision import EventOutcome
from engine.history import HISTORY_DATES, history_date

if TYPE_CHECKING:
    from engine.events.store import EventOutcomes, EventStore

__all__ = ["FrameOutcomes", "frame_outcomes"]

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
    days = pd.to_datetime(frame["as_of"].astype("string"), errors="coerce", format="ISO8601")
    if days.isna().all() or not store.any_outcome_between(days.min().date(),
                                                          days.max().date()):
        return FrameOutcomes(frame, per_row)
    ids = frame["customer_id"].astype("string").to_numpy(dtype=object, na_value=None)
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
                current = history_date(column[pos])
                column[pos] = (value if current is None or value > current else current
                               ).isoformat()
            else:
                column[pos] = value
        out[name] = pd.Series(column, index=out.index, dtype=object)
    return FrameOutcomes(out, per_row)
