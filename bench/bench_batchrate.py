"""End-to-end batch rate against the batch as it stood when its speed target was set.

The baseline is the project at ``BASELINE`` (the main branch on the day the
fast-path target "batch end to end >= 1.6x today's rate" was set), unpacked
from this repository's own history with ``git archive`` into a temporary
folder. Both trees decide the same synthetic population with their own
shipped tables and models, ``gridcredit decide``'s library entry point
(``decide_file``), in fresh processes pinned to one core with one thread for
numpy and Arrow. The runs alternate, ``REPEAT`` times each, and the medians of
the decide time (start-up and loading excluded) are compared. Each run's
per-stage seconds come from its own summary.

Without git or without the baseline commit (a shallow clone) the benchmark
says so and measures only the current tree.
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

from bench.bench_batch import write_population

ROOT = Path(__file__).resolve().parent.parent
BASELINE = "b6a87d4"
REPEAT = 3
CHUNK = 100_000
TARGET = 1.6

CHILD = """
import json, sys, time
try:
    from engine.batch.decide import decide_file
except ImportError:
    from engine.batch import decide_file
from engine.decider import load
engine = load()
started = time.perf_counter()
summary = decide_file(engine, sys.argv[1], sys.argv[2], chunk_size=int(sys.argv[3]),
                      overwrite=True)
figures = summary.as_dict()
figures["decide_seconds"] = time.perf_counter() - started
print(json.dumps(figures, default=str))
"""


def unpack(rev: str, into: Path) -> Path | None:
    """The tree at ``rev`` from this repository, or None when git or the commit is missing."""
    if not shutil.which("git"):
        return None
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", "--format=tar", rev],
                             capture_output=True, check=False)
    if archive.returncode != 0:
        return None
    tar = into / "baseline.tar"
    tar.write_bytes(archive.stdout)
    tree = into / "baseline"
    with tarfile.open(tar) as bundle:
        bundle.extractall(tree, filter="data")
    return tree


def decide_in(tree: Path, source: Path, out: Path, chunk: int) -> dict:
    """One batch run of the project in ``tree``, in a fresh process pinned to one core."""
    env = os.environ | {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1",
                        "MKL_NUM_THREADS": "1", "ARROW_NUM_THREADS": "1",
                        "PYTHONPATH": str(tree), "GRIDCREDIT_HOME": str(tree)}
    cmd = [sys.executable, "-c", CHILD, str(source), str(out), str(chunk)]
    if shutil.which("taskset"):
        cmd = ["taskset", "-c", "0", *cmd]
    done = subprocess.run(cmd, capture_output=True, text=True, cwd=tree, env=env, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"batch run in {tree} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def _shares(stage_seconds: dict) -> dict:
    total = sum(stage_seconds.values())
    return {k: round(v / total, 3) for k, v in stage_seconds.items()}


def _figures(runs: list[dict]) -> dict:
    seconds = statistics.median(r["decide_seconds"] for r in runs)
    middle = min(runs, key=lambda r: abs(r["decide_seconds"] - seconds))
    return {"customers_per_s": round(middle["rows_in"] / seconds),
            "decide_seconds": [round(r["decide_seconds"], 3) for r in runs],
            "decided": middle["decided"], "rejected": middle["rejected"],
            "stage_seconds": {k: round(v, 3) for k, v in middle["stage_seconds"].items()},
            "stage_share": _shares(middle["stage_seconds"])}


def run(results: Path, quick: bool = False) -> dict:
    rows = 100_000 if quick else 1_000_000
    repeat = 1 if quick else REPEAT
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        source = write_population(work / "population.parquet", rows)
        baseline = unpack(BASELINE, work)
        current, before = [], []
        for _ in range(repeat):
            current.append(decide_in(ROOT, source, work / "current.parquet", CHUNK))
            if baseline is not None:
                before.append(decide_in(baseline, source, work / "baseline.parquet", CHUNK))
    figures: dict = {"rows": rows, "chunk": CHUNK, "repeat": repeat,
                     "current": _figures(current)}
    if not before:
        figures["baseline"] = f"commit {BASELINE} is not in this repository: not measured"
        return figures
    figures["baseline"] = {"commit": BASELINE, **_figures(before)}
    ratio = figures["current"]["customers_per_s"] / figures["baseline"]["customers_per_s"]
    figures["current_vs_baseline"] = round(ratio, 2)
    figures["target"] = f">= {TARGET}x the baseline: {'met' if ratio >= TARGET else 'not met'}"
    return figures
