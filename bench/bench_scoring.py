"""Numpy scoring throughput on one core, against the fitted sklearn pipeline it reproduces.

Indicators are computed beforehand (not timed): the figure is the scorer's
own speed -- bin lookup, ``z = w.x + b``, calibration and the contribution
matrix -- for the residential model, plus the registry path that routes a
mixed frame to both models and ranks the four adverse reasons per customer.
"""

from __future__ import annotations

import time
from pathlib import Path

from threadpoolctl import threadpool_limits

from engine import synth
from engine.modelops import TrainingConfig, make_pipeline
from engine.recordframe import validate_frame
from engine.scoring import load_registry

ROOT = Path(__file__).resolve().parent.parent


def _best(fn, repeat: int = 3) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return min(times)


def run(results: Path, quick: bool = False) -> dict:
    n = 100_000 if quick else 1_000_000
    registry = load_registry(ROOT / "models")
    frame = synth.generate(n, seed=17)
    accepted, _ = validate_frame(frame.drop(columns="default_12m"))
    values = registry.indicators(accepted)
    model = registry.model_for("residential")
    names = list(model.indicators)
    catalogue = registry.catalogue.subset(names)
    fit_rows = 50_000
    pipeline = make_pipeline(catalogue, TrainingConfig()).fit(
        values[names].iloc[:fit_rows], frame["default_12m"].to_numpy()[:fit_rows])
    sk_rows = min(n, 200_000)
    sample = values[names].iloc[:sk_rows]
    with threadpool_limits(limits=1):
        numpy_s = _best(lambda: model.score_frame(values))
        reasons_s = _best(lambda: model.score_frame(values).top_reasons(4))
        registry_s = _best(lambda: registry.score_indicators(values, accepted["customer_class"]),
                           repeat=2)
        sklearn_s = _best(lambda: pipeline.decision_function(sample), repeat=1)
    numpy_rate = n / numpy_s
    sklearn_rate = sk_rows / sklearn_s
    return {
        "rows": n,
        "threads": 1,
        "model": model.model_id,
        "indicators": len(names),
        "numpy_score_seconds": round(numpy_s, 3),
        "numpy_customers_per_s": round(numpy_rate),
        "numpy_with_top4_reasons_per_s": round(n / reasons_s),
        "registry_mixed_frame_with_reasons_per_s": round(n / registry_s),
        "sklearn_pipeline_rows": sk_rows,
        "sklearn_pipeline_customers_per_s": round(sklearn_rate),
        "speedup_vs_sklearn_pipeline": round(numpy_rate / sklearn_rate, 1),
        "target_1m_per_s_met": bool(numpy_rate >= 1_000_000),
    }
