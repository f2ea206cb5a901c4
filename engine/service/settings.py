"""Service settings: a YAML file and/or environment variables, resolved once at start.

Every worker process builds its settings from the same sources, so
``gridcredit serve --workers N`` passes them through the environment and each
worker reads them back with ``Settings.from_env()``.

YAML keys (all optional)::

    home: /srv/gridcredit           # project folder with rules/, models/, policies/
                                    # (default: $GRIDCREDIT_HOME, else the checkout)
    db: /srv/gridcredit/out/decisions.sqlite   # decision log: SQLite path or
                                    # postgresql:// URL (default: HOME/out/decisions.sqlite)
    keys_file: /srv/keys.yaml       # API keys (hashes only), see gridcredit keys add
                                    # (default: HOME/out/api-keys.yaml)
    batch_limit: 100                # records per POST /v1/decisions:batch
    max_body_bytes: 1048576         # request bodies above this get 413 before parsing
    max_json_depth: 32              # deeper JSON gets 400
    reload_marker: /srv/tables.json # shared by workers so a reload in one reaches all
                                    # (default: beside a SQLite log, else
                                    # HOME/out/tables-active.json)
    executor: compiled              # per-decision table executor: compiled or durable
    require_published: false        # start and reload refuse a table set never published
    four_eyes: false                # rules publish needs an approver other than the publisher
    header_timeout_s: 10            # a client whose headers are not in after this gets 408
    max_header_bytes: 32768         # request line and headers above this get 431
    max_headers: 100                # more header lines than this get 431
    max_connections: 2000           # connections open at once per worker; past it 503
    allowed_hosts: [api.example]    # Host names answered (default with serve: the bind
                                    # host, localhost, 127.0.0.1 and ::1); others get 400
    forwarded_allow_ips: []         # proxies whose X-Forwarded-For/-Proto are believed
                                    # (default none: the headers are ignored)
    idempotency_window_s: 86400     # how long an Idempotency-Key is remembered
    metrics_role: audit             # /metrics needs a key with this role (default: none)
    workbook_max_unpacked_bytes: 20000000  # an uploaded workbook, unpacked, above this: 413
    workbook_max_parts: 200         # more parts (files) in the workbook archive: 413
    workbook_max_rows: 20000        # more worksheet rows, counted before parsing: 413
    workbook_max_cells: 400000      # more worksheet cells, counted before parsing: 413

Environment variables override the file: ``GRIDCREDIT_HOME``,
``GRIDCREDIT_DB``, ``GRIDCREDIT_KEYS``, ``GRIDCREDIT_BATCH_LIMIT``,
``GRIDCREDIT_MAX_BODY_BYTES``, ``GRIDCREDIT_MAX_JSON_DEPTH``,
``GRIDCREDIT_RELOAD_MARKER``, ``GRIDCREDIT_EXECUTOR``, ``GRIDCREDIT_REQUIRE_PUBLISHED``,
``GRIDCREDIT_FOUR_EYES``, ``GRIDCREDIT_HEADER_TIMEOUT_S``, ``GRIDCREDIT_MAX_HEADER_BYTES``,
``GRIDCREDIT_MAX_HEADERS``, ``GRIDCREDIT_MAX_CONNECTIONS``, ``GRIDCREDIT_ALLOWED_HOSTS``,
``GRIDCREDIT_FORWARDED_ALLOW_IPS`` (lists with commas), ``GRIDCREDIT_IDEMPOTENCY_WINDOW_S``,
``GRIDCREDIT_METRICS_ROLE``, ``GRIDCREDIT_WORKBOOK_MAX_UNPACKED_BYTES``,
``GRIDCREDIT_WORKBOOK_MAX_PARTS``, ``GRIDCREDIT_WORKBOOK_MAX_ROWS``,
``GRIDCREDIT_WORKBOOK_MAX_CELLS``; the file itself
is ``GRIDCREDIT_SERVICE_CONFIG``. Paths given are taken as given; the
defaults hang off the project home (``engine.config``), never off the working
folder.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from engine.config import DB_ENV, EXECUTORS, HOME_ENV, EngineConfig, default_home, resolve_home
from engine.errors import ConfigError, closest
from engine.service.auth import ROLES
from engine.web.protocol import LIMIT_ENV
from engine.web.uploads import EXCEL_MAX_ROW, WorkbookLimits
from engine.yamlfile import read_yaml

__all__ = ["CONFIG_ENV", "Settings"]

CONFIG_ENV = "GRIDCREDIT_SERVICE_CONFIG"

_ENV = {
    "home": HOME_ENV,
    "db": DB_ENV,
    "keys_file": "GRIDCREDIT_KEYS",
    "batch_limit": "GRIDCREDIT_BATCH_LIMIT",
    "max_body_bytes": "GRIDCREDIT_MAX_BODY_BYTES",
    "max_json_depth": "GRIDCREDIT_MAX_JSON_DEPTH",
    "reload_marker": "GRIDCREDIT_RELOAD_MARKER",
    "executor": "GRIDCREDIT_EXECUTOR",
    "require_published": "GRIDCREDIT_REQUIRE_PUBLISHED",
    "four_eyes": "GRIDCREDIT_FOUR_EYES",
    **LIMIT_ENV,
    "allowed_hosts": "GRIDCREDIT_ALLOWED_HOSTS",
    "forwarded_allow_ips": "GRIDCREDIT_FORWARDED_ALLOW_IPS",
    "idempotency_window_s": "GRIDCREDIT_IDEMPOTENCY_WINDOW_S",
    "metrics_role": "GRIDCREDIT_METRICS_ROLE",
    **{f"workbook_{f.name}": f"GRIDCREDIT_WORKBOOK_{f.name.upper()}"
       for f in dataclasses.fields(WorkbookLimits)},
}
_BOOLS = ("require_published", "four_eyes")
_INTS = {"batch_limit": (1, 100_000), "max_body_bytes": (1024, 1 << 30),
         "max_json_depth": (2, 1000), "header_timeout_s": (1, 3600),
         "max_header_bytes": (1024, 1 << 20), "max_headers": (10, 10_000),
         "max_connections": (1, 1_000_000), "idempotency_window_s": (1, 30 * 86_400),
         "workbook_max_unpacked_bytes": (1 << 16, 1 << 32), "workbook_max_parts": (4, 10_000),
         "workbook_max_rows": (10, EXCEL_MAX_ROW), "workbook_max_cells": (10, 100_000_000)}
_LISTS = ("allowed_hosts", "forwarded_allow_ips")


@dataclass(frozen=True)
class Settings:
    """What one service instance needs: the project home and the files it keeps.

    ``Settings.load`` fills ``home``, ``db`` and ``keys_file`` from the home
    when they are not given, so every worker of one deployment agrees.
    """

    home: Path | None = None
    db: str | None = None
    keys_file: Path | None = None
    batch_limit: int = 100
    max_body_bytes: int = 1_048_576
    max_json_depth: int = 32
    reload_marker: Path | None = None
    executor: str = "compiled"
    require_published: bool = False
    four_eyes: bool = False
    header_timeout_s: int = 10
    max_header_bytes: int = 32_768
    max_headers: int = 100
    max_connections: int = 2_000
    allowed_hosts: tuple[str, ...] | None = None
    forwarded_allow_ips: tuple[str, ...] = ()
    idempotency_window_s: int = 86_400
    metrics_role: str | None = None
    workbook_max_unpacked_bytes: int = WorkbookLimits.max_unpacked_bytes
    workbook_max_parts: int = WorkbookLimits.max_parts
    workbook_max_rows: int = WorkbookLimits.max_rows
    workbook_max_cells: int = WorkbookLimits.max_cells

    @property
    def workbook_limits(self) -> WorkbookLimits:
        """How big a workbook uploaded to the workbench may be once unpacked."""
        return WorkbookLimits(**{f.name: getattr(self, f"workbook_{f.name}")
                                 for f in dataclasses.fields(WorkbookLimits)})

    @classmethod
    def load(cls, file: str | Path | None = None,
             env: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
        """Defaults, then the YAML file, then the environment, then explicit overrides."""
        env = os.environ if env is None else env
        values: dict[str, Any] = {}
        file = file or env.get(CONFIG_ENV) or None
        if file is not None:
            values.update(_read_yaml(Path(file)))
        for name, var in _ENV.items():
            if env.get(var):
                values[name] = env[var]
        values.update({k: v for k, v in overrides.items() if v is not None})
        settings = cls._coerce(values, str(file) if file else "environment")
        project = EngineConfig.at(settings.home or default_home(env), executor=settings.executor)
        return dataclasses.replace(settings, home=project.home,
                                   db=settings.db or str(project.log_file),
                                   keys_file=settings.keys_file or project.keys_file)

    @property
    def marker(self) -> Path:
        """The reload marker the workers of one deployment share."""
        if self.reload_marker is not None:
            return self.reload_marker
        if self.db is None or "://" in self.db:
            return EngineConfig.at(self.home).out_dir / "tables-active.json"
        return Path(f"{self.db}.tables-active.json")

    @classmethod
    def from_env(cls) -> Settings:
        """Settings of a uvicorn worker: the config file and variables ``serve`` exported."""
        return cls.load()

    def to_env(self) -> dict[str, str]:
        """The variables that make ``from_env`` in a worker return these settings."""
        out = {}
        for name, var in _ENV.items():
            value = getattr(self, name)
            if isinstance(value, tuple):
                out[var] = ",".join(value)
            elif value is not None:
                out[var] = str(value)
        return out

    @classmethod
    def _coerce(cls, values: dict[str, Any], source: str) -> Settings:
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ConfigError(f"unknown service setting(s) {', '.join(unknown)}: "
                              f"use {', '.join(sorted(known))}", file=source)
        out: dict[str, Any] = {}
        for name, value in values.items():
            if name in _INTS:
                lo, hi = _INTS[name]
                try:
                    number = int(value)
                except (TypeError, ValueError):
                    raise ConfigError(f"{name} = {value!r}: give a whole number "
                                      f"from {lo} to {hi}", file=source) from None
                if not lo <= number <= hi:
                    raise ConfigError(f"{name} = {number}: give a whole number from {lo} to {hi}",
                                      file=source)
                out[name] = number
            elif name in _BOOLS:
                out[name] = _boolean(name, value, source)
            elif name in _LISTS:
                out[name] = _names(name, value, source)
            elif name == "metrics_role":
                out[name] = _role(value, source)
            elif name == "home":
                out[name] = resolve_home(str(value))
            elif name in ("keys_file", "reload_marker"):
                out[name] = Path(str(value)).expanduser()
            elif name == "executor":
                out[name] = _executor(value, source)
            else:
                out[name] = str(value)
        return cls(**out)


def _executor(value: Any, source: str) -> str:

    if value not in EXECUTORS:
        raise ConfigError(f"executor = {value!r}: use one of {', '.join(EXECUTORS)}",
                          file=source)
    return str(value)
def _names(name: str, value: Any, source: str) -> tuple[str, ...]:
    """A list setting: a YAML list, or text with commas (as the environment carries it)."""
    items = value.split(",") if isinstance(value, str) else value
    if not isinstance(items, list | tuple) or not all(isinstance(i, str) for i in items):
        raise ConfigError(f"{name} = {value!r}: give a list of names", file=source)
    return tuple(i.strip().lower() for i in items if i.strip())


def _role(value: Any, source: str) -> str | None:
    if value in (None, "", "none"):
        return None
    if value not in ROLES:
        raise ConfigError(f"metrics_role = {value!r}: use one of {', '.join(ROLES)}, or leave "
                          "it out to serve /metrics without a key", file=source)
    return str(value)


def _boolean(name: str, value: Any, source: str) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off"):
        return False
    raise ConfigError(f"{name} = {value!r}: give true or false", file=source)


def _read_yaml(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise ConfigError(f"service config not found: give an existing YAML file with --config "
                          f"or ${CONFIG_ENV}", file=str(path))
    data = read_yaml(path) or {}
    if not isinstance(data, dict):
        raise ConfigError("a service config is a mapping of setting: value", file=str(path),
                          line=getattr(data, "line", 1))
    known = sorted(f.name for f in dataclasses.fields(Settings))
    unknown = [str(key) for key in data if key not in known]
    if unknown:
        raise ConfigError(f"unknown service setting(s) {', '.join(unknown)}: use "
                          f"{', '.join(known)}", file=str(path), line=data.line_of(unknown[0]),
                          suggestion=closest(unknown[0], known))
    return data
