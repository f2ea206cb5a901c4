"""Decision tables: decisions per second per executor, against plain numpy over the same masks.

Three ways to apply the shipped tables to a synthetic population:
- ``numpy``: the floor, only the rule masks and winners over pre-encoded columns;
- ``vectorised``: ``TableSet.decide_frame`` (encoding, masks, hit policies, per-row
  results with fired rules and policy params), the path explanations and the
  differential tests use;
- ``batch``: the batch table stage, ``engine.batch.decide.table_columns`` (encoding, masks,
  hit policies, and only the output columns a batch row carries), on chunks of
  ``CHUNK`` rows;
- ``durable``: ``TableSet.decide`` per customer through durable-rules, on a sample
  (a million per-row decisions would take far too long), with the process RSS
  before and after 100,000 decisions to show memory stays flat.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pandas as pd

from engine import synth
from engine.facts import frame_facts
from engine.policies import load_catalogue
from engine.recordframe import validate_frame
from engine.records import vocabulary
from engine.tables import load_table_set
from engine.tables.masks import encode_column
from engine.tables.vectorised import first_winners, rule_masks

ROOT = Path(__file__).resolve().parent.parent
CHUNK = 100_000


def _facts(n: int, seed: int = 11) -> pd.DataFrame:
    """Synthetic customers as the tables see them: validated, derived facts, a drawn PD."""
    frame = frame_facts(validate_frame(synth.generate(n, seed=seed))[0])
    frame["pd"] = np.random.default_rng(seed).beta(0.6, 12, n)
    return frame


def _rss_mb() -> float:
    with open("/proc/self/statm") as fh:
        pages = int(fh.read().split()[1])
    return pages * 4096 / 1e6


def _numpy_floor(ts, frame: pd.DataFrame, decided: pd.DataFrame) -> float:
    vocab = vocabulary()
    full = frame.assign(**{c: decided[c] for c in ts.outputs})
    absent = pd.Series([None] * len(full), dtype=object)
    columns = {name: encode_column(vocab[name], full[name] if name in full else absent)
               for t in ts.tables for name in t.reads}
    started = time.perf_counter()
    for t in ts.tables:
        masks = rule_masks(t, columns.__getitem__, len(frame))
        if not t.adds_policies:
            first_winners(masks)
    return time.perf_counter() - started


def _batch_stage(engine, frame: pd.DataFrame) -> float:
    from engine.batch.decide import table_columns
    from engine.pipeline import run_tables

    started = time.perf_counter()
    for start in range(0, len(frame), CHUNK):
        table_columns(engine, run_tables(engine.tables, frame.iloc[start:start + CHUNK]))
    return time.perf_counter() - started


def run(results: Path, quick: bool = False) -> dict:
    from engine.decider import load

    engine = load()
    ts = load_table_set(ROOT / "rules", load_catalogue(ROOT / "policies" / "catalogue.yaml"))
    sizes = [20_000, 100_000] if quick else [100_000, 1_000_000]
    sample = 5_000 if quick else 20_000
    memory_run = 20_000 if quick else 100_000
    figures: dict = {"tables": len(ts.tables), "rules": sum(len(t.rules) for t in ts.tables),
                     "content_hash": ts.content_hash[:16]}
    for n in sizes:
        frame = _facts(n)
        started = time.perf_counter()
        decided = ts.decide_frame(frame)
        vec_s = time.perf_counter() - started
        floor_s = _numpy_floor(ts, frame, decided)
        batch_s = _batch_stage(engine, frame)
        rows = frame.head(sample).to_dict("records")
        started = time.perf_counter()
        for facts in rows:
            ts.decide(facts, executor="durable")
        dur_s = time.perf_counter() - started
        numpy_rate = n / floor_s
        figures[f"n={n}"] = {
            "numpy_floor_per_s": round(numpy_rate),
            "vectorised_per_s": round(n / vec_s),
            "vectorised_vs_numpy": round((n / vec_s) / numpy_rate, 4),
            "batch_per_s": round(n / batch_s),
            "numpy_over_batch": round(numpy_rate / (n / batch_s), 2),
            "durable_sample": sample,
            "durable_per_s": round(sample / dur_s),
            "durable_vs_numpy": round((sample / dur_s) / numpy_rate, 6),
            "vectorised_vs_durable": round((n / vec_s) / (sample / dur_s), 1),
        }
    rows = _facts(memory_run, seed=5).to_dict("records")
    for facts in rows[:1000]:
        ts.decide(facts, executor="durable")
    before = _rss_mb()
    started = time.perf_counter()
    for facts in rows:
        ts.decide(facts, executor="durable")
    figures["durable_memory"] = {
        "decisions": memory_run,
        "rss_before_mb": round(before, 1),
        "rss_after_mb": round(_rss_mb(), 1),
        "seconds": round(time.perf_counter() - started, 1),
    }
    return figures
