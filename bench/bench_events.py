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
The stream and replay databases run SQLite with ``synchronous=NORMAL`` (WAL; the last
commits may be lost on power loss, never on a crash of the process), as ``events
replay`` does; ``GRIDCREDIT_BENCH_EVENTS_SYNC`` sets another level. The service keeps
its own setting (``FULL``: every request's commit is synced).
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
RULES = ROOT / "rules" / "events.yaml"
START = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)


def stream(customers: int, events: int, seed: int = 7) -> Iterator[dict[str, Any]]:
    """About ``events`` events for ``customers`` customers, in event-time order.

    A month is drawn as numpy columns (a few bytes per event) and each event becomes a
    dict only when it is yielded, so the generator's own memory stays small and flat and
    the RSS samples measure the processor.
    """
    rng = np.random.default_rng(seed)
    month = 0
    sent = 0
    ids = np.arange(customers)
    while sent < events:
        base = START + dt.timedelta(days=30 * month)
        day = rng.uniform(0, 1, customers)
        amount = np.round(rng.lognormal(4.5, 0.6, customers), 2)
        overdue = rng.random(customers) < 0.12
        late = np.minimum(rng.uniform(1, 50, customers), 9.5)
        paid = np.where(rng.random(customers) < 0.85, amount, np.round(amount / 2, 2))
        on_time = day + rng.uniform(1, 19, customers)
        theft = rng.random(customers) < 0.002
        outage = rng.random(customers) < 0.03
        planned = rng.random(customers) < 0.5
        parts = [  # (time in days, customer, type code, amount)
            (day, ids, 0, amount),
            (day[overdue] + 20, ids[overdue], 1, np.round(amount[overdue] * 0.03, 2)),
            (day[overdue] + 20 + late[overdue], ids[overdue], 2, paid[overdue]),
            (on_time[~overdue], ids[~overdue], 2, amount[~overdue]),
            (day[theft] + 25, ids[theft], 3, np.zeros(theft.sum())),
            (day[outage] + 5, ids[outage], 4, planned[outage].astype(float)),
        ]
        days = np.concatenate([p[0] for p in parts])
        who = np.concatenate([p[1] for p in parts])
        kind = np.concatenate([np.full(len(p[1]), p[2], dtype=np.int8) for p in parts])
        value = np.concatenate([p[3] for p in parts])
        order = np.argsort(days, kind="stable")
        for i, j in enumerate(order):
            cid = f"C{who[j]:06d}"
            event = _event(int(kind[j]), cid, f"{cid}-{month}", float(value[j]))
            event["event_id"] = f"m{month}-{i}"
            event["time"] = (base + dt.timedelta(days=float(days[j]))).isoformat()
            yield event
            sent += 1
            if sent >= events:
                return
        month += 1


def _event(kind: int, cid: str, bill: str, value: float) -> dict[str, Any]:
    if kind == 0:
        return {"type": "bill_issued", "bill_id": bill, "amount": value, "customer_id": cid}
    if kind == 1:
        return {"type": "bill_overdue", "bill_id": bill, "penalty": value, "customer_id": cid}
    if kind == 2:
        return {"type": "repayment", "bill_id": bill, "amount": value, "customer_id": cid}
    if kind == 3:
        return {"type": "theft_finding", "customer_id": cid}
    return {"type": "outage", "planned": bool(value), "duration_minutes": 45.0,
            "customer_id": cid}


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


def _sync() -> str:
    return os.environ.get("GRIDCREDIT_BENCH_EVENTS_SYNC", "NORMAL").upper()


def _run_stream(db: str, customers: int, events: int, evaluate: bool) -> dict[str, Any]:
    processor = EventProcessor(open_store(db, synchronous=_sync()), load_event_rules(RULES))
    if not evaluate:
        processor.evaluate_window = lambda customer, event: []  # type: ignore[method-assign]
    samples: list[tuple[int, float]] = [(0, round(_rss_mb(), 1))]
    accepted = outcomes = 0
    started = time.perf_counter()
    for n, result in enumerate(_clocked(processor, stream(customers, events)), 1):
        accepted += result.ok
        outcomes += len(getattr(result, "outcomes", ()))
        if n % max(events // 20, 1) == 0:
            samples.append((n, round(_rss_mb(), 1)))
            if os.environ.get("GRIDCREDIT_BENCH_EVENTS_LOG"):
                print(f"events {n:,}: {time.perf_counter() - started:.1f} s, "
                      f"RSS {samples[-1][1]} MB", flush=True)
    seconds = time.perf_counter() - started
    processor.store.close()
    return {"events": events, "customers": customers, "accepted": accepted,
            "outcomes": outcomes, "seconds": round(seconds, 2),
            "events_per_s": round(events / seconds), "rss_mb_samples": samples,
            "facts_asserted_into_durable_rules": processor.matcher.asserted}


def _service(db: str, n: int, batch: int) -> dict[str, Any]:
    """Events per second through ``POST /v1/events``: one event per request, then lists of
    ``batch`` events (the service's default batch limit), each on its own database."""
    from fastapi.testclient import TestClient

    from engine.decider import load
    from engine.service import Settings, create_app
    from engine.service.auth import add_key

    now = dt.datetime.now(dt.UTC) - dt.timedelta(days=400)
    shift = to_micros(now) - to_micros(START)
    events = []
    for e in stream(max(n // 10, 1), n, seed=3):
        t = dt.datetime.fromisoformat(e["time"]) + dt.timedelta(microseconds=shift)
        events.append({**e, "time": t.isoformat()})
    out: dict[str, Any] = {"events": n, "synchronous": "FULL (the service's setting)"}
    for name, size in (("single", 1), ("batched", batch)):
        path = Path(db).with_suffix(f".{name}.sqlite")
        keys = path.with_suffix(".keys.yaml")
        token = add_key(keys, "bench", ["decide"])
        settings = Settings.load(env={}, db=str(path), keys_file=keys, home=str(ROOT))
        with TestClient(create_app(settings, engine=load())) as client:
            headers = {"Authorization": f"Bearer {token}"}
            started = time.perf_counter()
            if size == 1:
                ok = sum(client.post("/v1/events", json=e, headers=headers).status_code == 201
                         for e in events)
            else:
                ok = sum(client.post("/v1/events", json=events[i:i + size],
                                     headers=headers).json()["accepted"]
                         for i in range(0, n, size))
            seconds = time.perf_counter() - started
        out[name] = {"per_request": size, "accepted": ok, "seconds": round(seconds, 2),
                     "events_per_s": round(n / seconds)}
    return out


def _at(samples: list[tuple[int, float]], share: float) -> float | None:
    """RSS (MB) at the sample nearest ``share`` of the stream."""
    if not samples:
        return None
    target = share * samples[-1][0]
    return min(samples, key=lambda s: abs(s[0] - target))[1]


def run(results: Path, quick: bool = False) -> dict[str, Any]:
    default = 20_000 if quick else 1_000_000
    events = int(os.environ.get("GRIDCREDIT_BENCH_EVENTS", default))
    customers = max(events // 10, 1)
    with tempfile.TemporaryDirectory(prefix="bench-events-") as tmp:
        base_n = min(events, 20_000 if quick else 100_000)
        baseline = _run_stream(f"{tmp}/base.sqlite", max(base_n // 10, 1), base_n, False)
        full = _run_stream(f"{tmp}/full.sqlite", customers, events, True)
        replay_n = min(events, 20_000 if quick else 100_000)
        file = Path(tmp) / "events.parquet"
        rows = pd.DataFrame(list(stream(max(replay_n // 10, 1), replay_n, seed=5)))
        rows.to_parquet(file)
        processor = EventProcessor(open_store(f"{tmp}/replay.sqlite", synchronous=_sync()),
                                   load_event_rules(RULES))
        summary = replay(file, processor, batch=1000, now_us=_micros(rows["time"].max()))
        service = _service(f"{tmp}/svc.sqlite", 1_000 if quick else 3_000, 100)
    samples = full["rss_mb_samples"]
    rss = {f"{int(share * 100)}%": _at(samples, share) for share in (0, 0.25, 0.5, 0.75, 1)}
    second_half = [mb for n, mb in samples if n >= events / 2]
    return {
        "baseline": "store only (validate, checks, insert; no rules), same run",
        "synchronous": _sync(),
        "baseline_events_per_s": baseline["events_per_s"],
        "stream": full,
        "stream_vs_baseline": round(full["events_per_s"] / baseline["events_per_s"], 3),
        "rss_mb": rss,
        "rss_growth_second_half_mb": (round(max(second_half) - second_half[0], 1)
                                      if second_half else None),
        "replay_file_events": replay_n,
        "replay_events_per_s": round(summary.per_second),
        "replay_vs_baseline": round(summary.per_second / baseline["events_per_s"], 3),
        "replay_accepted": summary.accepted,
        "service_events_per_s": service["single"]["events_per_s"],
        "service_batched_events_per_s": service["batched"]["events_per_s"],
        "service_vs_baseline": round(service["single"]["events_per_s"]
                                     / baseline["events_per_s"], 3),
        "service_batched_vs_baseline": round(service["batched"]["events_per_s"]
                                             / baseline["events_per_s"], 3),
        "service": service,
    }
