"""Payment events: validated, stored in the decision log's database, judged by event rules.

``EventProcessor`` takes events one at a time (or as a stream), ``EventStore``
keeps them and the outcomes the rules raise, and ``EventStore.outcomes_for``
gives the outcomes in force on a date, which ``Engine.decide(record,
outcomes=...)`` turns into the record's history fields.
"""

from engine.events.model import (
    EVENT_TYPES,
    REFUSALS,
    DuplicateEvent,
    Event,
    EventRejected,
    parse_event,
)
from engine.events.processor import Accepted, EventProcessor, Rejected, Result
from engine.events.rules import EventRules, load_event_rules
from engine.events.store import CustomerEvents, EventOutcomes, EventStore, open_store

__all__ = [
    "EVENT_TYPES",
    "REFUSALS",
    "Accepted",
    "CustomerEvents",
    "DuplicateEvent",
    "Event",
    "EventOutcomes",
    "EventProcessor",
    "EventRejected",
    "EventRules",
    "EventStore",
    "Rejected",
    "Result",
    "load_event_rules",
    "open_store",
    "parse_event",
]
