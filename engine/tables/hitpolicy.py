"""DMN 1.3 hit policies for one decision: which of the matching rules count.

Given the rules of a table that matched one customer's facts (in file order),
``winners`` returns the rules whose outputs apply, or raises
``DecisionError`` when the table broke its own promise (two rules under
``unique``, disagreeing rules under ``any``). The vectorised executor applies
the same semantics with masks; both are held equal by a differential test.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from engine.errors import DecisionError
from engine.tables.model import FieldRef, Rule, Table

__all__ = ["outputs_of", "policy_key", "priority_order", "winners"]


def priority_order(table: Table) -> list[int]:
    """Rule indices from the highest ``priority:`` down; ties keep file order."""
    return sorted(range(len(table.rules)), key=lambda i: (-table.rules[i].priority, i))


def outputs_of(rule: Rule, facts: Mapping[str, Any]) -> dict[str, Any]:
    """The fields a rule sets, with ``{from: field}`` values resolved against the facts."""
    return {name: (facts.get(v.field) if isinstance(v, FieldRef) else v)
            for name, v in rule.sets}


def _names(rules: Sequence[Rule]) -> str:
    return ", ".join(f"'{r.id}' ({r.location})" for r in rules)


def winners(table: Table, matched: Sequence[int], facts: Mapping[str, Any],
            who: str = "") -> list[Rule]:
    """The rules of ``table`` that apply, given the indices of those that matched."""
    rules = [table.rules[i] for i in sorted(matched)]
    if not rules:
        return []
    hit = table.hit_policy
    if hit in ("collect", "rule_order"):
        return rules
    if hit == "first":
        return rules[:1]
    if hit == "priority":
        rank = {i: k for k, i in enumerate(priority_order(table))}
        return [min(rules, key=lambda r: rank[r.index])]
    if hit == "unique":
        if len(rules) > 1:
            raise DecisionError(f"table '{table.name}' (hit policy unique){who}: several rules "
                                f"match: {_names(rules)}; make their conditions exclusive")
        return rules
    first = rules[0]
    ref = (outputs_of(first, facts), policy_key(first))
    for other in rules[1:]:
        if (outputs_of(other, facts), policy_key(other)) != ref:
            raise DecisionError(f"table '{table.name}' (hit policy any){who}: matching rules "
                                f"disagree: {_names([first, other])}; give them the same "
                                "outputs or use first/priority")
    return rules


def policy_key(rule: Rule) -> tuple:
    return tuple((p.policy_id, tuple(sorted(p.merged.items()))) for p in rule.policies)
