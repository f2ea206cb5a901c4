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
  fresh SQLite log), alternately, ``REPEAT`` times each; the logged run's wall
  time, CPU time and peak RSS are given as ratios of the unlogged run's, the
  baseline measured in the same run (target: time <= 1.5x, peak RSS <= 1.3x).

The parts can be run alone and on another population size:
``python -m bench batch --only log --rows 200000`` (parts: ``PARTS``).

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
    from engine.recordframe import validate_frame

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
    started, cpu = time.perf_counter(), time.process_time()
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
    figures["cpu_seconds"] = time.process_time() - cpu
    figures["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return figures


def log_cost(source: Path, tmp: Path, chunk: int, repeat: int = REPEAT) -> dict:
    """The same batch without and with the decision log, alternately, ``repeat`` times each.

    The logged run (``decide --db``, a fresh SQLite log each time, its event
    store empty) seals every row (``engine.batch.seals``), keeps its record,
    archives the tables and models and appends one run entry. The unlogged
    run of the same population, measured in the same run, is the baseline:
    time (wall and CPU, as the machine may be shared) and peak RSS of the
    logged run are given as ratios of the baseline's medians, with each
    pair's own ratio beside them for the spread.
    """
    plain, logged = [], []
    for i in range(repeat):
        plain.append(_child_run(source, tmp / "plain.parquet", chunk))
        logged.append(_child_run(source, tmp / "logged.parquet", chunk,
                                 db=tmp / f"log-{i}.sqlite"))

    def median(runs: list[dict], key: str) -> float:
        return float(np.median([r[key] for r in runs]))

    ratios, spread = {}, {}
    for key, name in (("wall_seconds", "wall"), ("cpu_seconds", "cpu"),
                      ("peak_rss_mb", "peak_rss")):
        ratios[name] = round(median(logged, key) / median(plain, key), 2)
        pairs = [b[key] / a[key] for a, b in zip(plain, logged, strict=True)]
        spread[name] = [round(min(pairs), 2), round(max(pairs), 2)]
    middle = min(logged, key=lambda r: abs(r["wall_seconds"] - median(logged, "wall_seconds")))
    rows = plain[0]["rows_in"]
    return {
        "rows": rows,
        "chunk_size": chunk,
        "repeats": repeat,
        "baseline": "the unlogged run of the same population, in this run",
        "unlogged": _runs(plain),
        "logged": {**_runs(logged), "stage_share": _shares(middle["stage_seconds"])},
        "logged_over_unlogged": ratios,
        "logged_over_unlogged_per_pair_min_max": spread,
        "target": {"time_within_1.5x": ratios["wall"] <= 1.5,
                   "cpu_within_1.5x": ratios["cpu"] <= 1.5,
                   "peak_rss_within_1.3x": ratios["peak_rss"] <= 1.3},
        "output_mb_unlogged": round((tmp / "plain.parquet").stat().st_size / 2**20, 1),
        "output_mb_logged": round((tmp / "logged.parquet").stat().st_size / 2**20, 1),
    }


def _runs(runs: list[dict]) -> dict:
    rows = runs[0]["rows_in"]
    wall = float(np.median([r["wall_seconds"] for r in runs]))
    return {"rows_per_s": round(rows / wall),
            "wall_s": [round(r["wall_seconds"], 2) for r in runs],
            "cpu_s": [round(r["cpu_seconds"], 2) for r in runs],
            "peak_rss_mb": [round(r["peak_rss_mb"]) for r in runs]}


def _shares(stage_seconds: dict) -> dict:
    total = sum(stage_seconds.values())
    return {k: round(v / total, 3) for k, v in stage_seconds.items()}


PARTS = ("end_to_end", "table_stage", "per_row", "log", "memory", "dask")


def run(results: Path, quick: bool = False, rows: int | None = None,
        only: str | None = None) -> dict:
    """Every part, or those ``only`` names (comma-separated, of ``PARTS``), on ``rows``
    customers (1M by default; Dask and the memory check take five times as many)."""
    parts = PARTS if only is None else tuple(p.strip() for p in only.split(","))
    unknown = [p for p in parts if p not in PARTS]
    if unknown:
        raise SystemExit(f"bench batch: no part {unknown[0]!r}; the parts are "
                         + ", ".join(PARTS))
    small = rows or (50_000 if quick else 1_000_000)
    sizes = {"small": small, "large": 5 * small if rows else (200_000 if quick else 5_000_000),
             "chunk": 20_000 if quick else CHUNK, "sample": 2_000 if quick else SAMPLE}
    tmp = Path(tempfile.mkdtemp(prefix="gridcredit-bench-"))
    figures: dict = {"rows": small, "chunk_size": sizes["chunk"]}
    try:
        source = write_population(tmp / "small.parquet", small)
        e2e = None
        if {"end_to_end", "per_row", "memory"} & set(parts):
            e2e = _child_run(source, tmp / "d1.parquet", sizes["chunk"])
            figures["end_to_end"] = _end_to_end(e2e)
        if {"table_stage", "per_row"} & set(parts):
            figures.update(_table_figures(source, sizes, e2e, parts))
        if "log" in parts:
            figures["decision_log"] = log_cost(source, tmp, sizes["chunk"],
                                               1 if quick else REPEAT)
        if "memory" in parts or "dask" in parts:
            figures.update(_large(source, tmp, sizes, e2e, parts))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return figures


def _end_to_end(e2e: dict) -> dict:
    return {"customers_per_s_one_core": round(e2e["rows_in"] / e2e["wall_seconds"]),
            "seconds": round(e2e["wall_seconds"], 2),
            "cpu_seconds": round(e2e["cpu_seconds"], 2),
            "stage_share": _shares(e2e["stage_seconds"]),
            "peak_rss_mb": round(e2e["peak_rss_mb"])}


def _table_figures(source: Path, sizes: dict, e2e: dict | None, parts: tuple) -> dict:
    """The table stage against its numpy floor, and the per-row executors against it."""
    from engine.decider import load

    engine = load()
    chunk = sizes["chunk"]
    facts_small = _facts_sample(engine, source, min(sizes["small"], 1_000_000))
    stage_s, floor_s = [], []
    for _ in range(REPEAT):
        stage_s.append(table_stage(engine, facts_small, chunk))
        floor_s.append(numpy_floor(engine, facts_small))
    table_rate = len(facts_small) / float(np.median(stage_s))
    floor_rate = len(facts_small) / float(np.median(floor_s))
    out: dict = {"table_stage": {
        "definition": TABLE_STAGE.format(chunk=chunk),
        "rows": len(facts_small),
        "repeats": REPEAT,
        "batch_per_s": round(table_rate),
        "numpy_floor_per_s": round(floor_rate),
        "numpy_floor_over_batch": round(floor_rate / table_rate, 2),
        "target_within_5x": floor_rate / table_rate <= 5,
    }}
    if e2e is not None:
        out["table_stage"]["batch_per_s_in_end_to_end_run"] = round(
            e2e["rows_in"] / e2e["stage_seconds"]["tables"])
    if "per_row" not in parts or e2e is None:
        return out
    facts = facts_small.head(sizes["sample"])
    zen, durable = zen_rate(engine, facts), durable_rate(engine, facts)
    e2e_rate = e2e["rows_in"] / e2e["wall_seconds"]
    out["per_row_executors"] = {
        "note": f"measured on the first {sizes['sample']:,} customers, rates extrapolated",
        "zen_engine_per_s": round(zen["per_s"]),
        "zen_agreement_grade_value_tier_policies": zen["agreement"],
        "durable_rules_per_s": round(durable["per_s"]),
    }
    out["ratios"] = {
        "batch_end_to_end_vs_zen": round(e2e_rate / zen["per_s"], 1),
        "batch_table_stage_vs_zen": round(table_rate / zen["per_s"], 1),
        "batch_end_to_end_vs_durable": round(e2e_rate / durable["per_s"], 1),
        "target_20x_zen": e2e_rate / zen["per_s"] >= 20,
    }
    return out


def _large(source: Path, tmp: Path, sizes: dict, e2e: dict | None, parts: tuple) -> dict:
    """Peak memory against input size and chunk size, and Dask against one process."""
    small, large, chunk = sizes["small"], sizes["large"], sizes["chunk"]
    src_large = write_population(tmp / "large.parquet", large)
    ones, twos, same = [], [], True
    for _ in range(REPEAT if "dask" in parts else 1):
        ones.append(_child_run(src_large, tmp / "d3.parquet", chunk))
        if "dask" in parts:
            twos.append(_child_run(src_large, tmp / "d4.parquet", chunk, dask="local:2",
                                   one_core=False))
            same = same and pq.read_table(tmp / "d3.parquet").equals(
                pq.read_table(tmp / "d4.parquet"))
    one = sorted(ones, key=lambda r: r["wall_seconds"])[len(ones) // 2]
    out: dict = {}
    if "memory" in parts and e2e is not None:
        bigger_chunk = _child_run(source, tmp / "d2.parquet", chunk * 4)
        out["memory"] = {
            f"{small:,} rows, chunk {chunk:,}": round(e2e["peak_rss_mb"]),
            f"{large:,} rows, chunk {chunk:,}": round(one["peak_rss_mb"]),
            f"{small:,} rows, chunk {chunk * 4:,}": round(bigger_chunk["peak_rss_mb"]),
            "large_over_small": round(one["peak_rss_mb"] / e2e["peak_rss_mb"], 2),
        }
    if "dask" in parts:
        two = sorted(twos, key=lambda r: r["wall_seconds"])[len(twos) // 2]
        out["dask"] = {
            "rows": large,
            "repeats": REPEAT,
            "one_process_s": round(one["wall_seconds"], 1),
            "two_local_workers_s": round(two["wall_seconds"], 1),
            "one_process_runs_s": [round(r["wall_seconds"], 1) for r in ones],
            "two_local_workers_runs_s": [round(r["wall_seconds"], 1) for r in twos],
            "speedup": round(one["wall_seconds"] / two["wall_seconds"], 2),
            "target_faster_than_one_process": one["wall_seconds"] > two["wall_seconds"],
            "identical_output": bool(same),
        }
    return out
