"""The facts that choose a customer's strategy: its latest logged decision on a date.

``profile_from_log`` reads the customer's decisions in the decision log and
takes the latest one decided for an as-of date on or before the given date
(the later-logged of two for the same date; the log's collection steps are
not decisions and are passed over). A customer with none is
``NotDecided``: decide it first. ``profile_of`` turns a decision into the
``Profile`` the strategies read; ``profiles_from_frame`` does the same for the
rows of a batch output (``decide --input``), whose policy params are the
catalogue's defaults because a batch row lists policy ids only. A batch row
carries no record flags: ``habitual_defaulter`` and ``critical_load`` are read
from columns of those names when the file has them, and a customer granted
``protected_supply`` counts as a critical load.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
from sqlalchemy import select

from engine.audit.decisionrows import RUN_CUSTOMER, STEP_MODEL
from engine.audit.log import DecisionLog
from engine.audit.store import decision_log
from engine.collections.cases import Profile
from engine.decision import Decision
from engine.errors import InputError

__all__ = ["FrameProfiles", "LoggedProfiles", "NotDecided", "SEGMENTS", "profile_from_log",
           "profile_of", "profiles_from_frame"]

SEGMENTS = ("consumption_class", "outage_sensitivity", "service_sensitivity", "value_tier")


class NotDecided(InputError):
    """No decision is logged for the customer on or before the date."""

    http_status = 404
    code = "customer_not_decided"


def profile_of(decision: Decision) -> Profile:
    """The strategy facts of one decision, with the params of every policy it granted."""
    inputs = decision.inputs
    habitual = bool(inputs.get("habitual_defaulter")) or any(
        e.kind == "habitual_defaulter" for e in decision.events)
    return Profile(decision.customer_id, decision.customer_class, decision.grade.grade,
                   {k: decision.segments.get(k) for k in SEGMENTS}, habitual,
                   bool(inputs.get("critical_load")),
                   {p.policy_id: dict(p.params) for p in decision.policies},
                   decision.decision_id, decision.as_of)


def profile_from_log(log: DecisionLog, customer_id: str, as_of: dt.date) -> Profile:
    """The profile of the customer's latest decision for a date on or before ``as_of``."""
    entries = [e for e in log.entries(customer_id, limit=1000)
               if e.as_of[:10] <= as_of.isoformat() and e.model_id != STEP_MODEL]
    if not entries:
        raise NotDecided(f"customer {customer_id!r} has no decision logged in {log.url} for "
                         f"{as_of.isoformat()} or earlier: decide the customer first "
                         "(gridcredit decide ... --db, or POST /v1/decisions), then ask again")
    latest = max(entries, key=lambda e: (e.as_of, e.seq))
    return profile_of(log.get(latest.decision_id))


class LoggedProfiles:
    """``profile_from_log`` for many customers: the log's index read once, each decision
    read when its customer is asked for (``get``); None for a customer never decided."""

    def __init__(self, log: DecisionLog, as_of: dt.date) -> None:
        self.log = log
        self.as_of = as_of
        c = decision_log.c
        query = (select(c.customer_id, c.as_of, c.seq, c.decision_id)
                 .where(c.as_of <= as_of.isoformat() + "~", c.customer_id != RUN_CUSTOMER,
                        c.model_id != STEP_MODEL))
        latest: dict[str, tuple[str, int, str]] = {}
        with log.engine.connect() as conn:
            for cid, day, seq, did in conn.execute(query):
                if day[:10] > as_of.isoformat():
                    continue
                if cid not in latest or (day, seq) > latest[cid][:2]:
                    latest[cid] = (day, seq, did)
        self._latest = latest

    def get(self, customer_id: str) -> Profile | None:
        found = self._latest.get(customer_id)
        return profile_of(self.log.get(found[2])) if found else None

    def known(self, customer_ids: np.ndarray) -> np.ndarray:
        """Per customer id, whether it has a decision on or before the date."""
        return np.fromiter((c in self._latest for c in customer_ids.tolist()), dtype=bool,
                           count=len(customer_ids))


def profiles_from_frame(frame: pd.DataFrame) -> FrameProfiles:
    """Profiles from batch decision rows (customer_id, customer_class, grade, segments,
    policies as ``a;b`` ids, and the record's critical_load / habitual_defaulter if there)."""
    missing = [c for c in ("customer_id", "customer_class", "grade", "policies")
               if c not in frame.columns]
    if missing:
        raise InputError("the decisions file lacks column(s) " + ", ".join(missing)
                         + ": give the output of gridcredit decide --input")
    return FrameProfiles(frame)


class FrameProfiles:
    """The profile of a batch row, built when its customer is first asked for."""

    def __init__(self, frame: pd.DataFrame) -> None:
        read = ("customer_class", "grade", "policies", "habitual_defaulter", "critical_load",
                "decision_id", *SEGMENTS)
        self._columns = {c: frame[c].to_numpy() for c in read if c in frame.columns}
        ids = frame["customer_id"].astype(str).tolist()
        self._row = dict(zip(ids, range(len(ids)), strict=True))

    def known(self, customer_ids: np.ndarray) -> np.ndarray:
        """Per customer id, whether the file has its row."""
        return np.fromiter((c in self._row for c in customer_ids.tolist()), dtype=bool,
                           count=len(customer_ids))

    def get(self, customer_id: str) -> Profile | None:
        i = self._row.get(customer_id)
        if i is None:
            return None
        col = self._columns
        policies = [p for p in str(col["policies"][i] or "").split(";") if p]

        def flag(name: str) -> bool:
            return name in col and bool(col[name][i]) and col[name][i] == col[name][i]

        return Profile(customer_id, str(col["customer_class"][i]), str(col["grade"][i]),
                       {k: col[k][i] if k in col else None for k in SEGMENTS},
                       flag("habitual_defaulter"),
                       flag("critical_load") or "protected_supply" in policies,
                       {p: {} for p in policies},
                       str(col["decision_id"][i]) if "decision_id" in col else None)
