"""The day's work list: every collection step falling due on a date, for all customers.

A population holds millions of bills, nearly all paid on time, so the work
is split in two. Whole-frame steps (numpy and pandas, no Python loop per
event) find the bills still open on the date (due before it, not repaid in
full by it) and the customers whose protections, agreements or deposits can
move a date; only those customers' events go through ``collections_of``,
the same code ``collections show`` runs, so the list and the customer view
never disagree. A bill repaid in full has no step left to fall due: from the
day it is paid every step is cancelled.

The list has one row per step due (or blocked) on the date: the id of its
logged decision (``engine.collections.steps``), customer, bill,
action, channel, date, amount outstanding, penalty, status, the protection
that blocks it, the strategy, the reason and who is copied. Customers with
open bills but no decision are listed apart (``undecided``): nothing is
dropped without a word.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import select

from engine.collections.cases import (
    CollectionTables,
    CustomerCollections,
    Profile,
    collections_of,
)
from engine.collections.schedule import ScheduledStep
from engine.collections.steps import listed, step_id
from engine.errors import InputError
from engine.events.store import EventStore, payment_events

__all__ = ["COLUMNS", "Keep", "WorkList", "due_list", "events_frame"]

COLUMNS = ["step_id", "customer_id", "bill_id", "action", "channel", "date", "amount",
           "penalty", "status", "protection", "strategy", "reason", "copy_to"]
_MOVERS = ("protection_granted", "protection_ended", "agreement_made", "agreement_broken",
           "deposit_paid")
#: What ``due_list`` hands each customer with a step listed: its collections and events.
Keep = Callable[[CustomerCollections, list[dict[str, Any]]], None]


@dataclass(frozen=True)
class WorkList:
    """The rows due on ``as_of``, the customers looked at, and those with no decision."""

    as_of: dt.date
    rows: pd.DataFrame
    customers: int
    examined: int
    undecided: tuple[str, ...]


def events_frame(store: EventStore) -> pd.DataFrame:
    """Every stored event as one row of its validated fields, in time order."""
    c = payment_events.c
    with store.engine.connect() as conn:
        texts = conn.scalars(select(c.payload).order_by(c.ts, c.seq)).all()
    return pd.DataFrame([json.loads(t) for t in texts])


def _days(values: pd.Series) -> np.ndarray:
    return pd.to_datetime(values, utc=True, errors="coerce").dt.tz_localize(None) \
        .to_numpy(dtype="datetime64[D]")


def _open_bills(frame: pd.DataFrame, day: np.ndarray, as_of: np.datetime64,
                who: np.ndarray) -> np.ndarray:
    """Per event: whether it belongs to a bill due before ``as_of`` not repaid in full."""
    kind = frame["type"].to_numpy()
    bills = kind == "bill_issued"
    if not bills.any():
        return np.zeros(len(frame), dtype=bool)
    bill_codes, _ = pd.factorize(frame["bill_id"])
    key = who.astype(np.int64) * (int(bill_codes.max()) + 2) + bill_codes + 1
    due = (_days(frame.loc[bills, "due"]) if "due" in frame
           else np.full(int(bills.sum()), "NaT", dtype="datetime64[D]"))
    overdue = kind == "bill_overdue"
    first_late = pd.Series(day[overdue], index=key[overdue]).groupby(level=0).min()
    bill_keys = key[bills]
    fallback = first_late.reindex(bill_keys).to_numpy(dtype="datetime64[D]") - np.timedelta64(1)
    due = np.where(np.isnat(due), fallback, due)
    paid = kind == "repayment"
    repaid = pd.Series(frame["amount"].to_numpy(dtype=float)[paid], index=key[paid]) \
        .groupby(level=0).sum().reindex(bill_keys).fillna(0.0).to_numpy()
    amount = frame["amount"].to_numpy(dtype=float)[bills]
    is_open = (~np.isnat(due)) & (due < as_of) & (amount - repaid > 0.005)
    return np.isin(key, bill_keys[is_open])


def due_list(events: pd.DataFrame, profile_of: Callable[[str], Profile | None], as_of: dt.date,
             tables: CollectionTables, *, progress: Callable[[int], Any] | None = None,
             keep: Keep | None = None) -> WorkList:
    """The steps of every customer falling due (or blocked) on ``as_of``; ``keep`` is given
    each customer's collections with a step listed, and the events they were computed from
    (``engine.collections.steps`` makes them logged decisions)."""
    missing = [c for c in ("customer_id", "type", "time") if c not in events.columns]
    if missing:
        raise InputError("the events lack column(s) " + ", ".join(missing)
                         + ": give events as gridcredit events replay reads them")
    day = _days(events["time"])
    end = np.datetime64(as_of, "D")
    kept = day <= end
    seen = events[kept]
    if not len(seen):
        return WorkList(as_of, pd.DataFrame(columns=COLUMNS), 0, 0, ())
    who, names = pd.factorize(seen["customer_id"])
    names = np.asarray(names.astype(str))
    of_open = _open_bills(seen, day[kept], end, who)
    movers = np.zeros(len(names), dtype=bool)
    movers[who[seen["type"].isin(_MOVERS).to_numpy()]] = True
    wanted = movers.copy()
    wanted[who[of_open]] = True
    # A customer with no protection, agreement or deposit needs only its open bills' events
    chosen = movers[who] | of_open
    subset = seen[chosen].astype(object)
    subset = subset.where(subset.notna(), None)
    order = np.argsort(who[chosen], kind="stable")
    records = subset.to_dict("records")
    chosen_who = who[chosen]
    codes = chosen_who[order]
    bounds = np.flatnonzero(np.diff(codes)) + 1
    rows: list[dict[str, Any]] = []
    undecided: list[str] = []
    for group in np.split(order, bounds) if len(order) else []:
        cid = str(names[chosen_who[group[0]]])
        profile = profile_of(cid)
        if profile is None:
            undecided.append(cid)
        else:
            mine = [records[i] for i in group]
            found = collections_of(profile, mine, as_of, tables)
            listed_now = listed(found)
            rows += _rows(found, listed_now)
            if keep is not None and listed_now:
                keep(found, mine)
        if progress is not None:
            progress(1)
    frame = pd.DataFrame(rows, columns=COLUMNS)
    return WorkList(as_of, frame, len(names), int(wanted.sum()), tuple(sorted(undecided)))


def _rows(found: CustomerCollections, steps: list[tuple[Any, Any, ScheduledStep]]
          ) -> list[dict[str, Any]]:
    out = []
    for case, index, s in steps:
        bill = case.bill_id if case else None
        out.append({"step_id": step_id(found.customer_id, bill, index, s.action, found.as_of),
                    "customer_id": found.customer_id, "bill_id": bill,
                    "action": s.action, "channel": s.channel, "date": s.date.isoformat(),
                    "amount": case.outstanding if case else found.deposit.paid,
                    "penalty": case.penalty.amount if case else 0.0, "status": s.status,
                    "protection": s.protection, "strategy": found.strategy,
                    "reason": s.reason, "copy_to": (s.extra or {}).get("copy_to")})
    return out
