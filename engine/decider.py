"""The decision pipeline: record -> facts -> score -> tables -> Decision.

``load()`` reads every piece of knowledge once (models, indicator catalogue,
policy catalogue, decision tables, templates) and refuses the lot with a
precise error if any piece is wrong. The resulting ``Engine`` is immutable:
swapping in new tables means loading a new engine, so a decision in flight
always finishes on the set it started with.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from pydantic import BaseModel

from engine import __version__
from engine import scale as master_scale
from engine.config import EngineConfig
from engine.decision import (
    Decision,
    GradeOutcome,
    GrantOutcome,
    PolicyOutcome,
    Reason,
    RuleFired,
    ScoreOutcome,
    TableVersions,
)
from engine.errors import DecisionError
from engine.explanation import Explainer
from engine.facts import facts_rows, record_facts
from engine.pipeline import decide_frame
from engine.policies import Catalogue, load_catalogue
from engine.records import validate_record
from engine.scoring.indicators import compute_one
from engine.scoring.registry import Registry, load_registry
from engine.tables import TableSet, load_table_set
from engine.tables.model import TableResult
from engine.tables.tableset import check_executor

__all__ = ["SEGMENTS", "Engine", "load", "load_tables"]

SEGMENTS = ("consumption_class", "outage_sensitivity", "service_sensitivity", "value_tier")


def load(
    config: EngineConfig | str | Path | None = None,
    *,
    rules_dir: str | Path | None = None,
    executor: str | None = None,
) -> Engine:
    """Load an engine from a project folder (default: ``engine.config.default_home()``).

    ``executor`` picks the per-decision table executor (``compiled``, the
    default, or ``durable``); see ``engine.tables.EXECUTORS``.
    """
    if not isinstance(config, EngineConfig):
        config = EngineConfig.at(config, rules_dir=rules_dir, executor=executor)
    elif executor is not None:
        config = dataclasses.replace(config, executor=check_executor(executor))
    tables = load_tables(config)
    registry = load_registry(config.models_dir)
    explainer = Explainer(config.templates_dir, {p.id: p.title for p in tables.catalogue},
                          tables.catalogue.combinations())
    return Engine(config=config, catalogue=tables.catalogue, tables=tables, registry=registry,
                  explainer=explainer)


def load_tables(config: EngineConfig) -> TableSet:
    """The project's policy catalogue and decision tables, refused unless they draw a master scale.

    Whatever needs band edges without deciding (training governance,
    sensitivity) reads them from here, so they are the edges decisions use.
    """
    tables = load_table_set(config.rules_dir, catalogue=load_catalogue(config.catalogue))
    tables.scale  # noqa: B018  (raises TableError at the faulty band rule)
    return tables


@dataclass(frozen=True)
class Engine:
    """Everything needed to decide, loaded and checked; safe to share between threads."""

    config: EngineConfig
    catalogue: Catalogue
    tables: TableSet
    registry: Registry
    explainer: Explainer

    def with_tables(self, tables: TableSet) -> Engine:
        """The same engine deciding with another table set (refused without a master scale)."""
        tables.scale  # noqa: B018
        return dataclasses.replace(self, tables=tables)

    def with_executor(self, executor: str) -> Engine:
        """The same engine deciding with another per-decision table executor."""
        return dataclasses.replace(self, config=dataclasses.replace(
            self.config, executor=check_executor(executor)))

    @property
    def bands(self) -> tuple[master_scale.Band, ...]:
        """The master scale of the tables this engine decides with."""
        return self.tables.scale

    @functools.cached_property
    def band_rules(self) -> frozenset[tuple[str, str]]:
        """(table, rule id) of the master-scale rules: grade rules that test only ``pd``."""
        table = master_scale.grade_table(self.tables.tables)
        return frozenset((table.name, r.id) for r in master_scale.band_rules(table)) \
            if table is not None else frozenset()

    # ------------------------------------------------------------------ one record

    def decide(self, record: Mapping[str, Any] | BaseModel, *,
               decision_id: str | None = None, outcomes: Any = None) -> Decision:
        """Decide for one customer record (a dict as service systems send it).

        ``outcomes`` is the customer's payment-event outcomes in force (an
        ``engine.events.EventOutcomes``): its flags fill the record's history
        fields before the tables run, so they decide through the same tables,
        and the decision names each outcome with the events behind it.
        """
        t0 = time.perf_counter()
        if outcomes is not None:
            record = _with_history(record, outcomes.history())
        rec = record if isinstance(record, BaseModel) else validate_record(dict(record))
        facts = record_facts(rec)
        t1 = time.perf_counter()
        model = self.registry.model_for(facts["customer_class"])
        score = model.score_one(compute_one(facts, self.registry.catalogue,
                                            names=list(model.indicators)))
        facts["z"], facts["pd"] = score.z, score.pd
        t2 = time.perf_counter()
        result = self.tables.decide(facts, executor=self.config.executor)
        t3 = time.perf_counter()
        decision = self._decision(facts, score, result, decision_id or uuid.uuid4().hex)
        if outcomes is not None and outcomes.outcomes:
            decision = decision.model_copy(update={"events": tuple(outcomes.outcomes)})
        t4 = time.perf_counter()
        timings = {
            "validate": (t1 - t0) * 1e3,
            "score": (t2 - t1) * 1e3,
            "tables": (t3 - t2) * 1e3,
            "assemble": (t4 - t3) * 1e3,
            "total": (t4 - t0) * 1e3,
        }
        return decision.model_copy(
            update={"timings_ms": {k: round(v, 3) for k, v in timings.items()}}
        ).sealed()

    def decide_many(self, frame: pd.DataFrame) -> tuple[list[Decision], pd.DataFrame]:
        """Decide a whole frame on the vectorised path; bad rows go to the rejects frame.

        The frame runs through ``engine.pipeline.decide_frame`` as one set of
        columns (no decision is made row by row); each ``Decision`` is then
        assembled from those columns and equals ``decide`` of the same row
        except for its id and timings, which are the row's share of the
        frame's. Rejects have ``row`` (position in ``frame``), ``customer_id``,
        ``field``, ``value`` and ``reason``.
        """
        t0 = time.perf_counter()
        timings: dict[str, float] = {}
        decided = decide_frame(self, frame, timings=timings)
        population = decided.population
        rows = zip(facts_rows(population.facts), population.score_objects(self.registry),
                   decided.run.table_results(), strict=True)
        decisions = []
        for facts, score, result in rows:
            facts["z"], facts["pd"] = score.z, score.pd
            decisions.append(self._decision(facts, score, result, uuid.uuid4().hex))
        timings["assemble"] = time.perf_counter() - t0 - sum(timings.values())
        timings["total"] = time.perf_counter() - t0
        share = {k: round(v * 1e3 / max(len(decisions), 1), 3) for k, v in timings.items()}
        sealed = [d.model_copy(update={"timings_ms": share}).sealed() for d in decisions]
        return sealed, population.rejects

    def explain(self, decision: Decision, fmt: str = "text") -> str:
        return self.explainer.render(decision, fmt)

    def versions(self) -> dict[str, Any]:
        """Versions and hashes of everything that decides, as reports and the service show them."""
        return {
            "engine_version": __version__,
            "tables_version": self.tables.version,
            "tables_content_hash": self.tables.content_hash,
            "tables": dict(self.tables.versions),
            "models": {m.model_id: m.sha256 for m in self.registry.models.values()},
        }

    # ------------------------------------------------------------------ assembly

    def _display(self, file: str) -> str:
        return _relative(file, str(self.config.home))

    def _decision(self, facts: dict[str, Any], score: Any, result: TableResult,
                  decision_id: str) -> Decision:
        model = self.registry.model_for(facts["customer_class"])
        grade_hit = next((h for h in result.fired if "grade" in h.sets), None)
        if grade_hit is None:
            raise DecisionError(
                f"no grade rule fired for customer {facts['customer_id']!r} "
                f"(pd {facts['pd']:.6f}): run 'gridcredit rules check' on {self.config.rules_dir}"
            )
        band = self.bands[int(master_scale.assign(np.array([facts["pd"]]), self.bands)[0])].grade
        is_band = (grade_hit.table, grade_hit.rule_id) in self.band_rules
        override = None if is_band else grade_hit.rule_id
        descriptions = {(h.table, h.rule_id): h.description for h in result.fired}
        return Decision(
            decision_id=decision_id,
            customer_id=facts["customer_id"],
            customer_class=facts["customer_class"],
            as_of=facts["as_of"],
            inputs={k: _plain(v) for k, v in facts.items()},
            score=ScoreOutcome(
                model_id=model.model_id,
                model_sha256=model.sha256,
                z=float(score.z),
                pd=float(score.pd),
                reasons=tuple(
                    Reason(indicator=r.indicator, group=r.group, value=_plain(r.value),
                           contribution=float(r.contribution), description=r.description)
                    for r in score.reasons
                ),
            ),
            grade=GradeOutcome(
                grade=str(result.outputs["grade"]),
                band_grade=str(band),
                rule_id=grade_hit.rule_id,
                override=override,
                file=self._display(grade_hit.file),
                line=grade_hit.line,
                description=grade_hit.description,
                source=grade_hit.source or None,
            ),
            segments={k: result.outputs.get(k) for k in SEGMENTS},
            policies=tuple(
                PolicyOutcome(
                    policy_id=p.policy_id,
                    params={k: _plain(v) for k, v in p.params.items()},
                    rule_id=p.rule_id,
                    table=p.table,
                    file=self._display(p.file),
                    line=p.line,
                    source=p.source or None,
                    description=descriptions.get((p.table, p.rule_id), ""),
                    grants=tuple(
                        GrantOutcome(rule_id=g.rule_id, table=g.table,
                                     file=self._display(g.file), line=g.line,
                                     params={k: _plain(v) for k, v in g.params.items()})
                        for g in p.grants),
                )
                for p in result.policies
            ),
            trace=tuple(
                RuleFired(table=h.table, rule_id=h.rule_id, file=self._display(h.file),
                          line=h.line,
                          description=h.description, source=h.source or None,
                          sets={k: _plain(v) for k, v in h.sets.items()})
                for h in result.fired
            ),
            tables=TableVersions(version=self.tables.version,
                                 versions=dict(self.tables.versions),
                                 content_hash=self.tables.content_hash),
            timings_ms={},
            engine_version=__version__,
        )


@functools.lru_cache(maxsize=256)
def _relative(file: str, home: str) -> str:
    """A rule file as auditors see it: relative to the project home when inside it."""
    try:
        return Path(file).resolve().relative_to(Path(home).resolve()).as_posix()
    except ValueError:
        return file


def _with_history(record: Mapping[str, Any] | BaseModel,
                  history: Mapping[str, Any]) -> dict[str, Any]:
    """The record with event-outcome flags merged into its history fields.

    A flag the record already sets stays set; a theft override keeps the later
    of the two end dates.
    """
    data = record.model_dump() if isinstance(record, BaseModel) else dict(record)
    for name, value in history.items():
        if name == "theft_override_until":
            current = data.get(name)
            if isinstance(current, str):
                current = dt.date.fromisoformat(current)
            data[name] = value if current is None or value > current else current
        elif value:
            data[name] = value
    return data


def _absent(value: Any) -> bool:
    if value is None or value is pd.NA or value is pd.NaT:
        return True
    return isinstance(value, float) and np.isnan(value)


def _plain(value: Any) -> Any:
    """numpy and pandas scalars as plain Python values for JSON."""
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, pd.Timestamp):
        return value.date().isoformat()
    return value


def _text(value: Any) -> str | None:
    return None if _absent(value) else str(value)

