"""Knowledge files as YAML documents with their line numbers, read safely.

Every file the engine takes knowledge from (decision tables, the policy
catalogue, event rules, the model registry, indicator catalogues and
training specs, service settings and keys) is read here, so each gets the
same refusals and every error names ``file:line``.

``yaml.safe_load`` forgets where each value came from, so this module
composes the node tree (safe resolver, no Python tags) and turns it into
plain values that remember the line of every mapping key and list item
(``LocatedMap``, ``LocatedList``: a ``dict`` and a ``list`` to everyone
else). It refuses what would hang or exhaust the engine, or what reads one
way to a person and another way to the parser:

- files above ``MAX_BYTES``, and text that is not UTF-8;
- alias bombs: anchors and aliases may repeat each other, but a document
  that expands to more than ``MAX_NODES`` values is refused while it is
  being expanded, and nesting deeper than ``MAX_DEPTH``;
- a key written twice in one mapping (YAML would keep the last silently);
- a tab in the indentation (YAML reads it differently from how it looks).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from engine.errors import YamlFileError

__all__ = ["MAX_BYTES", "MAX_DEPTH", "MAX_NODES", "LocatedList", "LocatedMap", "parse_yaml",
           "plain", "read_yaml"]

MAX_BYTES = 1_000_000
MAX_NODES = 200_000
MAX_DEPTH = 40
_MERGE = "tag:yaml.org,2002:merge"
_PLAIN = ("tag:yaml.org,2002:map", "tag:yaml.org,2002:seq")
_TABS = "indent with spaces, not tabs"


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


def plain(value: Any) -> Any:
    """``value`` with located mappings and lists turned back into plain ones (for dumping)."""
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain(v) for v in value]
    return value


def read_yaml(path: str | Path) -> Any:
    """Read one YAML document with line numbers (None when it holds only comments).

    Raises ``YamlFileError`` naming the file, and the line when there is one.
    """
    path = Path(path)
    file = str(path)
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise YamlFileError(f"cannot read the file: {exc.strerror}", file=file) from None
    try:
        with path.open("rb") as handle:
            raw = handle.read(MAX_BYTES + 1)
    except OSError as exc:
        raise YamlFileError(f"cannot read the file: {exc.strerror}", file=file) from None
    if size > MAX_BYTES or len(raw) > MAX_BYTES:
        raise _too_big(max(size, len(raw)), raw, file)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[:exc.start].count(b"\n") + 1
        raise YamlFileError(f"file is not UTF-8 text (byte {exc.start}): save it as UTF-8",
                            file=file, line=line) from None
    return parse_yaml(text, file)


def _too_big(size: int, head: bytes, file: str) -> YamlFileError:
    return YamlFileError(f"file is {size:,} bytes and passes the limit on this line; a "
                         f"knowledge file may hold at most {MAX_BYTES:,} bytes: split it into "
                         "several files or trim it", file=file,
                         line=head[:MAX_BYTES].count(b"\n") + 1)


def parse_yaml(text: str, file: str = "<text>") -> Any:
    """Parse YAML text with line numbers, or raise ``YamlFileError`` at ``file:line``.

    Text held in memory (a draft, an imported workbook) gets the same refusals
    as a file, the size limit included; None when it holds only comments.
    """
    if len(text) > MAX_BYTES // 4:
        data = text.encode("utf-8")
        if len(data) > MAX_BYTES:
            raise _too_big(len(data), data, file)
    for number, line in enumerate(text.splitlines(), 1):
        indent = line[:len(line) - len(line.lstrip(" \t"))]
        if "\t" in indent and line.strip():
            raise YamlFileError(f"YAML syntax error: a tab in the indentation: {_TABS}",
                                file=file, line=number)
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        raise _syntax_error(exc, file) from None
    except yaml.YAMLError as exc:
        raise YamlFileError(f"YAML syntax error: {exc}", file=file) from None
    except RecursionError:
        raise YamlFileError("YAML nesting is too deep", file=file) from None
    if node is None:
        return None
    return _Builder(file).build(node, 0)


def _syntax_error(exc: yaml.MarkedYAMLError, file: str) -> YamlFileError:
    mark = exc.problem_mark or exc.context_mark
    problem = exc.problem or "invalid YAML"
    hint = f": {_TABS}" if "\t" in problem or "'\\t'" in problem else ""
    return YamlFileError(f"YAML syntax error: {problem}{hint}", file=file,
                         line=mark.line + 1 if mark else None)


class _Builder:
    """Turn composed nodes into located values, counting nodes to stop alias bombs."""

    def __init__(self, file: str) -> None:
        self.file = file
        self.nodes = 0
        self.constructor = yaml.SafeLoader("")

    def fail(self, message: str, line: int) -> YamlFileError:
        return YamlFileError(message, file=self.file, line=line)

    def build(self, node: yaml.Node, depth: int) -> Any:
        self.nodes += 1
        line = node.start_mark.line + 1
        if self.nodes > MAX_NODES:
            raise self.fail(f"document expands to more than {MAX_NODES:,} values (anchors and "
                            "aliases repeating each other?): write the values out plainly", line)
        if depth > MAX_DEPTH:
            raise self.fail(f"nesting deeper than {MAX_DEPTH} levels", line)
        if isinstance(node, yaml.CollectionNode) and node.tag not in _PLAIN:
            raise self.fail(f"cannot read value: tag '{node.tag}' is not plain YAML", line)
        if isinstance(node, yaml.MappingNode):
            return self._mapping(node, depth, line)
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
            raise self.fail(f"cannot read value: {exc.problem}", line) from None

    def _mapping(self, node: yaml.MappingNode, depth: int, line: int) -> LocatedMap:
        out = LocatedMap()
        out.line = line
        out.key_lines = {}
        explicit: set[Any] = set()
        for key_node, value_node in node.value:
            if key_node.tag == _MERGE:
                merged = self.build(value_node, depth + 1)
                for src in merged if isinstance(merged, list) else [merged]:
                    if not isinstance(src, LocatedMap):
                        raise self.fail("'<<' must merge a mapping", line)
                    for k, v in src.items():
                        if k not in out:
                            out[k] = v
                            out.key_lines[k] = src.line_of(k)
                continue
            key_line = key_node.start_mark.line + 1
            key = self.build(key_node, depth + 1)
            if isinstance(key, dict | list):
                raise self.fail("a mapping key must be a plain value", key_line)
            if key in explicit:
                raise self.fail(f"key '{key}' appears twice in the same mapping "
                                f"(first at line {out.key_lines[key]})", key_line)
            explicit.add(key)
            out[key] = self.build(value_node, depth + 1)
            out.key_lines[key] = key_line
        return out
