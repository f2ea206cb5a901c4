"""Collection strategies: ``rules/collections.yaml`` read, checked and chosen from.

Policy staff own the file. Each strategy has a ``when`` written in the
decision tables' condition language (scalar = equals, list = one of, operator
map) over the customer's class, grade, segments and payment history, and a
list of dated steps counted from a bill's due date. The first strategy whose
``when`` holds is the customer's (hit policy ``first``); the last one must
have no ``when``, so every customer has a strategy.

The legal minimums are the law's, not the table's, and live here:

* a ``supply_cut_order`` follows a ``supply_cut_warning`` of the same
  strategy by at least the notice days: the warning policy's ``notice_days``
  and never fewer than ``LEGAL_NOTICE_DAYS`` (7 for residential customers, 3
  for others), with the call ``call_hours_before`` the cut;
* a cut order falls only on a bill overdue more than ``LEGAL_OVERDUE_DAYS``,
  and a written notice (``default_liability_notice``) comes before the warning;
* an important user's (critical load) steps copy the regulator.

``load_strategies`` refuses a file that breaks any of these, or whose step
reads a policy missing from the catalogue, naming ``file:line``; the scheduler
(``engine.collections.cases``) enforces the same minimums on the dates it
computes, so a protection or agreement that moves a warning moves the cut too.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from engine.conditions import Condition, parse_condition
from engine.errors import ConfigError, ConfigErrors, closest
from engine.policies import Catalogue
from engine.records import CLASSES, vocabulary
from engine.yamlfile import LocatedList, LocatedMap, read_yaml

__all__ = ["ACTIONS", "CHANNELS", "CUT_ACTIONS", "LEGAL_NOTICE_DAYS", "LEGAL_OVERDUE_DAYS",
           "PROFILE_FIELDS", "Step", "Strategy", "StrategyTable", "load_strategies",
           "notice_days"]

# Power Supply Business Rules as quoted in the utility practice notes: at least
# 7 days' notice for households, 3 for others, after more than 30 days overdue.
LEGAL_NOTICE_DAYS: Mapping[str, int] = {"residential": 7, "commercial": 3, "industrial": 3,
                                        "public": 3}
LEGAL_OVERDUE_DAYS = 30
CUT_ACTIONS = ("supply_cut_warning", "supply_cut_order")
ACTIONS: Mapping[str, str] = {
    "reminder": "a reminder that the bill is overdue",
    "account_manager_call": "a call from the customer's account manager",
    "default_liability_notice": "the written notice of default liability",
    "on_site_collection": "a visit to collect the arrears on site",
    "supply_cut_warning": "the written warning that supply will be cut",
    "supply_cut_order": "the order to cut supply",
}
CHANNELS = ("sms", "phone", "letter", "email", "app", "visit")
PROFILE_FIELDS = ("customer_class", "grade", "consumption_class", "outage_sensitivity",
                  "service_sensitivity", "value_tier", "habitual_defaulter", "critical_load")
_STEP_KEYS = ("action", "after_days", "channel", "policy")
_STRATEGY_KEYS = ("id", "description", "source", "when", "steps")
_TOP_KEYS = ("collections", "version", "description", "strategies", "examples")
_CLASSES = CLASSES


@dataclass(frozen=True)
class Step:
    """One dated step of a strategy: ``after_days`` from the bill's due date."""

    action: str
    after_days: int
    channel: str
    policy: str
    line: int


@dataclass(frozen=True)
class Strategy:
    """A strategy: who it is for, and its steps in date order."""

    id: str
    description: str
    source: str
    when: tuple[Condition, ...]
    steps: tuple[Step, ...]
    file: str
    line: int

    def matches(self, profile: Mapping[str, Any]) -> bool:
        return all(_meets(c, profile.get(c.field)) for c in self.when)

    @property
    def location(self) -> str:
        return f"{self.file}:{self.line}"


@dataclass(frozen=True)
class StrategyTable:
    """The loaded strategies in file order, with the file's version and examples."""

    version: str
    file: str
    strategies: tuple[Strategy, ...]
    examples: tuple[tuple[Mapping[str, Any], str, int], ...]

    def choose(self, profile: Mapping[str, Any]) -> Strategy:
        """The first strategy whose ``when`` holds (the last one always does)."""
        return next(s for s in self.strategies if s.matches(profile))


def _meets(c: Condition, value: Any) -> bool:
    if value is None:
        return False
    if c.op == "eq":
        return value == c.value
    if c.op == "ne":
        return value != c.value
    if c.op == "in":
        return value in c.value
    return value not in c.value


def notice_days(customer_class: str, params: Mapping[str, Any]) -> int:
    """Days from a cut warning to the earliest cut: the policy's, never below the law's."""
    return max(int(params.get("notice_days", 0)), LEGAL_NOTICE_DAYS.get(customer_class, 7))


class _Errors:
    def __init__(self, file: str) -> None:
        self.file = file
        self.found: list[ConfigError] = []

    def __call__(self, message: str, line: int, suggestion: str | None = None) -> None:
        self.found.append(ConfigError(message, file=self.file, line=line, suggestion=suggestion))


def load_strategies(path: str | Path, catalogue: Catalogue) -> StrategyTable:
    """Read and check ``rules/collections.yaml``; every problem is raised at once."""
    file = str(path)
    doc = read_yaml(path)
    err = _Errors(file)
    if not isinstance(doc, LocatedMap):
        raise ConfigError("a collections file is a mapping with collections:, version: and "
                          "strategies:", file=file, line=1)
    for key in doc:
        if key not in _TOP_KEYS:
            err(f"unknown key '{key}': use " + ", ".join(_TOP_KEYS), doc.line_of(key),
                closest(key, _TOP_KEYS))
    raw = doc.get("strategies")
    strategies: list[Strategy] = []
    if not isinstance(raw, LocatedList) or not raw:
        err("'strategies:' must list at least one strategy", doc.line_of("strategies"))
    else:
        for i, item in enumerate(raw):
            found = _strategy(item, raw.line_of(i), file, catalogue, err)
            if found is not None:
                strategies.append(found)
        _check_ids_and_fallback(strategies, err)
    examples = _examples(doc.get("examples"), doc.line_of("examples"), err)
    table = StrategyTable(str(doc.get("version", "")), file, tuple(strategies), tuple(examples))
    if not err.found:
        _run_examples(table, err)
    if err.found:
        raise ConfigErrors(err.found)
    return table


def _check_ids_and_fallback(strategies: Sequence[Strategy], err: _Errors) -> None:
    seen: dict[str, int] = {}
    for s in strategies:
        if s.id in seen:
            err(f"strategy id '{s.id}' is used twice (first at line {seen[s.id]})", s.line)
        seen.setdefault(s.id, s.line)
    if strategies and strategies[-1].when:
        last = strategies[-1]
        err(f"strategy '{last.id}': the last strategy must have no 'when', so that every "
            "customer has a strategy: add a fallback strategy at the end", last.line)


def _strategy(raw: Any, line: int, file: str, catalogue: Catalogue, err: _Errors
              ) -> Strategy | None:
    if not isinstance(raw, LocatedMap):
        err("a strategy is a mapping with id:, description:, when: and steps:", line)
        return None
    sid = raw.get("id")
    if not isinstance(sid, str) or not sid:
        err("a strategy needs an 'id'", raw.line)
        return None
    for key in raw:
        if key not in _STRATEGY_KEYS:
            err(f"strategy '{sid}': unknown key '{key}': use " + ", ".join(_STRATEGY_KEYS),
                raw.line_of(key), closest(key, _STRATEGY_KEYS))
    when = _when(raw.get("when"), raw.line_of("when"), sid, err)
    before = len(err.found)
    steps = _steps(raw.get("steps"), raw.line_of("steps"), sid, catalogue, err)
    strategy = Strategy(sid, str(raw.get("description", "")), str(raw.get("source", "")),
                        tuple(when), tuple(steps), file, raw.line)
    if len(err.found) == before:  # a refused step would only make the legal check guess
        _check_legal(strategy, catalogue, err)
    return strategy


def _when(raw: Any, line: int, sid: str, err: _Errors) -> list[Condition]:
    if raw is None:
        return []
    if not isinstance(raw, LocatedMap):
        err(f"strategy '{sid}': 'when' maps fields to conditions", line)
        return []
    vocab = vocabulary()
    out: list[Condition] = []
    for name, value in raw.items():
        at = raw.line_of(name)
        if name not in PROFILE_FIELDS:
            err(f"strategy '{sid}': a strategy cannot test '{name}': use one of "
                + ", ".join(PROFILE_FIELDS), at, closest(name, PROFILE_FIELDS))
            continue
        key_line = value.line_of if isinstance(value, LocatedMap) else None
        conds = parse_condition(vocab[name], value, at,
                                lambda m, ln, hint: err(f"strategy '{sid}': {m}", ln, hint),
                                key_line)
        for c in conds:
            if c.op not in ("eq", "ne", "in", "not_in"):
                err(f"strategy '{sid}': '{name}' {c.op}: a strategy tests values, not ranges",
                    c.line)
            else:
                out.append(c)
    return out


def _steps(raw: Any, line: int, sid: str, catalogue: Catalogue, err: _Errors) -> list[Step]:
    if not isinstance(raw, LocatedList) or not raw:
        err(f"strategy '{sid}': 'steps' must list at least one step", line)
        return []
    out: list[Step] = []
    for i, item in enumerate(raw):
        at = raw.line_of(i)
        if not isinstance(item, LocatedMap):
            err(f"strategy '{sid}': a step is a mapping with " + ", ".join(_STEP_KEYS), at)
            continue
        step = _step(item, at, sid, catalogue, err)
        if step is not None:
            if out and step.after_days < out[-1].after_days:
                err(f"strategy '{sid}': step '{step.action}' (after_days {step.after_days}) "
                    f"comes before '{out[-1].action}' (after_days {out[-1].after_days}): list "
                    "the steps in date order", at)
            out.append(step)
    return out


def _step(item: LocatedMap, at: int, sid: str, catalogue: Catalogue, err: _Errors
          ) -> Step | None:
    ok = True
    for key in item:
        if key not in _STEP_KEYS:
            err(f"strategy '{sid}': unknown step key '{key}': use " + ", ".join(_STEP_KEYS),
                item.line_of(key), closest(key, _STEP_KEYS))
            ok = False
    action, days = item.get("action"), item.get("after_days")
    channel, policy = item.get("channel"), item.get("policy")
    if action not in ACTIONS:
        err(f"strategy '{sid}': unknown action {action!r}: use one of " + ", ".join(ACTIONS),
            item.line_of("action"), closest(action, ACTIONS))
        ok = False
    if isinstance(days, bool) or not isinstance(days, int) or not 0 <= days <= 3650:
        err(f"strategy '{sid}': after_days must be a whole number of days from 0 to 3650, "
            f"not {days!r}", item.line_of("after_days"))
        ok = False
    if channel not in CHANNELS:
        err(f"strategy '{sid}': unknown channel {channel!r}: use one of " + ", ".join(CHANNELS),
            item.line_of("channel"), closest(channel, CHANNELS))
        ok = False
    if not isinstance(policy, str) or policy not in catalogue:
        err(f"strategy '{sid}': step '{action}' reads policy {policy!r}, which the catalogue "
            f"{catalogue.file} does not have: name a catalogue policy",
            item.line_of("policy"), catalogue.suggest(str(policy)))
        ok = False
    elif action in CUT_ACTIONS and "notice_days" not in catalogue[policy].params:
        err(f"strategy '{sid}': step '{action}' must read a policy with notice_days (the "
            f"catalogue's supply_cut_warning), not '{policy}'", item.line_of("policy"))
        ok = False
    return Step(action, days, channel, policy, at) if ok else None


def classes_of(strategy: Strategy) -> tuple[str, ...]:
    """The customer classes a strategy can be chosen for."""
    return tuple(k for k in _CLASSES
                 if all(_meets(c, k) for c in strategy.when if c.field == "customer_class"))


def _check_legal(s: Strategy, catalogue: Catalogue, err: _Errors) -> None:
    """Refuse a strategy that would schedule a cut earlier than the law allows."""
    warning: Step | None = None
    notice: Step | None = None
    for step in s.steps:
        if step.action == "default_liability_notice" and notice is None:
            notice = step
        if step.action == "supply_cut_warning":
            if notice is None:
                err(f"strategy '{s.id}': a supply_cut_warning needs an earlier "
                    "default_liability_notice in the same strategy (the law asks for a "
                    "written notice before the warning)", step.line)
            warning = warning or step
        if step.action != "supply_cut_order":
            continue
        if warning is None:
            err(f"strategy '{s.id}': a supply_cut_order needs an earlier supply_cut_warning "
                "in the same strategy", step.line)
            continue
        if step.after_days <= LEGAL_OVERDUE_DAYS:
            err(f"strategy '{s.id}': supply_cut_order at after_days {step.after_days}: supply "
                f"may be cut only on a bill overdue more than {LEGAL_OVERDUE_DAYS} days",
                step.line)
        params = catalogue[warning.policy].defaults()
        for klass in classes_of(s):
            need = notice_days(klass, params)
            gap = step.after_days - warning.after_days
            if gap < need:
                err(f"strategy '{s.id}': supply_cut_order {gap} days after the "
                    f"supply_cut_warning (line {warning.line}), but a {klass} customer must "
                    f"have at least {need} days' notice: set after_days to at least "
                    f"{warning.after_days + need}", step.line)
                break


def _examples(raw: Any, line: int, err: _Errors) -> list[tuple[Mapping[str, Any], str, int]]:
    if raw is None:
        err("'examples:' must list at least one example (given: profile, expect: strategy)",
            line)
        return []
    if not isinstance(raw, LocatedList):
        err("'examples:' is a list of {given:, expect: {strategy:}}", line)
        return []
    out = []
    for i, item in enumerate(raw):
        at = raw.line_of(i)
        given = item.get("given") if isinstance(item, dict) else None
        expect = item.get("expect") if isinstance(item, dict) else None
        if not isinstance(given, dict) or not isinstance(expect, dict) or \
                not isinstance(expect.get("strategy"), str):
            err("an example is {given: {field: value}, expect: {strategy: id}}", at)
            continue
        for name in given:
            if name not in PROFILE_FIELDS:
                err(f"example: unknown field '{name}'", at, closest(name, PROFILE_FIELDS))
        out.append((dict(given), expect["strategy"], at))
    return out


def _run_examples(table: StrategyTable, err: _Errors) -> None:
    for given, expected, at in table.examples:
        got = table.choose(given).id
        if got != expected:
            err(f"example expects strategy '{expected}' but '{got}' is chosen", at,
                closest(expected, [s.id for s in table.strategies]))

