"""Group commit: decisions from concurrent requests share one durable transaction.

Every decision is in the log before its answer is sent, and with SQLite in
WAL mode and ``synchronous=FULL`` each commit waits for an fsync. Committing
each request on its own caps the service at one fsync per decision; here one
writer thread takes whatever decisions are waiting, appends them in one
chained transaction (``DecisionLog.append_many``), and only then releases
the requests. When a shared transaction fails (a duplicate id, say), each
decision of that group is appended on its own so every request gets its own
answer.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import queue
import threading

from engine.audit.log import DecisionLog
from engine.decision import Decision

__all__ = ["GroupCommitLog"]

_Item = tuple[Decision, concurrent.futures.Future]


class GroupCommitLog:
    """Appends to ``log`` from one thread, in groups of up to ``max_group`` decisions."""

    def __init__(self, log: DecisionLog, max_group: int = 256) -> None:
        self.log = log
        self.max_group = max_group
        self._queue: queue.SimpleQueue[_Item | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="decision-log-writer",
                                        daemon=True)
        self._thread.start()

    @property
    def alive(self) -> bool:
        """Whether the writer thread still takes decisions (``close`` ends it)."""
        return self._thread.is_alive()

    async def append(self, decision: Decision) -> None:
        """Return once ``decision`` is durably in the log; raise what the log raised."""
        future: concurrent.futures.Future = concurrent.futures.Future()
        self._queue.put((decision, future))
        await asyncio.wrap_future(future)

    def close(self) -> None:
        self._queue.put(None)
        self._thread.join(timeout=30)

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            group = [item]
            while len(group) < self.max_group:
                try:
                    nxt = self._queue.get_nowait()
                except queue.Empty:
                    break
                if nxt is None:
                    self._commit(group)
                    return
                group.append(nxt)
            self._commit(group)

    def _commit(self, group: list[_Item]) -> None:
        try:
            self.log.append_many([decision for decision, _ in group])
        except Exception as exc:  # handed to the waiting requests, never dropped
            if len(group) == 1:
                group[0][1].set_exception(exc)
                return
            for decision, future in group:
                self._commit_one(decision, future)
            return
        for _, future in group:
            future.set_result(None)

    def _commit_one(self, decision: Decision, future: concurrent.futures.Future) -> None:
        try:
            self.log.append(decision)
        except Exception as exc:  # handed to the waiting request, never dropped
            future.set_exception(exc)
        else:
            future.set_result(None)
