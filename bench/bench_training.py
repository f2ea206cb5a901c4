"""Training both registry models on a 1M-customer synthetic population (5-fold CV, governance).

The baseline is the same training on the registry's shipped size (200,000
customers) in the same run, so the ratio shows how training time grows with
the population; peak memory is the process's maximum resident set.
"""

from __future__ import annotations

import resource
import tempfile
import time
from pathlib import Path

from engine import synth
from engine.config import EngineConfig
from engine.decider import load_tables
from engine.modelops import TrainingConfig, train_registry

ROOT = Path(__file__).resolve().parent.parent


def _train(n: int, out: Path) -> tuple[float, dict]:
    frame = synth.generate(n, seed=20261031)
    scale = load_tables(EngineConfig.at(ROOT)).scale
    started = time.perf_counter()
    results = train_registry(frame, models_dir=ROOT / "models", out_dir=out, bands=scale,
                             config=TrainingConfig(), source=f"bench n={n}")
    seconds = time.perf_counter() - started
    return seconds, {s: round(r.artifact["cv_metrics"]["auc_mean"], 4) for s, r in results.items()}


def run(results: Path, quick: bool = False) -> dict:
    big, base = (100_000, 20_000) if quick else (1_000_000, 200_000)
    with tempfile.TemporaryDirectory() as tmp:
        base_s, base_auc = _train(base, Path(tmp) / "base")
        big_s, big_auc = _train(big, Path(tmp) / "big")
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {
        "rows": big,
        "train_seconds": round(big_s, 1),
        "rows_per_s": round(big / big_s),
        "cv_auc": big_auc,
        "baseline_rows": base,
        "baseline_train_seconds": round(base_s, 1),
        "time_ratio_vs_baseline": round(big_s / base_s, 2),
        "rows_ratio_vs_baseline": big / base,
        "peak_rss_mb": round(peak_mb),
    }
