"""Group commit: concurrent decisions share transactions, each request gets its own outcome."""

from __future__ import annotations

import asyncio
import fcntl
import os
import threading
import time

import pytest
from sqlalchemy import create_engine

from engine import synth
from engine.audit.log import DecisionLog, DuplicateDecision, open_log
from engine.service import logwriter
from engine.service.logwriter import FILL, AppendLock, GroupCommitLog


@pytest.fixture(scope="module")
def decisions(engine):
    frame = synth.generate(40, seed=8).drop(columns=["default_12m"])
    records = [{k: v for k, v in r.items() if v is not None and v == v}
               for r in frame.to_dict(orient="records")]
    return [engine.decide(r) for r in records]


def test_concurrent_appends_form_one_valid_chain_and_a_duplicate_fails_alone(
        decisions, tmp_path):
    log = open_log(path=tmp_path / "log.sqlite")
    writer = GroupCommitLog(log, max_group=16)

    async def submit_all():
        batch = [*decisions, decisions[3]]
        return await asyncio.gather(*(writer.append(d) for d in batch), return_exceptions=True)

    try:
        outcomes = asyncio.run(submit_all())
    finally:
        writer.close()
    failures = [o for o in outcomes if isinstance(o, BaseException)]
    assert len(failures) == 1 and isinstance(failures[0], DuplicateDecision)
    assert log.count() == len(decisions)
    report = log.verify()
    assert report.ok and report.rows == len(decisions)
    assert log.get(decisions[7].decision_id).digest == decisions[7].digest
    log.close()


def test_writers_of_one_sqlite_file_queue_on_its_lock_file(decisions, tmp_path):
    log = open_log(path=tmp_path / "log.sqlite")
    lock_file = tmp_path / "log.sqlite.append-lock"
    assert AppendLock(log).path == str(lock_file)
    writer = GroupCommitLog(log)
    other = os.open(lock_file, os.O_RDWR | os.O_CREAT)  # another process's writer
    fcntl.flock(other, fcntl.LOCK_EX)
    done = threading.Event()

    def submit() -> None:
        asyncio.run(writer.append(decisions[0]))
        done.set()

    thread = threading.Thread(target=submit)
    try:
        thread.start()
        time.sleep(0.5)
        assert not done.is_set() and log.count() == 0, "the append waits for the lock"
        fcntl.flock(other, fcntl.LOCK_UN)
        assert done.wait(30)
        assert log.count() == 1 and log.verify().ok
    finally:
        fcntl.flock(other, fcntl.LOCK_UN)
        os.close(other)
        thread.join(30)
        writer.close()
        log.close()


def test_postgresql_needs_no_lock_file():
    log = DecisionLog(create_engine("postgresql+psycopg://gridcredit@127.0.0.1:1/none"))
    lock = AppendLock(log)
    assert lock.path is None
    with lock.held():  # a no-op: PostgreSQL's row lock on the chain head wakes writers
        pass


def test_under_load_groups_fill_while_an_idle_writer_commits_at_once(decisions, tmp_path):
    log = open_log(path=tmp_path / "log.sqlite")
    writer = GroupCommitLog(log, commit_delay_s=0.02)
    groups: list[int] = []
    append_many = log.append_many
    log.append_many = lambda batch: groups.append(len(batch)) or append_many(batch)

    async def steady() -> tuple[float, list]:
        started = time.perf_counter()
        await writer.append(decisions[0])  # idle: committed without the delay
        first = time.perf_counter() - started
        pending = []
        for d in decisions[1:31]:  # then one decision every 2 ms
            pending.append(asyncio.ensure_future(writer.append(d)))
            await asyncio.sleep(0.002)
        return first, await asyncio.gather(*pending)

    try:
        first, outcomes = asyncio.run(steady())
    finally:
        writer.close()
    assert first < 0.02, "an idle writer does not wait"
    assert outcomes == [None] * 30 and sum(groups) == 31 and log.count() == 31
    assert groups[0] == 1 and max(groups) >= 4, groups
    assert len(groups) <= 12, groups
    assert log.verify().ok
    log.close()


def test_under_load_a_group_already_full_enough_commits_without_the_wait(
        decisions, tmp_path, monkeypatch):
    monkeypatch.setattr(logwriter, "BUSY_WINDOW_S", 60.0)  # under load, however slow the machine
    log = open_log(path=tmp_path / "log.sqlite")
    writer = GroupCommitLog(log, commit_delay_s=0.5)

    async def burst(n: int) -> float:
        started = time.perf_counter()
        await asyncio.gather(*(writer.append(d) for d in decisions[:n]))
        return time.perf_counter() - started

    async def run() -> tuple[float, float]:
        await writer.append(decisions[-1])  # the writer has just committed: under load
        full = await burst(FILL)  # handed over in one loop turn
        await asyncio.sleep(0.001)
        return full, await burst_of_one()

    async def burst_of_one() -> float:
        started = time.perf_counter()
        await writer.append(decisions[FILL])
        return time.perf_counter() - started

    try:
        full, alone = asyncio.run(run())
    finally:
        writer.close()
    assert full < 0.25, f"{FILL} waiting decisions are committed at once ({full:.3f} s)"
    assert alone >= 0.5, f"a lone decision under load waits for company ({alone:.3f} s)"
    assert log.count() == FILL + 2 and log.verify().ok
    log.close()


def test_the_wal_is_checkpointed_beside_the_commits_not_inside_them(
        decisions, tmp_path, monkeypatch):
    monkeypatch.setattr(logwriter, "CHECKPOINT_EVERY", 20)
    path = tmp_path / "log.sqlite"
    log = open_log(path=path)
    writer = GroupCommitLog(log)
    checkpoints = threading.Semaphore(0)
    checkpoint = log.checkpoint
    threads: list[str] = []

    def counted() -> None:
        threads.append(threading.current_thread().name)
        checkpoint()
        checkpoints.release()

    log.checkpoint = counted

    async def submit() -> None:
        for d in decisions[:30]:
            await writer.append(d)

    try:
        asyncio.run(submit())
        assert checkpoints.acquire(timeout=30), "20 decisions in, a checkpoint runs"
        held = log._sqlite._held.driver_connection
        assert held.execute("PRAGMA wal_autocheckpoint").fetchone() == (0,)
        assert threads == ["decision-log-checkpoints"]
        assert path.stat().st_size > 20 * 3000, "the copy reached the database file itself"
    finally:
        writer.close()
    assert log.count() == 30 and log.verify().ok
    log.close()
    again = open_log(path=path)
    assert again.count() == 30
    again.close()


def test_the_wal_is_flushed_outside_the_write_lock_before_a_decision_is_confirmed(
        decisions, tmp_path, monkeypatch):
    from engine.audit import sqlitelog as log_module

    log = open_log(path=tmp_path / "log.sqlite")
    writer = GroupCommitLog(log)
    lock_file = tmp_path / "log.sqlite.append-lock"
    seen: list[tuple[bool, int]] = []
    fdatasync = os.fdatasync

    def watched(fd: int) -> None:
        probe = os.open(lock_file, os.O_RDWR)
        try:
            fcntl.flock(probe, fcntl.LOCK_EX | fcntl.LOCK_NB)  # free while the disk flushes
            fcntl.flock(probe, fcntl.LOCK_UN)
            free = True
        except BlockingIOError:
            free = False
        finally:
            os.close(probe)
        seen.append((free, log.count()))
        fdatasync(fd)

    monkeypatch.setattr(log_module.os, "fdatasync", watched)

    async def one() -> list:
        await writer.append(decisions[0])
        return list(seen)

    try:
        flushed = asyncio.run(one())
        held = log._sqlite._held.driver_connection
        assert held.execute("PRAGMA synchronous").fetchone() == (1,)  # NORMAL: no flush inside
    finally:
        writer.close()
    assert flushed == [(True, 1)], "committed, lock released, flushed, then confirmed"
    log.close()


def test_a_flush_that_fails_refuses_the_group_and_a_broken_writer_refuses_rather_than_hangs(
        decisions, tmp_path, monkeypatch):
    from engine.audit import sqlitelog as log_module
    from engine.audit.store import AuditStoreError

    log = open_log(path=tmp_path / "log.sqlite")
    writer = GroupCommitLog(log)

    def full(fd: int) -> None:
        raise OSError(28, "No space left on device")

    async def both() -> list:
        return await asyncio.gather(*(writer.append(d) for d in decisions[:3]),
                                    return_exceptions=True)

    try:
        monkeypatch.setattr(log_module.os, "fdatasync", full)
        refused = asyncio.run(both())
        monkeypatch.undo()
        monkeypatch.setattr(AppendLock, "held", lambda self: (_ for _ in ()).throw(
            OSError(5, "Input/output error")))
        broken = asyncio.run(asyncio.wait_for(writer.append(decisions[5]), 30))
    except OSError as exc:
        broken = exc
    finally:
        monkeypatch.undo()
        writer.close()
    assert all(isinstance(r, AuditStoreError) for r in refused), refused
    assert "cannot flush the WAL to the disk (No space left on device)" in refused[0].message
    assert isinstance(broken, OSError) and "Input/output error" in str(broken)
    log.close()
