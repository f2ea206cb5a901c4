"""Step decisions: each collection step that falls due, as a logged and replayable decision.

A row of the day's work list (``engine.collections.worklist``) is a decision
the utility takes about a customer: send the reminder, make the call, hold the
cut because a protection holds. ``step_decisions`` turns the steps due (or
blocked) on the as-of date into payloads of kind ``collection_step``::

    step_id      "cs-" + sha256(customer, bill, step index, action, as-of)[:32]
    facts        customer, as-of, bill, step (action, channel, date, status, reason,
                 protection), the case on that day (amounts, penalty), the strategy
                 and the decision it came from (profile), the ids of the events read
    explanation  why, in every language of the project
    document     the letter of a step that has one (reminder, default liability
                 notice, cut warning), in every language, when it is due
    tables       the content hash of the table set that computed it (and the currency
                 its amounts are written in)
    digest       sha256 of the canonical JSON of the rest

The recorder appends them to the decision chain (``Recorder.steps``); the id
is fixed by what the step is, so recording the same day twice logs nothing new.
``replay_step`` recomputes a logged step from the events it names (read back
from the chained event store), the archived table set and the logged decision
its strategy came from, and compares digests.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from engine.audit.archive import Archive
from engine.audit.decisionrows import STEP_KIND, payload_digest
from engine.audit.log import DecisionLog
from engine.collections.cases import Case, CollectionTables, CustomerCollections, collections_of
from engine.collections.documents import Documents
from engine.collections.profiles import profile_of
from engine.collections.schedule import ScheduledStep
from engine.collections.tables import load_collection_tables
from engine.collections.text import step_explanation
from engine.events.store import EventStore
from engine.language import load_languages
from engine.policies import load_catalogue

__all__ = ["DEPOSIT_STEP", "REVIEW_STEP", "StepCollector", "StepReplay", "listed", "replay_step",
           "step_decisions", "step_id"]

DEPOSIT_STEP = "deposit"
REVIEW_STEP = "deposit-review"
_LISTED = ("due", "blocked")
_ALL_EVENTS = 1_000_000


def step_id(customer_id: str, bill_id: str | None, index: int | str, action: str,
            as_of: dt.date) -> str:
    """The id of a step decision: the same step on the same day always has the same id."""
    key = "\x1f".join((customer_id, bill_id or "", str(index), action, as_of.isoformat()))
    return "cs-" + hashlib.sha256(key.encode()).hexdigest()[:32]


def listed(found: CustomerCollections) -> list[tuple[Case | None, int | str, ScheduledStep]]:
    """The steps of the work list on the as-of date: due, or blocked on their planned day
    or on the day they would be allowed; and a deposit refund or review due."""
    as_of = found.as_of
    out: list[tuple[Case | None, int | str, ScheduledStep]] = []
    for case in found.cases:
        for i, s in enumerate(case.steps):
            if s.date == as_of and s.status in _LISTED or (
                    s.status == "blocked" and s.planned == as_of):
                out.append((case, i, s))
    refund = found.deposit.refund
    if refund is not None and refund.date == as_of and refund.status == "due":
        out.append((None, DEPOSIT_STEP, refund))
    review = found.deposit.review
    if review is not None and review.date == as_of and review.status == "due":
        out.append((None, REVIEW_STEP, review))
    return out


def step_decisions(found: CustomerCollections, events: Sequence[Mapping[str, Any]],
                   tables: CollectionTables, documents: Documents, table_hash: str
                   ) -> list[dict[str, Any]]:
    """The sealed payload of every step of ``found`` on the work list of its as-of date."""
    ids = sorted({str(e["event_id"]) for e in events
                  if e.get("event_id") and _day(e["time"]) <= found.as_of})
    params = tables.params(found.profile.policies)
    return [_payload(found, case, index, step, ids, params, documents, table_hash)
            for case, index, step in listed(found)]


class StepCollector:
    """The ``keep`` of ``due_list`` that gathers the payloads of the day's step decisions."""

    def __init__(self, tables: CollectionTables, documents: Documents, table_hash: str) -> None:
        self.tables = tables
        self.documents = documents
        self.table_hash = table_hash
        self.payloads: list[dict[str, Any]] = []

    def __call__(self, found: CustomerCollections, events: Sequence[Mapping[str, Any]]) -> None:
        self.payloads += step_decisions(found, events, self.tables, self.documents,
                                        self.table_hash)


def _day(t: Any) -> dt.date:
    text = t if isinstance(t, str) else t.isoformat()
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(dt.UTC).date()


def _payload(found: CustomerCollections, case: Case | None, index: int | str,
             step: ScheduledStep, event_ids: list[str], params: Mapping[str, Any],
             documents: Documents, table_hash: str) -> dict[str, Any]:
    profile = found.profile
    bill = case.bill_id if case else None
    tags = documents.languages.tags
    document = None
    if case is not None and step.status == "due":
        texts = {t: documents.render(found, case, step, params, t) for t in tags}
        document = texts if all(texts.values()) else None
    body = {
        "kind": STEP_KIND, "step_id": step_id(found.customer_id, bill, index, step.action,
                                              found.as_of),
        "customer_id": found.customer_id, "as_of": found.as_of.isoformat(),
        "bill_id": bill, "step_index": index, "step": step.to_json(),
        "case": case.to_json() if case else None,
        "deposit": found.deposit.to_json() if case is None else None,
        "strategy": found.strategy,
        "profile": {"decision_id": profile.decision_id, "customer_class": profile.customer_class,
                    "grade": profile.grade},
        "events": event_ids,
        "explanation": {t: step_explanation(found, case, step, documents.languages.get(t))
                        for t in tags},
        "document": document,
        "tables": {"content_hash": table_hash},
        "currency": documents.languages.get().currency,
    }
    body["digest"] = payload_digest(body)
    return body


@dataclass(frozen=True)
class StepReplay:
    """A logged step decision and the same step computed again from its inputs."""

    logged: Mapping[str, Any]
    replayed: Mapping[str, Any] | None
    differences: tuple[str, ...]
    counterfactual: str | None = None

    @property
    def reproduced(self) -> bool:
        return self.replayed is not None and self.replayed["digest"] == self.logged["digest"]

    def report(self) -> str:
        d = self.logged
        what = (f"collection step {d['step_id']} ({d['step']['action']} for customer "
                f"{d['customer_id']}, bill {d['bill_id'] or '-'}, as of {d['as_of']})")
        if self.reproduced:
            return (f"reproduced: {what} digest {d['digest']} "
                    f"(tables {d['tables']['content_hash'][:16]}...)\n")
        digest = self.replayed["digest"] if self.replayed else "(no such step)"
        lines = "".join(f"  {line}\n" for line in self.differences)
        return f"DIFFERS: {what} logged digest {d['digest']}, replayed {digest}\n{lines}"


def replay_step(log: DecisionLog, sid: str,
                differences: Callable[[Any, Any], list[str]]) -> StepReplay:
    """Compute the logged step ``sid`` again and compare (``differences`` lists each change)."""
    logged = log.step(sid)
    as_of = dt.date.fromisoformat(logged["as_of"])
    profile = profile_of(log.get(logged["profile"]["decision_id"]))
    wanted = set(logged["events"])
    events = [e for e in EventStore(log.engine).events_for(logged["customer_id"],
                                                           limit=_ALL_EVENTS)
              if e.get("event_id") in wanted]
    missing = sorted(wanted - {e["event_id"] for e in events})
    if missing:
        return StepReplay(logged, None, tuple(f"events: {m} is no longer in the event store"
                                              for m in missing))
    key = logged["tables"]["content_hash"]
    with tempfile.TemporaryDirectory(prefix="gridcredit-replay-") as tmp:
        Archive(log.engine).snapshot(key, needed_for=f"that step {sid} was computed with ") \
            .write(Path(tmp))
        tables = load_collection_tables(Path(tmp) / "rules",
                                        load_catalogue(Path(tmp) / "policies" / "catalogue.yaml"))
        documents = Documents(load_languages(Path(tmp) / "policies" / "locale",
                                             currency=logged["currency"]))
    found = collections_of(profile, events, as_of, tables)
    again = [p for p in step_decisions(found, events, tables, documents, key)
             if p["step_id"] == sid]
    if not again:
        return StepReplay(logged, None, (f"step: {logged['step']['action']} of bill "
                                         f"{logged['bill_id']} is not on the work list of "
                                         f"{logged['as_of']} when computed again",))
    return StepReplay(logged, again[0], tuple(differences(_comparable(logged),
                                                           _comparable(again[0]))))


def _comparable(payload: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in payload.items() if k != "digest"}
