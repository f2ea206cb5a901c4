"""A real ``gridcredit serve`` against the attacks and failures it must survive: half-sent
headers, oversized headers, a workbook bomb, a killed worker and a killed supervisor."""

from __future__ import annotations

import io
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import zipfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from engine.cli.serve import _metrics_dir
from engine.service.auth import add_key
from engine.web.protocol import ConnectionLimits
from tests.served import free_port, start_serve, stop_serve

pytestmark = pytest.mark.slow


def _workers(supervisor: int) -> set[int]:
    """The worker processes the supervisor ``supervisor`` runs (read from /proc)."""
    found = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            cmdline = (stat.parent / "cmdline").read_bytes()
        except OSError:
            continue
        if int(fields[1]) == supervisor and b"spawn_main" in cmdline and fields[0] != "Z":
            found.add(int(stat.parent.name))
    return found


@pytest.fixture
def served(tmp_path):
    keys = tmp_path / "keys.yaml"
    key = add_key(keys, "ops", ["decide", "audit", "admin"])
    port = free_port()
    env = {"GRIDCREDIT_KEYS": str(keys), "GRIDCREDIT_DB": str(tmp_path / "log.sqlite"),
           "GRIDCREDIT_HEADER_TIMEOUT_S": "2", "PROMETHEUS_MULTIPROC_DIR": ""}
    servers: list[subprocess.Popen] = []

    def start(workers: int = 2) -> subprocess.Popen:
        server = start_serve(["--workers", str(workers)], port, env)
        servers.append(server)
        return server

    yield start, port, key
    for server in servers:
        if server.poll() is None:
            stop_serve(server)


def test_the_header_timeout_is_ten_seconds_unless_set():
    assert ConnectionLimits.from_env({}).header_timeout_s == 10
    assert ConnectionLimits.from_env({"GRIDCREDIT_HEADER_TIMEOUT_S": "2"}).header_timeout_s == 2


def _check_connection_guards(port: int) -> None:
    """Half-sent and huge headers, an unknown method, a foreign Host, forged proxy headers."""
    with socket.create_connection(("127.0.0.1", port), timeout=15) as slow:
        began = time.monotonic()
        slow.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n")  # never finished
        answer = slow.recv(65536)
        waited = time.monotonic() - began
        assert slow.recv(10) == b""  # closed
    assert 1.5 <= waited < 6, waited
    assert answer.startswith(b"HTTP/1.1 408") and b'"code":"request_timeout"' in answer
    with socket.create_connection(("127.0.0.1", port), timeout=15) as big:
        big.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: "
                    + b"a" * 100_000 + b"\r\n\r\n")
        answer = big.recv(65536)
    assert answer.startswith(b"HTTP/1.1 431") and b'"code":"headers_too_large"' in answer
    with socket.create_connection(("127.0.0.1", port), timeout=15) as odd:
        odd.sendall(b"BREW /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        answer = odd.recv(65536)
    assert answer.startswith(b"HTTP/1.1 400") and b"application/json" in answer
    evil = httpx.get(f"http://127.0.0.1:{port}/v1/tables/", headers={"Host": "evil.example"})
    assert evil.status_code == 400 and evil.json()["code"] == "invalid_host"
    assert "location" not in evil.headers
    spoofed = httpx.get(f"http://127.0.0.1:{port}/healthz",
                        headers={"X-Forwarded-For": "203.0.113.9", "X-Forwarded-Proto": "https"})
    assert spoofed.status_code == 200


def _bomb() -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("[Content_Types].xml", "<Types/>")
        z.writestr("xl/worksheets/sheet1.xml",
                   b"<worksheet>" + b" " * 400_000_000 + b"</worksheet>")
    return out.getvalue()


def test_connection_guards_and_a_workbook_bomb_refused_while_healthz_stays_fast(served,
                                                                                tmp_path):
    start, port, _key = served
    editor = add_key(tmp_path / "keys.yaml", "editor", ["editor"])
    start(workers=1)
    _check_connection_guards(port)
    bomb = _bomb()
    assert len(bomb) < 1_000_000

    def upload() -> httpx.Response:
        return httpx.post(f"http://127.0.0.1:{port}/studio/workbook", timeout=60,
                          headers={"Authorization": f"Bearer {editor}", "X-Studio": "1"},
                          files={"workbook": ("t.xlsx", bomb)})

    with httpx.Client(base_url=f"http://127.0.0.1:{port}") as client, \
            ThreadPoolExecutor(4) as pool:
        client.get("/healthz")
        uploads = [pool.submit(upload) for _ in range(3)]
        times = []
        for _ in range(20):
            began = time.monotonic()
            assert client.get("/healthz").json()["status"] == "ok"
            times.append(time.monotonic() - began)
        answers = [u.result() for u in uploads]
    for answer in answers:
        assert answer.status_code == 413 and "bytes unpacked" in answer.json()["message"]
    times.sort()
    assert times[len(times) // 2] < 0.1, times  # the median, on a shared machine


def test_a_killed_worker_is_back_within_five_seconds_and_a_killed_supervisor_takes_all(
        served, monkeypatch):
    start, port, _key = served
    server = start(workers=2)
    deadline = time.monotonic() + 120
    while len(_workers(server.pid)) < 2 and time.monotonic() < deadline:
        time.sleep(0.2)
    before = _workers(server.pid)
    victim = sorted(before)[0]
    os.kill(victim, signal.SIGKILL)
    killed = time.monotonic()
    while time.monotonic() - killed < 5:
        now = _workers(server.pid)
        if victim not in now and len(now) == 2:
            break
        time.sleep(0.1)
    assert victim not in now and len(now) == 2, (before, now)
    assert time.monotonic() - killed < 5

    made = set(Path(tempfile.gettempdir()).glob(f"gridcredit-metrics-{server.pid}-*"))
    assert made
    os.kill(server.pid, signal.SIGKILL)
    server.wait()
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and any(Path(f"/proc/{w}").exists() for w in now):
        time.sleep(0.2)
    assert not any(Path(f"/proc/{w}").exists() for w in now)
    with pytest.raises(httpx.TransportError):
        httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2)
    with socket.socket() as probe:  # the port is free again: no orphan holds it
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        probe.bind(("127.0.0.1", port))
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", "")  # restored after the test
    fresh, _ = _metrics_dir()  # what the next serve does first
    try:
        assert not any(m.exists() for m in made)
    finally:
        shutil.rmtree(fresh)
