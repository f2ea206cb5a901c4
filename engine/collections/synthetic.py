"""Synthetic bills and payments for a synthetic population (``synth --events``, ``make demo``,
``bench collections``).

Each customer gets one bill a month for ``months`` months ending with the
month of ``end`` (issued on the 1st, due 20 days later), of about its monthly
kWh x a tariff (0.6 a kWh for households, 0.8 for others), with noise. A bill
falls overdue with a chance that grows with the customer's own
``overdue_bills_12m`` (at least 5 %, at most 90 %; utility practice notes:
5-15 % of bills overdue in a month). An overdue bill gets its
``bill_overdue`` event the day after its due date; 70 % are then repaid in
full a few days to weeks late, 15 % half, 15 % not at all; 1 % of overdue
bills get a repayment agreement two weeks after the due date, half of them
broken a month later; 1 % of overdue households send a medical certificate.
Bills paid on time are paid between the issue and the due date. Only events
up to the end of ``end`` are kept, in event-time order.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd

__all__ = ["EVENT_COLUMNS", "generate_events"]

EVENT_COLUMNS = ["type", "event_id", "customer_id", "time", "bill_id", "amount", "due",
                 "kind", "reference", "agreement_id"]
_TARIFF = {"residential": 0.6}
_OTHER_TARIFF = 0.8
_DUE_DAYS = 20


def _month_starts(end: dt.date, months: int) -> list[np.datetime64]:
    first = np.datetime64(end.replace(day=1), "M")
    return [np.datetime64(first - np.timedelta64(k, "M"), "D") for k in range(months - 1, -1, -1)]


def generate_events(customers: pd.DataFrame, *, months: int = 12,
                    end: dt.date = dt.date(2026, 10, 31), seed: int = 0,
                    ids: bool = True) -> pd.DataFrame:
    """The events of ``customers`` (``synth.generate`` rows) as one frame in time order.

    ``ids=False`` leaves out the event ids (a work list does not read them) and
    keeps the text columns categorical, so a million customers fit in memory.
    """
    rng = np.random.default_rng(seed)
    n = len(customers)
    cid = pd.Categorical(customers["customer_id"].astype(str))
    klass = customers["customer_class"].astype(str).to_numpy()
    tariff = np.where(klass == "residential", _TARIFF["residential"], _OTHER_TARIFF)
    base = customers["monthly_kwh"].to_numpy(dtype=float) * tariff
    late_p = np.clip(customers["overdue_bills_12m"].to_numpy(dtype=float) / 12, 0.05, 0.9)
    parts = []
    starts = _month_starts(end, months)
    for m, start in enumerate(starts):
        amount = np.round(np.maximum(base * rng.lognormal(0, 0.15, n), 1.0), 2)
        due = start + np.timedelta64(_DUE_DAYS, "D")
        late = rng.random(n) < late_p
        fate = rng.random(n)
        lag = np.ceil(rng.exponential(18, n)).astype(int) + 1
        on_time = start + rng.integers(1, _DUE_DAYS + 1, n).astype("timedelta64[D]")
        parts.append(_part("bill_issued", np.arange(n), np.full(n, start), m, amount, due))
        parts.append(_part("repayment", np.flatnonzero(~late), on_time[~late], m,
                           amount[~late]))
        idx = np.flatnonzero(late)
        parts.append(_part("bill_overdue", idx, np.full(len(idx), due + 1), m))
        full, half = fate[idx] < 0.70, (fate[idx] >= 0.70) & (fate[idx] < 0.85)
        paid_on = due + lag[idx].astype("timedelta64[D]")
        parts.append(_part("repayment", idx[full], paid_on[full], m, amount[idx][full]))
        parts.append(_part("repayment", idx[half], paid_on[half], m,
                           np.round(amount[idx][half] / 2, 2)))
        agree = idx[rng.random(len(idx)) < 0.01]
        parts.append(_part("agreement_made", agree, np.full(len(agree), due + 14), m))
        broken = agree[rng.random(len(agree)) < 0.5]
        parts.append(_part("agreement_broken", broken, np.full(len(broken), due + 44), m))
        medical = idx[(klass[idx] == "residential") & (rng.random(len(idx)) < 0.01)]
        parts.append(_part("protection_granted", medical, np.full(len(medical), due + 12), m))
    frame = pd.concat(parts, ignore_index=True)
    frame = frame[frame["time"] <= np.datetime64(end, "D")]
    frame = frame.sort_values(["time", "order"], kind="stable").reset_index(drop=True)
    labels = [str(s)[:7] for s in starts]
    month, deal = frame.pop("month").to_numpy(), frame.pop("deal").to_numpy()
    protected = frame["order"].to_numpy() == _TYPES.index("protection_granted")
    frame["type"] = pd.Categorical.from_codes(frame.pop("order").to_numpy(), _TYPES)
    frame["customer_id"] = cid[frame.pop("who").to_numpy()]
    frame["bill_id"] = pd.Categorical.from_codes(month, labels)
    frame["agreement_id"] = pd.Categorical.from_codes(deal, [f"A-{x}" for x in labels])
    frame["kind"] = pd.Categorical.from_codes(np.where(protected, 0, -1),
                                              ["medical_certificate"])
    frame["reference"] = pd.Categorical.from_codes(np.where(protected, 0, -1), ["MC-1"])
    frame["time"] = frame["time"].dt.tz_localize("UTC") + pd.Timedelta(hours=9)
    if ids:
        frame["event_id"] = "E" + frame.index.astype(str)
        for c in ("type", "customer_id", "bill_id", "kind", "reference", "agreement_id"):
            frame[c] = frame[c].astype(object)
        frame["due"] = frame["due"].dt.strftime("%Y-%m-%d")
        frame["time"] = frame["time"].dt.strftime("%Y-%m-%dT%H:%M:%SZ")
    return frame[[c for c in EVENT_COLUMNS if c in frame.columns]]


_TYPES = ("bill_issued", "bill_overdue", "protection_granted", "agreement_made", "repayment",
          "agreement_broken")
_NO_BILL = ("agreement_made", "agreement_broken", "protection_granted")


def _part(type_: str, who: np.ndarray, when: np.ndarray, month: int,
          amount: np.ndarray | None = None, due: np.datetime64 | None = None) -> pd.DataFrame:
    """One type of event for the customers ``who`` (row numbers), as coded columns."""
    k = len(who)
    return pd.DataFrame({
        "order": np.full(k, _TYPES.index(type_), dtype=np.int8), "who": who,
        "time": np.asarray(when, dtype="datetime64[D]").astype("datetime64[s]"),
        "month": np.full(k, -1 if type_ in _NO_BILL else month, dtype=np.int16),
        "deal": np.full(k, month if type_.startswith("agreement") else -1, dtype=np.int16),
        "amount": amount if amount is not None else np.full(k, np.nan),
        "due": np.full(k, due if due is not None else np.datetime64("NaT"),
                       dtype="datetime64[D]").astype("datetime64[s]")})
