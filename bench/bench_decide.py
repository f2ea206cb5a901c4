"""One decision at a time, in process: the compiled executor and Engine.decide against zen-engine.

Measured in one run on the same synthetic customers with the shipped tables:

- ``zen``: the same six tables as one JDM graph (``bench.bench_batch.jdm_graph``),
  compiled once with ``ZenEngine.create_decision`` and evaluated per customer with
  ``ZenDecision.evaluate`` (zen's fast path: no loader, no graph look-up per call),
  on the facts the tables see (validated record, derived facts, z and pd);
- ``compiled tables``: ``TableSet.decide(facts)`` on those facts: facts in, outputs,
  rules fired (with file:line) and policies with params out, the work zen does;
- ``durable tables``: the same through durable-rules (the reference executor);
- ``decide``: the whole ``Engine.decide(record)`` from the raw record: validation,
  derived facts, scoring, tables, the Decision with its full trace, sealing
  (canonical JSON and SHA-256); on the compiled and on the durable executor.

The machine is shared, so the five are interleaved finely: the customers are
cut into blocks of ``BLOCK``, every block is run by each of the five in turn,
and each one's time is summed over all blocks and ``REPEAT`` passes; a burst of
load from elsewhere then falls on all five alike. ``per_s_passes`` gives each
pass's rates, to show the spread. ``stages_us`` is the cost of each stage of the compiled
``Engine.decide`` per call (the decision's own ``timings_ms``, plus sealing timed apart).
"""

from __future__ import annotations

import gc
import json
import math
import os
import statistics
import time
from pathlib import Path
from typing import Any

import numpy as np

SAMPLE = 5_000
REPEAT = 5
BLOCK = 50


def _records(n: int, seed: int = 17) -> list[dict[str, Any]]:
    from engine import synth

    frame = synth.generate(n, seed=seed).drop(columns=["default_12m"])
    return [{k: (v.item() if isinstance(v, np.generic) else v) for k, v in r.items()
             if not (v is None or (isinstance(v, float) and math.isnan(v)))}
            for r in frame.to_dict(orient="records")]


def _table_facts(engine: Any, records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The facts the tables read, exactly as Engine.decide hands them over."""
    from engine.facts import record_facts
    from engine.records import validate_record
    from engine.scoring import compute_one

    out = []
    for r in records:
        facts = record_facts(validate_record(dict(r)))
        model = engine.registry.model_for(facts["customer_class"])
        score = model.score_one(compute_one(facts, engine.registry.catalogue,
                                            names=list(model.indicators)))
        facts["z"], facts["pd"] = score.z, score.pd
        out.append(facts)
    return out


def _agreement(engine: Any, zen_decision: Any, facts: list[dict[str, Any]]) -> float:
    """Share of customers on which zen's grade, value tier and policies equal ours."""
    same = 0
    for f in facts:
        mine = engine.tables.decide(f)
        theirs = zen_decision.evaluate(f)["result"]
        given = [p for hit in theirs.get("policies") or [] for p in hit["policy"].split(";")]
        same += (theirs.get("grade") == mine.outputs["grade"]
                 and theirs.get("value_tier") == mine.outputs["value_tier"]
                 and tuple(dict.fromkeys(given)) == mine.policy_ids)
    return same / len(facts)


def _stages(engine: Any, records: list[dict[str, Any]]) -> dict[str, float]:
    """µs per stage of the compiled ``Engine.decide``: the median call over ``records``.

    The first four are the decision's own ``timings_ms`` (read by the clock
    between its stages, to the µs); sealing (canonical JSON, SHA-256, the
    frozen model) comes after them, so it is timed as the rest of the call: the
    whole call's time minus ``timings_ms.total``. Medians, because a shared
    machine's bursts of load land on a few calls and would dominate a mean;
    the whole call's mean is given beside its median.
    """
    names = {"validate": "validate + facts", "score": "score", "tables": "tables",
             "assemble": "assemble"}
    calls: dict[str, list[float]] = {k: [] for k in [*names.values(), "seal", "whole decide"]}
    for r in records:
        t0 = time.perf_counter()
        d = engine.decide(r)
        wall = (time.perf_counter() - t0) * 1e6
        for k, label in names.items():
            calls[label].append(d.timings_ms[k] * 1e3)
        calls["seal"].append(wall - d.timings_ms["total"] * 1e3)
        calls["whole decide"].append(wall)
    out = {k: round(statistics.median(v), 1) for k, v in calls.items()}
    out["whole decide (mean)"] = round(statistics.mean(calls["whole decide"]), 1)
    return out


def run(results: Path, quick: bool = False) -> dict:
    import zen

    from bench.bench_batch import jdm_graph
    from engine.decider import load

    engine = load()
    durable = engine.with_executor("durable")
    n = 1_000 if quick else SAMPLE
    records = _records(n)
    facts = _table_facts(engine, records)
    zen_decision = zen.ZenEngine().create_decision(json.dumps(jdm_graph(engine.tables)))
    for r in records[:200]:
        engine.decide(r)
        durable.decide(r)
    work = {
        "zen": (zen_decision.evaluate, facts),
        "compiled_tables": (engine.tables.decide, facts),
        "durable_tables": (lambda f: engine.tables.decide(f, executor="durable"), facts),
        "decide_compiled": (engine.decide, records),
        "decide_durable": (durable.decide, records),
    }
    gc.collect()
    gc.freeze()  # what the service does after loading: collections skip the loaded engine
    load_before = os.getloadavg()
    passes = []
    for _ in range(2 if quick else REPEAT):
        seconds = dict.fromkeys(work, 0.0)
        for start in range(0, n, BLOCK):
            for name, (fn, items) in work.items():
                block = items[start:start + BLOCK]
                t0 = time.perf_counter()
                for item in block:
                    fn(item)
                seconds[name] += time.perf_counter() - t0
        passes.append({k: n / v for k, v in seconds.items()})
    load_after = os.getloadavg()
    rate = {k: statistics.median(p[k] for p in passes) for k in work}
    runs = {k: [p[k] for p in passes] for k in work}
    return {
        "customers": n, "passes": len(passes), "block": BLOCK,
        "baseline": "zen-engine ZenDecision.evaluate (create_decision) on the same six tables "
                    "and facts",
        "per_s_median": {k: round(v) for k, v in rate.items()},
        "per_s_passes": {k: [round(x) for x in v] for k, v in runs.items()},
        "ratios": {
            "compiled_table_stage_vs_zen": round(rate["compiled_tables"] / rate["zen"], 2),
            "decide_compiled_vs_zen": round(rate["decide_compiled"] / rate["zen"], 2),
            "durable_table_stage_vs_zen": round(rate["durable_tables"] / rate["zen"], 2),
            "decide_durable_vs_zen": round(rate["decide_durable"] / rate["zen"], 2),
            "decide_compiled_vs_decide_durable": round(rate["decide_compiled"]
                                                       / rate["decide_durable"], 2),
        },
        "targets": {
            "compiled_table_stage_10x_zen": rate["compiled_tables"] >= 10 * rate["zen"],
            "decide_3x_zen": rate["decide_compiled"] >= 3 * rate["zen"],
        },
        "zen_agreement_grade_value_tier_policies": round(_agreement(engine, zen_decision,
                                                                    facts[:1000]), 4),
        "stages_us": _stages(engine, records[:2000]),
        "load_average_1_5_15": {"before": [round(x, 2) for x in load_before],
                                "after": [round(x, 2) for x in load_after]},
    }
