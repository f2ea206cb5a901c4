"""The frame pipeline against one decision at a time, and the fixed-order z against BLAS.

- ``decide_many``: ``Engine.decide_many`` over a frame (validate, facts,
  score and tables column-wise, then one ``Decision`` per row), against the
  named baseline, a loop of ``Engine.decide`` over the same rows keeping
  every decision, as a caller of either does.
- ``discriminant``: ``ScoreModel.discriminant`` (z summed indicator by
  indicator, the same bits whatever the chunk) against the baseline
  ``woe @ coef + intercept`` (a BLAS matrix-vector product whose last bits
  depend on the number of rows), on the residential model's WoE matrix.
"""

from __future__ import annotations

import gc
import time
from pathlib import Path

from engine import synth
from engine.records import record_of


def _best(fn, repeat: int = 3) -> float:
    times = []
    for _ in range(repeat):
        gc.collect()
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return min(times)


def run(results: Path, quick: bool = False) -> dict:
    import engine
    from engine.pipeline import score_population

    eng = engine.load()
    n = 2_000 if quick else 20_000
    frame = synth.generate(n, seed=19).drop(columns=["default_12m"])
    records = [record_of(r) for r in frame.to_dict(orient="records")]
    eng.decide_many(frame.iloc[:50])
    many_s = _best(lambda: eng.decide_many(frame), repeat=2)
    loop_s = _best(lambda: [eng.decide(r) for r in records], repeat=2)

    big = synth.generate(100_000 if quick else 1_000_000, seed=19).drop(columns=["default_12m"])
    population = score_population(eng.registry, big)
    model = eng.registry.model_for("residential")
    residential = population.indicators[(population.facts["customer_class"]
                                         == "residential").to_numpy()]
    woe = model.woe_matrix(residential)
    fixed_s = _best(lambda: model.discriminant(woe))
    blas_s = _best(lambda: woe @ model.coef + model.intercept)
    return {
        "rows": n,
        "decide_many_s": round(many_s, 3),
        "baseline_decide_loop_s": round(loop_s, 3),
        "decide_many_vs_loop": round(loop_s / many_s, 2),
        "discriminant_rows": len(woe),
        "discriminant_s": round(fixed_s, 4),
        "baseline_blas_s": round(blas_s, 4),
        "discriminant_vs_blas": round(blas_s / fixed_s, 2),
    }
