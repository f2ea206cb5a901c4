"""A customer's statement of account and its collections on a date, read from the database.

``statement_of`` is what ``collections show`` and ``GET /v1/customers/{id}/collections``
answer: the customer's latest logged decision on the date (``profiles``), its
stored events (``engine.events.store``), and from them the cases, protections
and deposit (``cases``), the documents of the steps due that day
(``documents``), and the statement: every bill, penalty, repayment and rebate
in date order with the running balance.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from engine.audit.log import DecisionLog, open_log
from engine.collections.cases import CollectionTables, CustomerCollections, collections_of
from engine.collections.documents import Documents
from engine.collections.profiles import profile_from_log
from engine.collections.tables import load_collection_tables
from engine.config import EngineConfig, default_database
from engine.errors import InputError
from engine.events.store import EventStore, open_store
from engine.language import Languages, load_languages
from engine.policies import load_catalogue

__all__ = ["Statement", "account_lines", "read_statement", "show", "statement_of"]

_ALL_EVENTS = 1_000_000
EARLIEST, LATEST = dt.date(1970, 1, 1), dt.date(2999, 12, 31)


@dataclass(frozen=True)
class Statement:
    """Collections on a date, the statement of account and the documents due that day."""

    collections: CustomerCollections
    lines: tuple[Mapping[str, Any], ...]
    documents: Mapping[str, Mapping[str, str]]

    def to_json(self) -> dict[str, Any]:
        body = self.collections.to_json()
        body["statement"] = [dict(line) for line in self.lines]
        body["documents"] = {k: dict(v) for k, v in self.documents.items()}
        return body


def account_lines(found: CustomerCollections) -> list[dict[str, Any]]:
    """Bills (+), penalties (+), repayments (-) and rebates (-) in date order, with the
    running balance; a penalty is dated on the last day it accrued."""
    lines: list[dict[str, Any]] = []
    for b in found.bills:
        lines.append({"date": b["day"], "kind": "bill", "bill_id": b["bill_id"],
                      "amount": float(b["amount"])})
    for r in found.repayments:
        lines.append({"date": r["day"], "kind": "repayment", "bill_id": r["bill_id"],
                      "amount": -float(r["amount"])})
    for c in found.cases:
        if c.penalty.amount and c.penalty.through:
            lines.append({"date": c.penalty.through, "kind": "penalty", "bill_id": c.bill_id,
                          "amount": c.penalty.amount, "days": c.penalty.days})
        if c.rebate and c.paid_on:
            lines.append({"date": c.paid_on, "kind": "rebate", "bill_id": c.bill_id,
                          "amount": -c.rebate})
    order = {"bill": 0, "penalty": 1, "repayment": 2, "rebate": 3}
    lines.sort(key=lambda x: (x["date"], order[x["kind"]], x["bill_id"]))
    balance = 0.0
    for line in lines:
        balance = round(balance + line["amount"], 2)
        line["balance"] = balance
        line["date"] = line["date"].isoformat()
    return lines


def statement_of(customer_id: str, as_of: dt.date, store: EventStore, log: DecisionLog,
                 tables: CollectionTables, documents: Documents,
                 languages: Sequence[str] = ("zh-CN", "en")) -> Statement:
    """The customer's collections and statement on ``as_of`` (``NotDecided`` if no decision)."""
    if not EARLIEST <= as_of <= LATEST:
        raise InputError(f"as_of {as_of.isoformat()} is outside the dates collections "
                         f"read ({EARLIEST.isoformat()} to {LATEST.isoformat()}): give a "
                         "date within them")
    profile = profile_from_log(log, customer_id, as_of)
    events = store.events_for(customer_id, limit=_ALL_EVENTS)
    found = collections_of(profile, events, as_of, tables)
    params = tables.params(profile.policies)
    docs: dict[str, dict[str, str]] = {}
    for case in found.cases:
        for i, step in enumerate(case.steps):
            if step.status != "due":
                continue
            texts = {lang: documents.render(found, case, step, params, lang)
                     for lang in languages}
            if all(texts.values()):
                docs[f"{case.bill_id}/{i}/{step.action}"] = texts  # type: ignore[assignment]
    return Statement(found, tuple(account_lines(found)), docs)


def show(customer_id: str, as_of: dt.date | str, *, db: str | None = None,
         home: str | Path | None = None) -> dict[str, Any]:
    """The stable JSON of ``gridcredit collections show --json`` (docs/collections.md) for a
    customer on a date, read from the project's database (``db``: its URL or path; default
    the project's)."""
    return read_statement(customer_id, as_of, db=db, home=home)[0].to_json()


def read_statement(customer_id: str, as_of: dt.date | str, *, db: str | None = None,
                   home: str | Path | None = None) -> tuple[Statement, Languages]:
    """A customer's statement on a date, read from the project's database, and the
    project's languages to word it in (``engine.collections.text.statement_text``): what a
    page showing a customer's collections timeline calls."""
    day = as_of if isinstance(as_of, dt.date) else dt.date.fromisoformat(str(as_of))
    project = EngineConfig.at(home)
    url = db or default_database(home)
    languages = load_languages(project.locale_dir, default=project.language,
                               currency=project.currency)
    tables = load_collection_tables(project.rules_dir, load_catalogue(project.catalogue))
    store, log = open_store(url, create=False), open_log(url, create=False)
    try:
        return statement_of(customer_id, day, store, log, tables, Documents(languages)), \
            languages
    finally:
        store.close()
        log.close()
