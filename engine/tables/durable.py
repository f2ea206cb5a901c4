"""The per-decision executor: each table compiled to a durable-rules rule set.

durable-rules is not thread-safe and keeps at most 1,024 live sessions per
rule set, so one ``Host`` serves one table set behind one lock, every
decision asserts its facts under a fresh sid, collects the rules that fired
and deletes that state before the lock is released.

A fact no rule matches raises ``MessageNotHandledException`` ("nothing
fired"), but it still takes a session slot, and ``delete_state`` on that sid
crashes the process (measured with 2.0.28: segmentation fault). So every rule
set gets one extra rule that matches every fact and records nothing: each
assert is handled, and its state can always be deleted.

Numbers travel to the engine as ranks, not as themselves: durable-rules'
JSON parser refuses floats written with an exponent and no decimal point
(``1e-05``, ``1e+20``: "error code 204"), and YAML writes 0.00001 that way.
Each numeric field of a table is ranked against the thresholds its rules
use (``2i + 1`` at threshold ``i``, ``2i`` just below it), which keeps every
comparison exact and every number the engine sees a small integer.
"""

from __future__ import annotations

import bisect
import copy
import itertools
import threading
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from durable import engine as durable_engine

from engine.records import vocabulary
from engine.tables.conditions import ALWAYS_FIELD, durable_condition, durable_value
from engine.tables.model import Condition, Table

__all__ = ["DurableExecutor", "compile_rulesets"]

_SEEN = "seen__"


def numeric_scales(table: Table) -> dict[str, list[float]]:
    """Per numeric field of a table, the sorted thresholds its rules compare with."""
    vocab = vocabulary()
    scales: dict[str, set[float]] = {name: set() for name in table.reads
                                     if vocab[name].kind in ("int", "float")}
    for r in table.rules:
        for c in r.when:
            if vocab[c.field].kind in ("int", "float"):
                values = c.value if isinstance(c.value, tuple) else (c.value,)
                scales.setdefault(c.field, set()).update(float(v) for v in values)
    return {name: sorted(values) for name, values in scales.items()}


def rank(scale: Sequence[float], value: float) -> int:
    """Position of ``value`` among the thresholds: odd on a threshold, even between."""
    i = bisect.bisect_left(scale, value)
    return 2 * i + 1 if i < len(scale) and scale[i] == value else 2 * i


def _ranked(c: Condition, scales: Mapping[str, Sequence[float]]) -> Condition:
    scale = scales.get(c.field)
    if scale is None:
        return c
    if isinstance(c.value, tuple):
        return Condition(c.field, c.op, tuple(rank(scale, float(v)) for v in c.value), c.line)
    return Condition(c.field, c.op, rank(scale, float(c.value)), c.line)


def compile_rulesets(tables: Sequence[Table]) -> dict[str, dict[str, Any]]:
    """The durable-rules definition of every table, built from the compiled YAML."""
    out: dict[str, dict[str, Any]] = {}
    for t in tables:
        scales = numeric_scales(t)
        rules: dict[str, Any] = {
            f"r{r.index}": {"all": [{"m": durable_condition([_ranked(c, scales)
                                                             for c in r.when])}],
                            "run": f"{t.name}#{r.index}"}
            for r in t.rules
        }
        rules[_SEEN] = {"all": [{"m": durable_condition(())}], "run": f"{t.name}#-1"}
        out[t.name] = rules
    return out


class _Host(durable_engine.Host):
    """A Host whose actions only record which rule fired."""

    def __init__(self, record: Callable[[int], None]) -> None:
        self._record = record
        super().__init__()

    def get_action(self, action_name: str) -> Callable[[Any], None]:
        index = int(action_name.rsplit("#", 1)[1])

        def fired(_closure: Any) -> None:
            if index >= 0:
                self._record(index)

        return fired


class DurableExecutor:
    """Matches one table against one customer's facts through durable-rules."""

    def __init__(self, tables: Sequence[Table]) -> None:
        self._rulesets = compile_rulesets(tables)
        self._scales = {t.name: numeric_scales(t) for t in tables}
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
        fact: dict[str, Any] = {ALWAYS_FIELD: 1}
        scales = self._scales[table.name]
        for name in table.reads:
            value = durable_value(facts.get(name))
            if value is None:
                continue
            if name in scales:
                if isinstance(value, bool) or not isinstance(value, int | float):
                    continue
                value = rank(scales[name], float(value))
            fact[name] = value
        with self._lock:
            host = self._ensure_host()
            sid = str(next(self._sids))
            fact["sid"] = sid
            self._fired.clear()
            try:
                host.assert_fact(table.name, fact)
            except durable_engine.MessageNotHandledException:
                return []
            host.delete_state(table.name, sid)
            return sorted(set(self._fired))
