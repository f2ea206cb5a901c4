"""A scenario's world for collections: one SQLite database holding the decision log and
the event store, the shipped tables, and customers decided by the real engine."""

from __future__ import annotations

import datetime as dt
import itertools
from pathlib import Path
from typing import Any

from engine.audit.log import open_log
from engine.collections.documents import Documents
from engine.collections.profiles import LoggedProfiles
from engine.collections.protections import protection_kinds
from engine.collections.statement import Statement, statement_of
from engine.collections.tables import load_collection_tables
from engine.collections.worklist import WorkList, due_list, events_frame
from engine.events.model import to_micros
from engine.events.processor import EventProcessor
from engine.language import load_languages
from engine.policies import load_catalogue
from engine.records import SAMPLE_RECORD

ROOT = Path(__file__).resolve().parent.parent
TABLES = load_collection_tables(ROOT / "rules", load_catalogue(ROOT / "policies" /
                                                                 "catalogue.yaml"))
LANGUAGES = load_languages(ROOT / "policies" / "locale")
DOCUMENTS = Documents(LANGUAGES)
_FINANCES = ("asset_liability_ratio", "current_ratio", "return_on_net_assets",
             "loan_repayment_on_schedule_rate")
# Record shapes that the shipped model grades A (household, shop, hospital) and C (household).
PROFILES: dict[str, dict[str, Any]] = {
    "household": {"customer_class": "residential", "monthly_kwh": 300.0,
                  "contracted_capacity_kva": 8.0},
    "shop": {"customer_class": "commercial"},
    "hospital": {"customer_class": "public", "monthly_kwh": 30000.0, "overdue_bills_12m": 1,
                 "max_days_overdue_12m": 10, "critical_load": True},
    "C-grade household": {"customer_class": "residential", "monthly_kwh": 300.0,
                          "contracted_capacity_kva": 8.0, "overdue_bills_12m": 4,
                          "max_days_overdue_12m": 60},
}


def day(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text).replace(tzinfo=dt.UTC)


class World:
    """The database, the processor and what the scenario read."""

    def __init__(self, path: Path) -> None:
        self.url = str(path)
        kinds = protection_kinds(ROOT / "rules" / "protections.yaml")
        self.processor = EventProcessor.open(self.url, ROOT / "rules" / "events.yaml",
                                             synchronous="NORMAL", protection_kinds=kinds)
        self.log = open_log(self.url)
        self.ids = itertools.count(1)
        self.customer = ""
        self.read: Statement | None = None

    def decide(self, engine: Any, customer: str, shape: str, on: str) -> Any:
        record = {k: v for k, v in SAMPLE_RECORD.items()
                  if PROFILES[shape]["customer_class"] != "residential" or k not in _FINANCES}
        record.update(PROFILES[shape], customer_id=customer, as_of=on)
        decision = engine.decide(record)
        self.log.append(decision)
        self.customer = customer
        return decision

    def send(self, type_: str, when: str, **fields: Any) -> Any:
        event = {"type": type_, "event_id": f"{type_}-{next(self.ids)}",
                 "customer_id": self.customer, "time": day(when).isoformat(), **fields}
        result = self.processor.process(event, now_us=to_micros(day(when)) + 3_600_000_000)
        assert result.ok, result
        return result

    def show(self, on: str) -> Statement:
        self.read = statement_of(self.customer, dt.date.fromisoformat(on),
                                 self.processor.store, self.log, TABLES, DOCUMENTS)
        return self.read

    def due(self, on: str) -> WorkList:
        when = dt.date.fromisoformat(on)
        return due_list(events_frame(self.processor.store), LoggedProfiles(self.log, when),
                        when, TABLES)

    def close(self) -> None:
        self.processor.store.close()
        self.log.close()
