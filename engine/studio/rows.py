"""A table's rules and examples as rows of notation cells, shared by the grid and the workbook.

One rule is one row: its rule columns (``id``, ``description``, ``source`` and,
when the table uses it, ``priority``), one condition per input and then its
outputs or its policies. One example is one row: its description, one cell per
``given`` field and one per ``expect`` field, in first-seen order.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from engine.studio.notation import (
    ABSENT,
    format_condition,
    format_output,
    format_policies,
    format_value,
)

__all__ = ["RULE_COLUMNS", "example_columns", "example_row", "rule_columns", "rule_row"]

RULE_COLUMNS = ("id", "description", "source", "priority")


def rule_columns(doc: Mapping[str, Any]) -> list[str]:
    """The rule columns a table shows: ``priority`` only when a rule or the hit policy uses it."""
    rules = doc.get("rules") if isinstance(doc.get("rules"), list) else []
    priority = any(isinstance(r, Mapping) and "priority" in r for r in rules) \
        or doc.get("hit_policy") == "priority"
    return [c for c in RULE_COLUMNS if c != "priority" or priority]


def rule_row(rule: Mapping[str, Any], rule_cols: list[str], inputs: list[str],
             outputs: list[str]) -> list[str]:
    """One rule as grid cells: rule columns, one condition per input, the outputs."""
    when = rule.get("when") or {}
    then = rule.get("then", ABSENT)
    cells = []
    for c in rule_cols:
        value = rule.get(c, ABSENT)
        cells.append("" if value is ABSENT else format_value(value) if c == "priority"
                     else str(value))
    cells += [format_condition(when.get(i, ABSENT)) if isinstance(when, Mapping) else ""
              for i in inputs]
    if outputs == ["policy"]:
        cells.append(format_policies(then))
    else:
        cells += [format_output(then.get(o, ABSENT)) if isinstance(then, Mapping) else ""
                  for o in outputs]
    return cells


def example_columns(examples: list[Any]) -> tuple[list[str], list[str]]:
    """The ``given`` and the ``expect`` fields the examples use, in first-seen order."""
    given: dict[str, None] = {}
    expect: dict[str, None] = {}
    for ex in examples:
        given.update(dict.fromkeys(ex.get("given") or {}))
        expect.update(dict.fromkeys(ex.get("expect") or {}))
    return list(given), list(expect)


def example_row(ex: Mapping[str, Any], given: list[str], expect: list[str]) -> list[str]:
    """One example as cells: its description, then each given and each expected value."""
    g, e = ex.get("given") or {}, ex.get("expect") or {}
    return [str(ex.get("description", "")),
            *(format_value(g[k]) if k in g else "" for k in given),
            *(format_value(e[k]) if k in e else "" for k in expect)]
