"""Event rules: ``rules/events.yaml`` read with file:line errors and compiled to durable-rules.

A rule reads one kind of *fact* that the processor derives from a customer's
stored events (``FACTS`` lists the kinds and their fields), tests it with
threshold conditions and raises outcomes. Rules never join two events: the
deltas a join would compute (days between an overdue bill and its repayment,
overdue bills in a window) are computed in Python and sent as plain fields,
because two rules sharing a first pattern with inequality joins crash
durable-rules 2.0.28.

Numbers reach the engine as integers in fixed units (days as seconds, money
as cents), which keeps every comparison exact and avoids the exponent
notation durable-rules' parser refuses. The host, its lock, the sessions and
the catch-all rule that keeps deleting them safe are ``engine.rulehost``'s,
shared with the decision tables.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from engine.conditions import Condition, durable_condition, parse_condition
from engine.errors import ConfigError, ConfigErrors, closest
from engine.records import FieldSpec
from engine.rulehost import LOCK, RuleHost, build_definition, rank
from engine.yamlfile import LocatedList, LocatedMap, read_yaml

__all__ = [
    "FACTS",
    "FACT_FIELDS",
    "OUTCOMES",
    "EventRule",
    "EventRules",
    "RuleMatcher",
    "compile_rulesets",
    "load_event_rules",
]

RULESET = "events"
KIND = "kind"

# Unit of each fact field, and its scale to the integer the engine sees.
_SCALE = {"days": 86_400, "money": 100, "count": 1}
FACTS: dict[str, dict[str, str]] = {
    "repayment": {"days_after_overdue": "days", "days_after_due": "days", "outstanding": "money",
                  "penalty": "money", "amount": "money"},
    "overdue_history": {"overdue_in_window": "count", "days_since_last_overdue": "days"},
    "theft_finding": {"days_since": "days"},
    "agreement_broken": {"days_since": "days"},
}
OUTCOMES = ("rebate_earned", "credit_improvement", "habitual_defaulter", "theft_override",
            "agreement_regrade")
_UNITS = {"days": "days", "money": "yuan", "count": "events"}
#: Each fact field as the condition language sees it: a number in its unit.
FACT_FIELDS: dict[str, dict[str, FieldSpec]] = {
    kind: {name: FieldSpec(name, "event fact", "float", _UNITS[unit], f"{kind} fact field")
           for name, unit in fields.items()}
    for kind, fields in FACTS.items()}
_ANY_NUMBER = FieldSpec("value", "event fact", "float", "", "")
_KEYS = {"id", "description", "source", "reads", "when", "outcomes", "lasts_days", "window_days",
         "rebate", "grade"}
_GRADES = ("AAA", "AA", "A", "B", "C")


@dataclass(frozen=True)
class EventRule:
    """One compiled event rule; ``when`` holds its conditions, values in the YAML's unit."""

    index: int
    id: str
    description: str
    source: str
    on: str
    when: tuple[Condition, ...]
    outcomes: tuple[str, ...]
    lasts_days: float
    line: int
    window_days: float | None = None
    rebate_share: float = 0.0
    rebate_cap: float = 0.0
    grade: str | None = None


@dataclass(frozen=True)
class EventRules:
    """The whole rule file: limits and rules, with the file they came from."""

    file: str
    version: str
    rules: tuple[EventRule, ...]
    future_tolerance_s: float = 86_400.0
    late_tolerance_s: float = 7 * 86_400.0
    lookback_days: float = field(default=0.0)

    def by_kind(self, on: str) -> list[EventRule]:
        return [r for r in self.rules if r.on == on]

    def window_days(self, on: str, default: float) -> float:
        """The counting window of the first rule reading ``on`` (its YAML ``window_days``)."""
        return next((r.window_days for r in self.by_kind(on) if r.window_days), default)


def load_event_rules(path: str | Path) -> EventRules:
    """Read and check the rule file; raise ``ConfigError`` naming file:line and the fix.

    Every problem of the file is reported at once (``ConfigErrors.errors``).
    A project's event rules are ``EngineConfig.event_rules`` (``rules/events.yaml``
    under its home).
    """
    path = Path(path)
    return parse_event_rules(read_yaml(path), str(path))


class _Problems:
    """The problems found in one rule file, each a ``ConfigError`` at its line."""

    def __init__(self, file: str) -> None:
        self.file = file
        self.errors: list[ConfigError] = []

    def __call__(self, message: str, line: int | None, suggestion: str | None = None) -> None:
        self.errors.append(ConfigError(message, file=self.file, line=line,
                                       suggestion=suggestion))

    def raise_any(self) -> None:
        if len(self.errors) == 1:
            raise self.errors[0]
        if self.errors:
            raise ConfigErrors(self.errors)


def parse_event_rules(doc: Any, file: str) -> EventRules:
    """Check a parsed rule document (from ``read_yaml``) and compile it."""
    fail = _Problems(file)
    if not isinstance(doc, LocatedMap):
        fail("the file must be a mapping with version:, limits: and rules:", 1)
        fail.raise_any()
    _unknown(doc, {"version", "limits", "rules"}, fail)
    version = doc.get("version")
    if not isinstance(version, str) or not version:
        fail("version: must be a quoted text such as \"2026.12.0\"", doc.line_of("version"))
    limits = doc.get("limits") or LocatedMap()
    future_h, late_d = 24.0, 7.0
    if isinstance(limits, LocatedMap):
        _unknown(limits, {"future_tolerance_hours", "late_tolerance_days"}, fail)
        future_h = _number(limits, "future_tolerance_hours", 24.0, fail, lo=0)
        late_d = _number(limits, "late_tolerance_days", 7.0, fail, lo=0)
    else:
        fail("limits: must be a mapping", doc.line_of("limits"))
    raw_rules = doc.get("rules")
    if not isinstance(raw_rules, LocatedList) or not raw_rules:
        fail("rules: must be a non-empty list of rules", doc.line_of("rules"))
        raw_rules = LocatedList()
    rules: list[EventRule] = []
    seen: dict[str, int] = {}
    for i, raw in enumerate(raw_rules):
        line = raw_rules.line_of(i)
        if not isinstance(raw, LocatedMap):
            fail("a rule must be a mapping with id:, reads:, outcomes: and lasts_days:", line)
            continue
        rule = _rule(len(rules), raw, fail)
        if rule is None:
            continue
        if rule.id in seen:
            fail(f"rule id '{rule.id}' is used twice (first at line {seen[rule.id]})",
                 raw.line_of("id"))
        seen[rule.id] = rule.line
        rules.append(rule)
    fail.raise_any()
    lookback = max((r.lasts_days + (r.window_days or 0.0) for r in rules), default=0.0)
    lookback = max([lookback] + [v for r in rules for c in r.when for v in _values(c)
                                 if FACTS[r.on][c.field] == "days"])
    return EventRules(file=file, version=str(version), rules=tuple(rules),
                      future_tolerance_s=(future_h or 0.0) * 3600.0,
                      late_tolerance_s=(late_d or 0.0) * 86_400.0, lookback_days=lookback)


def _unknown(node: LocatedMap, allowed: set[str], fail: _Problems) -> None:
    for key in node:
        if key not in allowed:
            fail(f"unknown key '{key}'", node.line_of(key), closest(key, sorted(allowed)))


def _number(node: LocatedMap, key: str, default: float | None, fail: _Problems, *,
            lo: float = 0, hi: float | None = None, strict_lo: bool = False,
            where: str = "") -> float | None:
    value = node.get(key, default)
    if value is None:
        fail(f"{where}'{key}' is required", node.line)
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or value != value:
        fail(f"{where}'{key}' must be a number, not {value!r}", node.line_of(key))
        return None
    if value < lo or (strict_lo and value == lo) or (hi is not None and value > hi):
        bound = f"above {lo:g}" if strict_lo else f"at least {lo:g}"
        upper = f" and at most {hi:g}" if hi is not None else ""
        fail(f"{where}'{key}' = {value!r} must be {bound}{upper}", node.line_of(key))
        return None
    return float(value)


def _conditions(rid: str, on: str | None, raw: LocatedMap, fail: _Problems
                ) -> list[Condition]:
    """The rule's ``when``, in the tables' condition language over the fact's fields."""
    when_raw = raw.get("when") or LocatedMap()
    if not isinstance(when_raw, dict):
        fail(f"rule '{rid}': when: must map fields to conditions", raw.line_of("when"))
        return []

    def report(message: str, line: int, hint: str | None) -> None:
        fail(f"rule '{rid}': {message}", line, hint)

    when: list[Condition] = []
    for name, cond in when_raw.items():
        at = when_raw.line_of(name) if isinstance(when_raw, LocatedMap) else raw.line
        spec = FACT_FIELDS[on].get(name) if on is not None else None
        if on is not None and spec is None:
            fail(f"rule '{rid}': a {on} fact has no field '{name}': use one of "
                 + ", ".join(FACTS[on]), at, closest(name, FACTS[on]))
        key_line = when_raw[name].line_of if isinstance(when_raw[name], LocatedMap) else None
        parsed = parse_condition(spec or _ANY_NUMBER, cond, at, report, key_line)
        if spec is not None:
            when.extend(parsed)
    return when


def _rule(index: int, raw: LocatedMap, fail: _Problems) -> EventRule | None:
    """One rule, or None when it has problems (each reported through ``fail``)."""
    before = len(fail.errors)
    _unknown(raw, _KEYS, fail)
    rid = raw.get("id")
    if not isinstance(rid, str) or not rid:
        fail("a rule needs an id: (text)", raw.line)
        rid = f"#{index + 1}"
    on = raw.get("reads")
    if on not in FACTS:
        fail(f"rule '{rid}': reads: {on!r} is not a fact kind: use one of "
             + ", ".join(FACTS), raw.line_of("reads"), closest(on, FACTS))
        on = None
    when = _conditions(rid, on, raw, fail)
    outcomes = raw.get("outcomes")
    if not isinstance(outcomes, list) or not outcomes:
        fail(f"rule '{rid}': outcomes: must list at least one of " + ", ".join(OUTCOMES),
             raw.line_of("outcomes"))
        outcomes = []
    for o in outcomes:
        if o not in OUTCOMES:
            fail(f"rule '{rid}': unknown outcome {o!r}: use one of " + ", ".join(OUTCOMES),
                 raw.line_of("outcomes"), closest(o, OUTCOMES))
    lasts = _number(raw, "lasts_days", None, fail, lo=0, strict_lo=True, hi=36_500,
                    where=f"rule '{rid}': ")
    window = None
    if "window_days" in raw:
        window = _number(raw, "window_days", None, fail, lo=0, strict_lo=True, hi=36_500,
                         where=f"rule '{rid}': ")
    elif on == "overdue_history":
        fail(f"rule '{rid}': an overdue_history rule needs window_days: (the counting "
             "window, e.g. 365)", raw.line)
    share = cap = 0.0
    if "rebate_earned" in outcomes:
        rebate = raw.get("rebate")  # absent: the catalogue holds the terms
        if rebate is not None and not isinstance(rebate, LocatedMap):
            fail(f"rule '{rid}': an outcome rebate_earned needs rebate: {{share: 0.5, "
                 "cap: 500}", raw.line_of("rebate"))
        elif rebate is not None:
            _unknown(rebate, {"share", "cap"}, fail)
            share = _number(rebate, "share", None, fail, lo=0, hi=1) or 0.0
            cap = _number(rebate, "cap", None, fail, lo=0) or 0.0
        if on is not None and on != "repayment":
            fail(f"rule '{rid}': a rebate is earned on repayment facts, not on {on}",
                 raw.line_of("reads"))
    grade = raw.get("grade")
    if grade is not None and grade not in _GRADES:
        fail(f"rule '{rid}': grade {grade!r} is not one of " + ", ".join(_GRADES),
             raw.line_of("grade"), closest(grade, _GRADES))
    if len(fail.errors) > before or on is None or lasts is None:
        return None
    return EventRule(index=index, id=rid, description=" ".join(str(raw.get("description", ""))
                                                                .split()),
                     source=str(raw.get("source", "")), on=str(on), when=tuple(when),
                     outcomes=tuple(outcomes), lasts_days=lasts, line=raw.line,
                     window_days=window, rebate_share=share, rebate_cap=cap, grade=grade)


def scaled(on: str, name: str, value: float) -> int:
    """A fact value in the engine's integer unit (seconds, cents, counts)."""
    return int(round(value * _SCALE[FACTS[on][name]]))


def _values(c: Condition) -> tuple[float, ...]:
    return tuple(c.value) if isinstance(c.value, tuple) else (c.value,)


def _scaled(on: str, c: Condition) -> Condition:
    values = tuple(scaled(on, c.field, v) for v in _values(c))
    return Condition(c.field, c.op, values if isinstance(c.value, tuple) else values[0], c.line)


def _patterns(rules: EventRules) -> dict[int, dict[str, Any]]:
    """Per rule index, the durable-rules condition of the rule's one fact pattern."""
    return {r.index: durable_condition([_scaled(r.on, c) for c in r.when], {KIND: r.on})
            for r in rules.rules}


def compile_rulesets(rules: EventRules) -> dict[str, dict[str, Any]]:
    """The durable-rules definition of the rule file: one rule set, one rule per YAML rule."""
    return build_definition({RULESET: _patterns(rules)})


class RuleMatcher:
    """Runs one customer's facts through the compiled rules: assert, collect, delete the state.

    The facts of one call share one durable-rules session, deleted before
    the call returns (``engine.rulehost``), so live state never outgrows one
    customer.

    With ``memo=True`` each fact's verdict is remembered by the fact's *shape*:
    its kind and, per field, its rank among the thresholds the rules compare that
    field with (``engine.rulehost.rank``). Every rule reads one fact and compares
    its fields with thresholds, so two facts of one shape satisfy the same rules;
    durable-rules decides each shape once and the stream's millions of facts
    reuse a few hundred verdicts.
    """

    def __init__(self, rules: EventRules, *, memo: bool = False) -> None:
        self.rules = rules
        self._host = RuleHost({RULESET: _patterns(rules)})
        self._memo: dict[tuple[Any, ...], tuple[int, ...]] | None = {} if memo else None
        self._scales = _thresholds(rules)

    @property
    def asserted(self) -> int:
        """Facts asserted into durable-rules so far."""
        return self._host.asserted

    def match(self, facts: Sequence[Mapping[str, Any]]) -> list[tuple[EventRule, int]]:
        """(rule, index into ``facts``) for every rule a fact satisfies, in fact order."""
        if not facts:
            return []
        if self._memo is None:
            return [(self.rules.rules[i], ref) for i, ref in self._host.fire(RULESET, facts)]
        with LOCK:  # the memo is shared by every thread that matches
            memo = self._memo
            keys = [self._shape(f) for f in facts]
            missing = [ref for ref, key in enumerate(keys) if key not in memo]
            if missing:
                if len(memo) > _MEMO_LIMIT:
                    memo.clear()
                verdicts: dict[int, list[int]] = {ref: [] for ref in missing}
                for i, at in self._host.fire(RULESET, [facts[ref] for ref in missing]):
                    verdicts[missing[at]].append(i)
                for ref in missing:
                    memo[keys[ref]] = tuple(sorted(verdicts[ref]))
            return [(self.rules.rules[i], ref) for ref, key in enumerate(keys) for i in memo[key]]

    def _shape(self, fact: Mapping[str, Any]) -> tuple[Any, ...]:
        kind = fact[KIND]
        scales = self._scales.get(kind)
        if scales is None:
            return (kind, *sorted(fact.items()))
        return (kind, *(None if fact.get(name) is None else _rank(scale, fact[name])
                        for name, scale in scales))


_MEMO_LIMIT = 100_000


def _thresholds(rules: EventRules) -> dict[str, list[tuple[str, list[int]]]]:
    """Per fact kind, per field, the sorted integer thresholds the rules compare it with."""
    out: dict[str, list[tuple[str, list[int]]]] = {}
    for kind, fields in FACTS.items():
        out[kind] = [(name, sorted({scaled(kind, name, v) for r in rules.rules if r.on == kind
                                    for c in r.when if c.field == name for v in _values(c)}))
                     for name in fields]
    return out


def _rank(scale: Sequence[int], value: Any) -> Any:
    """A field's place in a fact's shape: its rank if it is a number, else the value itself."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return ("value", value)
    return rank(scale, value)
