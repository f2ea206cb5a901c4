"""The two sides an impact compares, wherever they come from.

A side is everything that decides or explains: the table set, the catalogue it
grants from, and the templates and translations beside that catalogue (kept
as hashes, so that a template edit can still be reported once a git
revision's temporary copy is gone). A side is named as

- a rules folder (decided with the project's catalogue and templates),
- a project folder, one with ``rules/`` and ``policies/`` (its own catalogue
  and templates), or
- a git revision, ``REV`` or ``REV:path``, always read in the project's own
  repository (the one holding ``--home``'s rules folder), wherever the command
  runs. ``REV`` alone is the candidate folder's path in that repository when
  the candidate lies inside it, else the project's rules folder; the
  project's ``policies/`` at the same revision come with it when they are
  in the repository.
"""

from __future__ import annotations

import subprocess
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from engine.errors import ConfigError, InputError, TableError
from engine.policies import Catalogue, load_catalogue, template_hashes
from engine.tables import TableSet, load_table_set

if TYPE_CHECKING:
    from engine.decider import Engine

__all__ = ["RuleSide", "load_baseline", "load_revision", "load_side", "project_repository"]


@dataclass(frozen=True)
class RuleSide:
    """One side of an impact: its tables (with their catalogue), a label, template hashes.

    ``folder`` is the rules folder the side was read from, None for a git
    revision (copied to a temporary folder and gone); ``policies`` likewise
    for its own ``policies/`` folder, None when it uses the project's.
    """

    tables: TableSet
    label: str
    templates: Mapping[str, str] = field(default_factory=dict)
    folder: Path | None = None
    policies: Path | None = None

    @property
    def catalogue(self) -> Catalogue:
        return self.tables.catalogue


def _is_project(folder: Path) -> bool:
    return (folder / "rules").is_dir() and (folder / "policies" / "catalogue.yaml").is_file()


def load_side(spec: str | Path, engine: Engine, *, candidate_dir: str | Path | None = None,
              option: str = "--baseline", own_policies: bool = True) -> RuleSide:
    """The side ``spec`` names: a rules folder, a project folder or a git revision.

    ``own_policies`` false keeps the project's catalogue and templates for a git
    revision (the tables as they were, explained as today).
    """
    folder = Path(spec)
    if folder.is_dir():
        if _is_project(folder):
            catalogue = load_catalogue(folder / "policies" / "catalogue.yaml")
            return RuleSide(load_table_set(folder / "rules", catalogue), str(folder),
                            template_hashes(folder / "policies"), folder / "rules",
                            folder / "policies")
        return RuleSide(load_table_set(folder, engine.catalogue), str(folder),
                        template_hashes(engine.catalogue.root), folder)
    return _git_side(str(spec), engine, candidate_dir, option, own_policies)


def load_revision(spec: str, engine: Engine, *, candidate_dir: str | Path | None = None,
                  option: str = "--baseline", own_policies: bool = False) -> RuleSide:
    """The side a git revision of the project names (``REV`` or ``REV:path``), never read
    as a folder of the working directory, whatever folders it has."""
    return _git_side(spec, engine, candidate_dir, option, own_policies)


def load_baseline(spec: str, candidate_dir: str | Path, engine: Engine
                  ) -> tuple[TableSet, str]:
    """The tables ``spec`` names and a label, decided with the project's catalogue.

    ``spec`` is a folder or a git revision of the project's repository
    (``load_side``); kept for the callers that only need the tables.
    """
    side = load_side(spec, engine, candidate_dir=candidate_dir, own_policies=False)
    return side.tables, side.label


def project_repository(engine: Engine, option: str = "--baseline", spec: str = "") -> Path:
    """The top folder of the git repository that holds the project's rules folder."""
    return Path(_git(engine.config.rules_dir, "rev-parse", "--show-toplevel",
                     option=option, what=spec).strip())


def _git_side(spec: str, engine: Engine, candidate_dir: str | Path | None, option: str,
              own_policies: bool) -> RuleSide:
    top = project_repository(engine, option, spec)
    rev, _, path = spec.partition(":")
    rel = path.strip("/") if path else _inside(candidate_dir, top) or _inside(
        engine.config.rules_dir, top)
    commit = _git(top, "rev-parse", "--verify", "--quiet", f"{rev}^{{commit}}",
                  option=option, what=spec).strip()
    names = [n for n in _files(top, commit, rel, option, spec) if n.endswith((".yaml", ".yml"))]
    if not names:
        raise InputError(f"{option} {spec}: no table files under '{rel}' at {rev} "
                         f"({commit[:12]}) in {top}; name the folder as REV:path")
    policies = _inside(engine.config.catalogue.parent, top) if own_policies else None
    with tempfile.TemporaryDirectory(prefix="gridcredit-baseline-") as tmp:
        _copy(top, commit, rel, names, Path(tmp) / "rules", option, spec)
        catalogue, templates = engine.catalogue, template_hashes(engine.catalogue.root)
        try:
            if policies is not None:
                kept = _files(top, commit, policies, option, spec)
                if f"{policies}/catalogue.yaml" in kept:
                    _copy(top, commit, policies, kept, Path(tmp) / "policies", option, spec)
                    catalogue = load_catalogue(Path(tmp) / "policies" / "catalogue.yaml")
                    templates = template_hashes(Path(tmp) / "policies")
            tables = load_table_set(Path(tmp) / "rules", catalogue)
        except (ConfigError, TableError) as exc:
            said = exc.message.replace(f"{tmp}/rules/", f"{rev}:{rel}/").replace(
                f"{tmp}/policies/", f"{rev}:{policies}/")
            raise InputError(f"{option} {spec}: the files at {rev} ({commit[:12]}) do not "
                             f"load:\n{said}") from None
    return RuleSide(tables, f"{rev}:{rel} ({commit[:12]})", templates)


def _inside(folder: str | Path | None, top: Path) -> str | None:
    """``folder``'s path relative to ``top``, or None when it lies outside."""
    if folder is None:
        return None
    try:
        return Path(folder).resolve().relative_to(top.resolve()).as_posix()
    except ValueError:
        return None


def _files(top: Path, commit: str, rel: str, option: str, spec: str) -> list[str]:
    return _git(top, "ls-tree", "-r", "--name-only", commit, "--", rel,
                option=option, what=spec).split("\n")


def _copy(top: Path, commit: str, rel: str, names: list[str], to: Path, option: str,
          spec: str) -> None:
    for name in filter(None, names):
        target = to / Path(name).relative_to(rel)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(_git_bytes(top, "show", f"{commit}:{name}", option=option,
                                      what=spec))


def _git(where: Path, *args: str, option: str, what: str) -> str:
    return _git_bytes(where, *args, option=option, what=what).decode("utf-8")


def _git_bytes(where: Path, *args: str, option: str, what: str) -> bytes:
    try:
        done = subprocess.run(["git", "-C", str(where), *args], capture_output=True,
                              check=False, timeout=60)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise InputError(f"{option} {what}: not a folder, and git cannot be run ({exc})"
                         ) from None
    if done.returncode != 0:
        said = (done.stderr.decode(errors="replace").strip().splitlines()
                or ["unknown revision"])[-1]
        raise InputError(f"{option} {what}: not a folder nor a git revision of the project's "
                         f"repository {where} (git: {said}); give a folder or a revision "
                         "such as HEAD~1")
    return done.stdout
