"""YAML documents with their line numbers, read safely.

Policy staff need errors that name ``file:line``. ``yaml.safe_load`` forgets
where each value came from, so this module composes the node tree (safe
resolver, no Python tags) and turns it into plain values that remember the
line of every mapping key and list item. It also refuses what would hang or
exhaust the engine: files above a size limit, alias bombs that expand
exponentially, and nesting deeper than any table needs.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

__all__ = ["MAX_BYTES", "MAX_NODES", "LocatedList", "LocatedMap", "SourceError", "read_yaml"]

MAX_BYTES = 1_000_000
MAX_NODES = 200_000
MAX_DEPTH = 40
_MERGE = "tag:yaml.org,2002:merge"


@dataclass
class SourceError(Exception):
    """A YAML file cannot be read; ``line`` is 1-based when known."""

    message: str
    line: int | None = None

    def __str__(self) -> str:
        return self.message


class LocatedMap(dict):
    """A mapping that remembers its own line and the line of each key."""

    line: int
    key_lines: dict[Any, int]

    def line_of(self, key: Any) -> int:
        return self.key_lines.get(key, self.line)


class LocatedList(list):
    """A list that remembers its own line and the line of each item."""

    line: int
    item_lines: list[int]

    def line_of(self, index: int) -> int:
        return self.item_lines[index] if 0 <= index < len(self.item_lines) else self.line


def read_yaml(path: Path) -> Any:
    """Read one YAML document with line numbers, or raise ``SourceError``."""
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise SourceError(f"cannot read the file: {exc.strerror}") from None
    if size > MAX_BYTES:
        raise SourceError(f"file is {size:,} bytes; a rule file may hold at most "
                          f"{MAX_BYTES:,} bytes: split it into several files")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise SourceError(f"file is not UTF-8 text (byte {exc.start})") from None
    return parse_yaml(text)


def parse_yaml(text: str) -> Any:
    """Parse YAML text with line numbers, or raise ``SourceError``."""
    if not text.strip() or all(
        not ln.strip() or ln.lstrip().startswith("#") for ln in text.splitlines()
    ):
        raise SourceError("file is empty: a table needs at least table:, version:, "
                          "hit_policy:, inputs:, outputs: and rules:", line=1)
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        raise _syntax_error(exc, text) from None
    except yaml.YAMLError as exc:
        raise SourceError(f"YAML syntax error: {exc}") from None
    except RecursionError:
        raise SourceError("YAML nesting is too deep") from None
    if node is None:
        raise SourceError("file is empty: a table needs at least table:, version:, "
                          "hit_policy:, inputs:, outputs: and rules:", line=1)
    return _Builder().build(node, 0)


def _syntax_error(exc: yaml.MarkedYAMLError, text: str) -> SourceError:
    mark = exc.problem_mark or exc.context_mark
    line = mark.line + 1 if mark else None
    problem = exc.problem or "invalid YAML"
    hint = ""
    if line and "\t" in (text.splitlines()[line - 1:line] or [""])[0]:
        hint = ": indent with spaces, not tabs"
    elif "\t" in problem or "'\\t'" in problem:
        hint = ": indent with spaces, not tabs"
    return SourceError(f"YAML syntax error: {problem}{hint}", line=line)


class _Builder:
    """Turn composed nodes into located values, counting nodes to stop alias bombs."""

    def __init__(self) -> None:
        self.nodes = 0
        self.constructor = yaml.SafeLoader("")

    def build(self, node: yaml.Node, depth: int) -> Any:
        self.nodes += 1
        if self.nodes > MAX_NODES:
            raise SourceError(
                f"document expands to more than {MAX_NODES:,} values (anchors and aliases "
                "repeating each other?): write the table out plainly",
                line=node.start_mark.line + 1)
        if depth > MAX_DEPTH:
            raise SourceError(f"nesting deeper than {MAX_DEPTH} levels",
                              line=node.start_mark.line + 1)
        line = node.start_mark.line + 1
        if isinstance(node, yaml.MappingNode):
            out = LocatedMap()
            out.line = line
            out.key_lines = {}
            explicit: set[Any] = set()
            for key_node, value_node in node.value:
                if key_node.tag == _MERGE:
                    merged = self.build(value_node, depth + 1)
                    sources = merged if isinstance(merged, list) else [merged]
                    for src in sources:
                        if not isinstance(src, LocatedMap):
                            raise SourceError("'<<' must merge a mapping", line=line)
                        for k, v in src.items():
                            if k not in out:
                                out[k] = v
                                out.key_lines[k] = src.line_of(k)
                    continue
                key = self.build(key_node, depth + 1)
                if isinstance(key, dict | list):
                    raise SourceError("a mapping key must be a plain value",
                                      line=key_node.start_mark.line + 1)
                if key in explicit:
                    raise SourceError(f"key '{key}' appears twice in the same mapping "
                                      f"(first at line {out.key_lines[key]})",
                                      line=key_node.start_mark.line + 1)
                explicit.add(key)
                out[key] = self.build(value_node, depth + 1)
                out.key_lines[key] = key_node.start_mark.line + 1
            return out
        if isinstance(node, yaml.SequenceNode):
            items = LocatedList()
            items.line = line
            items.item_lines = []
            for item in node.value:
                items.append(self.build(item, depth + 1))
                items.item_lines.append(item.start_mark.line + 1)
            return items
        try:
            return self.constructor.construct_object(node, deep=True)
        except yaml.constructor.ConstructorError as exc:
            raise SourceError(f"cannot read value: {exc.problem}", line=line) from None
