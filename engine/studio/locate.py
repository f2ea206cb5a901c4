"""Which cell a table error belongs to, for the workbench grid and the workbook.

The table loader names problems by ``file:line``. A grid cell or a workbook
cell is a place in the document (``rules[3].when.pd``), and in the files
policy staff write several conditions often share one line. So the same
documents are also written out in block style, where every key and list item
has a line of its own, and loaded again: each error then names exactly one
place. The messages are the loader's own, unchanged.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import yaml

from engine.errors import TableError, YamlFileError, did_you_mean
from engine.policies import Catalogue
from engine.tables import load_texts
from engine.yamlfile import LocatedList, LocatedMap, parse_yaml, plain

__all__ = ["Place", "Problem", "block_text", "line_of", "locate_errors", "place_of",
           "reason_of"]

Path_ = tuple[Any, ...]


@dataclass(frozen=True)
class Place:
    """A place in one file's tables: a rule's cell, an example's cell or the table itself.

    ``section`` is ``rule``, ``example`` or ``table``; ``index`` the rule's or
    example's position; ``column`` a field name, ``policy``, ``id``,
    ``description``, ``source``, ``priority``, ``given:F`` / ``expect:F``, or
    for the table a key such as ``version``.
    """

    file: str
    table: int
    section: str
    index: int | None = None
    column: str | None = None


@dataclass(frozen=True)
class Problem:
    """A loader error and where it belongs (``place`` is None when no cell matches)."""

    error: TableError
    place: Place | None

    @property
    def text(self) -> str:
        return str(self.error)


def block_text(doc: Any) -> str:
    """The document in block style: one key or list item per line."""
    return yaml.safe_dump(plain(doc), default_flow_style=False, sort_keys=False,
                          allow_unicode=True, width=1 << 20)


def line_paths(text: str) -> dict[int, Path_]:
    """For each line of a block-style document, the deepest path that starts on it."""
    out: dict[int, Path_] = {}
    try:
        doc = parse_yaml(text)
    except YamlFileError:
        return out

    def walk(value: Any, path: Path_) -> None:
        if isinstance(value, LocatedMap):
            for key, child in value.items():
                out[value.line_of(key)] = (*path, key)
                walk(child, (*path, key))
        elif isinstance(value, LocatedList):
            for i, child in enumerate(value):
                out[value.line_of(i)] = (*path, i)
                walk(child, (*path, i))

    walk(doc, ())
    return out


def line_of(doc: Any, path: Path_) -> int | None:
    """The line a path starts on in a located document (the nearest known ancestor)."""
    line = getattr(doc, "line", None)
    node = doc
    for step in path:
        if isinstance(node, LocatedMap) and step in node:
            line, node = node.line_of(step), node[step]
        elif isinstance(node, LocatedList) and isinstance(step, int) and step < len(node):
            line, node = node.line_of(step), node[step]
        else:
            break
    return line


def place_of(file: str, doc: Any, path: Path_) -> Place:
    """The grid place of a document path."""
    table, rest = 0, path
    if rest[:1] == ("tables",) and len(rest) > 1 and isinstance(rest[1], int):
        table, rest = rest[1], rest[2:]
    if len(rest) >= 2 and rest[0] == "rules" and isinstance(rest[1], int):
        key = rest[2] if len(rest) > 2 else "id"
        column = key
        if key == "when" and len(rest) > 3:
            column = rest[3]
        elif key == "then":
            body = _table_doc(doc, table)
            outputs = body.get("outputs") if isinstance(body, Mapping) else None
            if outputs == ["policy"] or len(rest) <= 3 or isinstance(rest[3], int):
                column = "policy"
            else:
                column = rest[3]
        return Place(file, table, "rule", rest[1], str(column))
    if len(rest) >= 2 and rest[0] == "examples" and isinstance(rest[1], int):
        column = None
        if len(rest) > 3 and rest[2] in ("given", "expect"):
            column = f"{rest[2]}:{rest[3]}"
        elif len(rest) > 2:
            column = str(rest[2])
        return Place(file, table, "example", rest[1], column)
    return Place(file, table, "table", None, str(rest[0]) if rest else None)


def _table_doc(doc: Any, table: int) -> Any:
    if isinstance(doc, Mapping) and isinstance(doc.get("tables"), list):
        items = doc["tables"]
        return items[table] if table < len(items) else {}
    return doc


def locate_errors(docs: Mapping[str, Any], errors: list[TableError],
                  catalogue: Catalogue) -> list[Problem]:
    """Attach a place to each of ``errors`` (the loader's errors for ``docs``).

    ``docs`` maps each file name to its plain document. The block-style copy
    is loaded with the same loader; its errors come in the same order, one
    place each. An error the copy does not repeat (a YAML syntax problem of
    the original text, say) keeps no place.
    """
    texts = {name: block_text(doc) for name, doc in docs.items()}
    _, mirrored = load_texts(texts, catalogue)
    paths = {name: line_paths(text) for name, text in texts.items()}
    out = []
    pool = list(mirrored)
    for err in errors:
        match = next((m for m in pool if m.file == err.file and m.reason == err.reason
                      and m.rule_id == err.rule_id), None)
        place = None
        if match is not None:
            pool.remove(match)
            path = paths.get(match.file, {}).get(match.line or 0)
            if path is not None:
                place = place_of(match.file, docs[match.file], path)
        out.append(Problem(err, place))
    return out


def reason_of(error: TableError) -> str:
    """An error's message without its location: ``rule 'x': message (did you mean 'y'?)``."""
    text = f"rule '{error.rule_id}': " if error.rule_id else ""
    return text + error.reason + did_you_mean(error.suggestion)
