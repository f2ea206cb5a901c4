"""An exclusive ``flock`` held for a block: how processes on one machine take turns."""

from __future__ import annotations

import contextlib
import fcntl
from collections.abc import Iterator

__all__ = ["exclusive"]


@contextlib.contextmanager
def exclusive(fd: int) -> Iterator[None]:
    """Hold an exclusive ``flock`` on ``fd`` while the block runs (waiting for it first)."""
    fcntl.flock(fd, fcntl.LOCK_EX)
    try:
        yield
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
