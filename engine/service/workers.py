"""Several worker processes on one port, each with its own listening socket.

uvicorn's supervisor binds one socket and hands it to every worker; the
workers then race for each new connection, and the one whose loop is awake
takes a whole burst of them. Keep-alive clients stay where they landed, so
one worker can hold twelve connections of twelve while the other idles.

Here every worker binds the port itself with ``SO_REUSEPORT`` and the kernel
spreads new connections over the workers' sockets by a hash of each
connection's addresses. The supervisor never holds a socket of its own: it
hands each worker a ``PortSocket``, which becomes a bound socket only when
the worker unpickles its arguments, so a restarted worker binds afresh and a
dead one's socket goes with it. The socket is bound but not listening until
the worker's server starts (``create_server`` listens), so no connection
waits on a worker that is still loading its tables.
"""

from __future__ import annotations

import socket
import sys
from typing import Any

from uvicorn.config import STARTUP_FAILURE, Config
from uvicorn.supervisors import Multiprocess

from engine.errors import ConfigError

__all__ = ["PortSocket", "check_port_free", "run_workers"]


def _family(host: str) -> socket.AddressFamily:
    return socket.AF_INET6 if ":" in host else socket.AF_INET


def bound_socket(host: str, port: int) -> socket.socket:
    """A socket bound to ``host:port`` that shares the port with its siblings."""
    sock = socket.socket(family=_family(host))
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        print(f"cannot bind {host}:{port}: {exc.strerror}", file=sys.stderr)
        sys.exit(STARTUP_FAILURE)
    return sock


class PortSocket:
    """Stands for a worker's socket in the supervisor; it is bound in the worker."""

    def __init__(self, host: str, port: int) -> None:
        self.host = host
        self.port = port

    def __reduce__(self) -> tuple[Any, tuple[str, int]]:
        return bound_socket, (self.host, self.port)


def check_port_free(host: str, port: int) -> None:
    """Refuse a port another server holds: ``SO_REUSEPORT`` alone would share it silently."""
    with socket.socket(family=_family(host)) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            raise ConfigError(f"cannot listen on {host}:{port}: {exc.strerror}; stop the "
                              "server that holds it or choose another --port") from None


def run_workers(config: Config) -> None:
    """Run ``config.workers`` workers under uvicorn's supervisor, one socket each."""
    check_port_free(config.host, config.port)
    try:
        Multiprocess(config, sockets=[PortSocket(config.host, config.port)]).run()  # type: ignore[list-item]
    except KeyboardInterrupt:
        pass
