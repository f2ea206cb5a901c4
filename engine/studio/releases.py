"""The project's releases as the workbench shows them, and a release's tables as a draft.

Each release is listed with who published and approved it and what it
changed against the one before, in plain words (``engine.studio.plaindiff``);
``release_files`` gives a release's table files from the archive, for a
restore that becomes the user's draft (saved and published like any other).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from engine.audit.archive import Archive, load_snapshot
from engine.errors import InputError
from engine.governance.releases import history
from engine.studio.plaindiff import plain_diff

if TYPE_CHECKING:
    from sqlalchemy import Engine as Database

__all__ = ["ReleaseView", "release_files", "release_views"]


@dataclass(frozen=True)
class ReleaseView:
    number: int
    version: str
    created_at: str
    publisher: str
    approver: str | None
    message: str
    changes: tuple[str, ...]


def release_views(database: Database, tag: str = "en") -> list[ReleaseView]:
    """Every release, newest first, each with its changes against the one before."""
    archive = Archive(database)
    out = []
    before = None
    for release in history(database):
        tables = load_snapshot(archive.snapshot(release.content_hash,
                                                needed_for=f"of release {release.number} "))
        out.append(ReleaseView(release.number, release.version, release.created_at[:19],
                               release.publisher, release.approver, release.message,
                               tuple(plain_diff(before, tables, tag))))
        before = tables
    return out[::-1]


def release_files(database: Database, number: int) -> dict[str, str]:
    """The table files (``rules/*.yaml``) of release ``number``, by file name."""
    found = next((r for r in history(database) if r.number == number), None)
    if found is None:
        raise InputError(f"there is no release {number}: choose one of the releases listed")
    snapshot = Archive(database).snapshot(found.content_hash,
                                          needed_for=f"of release {number} ")
    return {Path(rel).name: text for rel, text in snapshot.files.items()
            if rel.startswith("rules/") and rel.endswith((".yaml", ".yml"))}
