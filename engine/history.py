"""A record's history fields filled from the payment-event outcomes in force.

Every path that decides merges the same way: a history flag the record
already sets stays set, and of two end dates (the record's and the
outcome's) the later one counts. ``engine.events.outcomes`` applies the same
rule to whole frames.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

import pandas as pd
from pydantic import BaseModel

__all__ = ["HISTORY_DATES", "history_date", "merge_history"]

#: History fields holding an end date: the later of the record's and the outcome's counts.
HISTORY_DATES = ("theft_override_until", "regrade_until")


def merge_history(record: Mapping[str, Any] | BaseModel,
                  history: Mapping[str, Any]) -> dict[str, Any]:
    """The record with event-outcome flags merged into its history fields."""
    data = record.model_dump() if isinstance(record, BaseModel) else dict(record)
    for name, value in history.items():
        if name in HISTORY_DATES:
            current = history_date(data.get(name))
            data[name] = value if current is None or value > current else current
        elif value:
            data[name] = value
    return data


def history_date(value: Any) -> dt.date | None:
    """A history date as stored or sent (date, datetime, ISO text), else None."""
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
