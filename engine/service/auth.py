"""API keys with roles: ``decide``, ``audit``, ``admin`` and ``editor`` (the workbench).

Keys are random 256-bit tokens made by ``gridcredit keys add``; the keys file
keeps only their SHA-256. A fast hash is enough here (unlike passwords): a
key has 256 bits of entropy, so no dictionary or brute force reaches it, and
a per-request scrypt would cost more than the decision itself. The key
arrives as ``Authorization: Bearer <key>`` or ``X-API-Key: <key>``
(``engine.web.keys`` reads it), never in the URL, so access logs never hold
it; the service logs key names only.

Keys file (YAML, written by the CLI)::

    keys:
      - name: billing-system
        roles: [decide]
        sha256: 9f2c...
        created: 2026-11-30T10:00:00+00:00

The file is re-read when it changes, so a new key works without a restart:
a key the worker does not know sends it to the file at once, and for keys it
knows it looks at the file's modification time at most once every
``RECHECK_S`` seconds, so a key removed from the file is refused within a
second. A system call per request would cost the worker more than the check
of the key itself.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import secrets
import threading
import time
from collections.abc import Callable, Coroutine, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import yaml
from fastapi import Request

from engine.errors import ConfigError, closest
from engine.web.errors import Forbidden, Unauthorized
from engine.web.keys import presented_key
from engine.yamlfile import LocatedList, plain, read_yaml

__all__ = ["KEY_PREFIX", "RECHECK_S", "ROLES", "USED_FLUSH_S", "ApiKey", "KeyStore", "add_key",
           "hash_key", "holder", "list_keys", "record_use", "require_role", "revoke_key",
           "used_file"]

log = logging.getLogger("gridcredit.service")

ROLES = ("decide", "audit", "admin", "editor")
KEY_PREFIX = "gck_"
RECHECK_S = 1.0
USED_FLUSH_S = 60.0


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


@dataclass(frozen=True)
class ApiKey:
    """A key as the service knows it: its name and roles, never the key itself."""

    name: str
    roles: frozenset[str]
    expires: date | None = None

    def expired(self, today: date) -> bool:
        """Whether the key is past its last day (``expires`` is the last day it works, UTC)."""
        return self.expires is not None and today > self.expires


class KeyStore:
    """The keys file, read once and again whenever its modification time changes
    (looked at for an unknown key, and at most every ``RECHECK_S`` for a known one).

    A file that fails to parse replaces nothing: the keys last read stay in force,
    the error goes to the log once and ``problem`` holds it for ``/healthz``."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._stamp: tuple[int, int] | None = None
        self._checked = float("-inf")
        self._by_hash: dict[str, ApiKey] = {}
        self.clock: Callable[[], float] = time.monotonic
        #: Why the keys file was last refused (the keys read before it stay in force).
        self.problem: str | None = None
        self._last_used: dict[str, str] = {}
        self._flushed = float("-inf")

    def lookup(self, key: str) -> ApiKey | None:
        """The key's entry, expired or not (``usable`` tells); None for an unknown key."""
        digest = hash_key(key)
        found = self._by_hash.get(digest)
        if found is None or self.clock() - self._checked >= RECHECK_S:
            self._refresh()
            found = self._by_hash.get(digest)
        if found is not None:
            self._used(found.name)
        return found

    def _used(self, name: str) -> None:
        """Note the key's use; written beside the keys file at most every ``USED_FLUSH_S``."""
        self._last_used[name] = datetime.now(UTC).isoformat(timespec="seconds")
        if self.clock() - self._flushed >= USED_FLUSH_S:
            self._flushed = self.clock()
            with contextlib.suppress(OSError, ValueError):
                record_use(self.path, dict(self._last_used))

    def refresh_due(self) -> None:
        """Read the file again if it may have changed (at most every ``RECHECK_S``)."""
        if self.clock() - self._checked >= RECHECK_S:
            self._refresh()

    def _refresh(self) -> None:
        self._checked = self.clock()
        try:
            st = self.path.stat()
            stamp = (st.st_mtime_ns, st.st_size)
        except FileNotFoundError:
            stamp = None
        if stamp == self._stamp:
            return
        with self._lock:
            try:
                entries = read_keys(self.path) if stamp else []
            except (ConfigError, OSError) as exc:
                problem = _problem(exc)
                if self.problem != problem:
                    log.error("keys file %s refused, the keys read before stay in force: %s",
                              self.path, problem)
                self.problem = problem
            else:
                self._by_hash = {k["sha256"]: ApiKey(k["name"], frozenset(k["roles"]),
                                                     _day(k.get("expires")))
                                 for k in entries}
                self.problem = None
            self._stamp = stamp


def _problem(exc: Exception) -> str:
    """Why the keys file was refused, without its path (``/healthz`` shows it to anyone)."""
    if isinstance(exc, ConfigError):
        return f"line {exc.line}: {exc.reason}" if exc.line else exc.reason
    return f"cannot be read ({getattr(exc, 'strerror', None) or type(exc).__name__})"


def read_keys(path: Path) -> list[dict[str, Any]]:
    """The entries of a keys file, checked; a missing file has none."""
    if not path.is_file():
        return []
    data = read_yaml(path) or {}
    entries = data.get("keys") if isinstance(data, dict) else None
    if not isinstance(entries, LocatedList):
        raise ConfigError("a keys file holds 'keys:' with a list of entries; create it with "
                          "gridcredit keys add", file=str(path), line=getattr(data, "line", 1))
    for i, e in enumerate(entries):
        ok = (isinstance(e, dict) and isinstance(e.get("name"), str)
              and isinstance(e.get("sha256"), str) and len(e["sha256"]) == 64
              and isinstance(e.get("roles"), list) and set(e["roles"]) <= set(ROLES))
        if not ok:
            raise ConfigError(f"keys[{i}] needs name, sha256 (64 hex digits) and roles from "
                              f"{', '.join(ROLES)}", file=str(path), line=entries.line_of(i))
        try:
            _day(e.get("expires"))
        except ValueError:
            raise ConfigError(f"keys[{i}].expires = {e.get('expires')!r}: give a date "
                              "YYYY-MM-DD", file=str(path), line=entries.line_of(i)) from None
    return entries


def _day(value: Any) -> date | None:
    if value is None or isinstance(value, date) and not isinstance(value, datetime):
        return value
    return date.fromisoformat(str(value))


def _write_keys(path: Path, entries: list[dict[str, Any]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(yaml.safe_dump({"keys": entries}, sort_keys=False))
    tmp.chmod(0o600)
    tmp.replace(path)


def used_file(path: Path) -> Path:
    """Where the service notes when each key was last used (beside the keys file)."""
    return path.with_name(path.name + ".used.json")


def record_use(path: Path, used: Mapping[str, str]) -> None:
    """Merge ``used`` (name -> last use) into the keys' use file; the latest time wins."""
    file = used_file(path)
    try:
        known = json.loads(file.read_text())
    except (OSError, ValueError):
        known = {}
    merged = {**known, **{n: max(t, str(known.get(n, ""))) for n, t in used.items()}}
    tmp = file.with_name(f"{file.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(merged, sort_keys=True))
    tmp.replace(file)


def list_keys(path: Path) -> list[dict[str, Any]]:
    """Each key's name, roles, creation, expiry and last use (never the key or its hash)."""
    try:
        used = json.loads(used_file(path).read_text())
    except (OSError, ValueError):
        used = {}
    return [{"name": e["name"], "roles": list(e["roles"]), "created": e.get("created"),
             "expires": str(e["expires"]) if e.get("expires") else None,
             "last_used": used.get(e["name"])} for e in plain(read_keys(path))]


def revoke_key(path: Path, name: str) -> None:
    """Remove the key ``name``: the service refuses it within ``RECHECK_S``."""
    entries = plain(read_keys(path))
    kept = [e for e in entries if e["name"] != name]
    if len(kept) == len(entries):
        names = [e["name"] for e in entries]
        raise ConfigError(f"no key named {name!r}" + (f": the keys are {', '.join(names)}"
                                                      if names else ": the file holds none"),
                          file=str(path), suggestion=closest(name, names))
    _write_keys(path, kept)


def add_key(path: Path, name: str, roles: list[str], expires: date | None = None) -> str:
    """Create a key, store its hash under ``name`` and return the key (shown once, never stored);
    ``expires`` is the last day the key works."""
    bad = [r for r in roles if r not in ROLES]
    if not roles or bad:
        raise ConfigError(f"role {bad[0] if bad else '(none)'!r}: give --role with one of "
                          f"{', '.join(ROLES)}")
    entries = plain(read_keys(path))
    if any(e["name"] == name for e in entries):
        raise ConfigError(f"a key named {name!r} exists already: choose another name",
                          file=str(path))
    key = KEY_PREFIX + secrets.token_urlsafe(32)
    if expires is not None and expires < datetime.now(UTC).date():
        raise ConfigError(f"--expires {expires}: give today or a later date")
    entry = {"name": name, "roles": sorted(set(roles), key=ROLES.index),
             "sha256": hash_key(key), "created": datetime.now(UTC).isoformat(timespec="seconds")}
    if expires is not None:
        entry["expires"] = expires.isoformat()
    _write_keys(path, [*entries, entry])
    return key


def holder(keys: KeyStore, headers: Mapping[str, str], role: str) -> ApiKey | None:
    """The presented key's entry when it is known and holds ``role``; None otherwise
    (``require_role`` then says which of the three is wrong)."""
    key = presented_key(headers)
    found = keys.lookup(key) if key is not None else None
    if found is None or role not in found.roles or found.expired(datetime.now(UTC).date()):
        return None
    return found


def require_role(role: str) -> Callable[[Request], Coroutine[Any, Any, ApiKey]]:
    """A FastAPI dependency: the caller's key must exist (else 401) and hold ``role`` (else 403)."""
    if role not in ROLES:
        raise ValueError(f"unknown role {role!r}: use one of {', '.join(ROLES)}")

    async def dependency(request: Request) -> ApiKey:
        key = presented_key(request.headers)
        if key is None:
            raise Unauthorized("no API key: send 'Authorization: Bearer <key>' "
                               "(create one with gridcredit keys add NAME --role ROLE)")
        found = request.app.state.keys.lookup(key)
        if found is None:
            raise Unauthorized("unknown API key: check the key, or create one with "
                               "gridcredit keys add NAME --role ROLE")
        if found.expired(datetime.now(UTC).date()):
            raise Unauthorized(f"key {found.name!r} expired after {found.expires}: create a "
                               "new one with gridcredit keys add NAME --role ROLE --expires DATE")
        if role not in found.roles:
            raise Forbidden(f"key {found.name!r} lacks the role '{role}' this endpoint needs "
                            f"(it has {', '.join(sorted(found.roles)) or 'none'})")
        request.state.key_name = found.name
        return found

    dependency.__name__ = f"require_{role}"
    return dependency
