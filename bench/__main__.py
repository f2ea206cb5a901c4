"""Run every benchmark module ``bench/bench_*.py`` (or those named) and summarise them.

Each module exposes ``run(results: Path, quick: bool) -> dict``; the returned
figures are written to ``bench/results/<name>.json`` and gathered in
``bench/results/SUMMARY.md``.
"""

from __future__ import annotations

import argparse
import importlib
import json
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench")
    parser.add_argument("names", nargs="*", help="benchmark names (default: all)")
    parser.add_argument("--quick", action="store_true", help="small sizes, for a smoke run")
    args = parser.parse_args()
    results = HERE / "results"
    results.mkdir(exist_ok=True)
    names = args.names or sorted(p.stem[len("bench_"):] for p in HERE.glob("bench_*.py"))
    summary = ["# Benchmark results", ""]
    for name in names:
        module = importlib.import_module(f"bench.bench_{name}")
        print(f"== {name}", flush=True)
        started = time.perf_counter()
        figures = module.run(results, quick=args.quick)
        figures["wall_seconds"] = round(time.perf_counter() - started, 2)
        (results / f"{name}.json").write_text(json.dumps(figures, indent=2, default=str) + "\n")
        summary += [f"## {name}", "", "```json", json.dumps(figures, indent=2, default=str),
                    "```", ""]
        print(json.dumps(figures, indent=2, default=str), flush=True)
    (results / "SUMMARY.md").write_text("\n".join(summary))
    print(f"results in {results}")


if __name__ == "__main__":
    main()
