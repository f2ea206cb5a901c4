"""Payment events: events per second through replay and through the service, and memory
over a long stream (durable-rules state is deleted after every event, so RSS must stay flat).

The stream is synthetic: every customer gets a bill a month; about 12 % fall overdue,
most of those are repaid within 30 days, some partly or late; theft findings and broken
agreements are rare. Events are generated month by month in event-time order, so the
whole stream never sits in memory.

Baseline: the same processor storing events without evaluating rules (validation,
duplicate and reference checks, insert), measured in the same run; the figures give the
full pipeline's speed as a ratio of it. Sizes: quick 20,000 events for 2,000 customers;
full 1,000,000 events for 100,000 customers (``GRIDCREDIT_BENCH_EVENTS`` overrides).
"""

from __future__ import annotations

import datetime as dt
import os
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from engine.events.model import to_micros
from engine.events.processor import EventProcessor
from engine.events.replay import replay
from engine.events.rules import load_event_rules
from engine.events.store import open_store

ROOT = Path(__file__).resolve().parent.parent
START = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)


def stream(customers: int, events: int, seed: int = 7) -> Iterator[dict[str, Any]]:
    """About ``events`` events for ``customers`` customers, in event-time order."""
    rng = np.random.default_rng(seed)
    month = 0
    sent = 0
    while sent < events:
        base = START + dt.timedelta(days=30 * month)
        batch: list[tuple[float, dict[str, Any]]] = []
        for c in range(customers):
            cid = f"C{c:06d}"
            bill = f"{cid}-{month}"
            day = float(rng.uniform(0, 1))
            amount = float(round(rng.lognormal(4.5, 0.6), 2))
            batch.append((day, {"type": "bill_issued", "bill_id": bill, "amount": amount,
                                "customer_id": cid}))
            r = rng.random()
            if r < 0.12:
                batch.append((day + 20, {"type": "bill_overdue", "bill_id": bill,
                                         "penalty": round(amount * 0.03, 2),
                                         "customer_id": cid}))
                late = float(rng.uniform(1, 50))
                paid = amount if rng.random() < 0.85 else round(amount / 2, 2)
                batch.append((day + 20 + min(late, 9.5), {"type": "repayment", "bill_id": bill,
                                                          "amount": paid, "customer_id": cid}))
            else:
                batch.append((day + float(rng.uniform(1, 19)),
                              {"type": "repayment", "bill_id": bill, "amount": amount,
                               "customer_id": cid}))
            if rng.random() < 0.002:
                batch.append((day + 25, {"type": "theft_finding", "customer_id": cid}))
            if rng.random() < 0.03:
                batch.append((day + 5, {"type": "outage", "planned": bool(rng.random() < 0.5),
                                        "duration_minutes": 45.0, "customer_id": cid}))
        batch.sort(key=lambda p: p[0])
        for i, (day, event) in enumerate(batch):
            event["event_id"] = f"m{month}-{i}"
            event["time"] = (base + dt.timedelta(days=day)).isoformat()
            yield event
            sent += 1
            if sent >= events:
                return
        month += 1


def _rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def _clocked(processor: EventProcessor, events: Iterator[dict[str, Any]],
             batch: int = 1000) -> Iterator[Any]:
    """Process in transactions of ``batch`` events with the batch's last event time as the
    clock, as a live feed would be: quiet nights in a small synthetic stream are not
    "far in the future" gaps."""
    chunk: list[dict[str, Any]] = []
    for event in events:
        chunk.append(event)
        if len(chunk) >= batch:
            yield from processor.process_many(chunk, now_us=_micros(chunk[-1]["time"]))
            chunk = []
    if chunk:
        yield from processor.process_many(chunk, now_us=_micros(chunk[-1]["time"]))


def _micros(text: str) -> int:
    return to_micros(dt.datetime.fromisoformat(text))


def _run_stream(db: str, customers: int, events: int, evaluate: bool) -> dict[str, Any]:
    processor = EventProcessor(open_store(db, synchronous="NORMAL"), load_event_rules())
    if not evaluate:
        processor._evaluate = lambda conn, event: []  # type: ignore[method-assign]
    samples: list[tuple[int, float]] = []
    accepted = outcomes = 0
    started = time.perf_counter()
    for n, result in enumerate(_clocked(processor, stream(customers, events)), 1):
        accepted += result.ok
        outcomes += len(getattr(result, "outcomes", ()))
        if n % max(events // 20, 1) == 0:
            samples.append((n, round(_rss_mb(), 1)))
    seconds = time.perf_counter() - started
    processor.store.close()
    return {"events": events, "customers": customers, "accepted": accepted,
            "outcomes": outcomes, "seconds": round(seconds, 2),
            "events_per_s": round(events / seconds), "rss_mb_samples": samples}


def _service(db: str, n: int) -> dict[str, Any]:
    from fastapi.testclient import TestClient

    from engine.decider import load
    from engine.service import Settings, create_app
    from engine.service.auth import add_key

    keys = Path(db).with_suffix(".keys.yaml")
    token = add_key(keys, "bench", ["decide"])
    settings = Settings.load(env={}, db=db, keys_file=keys, home=str(ROOT))
    now = dt.datetime.now(dt.UTC) - dt.timedelta(days=400)
    shift = to_micros(now) - to_micros(START)
    events = []
    for e in stream(max(n // 10, 1), n, seed=3):
        t = dt.datetime.fromisoformat(e["time"]) + dt.timedelta(microseconds=shift)
        events.append({**e, "time": t.isoformat()})
    with TestClient(create_app(settings, engine=load())) as client:
        headers = {"Authorization": f"Bearer {token}"}
        started = time.perf_counter()
        ok = sum(client.post("/v1/events", json=e, headers=headers).status_code == 201
                 for e in events)
        seconds = time.perf_counter() - started
    return {"events": n, "accepted": ok, "seconds": round(seconds, 2),
            "events_per_s": round(n / seconds)}


def run(results: Path, quick: bool = False) -> dict[str, Any]:
    default = 20_000 if quick else 1_000_000
    events = int(os.environ.get("GRIDCREDIT_BENCH_EVENTS", default))
    customers = max(events // 10, 1)
    with tempfile.TemporaryDirectory(prefix="bench-events-") as tmp:
        base_n = min(events, 20_000 if quick else 100_000)
        baseline = _run_stream(f"{tmp}/base.sqlite", max(base_n // 10, 1), base_n, False)
        full = _run_stream(f"{tmp}/full.sqlite", customers, events, True)
        replay_n = min(events, 20_000)
        file = Path(tmp) / "events.parquet"
        rows = pd.DataFrame(list(stream(max(replay_n // 10, 1), replay_n, seed=5)))
        rows.to_parquet(file)
        processor = EventProcessor(open_store(f"{tmp}/replay.sqlite", synchronous="NORMAL"),
                                   load_event_rules())
        summary = replay(file, processor, batch=1000, now_us=_micros(rows["time"].max()))
        service = _service(f"{tmp}/svc.sqlite", 1_000 if quick else 3_000)
    rss = [mb for _, mb in full["rss_mb_samples"]]
    half = len(rss) // 2
    return {
        "baseline": "store only (validate, checks, insert; no rules), same run",
        "baseline_events_per_s": baseline["events_per_s"],
        "stream": full,
        "stream_vs_baseline": round(full["events_per_s"] / baseline["events_per_s"], 3),
        "rss_growth_second_half_mb": round(max(rss[half:]) - rss[half], 1) if rss else None,
        "replay_file_events": replay_n,
        "replay_events_per_s": round(summary.per_second),
        "replay_vs_baseline": round(summary.per_second / baseline["events_per_s"], 3),
        "replay_accepted": summary.accepted,
        "service_events_per_s": service["events_per_s"],
        "service_vs_baseline": round(service["events_per_s"] / baseline["events_per_s"], 3),
        "service": service,
    }
