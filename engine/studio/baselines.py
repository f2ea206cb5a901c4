"""The table sets a draft's impact is measured against, as the workbench takes them.

``saved`` (the tables on disk, the default), a published release (``release 3``
or ``3``), a git revision of the project (``HEAD~1``, ``v2026.11:rules``), or
a folder inside the home (``rules``, ``drafts/next``). Anything else, a path
outside the home or one that climbs out of it, is refused with one message,
whatever is there: an editor's key cannot tell an existing folder of the
server from a missing one, nor read a path of it in an error.
"""

from __future__ import annotations

import re
from pathlib import Path

from engine.batch.rulesource import load_revision, load_side
from engine.errors import ConfigError, EngineError, InputError
from engine.governance.releases import resolve_set
from engine.studio.workbench import Studio
from engine.tables import TableSet

__all__ = ["BaselineRefused", "impact_baseline"]

_RELEASE = re.compile(r"(?:release[ :]?)?\d+", re.IGNORECASE)
_CHOICES = ("give 'saved', a published release ('release 3'), a git revision of the project "
            "('HEAD~1', 'v2026.11:rules') or a folder inside the home ('rules')")


class BaselineRefused(InputError):
    """A baseline the workbench does not take: outside the home, or not a table set."""

    code = "baseline_refused"

    def __init__(self, spec: str, why: str) -> None:
        super().__init__(f"baseline {spec[:200]!r}: {why}; {_CHOICES}")
        self.spec = spec

    def details(self) -> list[dict[str, object]]:
        return [{"path": "baseline", "value": self.spec, "message": self.message}]


def impact_baseline(spec: str, studio: Studio) -> tuple[str, TableSet]:
    """The label and tables ``spec`` names, or ``BaselineRefused``."""
    spec = spec.strip() or "saved"
    if spec == "saved":
        return "saved tables", studio.saved_tables
    if _RELEASE.fullmatch(spec):
        try:
            tables, label = resolve_set(spec, studio.engine, studio.database)
        except (ConfigError, InputError):  # no log yet, or no such release in it
            raise BaselineRefused(spec, "no release with this number has been published "
                                  "(see gridcredit rules history)") from None
        return label, tables
    home = studio.config.home.resolve()
    given = Path(spec).expanduser()
    folder = (given if given.is_absolute() else home / given).resolve()
    if folder != home and home not in folder.parents:
        raise BaselineRefused(spec, "not inside the home")
    if folder.is_dir():
        try:
            side = load_side(folder, studio.engine, candidate_dir=studio.config.rules_dir,
                             own_policies=False)
        except EngineError as exc:
            raise BaselineRefused(spec, "the folder holds no table set that loads ("
                                  + exc.message.replace(str(home) + "/", "") + ")") from None
        if not side.tables.tables:
            raise BaselineRefused(spec, "the folder holds no table set that loads (no table "
                                  "files)")
        return f"folder {folder.relative_to(home).as_posix() or '.'}", side.tables
    if given.is_absolute() or ".." in given.parts:
        raise BaselineRefused(spec, "no such folder inside the home")
    side = load_revision(spec, studio.engine, candidate_dir=studio.config.rules_dir)
    return side.label, side.tables
