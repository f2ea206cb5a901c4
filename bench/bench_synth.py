"""Synthetic population: customers generated and validated per second at 1M rows."""

from __future__ import annotations

import time
from pathlib import Path

from engine import synth
from engine.recordframe import validate_frame


def run(results: Path, quick: bool = False) -> dict:
    n = 100_000 if quick else 1_000_000
    started = time.perf_counter()
    frame = synth.generate(n, seed=7)
    generated = time.perf_counter() - started
    started = time.perf_counter()
    accepted, rejects = validate_frame(frame)
    validated = time.perf_counter() - started
    return {
        "rows": n,
        "synth_seconds": round(generated, 3),
        "synth_rows_per_s": round(n / generated),
        "validate_seconds": round(validated, 3),
        "validate_rows_per_s": round(n / validated),
        "accepted": len(accepted),
        "rejected": len(rejects),
        "default_rate": round(float(frame["default_12m"].mean()), 4),
    }
