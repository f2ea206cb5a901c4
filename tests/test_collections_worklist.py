"""The work list takes only the customers who can have a step on the day, and reads those
whose dates nothing moves from their open bills alone: the same rows, field by field, as
reading every customer's collections in full, on synthetic bills and payments."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd

from engine import synth
from engine.collections.cases import collections_of
from engine.collections.profiles import profiles_from_frame
from engine.collections.steps import listed, step_id
from engine.collections.synthetic import generate_events
from engine.collections.worklist import due_list
from tests.collections_world import TABLES

CUSTOMERS = synth.generate(150, seed=11)
EVENTS = generate_events(CUSTOMERS, seed=4, end=dt.date(2026, 10, 31))


def _decisions(seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    n = len(CUSTOMERS)
    deposit = rng.random(n) < 0.2
    return pd.DataFrame({
        "customer_id": CUSTOMERS["customer_id"], "customer_class": CUSTOMERS["customer_class"],
        "grade": rng.choice(["AAA", "AA", "A", "B", "C"], n),
        "value_tier": rng.choice(["high", "standard", "standard"], n),
        "critical_load": rng.random(n) < 0.1, "habitual_defaulter": rng.random(n) < 0.1,
        "policies": np.where(deposit, "late_payment_penalty;security_deposit",
                             "late_payment_penalty")})


def _with_deposits(every: int) -> pd.DataFrame:
    paid = CUSTOMERS["customer_id"].iloc[::every]
    rows = pd.DataFrame({"type": "deposit_paid", "customer_id": paid.to_numpy(),
                         "time": "2025-10-20T09:00:00Z", "deposit_id": "D1", "amount": 100.0,
                         "event_id": [f"D-{c}" for c in paid]})
    return pd.concat([EVENTS, rows], ignore_index=True).sort_values("time", kind="stable")


def _full(events: pd.DataFrame, profiles, as_of: dt.date) -> set[tuple]:
    out = set()
    records = events.astype(object).where(events.notna(), None)
    for cid, group in records.groupby("customer_id"):
        found = collections_of(profiles.get(cid), group.to_dict("records"), as_of, TABLES)
        out |= {(step_id(cid, c.bill_id if c else None, i, s.action, as_of),
                 c.bill_id if c else None, s.action, s.date.isoformat(), s.status, s.channel,
                 s.reason, s.protection, (s.extra or {}).get("copy_to"),
                 c.outstanding if c else s.extra["amount"], c.penalty.amount if c else 0.0)
                for c, i, s in listed(found)}
    return out


DAYS = [dt.date(2026, 9, 1) + dt.timedelta(days=k) for k in range(0, 80, 3)]


def test_the_work_list_has_the_rows_of_every_customer_read_in_full():
    every = 9
    events = _with_deposits(every)
    seen: dict[str, int] = {}
    for day in DAYS:
        profiles = profiles_from_frame(_decisions(int(day.strftime("%j")) + every))
        work = due_list(events, profiles, day, TABLES)
        got = {(r.step_id, r.bill_id, r.action, r.date, r.status, r.channel, r.reason,
                r.protection, r.copy_to, r.amount, r.penalty)
               for r in work.rows.astype(object).where(work.rows.notna(), None).itertuples()}
        assert got == _full(events, profiles, day), day
        assert len(got) == len(work.rows)
        for status in work.rows["status"]:
            seen[status] = seen.get(status, 0) + 1
    assert seen.get("due", 0) > 20 and seen.get("blocked", 0) > 0
