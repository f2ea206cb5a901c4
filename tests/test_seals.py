"""Batch seals: every row of a logged run carries the digest ``Engine.decide`` gives the same
record under the same decision id with the same event outcomes.

The seal is composed column-wise (``engine.batch.seals``); these tests hold it to the
per-decision path for random populations (edited cells, texts JSON must escape, floats
orjson spells unlike ``json.dumps``, absent fields, event outcomes), whatever the chunk
(1, 7, 50,000 rows) and the block of rows hashed together, in one process and on Dask.
"""

from __future__ import annotations

import datetime as dt
import json
import shutil
from pathlib import Path
from unittest import mock

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine import synth
from engine.batch import seals
from engine.batch.decide import decide_file, decide_frame
from engine.decider import load
from engine.decision import EventOutcome
from engine.events.store import EventOutcomes, open_store
from engine.history import merge_history
from tests.candidates import CHALLENGER_NAMES, registry_text, train_challenger
from tests.factories import plain_record

ROOT = Path(__file__).resolve().parent.parent
RUN = "run-0123456789abcdef"
AS_OF = dt.date(2026, 3, 1)
POPULATION = synth.generate(300, seed=41).drop(columns=["default_12m"])

# One cell changed: history fields (overrides fire), optional fields dropped, texts
# JSON must escape or that are not ASCII, floats orjson and json.dumps spell apart
# (1e-05, 1e-07), and values the validators refuse (the row is rejected, not sealed).
EDITS = st.sampled_from([
    ("customer_id", 'Q"uote\\slash'),
    ("customer_id", "控制\x01字符"),
    ("customer_id", "Ünïcödé-42"),
    ("theft_override_until", "2027-06-30"),
    ("habitual_defaulter", True),
    ("rebate_earned", True),
    ("previous_grade", "C"),
    ("previous_grade", None),
    ("critical_load", True),
    ("overdue_amount", 0.00001),
    ("overdue_amount", 1e-07),
    ("monthly_kwh", 123456789.125),
    ("current_ratio", None),
    ("current_ratio", 0.00003),
    ("max_days_overdue_12m", 120),
    ("social_credit_rating", "D"),
    ("perceived_service_quality", 9.0),
    ("monthly_kwh", -1.0),
])
OUTCOMES = st.sampled_from([
    EventOutcome(kind="theft_override", rule_id="theft-finding", reason="theft found",
                 event_ids=("tf1",), valid_from="2026-02-20T00:00:00Z",
                 valid_until="2027-02-20T00:00:00Z"),
    EventOutcome(kind="rebate_earned", rule_id="on-time-payer", reason="paid on time",
                 event_ids=("p1", "p2"), valid_from="2026-01-01T00:00:00Z",
                 valid_until="2026-12-31T00:00:00Z", amount=12.5),
    EventOutcome(kind="habitual_defaulter", rule_id="late-payer", reason="“逾期” \"late\"",
                 event_ids=("b9",), valid_from="2025-06-01T00:00:00Z",
                 valid_until="2026-06-01T00:00:00Z", grade="C"),
])


@pytest.fixture(scope="module")
def engine():
    return load()


def _record(row: dict) -> dict:
    return plain_record(row)


def _seal_of(engine, record: dict, decision_id: str, outcomes: EventOutcomes | None) -> str:
    single = engine.decide(record, decision_id=decision_id, outcomes=outcomes)
    return single.model_copy(update={"timings_ms": {}}).sealed().digest


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(start=st.integers(0, len(POPULATION) - 40), size=st.integers(1, 40),
       edits=st.lists(st.tuples(st.integers(0, 39), EDITS), max_size=8),
       events=st.lists(st.tuples(st.integers(0, 39), st.lists(OUTCOMES, min_size=1,
                                                               max_size=3, unique=True)),
                       max_size=6),
       chunk=st.sampled_from([1, 7, 50_000]), block=st.sampled_from([1, 3, seals.BLOCK]))
def test_every_row_of_a_batch_is_sealed_as_engine_decide_seals_it(
        engine, start, size, edits, events, chunk, block):
    records = [_record(r) for r in
               POPULATION.iloc[start:start + size].to_dict(orient="records")]
    for row, (field, value) in edits:
        if row < size:
            records[row].pop(field, None)
            if value is not None:
                records[row][field] = value
    outcomes: list[EventOutcomes | None] = [None] * size
    for row, given_outcomes in events:
        if row < size:
            outcomes[row] = EventOutcomes(str(records[row]["customer_id"]), AS_OF,
                                          tuple(given_outcomes))
    merged = [merge_history(r, o.history()) if o is not None else r
              for r, o in zip(records, outcomes, strict=True)]
    frame = pd.DataFrame(merged)
    decided, rejected = [], 0
    with mock.patch.object(seals, "BLOCK", block):
        for first in range(0, size, chunk):
            part = frame.iloc[first:first + chunk].reset_index(drop=True)
            rows = outcomes[first:first + chunk]
            decisions, rejects = decide_frame(
                engine, part, first_row=first, run_id=RUN,
                events=[o.outcomes if o is not None else () for o in rows])
            decided += decisions.to_dict(orient="records")
            rejected += len(rejects)
    assert len(decided) + rejected == size
    for row in decided:
        run_id, position = seals.row_of_id(row["decision_id"])
        assert run_id == RUN
        record, found = records[position], outcomes[position]
        single = engine.decide(record, decision_id=row["decision_id"], outcomes=found)
        assert row["digest"] == single.model_copy(update={"timings_ms": {}}).sealed().digest
        assert json.loads(row["policy_params"]) == {p.policy_id: p.params
                                                    for p in single.policies}
        assert row["rules"] == ";".join(h.rule_id for h in single.trace)
        if found is None:
            assert pd.isna(row["events"])
        else:
            assert json.loads(row["events"]) == [e.model_dump(mode="json")
                                                 for e in found.outcomes]
        assert row[seals.INPUT_PREFIX + "customer_id"] == str(record["customer_id"])


def test_decision_ids_of_many_rows_are_those_of_each_row():
    rows = np.array([0, 7, 12, 999_999_999_999])
    assert seals.decision_ids_of(RUN, rows).to_pylist() == [
        seals.decision_id_of(RUN, int(r)) for r in rows]


def _population(tmp_path: Path, n: int) -> Path:
    frame = synth.generate(n, seed=5).drop(columns=["default_12m"])
    frame["as_of"] = AS_OF.isoformat()
    frame.loc[0, "customer_id"] = "THIEF01"
    frame.loc[3, "monthly_kwh"] = -1.0
    path = tmp_path / "customers.parquet"
    frame.to_parquet(path, index=False)
    return path


def _with_theft(tmp_path: Path) -> str:
    """A SQLite log whose event store holds a theft finding for THIEF01."""
    from typer.testing import CliRunner

    from engine.cli import app

    db = str(tmp_path / "log.sqlite")
    when = dt.datetime.combine(AS_OF, dt.time(), tzinfo=dt.UTC)
    rows = [{"type": "bill_issued", "event_id": "tb1", "customer_id": "THIEF01",
             "bill_id": "B1", "amount": 120.0,
             "time": (when - dt.timedelta(days=20)).isoformat()},
            {"type": "theft_finding", "event_id": "tf1", "customer_id": "THIEF01",
             "reference": "INSP-9", "time": (when - dt.timedelta(days=3)).isoformat()}]
    events = tmp_path / "events.csv"
    pd.DataFrame(rows).to_csv(events, index=False)
    result = CliRunner().invoke(app, ["events", "replay", str(events), "--db", db,
                                      "--no-progress"])
    assert result.exit_code == 0, result.output
    return db


def _check_file(engine, source: Path, out: Path, db: str) -> int:
    """Every output row's digest against ``Engine.decide`` of its stored input row."""
    rows = pq.read_table(out).to_pylist()
    inputs = [_record(r) for r in pd.read_parquet(source).to_dict(orient="records")]
    store = open_store(db, create=False)
    try:
        for row in rows:
            _, position = seals.row_of_id(row["decision_id"])
            found = store.outcomes_for(inputs[position]["customer_id"], AS_OF)
            assert row["digest"] == _seal_of(engine, inputs[position], row["decision_id"],
                                             found if found.outcomes else None)
    finally:
        store.close()
    return len(rows)


@pytest.mark.parametrize("chunk", [1, 7, 50_000])
def test_a_logged_run_seals_every_row_as_engine_decide_whatever_the_chunk(
        engine, tmp_path, chunk):
    source, db = _population(tmp_path, 23), _with_theft(tmp_path)
    out = tmp_path / "decisions.parquet"
    summary = decide_file(engine, source, out, chunk_size=chunk, db=db)
    assert (summary.rows_in, summary.decided, summary.rejected) == (23, 22, 1)
    assert _check_file(engine, source, out, db) == 22
    assert pq.read_table(out).column("grade")[0].as_py() == "C"  # the theft override


@pytest.mark.slow
def test_a_logged_dask_run_seals_every_row_as_engine_decide(engine, tmp_path):
    from engine.batch.scaleout import decide_file_dask

    source, db = _population(tmp_path, 23), _with_theft(tmp_path)
    out = tmp_path / "dask.parquet"
    summary = decide_file_dask(engine, source, out, cluster="local:2", chunk_size=7, db=db)
    assert (summary.rows_in, summary.decided, summary.rejected) == (23, 22, 1)
    assert _check_file(engine, source, out, db) == 22


def test_rows_scored_in_shadow_by_a_challenger_are_sealed_as_engine_decide_seals_them(
        tmp_path):
    from engine.config import EngineConfig

    models = tmp_path / "models"
    models.mkdir()
    for name in ("indicators.yaml", "enterprise.json", "enterprise.md", "residential.json",
                 "residential.md"):
        shutil.copy(ROOT / "models" / name, models / name)
    (models / "registry.yaml").write_text(registry_text(train_challenger(models, CHALLENGER_NAMES)),
                                          encoding="utf-8")
    shadowed = load(EngineConfig.at(ROOT, models_dir=models))
    records = [_record(r) for r in POPULATION.head(40).to_dict(orient="records")]
    decisions, rejects = decide_frame(shadowed, pd.DataFrame(records), run_id=RUN)
    assert len(decisions) + len(rejects) == 40
    shadows = 0
    for row in decisions.to_dict(orient="records"):
        _, position = seals.row_of_id(row["decision_id"])
        single = shadowed.decide(records[position], decision_id=row["decision_id"])
        shadows += single.challenger is not None
        assert row["digest"] == single.model_copy(update={"timings_ms": {}}).sealed().digest
    assert 0 < shadows < len(decisions)  # residential rows in shadow, enterprise rows not
