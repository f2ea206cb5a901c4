"""A loaded, immutable set of decision tables and the three ways to run it.

``TableSet.decide`` runs one customer's facts through the compiled matchers
(the default: service, CLI, event-fed decisions) or through durable-rules
(``executor="durable"``, the reference); ``TableSet.decide_frame`` runs a
whole population through numpy masks (batch, impact analysis, static
checks). All three build their results from the same rules with the same
hit-policy semantics, and ``row_result`` turns a row of the batch result back
into the ``TableResult`` the per-decision path gives, so the three can be
compared exactly.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from engine.config import EXECUTORS, check_executor
from engine.errors import YamlFileError
from engine.policies import Catalogue
from engine.scale import Band, master_scale
from engine.tables.compiled import CompiledExecutor
from engine.tables.durable import DurableExecutor
from engine.tables.hitpolicy import outputs_of, winners
from engine.tables.loader import build, is_table_document
from engine.tables.model import (
    POLICY_OUTPUT,
    PolicyGrant,
    PolicyHit,
    Rule,
    RuleHit,
    Table,
    TableResult,
)
from engine.tables.vectorised import Evaluation, combination_codes, evaluate
from engine.yamlfile import read_yaml

__all__ = ["EXECUTORS", "FIRED_PREFIX", "PolicyGrants", "TableSet", "check_executor",
           "combine_hits", "companion_documents", "load_table_set", "policy_grants"]

FIRED_PREFIX = "fired:"
# The per-decision executors, the default first.
def _policy_hits(table: Table, rule: Rule) -> list[PolicyHit]:
    return [PolicyHit(policy_id=a.policy_id, params=dict(a.merged), rule_id=rule.id,
                      table=table.name, file=rule.file, line=a.line or rule.line,
                      source=rule.source) for a in rule.policies]


def _rule_hit(table: Table, rule: Rule, outputs: Mapping[str, Any]) -> RuleHit:
    if table.adds_policies:
        sets: dict[str, Any] = {POLICY_OUTPUT: tuple(a.policy_id for a in rule.policies)}
    else:
        sets = {name: outputs.get(name) for name, _ in rule.sets}
    return RuleHit(table=table.name, rule_id=rule.id, file=rule.file, line=rule.line,
                   description=rule.description, source=rule.source, sets=sets)


def combine_hits(hits: Sequence[PolicyHit], catalogue: Catalogue) -> tuple[PolicyHit, ...]:
    """One hit per policy, in the order policies were first granted.

    A policy several rules grant keeps the first rule's id and location, takes
    params combined per the catalogue's ``combine:`` of each param, and lists
    every granting rule with its own params in ``grants``.
    """
    by_policy: dict[str, list[PolicyHit]] = {}
    for h in hits:
        by_policy.setdefault(h.policy_id, []).append(h)
    out = []
    for pid, group in by_policy.items():
        if len(group) == 1:
            out.append(group[0])
            continue
        grants = tuple(PolicyGrant(rule_id=h.rule_id, table=h.table, file=h.file, line=h.line,
                                   params=dict(h.params)) for h in group)
        out.append(dataclasses.replace(
            group[0], params=catalogue.combine(pid, [h.params for h in group]), grants=grants))
    return tuple(out)


@dataclass(frozen=True)
class PolicyGrants:
    """Which policy-granting rules count for each row of a vectorised evaluation.

    Rows are grouped by the combination of granting rules that count for
    them: row ``i`` has the rules ``combos[inverse[i]]`` (positions into
    ``rules``, in execution order). Everything about policies per row -- the
    list of ids, the combined hits, who receives a policy -- is derived here,
    once per distinct combination, never once per row.
    """

    rules: tuple[tuple[Table, Rule], ...]
    inverse: np.ndarray
    combos: tuple[tuple[int, ...], ...]
    catalogue: Catalogue

    def hits(self) -> list[tuple[PolicyHit, ...]]:
        """Per combination, one hit per policy with params combined (``combine_hits``)."""
        return [combine_hits([h for i in combo for h in _policy_hits(*self.rules[i])],
                             self.catalogue) for combo in self.combos]

    def ids(self) -> list[tuple[str, ...]]:
        """Per combination, the policy ids in the order they were first granted."""
        return [tuple(dict.fromkeys(a.policy_id for i in combo for a in self.rules[i][1].policies))
                for combo in self.combos]

    def receives(self) -> dict[str, np.ndarray]:
        """Per policy granted anywhere, the rows that receive it."""
        out: dict[str, np.ndarray] = {}
        for code, ids in enumerate(self.ids()):
            for pid in ids:
                out.setdefault(pid, np.zeros(len(self.combos), dtype=bool))[code] = True
        return {pid: member[self.inverse] for pid, member in out.items()}


def policy_grants(ev: Evaluation, catalogue: Catalogue) -> PolicyGrants:
    """The policy grants of an evaluation: the one place policy lists come from rule masks."""
    rules: list[tuple[Table, Rule]] = []
    masks: list[np.ndarray] = []
    for t in ev.tables:
        for r in t.rules:
            if r.policies:
                rules.append((t, r))
                masks.append(ev.rule_effective(t, r.index))
    stacked = np.vstack(masks) if masks else np.zeros((0, len(ev.index)), dtype=bool)
    inverse, combos = combination_codes(stacked)
    return PolicyGrants(tuple(rules), inverse, tuple(combos), catalogue)


def _null(value: Any) -> Any:
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, float) and value != value:
        return None
    if isinstance(value, np.generic):
        return value.item()
    return value


@dataclass(frozen=True)
class TableSet:
    """Decision tables in execution order, with their versions and content hash."""

    tables: tuple[Table, ...]
    catalogue: Catalogue
    versions: Mapping[str, str]
    version: str
    content_hash: str
    _durable: DurableExecutor = field(repr=False, compare=False, default=None)  # type: ignore
    _compiled: CompiledExecutor = field(repr=False, compare=False, default=None)  # type: ignore

    @classmethod
    def build(cls, tables: Sequence[Table], catalogue: Catalogue,
              companions: Mapping[str, Any] | None = None) -> TableSet:
        """Assemble a set from tables already checked and in execution order.

        The content hash covers the tables, the catalogue (with its templates)
        and ``companions``: the other rule files of the folder (the event
        rules) by file name, as parsed, so a change to anything that decides or
        explains is a new hash.
        """
        canonical = json.dumps({"tables": sorted((dict(t.canonical) for t in tables),
                                                 key=lambda c: json.dumps(c, sort_keys=True)),
                                "catalogue": catalogue.content_hash,
                                **({"companions": dict(companions)} if companions else {})},
                               sort_keys=True, separators=(",", ":"), default=str)
        versions = {t.name: t.version for t in tables}
        return cls(tables=tuple(tables), catalogue=catalogue,
                   versions=dict(versions),
                   version="+".join(sorted(set(versions.values()))),
                   content_hash=hashlib.sha256(canonical.encode()).hexdigest(),
                   _durable=DurableExecutor(tables), _compiled=CompiledExecutor(tables))

    @functools.cached_property
    def scale(self) -> tuple[Band, ...]:
        """The master scale drawn by the grade table's band rules, or ``TableError``."""
        return master_scale(self.tables)

    @property
    def outputs(self) -> tuple[str, ...]:
        """Fields the tables set, in execution order."""
        return tuple(o for t in self.tables if not t.adds_policies for o in t.outputs)

    @property
    def compiled(self) -> CompiledExecutor:
        """The compiled matchers; ``compiled.problems`` names any rule they cannot express."""
        return self._compiled

    def table(self, name: str) -> Table:
        for t in self.tables:
            if t.name == name:
                return t
        raise KeyError(name)

    # ------------------------------------------------------------------ per decision

    def decide(self, facts: Mapping[str, Any], tables: Sequence[Table] | None = None,
               *, executor: str = "compiled") -> TableResult:
        """Run one customer's facts through every table (or ``tables``, in their order).

        ``executor`` is ``"compiled"`` (plain-Python matchers) or ``"durable"``
        (durable-rules, the reference); both give equal results.
        """
        chosen = tables if tables is not None else self.tables
        if executor == "compiled":
            outputs, hits, fired = self._compiled.run(chosen, facts)
            return TableResult(outputs=outputs, policies=combine_hits(hits, self.catalogue),
                               fired=tuple(fired),
                               version=self.version, content_hash=self.content_hash)
        check_executor(executor)
        current = {k: _null(v) for k, v in facts.items()}
        who = f" for customer {current['customer_id']!r}" if current.get("customer_id") else ""
        outputs = {}
        fired = []
        hits = []
        for t in chosen:
            matched = self._durable.match(t, current)
            won = winners(t, matched, current, who)
            if not t.adds_policies:
                values = outputs_of(won[0], current) if won else {}
                for name in t.outputs:
                    outputs[name] = _null(values.get(name))
                    current[name] = outputs[name]
            for r in won:
                fired.append(_rule_hit(t, r, outputs))
                hits += _policy_hits(t, r)
        return TableResult(outputs=outputs, policies=combine_hits(hits, self.catalogue),
                           fired=tuple(fired), version=self.version, content_hash=self.content_hash)

    # ------------------------------------------------------------------ per population

    def decide_frame(self, frame: pd.DataFrame, tables: Sequence[Table] | None = None
                     ) -> pd.DataFrame:
        """Run a whole frame through every table (vectorised executor).

        Returns, on the frame's index: one column per field the tables set,
        ``policies`` (tuple of policy ids per row), ``policy_hits`` (tuple of
        ``PolicyHit``) and ``fired:<table>`` (tuple of rule ids) per table.
        """
        chosen = list(tables) if tables is not None else list(self.tables)
        return self.columns_of(evaluate(chosen, frame))

    def columns_of(self, ev: Evaluation) -> pd.DataFrame:
        """``decide_frame``'s columns from an evaluation already made over the frame."""
        index = ev.index
        out: dict[str, Any] = {name: pd.Series(arr, index=index, dtype=object)
                               for name, arr in ev.outputs.items()}
        for t in ev.tables:
            inverse, combos = combination_codes(ev.effective[t.name])
            ids = np.empty(len(combos), dtype=object)
            ids[:] = [tuple(t.rules[i].id for i in combo) for combo in combos]
            out[FIRED_PREFIX + t.name] = pd.Series(ids[inverse], index=index, dtype=object)
        grants = policy_grants(ev, self.catalogue)
        hit_tuples = np.empty(len(grants.combos), dtype=object)
        hit_tuples[:] = grants.hits()
        id_tuples = np.empty(len(grants.combos), dtype=object)
        id_tuples[:] = [tuple(h.policy_id for h in hits) for hits in hit_tuples]
        out["policies"] = pd.Series(id_tuples[grants.inverse], index=index, dtype=object)
        out["policy_hits"] = pd.Series(hit_tuples[grants.inverse], index=index, dtype=object)
        return pd.DataFrame(out, index=index)

    def row_result(self, decided: pd.DataFrame, position: int,
                   tables: Sequence[Table] | None = None) -> TableResult:
        """The ``TableResult`` of one row of ``decide_frame``'s result (by position)."""
        row = decided.iloc[position]
        chosen = list(tables) if tables is not None else list(self.tables)
        outputs = {name: _null(row[name]) for t in chosen if not t.adds_policies
                   for name in t.outputs}
        fired = []
        for t in chosen:
            by_id = {r.id: r for r in t.rules}
            for rid in row[FIRED_PREFIX + t.name]:
                fired.append(_rule_hit(t, by_id[rid], outputs))
        return TableResult(outputs=outputs, policies=tuple(row["policy_hits"]),
                           fired=tuple(fired), version=self.version,
                           content_hash=self.content_hash)


def load_table_set(rules_dir: str | Path, catalogue: Catalogue) -> TableSet:
    """Load every table in ``rules_dir`` as one immutable set, or raise ``TableSetError``.

    ``catalogue`` is the policy catalogue the rules grant from. A folder loads
    as a whole or not at all; nothing already loaded is touched.
    """

    tables = build(Path(rules_dir), catalogue)
    return TableSet.build(tables, catalogue, companion_documents(Path(rules_dir)))


def companion_documents(rules_dir: Path) -> dict[str, Any]:
    """The rule files of a folder that hold no decision tables (the event rules), parsed."""

    out: dict[str, Any] = {}
    for path in sorted(rules_dir.glob("*.y*ml")):
        try:
            doc = read_yaml(path)
        except YamlFileError:
            continue
        if not is_table_document(doc):
            out[path.name] = json.loads(json.dumps(doc, default=str))
    return out
