"""Assembling one Decision: facts, score and table result into the document an auditor reads.

The decision is written once, as plain JSON data in the shape
``Decision.model_dump(mode="json")`` gives (lists for tuples, ``None`` for
NaN in free-form values, empty ``events`` and ``grants`` left out), then
validated into the frozen model in one pydantic call and sealed over that
same data (``Decision.seal_data``). So one decision costs one validation and
one canonical-JSON hash, and the JSON the log stores and the service answers
is the data it was hashed over; ``tests/test_decisions.py`` holds the data equal to the model's
own dump.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from engine import __version__
from engine.decision import PolicyOutcome, RuleFired
from engine.errors import DecisionError
from engine.scale import Band
from engine.tables.model import TableResult

__all__ = ["SEGMENTS", "Fragments", "band_of", "decision_data", "inputs_data", "json_value",
           "score_data", "table_data"]

SEGMENTS = ("consumption_class", "outage_sensitivity", "service_sensitivity", "value_tier")


_PLAIN = frozenset({str, int, bool, type(None)})


def json_value(value: Any) -> Any:
    """A value as ``model_dump(mode="json")`` writes a free-form (``Any``) field."""
    kind = type(value)
    if kind in _PLAIN:
        return value
    if kind is float:
        return None if value != value or value in (float("inf"), float("-inf")) else value
    if isinstance(value, np.generic):
        return json_value(value.item())
    if value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, pd.Timestamp):
        return value.date().isoformat()
    if isinstance(value, tuple | list):
        return [json_value(v) for v in value]
    if isinstance(value, dict):
        return {k: json_value(v) for k, v in value.items()}
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return value


def band_of(pd_value: float, bands: Sequence[Band]) -> str:
    """The master-scale grade of a PD, as ``engine.scale.assign`` finds it, without numpy."""
    inner = [b.lo for b in bands[1:]]
    return bands[bisect.bisect_right(inner, pd_value)].grade


def _params(params: Mapping[str, Any]) -> dict[str, Any]:
    return {k: json_value(v) for k, v in params.items()}


class Fragments:
    """Trace entries and policy grants, as JSON and as models, built once per hit and reused.

    The compiled executor hands out the same ``RuleHit`` and ``PolicyHit``
    objects for every customer a rule fires for, so their JSON (with the rule
    file shown relative to the project home) and their validated, frozen
    ``RuleFired`` / ``PolicyOutcome`` models are made once; a decision takes
    the models as they are instead of validating the same entries again.
    Entries are keyed by the hit object itself (identity, kept alive by the
    entry), and the cache empties itself at ``LIMIT`` entries, so hits made
    afresh per call (the durable executor's) never grow it without bound.
    """

    LIMIT = 4096

    def __init__(self, display: Callable[[str], str]) -> None:
        self.display = display
        self._seen: dict[int, tuple[Any, dict[str, Any], Any]] = {}

    def _kept(self, hit: Any, build: Callable[[], dict[str, Any]], model: Any
              ) -> tuple[dict[str, Any], Any]:
        found = self._seen.get(id(hit))
        if found is not None and found[0] is hit:
            return found[1], found[2]
        entry = build()
        if len(self._seen) >= self.LIMIT:
            self._seen.clear()
        kept = (hit, entry, model.model_validate(entry))
        self._seen[id(hit)] = kept
        return kept[1], kept[2]

    def trace(self, h: Any) -> tuple[dict[str, Any], RuleFired]:
        return self._kept(h, lambda: {
            "table": h.table, "rule_id": h.rule_id, "file": self.display(h.file),
            "line": h.line, "description": h.description, "source": h.source or None,
            "sets": {k: v if type(v) in _PLAIN else json_value(v) for k, v in h.sets.items()}},
            RuleFired)

    def policy(self, p: Any, description: str) -> tuple[dict[str, Any], PolicyOutcome]:
        entry, model = self._kept(p, lambda: _policy(p, self.display, description),
                                  PolicyOutcome)
        if entry["description"] != description:
            entry = _policy(p, self.display, description)
            model = PolicyOutcome.model_validate(entry)
        return entry, model


def decision_data(facts: Mapping[str, Any], score: Any, result: TableResult, *,
                  decision_id: str, model: Any, bands: Sequence[Band],
                  band_rules: frozenset[tuple[str, str]], fragments: Fragments,
                  tables: Any, rules_dir: Any, challenger: Mapping[str, Any] | None = None
                  ) -> tuple[dict[str, Any], dict[str, Any]]:
    """One customer's decision as JSON data, in field order, without timings and digest.

    Also returns the trace and policies as ready models, for ``Decision.seal_data``.
    ``challenger`` is the shadow score of the segment's challenger model
    (``model_id``, ``model_sha256``, ``z``, ``pd``, ``grade``): recorded with
    ``used: false``, it takes no part in the grade or the policies.
    """
    part, models = table_data(facts, result, band_of(facts["pd"], bands),
                              band_rules=band_rules, fragments=fragments, rules_dir=rules_dir)
    return {
        "decision_id": decision_id,
        "customer_id": facts["customer_id"],
        "customer_class": facts["customer_class"],
        "as_of": facts["as_of"],
        "inputs": inputs_data(facts),
        "score": score_data(model, score.z, score.pd,
                            [(r.indicator, r.group, r.value, r.contribution, r.description)
                             for r in score.reasons]),
        "grade": part["grade"],
        "segments": part["segments"],
        "policies": part["policies"],
        "trace": part["trace"],
        "tables": {"version": tables.version, "versions": dict(tables.versions),
                   "content_hash": tables.content_hash},
        "timings_ms": {},
        "engine_version": __version__,
        **({"challenger": {**challenger, "used": False}} if challenger else {}),
    }, models


def inputs_data(facts: Mapping[str, Any]) -> dict[str, Any]:
    """The decision's ``inputs``: every fact the tables saw, as JSON values."""
    return {k: v if type(v) in _PLAIN or (type(v) is float and v - v == 0.0)
            else json_value(v) for k, v in facts.items()}


def score_data(model: Any, z: float, pd_value: float,
               reasons: Sequence[tuple[Any, ...]]) -> dict[str, Any]:
    """The decision's ``score``; ``reasons`` as (indicator, group, value, contribution,
    description)."""
    return {
        "model_id": model.model_id, "model_sha256": model.sha256,
        "z": float(z), "pd": float(pd_value),
        "reasons": [{"indicator": name, "group": group, "value": json_value(value),
                     "contribution": float(contribution), "description": description}
                    for name, group, value, contribution, description in reasons],
    }


def table_data(facts: Mapping[str, Any], result: TableResult, band_grade: str, *,
               band_rules: frozenset[tuple[str, str]], fragments: Fragments, rules_dir: Any
               ) -> tuple[dict[str, Any], dict[str, Any]]:
    """The parts of a decision the tables decide -- ``grade``, ``segments``, ``policies``,
    ``trace`` -- as JSON data, and the policies and trace as ready models."""
    grade_hit = next((h for h in result.fired if "grade" in h.sets), None)
    if grade_hit is None:
        raise DecisionError(
            f"no grade rule fired for customer {facts['customer_id']!r} "
            f"(pd {facts['pd']:.6f}): run 'gridcredit rules check' on {rules_dir}"
        )
    is_band = (grade_hit.table, grade_hit.rule_id) in band_rules
    descriptions = {(h.table, h.rule_id): h.description for h in result.fired}
    policies = [fragments.policy(p, descriptions.get((p.table, p.rule_id), ""))
                for p in result.policies]
    trace = [fragments.trace(h) for h in result.fired]
    return {
        "grade": {
            "grade": str(result.outputs["grade"]), "band_grade": band_grade,
            "rule_id": grade_hit.rule_id, "override": None if is_band else grade_hit.rule_id,
            "file": fragments.display(grade_hit.file), "line": grade_hit.line,
            "description": grade_hit.description, "source": grade_hit.source or None,
        },
        "segments": {k: json_value(result.outputs.get(k)) for k in SEGMENTS},
        "policies": [j for j, _ in policies],
        "trace": [j for j, _ in trace],
    }, {"policies": [m for _, m in policies], "trace": [m for _, m in trace]}


def _policy(p: Any, display: Callable[[str], str], description: str) -> dict[str, Any]:
    policy = {"policy_id": p.policy_id, "params": _params(p.params), "rule_id": p.rule_id,
              "table": p.table, "file": display(p.file), "line": p.line,
              "source": p.source or None, "description": description}
    if p.grants:
        policy["grants"] = [{"rule_id": g.rule_id, "table": g.table, "file": display(g.file),
                             "line": g.line, "params": _params(g.params)} for g in p.grants]
    return policy
