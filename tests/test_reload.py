"""Hot reload without a stall: a worker that follows another worker's reload loads the new
set in a thread of its own and checks it in a child process, its requests go on with the
active set, and the new one is swapped in whole. Under load no answer mixes the two sets,
no worker goes back to the old set once it answered with the new, and every answer is in
the log."""

from __future__ import annotations

import fcntl
import logging
import os
import threading
import time
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from engine.audit.archive import Archive
from engine.audit.log import open_log
from engine.decider import load
from engine.service import Settings, create_app
from engine.service import state as service_state
from engine.service.auth import add_key
from engine.service.logwriter import AppendLock
from engine.tables import Finding
from engine.tables.childcheck import ChildCheck, ChildCheckFailed
from tests.factories import synth_records

ROOT = Path(__file__).resolve().parent.parent
FOLLOW_S = 120  # a loaded machine loads and checks a set in seconds; this bounds a hang


@pytest.fixture(scope="module")
def records() -> list[dict]:
    return synth_records(40, seed=17)


@pytest.fixture
def workers(home, tmp_path):
    """``make(n)``: n service states on one log and one reload marker, as workers are."""
    key = add_key(tmp_path / "keys.yaml", "ops", ["decide", "audit", "admin"])
    clients: list[TestClient] = []

    def make(n: int) -> list[TestClient]:
        for _ in range(n):
            settings = Settings.load(env={}, db=str(tmp_path / "log.sqlite"),
                                     keys_file=tmp_path / "keys.yaml")
            client = TestClient(create_app(settings, engine=load(home)))
            client.__enter__()
            client.headers["Authorization"] = f"Bearer {key}"
            clients.append(client)
        return clients[-n:]

    yield make
    for client in clients:
        client.__exit__(None, None, None)


def _tables(home: Path) -> dict:
    tables = load(home).tables
    return {"version": tables.version, "versions": dict(tables.versions),
            "content_hash": tables.content_hash}


def _new_version(home: Path, version: str) -> None:
    grades = home / "rules" / "grades.yaml"
    grades.write_text(grades.read_text().replace('version: "', f'version: "{version}-', 1))


def _logged(tmp_path: Path, ids: list[str]) -> None:
    with open_log(str(tmp_path / "log.sqlite"), create=False) as log:
        assert [i for i in ids if not log.has(i)] == []
        assert log.verify().ok


def test_a_follower_decides_with_the_active_set_while_it_loads_the_new_one(
        workers, home, records, tmp_path, monkeypatch):
    leader, follower = workers(2)
    old = _tables(home)
    loading, release = threading.Event(), threading.Event()
    real = service_state.load_table_set

    def slow_in_the_follower(*args, **kwargs):
        if threading.current_thread().name == "gridcredit-follow-reload":
            loading.set()
            assert release.wait(FOLLOW_S)
        return real(*args, **kwargs)

    monkeypatch.setattr(service_state, "load_table_set", slow_in_the_follower)
    _new_version(home, "f1")
    reloaded = leader.post("/v1/tables:reload")
    assert reloaded.status_code == 200
    new = _tables(home)
    assert reloaded.json()["tables_content_hash"] == new["content_hash"] != old["content_hash"]

    first = follower.post("/v1/decisions", json=records[0])
    assert loading.wait(FOLLOW_S)  # that request set the follower loading ...
    during = follower.post("/v1/decisions", json=records[1])
    # ... and neither it nor the next waited for the load: both answered from the old set
    assert [first.status_code, during.status_code] == [200, 200]
    assert first.json()["tables"] == during.json()["tables"] == old
    release.set()
    ids = [first.json()["decision_id"], during.json()["decision_id"]]
    deadline = time.monotonic() + FOLLOW_S
    while True:
        answer = follower.post("/v1/decisions", json=records[2]).json()
        ids.append(answer["decision_id"])
        assert answer["tables"] in (old, new)
        if answer["tables"] == new:
            break
        assert time.monotonic() < deadline, "the follower never swapped the new set in"
        time.sleep(0.05)
    _logged(tmp_path, ids)


def test_a_follower_whose_check_fails_keeps_its_set_and_says_why(
        workers, home, records, caplog):
    leader, follower = workers(2)
    old = _tables(home)
    _new_version(home, "f2")
    assert leader.post("/v1/tables:reload").status_code == 200
    grades = home / "rules" / "grades.yaml"
    text = grades.read_text()
    assert "when: {regrade_active: true}" in text
    grades.write_text(text.replace("when: {regrade_active: true}",
                                   "when: {regrade_activ: true}"))
    with caplog.at_level(logging.ERROR, logger="gridcredit.service"):
        follower.post("/v1/decisions", json=records[0])
        service = follower.app.state.service
        assert service._follower is not None
        service._follower.join(FOLLOW_S)
    assert "another worker activated tables" in caplog.text
    assert "the active tables stay" in caplog.text
    assert follower.post("/v1/decisions", json=records[1]).json()["tables"] == old


@pytest.mark.slow
def test_a_reload_under_load_answers_from_one_whole_set_and_logs_every_answer(
        workers, home, records, tmp_path):
    first, second, admin = workers(3)
    old = _tables(home)
    answers: dict[int, list[dict]] = {0: [], 1: []}
    stop = threading.Event()
    failures: list[str] = []

    def load_on(k: int, client: TestClient) -> None:
        i = k
        while not stop.is_set():
            reply = client.post("/v1/decisions", json=records[i % len(records)])
            if reply.status_code != 200:
                failures.append(f"worker {k}: {reply.status_code} {reply.text[:200]}")
                return
            answers[k].append(reply.json())
            i += 2

    threads = [threading.Thread(target=load_on, args=(k, c)) for k, c in enumerate(
        (first, second))]
    for t in threads:
        t.start()
    try:
        while min(len(a) for a in answers.values()) < 5 and not failures:
            time.sleep(0.05)
        _new_version(home, "u1")
        assert admin.post("/v1/tables:reload").status_code == 200
        new = _tables(home)
        deadline = time.monotonic() + FOLLOW_S
        while not failures and not all(a and a[-1]["tables"] == new for a in answers.values()):
            assert time.monotonic() < deadline, "a worker never swapped the new set in"
            time.sleep(0.05)
    finally:
        stop.set()
        for t in threads:
            t.join(FOLLOW_S)
    assert failures == []
    for worker in answers.values():
        seen = [a["tables"] for a in worker]
        assert all(t in (old, new) for t in seen)  # no answer mixes the two sets
        first_new = seen.index(new)
        assert seen[first_new:] == [new] * (len(seen) - first_new)  # and none goes back
        assert seen[0] == old
    _logged(tmp_path, [a["decision_id"] for worker in answers.values() for a in worker])


def _unusable_child(kind: str):
    def check_in_child(*_args, **_kwargs) -> ChildCheck:
        if kind == "failed":
            raise ChildCheckFailed("the table check's child process failed (exit 1): boom")
        return ChildCheck("0" * 64, [])
    return check_in_child


@pytest.mark.parametrize("kind, said", [
    ("failed", "boom; checking the tables in the service process instead"),
    ("another set", "the child process checked tables 000000000000, not "),
])
def test_a_child_check_that_cannot_vouch_for_the_set_is_done_in_the_service_process(
        workers, home, monkeypatch, caplog, kind, said):
    (worker,) = workers(1)
    old = _tables(home)
    monkeypatch.setattr(service_state, "check_in_child", _unusable_child(kind))
    here = Finding("grades.yaml", 3, "band-aa", "gap", "found by the service process")
    monkeypatch.setattr(service_state, "check_table_set", lambda *_a, **_k: [here])
    _new_version(home, "c1")
    with caplog.at_level(logging.WARNING, logger="gridcredit.service"):
        refused = worker.post("/v1/tables:reload")
    assert refused.status_code == 422
    assert "found by the service process" in refused.json()["message"]
    assert said in caplog.text
    assert worker.get("/v1/tables").json()["tables_content_hash"] == old["content_hash"]


def test_a_reload_archives_the_new_set_holding_the_log_writers_append_lock(
        workers, home, monkeypatch):
    """The log writers queue on the SQLite file's append lock; the archive write of a reload
    takes its turn on the same lock instead of taking SQLite's and leaving the writers asleep
    in its busy handler."""
    (worker,) = workers(1)
    lock_file = AppendLock(worker.app.state.service.log).path
    real_put = Archive.put
    written_under_the_lock: list[tuple[str, bool]] = []

    def put(self, kind, key, content):
        probe = os.open(lock_file, os.O_RDWR)
        try:
            fcntl.flock(probe, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            written_under_the_lock.append((kind, True))
        else:
            fcntl.flock(probe, fcntl.LOCK_UN)
            written_under_the_lock.append((kind, False))
        finally:
            os.close(probe)
        return real_put(self, kind, key, content)

    monkeypatch.setattr(Archive, "put", put)
    _new_version(home, "a1")
    reloaded = worker.post("/v1/tables:reload")
    assert reloaded.status_code == 200
    assert written_under_the_lock == [("tables", True)]
    assert Archive(worker.app.state.service.log.engine).has(
        "tables", reloaded.json()["tables_content_hash"])
