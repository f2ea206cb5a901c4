"""The day's collections work list against batch decisions, on the same population.

``collections due`` reads each customer's class, grade and segments from a
batch output and its 12 months of bills and payments, and lists the steps due
on the as-of date; ``decide --input`` is the baseline, measured in the same run
on the same customers. Both are timed in this process:

- baseline: ``engine.batch.decide.decide_file`` on the customers file (read,
  validate, score, tables, write), as ``gridcredit decide --input`` runs it;
- collections: what ``gridcredit collections due --events --decisions`` runs
  after reading its files: the batch output read back
  (``profiles_from_frame``), ``due_list`` over the events (held in memory with
  categorical columns; generating them is not timed) and the work list written
  as CSV.

The figure is customers per second of each and their ratio (target at least
0.3), in wall time and in CPU time of this process (the machine may be shared:
CPU time is what a loaded machine does not distort). Sizes: quick 20,000
customers, full 1,000,000 (``GRIDCREDIT_BENCH_COLLECTIONS`` overrides), 12
months of events each (about 24 events a customer).
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from pathlib import Path

import pandas as pd

from engine import synth
from engine.collections.profiles import profiles_from_frame
from engine.collections.synthetic import generate_events
from engine.collections.tables import load_collection_tables
from engine.collections.worklist import due_list
from engine.frames import write_frame

SEED = 24


def run(results: Path, quick: bool = False) -> dict:
    from engine.batch.decide import decide_file
    from engine.decider import load

    n = int(os.environ.get("GRIDCREDIT_BENCH_COLLECTIONS") or (20_000 if quick else 1_000_000))
    engine = load()
    tables = load_collection_tables(engine.config.rules_dir, engine.catalogue)
    tmp = Path(tempfile.mkdtemp(prefix="gridcredit-bench-collections-"))
    try:
        population = synth.generate(n, SEED)
        customers = write_frame(population.drop(columns=["default_12m"]), tmp / "c.parquet")
        started, cpu = time.perf_counter(), time.process_time()
        decide_file(engine, customers, tmp / "d.parquet", overwrite=True)
        decide_s, decide_cpu = time.perf_counter() - started, time.process_time() - cpu
        events = generate_events(population, end=synth.DEFAULT_AS_OF, seed=SEED, ids=False)
        del population
        started, cpu = time.perf_counter(), time.process_time()
        profiles = profiles_from_frame(pd.read_parquet(tmp / "d.parquet"))
        work = due_list(events, profiles, synth.DEFAULT_AS_OF, tables)
        write_frame(work.rows, tmp / "work.csv")
        due_s, due_cpu = time.perf_counter() - started, time.process_time() - cpu
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    decide_rate, due_rate = n / decide_s, n / due_s
    return {
        "customers": n,
        "events": len(events),
        "as_of": synth.DEFAULT_AS_OF.isoformat(),
        "customers_examined": work.examined,
        "steps_due": len(work.rows),
        "decide_seconds": round(decide_s, 2),
        "due_seconds": round(due_s, 2),
        "decide_customers_per_s": round(decide_rate),
        "due_customers_per_s": round(due_rate),
        "ratio_due_to_decide": round(due_rate / decide_rate, 3),
        "decide_cpu_seconds": round(decide_cpu, 2),
        "due_cpu_seconds": round(due_cpu, 2),
        "cpu_ratio_due_to_decide": round(decide_cpu / due_cpu, 3),
        "target_ratio": 0.3,
    }
