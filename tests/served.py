"""A real ``gridcredit serve`` process on a loopback port, for the tests that need one."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import httpx
import pytest

__all__ = ["GRIDCREDIT", "free_port", "start_serve", "stop_serve"]

GRIDCREDIT = Path(sys.executable).parent / "gridcredit"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_serve(args: Sequence[str], port: int, env: dict[str, str],
                wait_s: float = 120) -> subprocess.Popen:
    """Start ``gridcredit serve ARGS --port PORT`` and wait until /healthz answers 200.

    A server that does not come up is killed before its output is read, so a
    slow start fails the test instead of blocking on the open pipe.
    """
    server = subprocess.Popen(
        [str(GRIDCREDIT), "serve", *args, "--host", "127.0.0.1", "--port", str(port)],
        env={**os.environ, **env}, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        start_new_session=True)
    deadline = time.monotonic() + wait_s
    while True:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return server
        except httpx.TransportError:
            pass
        if server.poll() is not None or time.monotonic() > deadline:
            if server.poll() is None:
                os.killpg(server.pid, signal.SIGKILL)
            output = server.communicate(timeout=20)[0].decode()
            pytest.fail(f"serve did not start: {output[-2000:]}")
        time.sleep(0.3)


def stop_serve(server: subprocess.Popen) -> None:
    """SIGINT, then SIGKILL if it has not stopped within 20 s."""
    os.killpg(server.pid, signal.SIGINT)
    try:
        server.wait(timeout=20)
    except subprocess.TimeoutExpired:
        os.killpg(server.pid, signal.SIGKILL)
        server.wait()
