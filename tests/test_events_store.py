"""The event store on both backends: SQLite (embedded) and PostgreSQL (tests/pg.py starts one).

The same stream gives the same outcomes on either, survives a restart, refuses
duplicates and unknown customers, and reads outcomes in force one customer at
a time or many at once with the same answer.
"""

from __future__ import annotations

import datetime as dt
import multiprocessing
from pathlib import Path

from engine.events.model import to_micros
from engine.events.processor import Accepted, EventProcessor, Rejected
from engine.events.rules import load_event_rules
from engine.events.store import open_store

RULES = Path(__file__).resolve().parent.parent / "rules" / "events.yaml"
T0 = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)


def ev(kind: str, event_id: str, day: float, customer: str, **fields) -> dict:
    return {"type": kind, "event_id": event_id, "customer_id": customer,
            "time": (T0 + dt.timedelta(days=day)).isoformat(), **fields}


def stream() -> list[dict]:
    out = [ev("bill_issued", f"b{m}", 30 * m, "HAB", bill_id=f"B{m}", amount=40.0)
           for m in range(4)]
    out += [ev("bill_overdue", f"o{m}", 30 * m + 20, "HAB", bill_id=f"B{m}", penalty=2.0)
            for m in range(3)]
    out += [ev("bill_issued", "rb", 1, "REB", bill_id="R1", amount=80.0),
            ev("bill_overdue", "ro", 31, "REB", bill_id="R1", penalty=6.0),
            ev("repayment", "rr", 40, "REB", bill_id="R1", amount=80.0)]
    return sorted(out, key=lambda e: e["time"])


def test_the_store_decides_alike_on_both_backends_and_survives_a_restart(db):
    rules = load_event_rules(RULES)
    first = EventProcessor(open_store(db), rules)
    now = to_micros(T0 + dt.timedelta(days=120))
    results = first.process_many(stream(), now_us=now)
    assert all(isinstance(r, Accepted) for r in results), [r for r in results
                                                          if isinstance(r, Rejected)]
    raised = sorted(o.kind for r in results for o in r.outcomes)
    assert raised == ["credit_improvement", "habitual_defaulter", "rebate_earned"]
    first.store.close()

    again = EventProcessor(open_store(db), rules)
    refused = again.process_many([ev("bill_issued", "b0", 0, "HAB", bill_id="B9", amount=1.0),
                                  ev("repayment", "x1", 100, "NOBODY", bill_id="Z",
                                     amount=1.0)], now_us=now)
    assert [r.reason_code for r in refused] == ["duplicate_event", "unknown_customer"]
    day = (T0 + dt.timedelta(days=100)).date()
    one = again.store.outcomes_for("HAB", day)
    assert [o.kind for o in one.outcomes] == ["habitual_defaulter"]
    assert set(one.outcomes[0].event_ids) == {"o0", "o1", "o2"}
    many = again.store.outcomes_for_many([("HAB", day), ("REB", day), ("NOBODY", day)])
    assert many[("HAB", day)] == one
    assert [(o.kind, o.amount) for o in many[("REB", day)].outcomes] == [
        ("rebate_earned", 3.0), ("credit_improvement", None)]
    assert many[("NOBODY", day)].outcomes == ()
    assert again.store.any_outcome_between(day, day)
    long_before = (T0 - dt.timedelta(days=3650)).date()
    assert not again.store.any_outcome_between(long_before, long_before)
    assert again.store.count() == len(stream())
    again.store.close()


def test_the_inline_reader_agrees_with_outcomes_for_and_sees_later_commits(tmp_path):
    rules = load_event_rules(RULES)
    processor = EventProcessor(open_store(str(tmp_path / "events.sqlite")), rules)
    reader = processor.store.inline_reader()
    assert reader is not None
    now = to_micros(T0 + dt.timedelta(days=120))
    day = (T0 + dt.timedelta(days=100)).date()
    assert reader("HAB", day).outcomes == ()  # read once before any event exists
    processor.process_many(stream(), now_us=now)
    for customer in ("HAB", "REB", "NOBODY"):
        assert reader(customer, day.isoformat()) == processor.store.outcomes_for(customer, day)
    assert [o.kind for o in reader("HAB", day).outcomes] == ["habitual_defaulter"]
    reader.close()
    processor.store.close()


class _Counting:
    """A connection that counts the cursors asked of it: one per statement the reader runs."""

    def __init__(self, raw) -> None:
        self.raw, self.cursors = raw, 0

    def cursor(self):
        self.cursors += 1
        return self.raw.cursor()

    def close(self) -> None:
        self.raw.close()


def _process_stream(path: str) -> None:
    processor = EventProcessor(open_store(path), load_event_rules(RULES))
    processor.process_many(stream(), now_us=to_micros(T0 + dt.timedelta(days=120)))
    processor.store.close()


def test_the_inline_reader_skips_customers_without_outcomes_until_another_process_adds_some(
        tmp_path):
    path = str(tmp_path / "events.sqlite")
    store = open_store(path)
    reader = store.inline_reader()
    reader._raw = counting = _Counting(reader._raw)
    day = (T0 + dt.timedelta(days=100)).date()
    assert reader("HAB", day).outcomes == ()
    first = counting.cursors
    for customer in ("HAB", "REB", "NOBODY") * 5:
        assert reader(customer, day).outcomes == ()
    assert counting.cursors == first, "no read while nobody has an outcome"

    ctx = multiprocessing.get_context("spawn")
    writer = ctx.Process(target=_process_stream, args=(path,))
    writer.start()
    writer.join(120)
    assert writer.exitcode == 0
    assert [o.kind for o in reader("HAB", day).outcomes] == ["habitual_defaulter"]
    assert reader("REB", day) == store.outcomes_for("REB", day)
    before = counting.cursors
    assert reader("NOBODY", day).outcomes == ()
    assert counting.cursors == before, "a customer still without outcomes costs no read"

    with store.changes.changing():  # a write in progress: every answer looks again
        reader("NOBODY", day)
        reader("NOBODY", day)
    assert counting.cursors == before + 2
    reader.close()
    store.close()


def test_a_closed_store_used_again_still_counts_its_writes(tmp_path):
    store = open_store(str(tmp_path / "events.sqlite"))
    rules = load_event_rules(RULES)
    now = to_micros(T0 + dt.timedelta(days=120))
    EventProcessor(store, rules).process_many(stream()[:3], now_us=now)
    counted = store.changes.settled()
    store.close()  # a service lifespan ends, and the next one reuses the store
    EventProcessor(store, rules).process_many(stream()[3:], now_us=now)
    assert store.changes.settled() == counted + 1
    assert store.count() == len(stream())
    store.close()


def test_only_sqlite_has_an_inline_reader(postgres_server):  # noqa: F811
    store = open_store(postgres_server.create_database("inline"))
    assert store.inline_reader() is None
    store.close()


def _open_together(db: str, barrier) -> str:
    barrier.wait()
    try:
        open_store(db).close()
    except Exception as exc:  # noqa: BLE001  (the parent reports what each process met)
        return f"{type(exc).__name__}: {exc}"
    return "ok"


def test_processes_that_open_a_new_database_together_all_get_the_event_tables(db):
    """Each ``serve`` worker opens the store on its first request; on a new database
    they race to create the tables, and none may answer "database is locked"."""
    context = multiprocessing.get_context("fork")
    with context.Manager() as manager:
        barrier = manager.Barrier(6)
        with context.Pool(6) as pool:
            met = pool.starmap(_open_together, [(db, barrier)] * 6)
    assert met == ["ok"] * 6
    store = open_store(db, create=False)
    assert store.outcomes_for("NOBODY", "2026-10-31").outcomes == ()
    store.close()
