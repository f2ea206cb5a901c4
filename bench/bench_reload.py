"""The stall a hot table reload costs decisions, under a closed-loop client.

``gridcredit serve`` runs on a copy of the project's home (its rules folder
copied, models and policies linked) with one worker pinned to core 1 and with
two workers on both cores. A client process pinned to core 0 keeps
``CLIENTS`` keep-alive connections each posting one decision after another
(closed loop: the next request leaves when the answer is in). After
``BEFORE_S`` seconds it writes a new version into ``grades.yaml`` and posts
``/v1/tables:reload`` on a connection of its own; the worker that takes it
loads and checks the set and announces it, the other worker follows the
marker. The client goes on for ``AFTER_S`` seconds after the reload answered
(and ``BEFORE_S + AFTER_S`` in all at least).

Baseline: the slowest decision of the same run before the reload. The figure:
the slowest decision whose request was sent from the reload's start to the
end of the run, as a ratio of the baseline (target: at most 2x, and at most
50 ms). Every answer's ``tables`` member (version, per-table versions, content
hash) is checked to be the old set's or the new set's whole (none mixes the
two), and the log's chain is verified with every answered decision in it.
``REPEAT`` rounds per worker count, each with a version of its own; the
spread is every round's figures.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import orjson
import uvloop

from bench.bench_service import _free_port, _pinned, _records, _wait_up

ROOT = Path(__file__).resolve().parent.parent
CLIENTS = 4
BEFORE_S = 4.0
AFTER_S = 6.0
REPEAT = 3
TARGET_MS = 50.0


def _home(tmp: Path) -> Path:
    home = tmp / "home"
    home.mkdir(parents=True)
    shutil.copytree(ROOT / "rules", home / "rules")
    for name in ("models", "policies"):
        (home / name).symlink_to(ROOT / name)
    return home


def _serve(home: Path, port: int, workers: int, db: Path, keys: Path) -> subprocess.Popen:
    cmd = _pinned("1" if workers == 1 else "0,1", [
        str(Path(sys.executable).parent / "gridcredit"), "serve", "--workers", str(workers),
        "--port", str(port), "--db", str(db), "--keys", str(keys), "--home", str(home),
        "--log-level", "warning"])
    proc = subprocess.Popen(cmd, cwd=ROOT, start_new_session=True,
                            env={**os.environ, "GRIDCREDIT_HOME": str(home)},
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    _wait_up(port, proc)
    return proc


# ------------------------------------------------------------------ the client

async def _exchange(conn: Any, request: bytes) -> tuple[bytes, bytes]:
    reader, writer = conn
    writer.write(request)
    head = await reader.readuntil(b"\r\n\r\n")
    length = next(int(h.split(b":")[1]) for h in head.split(b"\r\n")
                  if h.lower().startswith(b"content-length:"))
    return head, await reader.readexactly(length)


def _post(path: str, key: str, body: bytes) -> bytes:
    return (f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            f"Authorization: Bearer {key}\r\nContent-Length: {len(body)}\r\n\r\n"
            ).encode() + body


async def _client(port: int, key: str, bodies: list[bytes], grades: Path, version: str
                  ) -> dict[str, Any]:
    """Closed-loop decisions around one reload; every answer's send time, latency, set."""
    requests = [_post("/v1/decisions", key, b) for b in bodies]
    answers: list[tuple[float, float, str, str]] = []
    errors = 0
    start = time.perf_counter()
    stop: float | None = None  # set once the reload has answered

    async def loop(k: int) -> None:
        nonlocal errors
        conn = await asyncio.open_connection("127.0.0.1", port)
        i = k
        while stop is None or time.perf_counter() < stop:
            sent = time.perf_counter()
            head, body = await _exchange(conn, requests[i % len(requests)])
            took = time.perf_counter() - sent
            if not head.startswith(b"HTTP/1.1 200"):
                errors += 1
                continue
            answer = orjson.loads(body)
            tables = answer["tables"]
            answers.append((sent - start, took, answer["decision_id"],
                            json.dumps(tables, sort_keys=True, ensure_ascii=True)))
            i += CLIENTS
        conn[1].close()

    async def reload() -> dict[str, float]:
        nonlocal stop
        await asyncio.sleep(BEFORE_S)
        at = time.perf_counter() - start
        text = grades.read_text()
        grades.write_text(text.replace('version: "', f'version: "{version}-', 1))
        conn = await asyncio.open_connection("127.0.0.1", port)
        head, _ = await _exchange(conn, _post("/v1/tables:reload", key, b""))
        conn[1].close()
        stop = max(start + BEFORE_S + AFTER_S, time.perf_counter() + AFTER_S)
        return {"reload_sent_s": round(at, 3),
                "reload_answered_s": round(time.perf_counter() - start, 3),
                "reload_status": int(head.split(b" ")[1])}

    *_, reloaded = await asyncio.gather(*(loop(k) for k in range(CLIENTS)), reload())
    return {"answers": answers, "errors": errors, **reloaded}


def _client_main() -> None:
    port, key, bodies, grades, version, out = sys.argv[2:8]
    lines = [line.encode() for line in Path(bodies).read_text().split("\n") if line]
    figures = uvloop.run(_client(int(port), key, lines, Path(grades), version))
    Path(out).write_text(json.dumps(figures))


# ------------------------------------------------------------------ one round

def _round(tmp: Path, workers: int, k: int, key: str, bodies: Path) -> dict[str, Any]:
    home = _home(tmp / f"w{workers}-{k}")
    db = tmp / f"w{workers}-{k}" / "decisions.sqlite"
    old = _tables(home)
    port = _free_port()
    server = _serve(home, port, workers, db, tmp / "keys.yaml")
    try:
        cmd = _pinned("0", [sys.executable, "-m", "bench.bench_reload", "client", str(port),
                            key, str(bodies), str(home / "rules" / "grades.yaml"), f"r{k}",
                            str(tmp / "client.json")])
        done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
        if done.returncode != 0:
            raise RuntimeError(f"the reload client failed: {done.stderr[-2000:]}")
        out = json.loads((tmp / "client.json").read_text())
    finally:
        os.killpg(server.pid, 2)
        server.wait(timeout=60)
    return _figures(out, db, (old, _tables(home)))


def _tables(home: Path) -> str:
    """The ``tables`` member a decision on ``home``'s rules answers with, as sorted JSON."""
    from engine.decider import load

    tables = load(home).tables
    return json.dumps({"version": tables.version, "versions": dict(tables.versions),
                       "content_hash": tables.content_hash}, sort_keys=True, ensure_ascii=True)


def _figures(out: dict[str, Any], db: Path, known: tuple[str, str]) -> dict[str, Any]:
    from engine.audit.log import open_log

    answers, at = out["answers"], out["reload_sent_s"]
    before = [took for sent, took, _, _ in answers if sent < at]
    during = [took for sent, took, _, _ in answers if sent >= at]
    sets = sorted({tables for *_, tables in answers})
    with open_log(str(db), create=False) as log:
        report = log.verify()
        logged = sum(1 for _, _, did, _ in answers if log.has(did))
    return {
        "decisions": len(answers), "errors": out["errors"],
        "reload_status": out["reload_status"],
        "reload_took_s": round(out["reload_answered_s"] - at, 3),
        "slowest_before_ms": round(max(before) * 1e3, 2),
        "slowest_during_and_after_ms": round(max(during) * 1e3, 2),
        "p99_before_ms": round(sorted(before)[int(0.99 * (len(before) - 1))] * 1e3, 2),
        "p99_during_and_after_ms": round(sorted(during)[int(0.99 * (len(during) - 1))] * 1e3,
                                         2),
        "answers_old_set_new_set": [sum(1 for *_, t in answers if t == set_)
                                    for set_ in known],
        "every_answer_the_old_or_the_new_set": set(sets) <= set(known),
        "answered_and_logged": f"{logged} of {len(answers)}",
        "chain_ok": report.ok,
    }


def run(results: Path, quick: bool = False) -> dict:
    from engine.service.auth import add_key

    repeat = 1 if quick else REPEAT
    rounds: dict[str, list[dict[str, Any]]] = {"workers_1": [], "workers_2": []}
    with tempfile.TemporaryDirectory(prefix="gridcredit-bench-reload-") as name:
        tmp = Path(name)
        key = add_key(tmp / "keys.yaml", "bench", ["decide", "admin"])
        bodies = tmp / "bodies.jsonl"
        bodies.write_text("\n".join(json.dumps(r) for r in _records(500)) + "\n")
        for k in range(repeat):
            for workers in (1, 2):
                rounds[f"workers_{workers}"].append(_round(tmp, workers, k, key, bodies))
    summary = {}
    for name, runs in rounds.items():
        ratios = [r["slowest_during_and_after_ms"] / r["slowest_before_ms"] for r in runs]
        worst = max(r["slowest_during_and_after_ms"] for r in runs)
        summary[name] = {
            "slowest_during_over_before": [round(x, 2) for x in ratios],
            "slowest_during_ms": [r["slowest_during_and_after_ms"] for r in runs],
            "target_within_2x_and_50ms": max(ratios) <= 2 and worst <= TARGET_MS,
        }
    return {
        "machine": f"{os.cpu_count()} cores shared with other work",
        "baseline": "the slowest decision of the same round before the reload",
        "client": f"closed loop, {CLIENTS} keep-alive connections, pinned to core 0",
        "before_s": BEFORE_S, "after_s": AFTER_S, "repeats": repeat,
        "load_average_1min": round(os.getloadavg()[0], 2),
        "summary": summary, "rounds": rounds,
    }


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "client":
        _client_main()
