"""Run every benchmark module ``bench/bench_*.py`` (or those named) and summarise them.

Each module exposes ``run(results: Path, quick: bool) -> dict``; the returned
figures are written to ``bench/results/<name>.json`` and every result file
present is gathered in ``bench/results/SUMMARY.md``. A module whose ``run``
also takes ``rows`` (population size) or ``only`` (its parts, comma-separated)
gets them from ``--rows`` and ``--only``.
"""

from __future__ import annotations

import argparse
import importlib
import inspect
import json
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench")
    parser.add_argument("names", nargs="*", help="benchmark names (default: all)")
    parser.add_argument("--quick", action="store_true", help="small sizes, for a smoke run")
    parser.add_argument("--rows", type=int, default=None,
                        help="population size, for the benchmarks that take one")
    parser.add_argument("--only", default=None,
                        help="comma-separated parts, for the benchmarks made of parts")
    parser.add_argument("--db", default=None,
                        help="a PostgreSQL URL, for the benchmarks that compare it with SQLite")
    args = parser.parse_args()
    results = HERE / "results"
    results.mkdir(exist_ok=True)
    names = args.names or sorted(p.stem[len("bench_"):] for p in HERE.glob("bench_*.py"))
    for name in names:
        module = importlib.import_module(f"bench.bench_{name}")
        print(f"== {name}", flush=True)
        started = time.perf_counter()
        accepted = inspect.signature(module.run).parameters
        given = {k: v for k, v in (("rows", args.rows), ("only", args.only), ("db", args.db))
                 if v is not None}
        refused = sorted(set(given) - set(accepted))
        if refused:
            parser.error(f"bench {name} takes no --{refused[0]}")
        figures = module.run(results, quick=args.quick, **given)
        figures["wall_seconds"] = round(time.perf_counter() - started, 2)
        (results / f"{name}.json").write_text(json.dumps(figures, indent=2, default=str) + "\n")
        print(json.dumps(figures, indent=2, default=str), flush=True)
    write_summary(results)
    print(f"results in {results}")


def write_summary(results: Path) -> Path:
    """SUMMARY.md over every result file present, so a partial run keeps earlier figures."""
    summary = ["# Benchmark results", ""]
    for path in sorted(results.glob("*.json")):
        figures = json.loads(path.read_text())
        summary += [f"## {path.stem}", "", "```json", json.dumps(figures, indent=2), "```", ""]
    target = results / "SUMMARY.md"
    target.write_text("\n".join(summary))
    return target


if __name__ == "__main__":
    main()
