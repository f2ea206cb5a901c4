"""Change counters that processes on one machine share through a small mapped file.

A worker that must notice another process's change (a table reload, an event
outcome stored) could look at a file's modification time on every request.
That is a system call per request, and one that releases the interpreter
lock, which on a busy worker hands its core to the log writer thread. A
``ChangeCounter`` is read from shared memory instead: no system call, no
lock released. Writers bump it under an ``flock`` of the file.

Each counter holds two numbers, how many changes have started and how many
have ended. ``settled()`` is their common value, or None while a change is
in progress (or after a writer died in the middle of one): a reader that
caches what the counter guards trusts its cache only while the counter is
settled at the value it cached it for, and otherwise reads again.
"""

from __future__ import annotations

import contextlib
import mmap
import os
import struct
from collections.abc import Iterator
from pathlib import Path

from engine.errors import EngineError
from engine.filelock import exclusive

__all__ = ["ChangeCounter"]

_LAYOUT = struct.Struct("<QQ")  # changes started, changes ended


class ChangeCounter:
    """The counter in ``path``, created (zeroed) when the file does not exist."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        try:
            self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        except OSError as exc:
            raise EngineError(f"change counter {self.path}: cannot open it ({exc.strerror}); "
                              "make its folder writable for the service") from None
        if os.fstat(self._fd).st_size < _LAYOUT.size:
            with exclusive(self._fd):
                if os.fstat(self._fd).st_size < _LAYOUT.size:
                    os.ftruncate(self._fd, _LAYOUT.size)
        self._map = mmap.mmap(self._fd, _LAYOUT.size)

    def settled(self) -> int | None:
        """The number of changes made, or None while one is being made."""
        started, ended = _LAYOUT.unpack_from(self._map)
        return ended if started == ended else None

    @contextlib.contextmanager
    def changing(self) -> Iterator[None]:
        """Around a change: readers see it in progress until the block ends, however it ends."""
        self._add(started=1)
        try:
            yield
        finally:
            self._add(ended=1)

    def bump(self) -> None:
        """Count a change already made."""
        self._add(started=1, ended=1)

    def _add(self, *, started: int = 0, ended: int = 0) -> None:
        if self._fd < 0:
            raise EngineError(f"change counter {self.path} is closed: open it again to count")
        with exclusive(self._fd):
            s, e = _LAYOUT.unpack_from(self._map)
            _LAYOUT.pack_into(self._map, 0, s + started, e + ended)

    def close(self) -> None:
        if self._fd >= 0:
            self._map.close()
            os.close(self._fd)
            self._fd = -1
