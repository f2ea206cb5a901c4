"""Whole customer bases: end-to-end batch throughput, its table stage against zen-engine,
durable-rules and plain numpy, peak memory against input size, and Dask against one process.

Measured in one run on synthetic customers with the shipped tables:

- ``batch``: ``gridcredit decide`` end to end (read -> validate -> score -> tables ->
  write) on 1,000,000 customers in a child process pinned to one core, with the
  share of time per stage and the peak RSS;
- ``zen``: the same tables as JDM decision tables generated from the loaded
  ``TableSet`` (one decision-table node per YAML table, chained in execution
  order), compiled once with ``ZenEngine.create_decision`` and evaluated per row with
  ``ZenDecision.evaluate`` (zen's fast path: no loader or graph look-up per call);
- ``durable``: ``TableSet.decide`` per row (durable-rules);
- ``numpy``: the floor, only the rule masks and winners over pre-encoded columns;
- ``decision_log``: the same end-to-end run without and with ``--db`` (every row
  sealed with its decision's digest and its record kept, one run entry in a
  fresh SQLite log), alternately, ``REPEAT`` times each; the medians are compared.

The table stage is ``engine.batch.decide.table_columns``: the same shipped tables on
the same population, from the fact columns (scored, with ``pd``) to the
output columns a batch row carries (grade, grade rule, override, the four
segments, policy ids), chunk by chunk as a batch run does; column encoding
included. It and the floor are timed alternately in this process, ``REPEAT``
times each, and compared by their medians.

The per-row executors run on a sample (``SAMPLE`` rows) and their rates are
extrapolated to the population: per-row cost does not depend on its size.
Peak memory is measured for 1M and 5M rows at the same chunk size, and for 1M
rows at a larger chunk, to show it follows the chunk size, not the input.
Dask with two local worker processes is timed against one process (pinned to one
core)
on 5M rows, alternately, ``REPEAT`` times each; the medians are compared.
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from engine import synth
from engine.records import vocabulary
from engine.tables import TableSet
from engine.tables.masks import encode_column
from engine.tables.model import FieldRef, Table
from engine.tables.vectorised import first_winners, rule_masks

ROOT = Path(__file__).resolve().parent.parent
CHUNK = 100_000
SAMPLE = 20_000
REPEAT = 3
TABLE_STAGE = ("engine.batch.decide.table_columns over chunks of {chunk:,} rows: fact columns "
               "(scored) -> grade, grade_rule, override, consumption_class, "
               "outage_sensitivity, service_sensitivity, value_tier, policies; encoding "
               "included. Floor: rule masks and winners over columns encoded beforehand.")


# --------------------------------------------------------------------------- inputs

def write_population(path: Path, n: int, piece: int = 500_000) -> Path:
    """``n`` synthetic customers with unique ids, generated and written piece by piece."""
    writer = None
    done = 0
    seed = 0
    while done < n:
        size = min(piece, n - done)
        frame = synth.generate(size, seed=seed).drop(columns=["default_12m"])
        frame["customer_id"] = [f"C{done + i:09d}" for i in range(size)]
        table = pa.Table.from_pandas(frame, preserve_index=False)
        if writer is None:
            writer = pq.ParquetWriter(path, table.schema)
        writer.write_table(table.cast(writer.schema))
        done += size
        seed += 1
    writer.close()
    return path


# --------------------------------------------------------------------------- JDM from tables

def _cell(conditions: list) -> str:
    """One JDM input cell: the AND of a rule's conditions on one field; null never matches."""
    parts = []
    for c in conditions:
        values = c.value if isinstance(c.value, tuple) else (c.value,)
        lit = [json.dumps(v) for v in values]
        op = {"eq": "==", "ne": "!=", "lt": "<", "le": "<=", "gt": ">", "ge": ">="}.get(c.op)
        if op:
            parts.append(f"$ {op} {lit[0]}")
        elif c.op == "in":
            parts.append(f"$ in [{', '.join(lit)}]")
        else:
            parts.append(f"not($ in [{', '.join(lit)}])")
    return "$ != null and " + " and ".join(parts) if parts else ""


def _table_node(t: Table, position: int) -> dict:
    fields = list(dict.fromkeys(c.field for r in t.rules for c in r.when))
    inputs = [{"id": f"in{i}", "name": f, "field": f} for i, f in enumerate(fields)]
    outputs = [{"id": f"out{i}", "name": f, "field": f} for i, f in enumerate(t.outputs)]
    rules = []
    for r in t.rules:
        row: dict = {"_id": r.id}
        for i, f in enumerate(fields):
            row[f"in{i}"] = _cell([c for c in r.when if c.field == f])
        if t.adds_policies:
            row["out0"] = json.dumps(";".join(a.policy_id for a in r.policies))
        else:
            sets = dict(r.sets)
            for i, f in enumerate(t.outputs):
                v = sets.get(f)
                row[f"out{i}"] = v.field if isinstance(v, FieldRef) else json.dumps(v)
        rules.append(row)
    hit = "collect" if t.hit_policy in ("collect", "rule_order") else "first"
    return {"id": f"t{position}", "type": "decisionTableNode", "name": t.name,
            "position": {"x": 200 * position, "y": 0},
            "content": {"hitPolicy": hit, "passThrough": True, "inputField": None,
                        "outputPath": "policies" if hit == "collect" else None,
                        "executionMode": "single",
                        "inputs": inputs, "outputs": outputs, "rules": rules}}


def jdm_graph(tables: TableSet) -> dict:
    """The table set as one JDM graph: input -> one decision table per table -> output."""
    nodes = [{"id": "request", "type": "inputNode", "name": "Request",
              "position": {"x": 0, "y": 0}}]
    nodes += [_table_node(t, i + 1) for i, t in enumerate(tables.tables)]
    nodes.append({"id": "response", "type": "outputNode", "name": "Response",
                  "position": {"x": 200 * (len(tables.tables) + 1), "y": 0}})
    edges = [{"id": f"e{i}", "sourceId": a["id"], "targetId": b["id"], "type": "edge"}
             for i, (a, b) in enumerate(zip(nodes, nodes[1:], strict=False))]
    return {"nodes": nodes, "edges": edges}


# --------------------------------------------------------------------------- measurements

def _facts_sample(engine, source: Path, n: int) -> pd.DataFrame:
    from engine.facts import frame_facts
    from engine.records import validate_frame

    frame = pq.ParquetFile(source).read_row_groups([0]).to_pandas().head(n)
    accepted, _ = validate_frame(frame)
    facts = frame_facts(accepted)
    scored = engine.registry.score_frame(facts)
    facts["z"], facts["pd"] = scored["z"].to_numpy(), scored["pd"].to_numpy()
    return facts


def _plain_rows(facts: pd.DataFrame) -> list[dict]:
    rows = []
    for raw in facts.to_dict(orient="records"):
        row = {}
        for k, v in raw.items():
            if v is None or v is pd.NA or v is pd.NaT or (isinstance(v, float) and v != v):
                row[k] = None
            elif isinstance(v, pd.Timestamp):
                row[k] = v.date().isoformat()
            else:
                row[k] = v.item() if isinstance(v, np.generic) else v
        rows.append(row)
    return rows


def zen_rate(engine, facts: pd.DataFrame) -> dict:
    """Rows per second through ZenDecision.evaluate, and agreement with the vectorised grades."""
    import zen

    decision = zen.ZenEngine().create_decision(json.dumps(jdm_graph(engine.tables)))
    rows = _plain_rows(facts)
    decision.evaluate(rows[0])
    started = time.perf_counter()
    results = [decision.evaluate(row)["result"] for row in rows]
    seconds = time.perf_counter() - started
    expected = engine.tables.decide_frame(facts)
    def policies(result: dict) -> tuple[str, ...]:
        given = [p for hit in result.get("policies") or [] for p in hit["policy"].split(";")]
        return tuple(dict.fromkeys(given))

    agree = np.mean([r.get("grade") == g and r.get("value_tier") == v and policies(r) == p
                     for r, g, v, p in zip(results, expected["grade"], expected["value_tier"],
                                           expected["policies"], strict=True)])
    return {"per_s": len(rows) / seconds, "sample": len(rows), "agreement": round(float(agree), 4)}


def durable_rate(engine, facts: pd.DataFrame) -> dict:
    rows = _plain_rows(facts)
    engine.tables.decide(rows[0], executor="durable")
    started = time.perf_counter()
    for row in rows:
        engine.tables.decide(row, executor="durable")
    return {"per_s": len(rows) / (time.perf_counter() - started), "sample": len(rows)}


def numpy_floor(engine, facts: pd.DataFrame) -> float:
    """Seconds for the rule masks and winners alone, over pre-encoded columns."""
    ts = engine.tables
    decided = ts.decide_frame(facts)
    full = facts.assign(**{c: decided[c] for c in ts.outputs})
    vocab = vocabulary()
    columns = {name: encode_column(vocab[name], full[name]) for t in ts.tables for name in t.reads}
    started = time.perf_counter()
    for t in ts.tables:
        masks = rule_masks(t, columns.__getitem__, len(facts))
        if not t.adds_policies:
            first_winners(masks)
    return time.perf_counter() - started


def table_stage(engine, facts: pd.DataFrame, chunk: int) -> float:
    """Seconds for the batch table stage over ``facts``, ``chunk`` rows at a time."""
    from engine.batch.decide import table_columns
    from engine.pipeline import run_tables

    started = time.perf_counter()
    for start in range(0, len(facts), chunk):
        table_columns(engine, run_tables(engine.tables, facts.iloc[start:start + chunk]))
    return time.perf_counter() - started


def _child_run(source: Path, out: Path, chunk: int, dask: str | None = None,
               one_core: bool = True, db: Path | None = None) -> dict:
    """A batch run in a fresh process (pinned to one core unless Dask): summary and peak RSS.

    With ``db`` the run is logged there (``decide --db``): every row sealed, one run entry.
    """
    env = os.environ | {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1",
                        "MKL_NUM_THREADS": "1", "ARROW_NUM_THREADS": "1"}
    code = ("import json,sys,resource;from bench.bench_batch import child;"
            "print(json.dumps(child(*sys.argv[1:])))")
    cmd = [sys.executable, "-c", code, str(source), str(out), str(chunk), dask or "",
           str(db or "")]
    if one_core and shutil.which("taskset"):
        cmd = ["taskset", "-c", "0", *cmd]
    done = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, env=env, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"batch child failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def child(source: str, out: str, chunk: str, dask: str = "", db: str = "") -> dict:
    """Entry point of the child process: decide, then report the summary and peak RSS."""
    from engine.batch.decide import decide_file
    from engine.decider import load

    engine = load()
    started = time.perf_counter()
    if dask:
        from engine.batch.scaleout import decide_file_dask

        summary = decide_file_dask(engine, source, out, cluster=dask, chunk_size=int(chunk),
                                   overwrite=True)
    else:
        summary = decide_file(engine, source, out, chunk_size=int(chunk), overwrite=True,
                              db=db or None)
    seconds = time.perf_counter() - started
    figures = summary.as_dict()
    figures["wall_seconds"] = seconds
    figures["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return figures


def log_cost(source: Path, tmp: Path, chunk: int) -> dict:
    """The same batch without and with the decision log, alternately, ``REPEAT`` times each.

    The logged run seals every row (``engine.batch.seals``), keeps its record,
    archives the tables and models and appends one run entry to a fresh
    SQLite log; medians are compared.
    """
    plain, logged = [], []
    for i in range(REPEAT):
        plain.append(_child_run(source, tmp / "plain.parquet", chunk))
        logged.append(_child_run(source, tmp / "logged.parquet", chunk,
                                 db=tmp / f"log-{i}.sqlite"))
    mid = len(plain) // 2
    one = sorted(plain, key=lambda r: r["wall_seconds"])[mid]
    two = sorted(logged, key=lambda r: r["wall_seconds"])[mid]
    rows = one["rows_in"]
    return {
        "rows": rows,
        "repeats": REPEAT,
        "without_log_per_s": round(rows / one["wall_seconds"]),
        "with_log_per_s": round(rows / two["wall_seconds"]),
        "without_log_runs_s": [round(r["wall_seconds"], 2) for r in plain],
        "with_log_runs_s": [round(r["wall_seconds"], 2) for r in logged],
        "with_log_over_without": round(two["wall_seconds"] / one["wall_seconds"], 2),
        "with_log_stage_share": _shares(two["stage_seconds"]),
        "output_mb_without_log": round((tmp / "plain.parquet").stat().st_size / 2**20, 1),
        "output_mb_with_log": round((tmp / "logged.parquet").stat().st_size / 2**20, 1),
    }


def _shares(stage_seconds: dict) -> dict:
    total = sum(stage_seconds.values())
    return {k: round(v / total, 3) for k, v in stage_seconds.items()}


def run(results: Path, quick: bool = False) -> dict:
    from engine.decider import load

    engine = load()
    small, large = (50_000, 200_000) if quick else (1_000_000, 5_000_000)
    chunk = 20_000 if quick else CHUNK
    sample = 2_000 if quick else SAMPLE
    tmp = Path(tempfile.mkdtemp(prefix="gridcredit-bench-"))
    try:
        src_small = write_population(tmp / "small.parquet", small)
        e2e = _child_run(src_small, tmp / "d1.parquet", chunk)
        e2e_rate = e2e["rows_in"] / e2e["wall_seconds"]
        child_table_rate = e2e["rows_in"] / e2e["stage_seconds"]["tables"]

        facts_small = _facts_sample(engine, src_small, min(small, 1_000_000))
        stage_s, floor_s = [], []
        for _ in range(REPEAT):
            stage_s.append(table_stage(engine, facts_small, chunk))
            floor_s.append(numpy_floor(engine, facts_small))
        table_rate = len(facts_small) / float(np.median(stage_s))
        floor_rate = len(facts_small) / float(np.median(floor_s))
        facts = facts_small.head(sample)
        zen = zen_rate(engine, facts)
        durable = durable_rate(engine, facts)

        logging = log_cost(src_small, tmp, chunk)
        bigger_chunk = _child_run(src_small, tmp / "d2.parquet", chunk * 4)
        src_large = write_population(tmp / "large.parquet", large)
        ones, twos, same = [], [], True
        for _ in range(REPEAT):
            ones.append(_child_run(src_large, tmp / "d3.parquet", chunk))
            twos.append(_child_run(src_large, tmp / "d4.parquet", chunk, dask="local:2",
                                   one_core=False))
            same = same and pq.read_table(tmp / "d3.parquet").equals(
                pq.read_table(tmp / "d4.parquet"))
        one = sorted(ones, key=lambda r: r["wall_seconds"])[len(ones) // 2]
        two = sorted(twos, key=lambda r: r["wall_seconds"])[len(twos) // 2]
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return {
        "rows": small,
        "chunk_size": chunk,
        "end_to_end": {
            "customers_per_s_one_core": round(e2e_rate),
            "seconds": round(e2e["wall_seconds"], 2),
            "stage_share": _shares(e2e["stage_seconds"]),
            "peak_rss_mb": round(e2e["peak_rss_mb"]),
        },
        "table_stage": {
            "definition": TABLE_STAGE.format(chunk=chunk),
            "rows": len(facts_small),
            "repeats": REPEAT,
            "batch_per_s": round(table_rate),
            "numpy_floor_per_s": round(floor_rate),
            "numpy_floor_over_batch": round(floor_rate / table_rate, 2),
            "target_within_5x": floor_rate / table_rate <= 5,
            "batch_per_s_in_end_to_end_run": round(child_table_rate),
        },
        "decision_log": logging,
        "per_row_executors": {
            "note": f"measured on the first {sample:,} customers, rates extrapolated",
            "zen_engine_per_s": round(zen["per_s"]),
            "zen_agreement_grade_value_tier_policies": zen["agreement"],
            "durable_rules_per_s": round(durable["per_s"]),
        },
        "ratios": {
            "batch_end_to_end_vs_zen": round(e2e_rate / zen["per_s"], 1),
            "batch_table_stage_vs_zen": round(table_rate / zen["per_s"], 1),
            "batch_end_to_end_vs_durable": round(e2e_rate / durable["per_s"], 1),
            "target_20x_zen": e2e_rate / zen["per_s"] >= 20,
        },
        "memory": {
            f"{small:,} rows, chunk {chunk:,}": round(e2e["peak_rss_mb"]),
            f"{large:,} rows, chunk {chunk:,}": round(one["peak_rss_mb"]),
            f"{small:,} rows, chunk {chunk * 4:,}": round(bigger_chunk["peak_rss_mb"]),
            "large_over_small": round(one["peak_rss_mb"] / e2e["peak_rss_mb"], 2),
        },
        "dask": {
            "rows": large,
            "repeats": REPEAT,
            "one_process_s": round(one["wall_seconds"], 1),
            "two_local_workers_s": round(two["wall_seconds"], 1),
            "one_process_runs_s": [round(r["wall_seconds"], 1) for r in ones],
            "two_local_workers_runs_s": [round(r["wall_seconds"], 1) for r in twos],
            "speedup": round(one["wall_seconds"] / two["wall_seconds"], 2),
            "target_faster_than_one_process": one["wall_seconds"] > two["wall_seconds"],
            "identical_output": bool(same),
        },
    }
