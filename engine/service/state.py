"""The service's state: the active engine, the decision log, and how tables are swapped.

The active engine is one immutable ``Engine`` behind one attribute. A request
reads the attribute once and decides on that object to the end, so a reload
that swaps the attribute never changes a decision in flight. A new table set
replaces the old only after it loads and passes every check ``gridcredit
rules check`` runs (static findings and the tables' own examples); otherwise
the old set stays and the caller gets the errors.

Several worker processes share one reload: the worker that accepts a new set
writes its content hash to the reload marker (a small JSON file named in the
settings) and bumps the change counter beside it (``<marker>.changes``, an
``engine.changecount.ChangeCounter``). Every worker reads that counter from
shared memory before handing out its engine, with no system call; when it
has moved and the marker names a set the worker does not run, the worker
loads the folder itself, in a thread of its own, and checks it in a child
process (``engine.tables.childcheck``): its requests go on deciding with the
active engine, and the new one is swapped in (one attribute assignment) once
it has passed every check. No decision waits on a load, the check's second
of numpy never holds this process's GIL, and a request that started on the
old engine ends on it. Where the
counter cannot be opened the workers look at the marker's modification time
instead. A worker never takes a set on trust: if its own check fails it
keeps its tables and logs why.

durable-rules is not thread-safe, across Hosts too: a reload runs the new
set's examples on a second Host while decisions run on the first. Every call
into it takes ``engine.rulehost.LOCK``, the one process-wide lock; the service
holds the same lock (``durable_lock``) around a whole durable decision or
event batch. With the default compiled executor decisions never enter
durable-rules and take no lock.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from starlette.concurrency import run_in_threadpool

from engine import rulehost
from engine.audit.log import DecisionLog, open_log
from engine.audit.recorder import Recorder
from engine.changecount import ChangeCounter
from engine.decider import Engine, load
from engine.decision import Decision
from engine.errors import EngineError, TableError, TableSetError, did_you_mean
from engine.events.store import EventOutcomes, EventStore, InlineOutcomes, open_store
from engine.governance.releases import require_release
from engine.service.logwriter import AppendLock, GroupCommitLog
from engine.service.metrics import Metrics
from engine.service.settings import Settings
from engine.tables import Finding, TableSet, check_table_set, load_table_set, run_examples
from engine.tables.childcheck import ChildCheckFailed, check_in_child

__all__ = ["ServiceState", "TablesRejected", "Validation"]

log = logging.getLogger("gridcredit.service")


class TablesRejected(TableSetError):
    """A table set that failed to load or to pass the checks; the active set stays in force."""

    http_status = 422
    code = "tables_rejected"

    def __init__(self, errors: list[TableError]) -> None:
        super().__init__(errors)
        self.message = (f"{len(errors)} problem(s) in the table set; the active tables stay "
                        f"in force:\n{self.message}")
        self.args = (self.message,)

    @classmethod
    def of_findings(cls, findings: list[Finding]) -> TablesRejected:
        return cls([TableError(f.message, file=f.file, line=f.line, rule_id=f.subject)
                    for f in findings])


@dataclass(frozen=True)
class Validation:
    """What checking a table set found: ``ok`` only when it loads with no findings."""

    ok: bool
    version: str | None
    content_hash: str | None
    tables: dict[str, str]
    findings: list[dict[str, Any]]


def _finding(f: Finding) -> dict[str, Any]:
    return {"path": f"{f.file}:{f.line}", "file": f.file, "line": f.line, "subject": f.subject,
            "kind": f.kind, "message": f.message}


class ServiceState:
    """Settings, the active engine, the log and the metrics of one service process."""

    def __init__(self, settings: Settings, engine: Engine | None = None,
                 decision_log: DecisionLog | None = None) -> None:
        self.settings = settings
        self._marker_path = str(settings.marker)
        self._marker_changes = _marker_counter(settings.marker)
        self._engine: Engine = (engine if engine is not None
                                else load(settings.home, executor=settings.executor))
        self._marker_seen = self._marker_stamp()
        self.log: DecisionLog = decision_log if decision_log is not None else open_log(
            settings.db)
        self._govern(self._engine)
        self.writer = GroupCommitLog(self.log)
        self.metrics = Metrics()
        self.durable_lock = rulehost.LOCK
        self._reload_lock = threading.Lock()
        self._follower: threading.Thread | None = None  # the last reload another worker led
        self._store_lock = threading.Lock()
        self._event_store: EventStore | None = None
        self._inline: InlineOutcomes | None = None

    @property
    def engine(self) -> Engine:
        """The active engine, after following a reload another worker announced."""
        stamp = self._marker_stamp()
        if stamp != self._marker_seen:
            self._follow_marker(stamp)
        return self._engine

    # ------------------------------------------------------------------ deciding

    @property
    def event_store(self) -> EventStore:
        """The event store in the service's database, opened on first use.

        Unreachable, it raises ``AuditStoreError`` (503): a decision is never
        made, nor logged, as if the customer had no events.
        """
        with self._store_lock:
            if self._event_store is None:
                self._event_store = open_store(self.settings.db)
            return self._event_store

    @property
    def reads_inline(self) -> bool:
        """Whether the outcome read is local enough (SQLite) to run on the event loop."""
        if self._inline is None:
            store = self.event_store
            if store.engine.dialect.name != "sqlite":
                return False
            with self._store_lock:
                if self._inline is None:
                    self._inline = store.inline_reader()
        return True

    def outcomes(self, record: Any) -> EventOutcomes:
        """The customer's outcomes in force on the record's ``as_of``: one indexed query."""
        return self.event_store.outcomes_for(record.customer_id, record.as_of)

    def decide_inline(self, engine: Engine, record: Any) -> Decision:
        """``decide`` on the event loop (compiled executor, SQLite): the outcomes come
        from the loop's own held connection once ``reads_inline`` has opened it."""
        if self._inline is None:
            return self.decide(engine, record)
        return self.decide(engine, record, self._inline(record.customer_id, record.as_of))

    async def decide_and_log(self, record: Any) -> Decision:
        """``POST /v1/decisions``'s work: decide on the active engine, log, count.

        A compiled decision is a fraction of a millisecond of pure Python plus
        one indexed SQLite read, so it runs on the event loop: a thread hop
        would cost more than it frees the loop for. The durable executor, and
        a store that is not SQLite, decide in the thread pool. The decision is
        in the log when this returns.
        """
        engine = self.engine
        if engine.config.executor == "compiled" and self.reads_inline:
            decision = self.decide_inline(engine, record)
        else:
            decision = await run_in_threadpool(self.decide, engine, record)
        await self.writer.append(decision)
        self.metrics.count_decisions([decision])
        return decision

    def decide(self, engine: Engine, record: Any,
               outcomes: EventOutcomes | None = None) -> Decision:
        """One decision on ``engine`` (the one the request started with), with the
        customer's event outcomes (read here unless given).

        Only the durable executor needs the durable-rules lock; the compiled
        matchers are plain immutable Python, safe to share between threads.
        """
        found = outcomes if outcomes is not None else self.outcomes(record)
        given = found if found.outcomes else None
        if engine.config.executor != "durable":
            return engine.decide(record, outcomes=given)
        with self.durable_lock:
            return engine.decide(record, outcomes=given)

    # ------------------------------------------------------------------ tables

    def check(self, table_set: TableSet, rules_dir: str | Path) -> list[Finding]:
        """Everything ``gridcredit rules check`` reports: static findings, then examples.

        The check runs in a child process (``engine.tables.childcheck``), so
        the second of numpy it takes never holds this process's GIL while
        requests decide. Its findings count only for the set it checked: if
        the child loaded another version of the folder, or reported nothing,
        the set is checked here instead and the log says why.
        """
        try:
            done = check_in_child(rules_dir, self._engine.config.catalogue)
        except ChildCheckFailed as exc:
            log.warning("%s; checking the tables in the service process instead", exc.message)
        else:
            if done.content_hash == table_set.content_hash:
                return done.findings
            log.warning("the child process checked tables %s, not %s (the folder changed "
                        "or the catalogue file is not the one loaded); checking in the service "
                        "process instead", done.content_hash[:12], table_set.content_hash[:12])
        return self.check_here(table_set)

    def check_here(self, table_set: TableSet) -> list[Finding]:
        """``check`` in this process, for when the child process cannot answer."""
        findings = check_table_set(table_set, examples=False)
        with self.durable_lock:
            findings += run_examples(table_set)
        return findings

    def reload(self, *, announce: bool = True) -> Engine:
        """Load the rules folder, check it, and make it active only if it is clean."""
        with self._reload_lock:
            current = self.engine
            try:
                table_set = load_table_set(current.config.rules_dir, current.catalogue)
                candidate = current.with_tables(table_set)
            except TableError as exc:
                self.metrics.reloads.labels("refused").inc()
                raise TablesRejected(exc.errors if isinstance(exc, TableSetError) else [exc]
                                     ) from None
            findings = self.check(table_set, current.config.rules_dir)
            if findings:
                self.metrics.reloads.labels("refused").inc()
                raise TablesRejected.of_findings(findings)
            try:
                self._govern(candidate)
            except EngineError as exc:
                self.metrics.reloads.labels("refused").inc()
                raise TablesRejected([TableError(exc.message, file=str(
                    current.config.rules_dir))]) from None
            self._engine = candidate
            self.metrics.reloads.labels("loaded").inc()
            log.info("tables %s (sha256 %s) active", table_set.version,
                     table_set.content_hash[:12])
            if announce:
                self._announce(table_set)
            return self._engine

    def _govern(self, engine: Engine) -> None:
        """Refuse an unpublished set when releases are required; archive what will decide.

        The archive's writes queue on the log file's append lock as the log
        writers' commits do, so a writer of this or another worker never
        finds the SQLite file locked by a reload and sleeps in its busy handler.
        """
        if self.settings.require_published:
            require_release(self.log.engine, engine.tables.content_hash, engine.tables.version)
        appending = AppendLock(self.log)  # a descriptor of its own: flock excludes per open file
        try:
            Recorder(self.log).keep(engine, writing=appending.held)
        finally:
            appending.close()

    # ------------------------------------------------------------------ workers

    def _marker_stamp(self) -> int | None:
        if self._marker_changes is not None:
            return self._marker_changes.settled()
        try:
            return os.stat(self._marker_path).st_mtime_ns
        except OSError:
            return None

    def _announce(self, table_set: TableSet) -> None:
        """Tell the other workers which set is now active (atomic replace of the marker)."""
        marker = self.settings.marker
        try:
            marker.parent.mkdir(parents=True, exist_ok=True)
            partial = marker.with_name(f"{marker.name}.{os.getpid()}.partial")
            partial.write_text(json.dumps({
                "content_hash": table_set.content_hash, "version": table_set.version,
                "pid": os.getpid(), "at": dt.datetime.now(dt.UTC).isoformat()}))
            partial.replace(marker)
            if self._marker_changes is not None:
                self._marker_changes.bump()
            self._marker_seen = self._marker_stamp()
        except OSError as exc:
            log.error("could not write the reload marker %s (%s): other workers keep their "
                      "tables until they are reloaded", marker, exc.strerror)

    def _follow_marker(self, stamp: int | None) -> None:
        """Start loading the set another worker announced, in a thread of its own.

        The caller (a request on the event loop) goes on with the active
        engine: no decision waits on the load. The thread swaps the new
        engine in once it has loaded and passed every check, as ``reload`` does.
        """
        if not self._reload_lock.acquire(blocking=False):
            return  # a reload is under way; the next request looks at the marker again
        try:
            self._marker_seen = stamp
            wanted = json.loads(self.settings.marker.read_text())["content_hash"]
        except (OSError, ValueError, KeyError, TypeError):
            self._reload_lock.release()
            return
        self._reload_lock.release()
        if wanted == self._engine.tables.content_hash:
            return
        follower = threading.Thread(target=self._follow, args=(wanted,), daemon=True,
                                    name="gridcredit-follow-reload")
        self._follower = follower
        follower.start()

    def _follow(self, wanted: str) -> None:
        try:
            self.reload(announce=False)
        except TablesRejected as exc:
            log.error("another worker activated tables %s but they fail here; the active "
                      "tables stay: %s", str(wanted)[:12], exc.message)
        except Exception:  # the thread's end: nothing else would say why the set stayed
            log.exception("following the reload to tables %s failed; the active tables stay",
                          str(wanted)[:12])

    def validate(self, files: dict[str, bytes]) -> Validation:
        """Check posted table files as a set of their own; the active set is untouched."""
        with tempfile.TemporaryDirectory(prefix="gridcredit-validate-") as tmp:
            for name, content in files.items():
                (Path(tmp) / name).write_bytes(content)
            try:
                table_set = load_table_set(tmp, self.engine.catalogue)
            except TableError as exc:
                errors = exc.errors if isinstance(exc, TableSetError) else [exc]
                return Validation(False, None, None, {},
                                  [_error_finding(e, tmp) for e in errors])
            findings = [_finding(f) for f in self.check(table_set, tmp)]
        for f in findings:
            f["file"] = _shown(f["file"], tmp)
            f["path"] = f"{f['file']}:{f['line']}"
        return Validation(not findings, table_set.version, table_set.content_hash,
                          dict(table_set.versions), findings)

    def open(self) -> None:
        """Start the log writer again if a previous lifespan closed it.

        A server starts its application's lifespan once, but an embedding host
        (a test harness, a reloader) may end it and start it again on the same
        application; requests after a restart must find a writer.
        """
        if not self.writer.alive:
            self.writer = GroupCommitLog(self.log)
        if self._marker_changes is None:
            self._marker_changes = _marker_counter(self.settings.marker)

    def close(self) -> None:
        self.writer.close()
        self.log.close()
        if self._marker_changes is not None:
            self._marker_changes.close()
            self._marker_changes = None
        if self._inline is not None:
            self._inline.close()
            self._inline = None
        if self._event_store is not None:
            self._event_store.close()


def _marker_counter(marker: Path) -> ChangeCounter | None:
    """The reload marker's change counter, or None where it cannot be made."""
    try:
        marker.parent.mkdir(parents=True, exist_ok=True)
        return ChangeCounter(f"{marker}.changes")
    except (OSError, EngineError) as exc:
        log.warning("no change counter beside the reload marker %s (%s): workers look at the "
                    "marker's modification time on every request instead", marker,
                    getattr(exc, "message", exc))
        return None


def _shown(file: str, tmp: str) -> str:
    """A posted file by the name it was posted under, not the temporary folder."""
    return Path(file).name if str(file).startswith(tmp) else str(file)


def _error_finding(e: TableError, tmp: str) -> dict[str, Any]:
    file = _shown(e.file, tmp)
    message = e.reason + did_you_mean(e.suggestion)
    return {"path": f"{file}:{e.line}" if e.line else file, "file": file, "line": e.line,
            "subject": e.rule_id or "", "kind": "load", "message": message}
