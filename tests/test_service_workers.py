"""``gridcredit serve --workers 2`` as a real process on a loopback port, and the key commands."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import yaml
from typer.testing import CliRunner

from engine.audit.log import open_log
from engine.cli import app
from tests.factories import synth_records
from tests.served import free_port, start_serve, stop_serve

ROOT = Path(__file__).resolve().parent.parent
runner = CliRunner()


def test_keys_add_prints_the_key_once_and_stores_only_its_hash(tmp_path):
    keys = tmp_path / "keys.yaml"
    made = runner.invoke(app, ["keys", "add", "billing", "--role", "decide", "--role", "audit",
                               "--keys", str(keys)])
    assert made.exit_code == 0
    key = made.stdout.strip()
    assert key.startswith("gck_") and len(key) > 40
    stored = yaml.safe_load(keys.read_text())["keys"]
    assert [(e["name"], e["roles"]) for e in stored] == [("billing", ["decide", "audit"])]
    assert key not in keys.read_text()
    again = runner.invoke(app, ["keys", "add", "billing", "--role", "decide", "--keys", str(keys)])
    assert again.exit_code == 2
    assert "a key named 'billing' exists already: choose another name" in again.stderr
    bad = runner.invoke(app, ["keys", "add", "x", "--role", "boss", "--keys", str(keys)])
    assert bad.exit_code == 2 and "give --role with one of decide, audit, admin" in bad.stderr
    listed = runner.invoke(app, ["keys", "list", "--keys", str(keys)])
    assert listed.stdout.splitlines()[1].startswith("billing") and key not in listed.stdout


def _records(n: int, seed: int) -> list[dict]:
    return synth_records(n, seed)


def _wait_for_workers(port: int, n: int, wait_s: float = 120) -> None:
    """Until ``n`` distinct workers answer /healthz: the first answers while others still load."""
    seen: set[int] = set()
    deadline = time.monotonic() + wait_s
    while len(seen) < n and time.monotonic() < deadline:
        seen.add(httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=5).json()["pid"])
        time.sleep(0.05)
    assert len(seen) == n, f"only {len(seen)} of {n} workers answered within {wait_s} s"


def test_two_workers_under_concurrent_load_keep_one_chain_that_audit_verifies(tmp_path):
    keys, db, port = tmp_path / "keys.yaml", tmp_path / "decisions.sqlite", free_port()
    key = runner.invoke(app, ["keys", "add", "t", "--role", "decide",
                              "--keys", str(keys)]).stdout.strip()
    server = start_serve(["--workers", "2", "--db", str(db), "--keys", str(keys),
                          "--log-level", "warning"], port, {"GRIDCREDIT_HOME": str(ROOT)})
    _wait_for_workers(port, 2)
    records = _records(120, seed=11)
    pids: set[int] = set()

    def post_many(part: list[dict]) -> list[str]:
        ids = []
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=60) as client:
            for record in part:
                answer = client.post("/v1/decisions", json=record,
                                     headers={"Authorization": f"Bearer {key}"})
                assert answer.status_code == 200, answer.text
                ids.append(answer.json()["decision_id"])
            pids.add(client.get("/healthz").json()["pid"])
        return ids

    try:
        with ThreadPoolExecutor(16) as pool:  # 16 keep-alive connections at once
            ids = [i for part in pool.map(post_many, [records[k::16] for k in range(16)])
                   for i in part]
    finally:
        stop_serve(server)
    assert len(ids) == len(set(ids)) == 120
    assert len(pids) == 2, "the kernel gave both workers connections"
    verified = runner.invoke(app, ["audit", "verify", "--db", str(db)])
    assert verified.exit_code == 0, verified.output
    assert f"sqlite:///{db}: 120 rows, chain intact" in verified.output
    with open_log(str(db), create=False) as log:
        assert log.count() == 120
        assert {e.decision_id for e in log.entries(limit=200)} == set(ids)
    assert (tmp_path / "decisions.sqlite.append-lock").is_file()


def test_two_workers_decide_into_one_valid_chain(tmp_path):
    keys, db, port = tmp_path / "keys.yaml", tmp_path / "decisions.sqlite", free_port()
    key = runner.invoke(app, ["keys", "add", "t", "--role", "decide",
                              "--keys", str(keys)]).stdout.strip()
    server = start_serve(["--workers", "2", "--db", str(db), "--keys", str(keys),
                          "--log-level", "warning"], port, {"GRIDCREDIT_HOME": str(ROOT)})
    base = f"http://127.0.0.1:{port}"
    try:
        records = _records(16, seed=5)
        ids = []
        for record in records:
            with httpx.Client(base_url=base, timeout=30) as client:  # new connection each time
                answer = client.post("/v1/decisions", json=record,
                                     headers={"Authorization": f"Bearer {key}"})
                assert answer.status_code == 200, answer.text
                ids.append(answer.json()["decision_id"])
        assert len(set(ids)) == 16
        for _ in range(4):  # whichever worker answers counts every worker's decisions
            with httpx.Client(base_url=base, timeout=30) as client:
                text = client.get("/metrics").text
            counted = sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
                          if line.startswith("gridcredit_decisions_total{"))
            assert counted == 16, text
    finally:
        stop_serve(server)
    with open_log(str(db), create=False) as log:
        report = log.verify()
        assert report.ok and report.rows == 16
        assert {log.get(i).decision_id for i in ids} == set(ids)


def test_the_supervisor_holds_the_one_socket_and_a_taken_port_is_refused():
    import socket

    import pytest

    from engine.errors import ConfigError
    from engine.service.workers import listening_socket

    port = free_port()
    sock = listening_socket("127.0.0.1", port)
    try:
        assert sock.getsockname() == ("127.0.0.1", port)
        assert not sock.getsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT)
        sock.listen()
        with pytest.raises(ConfigError, match=f"cannot listen on 127.0.0.1:{port}: .*--port"):
            listening_socket("127.0.0.1", port)
    finally:
        sock.close()
