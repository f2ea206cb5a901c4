"""The compiled per-decision path held to the general one it replaces, piece by piece.

``Engine.decide`` on the compiled executor checks raw records with
``engine.facts.raw_facts``, scores them with ``engine.scoring.onerecord``, and
builds decisions from outcome parts kept per rule outcome
(``engine.decisionparts``). Each piece is compared here with the general path
(pydantic validation, ``compute_one`` + ``score_one``, ``TableSet.decide`` +
``decision_data``, ``json.dumps``), on random inputs; the whole decision is
compared with the durable executor's in ``tests/test_decisions.py``.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import struct
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.decider import load
from engine.decision import Decision, canonical_bytes, canonical_object
from engine.errors import RecordError
from engine.facts import raw_facts, record_facts
from engine.policies import load_catalogue
from engine.records import FIELDS, SAMPLE_RECORD, validate_record, vocabulary
from engine.scoring import RecordScorer, compute_one
from engine.tables import load_table_set
from tests.factories import synth_records

ROOT = Path(__file__).resolve().parents[1]
HITS = load_table_set(ROOT / "tests" / "data" / "tables" / "hitpolicies",
                      load_catalogue(ROOT / "policies" / "catalogue.yaml"))


def _records(n: int, seed: int) -> list[dict]:
    return synth_records(n, seed)


def _bits(x: float) -> bytes:
    return struct.pack("<d", x)


def _typed(facts: dict) -> list:
    return [(k, type(v), v) for k, v in facts.items()]


# --------------------------------------------------------------------------- validation

def _odd_values(spec) -> st.SearchStrategy:
    """Values a service might send for one field: right, wrong, edge and oddly typed."""
    common = [None, True, False, 0, 1, -1, 2.5, "", "x", "1", [], {}]
    if spec.kind == "float":
        lo = -1e3 if spec.ge is None else spec.ge
        hi = 1e3 if spec.le is None else spec.le
        specific = st.one_of(st.floats(lo - 1, hi + 1), st.integers(int(lo) - 2, int(hi) + 2),
                             st.sampled_from([lo, hi, float("nan"), float("inf"), 2 ** 60]))
    elif spec.kind == "int":
        specific = st.one_of(st.integers(int(spec.ge) - 2, int(spec.le) + 2),
                             st.sampled_from([float(spec.ge), 3.0, 2 ** 70]))
    elif spec.kind == "category":
        specific = st.sampled_from([*spec.choices, spec.choices[0].upper(), " A"])
    elif spec.kind == "date":
        specific = st.one_of(
            st.dates().map(dt.date.isoformat), st.dates(),
            st.datetimes().map(lambda d: d), st.text("0123456789-", min_size=8, max_size=11),
            st.sampled_from(["2026-02-29", "2024-02-29", "0000-01-01", "2026-10-31\n",
                             "2026-10-31T00:00", "\u0662026-10-31", "2026-13-01"]))
    elif spec.kind == "bool":
        specific = st.sampled_from([True, False, 1, 0, "true", None])
    else:
        specific = st.one_of(st.text("Ab0_.:-\n ", min_size=0, max_size=66),
                             st.sampled_from(["C" * 64, "C" * 65, "C1\n", "-C1"]))
    return st.one_of(specific, st.sampled_from(common))


_CHANGES = st.dictionaries(st.sampled_from([f.name for f in FIELDS] + ["monthly_kwhs"]),
                           st.just(None), max_size=4).flatmap(
    lambda keys: st.fixed_dictionaries(
        {k: _odd_values(vocabulary().get(k, FIELDS[8])) if k in vocabulary()
         else st.just(1.0) for k in keys}))


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(changes=_CHANGES, drop=st.sets(st.sampled_from([f.name for f in FIELDS]), max_size=2),
       klass=st.sampled_from(["residential", "commercial", "public"]))
def test_raw_facts_accept_only_what_validation_accepts_and_equal_its_facts(changes, drop,
                                                                          klass):
    record = {**SAMPLE_RECORD, "customer_class": klass, **changes}
    for name in drop:
        record.pop(name, None)
    fast = raw_facts(dict(record))
    try:
        slow = record_facts(validate_record(dict(record)))
    except RecordError:
        assert fast is None
        return
    if fast is not None:
        assert _typed(fast) == _typed(slow)


def test_raw_facts_take_the_plain_records_services_send():
    for record in _records(300, seed=5):
        fast = raw_facts(record)
        assert fast is not None
        assert _typed(fast) == _typed(record_facts(validate_record(dict(record))))


@pytest.mark.parametrize("changes", [
    {"monthly_kwh": -5.0}, {"customer_class": "farm"}, {"current_ratio": None},
    {"overdue_bills_12m": "3"}, {"monthly_kwh": float("nan")}, {"monthly_kwhs": 5.0},
    {"as_of": "31.10.2026"}, {"customer_id": "C1\n"}, {"critical_load": 1},
    {"months_connected": 12.0, "overdue_amount": -1.0},
])
def test_decide_refuses_what_validation_refuses_with_its_message(engine, changes):
    record = {**SAMPLE_RECORD, **changes}
    with pytest.raises(RecordError) as expected:
        validate_record(dict(record))
    for executor in ("compiled", "durable"):
        with pytest.raises(RecordError) as got:
            engine.with_executor(executor).decide(dict(record))
        assert (type(got.value), got.value.message, got.value.details()) == (
            type(expected.value), expected.value.message, expected.value.details())


# --------------------------------------------------------------------------- scoring

def test_record_scorer_is_bit_identical_to_compute_one_and_score_one(engine):
    catalogue = engine.registry.catalogue
    scorers = {k: RecordScorer(m, catalogue) for k, m in engine.registry.models.items()}
    records = _records(1500, seed=8)
    records[0] = {**records[0], "monthly_kwh": 0.0, "contracted_capacity_kva": 0.0}
    records[1] = {**records[1], "overdue_amount": 1e10, "monthly_kwh": 0.0}
    for record in records:
        facts = record_facts(validate_record(dict(record)))
        model = engine.registry.model_for(facts["customer_class"])
        want = model.score_one(compute_one(facts, catalogue, names=list(model.indicators)))
        z, pd_value, reasons = scorers[model.segment].score(facts)
        assert (_bits(z), _bits(pd_value)) == (_bits(want.z), _bits(want.pd))
        assert [(r[0], r[1], _bits(r[3])) for r in reasons] == [
            (r.indicator, r.group, _bits(r.contribution)) for r in want.reasons]
        assert [json.dumps(r[2]) for r in reasons] == [json.dumps(r.value) for r in want.reasons]


def test_record_scorer_pd_is_pd_from_z_to_the_last_bit(engine):
    """On every knot, its neighbours and 20,000 points between the knots, and off the ends."""
    rng = np.random.default_rng(3)
    for model in engine.registry.models.values():
        scorer = RecordScorer(model, engine.registry.catalogue)
        knots = np.asarray(model.calibration.get("knots_z") or [-5.0, 5.0], dtype=float)
        z = np.concatenate([knots, np.nextafter(knots, np.inf), np.nextafter(knots, -np.inf),
                            rng.uniform(knots[0] - 1, knots[-1] + 1, 20_000),
                            [-math.inf, math.inf, -40.0, 40.0]])
        want = model.pd_from_z(z)
        got = np.array([scorer.pd(x) for x in z.tolist()])
        assert got.tobytes() == want.tobytes()
        assert math.isnan(scorer.pd(math.nan))


# --------------------------------------------------------------------------- outcomes

def _table_facts(ts, n: int, seed: int) -> list[dict]:
    """Facts through every threshold of the tables' fields, and null, drawn at random."""
    vocab = vocabulary()
    points: dict[str, list] = {}
    for t in ts.tables:
        for r in t.rules:
            for c in r.when:
                values = c.value if isinstance(c.value, tuple) else (c.value,)
                points.setdefault(c.field, []).extend(values)
    options = {}
    for name, values in points.items():
        kind = vocab[name].kind
        if kind in ("int", "float"):
            values = [v + d for v in values for d in (-1, 0, 1)]
        extra = list(vocab[name].choices or ()) + ([True, False] if kind == "bool" else [])
        options[name] = [*dict.fromkeys([*values, *extra]), None]
    rng = np.random.default_rng(seed)
    return [{k: v[rng.integers(len(v))] for k, v in options.items()} for _ in range(n)]


def _outcome(ts, tables, facts):
    try:
        return ts.decide(facts, tables=tables, executor="compiled")
    except Exception as exc:  # noqa: BLE001 - the refusal itself is what is compared
        return type(exc).__name__


@pytest.mark.parametrize("ts", [HITS, "shipped"], ids=["hitpolicies", "shipped"])
def test_equal_outcome_keys_mean_equal_table_results(ts, engine):
    """What the outcome cache relies on: the key fixes outputs, rules fired and policies."""
    ts = engine.tables if ts == "shipped" else ts
    tables = [t for t in ts.tables if not ts.compiled.compiled[t.name].refs]
    plan = ts.compiled.plan(tables)
    assert plan is not None and len(tables) >= 4
    seen: dict = {}
    for facts in _table_facts(ts, 3000, seed=2):
        key = ts.compiled.key(plan, facts)
        got = _outcome(ts, tables, facts)
        if isinstance(got, str):
            got = (got,)
        else:
            got = (got.outputs, got.fired, got.policies)
        assert seen.setdefault(key, got) == got
    assert 10 < len(seen) < 3000
    if ts is HITS:
        assert ts.compiled.plan(ts.tables) is None  # 'risk-band' copies a fact with 'from'


def test_decisions_are_the_same_from_a_cold_or_a_warm_outcome_cache(engine):
    records = _records(600, seed=13)
    warm = [engine.decide(r, decision_id=f"d{i}") for i, r in enumerate(records)]
    cold = load(engine.config)
    again = [cold.decide(r, decision_id=f"d{i}") for i, r in reversed(list(enumerate(records)))]
    for a, b in zip(warm, reversed(again), strict=True):
        assert a.content() == b.content()
        assert a.digest == a.sealed().digest
        assert Decision.model_validate(a.as_json()) == a
    assert len(engine.parts._seen) < len(records)


def test_a_decision_from_parts_is_sealed_as_the_general_path_seals_it(engine):
    for record in _records(200, seed=4):
        d = engine.decide(record)
        data = {k: v for k, v in d.as_json().items() if k != "digest"}
        again = Decision.seal_data(json.loads(json.dumps(data)))
        assert again.digest == d.digest and again == d


# --------------------------------------------------------------------------- canonical JSON

_LEAVES = st.one_of(st.none(), st.booleans(), st.integers(-(2 ** 70), 2 ** 70),
                    st.floats(allow_nan=False, allow_infinity=False), st.floats(1e-12, 1e-3),
                    st.text(alphabet=st.sampled_from("ae-09.:\"\\\x1f\u00e9\u2028 ")))
_VALUES = st.recursive(_LEAVES, lambda inner: st.one_of(
    st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=4), inner, max_size=3)),
    max_leaves=12)


@settings(max_examples=300, deadline=None)
@given(doc=st.dictionaries(st.text(alphabet="abcde_", min_size=1, max_size=6), _VALUES,
                           max_size=6))
def test_an_object_joined_from_its_members_is_its_canonical_json(doc):
    joined = canonical_object({k: canonical_bytes(v) for k, v in doc.items()})
    assert joined == canonical_bytes(doc) == json.dumps(
        doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def test_a_frame_of_the_same_records_decides_alike(engine):
    records = _records(300, seed=6)
    single = [engine.decide(r).content() for r in records]
    many, rejects = engine.decide_many(pd.DataFrame(records))
    assert len(rejects) == 0
    assert [d.content() for d in many] == single


def test_decision_ids_are_uuid4_hex_and_differ(engine):
    import uuid

    from engine.decider import new_decision_id

    ids = [new_decision_id() for _ in range(2000)] + [engine.decide(SAMPLE_RECORD).decision_id]
    assert len(set(ids)) == len(ids)
    for text in ids:
        found = uuid.UUID(hex=text)
        assert (found.version, found.variant, found.hex) == (4, uuid.RFC_4122, text)


def test_a_forked_child_never_repeats_its_parents_decision_ids():
    import os

    from engine.decider import new_decision_id

    new_decision_id()  # the parent holds random bytes it has not used yet
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.write(write, " ".join(new_decision_id() for _ in range(300)).encode())
        os._exit(0)
    os.close(write)
    with os.fdopen(read) as pipe:
        child = pipe.read().split()
    os.waitpid(pid, 0)
    parent = [new_decision_id() for _ in range(300)]
    assert len(child) == 300 and not set(child) & set(parent)


def test_the_canonical_payload_is_the_canonical_json_of_the_sealed_document(engine):
    decisions = [engine.decide(r) for r in _records(100, seed=12)]
    decisions.append(engine.with_executor("durable").decide(SAMPLE_RECORD))
    decisions.append(decisions[0].model_copy(update={"decision_id": "edited"}))
    for d in decisions:
        assert d.canonical_payload() == json.dumps(
            d.as_json(), sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def test_a_decision_fed_by_payment_events_is_the_same_on_both_executors(engine):
    from engine.decision import EventOutcome
    from engine.events.store import EventOutcomes

    theft = EventOutcome(kind="theft_override", rule_id="theft", reason="theft found",
                         event_ids=("e1", "e2"), valid_from="2026-01-01",
                         valid_until="2027-06-30", amount=1e-05)
    given = EventOutcomes(customer_id=SAMPLE_RECORD["customer_id"],
                          as_of=dt.date(2026, 10, 31), outcomes=(theft,))
    made = {ex: engine.with_executor(ex).decide(SAMPLE_RECORD, outcomes=given,
                                                decision_id="same")
            for ex in ("compiled", "durable")}
    a, b = made["compiled"], made["durable"]
    assert a.content() == b.content() and a.events == (theft,)
    assert a.grade.grade == "C" and a.inputs["theft_override_active"] is True
    assert Decision.model_validate(a.as_json()) == a and type(a.events[0]) is EventOutcome
    assert a.digest == a.sealed().digest
    for d in (a, b):
        assert d.canonical_payload() == json.dumps(
            d.as_json(), sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def test_a_decision_put_together_from_its_parts_is_the_validated_model(engine):
    """seal_parts builds the model without validating again: it must be what validation builds."""
    shadowed = [engine.decide(r) for r in _records(150, seed=14)]
    for d in shadowed:
        data = d.as_json()
        again = Decision.model_validate(data)
        assert again == d and again.model_dump(mode="json") == d.model_dump(mode="json")
        assert d.model_fields_set == again.model_fields_set
        for mine, theirs in ((d.score, again.score), *zip(d.score.reasons, again.score.reasons,
                                                          strict=True)):
            assert type(mine) is type(theirs) and mine == theirs
            assert mine.model_fields_set == theirs.model_fields_set
        assert d.model_dump_json() == again.model_dump_json()
        assert d.model_copy(update={"decision_id": "x"}).decision_id == "x"
        with pytest.raises(Exception, match="frozen"):
            d.customer_id = "other"
