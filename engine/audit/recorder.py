"""The recorder: the one object through which everything that is logged is appended.

Decisions (service, CLI, batch), batch run entries, archive entries,
releases, payment events and their outcomes all go into the log database's
hash chains (``docs/audit.md``), and every path that logs calls this object:

- ``keep(engine)`` archives the table set and models that will decide, once
  per content hash, before anything they decide is logged, so every logged
  decision can be replayed;
- ``decision``/``decisions`` keep, then append to the decision chain;
- ``batch_run`` appends a batch run's entry;
- ``release`` appends a published table set to the release chain;
- ``steps`` keeps, then appends the collection steps that fell due on a day
  (``engine.collections.steps``) to the decision chain, each id once;
- ``events``/``outcomes`` chain payment-event rows inside the event store's
  own transaction (``engine.audit.eventchain``), so an event and the
  outcomes it raised commit together or not at all.

The service's log writer appends groups of decisions through
``recorder.log`` on its own thread (``engine.service.logwriter``): the same
chain and the same append, grouped.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection
from sqlalchemy import Engine as Database

from engine.audit.archive import Archive
from engine.audit.chain import KeyedRow, append_keyed
from engine.audit.eventchain import append_events, append_outcomes
from engine.audit.log import DecisionLog, LogEntry, open_log
from engine.audit.store import releases
from engine.decision import Decision

if TYPE_CHECKING:
    from engine.decider import Engine

__all__ = ["RELEASE", "Recorder", "open_recorder"]

RELEASE = "release"


class Recorder:
    """Appends everything that is logged to one log database; a context manager."""

    def __init__(self, log: DecisionLog) -> None:
        self.log = log
        self.archive = Archive(log.engine)
        self._kept: set[tuple[str, ...]] = set()

    @classmethod
    def of(cls, database: Database) -> Recorder:
        """A recorder on a database engine its caller owns (and closes)."""
        return cls(DecisionLog(database))

    def __enter__(self) -> Recorder:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    @property
    def url(self) -> str:
        return self.log.url

    def keep(self, engine: Engine, *,
             writing: Callable[[], AbstractContextManager[Any]] = nullcontext) -> None:
        """Archive what will decide (table set and models), once per process and set; each
        archive write inside ``writing()`` (``Archive.keep``)."""
        key = (engine.tables.content_hash,
               *sorted(m.sha256 for m in [*engine.registry.models.values(),
                                          *engine.registry.challengers.values()]))
        if key not in self._kept:
            self.archive.keep(engine, writing=writing)
            self._kept.add(key)

    def decision(self, engine: Engine, decision: Decision) -> LogEntry:
        """Log one decision of ``engine``; it is durable when this returns."""
        self.keep(engine)
        return self.log.append(decision)

    def decisions(self, engine: Engine, decisions: list[Decision]) -> int:
        """Log decisions of ``engine`` in one transaction, all or none; returns the count."""
        self.keep(engine)
        return self.log.append_many(decisions)

    def batch_run(self, entry: dict[str, Any]) -> LogEntry:
        """Log a batch run's entry (``engine.batch.runlog``), sealed by its digest."""
        return self.log.append_run(entry)

    def steps(self, engine: Engine, payloads: list[dict[str, Any]]) -> int:
        """Log collection steps computed with ``engine``'s table set; a step already logged
        (same id) is not logged again. Returns how many were new."""
        self.keep(engine)
        return self.log.append_steps(payloads)

    def release(self, content_hash: str, content: dict[str, Any]) -> KeyedRow:
        """Log a published table set (``engine.governance.releases``)."""
        return append_keyed(self.log.engine, releases, RELEASE, content_hash, content)

    @staticmethod
    def events(conn: Connection, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Chain payment-event rows in the event store's open transaction."""
        return append_events(conn, rows)

    @staticmethod
    def outcomes(conn: Connection, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Chain event-outcome rows in the event store's open transaction."""
        return append_outcomes(conn, rows)

    def close(self) -> None:
        self.log.close()


def open_recorder(url: str | None = None, path: str | Path | None = None, *,
                  create: bool = True) -> Recorder:
    """A recorder on the log database at ``url`` or ``path`` (see ``open_log``)."""
    return Recorder(open_log(url, path, create=create))
