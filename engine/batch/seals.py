"""Sealed batch rows: each row of a logged run carries its decision's id and digest.

The digest of a batch row is the seal ``Engine.decide`` gives the same record
under the same decision id: SHA-256 of the decision's canonical JSON without
its digest (``engine.decision``), with ``timings_ms`` empty (a batch measures
time per stage and run, recorded in the run's log entry, never per decision)
and the payment-event outcomes the row was decided with. One decision is
therefore one decision whatever the path: ``audit replay`` decides the row's
stored inputs again through ``Engine.decide`` and must meet the same digest.

Building and hashing a whole ``Decision`` per row would cost the batch many
times its own work, so the canonical text is composed instead, column by
column. Canonical JSON of an object is its sorted keys joined with their
values' canonical JSON, so a decision's text is the concatenation of its
members' texts in key order::

    {"as_of":A [,"challenger":{...}] ,"customer_class":K ,"customer_id":C
     ,"decision_id":D ,"engine_version":V [,"events":[...]] ,"grade":G
     ,"inputs":{...} ,"policies":P ,"score":{...} ,"segments":S
     ,"tables":T ,"timings_ms":{} ,"trace":R}

The members that depend only on what the tables decided (grade, policies,
segments, trace) are written once per distinct table result and PD band,
from ``engine.assembly.decision_data`` itself. The members of the row
(inputs, score, ids, shadow score, events) are written column-wise: each
column's JSON texts come from one orjson call over its numpy values (or an
Arrow string operation for texts), cut at its commas into an Arrow text
array. Arrow then joins, element-wise, the row texts and the table-result
texts into one contiguous buffer per block of ``BLOCK`` rows, and SHA-256
runs over each row's slice of it: Python does one hash call per row and
nothing else, and memory is bounded by the block, whatever the chunk.

Where orjson may spell a float unlike ``json.dumps`` (see ``engine.decision``)
the cell is written again by ``canonical_json``, which decides exactly. The
test suite holds every row's digest equal to ``Engine.decide``'s seal.

A row also carries what its explanation needs without the engine: the params
of every policy, the rules that granted each, the rule that set each segment
and every rule that fired.
"""

from __future__ import annotations

import hashlib
import weakref
from collections.abc import Sequence
from dataclasses import dataclass
from json.encoder import encode_basestring
from typing import TYPE_CHECKING, Any

import numpy as np
import orjson
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from engine import __version__
from engine import scale as master_scale
from engine.assembly import SEGMENTS, decision_data, json_value
from engine.decider import collector_paused
from engine.decision import EventOutcome, canonical_json
from engine.records import DERIVED, FIELDS
from engine.scoring import TOP_REASONS, Score

if TYPE_CHECKING:
    from engine.decider import Engine
    from engine.pipeline import FrameDecisions
    from engine.tables.model import TableResult

__all__ = ["BLOCK", "INPUT_PREFIX", "SEAL_COLUMNS", "SealedRows", "decision_id_of",
           "decision_ids_of", "record_columns", "row_of_id", "seal_rows"]

#: Columns a logged run adds to each row, after the decision columns.
SEAL_COLUMNS = ("decision_id", "digest", "policy_params", "policy_rules", "segment_rules",
                "rules", "events")
#: The record-contract fields a row was decided from are kept as ``input_<field>``.
INPUT_PREFIX = "input_"
#: Rows whose canonical texts are joined into one buffer and hashed together.
BLOCK = 8192
_KINDS = {f.name: f.kind for f in (*FIELDS, *DERIVED)}
_RECORD_FIELDS = tuple(f.name for f in FIELDS)
_DERIVED_FACTS = tuple(f.name for f in DERIVED if f.group == "facts")
_TEXT = pa.string()
# A text that JSON must escape: a quote, a backslash or a control character (RE2 syntax).
_ESCAPED = r'["\\\x00-\x1f]'
_HEX = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)


def decision_id_of(run_id: str, row: int) -> str:
    """The decision id of input row ``row`` (0-based) of run ``run_id``."""
    return f"{run_id}-{row}"


def decision_ids_of(run_id: str, rows: np.ndarray) -> pa.Array:
    """``decision_id_of`` for many input rows at once, as an Arrow text array."""
    numbers = pa.array(np.asarray(rows, dtype=np.int64)).cast(_TEXT)
    return pc.binary_join_element_wise(f"{run_id}-", numbers, "")


def row_of_id(decision_id: str) -> tuple[str, int] | None:
    """``(run id, input row)`` of a batch decision id, or None when it is not one."""
    run_id, _, row = decision_id.rpartition("-")
    if not run_id.startswith("run-") or not row.isdigit():
        return None
    return run_id, int(row)


@dataclass(frozen=True)
class SealedRows:
    """Per accepted row: seal columns (``SEAL_COLUMNS``) and the record it was decided from.

    ``columns`` holds pandas arrays; ``records`` one Arrow array per record
    field, typed by its kind (int64, float64, bool, or text; dates as ISO text).
    """

    columns: dict[str, Any]
    records: dict[str, pa.Array]


# --------------------------------------------------------------------------- cells

def _split(text: bytes, n: int) -> pa.Array:
    """The ``n`` cells of a JSON array text ``[a,b,...]`` whose cells hold no comma."""
    data = np.frombuffer(text, dtype=np.uint8)[1:-1]
    commas = data == 44
    ends = np.append(np.flatnonzero(commas), len(data)) if n else np.zeros(0, np.int64)
    offsets = np.zeros(n + 1, dtype=np.int32)
    offsets[1:] = ends - np.arange(n)
    return pa.Array.from_buffers(_TEXT, n, [None, pa.py_buffer(offsets),
                                            pa.py_buffer(data[~commas])])


def _numbers(values: np.ndarray) -> pa.Array:
    """Canonical JSON of each float (NaN and infinity as null, as orjson writes them)."""
    values = np.ascontiguousarray(values, dtype=np.float64)
    text = orjson.dumps(values, option=orjson.OPT_SERIALIZE_NUMPY)
    cells = _split(text, len(values))
    if b"e-" in text or b"0.0000" in text:
        risky = pc.or_(pc.match_substring(cells, "e-"), pc.match_substring(cells, "0.0000"))
        where = np.asarray(risky, dtype=bool)
        exact = [canonical_json(float(v)) for v in values[where].tolist()]
        cells = pc.replace_with_mask(cells, risky, pa.array(exact, _TEXT))
    return cells


def _integers(arr: pa.Array) -> pa.Array:
    text = orjson.dumps(np.asarray(pc.fill_null(arr, 0), dtype=np.int64),
                        option=orjson.OPT_SERIALIZE_NUMPY)
    cells = _split(text, len(arr))
    return cells if not arr.null_count else pc.if_else(arr.is_valid(), cells, "null")


def _texts(arr: pa.Array) -> pa.Array:
    """Each text as a JSON string (``json.dumps(v, ensure_ascii=False)``), null as null."""
    quoted = pc.binary_join_element_wise('"', arr, '"', "")
    escaped = pc.fill_null(pc.match_substring_regex(arr, _ESCAPED), False)
    if pc.any(escaped).as_py():
        exact = [encode_basestring(v) for v in arr.filter(escaped).to_pylist()]
        quoted = pc.replace_with_mask(quoted, escaped, pa.array(exact, _TEXT))
    return pc.fill_null(quoted, "null")


def _cells(arr: pa.Array) -> pa.Array:
    """Canonical JSON of every value of a typed column (see ``record_arrays``)."""
    if pa.types.is_floating(arr.type):
        return _numbers(arr.to_numpy(zero_copy_only=False))
    if pa.types.is_integer(arr.type):
        return _integers(arr)
    if pa.types.is_boolean(arr.type):
        return pc.fill_null(pc.if_else(arr, "true", "false"), "null")
    return _texts(arr)


def _typed(kind: str, column: pd.Series) -> pa.Array:
    """A fact column as the plain values ``engine.facts.plain_column`` gives, in Arrow."""
    if kind == "float":
        return pa.array(column.to_numpy(dtype=float, na_value=np.nan), from_pandas=True)
    if kind == "int":
        values = column.to_numpy(dtype=float, na_value=np.nan)
        present = ~np.isnan(values)
        return pa.array(np.where(present, values, 0).astype(np.int64), mask=~present)
    if kind == "bool":
        return pa.array(column.astype("boolean"))
    if kind == "date":
        days = pd.to_datetime(column).to_numpy().astype("datetime64[D]")
        return pa.array(days, type=pa.date32(), from_pandas=True).cast(_TEXT)
    return pa.array(column.astype("string")).cast(_TEXT)


def record_arrays(facts: pd.DataFrame) -> dict[str, pa.Array]:
    """The record fields and derived facts of each row, typed by kind (``_typed``)."""
    return {name: _typed(_KINDS[name], facts[name])
            for name in (*_RECORD_FIELDS, *_DERIVED_FACTS)}


def _join(*parts: Any) -> pa.Array:
    """Element-wise concatenation of text arrays and constants (bytes or str)."""
    scalars = [pa.scalar(p.decode() if isinstance(p, bytes) else p, _TEXT)
               if isinstance(p, bytes | str) else p for p in parts]
    return pc.binary_join_element_wise(*scalars, "")


def _dictionary(texts: list[bytes]) -> pa.Array:
    """Texts to pick from by code (``_coded``)."""
    return pa.array([t.decode() for t in texts], _TEXT)


def _coded(texts: pa.Array, codes: np.ndarray) -> pa.Array:
    """``texts[codes[i]]`` per row."""
    return texts.take(pa.array(codes))


# --------------------------------------------------------------------------- members

class _Combo:
    """The texts and explanation columns of one distinct table result and PD band."""

    def __init__(self, data: dict[str, Any], result: TableResult) -> None:
        self.grade = b',"grade":' + canonical_json(data["grade"]).encode() + b',"inputs":'
        self.policies = (b',"policies":' + canonical_json(data["policies"]).encode()
                         + b',"score":')
        self.segments = b',"segments":' + canonical_json(data["segments"]).encode()
        self.trace = canonical_json(data["trace"]).encode() + b"}"
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


def _combos(engine: Engine, decided: FrameDecisions, facts: dict[str, pa.Array],
            z: np.ndarray, pd_values: np.ndarray) -> tuple[np.ndarray, list[_Combo]]:
    """Per row the code of its table result and PD band, and each one's ``_Combo``.

    A combo is kept per engine across chunks (``_kept``), found again by the
    result's content and the band: a run writes each one once.
    """
    result_codes, results = decided.run.distinct_results()
    bands = master_scale.assign(pd_values, engine.bands)
    key = np.asarray(result_codes, dtype=np.int64) * len(engine.bands) + bands
    _, firsts, codes = np.unique(key, return_index=True, return_inverse=True)
    kept = _kept(engine)
    combos = []
    for i in firsts.tolist():
        result = results[int(result_codes[i])]
        content = (repr((result.outputs, result.fired, result.policies)), int(bands[i]))
        combo = kept.get(content)
        if combo is None:
            combo = _combo(engine, {k: v[i].as_py() for k, v in facts.items()},
                           float(z[i]), float(pd_values[i]), result)
            if len(kept) >= _KEPT_COMBOS:
                kept.clear()
            kept[content] = combo
        combos.append(combo)
    return codes.reshape(-1), combos


_KEPT_COMBOS = 20_000
_KEPT: dict[int, tuple[weakref.ref, dict[tuple[str, int], _Combo]]] = {}


def _kept(engine: Engine) -> dict[tuple[str, int], _Combo]:
    """The combos written for ``engine`` so far (forgotten with the engine)."""
    key = id(engine)
    entry = _KEPT.get(key)
    if entry is None or entry[0]() is not engine:
        entry = _KEPT[key] = (weakref.ref(engine, lambda _: _KEPT.pop(key, None)), {})
    return entry[1]


def _combo(engine: Engine, facts: dict[str, Any], z: float, pd_value: float,
           result: TableResult) -> _Combo:
    """The texts of one table result and band, from ``decision_data`` itself."""

    facts["z"], facts["pd"] = z, pd_value
    model = engine.registry.model_for(facts["customer_class"])
    score = Score(z=z, pd=pd_value, reasons=(), model_id=model.model_id)
    data, _ = decision_data(facts, score, result, decision_id="", model=model,
                            bands=engine.bands, band_rules=engine.band_rules,
                            fragments=engine.fragments, tables=engine.tables,
                            rules_dir=engine.config.rules_dir)
    return _Combo(data, result)


class _Scores:
    """The columns ``decision_data``'s ``score`` is written from (``Population.score_objects``
    reads the same): z, PD, each reason's indicator, contribution and value, and per
    model the fixed texts of its indicators (bin group and description)."""

    def __init__(self, engine: Engine, population: Any) -> None:

        scores, indicators = population.scores, population.indicators
        models = {m.model_id: m for m in engine.registry.models.values()}
        self.z = scores["z"].to_numpy(dtype=float)
        self.pd = scores["pd"].to_numpy(dtype=float)
        model_codes, model_ids = pd.factorize(scores["model_id"].astype(object))
        self.model_codes = model_codes
        self.heads = _dictionary([
            b'{"model_id":' + encode_basestring(mid).encode() + b',"model_sha256":'
            + encode_basestring(models[mid].sha256).encode() + b',"pd":' for mid in model_ids])
        self.indicators = list(indicators.columns)
        position = {name: k for k, name in enumerate(self.indicators)}
        self.values = [_indicator(indicators[name]) for name in self.indicators]
        fixed = [b""] * (len(model_ids) * len(self.indicators))
        for m, mid in enumerate(model_ids):
            for b in models[mid].bins:
                fixed[m * len(self.indicators) + position[b.name]] = (
                    b',"description":' + encode_basestring(b.description).encode()
                    + b',"group":' + encode_basestring(b.group).encode() + b',"indicator":'
                    + encode_basestring(b.name).encode() + b',"value":')
        self.fixed = _dictionary(fixed)
        self.reasons = []
        for j in range(TOP_REASONS):
            if f"reason_{j + 1}" not in scores:
                continue
            names = scores[f"reason_{j + 1}"].astype(object).map(position)
            self.reasons.append((names.to_numpy(dtype=float, na_value=np.nan),
                                 scores[f"contribution_{j + 1}"].to_numpy(dtype=float)))

    def text(self, rows: slice) -> list[Any]:
        """The ``score`` member of ``rows``, as parts for ``_join``, in sorted-key order."""
        used = {int(k) for names, _ in self.reasons for k in np.unique(names[rows])
                if k == k}
        # an indicator no reason of these rows names is never picked: another stands in
        written = {k: _indicator_cells(self.values[k], rows) for k in sorted(used)}
        values = [written.get(k, next(iter(written.values()), None))
                  for k in range(len(self.indicators))] if written else []
        parts: list[Any] = [_coded(self.heads, self.model_codes[rows]),
                            _numbers(self.pd[rows]), b',"reasons":[']
        earlier = None
        for names, contributions in self.reasons:
            present = ~np.isnan(names[rows])
            name = np.where(present, names[rows], 0).astype(np.int64)
            fixed = _coded(self.fixed, self.model_codes[rows] * len(self.indicators) + name)
            value = pc.choose(pa.array(name.astype(np.int32)), *values) if values else fixed
            reason = _join(b'{"contribution":', _numbers(contributions[rows]), fixed, value,
                           b"}")
            if earlier is not None:
                reason = _join(pc.if_else(pa.array(earlier), ",", ""), reason)
                earlier = earlier | present
            else:
                earlier = present
            parts.append(pc.if_else(pa.array(present), reason, ""))
        return [*parts, b'],"z":', _numbers(self.z[rows]), b"}"]


def _indicator(column: pd.Series) -> tuple[str, Any]:
    """An indicator column ready for ``_indicator_cells``: floats, texts, or JSON cells
    written once (values as ``json_value`` writes them)."""
    if column.dtype.kind == "f":
        return "float", column.to_numpy(dtype=float)  # NaN is null, as json_value writes it
    if isinstance(column.dtype, pd.StringDtype | pd.CategoricalDtype):
        return "text", pa.array(column.astype("string")).cast(_TEXT)
    plain = [json_value(v.item() if isinstance(v, np.generic) else v) for v in column.tolist()]
    if all(v is None or type(v) is str for v in plain):
        return "text", pa.array(plain, _TEXT)
    return "json", pa.array([canonical_json(v) for v in plain], _TEXT)


def _indicator_cells(indicator: tuple[str, Any], rows: slice) -> pa.Array:
    kind, values = indicator
    if kind == "float":
        return _numbers(values[rows])
    return _texts(values[rows]) if kind == "text" else values[rows]


def _shadows(engine: Engine, frame: pd.DataFrame | None) -> pa.Array | None:
    """Per row, ``,"challenger":{...}`` (empty without one), or None when no row has one."""
    if frame is None:
        return None
    ids = pa.array(frame["challenger_model_id"].astype(object), _TEXT, from_pandas=True)
    if ids.null_count == len(ids):
        return None
    sha = {m.model_id: m.sha256 for m in engine.registry.challengers.values()}
    grades = pa.array(frame["challenger_grade"].astype(object), _TEXT, from_pandas=True)
    text = _join(b',"challenger":{"grade":', _texts(grades), b',"model_id":', _texts(ids),
                 b',"model_sha256":', _texts(pc.fill_null(pc.take(
                     pa.array(list(sha.values()), _TEXT),
                     pc.index_in(ids, pa.array(list(sha), _TEXT))), "")),
                 b',"pd":', _numbers(frame["challenger_pd"].to_numpy(dtype=float)),
                 b',"used":false,"z":', _numbers(frame["challenger_z"].to_numpy(dtype=float)),
                 b"}")
    return pc.if_else(ids.is_valid(), text, "")


def _events(events: Sequence[tuple[EventOutcome, ...]] | None, n: int
            ) -> tuple[np.ndarray, pa.Array | None]:
    """Per row the canonical text of its event outcomes (None without any), and the
    ``,"events":[...]`` member of each row (empty without any; None when no row has one)."""
    texts = np.full(n, None, dtype=object)
    if events is None:
        return texts, None
    for i, outcomes in enumerate(events):
        if outcomes:
            texts[i] = canonical_json([e.model_dump(mode="json") for e in outcomes])
    if not any(t is not None for t in texts):
        return texts, None
    member = _join(b',"events":', pa.array(texts, _TEXT))
    return texts, pc.fill_null(member, "")


# --------------------------------------------------------------------------- sealing

def seal_rows(engine: Engine, decided: FrameDecisions, decision_ids: Sequence[str] | pa.Array,
              events: Sequence[tuple[EventOutcome, ...]] | None = None,
              shadow: pd.DataFrame | None = None) -> SealedRows:
    """Digest and explanation columns of every accepted row of a decided frame.

    ``decision_ids`` and ``events`` are per accepted row, in order; ``shadow``
    is the frame's challenger scores when the caller has them already
    (``Registry.score_challengers``).
    """
    with collector_paused():
        return _seal(engine, decided, decision_ids, events, shadow)


def _seal(engine: Engine, decided: FrameDecisions, decision_ids: Sequence[str] | pa.Array,
          events: Sequence[tuple[EventOutcome, ...]] | None,
          shadow: pd.DataFrame | None) -> SealedRows:
    population = decided.population
    n = len(population)
    if shadow is None:
        shadow = engine.registry.score_challengers(
            population.indicators, population.facts["customer_class"], engine.bands)
    facts = record_arrays(population.facts)
    scores = _Scores(engine, population)
    codes, combos = _combos(engine, decided, facts, scores.z, scores.pd)
    ids = decision_ids if isinstance(decision_ids, pa.Array) else pa.array(
        list(decision_ids), _TEXT)
    event_texts, event_members = _events(events, n)
    shadows = _shadows(engine, shadow)
    tail = _tail(engine)
    grades, policies = (_dictionary([c.grade for c in combos]),
                        _dictionary([c.policies for c in combos]))
    # the last members, the larger half of a row, are fed to its hash from the combo itself
    ends = [c.segments + tail + c.trace for c in combos]
    version = b',"engine_version":' + encode_basestring(_engine_version()).encode()
    digests = []
    for start in range(0, n, BLOCK):
        rows = slice(start, min(start + BLOCK, n))
        block = codes[rows]
        cells = {name: _cells(arr[rows]) for name, arr in facts.items()}
        cells["z"], cells["pd"] = _numbers(scores.z[rows]), _numbers(scores.pd[rows])
        digests.append(_digests(_join(
            b'{"as_of":', cells["as_of"],
            *([] if shadows is None else [shadows[rows]]),
            b',"customer_class":', cells["customer_class"],
            b',"customer_id":', cells["customer_id"],
            b',"decision_id":', _texts(ids[rows]), version,
            *([] if event_members is None else [event_members[rows]]),
            _coded(grades, block), *_inputs(cells), _coded(policies, block),
            *scores.text(rows)), ends, block))
    columns = {
        "decision_id": pd.arrays.ArrowStringArray(ids.cast(_TEXT)),
        "digest": pd.arrays.ArrowStringArray(
            pa.concat_arrays(digests) if digests else pa.array([], _TEXT)),
        "policy_params": _categorical([c.params for c in combos], codes),
        "policy_rules": _categorical([c.granted for c in combos], codes),
        "segment_rules": _categorical([c.segment_rules for c in combos], codes),
        "rules": _categorical([c.rules for c in combos], codes),
        "events": event_texts,
    }
    return SealedRows(columns, {name: facts[name] for name in _RECORD_FIELDS})


def _inputs(cells: dict[str, pa.Array]) -> list[Any]:
    """The ``inputs`` member, as parts for ``_join``: every fact under its sorted key."""
    parts: list[Any] = []
    for i, name in enumerate(sorted(cells)):
        parts += [(b"{" if i == 0 else b",") + encode_basestring(name).encode() + b":",
                  cells[name]]
    return [*parts, b"}"]


def _tail(engine: Engine) -> bytes:
    """``,"tables":...,"timings_ms":{},"trace":``: the members between segments and trace."""
    tables = engine.tables
    return b"".join((b',"tables":', canonical_json({
        "version": tables.version, "versions": dict(tables.versions),
        "content_hash": tables.content_hash}).encode(), b',"timings_ms":{},"trace":'))


def _digests(texts: pa.Array, ends: list[bytes], codes: np.ndarray) -> pa.Array:
    """The SHA-256 (hex) of each row's text followed by ``ends[codes[row]]``.

    The texts are hashed from the one buffer that holds them, each row its slice.
    """
    n = len(texts)
    _, offsets_buffer, data = texts.buffers()
    offsets = np.frombuffer(offsets_buffer, dtype=np.int32, count=n + 1,
                            offset=texts.offset * 4).tolist()
    view = memoryview(data) if data is not None else memoryview(b"")
    sha256 = hashlib.sha256
    raw = bytearray()
    for a, b, code in zip(offsets[:-1], offsets[1:], codes.tolist(), strict=True):
        h = sha256(view[a:b])
        h.update(ends[code])
        raw += h.digest()
    digests = np.frombuffer(raw, dtype=np.uint8)
    hexed = np.empty(2 * len(digests), dtype=np.uint8)
    hexed[0::2], hexed[1::2] = _HEX[digests >> 4], _HEX[digests & 15]
    return pa.Array.from_buffers(_TEXT, n, [None, pa.py_buffer(
        np.arange(0, 64 * (n + 1), 64, dtype=np.int32)), pa.py_buffer(hexed)])


def _categorical(texts: list[str], codes: np.ndarray) -> pd.Categorical:
    """``texts[codes[i]]`` per row, as a categorical of the distinct texts."""
    inverse, distinct = pd.factorize(pd.Index(texts, dtype=object))
    return pd.Categorical.from_codes(inverse[codes] if len(codes) else codes,
                                     categories=distinct.astype(object))


def _engine_version() -> str:
    """The engine version every decision names (``engine.__version__``)."""

    return __version__


def record_columns(records: dict[str, pa.Array]) -> dict[str, Any]:
    """The record columns as ``input_<field>`` columns (Arrow-backed, null where absent)."""
    return {INPUT_PREFIX + name: pd.arrays.ArrowExtensionArray(arr)
            for name, arr in records.items()}
