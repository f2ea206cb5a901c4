"""The per-decision executor: each table compiled to a durable-rules rule set.

durable-rules is not thread-safe and keeps at most 1,024 live sessions per
rule set, so one ``Host`` serves one table set behind one lock, every
decision asserts its facts under a fresh sid, collects the rules that fired
and deletes that state before the lock is released. A fact no rule matches
raises ``MessageNotHandledException``: that means "nothing fired".
"""

from __future__ import annotations

import copy
import itertools
import threading
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from durable import engine as durable_engine

from engine.tables.conditions import ALWAYS_FIELD, durable_condition, durable_value
from engine.tables.model import Table

__all__ = ["DurableExecutor", "compile_rulesets"]


def compile_rulesets(tables: Sequence[Table]) -> dict[str, dict[str, Any]]:
    """The durable-rules definition of every table, built from the compiled YAML."""
    return {
        t.name: {
            f"r{r.index}": {"all": [{"m": durable_condition(r.when)}],
                            "run": f"{t.name}#{r.index}"}
            for r in t.rules
        }
        for t in tables
    }


class _Host(durable_engine.Host):
    """A Host whose actions only record which rule fired."""

    def __init__(self, record: Callable[[int], None]) -> None:
        self._record = record
        super().__init__()

    def get_action(self, action_name: str) -> Callable[[Any], None]:
        index = int(action_name.rsplit("#", 1)[1])

        def fired(_closure: Any) -> None:
            self._record(index)

        return fired


class DurableExecutor:
    """Matches one table against one customer's facts through durable-rules."""

    def __init__(self, tables: Sequence[Table]) -> None:
        self._rulesets = compile_rulesets(tables)
        self._lock = threading.Lock()
        self._host: _Host | None = None
        self._sids = itertools.count(1)
        self._fired: list[int] = []

    def _ensure_host(self) -> _Host:
        if self._host is None:
            host = _Host(self._fired.append)
            host.set_rulesets(copy.deepcopy(self._rulesets))
            self._host = host
        return self._host

    def match(self, table: Table, facts: Mapping[str, Any]) -> list[int]:
        """Indices of the rules of ``table`` whose conditions hold for ``facts``."""
        fact = {ALWAYS_FIELD: 1}
        for name in table.reads:
            value = durable_value(facts.get(name))
            if value is not None:
                fact[name] = value
        with self._lock:
            host = self._ensure_host()
            sid = str(next(self._sids))
            fact["sid"] = sid
            self._fired.clear()
            try:
                host.assert_fact(table.name, fact)
            except durable_engine.MessageNotHandledException:
                pass
            finally:
                host.delete_state(table.name, sid)
            return sorted(set(self._fired))
