"""The decision service under load, from a second process on loopback.

For 1 and 2 uvicorn workers: the sustained rate (closed loop, fixed
concurrency, every answer a 200) and the p50/p99 latency when requests
arrive at 50 % and 90 % of that rate (open loop, fixed schedule). Then the
cost of the durable log write: one decision with ``DecisionLog.append``
(SQLite WAL, synchronous=FULL) against the same decision without it, in one
process, as a ratio. The machine has 2 cores shared with other work, so the
absolute figures move with contention; the ratios are what to compare.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
CONCURRENCY = 8


def _records(n: int, seed: int = 3) -> list[dict[str, Any]]:
    from engine import synth

    frame = synth.generate(n, seed=seed).drop(columns=["default_12m"])
    return [{k: (v.item() if isinstance(v, np.generic) else v) for k, v in r.items()
             if not (v is None or (isinstance(v, float) and math.isnan(v)))}
            for r in frame.to_dict(orient="records")]


# ------------------------------------------------------------------ load generator process

async def _closed(url: str, key: str, seconds: float, records: list[dict]) -> dict[str, Any]:
    import httpx

    ok = errors = 0
    stop = time.perf_counter() + seconds
    headers = {"Authorization": f"Bearer {key}"}

    async def worker(client: httpx.AsyncClient, offset: int) -> None:
        nonlocal ok, errors
        i = offset
        while time.perf_counter() < stop:
            r = await client.post("/v1/decisions", json=records[i % len(records)],
                                  headers=headers)
            ok, errors = (ok + 1, errors) if r.status_code == 200 else (ok, errors + 1)
            i += CONCURRENCY

    started = time.perf_counter()
    limits = httpx.Limits(max_connections=CONCURRENCY)
    async with httpx.AsyncClient(base_url=url, timeout=30, limits=limits) as client:
        await asyncio.gather(*[worker(client, k) for k in range(CONCURRENCY)])
    elapsed = time.perf_counter() - started
    return {"rate": ok / elapsed, "ok": ok, "errors": errors, "seconds": elapsed}


async def _open(url: str, key: str, seconds: float, rate: float,
                records: list[dict]) -> dict[str, Any]:
    import httpx

    latencies: list[float] = []
    errors = 0
    headers = {"Authorization": f"Bearer {key}"}
    n = max(1, int(rate * seconds))

    async def one(client: httpx.AsyncClient, i: int, at: float) -> None:
        nonlocal errors
        await asyncio.sleep(max(0.0, at - time.perf_counter()))
        t0 = time.perf_counter()
        r = await client.post("/v1/decisions", json=records[i % len(records)], headers=headers)
        latencies.append(time.perf_counter() - t0)
        errors += r.status_code != 200

    start = time.perf_counter() + 0.2
    async with httpx.AsyncClient(base_url=url, timeout=30,
                                 limits=httpx.Limits(max_connections=64)) as client:
        await asyncio.gather(*[one(client, i, start + i / rate) for i in range(n)])
    q = statistics.quantiles(latencies, n=100)
    return {"offered_rate": rate, "requests": n, "errors": errors,
            "p50_ms": q[49] * 1e3, "p99_ms": q[98] * 1e3}


def _load_main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("mode", choices=["closed", "open"])
    parser.add_argument("--url", required=True)
    parser.add_argument("--key", required=True)
    parser.add_argument("--seconds", type=float, required=True)
    parser.add_argument("--rate", type=float, default=0)
    args = parser.parse_args()
    records = _records(500)
    if args.mode == "closed":
        out = asyncio.run(_closed(args.url, args.key, args.seconds, records))
    else:
        out = asyncio.run(_open(args.url, args.key, args.seconds, args.rate, records))
    print(json.dumps(out))


def _generate(mode: str, url: str, key: str, seconds: float, rate: float = 0) -> dict:
    out = subprocess.run([sys.executable, "-m", "bench.bench_service", mode, "--url", url,
                          "--key", key, "--seconds", str(seconds), "--rate", str(rate)],
                         cwd=ROOT, capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


# ------------------------------------------------------------------ server under test

def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _serve_and_load(workers: int, tmp: Path, key: str, seconds: float) -> dict[str, Any]:
    import httpx

    port = _free_port()
    db = tmp / f"decisions-{workers}.sqlite"
    server = subprocess.Popen(
        [str(Path(sys.executable).parent / "gridcredit"), "serve", "--workers", str(workers),
         "--port", str(port), "--db", str(db), "--keys", str(tmp / "keys.yaml"),
         "--log-level", "warning"],
        env={**os.environ, "GRIDCREDIT_HOME": str(ROOT)}, start_new_session=True,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.3)
        _generate("closed", url, key, 2.0)  # warm every worker
        sustained = _generate("closed", url, key, seconds)
        at50 = _generate("open", url, key, seconds, 0.5 * sustained["rate"])
        at90 = _generate("open", url, key, seconds, 0.9 * sustained["rate"])
    finally:
        os.killpg(server.pid, signal.SIGINT)
        server.wait(timeout=30)
    from engine.audit.log import open_log

    with open_log(str(db), create=False) as log:
        chain = log.verify()
    return {"sustained_decisions_per_s": round(sustained["rate"], 1),
            "sustained_errors": sustained["errors"],
            "p50_ms_at_50pct": round(at50["p50_ms"], 2),
            "p99_ms_at_50pct": round(at50["p99_ms"], 2),
            "p50_ms_at_90pct": round(at90["p50_ms"], 2),
            "p99_ms_at_90pct": round(at90["p99_ms"], 2),
            "errors_at_50_90pct": at50["errors"] + at90["errors"],
            "logged_rows": chain.rows, "chain_ok": chain.ok}


def _log_cost(tmp: Path, n: int) -> dict[str, Any]:
    from engine.audit.log import open_log
    from engine.decider import load

    engine = load()
    records = _records(n, seed=9)
    for r in records[:20]:
        engine.decide(r)
    bare, logged = [], []
    with open_log(str(tmp / "cost.sqlite")) as log:
        for r in records:
            t0 = time.perf_counter()
            engine.decide(r)
            bare.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            log.append(engine.decide(r))
            logged.append(time.perf_counter() - t0)
    b, w = statistics.median(bare), statistics.median(logged)
    return {"decide_ms_median": round(b * 1e3, 3), "decide_and_log_ms_median": round(w * 1e3, 3),
            "log_write_cost_ratio": round(w / b, 2), "decisions": n}


def run(results: Path, quick: bool = False) -> dict:
    """Figures for 1 and 2 workers, and the log-write ratio (baseline: decide without log)."""
    from engine.service.auth import add_key

    seconds = 4.0 if quick else 12.0
    with tempfile.TemporaryDirectory(prefix="gridcredit-bench-service-") as name:
        tmp = Path(name)
        key = add_key(tmp / "keys.yaml", "bench", ["decide"])
        one = _serve_and_load(1, tmp, key, seconds)
        two = _serve_and_load(2, tmp, key, seconds)
        cost = _log_cost(tmp, 100 if quick else 300)
    return {
        "machine": f"{os.cpu_count()} cores, shared with other work (figures move with load)",
        "concurrency": CONCURRENCY, "phase_seconds": seconds,
        "workers_1": one, "workers_2": two,
        "two_vs_one_workers_ratio": round(two["sustained_decisions_per_s"]
                                          / one["sustained_decisions_per_s"], 2),
        "log_cost": cost,
    }


if __name__ == "__main__":
    _load_main()
