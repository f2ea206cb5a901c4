"""The workbench a request works on, and who may use it.

``Studio`` holds what the pages work on (the project, its saved engine, the
drafts and the impact runs); ``get_studio`` finds it on the application;
``studio_user`` is the dependency every page and request declares: the user a
request edits as, or a 401/403. The routes import this module, never the
application module that includes them (as Starlette's routing never imports
its applications), so the two build one way only.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import threading
from dataclasses import dataclass, field
from pathlib import Path

from fastapi import Request
from starlette.exceptions import HTTPException

from engine.config import EngineConfig
from engine.decider import Engine, load
from engine.errors import InputError
from engine.studio.drafts import DraftStore, Workspace
from engine.studio.jobs import Jobs
from engine.tables import TableSet
from engine.web.errors import Forbidden
from engine.web.hosts import host_name, is_loopback
from engine.web.keys import presented_key
from engine.web.uploads import WorkbookLimits

__all__ = ["EDIT_ROLES", "LOCAL_USER", "Studio", "StudioSettings", "get_studio",
           "studio_user"]

EDIT_ROLES = ("admin", "editor")
LOCAL_USER = "local"


@dataclass(frozen=True)
class StudioSettings:
    """Where the workbench works: the project, its drafts and the population files it may read."""

    home: Path | None = None
    drafts: Path = Path("out/studio-drafts")
    populations: tuple[Path, ...] = (Path("out"),)
    max_upload_bytes: int = 5_000_000
    workbook: WorkbookLimits = WorkbookLimits()
    keys: bool = False
    db: str | None = None
    four_eyes: bool = False


@dataclass
class Studio:
    """What the pages work on: the project, its saved engine, the drafts and the impact runs."""

    settings: StudioSettings
    config: EngineConfig = field(init=False)
    workspace: Workspace = field(init=False)
    jobs: Jobs = field(init=False)

    def __post_init__(self) -> None:
        self.config = EngineConfig.at(self.settings.home)
        self._lock = threading.Lock()
        self._engine = load(self.config)
        self._engine_key = self._texts_key()
        self._words_key = self._locale_key()
        self.workspace = Workspace(self.config.rules_dir, self._engine.catalogue,
                                   DraftStore(self.settings.drafts),
                                   languages=lambda: self.engine.explainer.languages)
        self.jobs = Jobs()

    def _texts_key(self) -> str:
        texts = sorted((p.name, p.read_bytes()) for p in self.config.rules_dir.glob("*.y*ml"))
        return hashlib.sha256(repr(texts).encode()).hexdigest()

    def _locale_key(self) -> str:
        files = sorted(self.config.locale_dir.glob("*/LC_MESSAGES/*.po"))
        return hashlib.sha256(repr([(str(p), p.read_bytes()) for p in files]).encode()
                              ).hexdigest()

    @property
    def engine(self) -> Engine:
        """The engine with the tables and translations as saved now (reloaded when either
        changes on disk, from the workbench or an editor)."""
        with self._lock:
            words_key = self._locale_key()
            if words_key != self._words_key:  # the catalogue's hash covers its translations
                self._engine = load(self.config)
                self.workspace.catalogue = self._engine.catalogue
                self._words_key, self._engine_key = words_key, self._texts_key()
            key = self._texts_key()
            if key != self._engine_key:
                saved = self.workspace.saved()
                if saved.table_set is not None:
                    self._engine = self._engine.with_tables(saved.table_set)
                self._engine_key = key
            return self._engine

    def po_file(self, tag: str) -> Path:
        """The catalogue file of a language's translations (``policies/locale/.../*.po``)."""
        files = self.engine.explainer.languages.files
        if tag not in files:
            raise InputError(f"{tag!r} is not a language translations are written for: use "
                             + ", ".join(files))
        return Path(files[tag])

    @property
    def saved_tables(self) -> TableSet:
        return self.engine.tables

    @property
    def database(self) -> str:
        """The decision log releases go to: the one given, else the project's own (under home)."""
        return self.settings.db or self.config.database

    @property
    def population_dirs(self) -> list[Path]:
        return [p if p.is_absolute() else Path.cwd() / p for p in self.settings.populations]


_CREATE = threading.Lock()


def get_studio(request: Request) -> Studio:
    """The application's workbench, created on first use (the service may never need it)."""
    state = request.app.state
    with _CREATE:
        if getattr(state, "studio", None) is None:
            state.studio = Studio(state.studio_settings)
        return state.studio


def studio_user(request: Request) -> str:
    """The user a request edits as; refuses what the mode does not allow (401/403)."""
    studio = get_studio(request)
    if request.method == "POST" and request.headers.get("x-studio") != "1":
        raise Forbidden("workbench requests carry the header X-Studio: 1 (the page sends it; "
                        "it keeps other sites from posting to the workbench)")
    if not studio.settings.keys:
        host = host_name(request.headers.get("host") or "")
        if not is_loopback(host):
            raise Forbidden(f"the local workbench answers only on a loopback address, not "
                            f"{host!r}: open http://127.0.0.1:PORT/studio")
        return LOCAL_USER
    key = presented_key(request.headers, basic=True)
    if key is None:
        raise HTTPException(401, "the workbench needs an API key with role admin or editor: "
                                 "log in with the key as password (any user name)",
                            headers={"WWW-Authenticate": 'Basic realm="gridcredit studio"'})
    found = request.app.state.keys.lookup(key)
    if found is None or found.expired(dt.datetime.now(dt.UTC).date()):
        raise HTTPException(401, "unknown or expired API key: check the key, or create one with "
                                 "gridcredit keys add NAME --role editor",
                            headers={"WWW-Authenticate": 'Basic realm="gridcredit studio"'})
    if not found.roles & set(EDIT_ROLES):
        raise Forbidden(f"key {found.name!r} lacks the role admin or editor the workbench "
                        f"needs (it has {', '.join(sorted(found.roles)) or 'none'})")
    request.state.key_name = found.name
    return found.name
