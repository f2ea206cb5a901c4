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
from typing import Any, Protocol

import numpy as np
import pandas as pd
from sqlalchemy import select

from engine.collections.cases import (
    CollectionTables,
    CustomerCollections,
    Deposit,
    Profile,
    case_of,
    collections_of,
    regulator_copied,
)
from engine.collections.schedule import ScheduledStep
from engine.collections.steps import listed, step_id
from engine.collections.strategy import (
    LEGAL_NOTICE_DAYS,
    LEGAL_OVERDUE_DAYS,
    Strategy,
    notice_days,
)
from engine.errors import InputError
from engine.events.store import EventStore, payment_events

__all__ = ["COLUMNS", "Keep", "Profiles", "WorkList", "due_list", "events_frame"]

COLUMNS = ["step_id", "customer_id", "bill_id", "action", "channel", "date", "amount",
           "penalty", "status", "protection", "strategy", "reason", "copy_to"]
_MOVERS = ("protection_granted", "protection_ended", "agreement_made", "agreement_broken",
           "deposit_paid")
#: What ``due_list`` hands each customer with a step listed: its collections and events.
Keep = Callable[[CustomerCollections, list[dict[str, Any]]], None]


class Profiles(Protocol):
    """Where ``due_list`` reads each customer's profile (``engine.collections.profiles``)."""

    def get(self, customer_id: str) -> Profile | None: ...

    def known(self, customer_ids: np.ndarray) -> np.ndarray:
        """Per customer id, whether it has a profile (a decision)."""
        ...


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


def _types(column: pd.Series) -> Callable[..., np.ndarray]:
    """``is_(*types)``: the mask of events of those types (on a categorical column, by code:
    its values are never turned into millions of Python strings)."""
    if isinstance(column.dtype, pd.CategoricalDtype):
        codes = column.cat.codes.to_numpy()
        index = {t: i for i, t in enumerate(column.cat.categories)}

        def by_code(*types: str) -> np.ndarray:
            return np.isin(codes, [index[t] for t in types if t in index])
        return by_code
    values = column.to_numpy()
    return lambda *types: np.isin(values, types)


@dataclass(frozen=True)
class _Bills:
    """The bills due before the as-of date and not repaid in full by it: per event whether
    it belongs to one (``events``); per bill its customer's code, days overdue, id, amount
    and due day; and their repayments (bill, day, amount) in bill order."""

    events: np.ndarray
    who: np.ndarray
    late: np.ndarray
    bill: np.ndarray
    amount: np.ndarray
    due: np.ndarray
    pair: np.ndarray
    paid_pair: np.ndarray
    paid_day: np.ndarray
    paid_amount: np.ndarray

    def repayments(self, i: int) -> list[tuple[dt.date, float]]:
        """The repayments of open bill ``i`` as (day, amount)."""
        a, b = np.searchsorted(self.paid_pair, self.pair[i], side="left"), \
            np.searchsorted(self.paid_pair, self.pair[i], side="right")
        return list(zip(self.paid_day[a:b].astype(object).tolist(),
                        self.paid_amount[a:b].tolist(), strict=True))


def _no_bills(n: int) -> _Bills:
    none = np.zeros(0, np.int64)
    return _Bills(np.zeros(n, dtype=bool), none, none, np.zeros(0, object), np.zeros(0),
                  np.zeros(0, "datetime64[D]"), none, none, np.zeros(0, "datetime64[D]"),
                  np.zeros(0))


def _open_bills(frame: pd.DataFrame, day: np.ndarray, as_of: np.datetime64,
                who: np.ndarray) -> _Bills:
    """The bills due before ``as_of`` not repaid in full by it (``_Bills``).

    Each (customer, bill) pair gets a dense code, so the sums and first days per bill
    are a ``bincount`` and one sort over arrays, not group-bys.
    """
    is_ = _types(frame["type"])
    bills = is_("bill_issued")
    if not bills.any():
        return _no_bills(len(frame))
    bill_codes, labels = pd.factorize(frame["bill_id"])
    pair = who.astype(np.int64) * (len(labels) + 1) + bill_codes + 1
    span = (int(who.max()) + 1) * (len(labels) + 1)
    if span <= 4 * len(frame):  # few bill ids (one per month): the pair itself is dense
        key, size = pair, span
    else:
        key, pairs = pd.factorize(pair)
        size = len(pairs)
    due = np.full(size, np.iinfo(np.int64).max, dtype=np.int64)
    if "due" in frame:
        days = _days(frame.loc[bills, "due"])
        stated = np.where(np.isnat(days), np.iinfo(np.int64).max, days.astype(np.int64))
        due[key[bills]] = stated
    overdue = is_("bill_overdue")
    first_late = np.full(size, np.iinfo(np.int64).max, dtype=np.int64)
    late_keys, late_days = key[overdue], day[overdue].astype(np.int64)
    order = np.lexsort((late_days, late_keys))
    ordered = late_keys[order]
    first = np.r_[True, ordered[1:] != ordered[:-1]] if len(order) else np.zeros(0, bool)
    first_late[ordered[first]] = late_days[order][first]
    fallback = np.where(first_late == np.iinfo(np.int64).max, first_late, first_late - 1)
    due = np.where(due == np.iinfo(np.int64).max, fallback, due)
    amount = frame["amount"].to_numpy(dtype=float)
    paid = is_("repayment")
    repaid = np.bincount(key[paid], weights=amount[paid], minlength=size)
    owed = np.zeros(size)
    owed[key[bills]] = amount[bills]
    issued = np.zeros(size, dtype=bool)
    issued[key[bills]] = True
    end = as_of.astype(np.int64)
    is_open = issued & (due < end) & (owed - repaid > 0.005)
    who_of = np.zeros(size, dtype=np.int64)
    who_of[key[bills]] = who[bills]
    bill_of = np.zeros(size, dtype=np.int64)
    bill_of[key[bills]] = bill_codes[bills]
    opened = np.flatnonzero(is_open)
    mine = paid & is_open[key]
    order = np.argsort(key[mine], kind="stable")
    return _Bills(is_open[key], who_of[opened], end - due[opened],
                  np.asarray(labels, dtype=object)[bill_of[opened]], owed[opened],
                  due[opened].astype("datetime64[D]"), opened, key[mine][order],
                  day[mine][order], amount[mine][order])


class _Offsets:
    """The days after the due date on which a customer's steps can fall, when no
    protection event, agreement or deposit moves them: each step's ``after_days``, and a
    cut order's date once the law's minimums moved it. One set per strategy and terms."""

    def __init__(self, tables: CollectionTables) -> None:
        self.tables = tables
        self._strategies: dict[tuple[Any, ...], Any] = {}
        self._found: dict[tuple[Any, ...], frozenset[int]] = {}

    def strategy(self, profile: Profile) -> Strategy:
        facts = profile.facts()
        key = tuple(facts.values())
        strategy = self._strategies.get(key)
        if strategy is None:
            strategy = self._strategies[key] = self.tables.strategies.choose(facts)
        return strategy

    def __call__(self, profile: Profile) -> frozenset[int]:
        strategy = self.strategy(profile)
        cut = tuple(sorted((p, tuple(sorted((profile.policies.get(p) or {}).items())))
                           for p in {s.policy for s in strategy.steps
                                     if s.action == "supply_cut_order"}))
        found_key = (strategy.id, profile.customer_class, cut)
        found = self._found.get(found_key)
        if found is None:
            found = self._found[found_key] = self._of(strategy, profile)
        return found

    def any_strategy(self) -> np.ndarray:
        """Every offset any strategy can give, whatever the customer's terms: the cut order
        at each notice the catalogue's bounds allow."""
        out: set[int] = set()
        catalogue = self.tables.catalogue
        for strategy in self.tables.strategies.strategies:
            warning: int | None = None
            for step in strategy.steps:
                out.add(step.after_days)
                if step.action == "supply_cut_warning" and warning is None:
                    warning = step.after_days
                if step.action == "supply_cut_order" and warning is not None:
                    spec = catalogue[step.policy].params["notice_days"]
                    low = min(LEGAL_NOTICE_DAYS.values())
                    high = max(int(spec.max or spec.default), *LEGAL_NOTICE_DAYS.values())
                    out |= {max(step.after_days, warning + n, LEGAL_OVERDUE_DAYS + 1)
                            for n in range(low, high + 1)}
        return np.array(sorted(out), dtype=np.int64)

    def _of(self, strategy: Any, profile: Profile) -> frozenset[int]:
        out: set[int] = set()
        warning: int | None = None
        for step in strategy.steps:
            out.add(step.after_days)
            if step.action == "supply_cut_warning" and warning is None:
                warning = step.after_days
            if step.action == "supply_cut_order":
                terms = {**self.tables.defaults.get(step.policy, {}),
                         **(profile.policies.get(step.policy) or {})}
                notice = notice_days(profile.customer_class, terms)
                out.add(max(step.after_days, (step.after_days if warning is None else
                                              warning + notice), LEGAL_OVERDUE_DAYS + 1))
        return frozenset(out)


def _chosen(names: np.ndarray, open_: _Bills, movers: np.ndarray,
            deposits: np.ndarray, profiles: Profiles, offsets: _Offsets,
            progress: Callable[[int], Any] | None) -> tuple[dict[int, Profile], list[str]]:
    """The customers who can have a step listed, with their profiles, and those with open
    bills but no decision. A customer whose dates nothing moves is taken only when one of
    its open bills is overdue by one of its strategy's offsets."""
    bill_who, late = open_.who, open_.late
    with_bills = np.unique(bill_who)
    known = np.zeros(len(names), dtype=bool)
    known[with_bills] = profiles.known(names[with_bills])
    undecided = [str(n) for n in names[with_bills[~known[with_bills]]]]
    # Before any profile is read: bills overdue by a day no strategy can act on are out
    maybe = np.isin(late, offsets.any_strategy())
    moved = movers | deposits
    keep = (maybe | moved[bill_who]) & known[bill_who]
    bill_who, late = bill_who[keep], late[keep]
    order = np.argsort(bill_who, kind="stable")
    codes, starts = np.unique(bill_who[order], return_index=True)
    ends = np.append(starts[1:], len(order))[:len(starts)]
    chosen: dict[int, Profile] = {}
    for code, a, b in zip(codes.tolist(), starts.tolist(), ends.tolist(), strict=True):
        profile = profiles.get(str(names[code]))
        if progress is not None:
            progress(1)
        if profile is not None and (moved[code] or not offsets(profile).isdisjoint(
                late[order[a:b]].tolist())):
            chosen[code] = profile
    for code in np.flatnonzero(deposits).tolist():
        if code not in chosen and (profile := profiles.get(str(names[code]))) is not None:
            chosen[code] = profile
    return chosen, sorted(undecided)


def due_list(events: pd.DataFrame, profiles: Profiles, as_of: dt.date,
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
    seen = events if kept.all() else events[kept]
    if not len(seen):
        return WorkList(as_of, pd.DataFrame(columns=COLUMNS), 0, 0, ())
    who, names = pd.factorize(seen["customer_id"])
    names = np.asarray(names.astype(str))
    open_ = _open_bills(seen, day[kept], end, who)
    is_ = _types(seen["type"])
    movers = np.zeros(len(names), dtype=bool)
    movers[who[is_(*_MOVERS)]] = True
    deposits = np.zeros(len(names), dtype=bool)
    deposits[who[is_("deposit_paid")]] = True
    wanted = movers.copy()
    wanted[open_.who] = True
    offsets = _Offsets(tables)
    found, undecided = _chosen(names, open_, movers, deposits, profiles, offsets, progress)
    # Read in full: customers whose dates something moves (events, or the record's
    # critical load, held from their first event on), and every one whose steps are logged
    whole = np.zeros(len(names), dtype=bool)
    for code, profile in found.items():
        whole[code] = bool(movers[code] or deposits[code] or profile.critical_load
                           or keep is not None)
    rows = _simple_rows([c for c in found if not whole[c]], found, open_, as_of, tables,
                        offsets)
    chosen = whole[who]
    records = _records(seen[chosen])
    chosen_who = who[chosen]
    order = np.argsort(chosen_who, kind="stable")
    bounds = np.flatnonzero(np.diff(chosen_who[order])) + 1
    for group in np.split(order, bounds) if len(order) else []:
        mine = [records[i] for i in group]
        code = int(chosen_who[group[0]])
        found_now = collections_of(found[code], mine, as_of, tables)
        listed_now = listed(found_now)
        rows[code] = _rows(found_now, listed_now)
        if keep is not None and listed_now:
            keep(found_now, mine)
    frame = pd.DataFrame([r for c in sorted(rows) for r in rows[c]], columns=COLUMNS)
    return WorkList(as_of, frame, len(names), int(wanted.sum()), tuple(undecided))


def _simple_rows(codes: list[int], profiles: dict[int, Profile], open_: _Bills,
                 as_of: dt.date, tables: CollectionTables, offsets: _Offsets
                 ) -> dict[int, list[dict[str, Any]]]:
    """The rows of customers whose dates nothing moves (no protection, agreement or
    deposit): only the open bills overdue by one of their strategy's offsets are made
    cases, by ``case_of`` from the bill's amount, due day and repayments, as
    ``collections_of`` makes them."""
    wanted = set(codes)
    out: dict[int, list[dict[str, Any]]] = {}
    by_who: dict[int, list[int]] = {}
    for i, code in enumerate(open_.who.tolist()):
        if code in wanted:
            by_who.setdefault(code, []).append(i)
    for code, bills in by_who.items():
        profile = profiles[code]
        hits = offsets(profile)
        bills = [i for i in bills if int(open_.late[i]) in hits]
        if not bills:
            continue
        strategy = offsets.strategy(profile)
        params = tables.params(profile.policies)
        copy = regulator_copied(profile, params)
        cases = tuple(c for i in bills if (c := case_of(
            str(open_.bill[i]), float(open_.amount[i]), open_.due[i].astype(object),
            open_.repayments(i), as_of, profile.customer_class, strategy, params,
            copy=copy)) is not None)
        found = CustomerCollections(profile.customer_id, as_of, strategy.id, profile, cases,
                                    (), Deposit(0.0, 0.0, None))
        out[code] = _rows(found, listed(found))
    return out


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """The rows of ``frame`` as dicts, a missing value as None (column by column: a
    fraction of the cost of ``to_dict``)."""
    columns = []
    for name in frame.columns:
        values = frame[name].astype(object)
        columns.append(values.where(values.notna(), None).tolist())
    names = list(frame.columns)
    return [dict(zip(names, row, strict=True)) for row in zip(*columns, strict=True)]


def _rows(found: CustomerCollections, steps: list[tuple[Any, Any, ScheduledStep]]
          ) -> list[dict[str, Any]]:
    out = []
    for case, index, s in steps:
        bill = case.bill_id if case else None
        out.append({"step_id": step_id(found.customer_id, bill, index, s.action, found.as_of),
                    "customer_id": found.customer_id, "bill_id": bill,
                    "action": s.action, "channel": s.channel, "date": s.date.isoformat(),
                    "amount": case.outstanding if case else (s.extra or {}).get("amount"),
                    "penalty": case.penalty.amount if case else 0.0, "status": s.status,
                    "protection": s.protection, "strategy": found.strategy,
                    "reason": s.reason, "copy_to": (s.extra or {}).get("copy_to")})
    return out
