"""Replaying an event file (CSV or Parquet) through the processor in event-time order.

The file is one event per row with the event fields as columns (``type``,
``event_id``, ``customer_id``, ``time`` and the fields of each type; a column
a type does not use stays empty). Rows are sorted by event time, stably, so
a file written in arrival order is replayed as the events happened; a row
whose time cannot be read keeps its place at the end and is refused with a
reason like any other bad row. Refused rows never stop the replay.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from engine.events.processor import EventProcessor, Rejected
from engine.frames import read_frame

__all__ = ["ReplaySummary", "latest_time", "read_events", "replay", "rows_of"]

_BOOLS = {"true": True, "false": False, "1": True, "0": False, "yes": True, "no": False}
_NUMBERS = ("amount", "penalty", "duration_minutes")
_TEXT = ("event_id", "customer_id", "type", "bill_id", "agreement_id", "reference", "time", "due")


@dataclass
class ReplaySummary:
    """What a replay did: counts, outcomes raised by kind, refused rows and the speed."""

    events: int = 0
    accepted: int = 0
    rejected: int = 0
    outcomes: Counter = field(default_factory=Counter)
    rejects: list[dict[str, Any]] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def per_second(self) -> float:
        return self.events / self.seconds if self.seconds > 0 else 0.0

    def lines(self) -> list[str]:
        """The summary as the CLI prints it."""
        out = [f"replayed {self.events:,} events in {self.seconds:.1f} s "
               f"({self.per_second:,.0f} events/s): {self.accepted:,} accepted, "
               f"{self.rejected:,} rejected"]
        for kind, n in sorted(self.outcomes.items()):
            out.append(f"  outcome {kind}: {n:,}")
        return out


def read_events(path: str | Path) -> pd.DataFrame:
    """The event file as a frame sorted by event time (stable; unreadable times last).

    CSV cells are read as text and each is converted on its own (``rows_of``),
    so a malformed cell refuses its row only.
    """
    frame = read_frame(path, text=True)
    if "time" not in frame.columns or frame.empty:
        return frame
    key = _time_keys(frame)
    key = np.where(np.isnat(key), np.datetime64("9999-12-31"), key)
    order = np.argsort(key, kind="stable")
    return frame.iloc[order]


def _time_keys(frame: pd.DataFrame) -> np.ndarray:
    times = pd.to_datetime(frame["time"].astype("string"), utc=True, errors="coerce",
                           format="ISO8601")
    return times.to_numpy(dtype="datetime64[us]", na_value=np.datetime64("NaT"))


def latest_time(frame: pd.DataFrame) -> int | None:
    """The latest readable event time of a file (microseconds since the epoch), or None.

    A replay judges "far in the future" against it: a history file's own
    latest event is the present of that history, whatever the store has seen.
    """
    if "time" not in frame.columns or frame.empty:
        return None
    key = _time_keys(frame)
    key = key[~np.isnat(key)]
    return int(key.max().astype(np.int64)) if len(key) else None


def rows_of(frame: pd.DataFrame) -> Iterator[tuple[int, dict[str, Any]]]:
    """(file row, event dict) per row: empty cells dropped, values as plain Python."""
    columns = list(frame.columns)
    index = frame.index.to_numpy()
    for pos, values in enumerate(frame.itertuples(index=False, name=None)):
        event: dict[str, Any] = {}
        for name, value in zip(columns, values, strict=True):
            plain = _plain(name, value)
            if plain is not None:
                event[name] = plain
        yield int(index[pos]), event


def _plain(name: str, value: Any) -> Any:
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, float) and value != value:
        return None
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, pd.Timestamp):
        return value.isoformat()
    if name in _TEXT:
        return str(value) if not isinstance(value, str) else value
    if name == "planned" and isinstance(value, str):
        return _BOOLS.get(value.strip().lower(), value)
    if name in _NUMBERS and isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return value  # refused with its row, naming the field
    if name in ("amount", "penalty", "duration_minutes") and isinstance(value, int) \
            and not isinstance(value, bool):
        return float(value)
    return value


def replay(path: str | Path, processor: EventProcessor, *, now_us: int | None = None,
           batch: int = 500, progress: Callable[[int], None] | None = None,
           keep_rejects: int = 10_000) -> ReplaySummary:
    """Replay a file in event-time order; ``progress`` is called with events done per batch.

    Without ``now_us`` the clock for the far-in-the-future check is the file's
    own latest event time (``latest_time``), so a history file replays whole.
    """
    frame = read_events(path)
    if now_us is None:
        now_us = latest_time(frame)
    summary = ReplaySummary()
    started = time.perf_counter()
    rows = list(rows_of(frame))
    for start in range(0, len(rows), batch):
        chunk = rows[start:start + batch]
        results = processor.process_many([event for _, event in chunk], now_us=now_us)
        for (row, _), result in zip(chunk, results, strict=True):
            summary.events += 1
            if isinstance(result, Rejected):
                summary.rejected += 1
                if len(summary.rejects) < keep_rejects:
                    summary.rejects.append({"row": row, "event_id": result.event_id,
                                            "customer_id": result.customer_id,
                                            "field": result.field,
                                            "reason_code": result.reason_code,
                                            "reason": result.reason})
            else:
                summary.accepted += 1
                summary.outcomes.update(o.kind for o in result.outcomes)
        if progress:
            progress(len(chunk))
    summary.seconds = time.perf_counter() - started
    return summary
