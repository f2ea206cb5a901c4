"""The decision pipeline: record -> facts -> score -> tables -> Decision.

``load()`` reads every piece of knowledge once (models, indicator catalogue,
policy catalogue, decision tables, templates) and refuses the lot with a
precise error if any piece is wrong. The resulting ``Engine`` is immutable:
swapping in new tables means loading a new engine, so a decision in flight
always finishes on the set it started with.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import gc
import os
import threading
import time
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
from pydantic import BaseModel

from engine import __version__
from engine import scale as master_scale
from engine.assembly import SEGMENTS, Fragments, band_of, decision_data
from engine.config import EngineConfig, check_executor
from engine.decision import Decision
from engine.decisionparts import DecisionParts
from engine.errors import EngineError
from engine.explanation import Explainer
from engine.facts import facts_rows, raw_facts, record_facts
from engine.history import merge_history
from engine.language import load_languages
from engine.pipeline import run_frame
from engine.policies import Catalogue, load_catalogue
from engine.records import CLASSES, CustomerRecord, validate_record
from engine.scoring import RecordScorer, Registry, compute_one, load_registry
from engine.tables import TableSet, load_table_set

__all__ = ["SEGMENTS", "Engine", "collector_paused", "load", "load_tables", "new_decision_id"]


def load(
    config: EngineConfig | str | Path | None = None,
    *,
    rules_dir: str | Path | None = None,
    executor: str | None = None,
) -> Engine:
    """Load an engine from a project folder (default: ``engine.config.default_home()``).

    ``executor`` picks the per-decision table executor (``compiled``, the
    default, or ``durable``); see ``engine.config.EXECUTORS``.
    """
    if not isinstance(config, EngineConfig):
        config = EngineConfig.at(config, rules_dir=rules_dir, executor=executor)
    elif executor is not None:
        config = dataclasses.replace(config, executor=check_executor(executor))
    tables = load_tables(config)
    registry = load_registry(config.models_dir)
    languages = load_languages(config.locale_dir, default=config.language,
                               currency=config.currency)
    explainer = Explainer(config.templates_dir, tables.catalogue, languages,
                          review_contact=config.review_contact)
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
    def fragments(self) -> Fragments:
        """The reusable JSON of trace entries and policies (see ``engine.assembly``)."""
        return Fragments(self._display)

    @functools.cached_property
    def band_rules(self) -> frozenset[tuple[str, str]]:
        """(table, rule id) of the master-scale rules: grade rules that test only ``pd``."""
        table = master_scale.grade_table(self.tables.tables)
        return frozenset((table.name, r.id) for r in master_scale.band_rules(table)) \
            if table is not None else frozenset()

    @functools.cached_property
    def parts(self) -> DecisionParts | None:
        """The compiled path's outcome cache (``engine.decisionparts``); None when the
        executor is not the compiled one or the tables' outcomes are not fixed by rules."""
        if self.config.executor != "compiled":
            return None
        parts = DecisionParts(self.tables, self.bands, self.band_rules, self.fragments,
                              self.config.rules_dir)
        return parts if parts.plan is not None else None

    @functools.cached_property
    def scorers(self) -> dict[str, tuple[RecordScorer, RecordScorer | None]]:
        """Per customer class its model and challenger, ready to score one record."""
        catalogue = self.registry.catalogue
        out = {}
        for klass in CLASSES:
            try:
                model = self.registry.model_for(klass)
            except (EngineError, KeyError):
                continue  # decide then asks model_for again, which says why
            shadow = self.registry.challenger_for(klass)
            out[klass] = (RecordScorer(model, catalogue),
                          None if shadow is None else RecordScorer(shadow, catalogue))
        return out

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

            record = merge_history(record, outcomes.history())
        if isinstance(record, BaseModel):
            facts = record_facts(record)
        else:
            facts = raw_facts(record) or record_facts(validate_record(dict(record)))
        t1 = time.perf_counter()
        events = outcomes.outcomes if outcomes is not None else ()
        parts = self.parts
        scorers = self.scorers.get(facts["customer_class"])
        if parts is None or scorers is None:
            return self._decide_general(facts, t0, t1, decision_id, events)
        scorer, shadow = scorers
        z, pd_value, reasons = scorer.score(facts)
        challenger = None if shadow is None else self._shadow_of(shadow, facts)
        facts["z"], facts["pd"] = z, pd_value
        t2 = time.perf_counter()
        outcome = parts.outcome(facts)
        t3 = time.perf_counter()
        data, members, models = parts.assemble(
            facts, outcome, decision_id=decision_id or new_decision_id(), model=scorer.model,
            z=z, pd_value=pd_value, reasons=reasons, challenger=challenger,
            plain=type(record) is dict or type(record) is CustomerRecord)
        t4 = time.perf_counter()
        return parts.seal(data, members, models, _timings(t0, t1, t2, t3, t4), events)

    def _decide_general(self, facts: dict[str, Any], t0: float, t1: float,
                        decision_id: str | None, events: Any) -> Decision:
        """``decide`` from the facts on: ``compute_one``, ``score_one``, the configured
        executor and ``decision_data``; the reference the compiled path equals."""
        model = self.registry.model_for(facts["customer_class"])
        shadow = self.registry.challenger_for(facts["customer_class"])
        names = model.indicators if shadow is None else list(
            dict.fromkeys([*model.indicators, *shadow.indicators]))
        values = compute_one(facts, self.registry.catalogue, names=names)
        score = model.score_one(values)
        challenger = None if shadow is None else self._shadow(shadow, values)
        facts["z"], facts["pd"] = score.z, score.pd
        t2 = time.perf_counter()
        result = self.tables.decide(facts, executor=self.config.executor)
        t3 = time.perf_counter()
        data, models = decision_data(
            facts, score, result, decision_id=decision_id or uuid.uuid4().hex, model=model,
            bands=self.bands, band_rules=self.band_rules, fragments=self.fragments,
            tables=self.tables, rules_dir=self.config.rules_dir, challenger=challenger)
        t4 = time.perf_counter()
        data["timings_ms"] = _timings(t0, t1, t2, t3, t4)
        return Decision.seal_data(data, events, models)

    def decide_many(self, frame: pd.DataFrame) -> tuple[list[Decision], pd.DataFrame]:
        """Decide a whole frame on the vectorised path; bad rows go to the rejects frame.

        The frame runs through ``engine.pipeline.run_frame`` as one set of
        columns (no decision is made row by row); each ``Decision`` is then
        assembled from those columns and equals ``decide`` of the same row
        except for its id and timings, which are the row's share of the
        frame's. Rejects have ``row`` (position in ``frame``), ``customer_id``,
        ``field``, ``value`` and ``reason``.
        """
        t0 = time.perf_counter()
        timings: dict[str, float] = {}
        decided = run_frame(self, frame, timings=timings)
        population = decided.population
        with collector_paused():
            rows = zip(facts_rows(population.facts), population.score_objects(self.registry),
                       decided.run.table_results(), self._shadows(population), strict=True)
            data = []
            for facts, score, result, challenger in rows:
                facts["z"], facts["pd"] = score.z, score.pd
                model = self.registry.model_for(facts["customer_class"])
                data.append(decision_data(facts, score, result, decision_id=uuid.uuid4().hex,
                                          model=model, bands=self.bands,
                                          band_rules=self.band_rules, fragments=self.fragments,
                                          tables=self.tables, rules_dir=self.config.rules_dir,
                                          challenger=challenger))
            timings["assemble"] = time.perf_counter() - t0 - sum(timings.values())
            timings["total"] = time.perf_counter() - t0
            share = {k: round(v * 1e3 / max(len(data), 1), 3) for k, v in timings.items()}
            sealed = []
            for d, models in data:
                d["timings_ms"] = dict(share)
                sealed.append(Decision.seal_data(d, (), models))
        return sealed, population.rejects

    def explain(self, decision: Decision, fmt: str = "text", *, lang: str | None = None,
                audience: str | None = None) -> str:
        """The decision in words: ``lang`` en or zh-CN (default: the project's),
        ``audience`` auditor (rules, file:line, versions) or customer (a notice)."""
        return self.explainer.render(decision, fmt, lang=lang, audience=audience,
                                     tables=self.tables)

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

    def _shadow_of(self, shadow: RecordScorer, facts: Mapping[str, Any]) -> dict[str, Any]:
        """``_shadow`` on the compiled path: the challenger scores the facts itself."""
        z, pd_value, _ = shadow.score(facts)
        model = shadow.model
        return {"model_id": model.model_id, "model_sha256": model.sha256, "z": float(z),
                "pd": float(pd_value), "grade": band_of(pd_value, self.bands)}

    def _shadow(self, shadow: Any, values: Mapping[str, Any]) -> dict[str, Any]:
        """The challenger's score of one customer, for the decision to record unused."""
        s = shadow.score_one(values)
        return {"model_id": shadow.model_id, "model_sha256": shadow.sha256, "z": float(s.z),
                "pd": float(s.pd), "grade": band_of(s.pd, self.bands)}

    def _shadows(self, population: Any) -> list[dict[str, Any] | None]:
        """Per accepted row, its challenger's shadow score (None where there is none)."""
        frame = self.registry.score_challengers(population.indicators,
                                                population.facts["customer_class"], self.bands)
        if frame is None:
            return [None] * len(population)
        sha = {m.model_id: m.sha256 for m in self.registry.challengers.values()}
        return [{"model_id": mid, "model_sha256": sha[mid], "z": float(z), "pd": float(p),
                 "grade": g} if isinstance(mid, str) else None
                for mid, z, p, g in zip(frame["challenger_model_id"].tolist(),
                                        frame["challenger_z"].tolist(),
                                        frame["challenger_pd"].tolist(),
                                        frame["challenger_grade"].tolist(), strict=True)]

    def _display(self, file: str) -> str:
        return _relative(file, str(self.config.home))


class _RandomBytes:
    """The operating system's random bytes, read 4 KiB at a time.

    ``os.urandom`` is a system call, and it lets other threads run while it
    waits: per decision, that handed a service worker's core to its log
    writer. The bytes are the same kind, fetched once per 256 ids; a forked
    child starts with none, so it never repeats its parent's.
    """

    _CHUNK = 4096

    def __init__(self) -> None:
        self._forget()
        os.register_at_fork(after_in_child=self._forget)

    def _forget(self) -> None:
        self._lock = threading.Lock()
        self._buffer = b""
        self._at = 0

    def take(self, n: int) -> bytes:
        with self._lock:
            if self._at + n > len(self._buffer):
                self._buffer, self._at = os.urandom(self._CHUNK), 0
            start = self._at
            self._at += n
            return self._buffer[start:start + n]


_RANDOM = _RandomBytes()


def new_decision_id() -> str:
    """A random decision id: ``uuid.uuid4().hex``'s 32 hex digits (version 4, RFC 4122
    variant), from 16 random bytes without building a ``UUID`` object."""
    raw = bytearray(_RANDOM.take(16))
    raw[6] = (raw[6] & 0x0F) | 0x40
    raw[8] = (raw[8] & 0x3F) | 0x80
    return raw.hex()


def _timings(t0: float, t1: float, t2: float, t3: float, t4: float) -> dict[str, float]:
    """A decision's ``timings_ms`` from the clock read between its stages."""
    return {
        "validate": round((t1 - t0) * 1e3, 3),
        "score": round((t2 - t1) * 1e3, 3),
        "tables": round((t3 - t2) * 1e3, 3),
        "assemble": round((t4 - t3) * 1e3, 3),
        "total": round((t4 - t0) * 1e3, 3),
    }


@contextlib.contextmanager
def collector_paused() -> Iterator[None]:
    """Pause CPython's cyclic garbage collector while a frame's decisions are built.

    Decisions hold no reference cycles (reference counting frees them), yet
    each allocation counts towards a collection that rescans every decision
    built so far: on 20,000 rows the collector took over half of
    ``decide_many``'s time. It is switched back on (if it was on) afterwards.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


@functools.lru_cache(maxsize=256)
def _relative(file: str, home: str) -> str:
    """A rule file as auditors see it: relative to the project home when inside it."""
    try:
        return Path(file).resolve().relative_to(Path(home).resolve()).as_posix()
    except ValueError:
        return file
