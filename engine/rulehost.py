"""How the engine drives durable-rules: the one adapter decision tables and event rules share.

Facts about durable-rules 2.0.28 this module is built on (measured, see
``shared/notes/durable-rules.md``; ``tests/test_rulehost.py`` pins them):

- **Not thread-safe**, across Hosts too: threads sharing a Host crash the
  process. Every call into durable-rules in this process takes ``LOCK``
  (re-entrant, so a caller that already holds it may call in again).
- **At most 1,024 live sessions per rule set.** Each call asserts its facts
  under a fresh sid (``1``, ``2``, ... per host), collects what fired and
  deletes that session's state before the lock is released, so live state
  never outgrows one call however many calls are made.
- **A fact no rule matches** raises ``MessageNotHandledException`` yet takes
  a session slot, and deleting the state of a session no rule matched
  crashes the process. So every rule set gets a catch-all rule (``SEEN``)
  that matches every fact (each fact carries ``ALWAYS = 1``) and records
  nothing: every assert is handled and its state can always be deleted.
- **Numbers**: the engine's JSON parser refuses floats written with an
  exponent and no decimal point (``1e-05``), which YAML produces. Callers
  send small integers instead; ``rank`` places a number among the
  thresholds its rules compare it with (``2i + 1`` on threshold ``i``,
  ``2i`` just below it), which keeps every comparison exact.
- ``set_rulesets`` mutates the definition it is given: it gets a deep copy.

A durable-rules upgrade that changes any of this is fixed here.
"""

from __future__ import annotations

import bisect
import copy
import itertools
import threading
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import durable_rules_engine
from durable import engine as durable_engine

__all__ = ["ALWAYS", "LOCK", "REF", "SEEN", "RuleHost", "build_definition", "rank"]

LOCK = threading.RLock()
ALWAYS = "fact__"
REF = "ref__"
SEEN = "seen__"
_CATCH_ALL = -1


def rank(scale: Sequence[float], value: float) -> int:
    """Position of ``value`` among the sorted thresholds: odd on a threshold, even between.

    ``value < t``, ``value == t`` and so on hold exactly when they hold for
    ``rank(scale, value)`` and ``rank(scale, t)``, for every threshold ``t``.
    """
    i = bisect.bisect_left(scale, value)
    return 2 * i + 1 if i < len(scale) and scale[i] == value else 2 * i


class _Host(durable_engine.Host):
    """A Host whose actions only record (rule index, fact ref) of each firing."""

    def __init__(self, record: Callable[[int, int], None]) -> None:
        self._record = record
        super().__init__()

    def get_action(self, action_name: str) -> Callable[[Any], None]:
        index = int(action_name.rsplit("#", 1)[1])

        def fired(closure: Any) -> None:
            if index != _CATCH_ALL:
                self._record(index, int(closure.m[REF]))

        return fired


def build_definition(rulesets: Mapping[str, Mapping[int, Mapping[str, Any]]]) -> dict[str, Any]:
    """The durable-rules definition: per rule set, one rule per condition plus the catch-all."""
    out: dict[str, Any] = {}
    for name, conditions in rulesets.items():
        rules: dict[str, Any] = {f"r{i}": {"all": [{"m": copy.deepcopy(dict(cond))}],
                                           "run": f"{name}#{i}"}
                                 for i, cond in conditions.items()}
        rules[SEEN] = {"all": [{"m": {"$gte": {ALWAYS: 1}}}], "run": f"{name}#{_CATCH_ALL}"}
        out[name] = rules
    return out


class RuleHost:
    """One durable-rules Host for a family of rule sets, driven one call at a time.

    ``rulesets`` maps a rule set name to its rules: rule index -> the
    durable-rules condition of the rule's one fact pattern. The Host starts
    on first use (it starts background threads of its own).
    """

    def __init__(self, rulesets: Mapping[str, Mapping[int, Mapping[str, Any]]]) -> None:
        self.definition = build_definition(rulesets)
        self._host: _Host | None = None
        self._sids = itertools.count(1)
        self._fired: list[tuple[int, int]] = []
        self.sessions = 0
        self.asserted = 0

    def fire(self, ruleset: str, facts: Sequence[Mapping[str, Any]]) -> list[tuple[int, int]]:
        """(rule index, index into ``facts``) of every firing, sorted by fact, then rule.

        The facts are asserted together under one fresh sid whose state is
        deleted before this returns.
        """
        if not facts:
            return []
        with LOCK:
            if self._host is None:
                self._host = _Host(lambda i, ref: self._fired.append((i, ref)))
                self._host.set_rulesets(copy.deepcopy(self.definition))
            sid = str(next(self._sids))
            payload = [{**f, "sid": sid, REF: ref, ALWAYS: 1} for ref, f in enumerate(facts)]
            self._fired.clear()
            self.sessions += 1
            self.asserted += len(payload)
            try:
                if len(payload) == 1:
                    self._host.assert_fact(ruleset, payload[0])
                else:
                    self._host.assert_facts(ruleset, payload)
            except durable_engine.MessageNotHandledException:
                # Unreachable while the catch-all holds; deleting would crash the process.
                return sorted(set(self._fired), key=lambda p: (p[1], p[0]))
            self._host.delete_state(ruleset, sid)
            return sorted(set(self._fired), key=lambda p: (p[1], p[0]))

    def has_state(self, ruleset: str, sid: str) -> bool:
        """Whether durable-rules still holds state for session ``sid`` (it should not)."""
        with LOCK:
            if self._host is None:
                return False
            try:
                self._host.get_state(ruleset, sid)
            except durable_rules_engine.error:  # "Could not get state, error code: 309"
                return False
            return True
