"""The workbench simulator: one customer decided with the draft and with the saved tables.

The form is generated from ``engine.records.FIELDS``; a record comes from a
sample or from any customer of a population file. Both sides decide through
the engine's own pipeline, so what the simulator shows is what the service
would decide.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from engine import synth
from engine.batch.runfiles import read_chunks
from engine.decider import SEGMENTS, Engine
from engine.decision import Decision
from engine.errors import FrameError, InputError
from engine.records import FIELDS, FieldSpec
from engine.tables import TableSet

__all__ = ["FormField", "Outcome", "customer_record", "form_fields", "population_files",
           "record_from_form", "sample_record", "simulate"]

SAMPLE_SEED = 20261201
POPULATION_SUFFIXES = (".csv", ".parquet")


@dataclass(frozen=True)
class FormField:
    """One input of the simulator form."""

    name: str
    group: str
    kind: str  # number, integer, select, checkbox-like select, date, text
    unit: str
    description: str
    choices: tuple[str, ...] = ()
    minimum: float | None = None
    maximum: float | None = None
    required: str = "all"


def form_fields() -> list[FormField]:
    """The simulator form, one field per ``CustomerRecord`` field, in declaration order."""
    out = []
    for spec in FIELDS:
        kind = {"int": "integer", "float": "number", "category": "select", "bool": "bool",
                "date": "date", "id": "text"}[spec.kind]
        out.append(FormField(spec.name, spec.group, kind, spec.unit, spec.description,
                             tuple(spec.choices or ()), spec.ge, spec.le, spec.required))
    return out


def _clean(value: Any) -> Any:
    if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA:
        return None
    if hasattr(value, "item"):
        value = value.item()
    if isinstance(value, pd.Timestamp | dt.datetime):
        return value.date().isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    return value


def _record(row: Mapping[str, Any]) -> dict[str, Any]:
    names = {f.name for f in FIELDS}
    return {k: v for k, v in ((k, _clean(v)) for k, v in row.items() if k in names)
            if v is not None}


def sample_record() -> dict[str, Any]:
    """A plausible customer to start from (a synthetic commercial customer)."""

    frame = synth.generate(40, SAMPLE_SEED)
    pick = frame[frame["customer_class"] == "commercial"].iloc[0]
    return _record(pick.to_dict())


def population_files(folders: list[Path]) -> list[Path]:
    """Population files (CSV or Parquet) the workbench may read, from its folders only."""
    found: list[Path] = []
    for folder in folders:
        if folder.is_dir():
            found += sorted(p for p in folder.iterdir()
                            if p.suffix.lower() in POPULATION_SUFFIXES and p.is_file())
    return found


def customer_record(path: Path, customer_id: str) -> dict[str, Any]:
    """The record of one customer of a population file."""

    for chunk in read_chunks(path, 100_000):
        ids = chunk["customer_id"].astype(str)
        hit = chunk[ids == customer_id]
        if len(hit):
            return _record(hit.iloc[0].to_dict())
    raise FrameError(f"no customer {customer_id!r} in this file", file=path.name)


def record_from_form(form: Mapping[str, Any]) -> dict[str, Any]:
    """Form values (text) typed by each field's kind; empty values are absent."""
    out: dict[str, Any] = {}
    specs = {f.name: f for f in FIELDS}
    for name, raw in form.items():
        spec = specs.get(name)
        if spec is None or raw is None or (isinstance(raw, str) and not raw.strip()):
            continue
        out[name] = _typed(spec, raw)
    return out


def _typed(spec: FieldSpec, raw: Any) -> Any:
    if not isinstance(raw, str):
        return raw
    text = raw.strip()
    if spec.kind == "int":
        try:
            return int(text)
        except ValueError:
            return text
    if spec.kind == "float":
        try:
            return float(text)
        except ValueError:
            return text
    if spec.kind == "bool":
        return {"true": True, "false": False}.get(text.lower(), text)
    return text


@dataclass(frozen=True)
class Outcome:
    """One side of the simulator: a decision, its explanation and the rules that fired."""

    label: str
    decision: Decision
    explanation: str

    @property
    def fired(self) -> list[tuple[str, str]]:
        return [(r.table, r.rule_id) for r in self.decision.trace]

    @property
    def segments(self) -> dict[str, Any]:
        return {k: self.decision.segments.get(k) for k in SEGMENTS}


def simulate(engine: Engine, record: Mapping[str, Any],
             sides: list[tuple[str, TableSet]], lang: str | None = None) -> list[Outcome]:
    """Decide ``record`` with each labelled table set; a bad record raises ``RecordError``."""
    if not record.get("customer_id"):
        raise InputError("the simulator needs a customer_id (any text, e.g. SIM-1)")
    out = []
    for label, tables in sides:
        deciding = engine.with_tables(tables)
        decision = deciding.decide(dict(record), decision_id=f"studio-{label}")
        out.append(Outcome(label, decision, deciding.explain(decision, "text", lang=lang)))
    return out
