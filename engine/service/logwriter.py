"""Group commit: decisions from concurrent requests share one durable transaction.

Every decision is in the log before its answer is sent, and with SQLite in
WAL mode and ``synchronous=FULL`` each commit waits for an fsync. Committing
each request on its own caps the service at one fsync per decision; here one
writer thread takes whatever decisions are waiting, appends them in one
chained transaction (``DecisionLog.append_many``), and only then releases
the requests. When a shared transaction fails (a duplicate id, say), each
decision of that group is appended on its own so every request gets its own
answer.

Several worker processes append to one SQLite file. SQLite's own wait for
its write lock is a sleep that doubles up to 100 ms, so under steady load
one worker's writer sleeps while the other takes the lock again and again.
The writers of one file therefore queue for it on an ``flock`` of a lock file
beside it (``<file>.append-lock``): the kernel wakes the next writer the
moment the lock is free, and ``BEGIN IMMEDIATE`` then finds SQLite's lock
free too. PostgreSQL needs no such file: its row lock on the chain head
already wakes the next writer at once.

On SQLite a commit does not wait for the disk while it holds the write lock
(``DecisionLog.defer_syncs``): the writer flushes the WAL right after, outside
the lock, and only then releases the requests, so what it confirms is as
durable as under ``synchronous=FULL`` while the other workers' commits go
on during the flush.

On SQLite the commits never copy the WAL into the database file themselves
(``DecisionLog.defer_checkpoints``): a checkpointer thread does it after
every ``CHECKPOINT_EVERY`` decisions, on its own connection, while the
writer goes on committing. Left to SQLite, one commit in every few hundred
decisions did the copy and its fsync, and stalled every request behind it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import queue
import threading
import time
from collections.abc import Iterator
from typing import Any

from engine.audit.log import DecisionLog
from engine.audit.store import sqlite_file
from engine.decision import Decision
from engine.errors import EngineError
from engine.filelock import exclusive

__all__ = ["BUSY_WINDOW_S", "CHECKPOINT_EVERY", "COMMIT_DELAY_S", "FILL", "AppendLock",
           "GroupCommitLog"]

logger = logging.getLogger("gridcredit.service")

_Item = tuple[Decision, asyncio.Future]

# A commit costs about as much CPU as deciding for one request (the fsync's kernel
# work most of all). Under load, when the previous commit ended less than
# BUSY_WINDOW_S ago and fewer than FILL decisions are waiting, the writer waits
# COMMIT_DELAY_S before it takes what is queued, so a group holds several decisions
# instead of one or two. With FILL waiting it commits at once: the event loop is busy with the
# requests still to decide, and waiting would only leave the core idle. An idle
# service commits at once.
COMMIT_DELAY_S = 0.001
BUSY_WINDOW_S = 0.005
FILL = 4
CHECKPOINT_EVERY = 500  # decisions between checkpoints, about 650 WAL pages


class AppendLock:
    """The processes appending to one SQLite file take turns on an ``flock`` beside it.

    For PostgreSQL it is a no-op.
    """

    def __init__(self, log: DecisionLog) -> None:
        file = sqlite_file(log.engine)
        self.path = f"{file}.append-lock" if file else None
        self._fd: int | None = None

    @contextlib.contextmanager
    def held(self) -> Iterator[None]:
        if self.path is None:
            yield
            return
        if self._fd is None:
            self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        with exclusive(self._fd):
            yield

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


class GroupCommitLog:
    """Appends to ``log`` from one thread, in groups of about ``max_group`` decisions.

    Requests and the writer meet once per group, not once per decision: the
    decisions an event-loop turn produces are handed over together (one put
    on the queue, scheduled with ``call_soon`` by the first of them), and the
    writer settles a committed group with one call back into each loop it
    came from. Waking the writer thread, or the loop, costs two context
    switches on a worker pinned to one core: paid per decision, it was a
    tenth of the worker's time. What one loop turn hands over is never split.
    Under load the writer waits ``commit_delay_s`` before it takes a group (see
    ``COMMIT_DELAY_S``).
    """

    def __init__(self, log: DecisionLog, max_group: int = 256,
                 commit_delay_s: float = COMMIT_DELAY_S) -> None:
        self.log = log
        self.max_group = max_group
        self.commit_delay_s = commit_delay_s
        self._last_commit = float("-inf")
        self._lock = AppendLock(log)
        self._queue: queue.SimpleQueue[list[_Item] | None] = queue.SimpleQueue()
        self._pending: dict[asyncio.AbstractEventLoop, list[_Item]] = {}
        self._thread = threading.Thread(target=self._run, name="decision-log-writer",
                                        daemon=True)
        self._checkpoints = _Checkpointer(log) if log.defer_checkpoints() else None
        self._syncs = log.defer_syncs()
        self._thread.start()

    @property
    def alive(self) -> bool:
        """Whether the writer thread still takes decisions (``close`` ends it)."""
        return self._thread.is_alive()

    async def append(self, decision: Decision) -> None:
        """Return once ``decision`` is durably in the log; raise what the log raised."""
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        pending = self._pending.get(loop)
        if pending is None:
            pending = self._pending[loop] = []
            loop.call_soon(self._hand_over, loop)
        pending.append((decision, future))
        await future

    def _hand_over(self, loop: asyncio.AbstractEventLoop) -> None:
        self._queue.put(self._pending.pop(loop))

    def close(self) -> None:
        self._queue.put(None)
        self._thread.join(timeout=30)
        self._lock.close()
        if self._checkpoints is not None:
            self._checkpoints.close()

    def _run(self) -> None:
        while True:
            first = self._queue.get()
            if first is None:
                return
            group, closing = self._take(first)
            self._commit(group)
            if closing:
                return

    def _take(self, group: list[_Item]) -> tuple[list[_Item], bool]:
        """The group to commit, starting with ``group``; and whether ``close`` was asked."""
        if len(group) < FILL and time.monotonic() - self._last_commit < BUSY_WINDOW_S:
            time.sleep(self.commit_delay_s)  # under load: let the group fill
        while len(group) < self.max_group:
            try:
                more = self._queue.get_nowait()
            except queue.Empty:
                return group, False
            if more is None:
                return group, True
            group = group + more
        return group, False

    def _commit(self, group: list[_Item]) -> None:
        try:
            with self._lock.held():
                outcomes = self._commit_group(group)
            if self._syncs and None in outcomes:
                outcomes = self._synced(outcomes)
        except Exception as exc:  # handed to the waiting requests: none waits for ever
            outcomes = [exc] * len(group)
        self._last_commit = time.monotonic()
        if self._checkpoints is not None:
            self._checkpoints.count(len(group))
        by_loop: dict[asyncio.AbstractEventLoop, list[tuple[asyncio.Future, Any]]] = {}
        for (_, future), outcome in zip(group, outcomes, strict=True):
            by_loop.setdefault(future.get_loop(), []).append((future, outcome))
        for loop, settled in by_loop.items():
            with contextlib.suppress(RuntimeError):  # a loop closed meanwhile has no waiter
                loop.call_soon_threadsafe(_settle, settled)

    def _synced(self, outcomes: list[BaseException | None]) -> list[BaseException | None]:
        """Flush the WAL, outside the lock: a decision is confirmed only once it is on disk."""
        try:
            self.log.sync()
        except EngineError as exc:
            return [exc if outcome is None else outcome for outcome in outcomes]
        return outcomes

    def _commit_group(self, group: list[_Item]) -> list[BaseException | None]:
        """Each decision's outcome: None when logged, else what the log raised."""
        try:
            self.log.append_many([decision for decision, _ in group])
        except Exception as exc:  # handed to the waiting requests, never dropped
            if len(group) == 1:
                return [exc]
            return [self._commit_one(decision) for decision, _ in group]
        return [None] * len(group)

    def _commit_one(self, decision: Decision) -> BaseException | None:
        try:
            self.log.append(decision)
        except Exception as exc:  # handed to the waiting request, never dropped
            return exc
        return None


class _Checkpointer:
    """Checkpoints the log's WAL from a thread of its own, after every ``CHECKPOINT_EVERY``."""

    def __init__(self, log: DecisionLog) -> None:
        self.log = log
        self._since = 0
        self._due = threading.Event()
        self._closing = False
        self._thread = threading.Thread(target=self._run, name="decision-log-checkpoints",
                                        daemon=True)
        self._thread.start()

    def count(self, appended: int) -> None:
        self._since += appended
        if self._since >= CHECKPOINT_EVERY:
            self._since = 0
            self._due.set()

    def _run(self) -> None:
        while True:
            self._due.wait()
            self._due.clear()
            if self._closing:
                return
            try:
                self.log.checkpoint()
            except Exception:  # the next one copies what this one left; appends go on
                logger.exception("checkpoint of the decision log %s failed", self.log.url)

    def close(self) -> None:
        self._closing = True
        self._due.set()
        self._thread.join(timeout=30)


def _settle(settled: list[tuple[asyncio.Future, BaseException | None]]) -> None:
    """On the loop: release the requests of a committed group (skipping cancelled ones)."""
    for future, outcome in settled:
        if future.done():
            continue
        if outcome is None:
            future.set_result(None)
        else:
            future.set_exception(outcome)
