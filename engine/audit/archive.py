"""The archive: every table set and model that decided, kept in the log database by hash.

A decision names the content hash of its table set and the SHA-256 of its
model. The archive keeps what those hashes stand for, the first time each is
used (service start or reload, a batch run, ``decide --db``, a release), so
that years later the decision can be replayed and its explanation rendered as
it was:

- kind ``tables``, key = ``TableSet.content_hash``: every file that decides or
  explains, as text by its place in the project (``rules/*.yaml``,
  ``policies/catalogue.yaml``, ``policies/templates/...`` and anything else
  under ``policies/``);
- kind ``model``, key = the artifact's SHA-256: the artifact and the indicator
  catalogue it was scored with.

Before a table set is archived its files are loaded again from the snapshot
and must give the same content hash: the archive never holds files that do
not reproduce the key. The rows are hash-chained and append-only
(``engine.audit.chain``), and ``verify`` recomputes each item's key from its
content.
"""

from __future__ import annotations

import base64
import json
import tempfile
from collections.abc import Callable, Iterable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml
from sqlalchemy import Engine as Database
from sqlalchemy.exc import IntegrityError

from engine.audit.chain import ChainReport, append_keyed, keyed_rows, verify_chain
from engine.audit.store import archive as archive_table
from engine.errors import EngineError, InputError
from engine.explanation import Explainer
from engine.policies import load_catalogue
from engine.records import CLASSES
from engine.scoring import canonical_sha256
from engine.tables import load_table_set

if TYPE_CHECKING:
    from engine.decider import Engine
    from engine.scoring import ScoreModel
    from engine.tables import TableSet

__all__ = ["Archive", "ArchiveError", "ArchiveMissing", "Snapshot", "explain_as_logged",
           "load_project_tables", "load_snapshot", "snapshot_of"]

TABLES, MODEL = "tables", "model"


class ArchiveError(EngineError):
    """An archived item cannot be written or does not reproduce its hash."""

    code = "archive_error"


class ArchiveMissing(InputError, LookupError):
    """A hash the log names has no archived content."""

    http_status = 404
    code = "archive_missing"


@dataclass(frozen=True)
class Snapshot:
    """The files of a table set by project path; binary files are base64."""

    files: dict[str, str]
    binary: dict[str, str]

    def content(self) -> dict[str, Any]:
        return {"files": self.files, "binary": self.binary}

    @classmethod
    def from_content(cls, content: dict[str, Any]) -> Snapshot:
        return cls(dict(content.get("files", {})), dict(content.get("binary", {})))

    def write(self, home: Path) -> None:
        """Lay the files out under ``home`` as a project's rules/ and policies/."""
        for rel, text in self.files.items():
            target = home / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text, encoding="utf-8")
        for rel, data in self.binary.items():
            target = home / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(base64.b64decode(data))


def _files_under(root: Path, prefix: str, into: dict[str, bytes]) -> None:
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        rel = path.relative_to(root).as_posix()
        if "__pycache__" in rel or rel.startswith("."):
            continue
        into.setdefault(f"{prefix}/{rel}", path.read_bytes())


def snapshot_of(rules_dir: Path, catalogue: Path, templates_dir: Path) -> Snapshot:
    """Every file that decides or explains, read from where an engine loaded them."""
    raw: dict[str, bytes] = {}
    for path in sorted(Path(rules_dir).glob("*.yaml")):
        raw[f"rules/{path.name}"] = path.read_bytes()
    raw["policies/catalogue.yaml"] = Path(catalogue).read_bytes()
    _files_under(Path(templates_dir), "policies/templates", raw)
    _files_under(Path(catalogue).parent, "policies", raw)
    files: dict[str, str] = {}
    binary: dict[str, str] = {}
    for rel, data in raw.items():
        try:
            files[rel] = data.decode("utf-8")
        except UnicodeDecodeError:
            binary[rel] = base64.b64encode(data).decode("ascii")
    return Snapshot(files, binary)


def _model_content(model: ScoreModel, indicators: Path) -> dict[str, Any]:
    """The artifact as loaded (it hashes to the model's SHA-256) and its indicator catalogue."""
    return {"artifact": json.dumps(model.doc, indent=1, ensure_ascii=False),
            "indicators": Path(indicators).read_text(encoding="utf-8")}


class Archive:
    """The archive of one log database."""

    def __init__(self, database: Database) -> None:
        self.database = database

    # ------------------------------------------------------------------ writing

    def put(self, kind: str, key: str, content: dict[str, Any]) -> bool:
        """Archive ``content`` under ``(kind, key)``; False when it was already there."""
        if self.has(kind, key):
            return False
        try:
            append_keyed(self.database, archive_table, kind, key, content)
        except EngineError as exc:
            if self.has(kind, key):  # another process archived it first
                return False
            raise ArchiveError(str(exc)) from None
        except IntegrityError:
            return False
        return True

    def keep(self, engine: Engine, *,
             writing: Callable[[], AbstractContextManager[Any]] = nullcontext
             ) -> dict[str, bool]:
        """Archive the engine's table set and models unless they already are.

        Returns ``{key: newly archived}``. The table snapshot is loaded back
        first and must reproduce the engine's content hash. Each write runs
        inside ``writing()``, and only the write: a caller whose other
        writers queue on a lock of their own (the service's log writers, on
        the SQLite file's append lock) passes it, so they wait their turn for
        the write instead of sleeping in SQLite's busy handler, and never
        wait for the snapshot to be read and checked.
        """
        out: dict[str, bool] = {}
        key = engine.tables.content_hash
        if not self.has(TABLES, key):
            config = engine.config
            snapshot = snapshot_of(config.rules_dir, config.catalogue, config.templates_dir)
            _check_reproduces(snapshot, key)
            with writing():
                out[key] = self.put(TABLES, key, snapshot.content())
        else:
            out[key] = False
        indicators = engine.registry.spec.catalogue_path
        models = [*engine.registry.models.values(), *engine.registry.challengers.values()]
        for model in models:
            if not self.has(MODEL, model.sha256):
                content = _model_content(model, indicators)
                with writing():
                    out[model.sha256] = self.put(MODEL, model.sha256, content)
            else:
                out[model.sha256] = False
        return out

    # ------------------------------------------------------------------ reading

    def has(self, kind: str, key: str) -> bool:
        return bool(keyed_rows(self.database, archive_table, kind=kind, key=key))

    def get(self, kind: str, key: str, *, needed_for: str = "") -> dict[str, Any]:
        rows = keyed_rows(self.database, archive_table, kind=kind, key=key)
        if not rows:
            what = "table set" if kind == TABLES else "model artifact"
            raise ArchiveMissing(
                f"the {what} {key} {needed_for}is not in the archive of "
                f"{self.database.url.render_as_string(hide_password=True)}: it was used before "
                "archiving began, or in another database; nothing is guessed in its place")
        return rows[0].content

    def snapshot(self, key: str, *, needed_for: str = "") -> Snapshot:
        return Snapshot.from_content(self.get(TABLES, key, needed_for=needed_for))

    def find(self, prefix: str) -> list[str]:
        """Table-set hashes in the archive that start with ``prefix``."""
        return [r.key for r in keyed_rows(self.database, archive_table, kind=TABLES)
                if r.key.startswith(prefix)]

    def materialise(self, home: Path, tables_key: str, model_keys: Iterable[str], *,
                    needed_for: str = "", challenger: str | None = None) -> Path:
        """Write an archived table set and models out as a project folder at ``home``.

        The first model serves every customer class; ``challenger`` (a model
        SHA-256) is scored beside it in shadow, as it was for the decision.
        """
        self.snapshot(tables_key, needed_for=needed_for).write(home)
        models = home / "models"
        models.mkdir(parents=True, exist_ok=True)
        entries = []
        keys = list(dict.fromkeys(model_keys))
        for i, key in enumerate(keys):
            content = self.get(MODEL, key, needed_for=needed_for)
            doc = json.loads(content["artifact"])
            name = f"model-{i}.json"
            (models / name).write_text(content["artifact"], encoding="utf-8")
            (models / "indicators.yaml").write_text(content["indicators"], encoding="utf-8")
            entries.append({"segment": str(doc.get("segment", f"m{i}")), "artifact": name})
        if challenger is not None and entries:
            content = self.get(MODEL, challenger, needed_for=needed_for)
            (models / "challenger.json").write_text(content["artifact"], encoding="utf-8")
            entries[0]["challenger"] = "challenger.json"
        _write_registry(models, entries)
        return home

    def materialise_segments(self, home: Path, tables_key: str,
                             segments: list[dict[str, Any]], *, needed_for: str = "") -> Path:
        """Write an archived table set and a whole model registry out as a project at ``home``.

        ``segments`` are a batch run's (``engine.governance.batchruns``): per segment its
        customer classes, the SHA-256 of its model and of its challenger, if
        any. Every customer is scored by the model that scored it in the run.
        """
        self.snapshot(tables_key, needed_for=needed_for).write(home)
        models = home / "models"
        models.mkdir(parents=True, exist_ok=True)
        entries: list[dict[str, Any]] = []
        for i, seg in enumerate(segments):
            entry: dict[str, Any] = {"segment": seg["segment"], "artifact": f"model-{i}.json",
                                     "customer_classes": list(seg["customer_classes"])}
            content = self.get(MODEL, seg["model_sha256"], needed_for=needed_for)
            (models / entry["artifact"]).write_text(content["artifact"], encoding="utf-8")
            (models / "indicators.yaml").write_text(content["indicators"], encoding="utf-8")
            if seg.get("challenger_sha256"):
                shadow = self.get(MODEL, seg["challenger_sha256"], needed_for=needed_for)
                entry["challenger"] = f"challenger-{i}.json"
                (models / entry["challenger"]).write_text(shadow["artifact"], encoding="utf-8")
            entries.append(entry)
        registry = {"schema": "gridcredit.registry/1", "catalogue": "indicators.yaml",
                    "models": entries}
        (models / "registry.yaml").write_text(yaml.safe_dump(registry, sort_keys=False))
        return home

    # ------------------------------------------------------------------ checking

    def verify(self) -> tuple[ChainReport, list[str]]:
        """The chain report and, per item, what no longer matches its key."""

        report = verify_chain(self.database, archive_table)
        problems: list[str] = []
        for row in keyed_rows(self.database, archive_table):
            where = f"archive row {row.seq} ({row.kind} {row.key[:16]}...)"
            if not isinstance(row.content, dict):
                problems.append(f"{where}: content is not a JSON object")
                continue
            try:
                if row.kind == MODEL:
                    got = canonical_sha256(json.loads(row.content["artifact"]))
                else:
                    got = _loaded_hash(Snapshot.from_content(row.content))
            except (EngineError, ValueError, KeyError, TypeError) as exc:
                problems.append(f"{where}: cannot be loaded ({exc})")
                continue
            if got != row.key:
                problems.append(f"{where}: content hashes to {got[:16]}..., not its key")
        return report, problems


def _write_registry(models: Path, entries: list[dict[str, str]]) -> None:
    """A registry serving every customer class: replay needs only the model logged."""

    registry = {"schema": "gridcredit.registry/1", "catalogue": "indicators.yaml",
                "models": [{**entries[0], "customer_classes": list(CLASSES)}]
                if entries else []}
    (models / "registry.yaml").write_text(yaml.safe_dump(registry, sort_keys=False))


def load_snapshot(snapshot: Snapshot) -> TableSet:
    """The table set a snapshot's files load to (checked as any folder is)."""
    with tempfile.TemporaryDirectory(prefix="gridcredit-archive-") as tmp:
        home = Path(tmp)
        snapshot.write(home)
        return load_project_tables(home)


def load_project_tables(home: Path) -> TableSet:
    """The table set of a project folder laid out as rules/ and policies/."""

    return load_table_set(home / "rules", load_catalogue(home / "policies" / "catalogue.yaml"))


def _loaded_hash(snapshot: Snapshot) -> str:
    return load_snapshot(snapshot).content_hash


def _check_reproduces(snapshot: Snapshot, key: str) -> None:
    got = _loaded_hash(snapshot)
    if got != key:
        raise ArchiveError(
            f"the rule files changed after they were loaded (they now hash to {got[:16]}..., "
            f"the running set is {key[:16]}...): reload the tables, then archive again")


def explain_as_logged(archive: Archive, decision: Any, fmt: str, *, lang: str | None = None,
                      audience: str = "auditor", templates: Path | None = None,
                      catalogue: Path | None = None, current_home: Path | None = None
                      ) -> tuple[str, bool]:
    """A logged decision's explanation, rendered as it read on the day of the decision.

    The templates and catalogue archived with the decision's table set are
    used; given ``templates`` / ``catalogue`` take their place. Returns the
    text and whether the archived ones were used (False when the set is not
    archived and ``current_home``'s were used instead).
    """

    def render(templates_dir: Path, catalogue_file: Path) -> str:
        known = load_catalogue(catalogue_file) if catalogue_file.is_file() else None
        return Explainer(templates_dir, known).render(decision, fmt, lang=lang,
                                                      audience=audience)

    if templates is None and catalogue is None:
        try:
            snapshot = archive.snapshot(decision.tables.content_hash)
        except ArchiveMissing:
            if current_home is None:
                raise
        else:
            with tempfile.TemporaryDirectory(prefix="gridcredit-show-") as tmp:
                snapshot.write(Path(tmp))
                return render(Path(tmp) / "policies" / "templates",
                              Path(tmp) / "policies" / "catalogue.yaml"), True
    home = current_home or Path(".")
    return render(templates or home / "policies" / "templates",
                  catalogue or home / "policies" / "catalogue.yaml"), False
