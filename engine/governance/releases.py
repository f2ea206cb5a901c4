"""Governed releases of the table set: checked, versioned, archived, approved, chained.

``publish`` is the one way a table set becomes a release:

1. every check ``gridcredit rules check`` runs must pass (``check_rules``: the
   tables' findings and examples, the event rules, the catalogue and the
   templates), else nothing changes;
2. a table whose content changed since the previous release must carry a new
   ``version``;
3. the set and its models are archived (``engine.audit.archive``);
4. a release entry joins the ``releases`` chain: number, set version, content
   hash, message, publisher, approver, time, and the rule-level diff against
   the previous release (``engine.tables.diff``).

With four-eyes on, the approver must be named and differ from the publisher.
The service's ``require_published`` setting then refuses, at start and at
reload, any set whose content hash is not a release.
"""

from __future__ import annotations

import dataclasses
import getpass
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from engine.audit.archive import Archive, load_project_tables, load_snapshot
from engine.audit.chain import keyed_rows
from engine.audit.log import open_log
from engine.audit.recorder import RELEASE, Recorder
from engine.audit.store import releases as releases_table
from engine.batch.rulesource import load_baseline
from engine.errors import EngineError, InputError
from engine.rulecheck import check_rules
from engine.tables import load_table_set
from engine.tables.diff import SetDiff, diff_sets

if TYPE_CHECKING:
    from sqlalchemy import Engine as Database

    from engine.decider import Engine

__all__ = ["PublishRefused", "Release", "history", "is_published", "publish", "publisher_name"]



class PublishRefused(EngineError):
    """A publish that would break a rule of the release cycle; nothing was changed."""

    exit_code = 1
    http_status = 422
    code = "publish_refused"

    def __init__(self, problems: list[str]) -> None:
        super().__init__("publish refused, nothing was changed:\n"
                         + "\n".join(f"  {p}" for p in problems))
        self.problems = list(problems)


@dataclass(frozen=True)
class Release:
    """One published table set."""

    number: int
    version: str
    content_hash: str
    message: str
    publisher: str
    approver: str | None
    created_at: str
    tables: dict[str, str]
    models: dict[str, str]
    diff: dict[str, Any]

    @classmethod
    def from_row(cls, row: Any) -> Release:
        c = row.content or {}
        return cls(number=row.seq, version=str(c.get("version", "")), content_hash=row.key,
                   message=str(c.get("message", "")), publisher=str(c.get("publisher", "")),
                   approver=c.get("approver"), created_at=row.created_at,
                   tables=dict(c.get("tables", {})), models=dict(c.get("models", {})),
                   diff=dict(c.get("diff", {})))

    def line(self) -> str:
        approved = f", approved by {self.approver}" if self.approver else ""
        counts = self.diff.get("counts", {})
        change = ", ".join(f"{v} {k}" for k, v in counts.items() if v) or "first release"
        return (f"release {self.number}  {self.created_at[:19]}  {self.version}  "
                f"sha256:{self.content_hash[:16]}  by {self.publisher}{approved}  "
                f"({change})  {self.message}")


def publisher_name() -> str:
    """Who is publishing: ``$GRIDCREDIT_USER``, else the login name."""
    return os.environ.get("GRIDCREDIT_USER") or getpass.getuser()


def history(database: Database) -> list[Release]:
    """Every release, oldest first."""
    return [Release.from_row(r) for r in keyed_rows(database, releases_table, kind=RELEASE)]


def is_published(database: Database, content_hash: str) -> bool:
    return bool(keyed_rows(database, releases_table, kind=RELEASE, key=content_hash))


def _version_problems(previous: Any, current: Any) -> list[str]:
    """Tables whose content changed since the last release while their version did not."""
    before = {t.name: t for t in previous.tables}
    problems = []
    for t in current.tables:
        old = before.get(t.name)
        if old is None or old.version != t.version:
            continue
        if dict(old.canonical.get("table", {})) != dict(t.canonical.get("table", {})):
            problems.append(f"{t.file}:{t.line}: table '{t.name}' changed since the last release "
                            f"but its version is still {t.version}: bump 'version:' in the file")
    return problems


def publish(engine: Engine, database: Database, *, message: str, publisher: str,
            approver: str | None = None, four_eyes: bool = False) -> tuple[Release, SetDiff]:
    """Check, archive and record ``engine``'s table set as a new release."""

    problems: list[str] = []
    if not message.strip():
        problems.append("--message is empty: say what this release changes and why")
    if four_eyes and not approver:
        problems.append("four-eyes review is on: name the approver with --approved-by")
    if four_eyes and approver and approver.strip().lower() == publisher.strip().lower():
        problems.append(f"four-eyes review is on: the approver ({approver}) must not be the "
                        "publisher")
    tables = engine.tables
    checked = check_rules(tables, engine.explainer, engine.config.rules_dir / "events.yaml")
    problems += [str(f) for f in checked.findings]
    past = history(database)
    previous = past[-1] if past else None
    archive = Archive(database)
    if previous is not None and previous.content_hash == tables.content_hash:
        problems.append(f"this table set (sha256:{tables.content_hash[:16]}...) is already "
                        f"release {previous.number}: edit the tables before publishing again")
    before = None
    if previous is not None:
        before = load_snapshot(archive.snapshot(previous.content_hash,
                                                needed_for=f"of release {previous.number} "))
        problems += _version_problems(before, tables)
    if problems:
        raise PublishRefused(problems)
    diff = (diff_sets(before, tables, before_label=f"release {previous.number}",
                      after_label="this release") if before is not None and previous
            else diff_sets(_empty_like(tables), tables, before_label="(nothing)",
                           after_label="this release"))
    recorder = Recorder.of(database)
    recorder.keep(engine)
    content = {"version": tables.version, "message": message.strip(), "publisher": publisher,
               "approver": approver, "tables": dict(tables.versions),
               "models": {m.model_id: m.sha256 for m in engine.registry.models.values()},
               "diff": diff.to_dict()}
    row = recorder.release(tables.content_hash, content)
    return Release.from_row(row), diff


def _empty_like(tables: Any) -> Any:
    return dataclasses.replace(tables, tables=())


def require_release(database: Database, content_hash: str, version: str) -> None:
    """Refuse a table set that was never published (the service's ``require_published``)."""
    if not is_published(database, content_hash):
        raise InputError(
            f"table set {version} (sha256:{content_hash[:16]}...) was never published, and "
            "require_published is on: publish it with 'gridcredit rules publish --message ...' "
            "or load a published set")


def resolve_set(spec: str, engine: Engine, db: str | None) -> tuple[Any, str]:
    """A table set named the way auditors name one, with a label that says which.

    In order: an existing folder (a project with rules/, or a rules folder
    read with the engine's catalogue), ``release N`` or ``N`` (a release),
    8 to 64 hex digits (an archived content hash), else a git revision of the
    project's rules folder.
    """
    path = Path(spec)
    if path.is_dir():
        if (path / "rules").is_dir() and (path / "policies").is_dir():
            return load_project_tables(path), f"folder {spec}"
        return load_table_set(path, engine.catalogue), f"folder {spec}"
    release = re.fullmatch(r"(?:release[ :]?)?(\d+)", spec.strip(), flags=re.IGNORECASE)
    digest = re.fullmatch(r"(?:sha256:)?([0-9a-f]{8,64})", spec.strip())
    if release or digest:

        with open_log(db, create=False) as log:
            archive = Archive(log.engine)
            if release:
                number = int(release.group(1))
                found = [r for r in history(log.engine) if r.number == number]
                if not found:
                    raise InputError(f"there is no release {number} in {log.url}: see "
                                     "gridcredit rules history")
                key, label = found[0].content_hash, f"release {number}"
            else:
                keys = archive.find(digest.group(1))  # type: ignore[union-attr]
                if len(keys) != 1:
                    raise InputError(f"{spec}: {'no' if not keys else len(keys)} archived table "
                                     f"set(s) start with this hash in {log.url}")
                key, label = keys[0], f"sha256:{keys[0][:16]}"
            return load_snapshot(archive.snapshot(key)), label
    return load_baseline(spec, engine.config.rules_dir, engine)
