"""The frame pipeline: validate -> facts -> score -> tables over a whole frame.

``Engine.decide`` runs these stages for one record; ``run_frame`` runs the
same stages column-wise over a frame, with the vectorised table executor, and
is the one place that does so: batch (``engine.batch.decide``), impact
(``engine.batch.impact``, which scores once with ``score_population`` and
runs two table sets with ``run_tables``) and ``Engine.decide_many`` start
here, and model evaluation and the sensitivity analysis take their scored
population from ``score_population``. Nothing is decided row by row;
per-row objects, where a caller wants them, are built from the columns
afterwards (``TableRun.table_results``, ``Population.score_objects``).

Rows that fail validation come back as rejects (``row``, ``customer_id``,
``field``, ``value``, ``reason``): rows in = rows decided + rows rejected.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from engine.facts import frame_facts
from engine.recordframe import validate_frame
from engine.scoring import TOP_REASONS, ReasonCode, Score
from engine.tables.tableset import PolicyGrants, TableSet, policy_grants
from engine.tables.vectorised import Evaluation, evaluate

if TYPE_CHECKING:
    from engine.decider import Engine
    from engine.scoring import Registry
    from engine.tables.model import TableResult

__all__ = [
    "FrameDecisions",
    "Population",
    "StageClock",
    "TableRun",
    "run_frame",
    "run_tables",
    "score_population",
]


class StageClock:
    """Adds the seconds since the last lap to ``timings[stage]`` (when timings are kept)."""

    def __init__(self, timings: dict[str, float] | None) -> None:
        self.timings = timings
        self.last = time.perf_counter()

    def lap(self, stage: str) -> None:
        now = time.perf_counter()
        if self.timings is not None:
            self.timings[stage] = self.timings.get(stage, 0.0) + now - self.last
        self.last = now


@dataclass(frozen=True)
class Population:
    """A frame through the stages that do not depend on the tables.

    ``facts`` holds the accepted rows' facts (``engine.facts.frame_facts``)
    with ``z`` and ``pd``; ``indicators`` the catalogue's indicators and
    ``scores`` the registry's columns (``z``, ``pd``, ``model_id``,
    ``reason_i``, ``contribution_i``), all on the accepted rows' index.
    """

    facts: pd.DataFrame
    indicators: pd.DataFrame
    scores: pd.DataFrame
    rejects: pd.DataFrame
    rows_in: int

    def __len__(self) -> int:
        return len(self.facts)

    def score_objects(self, registry: Registry) -> list[Score]:
        """Each accepted row's ``Score``, equal to ``ScoreModel.score_one`` of that row."""
        details = {m.model_id: {b.name: b for b in m.bins} for m in registry.models.values()}
        z = self.scores["z"].to_numpy(dtype=float).tolist()
        pds = self.scores["pd"].to_numpy(dtype=float).tolist()
        model_ids = self.scores["model_id"].tolist()
        names = [self.scores[f"reason_{j + 1}"].tolist() for j in range(TOP_REASONS)
                 if f"reason_{j + 1}" in self.scores]
        contributions = [self.scores[f"contribution_{j + 1}"].tolist()
                         for j in range(len(names))]
        values = {c: self.indicators[c].tolist() for c in self.indicators.columns}
        out = []
        for i, model_id in enumerate(model_ids):
            bins = details[model_id]
            reasons = tuple(
                ReasonCode(name, bins[name].group, _indicator_value(values[name][i]),
                           contributions[j][i], bins[name].description)
                for j, name in ((j, names[j][i]) for j in range(len(names)))
                if isinstance(name, str))
            out.append(Score(z=z[i], pd=pds[i], reasons=reasons, model_id=model_id))
        return out


def _indicator_value(value: Any) -> Any:
    """An indicator value as ``compute_one`` gives it (floats stay floats, NaN included)."""
    return value.item() if isinstance(value, np.generic) else value


def score_population(registry: Registry, frame: pd.DataFrame, *, first_row: int = 0,
                     clock: StageClock | None = None) -> Population:
    """Validate ``frame``, derive its facts and score the accepted rows.

    ``first_row`` numbers the rejects when ``frame`` is one chunk of a larger input.
    """
    clock = clock or StageClock(None)
    accepted, rejects = validate_frame(frame)
    rejects = rejects.assign(row=rejects["row"] + first_row)
    facts = frame_facts(accepted)
    clock.lap("validate")
    values = registry.indicators(facts)
    scores = (registry.score_indicators(values, facts["customer_class"]) if len(facts)
              else pd.DataFrame({"z": [], "pd": [], "model_id": []}, index=facts.index))
    facts["z"] = scores["z"].to_numpy(dtype=float)
    facts["pd"] = scores["pd"].to_numpy(dtype=float)
    clock.lap("score")
    return Population(facts, values, scores, rejects, len(frame))


@dataclass(frozen=True)
class TableRun:
    """Facts run through one table set: the evaluation and its policy grants."""

    tables: TableSet
    evaluation: Evaluation
    grants: PolicyGrants

    def table_results(self) -> list[TableResult]:
        """Per row, the ``TableResult`` the per-decision executor gives.

        Rows with the same outputs, rules fired and policy grants share one
        (immutable) result, built once.
        """
        codes, results = self.distinct_results()
        return [results[c] for c in codes.tolist()]

    def distinct_results(self) -> tuple[np.ndarray, list[TableResult]]:
        """``(codes, results)``: row ``i``'s ``TableResult`` is ``results[codes[i]]``.

        Rows share a result when their outputs, rules fired and policy grants
        are equal; the key is found column by column by factorisation, never
        row by row, and each result is built once, from its first row.
        """
        columns = self.tables.columns_of(self.evaluation)
        keyed = [c for c in columns.columns if c not in ("policies", "policy_hits")]
        combined = np.zeros(len(columns), dtype=np.int64)
        for part in [*(pd.factorize(columns[c].to_numpy(dtype=object))[0] for c in keyed),
                     self.grants.inverse]:
            part = np.asarray(part, dtype=np.int64) + 1
            combined = pd.factorize(combined * (int(part.max(initial=0)) + 1) + part)[0]
        codes = np.asarray(combined, dtype=np.int64)
        firsts = np.unique(codes, return_index=True)[1] if len(codes) else np.array([], int)
        results = [self.tables.row_result(columns, int(i)) for i in firsts]
        return codes, results


def run_tables(tables: TableSet, facts: pd.DataFrame) -> TableRun:
    """Run scored facts through ``tables`` (vectorised executor)."""
    ev = evaluate(tables.tables, facts)
    return TableRun(tables, ev, policy_grants(ev, tables.catalogue))


@dataclass(frozen=True)
class FrameDecisions:
    """A frame validated, scored and decided by one table set."""

    population: Population
    run: TableRun


def run_frame(engine: Engine, frame: pd.DataFrame, *, tables: TableSet | None = None,
                 first_row: int = 0, timings: dict[str, float] | None = None
                 ) -> FrameDecisions:
    """Validate, derive facts, score and run the tables over ``frame``.

    ``tables`` defaults to the engine's; ``timings`` (stage -> seconds) is
    added to, so a run can say where its time went.
    """
    clock = StageClock(timings)
    population = score_population(engine.registry, frame, first_row=first_row, clock=clock)
    run = run_tables(tables if tables is not None else engine.tables, population.facts)
    clock.lap("tables")
    return FrameDecisions(population, run)
