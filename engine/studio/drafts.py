"""Drafts: one person's pending edits of the table files, checked live, saved safely.

A draft holds, per edited file, the file's text as edited and the SHA-256 of
the file when the first edit of it began. Every edit is checked at once by
the loader (``load_texts``, the same checks as ``rules check``), then by the
static checks and the examples. Saving writes only when the whole set with
the draft loads, and only if no edited file changed on disk since its draft
began (someone else saved it, or a text editor did): that save is refused
with ``ConflictError`` and nothing is merged. Drafts live in a folder of JSON
files, one per user, so a restart or another worker process loses nothing.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from engine.errors import ConflictError, InputError, TableError, YamlFileError
from engine.language import Languages
from engine.policies import Catalogue
from engine.rulecheck import check_catalogue
from engine.studio.edits import bump_version, set_cell
from engine.studio.locate import Place, Problem, locate_errors
from engine.studio.notation import NotationError
from engine.studio.translate import translation_findings
from engine.studio.wording import stale_descriptions
from engine.tables import Finding, TableSet, is_table_document, load_texts
from engine.tables.analysis import (
    compiled_findings,
    policy_findings,
    run_examples,
    table_findings,
)
from engine.yamlfile import parse_yaml, plain

__all__ = ["Checked", "DraftStore", "Workspace", "check_texts", "sha256", "static_findings"]

UNDO_STEPS = 100
_USER = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


class DraftStore:
    """Drafts on disk: ``<folder>/<user>.json`` with each edited file's base hash and text."""

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)
        self.lock = threading.RLock()

    def _path(self, user: str) -> Path:
        if not _USER.match(user):
            raise InputError(f"user name {user!r} cannot name a draft")
        return self.folder / f"{user}.json"

    def read(self, user: str) -> dict[str, dict[str, str]]:
        path = self._path(user)
        if not path.is_file():
            return {}
        return json.loads(path.read_text(encoding="utf-8"))

    def history(self, user: str) -> dict[str, list[list[str]]]:
        """The user's undo and redo steps: ``[file name, text]`` pairs, latest last."""
        path = self._path(user).with_suffix(".history.json")
        if not path.is_file():
            return {"undo": [], "redo": []}
        return json.loads(path.read_text(encoding="utf-8"))

    def write_history(self, user: str, steps: dict[str, list[list[str]]]) -> None:
        path = self._path(user).with_suffix(".history.json")
        if not steps["undo"] and not steps["redo"]:
            path.unlink(missing_ok=True)
            return
        self.folder.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps({k: v[-UNDO_STEPS:] for k, v in steps.items()},
                                   ensure_ascii=False), encoding="utf-8")

    def write(self, user: str, files: dict[str, dict[str, str]]) -> None:
        path = self._path(user)
        if not files:
            path.unlink(missing_ok=True)
            self.write_history(user, {"undo": [], "redo": []})
            return
        self.folder.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(files, ensure_ascii=False), encoding="utf-8")
        tmp.replace(path)


@dataclass(frozen=True)
class Checked:
    """A table folder with a draft applied, and everything the checks said about it."""

    texts: dict[str, str]
    docs: dict[str, Any]
    changed: tuple[str, ...]
    table_set: TableSet | None
    problems: tuple[Problem, ...]
    findings: tuple[Finding, ...] = ()
    failing_examples: frozenset[tuple[str, int]] = field(default_factory=frozenset)
    pending: bool = False
    typed: dict[tuple[str, int, int, str], str] = field(default_factory=dict)

    @property
    def loads(self) -> bool:
        return self.table_set is not None


class Workspace:
    """The rule folder a workbench edits, and each user's draft of it."""

    def __init__(self, rules_dir: Path, catalogue: Catalogue, drafts: DraftStore,
                 languages: Callable[[], Languages] | None = None) -> None:
        self.rules_dir = Path(rules_dir)
        self.catalogue = catalogue
        self.drafts = drafts
        self.languages = languages

    def file_names(self) -> list[str]:
        return sorted(p.name for p in self.rules_dir.iterdir()
                      if p.suffix in (".yaml", ".yml") and p.is_file())

    def key(self, name: str) -> str:
        """How a file is named in messages: ``rules/grades.yaml``, as from the project folder."""
        return f"{self.rules_dir.name}/{name}"

    def path(self, name: str) -> Path:
        if name not in self.file_names():
            raise InputError(f"{name!r} is not a table file of {self.rules_dir}")
        return self.rules_dir / name

    def saved_texts(self) -> dict[str, str]:
        return {self.key(n): (self.rules_dir / n).read_text(encoding="utf-8")
                for n in self.file_names()}

    def texts(self, user: str) -> tuple[dict[str, str], tuple[str, ...]]:
        """Every file's text with the user's draft applied, and the files the draft changes."""
        texts = self.saved_texts()
        draft = self.drafts.read(user)
        changed = []
        for name, entry in draft.items():
            key = self.key(name)
            if key in texts and entry["text"] != texts[key]:
                changed.append(name)
            texts[key] = entry["text"]
        return texts, tuple(sorted(changed))

    # ------------------------------------------------------------------ checking

    def check(self, user: str, *, static: bool = True, wait: bool = False) -> Checked:
        """The draft checked; the static analysis runs in the background unless ``wait``.

        A cell whose text cannot be read keeps its text in the draft and is a
        problem at that cell: the draft does not load until it is fixed.
        """
        texts, changed = self.texts(user)
        checked = check_texts(texts, changed, self.catalogue, static=static, wait=wait)
        if checked.loads and changed:
            saved = self.saved_texts()
            old = {self.key(n): parse_yaml(saved[self.key(n)]) for n in changed}
            stale = stale_descriptions(old, {k: checked.docs[k] for k in old})
            checked = replace(checked, findings=(*checked.findings, *stale))
        if checked.loads and self.languages is not None:
            lacking = translation_findings(checked.docs, self.languages(),
                                          self.rules_dir.parent)
            checked = replace(checked, findings=(*checked.findings, *lacking))
        typed: dict[tuple[str, int, int, str], str] = {}
        problems = []
        for name, entry in self.drafts.read(user).items():
            for where, cell in (entry.get("cells") or {}).items():
                table, rule, column = where.split(":", 2)
                key = self.key(name)
                typed[(key, int(table), int(rule), column)] = cell["text"]
                problems.append(Problem(TableError(cell["message"], file=key),
                                        Place(key, int(table), "rule", int(rule), column)))
        if not typed:
            return checked
        changed = tuple(sorted({*changed, *(Path(k[0]).name for k in typed)}))
        return replace(checked, table_set=None, changed=changed, typed=typed,
                       problems=(*checked.problems, *problems), findings=(), pending=False)

    def saved(self) -> Checked:
        return check_texts(self.saved_texts(), (), self.catalogue, static=False)

    # ------------------------------------------------------------------ editing

    def edit(self, user: str, name: str, change: Callable[[str], str],
             cell: str | None = None) -> Checked:
        """Apply ``change`` to the draft text of file ``name`` and check the result.

        ``cell`` (``table:rule:column``) names the one cell a cell edit set: its
        unreadable text, if it had one, is forgotten. Any other edit forgets the
        file's unreadable cells, since rows may have moved.
        """
        path = self.path(name)
        with self.drafts.lock:
            draft = self.drafts.read(user)
            entry = draft.get(name)
            if entry is None:
                text = path.read_text(encoding="utf-8")
                entry = {"base": sha256(text), "text": text}
            cells = {k: v for k, v in (entry.get("cells") or {}).items()
                     if cell is not None and k != cell}
            before = entry["text"]
            entry = {**entry, "text": change(before), "cells": cells}
            draft[name] = entry
            self.drafts.write(user, draft)
            if entry["text"] != before:
                self._remember(user, [[name, before]])
        return self.check(user)

    def _remember(self, user: str, steps: list[list[str]]) -> None:
        history = self.drafts.history(user)
        history["undo"].append(steps)  # type: ignore[arg-type]
        history["redo"] = []
        self.drafts.write_history(user, history)

    def undo(self, user: str, *, redo: bool = False) -> Checked:
        """Take back the draft's last change (``redo``: make the last one taken back again)."""
        source, target = ("redo", "undo") if redo else ("undo", "redo")
        with self.drafts.lock:
            history = self.drafts.history(user)
            if not history[source]:
                raise InputError(f"nothing to {source} in this draft")
            draft = self.drafts.read(user)
            back = []
            for name, text in history[source].pop():
                entry = draft.get(name) or {"base": sha256(text), "text": text}
                back.append([name, entry["text"]])
                draft[name] = {**entry, "text": text, "cells": {}}
            history[target].append(back)  # type: ignore[arg-type]
            self.drafts.write(user, draft)
            self.drafts.write_history(user, history)
        return self.check(user)

    def edit_cell(self, user: str, name: str, table: int, rule: int, column: str,
                  text: str) -> Checked:
        """Set one grid cell; a text the notation cannot read is kept and marked at its cell."""
        where = f"{table}:{rule}:{column}"
        try:
            return self.edit(user, name, lambda t: set_cell(t, table, rule, column, text),
                             cell=where)
        except NotationError as exc:
            path = self.path(name)
            with self.drafts.lock:
                draft = self.drafts.read(user)
                current = path.read_text(encoding="utf-8")
                entry = draft.get(name) or {"base": sha256(current), "text": current}
                cells = dict(entry.get("cells") or {})
                cells[where] = {"text": text, "message": exc.message}
                draft[name] = {**entry, "cells": cells}
                self.drafts.write(user, draft)
            return self.check(user)

    def replace(self, user: str, texts: dict[str, str]) -> Checked:
        """Make whole new texts the draft of their files (a workbook upload)."""
        with self.drafts.lock:
            draft = self.drafts.read(user)
            steps = []
            for name, text in texts.items():
                current = self.path(name).read_text(encoding="utf-8")
                entry = draft.get(name) or {"base": sha256(current), "text": current}
                steps.append([name, entry["text"]])
                draft[name] = {**entry, "text": text}
            self.drafts.write(user, draft)
            if steps:
                self._remember(user, steps)
        return self.check(user)

    def discard(self, user: str) -> None:
        with self.drafts.lock:
            self.drafts.write(user, {})

    def save(self, user: str, *, bump: bool = False) -> list[str]:
        """Write the draft's files; refuse if they do not load or changed on disk meanwhile."""
        with self.drafts.lock:
            draft = self.drafts.read(user)
            if not draft:
                raise InputError("there is no draft to save: edit a table first")
            unread = sum(len(e.get("cells") or {}) for e in draft.values())
            if unread:
                raise InputError(f"{unread} cell(s) of the draft cannot be read (marked in the "
                                 "grid): fix them, or discard the draft; nothing was written")
            for name, entry in draft.items():
                now = sha256(self.path(name).read_text(encoding="utf-8"))
                if now != entry["base"]:
                    raise ConflictError(
                        "the file changed since your draft of it began (someone saved it, "
                        "from the workbench or an editor); nothing was written: discard "
                        "the draft and make your change again on the current file",
                        file=self.key(name))
            texts, changed = self.texts(user)
            if bump:
                texts = self._bumped(texts, changed)
            checked = check_texts(texts, changed, self.catalogue, static=False)
            if not checked.loads:
                raise InputError(f"the draft does not load ({len(checked.problems)} "
                                 "problem(s) marked in the grid): fix them, or discard the "
                                 "draft; nothing was written")
            for name in changed:
                target = self.rules_dir / name
                tmp = target.with_name(f".{name}.studio-tmp")
                tmp.write_text(texts[self.key(name)], encoding="utf-8")
                os.replace(tmp, target)
            self.drafts.write(user, {})
            return list(changed)

    def _bumped(self, texts: dict[str, str], changed: tuple[str, ...]) -> dict[str, str]:
        """Bump the version of each table whose content the draft changes."""
        saved = {t.name: dict(t.canonical) for t in self._saved_tables()}
        out = dict(texts)
        for name in changed:
            key = self.key(name)
            try:
                doc = parse_yaml(out[key])
            except YamlFileError:
                continue
            bodies = doc["tables"] if isinstance(doc, dict) and "tables" in doc else [doc]
            for i, body in enumerate(bodies):
                if not isinstance(body, dict):
                    continue
                canonical = {"file": name, "table": plain(body)}
                before = saved.get(body.get("table"))
                if before is None or before == canonical:
                    continue
                if before["table"].get("version") == plain(body).get("version"):
                    out[key] = bump_version(out[key], i)
        return out

    def _saved_tables(self) -> list[Any]:
        tables, _ = load_texts(self.saved_texts(), self.catalogue)
        return tables


def check_texts(texts: dict[str, str], changed: tuple[str, ...], catalogue: Catalogue, *,
                static: bool = True, wait: bool = True) -> Checked:
    """Load the texts as a table set; locate each problem; run the checks when it loads."""
    docs: dict[str, Any] = {}
    for name, text in texts.items():
        try:
            docs[name] = parse_yaml(text)
        except YamlFileError:
            docs[name] = None
    tables, errors = load_texts(texts, catalogue)
    table_set = None
    if not errors:
        companions = {Path(n).name: json.loads(json.dumps(plain(d), default=str))
                      for n, d in sorted(docs.items())
                      if d is not None and not is_table_document(d)}
        table_set = TableSet.build(tables, catalogue, companions)
        try:
            table_set.scale  # noqa: B018  (the grade table must draw a master scale)
        except TableError as exc:
            errors = [exc]
            table_set = None
    if errors:
        readable = {n: plain(d) for n, d in docs.items() if d is not None}
        problems = locate_errors(readable, errors, catalogue)
        return Checked(texts, docs, changed, None, tuple(problems))
    findings, pending = static_findings(table_set, wait=wait) if static else ([], False)
    failing = frozenset(_failing(f) for f in findings if f.kind == "example")
    return Checked(texts, docs, changed, table_set, (), tuple(findings), failing, pending)


class _Analyses:
    """Static findings by content, computed once; in the background when asked not to wait.

    The gap and overlap analysis of a large policy table takes many seconds
    (``rules check`` takes as long), so a live edit does not wait for it: the
    grid shows the loader's verdict and the examples at once, and the
    findings when the analysis of that content has finished.
    """

    def __init__(self) -> None:
        self.done: dict[str, list[Finding]] = {}
        self.running: set[str] = set()
        self.lock = threading.Lock()

    def get(self, key: Any, compute: Callable[[], list[Finding]], wait: bool
            ) -> list[Finding] | None:
        digest = hashlib.sha256(json.dumps(key, sort_keys=True, default=str).encode()
                                ).hexdigest()
        with self.lock:
            if digest in self.done:
                return self.done[digest]
            start = digest not in self.running
            if start:
                self.running.add(digest)
        if wait:
            found = compute()
            self._store(digest, found)
            return found
        if start:
            def run() -> None:
                try:
                    self._store(digest, compute())
                finally:
                    with self.lock:
                        self.running.discard(digest)

            threading.Thread(target=run, name="studio-analysis", daemon=True).start()
        return None

    def _store(self, digest: str, found: list[Finding]) -> None:
        with self.lock:
            if len(self.done) > 512:
                self.done.clear()
            self.done[digest] = found
            self.running.discard(digest)


ANALYSES = _Analyses()


def static_findings(table_set: TableSet, *, wait: bool = True) -> tuple[list[Finding], bool]:
    """What ``rules check`` finds in the tables, and whether some analysis is still running.

    A table (or the set of policy tables) whose content and file are
    unchanged keeps its findings; with ``wait=False`` an analysis not yet
    done runs in the background and its findings are left out meanwhile.
    """

    findings: list[Finding] = []
    pending = False
    parts: list[tuple[Any, Callable[[], list[Finding]]]] = [
        (["table", t.file, dict(t.canonical)], lambda t=t: table_findings(t))
        for t in table_set.tables]
    policy = [t for t in table_set.tables if t.adds_policies]
    parts.append((["policy", [(t.file, dict(t.canonical)) for t in policy],
                   table_set.catalogue.content_hash],
                  lambda: policy_findings(table_set.tables, table_set.catalogue)))
    for key, compute in parts:
        found = ANALYSES.get(key, compute, wait)
        if found is None:
            pending = True
        else:
            findings += found
    findings += compiled_findings(table_set)
    findings += check_catalogue(table_set)
    findings += run_examples(table_set)
    return findings, pending


def _failing(finding: Finding) -> tuple[str, int]:
    table, _, number = finding.subject.rpartition(" example ")
    return table, int(number) - 1 if number.isdigit() else -1
