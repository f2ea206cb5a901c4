"""One decision on the compiled executor, from parts made once per rule outcome.

Most of a decision is fixed by which rules fired: the grade and the rule
behind it, the segments, every policy with its params and file:line, the
trace. ``DecisionParts`` keeps those parts per outcome -- as JSON data, as
ready models and as canonical JSON -- keyed by ``CompiledExecutor.key`` (the
rules each table takes) and the PD's master-scale band. A customer whose
outcome was seen before costs the matching alone; a new outcome runs the
tables in full (``TableSet.decide``, which also finds ``unique`` and ``any``
conflicts) and is kept. Per customer there is then only what is theirs --
id, inputs, score, timings, challenger -- serialised once each, and the
digest is taken over the join of every part's canonical JSON
(``Decision.seal_parts``): the very bytes the whole document serialises to,
so the digest is the one ``Decision.seal_data`` gives.

The cache holds at most ``LIMIT`` outcomes and empties itself when full.
Tables whose outputs copy facts have no fixed outcome: ``plan`` is then
None and ``Engine.decide`` assembles the general way.
"""

from __future__ import annotations

import bisect
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from engine import __version__
from engine.assembly import Fragments, inputs_data, score_data, table_data
from engine.decision import Decision, GradeOutcome, TableVersions, canonical_bytes
from engine.scale import Band
from engine.tables.tableset import TableSet

__all__ = ["DecisionParts", "Outcome"]

_TABLE_MEMBERS = ("grade", "segments", "policies", "trace")


@dataclass(frozen=True)
class Outcome:
    """The parts of a decision the tables fix, in the three forms a decision needs."""

    data: dict[str, Any]
    models: dict[str, Any]
    members: dict[str, bytes]


class DecisionParts:
    """The outcome cache of one engine's tables, and decisions assembled from it."""

    LIMIT = 4096

    def __init__(self, tables: TableSet, bands: Sequence[Band],
                 band_rules: frozenset[tuple[str, str]], fragments: Fragments,
                 rules_dir: Any) -> None:
        self.tables = tables
        self.plan = tables.compiled.plan(tables.tables)
        self.bands = tuple(bands)
        self.inner = [b.lo for b in self.bands[1:]]
        self.band_rules = band_rules
        self.fragments = fragments
        self.rules_dir = rules_dir
        self.versions = {"version": tables.version, "versions": dict(tables.versions),
                         "content_hash": tables.content_hash}
        self.fixed = {"tables": canonical_bytes(self.versions),
                      "engine_version": canonical_bytes(__version__)}
        self.versions_model = TableVersions.model_validate(self.versions)
        self._seen: dict[tuple[Any, ...], Outcome] = {}

    def band_of(self, pd_value: float) -> str:
        """``engine.assembly.band_of`` with the band edges read once."""
        return self.bands[bisect.bisect_right(self.inner, pd_value)].grade

    def outcome(self, facts: Mapping[str, Any]) -> Outcome:
        """The tables' parts of the decision on ``facts`` (z and pd included)."""
        band = self.band_of(facts["pd"])
        key = (self.tables.compiled.key(self.plan, facts), band)
        found = self._seen.get(key)
        if found is not None:
            return found
        result = self.tables.decide(facts, executor="compiled")
        data, models = table_data(facts, result, band, band_rules=self.band_rules,
                                  fragments=self.fragments, rules_dir=self.rules_dir)
        made = Outcome(
            data=data,
            models={"grade": GradeOutcome.model_validate(data["grade"]),
                    "policies": tuple(models["policies"]), "trace": tuple(models["trace"])},
            members={k: canonical_bytes(data[k]) for k in _TABLE_MEMBERS})
        if len(self._seen) >= self.LIMIT:
            self._seen.clear()
        self._seen[key] = made
        return made

    def assemble(self, facts: Mapping[str, Any], outcome: Outcome, *, decision_id: str,
                 model: Any, z: float, pd_value: float, reasons: Sequence[tuple[Any, ...]],
                 challenger: Mapping[str, Any] | None = None, plain: bool = False
                 ) -> tuple[dict[str, Any], dict[str, bytes], dict[str, Any]]:
        """The decision's data (as ``decision_data`` gives it), each member's canonical
        JSON but ``timings_ms``, and the fields given as ready models.

        ``plain`` says the facts are a validated record's (``engine.facts``): JSON values
        already, texts of letters, digits and ``_.:-`` only. Then they are the decision's
        inputs as they are, and orjson writes their texts exactly as ``json.dumps``.
        """
        part = outcome.data
        inputs = facts if plain and z - z == 0.0 and pd_value - pd_value == 0.0 \
            else inputs_data(facts)
        score = score_data(model, z, pd_value, reasons)
        data = {
            "decision_id": decision_id,
            "customer_id": facts["customer_id"],
            "customer_class": facts["customer_class"],
            "as_of": facts["as_of"],
            "inputs": inputs,
            "score": score,
            "grade": part["grade"],
            "segments": part["segments"],
            "policies": part["policies"],
            "trace": part["trace"],
            "tables": self.versions,
            "timings_ms": {},
            "engine_version": __version__,
        }
        members = {**outcome.members, **self.fixed}
        text = orjson.dumps if plain else canonical_bytes
        members["decision_id"] = canonical_bytes(decision_id)
        members["customer_id"] = text(data["customer_id"])
        members["customer_class"] = text(data["customer_class"])
        members["as_of"] = text(data["as_of"])
        members["inputs"] = canonical_bytes(inputs)
        members["score"] = canonical_bytes(score)
        if challenger:
            data["challenger"] = {**challenger, "used": False}
            members["challenger"] = canonical_bytes(data["challenger"])
        return data, members, {**outcome.models, "tables": self.versions_model}

    @staticmethod
    def seal(data: dict[str, Any], members: dict[str, bytes], models: Mapping[str, Any],
             timings: dict[str, float], events: Any = ()) -> Decision:
        """The sealed decision, its timings filled in."""
        data["timings_ms"] = timings
        members["timings_ms"] = canonical_bytes(timings)
        return Decision.seal_parts(data, members, models, events)
