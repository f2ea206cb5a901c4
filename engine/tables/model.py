"""The compiled form of decision tables and the results they produce.

Everything here is frozen: a loaded table set is never changed in place, so a
service can swap a new set in atomically and keep the old one if loading the
new one fails. Both executors (durable-rules per decision, numpy masks per
population) read these same objects, which is what lets a differential test
hold them to identical results.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from engine.conditions import Condition

__all__ = [
    "HIT_POLICIES",
    "Example",
    "FieldRef",
    "PolicyAction",
    "PolicyGrant",
    "PolicyHit",
    "Rule",
    "RuleHit",
    "Table",
    "TableResult",
]

HIT_POLICIES = ("unique", "first", "priority", "any", "collect", "rule_order")
POLICY_OUTPUT = "policy"


@dataclass(frozen=True)
class FieldRef:
    """A set value that copies an input field (``grade: {from: previous_grade}``)."""

    field: str


@dataclass(frozen=True)
class PolicyAction:
    """A policy a rule adds: rule params as written and merged over catalogue defaults."""

    policy_id: str
    params: Mapping[str, Any]
    merged: Mapping[str, Any]
    line: int = 0


@dataclass(frozen=True)
class Rule:
    """One row of a decision table."""

    id: str
    description: str
    source: str
    when: tuple[Condition, ...]
    sets: tuple[tuple[str, Any], ...]
    policies: tuple[PolicyAction, ...]
    priority: int
    file: str
    line: int
    index: int

    @property
    def location(self) -> str:
        return f"{self.file}:{self.line}"


@dataclass(frozen=True)
class Example:
    """A test case a table carries: facts given, outputs expected."""

    given: Mapping[str, Any]
    expect: Mapping[str, Any]
    line: int
    description: str = ""


@dataclass(frozen=True)
class Table:
    """A decision table: hit policy, declared inputs and outputs, rules in file order."""

    name: str
    version: str
    hit_policy: str
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]
    rules: tuple[Rule, ...]
    examples: tuple[Example, ...]
    file: str
    line: int
    description: str = ""
    canonical: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @property
    def adds_policies(self) -> bool:
        return self.outputs == (POLICY_OUTPUT,)

    @property
    def reads(self) -> tuple[str, ...]:
        """Fields the table needs: its inputs and the fields its set values copy."""
        refs = [v.field for r in self.rules for _, v in r.sets if isinstance(v, FieldRef)]
        return tuple(dict.fromkeys((*self.inputs, *refs)))


@dataclass(frozen=True)
class PolicyGrant:
    """One rule's grant of a policy, with the params that rule gives (merged over defaults)."""

    rule_id: str
    table: str
    file: str
    line: int
    params: Mapping[str, Any]


@dataclass(frozen=True)
class PolicyHit:
    """A policy a customer receives, with its params and the rule that gave it.

    When several rules grant the policy, ``rule_id`` and the location are the
    first granting rule's, ``params`` are combined as the catalogue declares
    per parameter, and ``grants`` lists every granting rule with its own params
    (empty when one rule alone granted it).
    """

    policy_id: str
    params: Mapping[str, Any]
    rule_id: str
    table: str
    file: str
    line: int
    source: str
    grants: tuple[PolicyGrant, ...] = ()


@dataclass(frozen=True)
class RuleHit:
    """A rule that fired, where it is written, and the outputs it set."""

    table: str
    rule_id: str
    file: str
    line: int
    description: str
    source: str
    sets: Mapping[str, Any]


@dataclass(frozen=True)
class TableResult:
    """What the tables decided for one customer, with the trace an auditor reads."""

    outputs: Mapping[str, Any]
    policies: tuple[PolicyHit, ...]
    fired: tuple[RuleHit, ...]
    version: str = ""
    content_hash: str = ""

    @property
    def policy_ids(self) -> tuple[str, ...]:
        return tuple(p.policy_id for p in self.policies)
