"""Sealed batch rows: each row of a logged run carries its decision's id and digest.

The digest of a batch row is the seal ``Engine.decide`` gives the same record
under the same decision id: SHA-256 of the decision's canonical JSON without
its digest (``engine.decision``), with ``timings_ms`` empty (a batch measures
time per stage and run, recorded in the run's log entry, never per decision)
and the payment-event outcomes the row was decided with. One decision is
therefore one decision whatever the path: ``audit replay`` decides the row's
stored inputs again through ``Engine.decide`` and must meet the same digest.

Building and hashing a whole ``Decision`` per row would cost the batch many
times its own work, so the canonical text is composed instead. Canonical
JSON of an object is its sorted keys joined with their values' canonical
JSON, so a decision's text is the concatenation of its fields' texts in key
order. The fields that depend only on what the tables decided (grade,
policies, segments, trace) are written once per distinct table result and
PD band, from ``engine.assembly.decision_data`` itself; the fields of the row
(inputs, score, ids, events, shadow score) are written per row. The test
suite holds every row's digest equal to ``Engine.decide``'s seal.

A row also carries what its explanation needs without the engine: the params
of every policy, the rules that granted each, the rule that set each segment
and every rule that fired.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass
from json.encoder import encode_basestring
from typing import TYPE_CHECKING, Any

import numpy as np
import orjson
import pandas as pd

from engine.assembly import SEGMENTS, decision_data, json_value
from engine.decider import collector_paused
from engine.decision import EventOutcome, canonical_json
from engine.facts import plain_column
from engine.records import DERIVED, FIELDS, vocabulary

if TYPE_CHECKING:
    from engine.decider import Engine
    from engine.pipeline import FrameDecisions
    from engine.tables.model import TableResult

__all__ = ["INPUT_PREFIX", "SEAL_COLUMNS", "SealedRows", "decision_id_of", "record_columns",
           "row_of_id", "seal_rows"]

#: Columns a logged run adds to each row, after the decision columns.
SEAL_COLUMNS = ("decision_id", "digest", "policy_params", "policy_rules", "segment_rules",
                "rules", "events")
#: The record-contract fields a row was decided from are kept as ``input_<field>``.
INPUT_PREFIX = "input_"
_RECORD_FIELDS = tuple(f.name for f in FIELDS)
_DERIVED_FACTS = tuple(f.name for f in DERIVED if f.group == "facts")
# Where orjson may spell a float unlike json.dumps (see engine.decision): such texts are
# written again by canonical_json, which decides exactly.
_RISKY = re.compile(rb"[0-9]e-|0\.0000")


def decision_id_of(run_id: str, row: int) -> str:
    """The decision id of input row ``row`` (0-based) of run ``run_id``."""
    return f"{run_id}-{row}"


def row_of_id(decision_id: str) -> tuple[str, int] | None:
    """``(run id, input row)`` of a batch decision id, or None when it is not one."""
    run_id, _, row = decision_id.rpartition("-")
    if not run_id.startswith("run-") or not row.isdigit():
        return None
    return run_id, int(row)


@dataclass(frozen=True)
class SealedRows:
    """Per accepted row: seal columns (``SEAL_COLUMNS``) and the record it was decided from.

    ``records`` holds one plain column per record field (None where absent).
    """

    columns: dict[str, list[Any]]
    records: dict[str, list[Any]]


class _Combo:
    """The texts and explanation columns of one distinct table result and PD band."""

    def __init__(self, data: dict[str, Any], result: TableResult) -> None:
        self.grade = canonical_json(data["grade"]).encode()
        self.policies = canonical_json(data["policies"]).encode()
        self.segments = canonical_json(data["segments"]).encode()
        self.trace = canonical_json(data["trace"]).encode()
        self.params = canonical_json({p.policy_id: data_p["params"] for p, data_p
                                      in zip(result.policies, data["policies"], strict=True)})
        self.granted = canonical_json({
            p.policy_id: [g.rule_id for g in p.grants] if p.grants else [p.rule_id]
            for p in result.policies})
        setters = {}
        for hit in result.fired:
            for name in SEGMENTS:
                if name in hit.sets:
                    setters[name] = hit.rule_id
        self.segment_rules = canonical_json(setters)
        self.rules = ";".join(h.rule_id for h in result.fired)


def _canonical(data: Any) -> bytes:
    """``canonical_json(data)`` as UTF-8, straight from orjson when it cannot differ."""
    text = orjson.dumps(data, option=orjson.OPT_SORT_KEYS)
    if (b"e-" in text or b"0.0000" in text) and _RISKY.search(text):
        return canonical_json(data).encode()
    return text


def _text(value: str) -> bytes:
    """A text as canonical JSON: ``json.dumps(value, ensure_ascii=False)``'s own encoder,
    a tenth of the cost of a call to either ``dumps`` for one short value."""
    return encode_basestring(value).encode()


def _numbers(values: list[Any]) -> list[bytes]:
    """Canonical JSON of each number (or None) in a list, from one orjson call."""
    if not values:
        return []
    text = orjson.dumps(values)
    items = text[1:-1].split(b",")
    if b"e-" in text or b"0.0000" in text:
        items = [canonical_json(v).encode() if b"e-" in t or b"0.0000" in t else t
                 for v, t in zip(values, items, strict=True)]
    return items


def _json_column(kind: str, values: list[Any]) -> list[bytes]:
    if kind in ("int", "float", "bool", "date"):
        return _numbers(values)  # no comma in a number, a flag or an ISO date
    return [b"null" if v is None else _text(v) for v in values]


class _Inputs:
    """Per row, the canonical text of ``decision_data``'s ``inputs`` (the facts with z, PD).

    Each fact column is written as JSON once, column by column; a row joins
    its cells under the sorted keys.
    """

    def __init__(self, facts: pd.DataFrame, z: list[float], pd_values: list[float]) -> None:
        specs = vocabulary()
        names = [*_RECORD_FIELDS, *_DERIVED_FACTS]
        self.plain = {name: plain_column(specs[name].kind, facts[name]) for name in names}
        cells = {name: _json_column(specs[name].kind, values)
                 for name, values in self.plain.items()}
        cells["z"], cells["pd"] = _numbers(z), _numbers(pd_values)
        self.cells = cells
        heads = [(b"{" if i == 0 else b",") + _text(k) + b":" for i, k in enumerate(sorted(cells))]
        keyed = [[head + cell for cell in cells[k]] for head, k in zip(heads, sorted(cells),
                                                                        strict=True)]
        self.rows = zip(*keyed, strict=True)

    def next(self) -> bytes:
        return b"".join(next(self.rows)) + b"}"


class _Scores:
    """Per row, the canonical text of ``decision_data``'s ``score``, from the score columns.

    The same values ``Population.score_objects`` reads (z, PD, each reason's
    indicator, value and contribution, the model's bin group and description),
    each column written as JSON once.
    """

    def __init__(self, engine: Engine, population: Any) -> None:
        from engine.scoring import TOP_REASONS

        scores, indicators = population.scores, population.indicators
        self.models = {m.model_id: m for m in engine.registry.models.values()}
        self.z = scores["z"].to_numpy(dtype=float).tolist()
        self.pd = scores["pd"].to_numpy(dtype=float).tolist()
        self.model_ids = scores["model_id"].tolist()
        self.names = [scores[f"reason_{j + 1}"].tolist() for j in range(TOP_REASONS)
                      if f"reason_{j + 1}" in scores]
        self.contributions = [_numbers(scores[f"contribution_{j + 1}"].tolist())
                              for j in range(len(self.names))]
        self.values = {c: self._values(indicators[c]) for c in indicators.columns}
        self.heads = {mid: b'{"model_id":' + _text(mid) + b',"model_sha256":'
                      + _text(m.sha256) + b',"pd":' for mid, m in self.models.items()}
        self.fixed = {mid: {b.name: b',"description":' + _text(b.description) + b',"group":'
                            + _text(b.group) + b',"indicator":' + _text(b.name) + b',"value":'
                            for b in m.bins}
                      for mid, m in self.models.items()}
        self.zs, self.pds = _numbers(self.z), _numbers(self.pd)

    @staticmethod
    def _values(column: pd.Series) -> list[bytes]:
        if column.dtype.kind == "f":
            return _numbers(column.tolist())  # NaN is null, as json_value writes it
        plain = [json_value(v.item() if isinstance(v, np.generic) else v)
                 for v in column.tolist()]
        if all(v is None or type(v) is str for v in plain):
            return [b"null" if v is None else _text(v) for v in plain]
        return [_canonical(v) for v in plain]

    def text(self, i: int) -> bytes:
        """Composed in sorted-key order: per reason only the value and contribution vary."""
        model_id = self.model_ids[i]
        parts = [self.heads[model_id], self.pds[i], b',"reasons":[']
        fixed = self.fixed[model_id]
        first = True
        for j, names in enumerate(self.names):
            name = names[i]
            if isinstance(name, str):
                parts += (b'{"contribution":' if first else b',{"contribution":',
                          self.contributions[j][i], fixed[name], self.values[name][i], b"}")
                first = False
        parts += (b'],"z":', self.zs[i], b"}")
        return b"".join(parts)


def _shadows(engine: Engine, decided: FrameDecisions) -> list[bytes | None]:
    """Per row, the canonical text of its ``challenger`` field, or None."""
    population = decided.population
    frame = engine.registry.score_challengers(population.indicators,
                                              population.facts["customer_class"], engine.bands)
    if frame is None:
        return [None] * len(population)
    sha = {m.model_id: m.sha256 for m in engine.registry.challengers.values()}
    return [_canonical({"model_id": mid, "model_sha256": sha[mid], "z": float(z),
                        "pd": float(p), "grade": g, "used": False})
            if isinstance(mid, str) else None
            for mid, z, p, g in zip(frame["challenger_model_id"].tolist(),
                                    frame["challenger_z"].tolist(),
                                    frame["challenger_pd"].tolist(),
                                    frame["challenger_grade"].tolist(), strict=True)]


def seal_rows(engine: Engine, decided: FrameDecisions, decision_ids: Sequence[str],
              events: Sequence[tuple[EventOutcome, ...]] | None = None) -> SealedRows:
    """Digest and explanation columns of every accepted row of a decided frame.

    ``decision_ids`` and ``events`` are per accepted row, in order.
    """
    with collector_paused():
        return _seal(engine, decided, decision_ids, events)


def _seal(engine: Engine, decided: FrameDecisions, decision_ids: Sequence[str],
          events: Sequence[tuple[EventOutcome, ...]] | None) -> SealedRows:
    from engine import scale as master_scale
    from engine.scoring import Score

    population = decided.population
    n = len(population)
    scores = _Scores(engine, population)
    inputs = _Inputs(population.facts, scores.z, scores.pd)
    result_codes, results = decided.run.distinct_results()
    codes = result_codes.tolist()
    shadows = _shadows(engine, decided)
    events = events if events is not None else [()] * n
    bands = engine.bands
    band_codes = master_scale.assign(np.asarray(scores.pd, dtype=float), bands).tolist()
    combos: dict[tuple[int, int], _Combo] = {}
    tail = b"".join((b',"tables":', canonical_json({
        "version": engine.tables.version, "versions": dict(engine.tables.versions),
        "content_hash": engine.tables.content_hash}).encode(), b',"timings_ms":{},"trace":'))
    version = b',"engine_version":' + _text(_engine_version())
    out: dict[str, list[Any]] = {c: [None] * n for c in SEAL_COLUMNS}
    digests, params, granted = out["digest"], out["policy_params"], out["policy_rules"]
    setters, fired, texts = out["segment_rules"], out["rules"], out["events"]
    plain, cells = inputs.plain, inputs.cells
    as_of, klass, customer = cells["as_of"], cells["customer_class"], cells["customer_id"]
    sha256 = hashlib.sha256
    for i in range(n):
        key = (codes[i], band_codes[i])
        combo = combos.get(key)
        if combo is None:
            combo = combos[key] = _combo(
                engine, {k: v[i] for k, v in plain.items()}, Score(
                    z=scores.z[i], pd=scores.pd[i], reasons=(),
                    model_id=scores.model_ids[i]), results[codes[i]])
        shadow, outcomes = shadows[i], events[i]
        event_text = canonical_json([e.model_dump(mode="json") for e in outcomes]) \
            if outcomes else None
        digests[i] = sha256(b"".join((
            b'{"as_of":', as_of[i],
            b',"challenger":' + shadow if shadow is not None else b"",
            b',"customer_class":', klass[i],
            b',"customer_id":', customer[i],
            b',"decision_id":', _text(decision_ids[i]), version,
            b',"events":' + event_text.encode() if event_text is not None else b"",
            b',"grade":', combo.grade, b',"inputs":', inputs.next(),
            b',"policies":', combo.policies, b',"score":', scores.text(i),
            b',"segments":', combo.segments, tail, combo.trace, b"}"))).hexdigest()
        params[i], granted[i] = combo.params, combo.granted
        setters[i], fired[i], texts[i] = combo.segment_rules, combo.rules, event_text
    out["decision_id"] = list(decision_ids)
    return SealedRows(out, {name: plain[name] for name in _RECORD_FIELDS})


def _combo(engine: Engine, facts: dict[str, Any], score: Any, result: TableResult) -> _Combo:
    """The texts of one table result and band, from ``decision_data`` itself."""
    facts["z"], facts["pd"] = score.z, score.pd
    model = engine.registry.model_for(facts["customer_class"])
    data, _ = decision_data(facts, score, result, decision_id="", model=model,
                            bands=engine.bands, band_rules=engine.band_rules,
                            fragments=engine.fragments, tables=engine.tables,
                            rules_dir=engine.config.rules_dir)
    return _Combo(data, result)


def _engine_version() -> str:
    """The engine version every decision names (``engine.__version__``)."""
    from engine import __version__

    return __version__


def record_columns(records: dict[str, list[Any]]) -> dict[str, np.ndarray]:
    """The record columns as ``input_<field>`` object columns (None where absent)."""
    out = {}
    for name in _RECORD_FIELDS:
        column = np.empty(len(records[name]), dtype=object)
        column[:] = records[name]
        out[INPUT_PREFIX + name] = column
    return out
