"""The per-decision executor: each table compiled to a durable-rules rule set.

How durable-rules is driven (the process-wide lock, one fresh sid per
decision whose state is deleted at once, the catch-all rule that keeps that
deletion safe, numbers sent as ranks) is ``engine.rulehost``'s business;
this module only turns tables into conditions and facts.

Numbers travel to the engine as ranks, not as themselves (YAML writes
0.00001 as ``1e-05``, which durable-rules' parser refuses): each numeric
field of a table is ranked against the thresholds its rules use, which
keeps every comparison exact and every number the engine sees a small
integer.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from engine.conditions import Condition, durable_condition, durable_value
from engine.records import vocabulary
from engine.rulehost import RuleHost, build_definition, rank
from engine.tables.model import Table

__all__ = ["DurableExecutor", "compile_rulesets", "numeric_scales"]


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


def _ranked(c: Condition, scales: Mapping[str, Sequence[float]]) -> Condition:
    scale = scales.get(c.field)
    if scale is None:
        return c
    if isinstance(c.value, tuple):
        return Condition(c.field, c.op, tuple(rank(scale, float(v)) for v in c.value), c.line)
    return Condition(c.field, c.op, rank(scale, float(c.value)), c.line)


def _conditions(tables: Sequence[Table]) -> dict[str, dict[int, dict[str, Any]]]:
    """Per table, per rule index, the durable-rules condition of the rule (numbers ranked)."""
    out: dict[str, dict[int, dict[str, Any]]] = {}
    for t in tables:
        scales = numeric_scales(t)
        out[t.name] = {r.index: durable_condition([_ranked(c, scales) for c in r.when])
                       for r in t.rules}
    return out


def compile_rulesets(tables: Sequence[Table]) -> dict[str, dict[str, Any]]:
    """The durable-rules definition of every table, built from the compiled YAML."""
    return build_definition(_conditions(tables))


class DurableExecutor:
    """Matches one table against one customer's facts through durable-rules."""

    def __init__(self, tables: Sequence[Table]) -> None:
        self._host = RuleHost(_conditions(tables))
        self._scales = {t.name: numeric_scales(t) for t in tables}

    def match(self, table: Table, facts: Mapping[str, Any]) -> list[int]:
        """Indices of the rules of ``table`` whose conditions hold for ``facts``."""
        fact: dict[str, Any] = {}
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
        return sorted({index for index, _ in self._host.fire(table.name, [fact])})
