"""The decision service under load against a bare FastAPI echo endpoint, with wrk.

Baseline: ``echo_app`` below, a FastAPI app whose one route returns the posted body,
on uvicorn with httptools and uvloop: the HTTP stack's own limit on this machine.
Measured in one run, alternating, ``REPEAT`` times each, medians compared:

- ``echo``: the echo app, one process pinned to core 1;
- ``workers_1``: ``gridcredit serve --workers 1`` pinned to core 1, every answer a
  decision logged (hash-chained, group commit, SQLite WAL flushed to the disk with
  fdatasync) before it is sent;
- ``workers_2``: ``gridcredit serve --workers 2`` on both cores.

The load generator is wrk from Debian (installed with apt-get when missing), one
thread pinned to core 0 (``taskset -c 0 wrk -t1``), ``CONNECTIONS`` keep-alive
connections, posting the same record bodies (cycled from a file by a Lua script)
to both servers; the echo route ignores the API key header. With two workers the
server needs both cores, so wrk shares core 0 with one of them.

wrk has no constant-rate mode (that is wrk2), so the latency at a fixed rate comes
from ``_fixed_rate``: an open-loop client on raw sockets and uvloop, pinned to
core 0. It opens ``POOL`` keep-alive connections before it starts, schedules
requests at exact times (90 % of the sustained one-worker rate), sends each on
a free connection (opening one more only when all are busy), and measures
every latency from the request's scheduled time, so a stalled server shows in
the tail instead of slowing the schedule (no coordinated omission). It
reports its own CPU per request, so a client that could not keep up shows.
The echo app is driven the same way at 90 % of its own wrk rate
(``echo_fixed_rate_90pct``): the tail the HTTP stack alone has at that load
on this machine, the baseline for the decision service's p99.

Every phase also reports the server's CPU time per answered request (all its
processes, from ``/proc``), the cores it kept busy, and the load average when
the round began: a server can answer at most the cores it gets divided by its
CPU per request, which is what the ceilings in the summary say.
"""

from __future__ import annotations

import asyncio
import json
import math
import os
import shutil
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
import uvloop
from fastapi import FastAPI, Request, Response

ROOT = Path(__file__).resolve().parent.parent
CONNECTIONS = 16
POOL = 32  # keep-alive connections the fixed-rate client opens before it starts
REPEAT = 3
CLIENT_CORE = "0"
SERVER_CORE = "1"

_LUA = r"""
local bodies = {}
local headers = {["Content-Type"] = "application/json", ["Authorization"] = "Bearer %s"}
local path = "%s"
local i = 0
init = function(args)
  for line in io.lines("%s") do bodies[#bodies + 1] = line end
end
request = function()
  i = i %% #bodies + 1
  return wrk.format("POST", path, headers, bodies[i])
end
done = function(summary, latency, requests)
  local errors = summary.errors.status + summary.errors.connect + summary.errors.read
                 + summary.errors.write + summary.errors.timeout
  io.write(string.format('WRK {"requests": %%d, "duration_us": %%d, "errors": %%d, ' ..
    '"p50_us": %%d, "p99_us": %%d}\n', summary.requests, summary.duration, errors,
    latency:percentile(50), latency:percentile(99)))
end
"""


def echo_app() -> FastAPI:
    """The baseline: FastAPI returning the posted body, nothing else."""
    app = FastAPI()

    @app.post("/echo")
    async def echo(request: Request) -> Response:
        return Response(await request.body(), media_type="application/json")

    return app


def _records(n: int, seed: int = 3) -> list[dict[str, Any]]:
    from engine import synth

    frame = synth.generate(n, seed=seed).drop(columns=["default_12m"])
    return [{k: (v.item() if isinstance(v, np.generic) else v) for k, v in r.items()
             if not (v is None or (isinstance(v, float) and math.isnan(v)))}
            for r in frame.to_dict(orient="records")]


def ensure_wrk() -> str:
    """Path of wrk, installing Debian's package when it is missing (needs root)."""
    found = shutil.which("wrk")
    if found:
        return found
    subprocess.run(["apt-get", "install", "-y", "wrk"], check=True, capture_output=True)
    found = shutil.which("wrk")
    if not found:
        raise RuntimeError("wrk is not installed and apt-get could not install it")
    return found


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _pinned(cores: str, cmd: list[str]) -> list[str]:
    return ["taskset", "-c", cores, *cmd] if shutil.which("taskset") else cmd


def _wait_up(port: int, proc: subprocess.Popen, path: str = "/healthz") -> None:
    deadline = time.monotonic() + 300  # a server pinned to one busy core loads slowly
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited: {proc.stdout.read().decode()[-2000:]}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as sock:
                sock.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
                if sock.recv(64).startswith(b"HTTP/1.1"):
                    return
        except OSError:
            time.sleep(0.3)
    raise RuntimeError("server did not start")


class _Server:
    """A server process under test, stopped with its whole process group."""

    def __init__(self, cmd: list[str], port: int, health: str) -> None:
        self.port = port
        self.proc = subprocess.Popen(cmd, cwd=ROOT, start_new_session=True,
                                     env={**os.environ, "GRIDCREDIT_HOME": str(ROOT)},
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        _wait_up(port, self.proc, health)

    def cpu_seconds(self) -> float:
        """CPU time so far of every process of the server (its session: supervisor, workers)."""
        ticks = 0
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                fields = stat.read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[3]) == self.proc.pid:  # the session id (field 6 of stat)
                ticks += int(fields[11]) + int(fields[12])  # utime + stime
        return ticks / os.sysconf("SC_CLK_TCK")

    def stop(self) -> None:
        os.killpg(self.proc.pid, signal.SIGINT)
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()


def _echo(port: int) -> _Server:
    cmd = _pinned(SERVER_CORE, [sys.executable, "-m", "uvicorn", "bench.bench_service:echo_app",
                                "--factory", "--http", "httptools", "--loop", "uvloop",
                                "--port", str(port), "--log-level", "warning"])
    return _Server(cmd, port, "/echo")


def _gridcredit(port: int, workers: int, tmp: Path, tag: str, db: str | None = None
                ) -> _Server:
    cores = SERVER_CORE if workers == 1 else "0,1"
    cmd = _pinned(cores, [str(Path(sys.executable).parent / "gridcredit"), "serve",
                          "--workers", str(workers), "--port", str(port),
                          "--db", db or str(tmp / f"decisions-{tag}.sqlite"),
                          "--keys", str(tmp / "keys.yaml"), "--log-level", "warning"])
    return _Server(cmd, port, "/healthz")


def _wrk(port: int, path: str, bodies: Path, key: str, seconds: float, tmp: Path
         ) -> dict[str, Any]:
    script = tmp / f"post-{path.strip('/').replace('/', '-')}.lua"
    script.write_text(_LUA % (key, path, bodies))
    duration = f"-d{max(1, round(seconds))}s"  # wrk takes whole seconds only
    cmd = _pinned(CLIENT_CORE, [ensure_wrk(), "-t1", f"-c{CONNECTIONS}", duration, "--latency",
                                "-s", str(script), f"http://127.0.0.1:{port}"])
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    line = next(x for x in out.splitlines() if x.startswith("WRK "))
    figures = json.loads(line[4:])
    figures["rate"] = figures["requests"] / (figures["duration_us"] / 1e6)
    return figures


# ------------------------------------------------------------------ fixed-rate client

async def _fixed_rate(port: int, path: str, key: str, bodies: list[bytes], rate: float,
                      seconds: float) -> dict[str, Any]:
    """Open loop at ``rate`` requests/s; latencies from each request's scheduled time."""
    requests = [(f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json"
                 f"\r\nAuthorization: Bearer {key}\r\nContent-Length: {len(b)}\r\n\r\n"
                 ).encode() + b for b in bodies]
    # Connections are opened before the schedule starts, so no latency includes a
    # handshake; one more is opened only when every one is busy.
    idle = [await asyncio.open_connection("127.0.0.1", port) for _ in range(POOL)]
    latencies: list[float] = []
    errors = 0

    async def exchange(conn: Any, request: bytes) -> bytes:
        reader, writer = conn
        writer.write(request)
        head = await reader.readuntil(b"\r\n\r\n")
        length = next(int(h.split(b":")[1]) for h in head.split(b"\r\n")
                      if h.lower().startswith(b"content-length:"))
        await reader.readexactly(length)
        return head

    async def one(i: int, at: float) -> None:
        nonlocal errors
        conn = idle.pop() if idle else await asyncio.open_connection("127.0.0.1", port)
        try:
            head = await exchange(conn, requests[i % len(requests)])
        except (asyncio.IncompleteReadError, ConnectionError):
            # The server closes a keep-alive connection left idle past its timeout:
            # send again on a new one, the latency still counted from the schedule.
            conn[1].close()
            conn = await asyncio.open_connection("127.0.0.1", port)
            head = await exchange(conn, requests[i % len(requests)])
        latencies.append(time.perf_counter() - at)
        errors += not head.startswith(b"HTTP/1.1 200")
        idle.append(conn)

    n = max(1, int(rate * seconds))
    cpu = time.process_time()
    start = time.perf_counter() + 0.2
    tasks = []
    for i in range(n):  # each request starts at its time, or at once when the client is late
        at = start + i / rate
        delay = at - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.ensure_future(one(i, at)))
    await asyncio.gather(*tasks)
    elapsed = time.perf_counter() - start
    cpu = time.process_time() - cpu
    for _, writer in idle:
        writer.close()
    q = statistics.quantiles(latencies, n=100)
    return {"offered_per_s": round(rate, 1), "achieved_per_s": round(n / elapsed, 1),
            "requests": n, "errors": errors, "p50_ms": round(q[49] * 1e3, 2),
            "p99_ms": round(q[98] * 1e3, 2), "max_ms": round(max(latencies) * 1e3, 2),
            "client_cpu_us_per_request": round(cpu / n * 1e6, 1)}


def _fixed_rate_main() -> None:
    port, path, key, bodies, rate, seconds = sys.argv[2:8]
    lines = [line.encode() for line in Path(bodies).read_text().splitlines()]
    out = uvloop.run(_fixed_rate(int(port), path, key, lines, float(rate), float(seconds)))
    print(json.dumps(out))


def _fixed(port: int, path: str, key: str, bodies: Path, rate: float, seconds: float) -> dict:
    cmd = _pinned(CLIENT_CORE, [sys.executable, "-m", "bench.bench_service", "fixed-rate",
                                str(port), path, key, str(bodies), str(rate), str(seconds)])
    out = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    if out.returncode != 0:
        raise RuntimeError(f"the fixed-rate client failed: {out.stderr[-2000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


# ------------------------------------------------------------------ the run

def _measured(server: _Server, path: str, bodies: Path, key: str, seconds: float,
              tmp: Path) -> dict[str, Any]:
    """wrk's figures, with the server's CPU time per answered request."""
    cpu = server.cpu_seconds()
    figures = _wrk(server.port, path, bodies, key, seconds, tmp)
    used = server.cpu_seconds() - cpu
    figures["server_cpu_ms_per_request"] = round(used / max(figures["requests"], 1) * 1e3, 3)
    figures["server_cores_busy"] = round(used / (figures["duration_us"] / 1e6), 2)
    return figures


def _fixed_measured(server: _Server, path: str, key: str, bodies: Path, rate: float,
                    seconds: float) -> dict[str, Any]:
    """The fixed-rate client's figures, with the server's CPU time per request."""
    cpu = server.cpu_seconds()
    figures = _fixed(server.port, path, key, bodies, rate, seconds)
    figures["server_cpu_ms_per_request"] = round(
        (server.cpu_seconds() - cpu) / max(figures["requests"], 1) * 1e3, 3)
    return figures


def _round(tmp: Path, key: str, bodies: Path, seconds: float, k: int,
           db: str | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"load_average_1min": round(os.getloadavg()[0], 2)}
    port = _free_port()
    server = _echo(port)
    try:
        _wrk(port, "/echo", bodies, key, 1, tmp)
        out["echo"] = _measured(server, "/echo", bodies, key, seconds, tmp)
        out["echo_fixed_rate_90pct"] = _fixed_measured(server, "/echo", key, bodies,
                                                       0.9 * out["echo"]["rate"], seconds)
    finally:
        server.stop()
    for workers in (1, 2):
        port = _free_port()
        server = _gridcredit(port, workers, tmp, f"{workers}-{k}")
        try:
            _wrk(port, "/v1/decisions", bodies, key, 2, tmp)
            out[f"workers_{workers}"] = _measured(server, "/v1/decisions", bodies, key,
                                                  seconds, tmp)
            if workers == 1:
                out["fixed_rate_90pct"] = _fixed_measured(server, "/v1/decisions", key, bodies,
                                                          0.9 * out["workers_1"]["rate"],
                                                          seconds)
        finally:
            server.stop()
    if db is not None:
        for workers in (1, 2):
            port = _free_port()
            server = _gridcredit(port, workers, tmp, f"pg-{workers}-{k}", db)
            try:
                _wrk(port, "/v1/decisions", bodies, key, 2, tmp)
                out[f"postgresql_workers_{workers}"] = _measured(
                    server, "/v1/decisions", bodies, key, seconds, tmp)
            finally:
                server.stop()
    return out


def _chain(tmp: Path, db: str | None = None) -> dict[str, Any]:
    from engine.audit.log import open_log

    rows, ok = 0, True
    logs = [str(p) for p in sorted(tmp.glob("decisions-*.sqlite"))] + ([db] if db else [])
    for url in logs:
        with open_log(url, create=False) as log:
            report = log.verify()
        rows += report.rows
        ok = ok and report.ok
    return {"logged_rows": rows, "every_chain_ok": ok}


def _postgresql(rounds: list[dict[str, Any]], db: str) -> dict[str, Any]:
    """PostgreSQL as the log against SQLite, worker for worker, medians of the same rounds."""
    from sqlalchemy.engine import make_url

    out: dict[str, Any] = {
        "database": make_url(db).render_as_string(hide_password=True),
        "baseline": "the same workers logging to SQLite in the same rounds"}
    for workers in (1, 2):
        pg = statistics.median(r[f"postgresql_workers_{workers}"]["rate"] for r in rounds)
        lite = statistics.median(r[f"workers_{workers}"]["rate"] for r in rounds)
        out[f"workers_{workers}"] = {
            "postgresql_per_s": round(pg), "sqlite_per_s": round(lite),
            "postgresql_vs_sqlite": round(pg / lite, 3),
            "server_cpu_ms_per_request": statistics.median(
                r[f"postgresql_workers_{workers}"]["server_cpu_ms_per_request"]
                for r in rounds),
            "p99_ms_median": statistics.median(
                r[f"postgresql_workers_{workers}"]["p99_us"] / 1e3 for r in rounds)}
    out["target_workers_2_at_least_0.5x_sqlite"] = (
        out["workers_2"]["postgresql_vs_sqlite"] >= 0.5)
    return out


def run(results: Path, quick: bool = False, db: str | None = None) -> dict:
    """One worker against the echo endpoint, two workers against one, p99 at 90 %; with
    ``db`` (a PostgreSQL URL) one and two workers logging there against SQLite."""
    from engine.service.auth import add_key

    ensure_wrk()
    seconds = 3.0 if quick else 10.0
    repeat = 1 if quick else REPEAT
    with tempfile.TemporaryDirectory(prefix="gridcredit-bench-service-") as name:
        tmp = Path(name)
        key = add_key(tmp / "keys.yaml", "bench", ["decide"])
        bodies = tmp / "bodies.jsonl"
        bodies.write_text("\n".join(json.dumps(r) for r in _records(500)) + "\n")
        rounds = [_round(tmp, key, bodies, seconds, k, db) for k in range(repeat)]
        chain = _chain(tmp, db)

    def median(name: str, field: str = "rate") -> float:
        return statistics.median(r[name][field] for r in rounds)

    echo, one, two = median("echo"), median("workers_1"), median("workers_2")
    p99 = median("fixed_rate_90pct", "p99_ms")
    echo_p99 = median("echo_fixed_rate_90pct", "p99_ms")
    cpu = {name: median(name, "server_cpu_ms_per_request")
           for name in ("echo", "workers_1", "workers_2")}
    return {
        "machine": f"{os.cpu_count()} cores shared with other work; ratios are measured in "
                   "one run, alternating",
        "baseline": "bare FastAPI echo endpoint on uvicorn (httptools, uvloop), same bodies, "
                    "same wrk",
        "load_generator": f"wrk -t1 -c{CONNECTIONS}, pinned to core {CLIENT_CORE}; servers "
                          f"with one process pinned to core {SERVER_CORE}",
        "seconds_per_phase": seconds, "repeats": repeat,
        "per_s_median": {"echo": round(echo), "workers_1": round(one),
                         "workers_2": round(two)},
        "ratios": {"workers_1_vs_echo": round(one / echo, 3),
                   "workers_2_vs_workers_1": round(two / one, 2)},
        "server_cpu_ms_per_request_median": cpu,
        "cpu_ceilings_per_s": {
            "workers_1_one_core": round(1e3 / cpu["workers_1"]),
            "echo_rate_x_0.25": round(0.25 * echo),
            "workers_2_two_whole_cores": round(2e3 / cpu["workers_2"]),
            "note": "a server can answer at most (cores it gets) / (CPU per request); "
                    "with two workers, wrk and every other process share the same two cores"},
        "load_average_1min": [r["load_average_1min"] for r in rounds],
        "fixed_rate_90pct_of_workers_1": {
            "method": "open-loop client (uvloop, raw sockets, connections opened before the "
                      "schedule), latency from the scheduled send time",
            "p99_ms_median": p99, "runs": [r["fixed_rate_90pct"] for r in rounds]},
        "fixed_rate_90pct_of_echo": {
            "what": "the baseline under the same open-loop client at 90 % of its own wrk rate: "
                    "what the HTTP stack alone gives at that load on this machine",
            "p99_ms_median": echo_p99, "runs": [r["echo_fixed_rate_90pct"] for r in rounds]},
        "targets": {"workers_1_at_least_0.25x_echo": one >= 0.25 * echo,
                    "p99_at_most_20ms_at_90pct": p99 <= 20.0,
                    "workers_2_at_least_1.6x_workers_1": two >= 1.6 * one},
        "runs": rounds,
        "decision_log": chain,
        **({"postgresql": _postgresql(rounds, db)} if db else {}),
    }


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "fixed-rate":
        _fixed_rate_main()
