"""Several worker processes on one port: the supervisor's socket, shared by every worker.

The supervisor binds and listens on the port once and hands that socket to
each worker, as uvicorn does; no worker binds a socket of its own, so no
other process (of this user or another) can join the port with
``SO_REUSEPORT`` and take a share of the connections.

uvicorn's supervisor looks at its workers every half second, but it asks a
live-looking worker over a pipe and waits up to the health-check timeout for
the answer; a worker killed just then is noticed only when that wait ends,
minutes later. ``Supervisor`` waits on the worker's pipe *and* on its process
handle at once, so a dead worker is replaced at the next look, within a
second, while a hung one is still given the whole timeout.

Each worker dies with the supervisor: it asks the kernel for ``SIGTERM``
when its parent exits (``PR_SET_PDEATHSIG``), and, where that is not
available, a thread watches the parent pid. An orphaned worker would
otherwise keep the port and serve on its own.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import socket
import threading
import time
from multiprocessing.connection import wait

from uvicorn.config import STARTUP_FAILURE, Config
from uvicorn.supervisors.multiprocess import Multiprocess, Process, logger

from engine.errors import ConfigError

__all__ = ["SUPERVISOR_ENV", "Supervisor", "die_with_supervisor", "listening_socket",
           "run_workers"]

SUPERVISOR_ENV = "GRIDCREDIT_SUPERVISOR_PID"
_PR_SET_PDEATHSIG = 1


def listening_socket(host: str, port: int) -> socket.socket:
    """The one socket of the deployment, bound by the supervisor (refused if the port is taken)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family=family, type=socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise ConfigError(f"cannot listen on {host}:{port}: {exc.strerror}; stop the server "
                          "that holds it or choose another --port") from None
    sock.set_inheritable(True)
    return sock


def _answers(process: Process, timeout: float, others: list[Process]) -> bool | None:
    """Whether the worker answers a ping within ``timeout``; None when another worker died
    meanwhile (its death ends the wait, so it is replaced at once)."""
    try:
        process.parent_conn.send(b"ping")
        sentinels = [p.process.sentinel for p in others]
        ready = wait([process.parent_conn, process.process.sentinel, *sentinels], timeout)
        if process.parent_conn in ready:
            process.parent_conn.recv()
            return True
        if process.process.sentinel not in ready and ready:
            return None
    except (OSError, EOFError):
        pass
    return False


class Supervisor(Multiprocess):
    """uvicorn's supervisor, replacing a dead worker at its next look (every 0.5 s).

    A worker still starting (a spawned interpreter imports the whole program
    before it can answer) may leave a ping unanswered for many seconds; the
    wait for it ends as soon as any worker dies.
    """

    def keep_subprocess_alive(self) -> None:
        if self.should_exit.is_set():
            return
        for idx, process in enumerate(self.processes):
            if not process.process.is_alive():
                self._replace(idx, process)
        for idx, process in enumerate(self.processes):
            others = [p for p in self.processes if p is not process]
            answered = _answers(process, self.config.timeout_worker_healthcheck, others)
            if answered is None:
                return  # another worker died: the next look replaces it
            if not answered:
                self._replace(idx, process)

    def _replace(self, idx: int, process: Process) -> None:
        if self.should_exit.is_set():
            return
        process.kill()
        process.join()
        if process.exitcode == STARTUP_FAILURE:
            logger.error(f"Child process [{process.pid}] failed to start, stopping the "
                         "parent process.")
            self.should_exit.set()
            return
        logger.info(f"Child process [{process.pid}] died; starting another")
        replacement = Process(self.config, self.sockets)
        replacement.start()
        self.processes[idx] = replacement


def run_workers(config: Config, sock: socket.socket) -> None:
    """Run ``config.workers`` workers on ``sock`` under the supervisor."""
    os.environ[SUPERVISOR_ENV] = str(os.getpid())
    try:
        Supervisor(config, sockets=[sock]).run()
    except KeyboardInterrupt:
        pass
    finally:
        sock.close()


def die_with_supervisor() -> None:
    """In a worker: exit when the supervisor that started it exits (a no-op elsewhere)."""
    parent = os.environ.get(SUPERVISOR_ENV)
    if not parent or not parent.isdigit():
        return
    if _parent_death_signal():
        if os.getppid() != int(parent):  # the supervisor died before the signal was asked
            os.kill(os.getpid(), signal.SIGTERM)
        return
    threading.Thread(target=_watch_parent, args=(int(parent),), daemon=True,
                     name="supervisor-watch").start()


def _parent_death_signal() -> bool:
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0) == 0
    return False


def _watch_parent(parent: int) -> None:
    while os.getppid() == parent:
        time.sleep(0.5)
    os.kill(os.getpid(), signal.SIGTERM)
