"""Edits to a table file's text that leave every untouched line as it was.

A round-trip YAML library keeps comments and key order, but re-flows the
long flow mappings policy staff wrap by hand. So an edit here changes only
the text of what it touches: the document is composed (safe loader) to find
where the edited key or rule starts and ends, ruamel.yaml writes the new
value in the style the old one had (flow stays flow, quotes stay), and that
text replaces the old span. Rules are added, duplicated, deleted and moved as
whole blocks of lines. Every function takes a file's text and returns the
new text; checking it is the loader's job.
"""

from __future__ import annotations

import io
import re
from dataclasses import dataclass
from typing import Any

import yaml
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.scalarstring import DoubleQuotedScalarString

from engine.errors import InputError
from engine.records import vocabulary
from engine.studio.notation import ABSENT, parse_condition, parse_output, parse_policies
from engine.yamlfile import plain

__all__ = ["EditError", "add_rule", "bump_version", "delete_item", "delete_rule",
           "duplicate_rule", "insert_item", "item_count", "item_indent", "move_rule",
           "next_version", "reorder_items", "set_cell", "set_item_key", "set_table_key"]

RULE_KEYS = ("id", "description", "source", "priority")


class EditError(InputError):
    """An edit cannot be applied to the file as it stands (a rule or table that is not there)."""

    code = "invalid_edit"


@dataclass(frozen=True)
class _Span:
    start: int
    end: int


def _compose(text: str) -> yaml.Node:
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        raise EditError(f"the file is not valid YAML, edit it as text first: {exc}") from None
    if not isinstance(node, yaml.MappingNode):
        raise EditError("the file does not hold a table mapping")
    return node


def _get(node: yaml.Node, key: str) -> tuple[yaml.Node, yaml.Node] | None:
    if isinstance(node, yaml.MappingNode):
        for k, v in node.value:
            if isinstance(k, yaml.ScalarNode) and k.value == key:
                return k, v
    return None


def _table_node(root: yaml.Node, table: int) -> yaml.MappingNode:
    tables = _get(root, "tables")
    if tables is None:
        if table != 0:
            raise EditError(f"the file holds one table, not a table number {table + 1}")
        return root  # type: ignore[return-value]
    seq = tables[1]
    if not isinstance(seq, yaml.SequenceNode) or table >= len(seq.value):
        raise EditError(f"the file has no table number {table + 1}")
    return seq.value[table]  # type: ignore[return-value]


def _rule_nodes(root: yaml.Node, table: int, section: str = "rules") -> list[yaml.Node]:
    found = _get(_table_node(root, table), section)
    if found is None or not isinstance(found[1], yaml.SequenceNode):
        return []
    return list(found[1].value)


def _rule_node(root: yaml.Node, table: int, rule: int, section: str = "rules") -> yaml.Node:
    rules = _rule_nodes(root, table, section)
    if not 0 <= rule < len(rules):
        raise EditError(f"the table has no rule number {rule + 1} (it has {len(rules)})")
    return rules[rule]


def _content_end(text: str, start: int, end: int) -> int:
    """The end of a node's text without the whitespace the parser counts after it."""
    return start + len(text[start:end].rstrip())


def _line_start(text: str, pos: int) -> int:
    return text.rfind("\n", 0, pos) + 1


def _line_after(text: str, pos: int) -> int:
    found = text.find("\n", pos)
    return len(text) if found < 0 else found + 1


# --------------------------------------------------------------------------- ruamel side

def _yaml() -> YAML:
    y = YAML()
    y.preserve_quotes = True
    y.width = 4096
    y.indent(mapping=2, sequence=4, offset=2)
    return y


def _ruamel_doc(text: str) -> Any:
    return _yaml().load(text)


def _ruamel_table(doc: Any, table: int) -> Any:
    return doc["tables"][table] if "tables" in doc else doc


def _flow(value: Any) -> Any:
    """New values inside a condition or output are written on one line."""
    if isinstance(value, dict):
        out = CommentedMap((k, _flow(v)) for k, v in value.items())
        out.fa.set_flow_style()
        return out
    if isinstance(value, list):
        seq = CommentedSeq(_flow(v) for v in value)
        seq.fa.set_flow_style()
        return seq
    return value


def _merge(old: Any, new: Any) -> Any:
    """``new`` carried onto ``old`` in place where both are mappings, keeping old's style."""
    if isinstance(old, CommentedMap) and isinstance(new, dict):
        for key in [k for k in old if k not in new]:
            del old[key]
        for key, value in new.items():
            old[key] = _merge(old[key], value) if key in old else _flow(value)
        return old
    if isinstance(old, CommentedSeq) and isinstance(new, list) and old.fa.flow_style():
        return _flow(new)
    return _flow(new)


def _policies(old: Any, new: list[Any]) -> CommentedSeq:
    """A policy list in block style, each kept item keeping its own layout."""
    pool = list(old) if isinstance(old, list) else []
    out = CommentedSeq()
    for item in new:
        pid = item.get("policy") if isinstance(item, dict) else item
        match = next((o for o in pool if isinstance(o, CommentedMap)
                      and o.get("policy") == pid), None)
        if match is not None and isinstance(item, dict):
            pool.remove(match)
            out.append(_merge(match, item))
        elif isinstance(item, dict):
            fresh = CommentedMap((k, _flow(v)) for k, v in item.items())
            out.append(fresh)
        else:
            out.append(item)
    return out


def _quoted(value: Any) -> Any:
    if isinstance(value, str):
        return DoubleQuotedScalarString(value)
    if isinstance(value, CommentedMap):
        for k in value:
            value[k] = _quoted(value[k])
    elif isinstance(value, CommentedSeq):
        for i, v in enumerate(value):
            value[i] = _quoted(v)
    return value


def _emit(key: str, value: Any, indent: int) -> str:
    """``key: value`` as ruamel writes it, indented to sit at column ``indent``."""
    def dump(v: Any) -> str:
        buf = io.StringIO()
        holder = CommentedMap()
        holder[key] = v
        _yaml().dump(holder, buf)
        return buf.getvalue()

    text = dump(value)
    if yaml.safe_load(text) != {key: plain(value)}:
        text = dump(_quoted(value))
    lines = text.rstrip("\n").split("\n")
    return "\n".join([lines[0], *(" " * indent + ln if ln else ln for ln in lines[1:])])


# --------------------------------------------------------------------------- cell edits

def _new_value(rule: Any, column: str, cell: str, outputs: list[str]) -> tuple[str, Any]:
    """The rule key an edit changes and its new value (``ABSENT`` removes the key)."""
    vocab = vocabulary()
    if column in RULE_KEYS:
        text = cell.strip()
        if column == "priority":
            return column, ABSENT if not text else (int(text) if re.fullmatch(r"-?\d+", text)
                                                    else text)
        if column == "source" and not text:
            return column, ABSENT
        return column, text
    if column == "policy":
        return "then", parse_policies(cell)
    if column in outputs:
        then = dict(rule.get("then") or {}) if isinstance(rule.get("then"), dict) else {}
        value = parse_output(cell, vocab.get(column))
        if value is ABSENT:
            then.pop(column, None)
        else:
            then[column] = value
        return "then", ABSENT if not then and "then" not in rule else then
    when = dict(rule.get("when") or {}) if isinstance(rule.get("when"), dict) else {}
    value = parse_condition(cell, vocab.get(column))
    if value is ABSENT:
        when.pop(column, None)
    else:
        when[column] = value
    return "when", ABSENT if not when and "when" not in rule else when


def set_cell(text: str, table: int, rule: int, column: str, cell: str) -> str:
    """Set one grid cell of rule ``rule`` (a condition, an output, the policies, id, ...)."""
    root = _compose(text)
    body = _table_node(root, table)
    target = _ruamel_rule(text, root, table, rule)
    outputs, inputs = _names(body, "outputs"), _names(body, "inputs")
    if column not in (*RULE_KEYS, "policy", *outputs, *inputs):
        raise EditError(f"'{column}' is not a column of this table")
    key, value = _new_value(target, column, cell, outputs)
    if (value is ABSENT and key not in target) or (
            key in target and plain(target[key]) == plain(value)):
        return text
    if key in ("description", "source") and isinstance(target.get(key), str) \
            and " ".join(target[key].split()) == " ".join(str(value).split()):
        return text  # the same words: keep the folded or wrapped layout
    if column == "policy" and isinstance(value, list):
        value = _policies(target.get("then"), value)
    elif value is not ABSENT and key in target:
        value = _merge(target[key], value) if key in ("when", "then") else value
    elif value is not ABSENT and key in ("when", "then"):
        value = _flow(value) if key == "when" or isinstance(value, dict) else value
    return _replace_key(text, table, rule, key, value, root)


def _names(table: yaml.Node, key: str) -> list[str]:
    found = _get(table, key)
    if found is None or not isinstance(found[1], yaml.SequenceNode):
        return []
    return [n.value for n in found[1].value if isinstance(n, yaml.ScalarNode)]


def _ruamel_rule(text: str, root: yaml.Node, table: int, rule: int, section: str = "rules"
                 ) -> Any:
    """The rule as ruamel reads it, from its own lines only (a large file parses slowly)."""
    node = _rule_node(root, table, rule, section)
    start = _line_start(text, node.start_mark.index)
    end = _line_after(text, _content_end(text, node.start_mark.index, node.end_mark.index) - 1)
    dash = node.start_mark.column - 2
    lines = [ln[dash:] if ln[:dash].strip() == "" else ln for ln in
             text[start:end].split("\n")]
    item = _yaml().load("\n".join(lines))
    if not isinstance(item, list) or not item or not isinstance(item[0], CommentedMap):
        raise EditError(f"rule number {rule + 1} is not a mapping: edit it as text")
    return item[0]


def _replace_key(text: str, table: int, rule: int, key: str, value: Any,
                 root: yaml.Node | None = None, section: str = "rules") -> str:
    root = root if root is not None else _compose(text)
    node = _rule_node(root, table, rule, section)
    if node.flow_style:
        raise EditError("this rule is written as one flow mapping: edit it as text")
    found = _get(node, key)
    if found is not None:
        key_node, value_node = found
        start = key_node.start_mark.index
        end = _content_end(text, start, value_node.end_mark.index)
        if value is ABSENT:
            line0, line1 = _line_start(text, start), _line_after(text, end)
            if text[line0:start].strip() == "" and text[end:line1].strip() == "":
                return text[:line0] + text[line1:]
            return text[:start] + text[end:].lstrip(" ")
        return text[:start] + _emit(key, value, key_node.start_mark.column) + text[end:]
    if value is ABSENT:
        return text
    order = ("id", "description", "source", "priority", "when", "then", "given", "expect")
    later = [k for k in order[order.index(key) + 1:] if _get(node, k)] if key in order else []
    column = node.value[0][0].start_mark.column
    if later:
        at = _get(node, later[0])[0].start_mark.index  # type: ignore[index]
        return text[:at] + _emit(key, value, column) + "\n" + " " * column + text[at:]
    last = node.value[-1][1]
    end = _content_end(text, last.start_mark.index, last.end_mark.index)
    return text[:end] + "\n" + " " * column + _emit(key, value, column) + text[end:]


# --------------------------------------------------------------------------- rule blocks

def _rule_spans(text: str, table: int, section: str = "rules") -> list[_Span]:
    nodes = _rule_nodes(_compose(text), table, section)
    spans = []
    for i, node in enumerate(nodes):
        start = _line_start(text, node.start_mark.index)
        if i + 1 < len(nodes):
            end = _line_start(text, nodes[i + 1].start_mark.index)
        else:
            end = _line_after(text, _content_end(text, node.start_mark.index,
                                                 node.end_mark.index) - 1)
        spans.append(_Span(start, end))
    return spans


def _block(text: str, span: _Span) -> str:
    block = text[span.start:span.end]
    return block if block.endswith("\n") else block + "\n"


def delete_rule(text: str, table: int, rule: int) -> str:
    spans = _rule_spans(text, table)
    if not 0 <= rule < len(spans):
        raise EditError(f"the table has no rule number {rule + 1}")
    span = spans[rule]
    return text[:span.start] + text[span.end:]


def duplicate_rule(text: str, table: int, rule: int) -> str:
    """A copy of the rule right after it, with the id ``<id>-copy`` (or -copy-2, ...)."""
    spans = _rule_spans(text, table)
    if not 0 <= rule < len(spans):
        raise EditError(f"the table has no rule number {rule + 1}")
    span = spans[rule]
    block = _block(text, span)
    text = text[:span.end] + ("" if text[:span.end].endswith("\n") else "\n") + block \
        + text[span.end:]
    ids = _rule_ids(text, table)
    base = f"{ids[rule]}-copy"
    new_id, n = base, 2
    while new_id in ids:
        new_id, n = f"{base}-{n}", n + 1
    return set_cell(text, table, rule + 1, "id", new_id)


def _rule_ids(text: str, table: int) -> list[str]:
    out = []
    for node in _rule_nodes(_compose(text), table):
        found = _get(node, "id")
        out.append(found[1].value if found and isinstance(found[1], yaml.ScalarNode) else "")
    return out


def move_rule(text: str, table: int, rule: int, delta: int) -> str:
    """Move a rule up (``delta`` -1) or down (+1) past its neighbour."""
    spans = _rule_spans(text, table)
    other = rule + delta
    if not (0 <= rule < len(spans) and 0 <= other < len(spans)) or abs(delta) != 1:
        raise EditError(f"rule number {rule + 1} cannot move {'up' if delta < 0 else 'down'}")
    first, second = sorted((rule, other))
    a, b = spans[first], spans[second]
    return text[:a.start] + _block(text, b) + _block(text, a) + text[b.end:]


def add_rule(text: str, table: int, after: int | None = None) -> str:
    """A new empty rule after rule ``after`` (at the end when None), for the grid to fill."""
    root = _compose(text)
    nodes = _rule_nodes(root, table)
    if not nodes:
        raise EditError("the table has no rules list to add to")
    spans = _rule_spans(text, table)
    at = spans[-1 if after is None else after].end
    ids = set(_rule_ids(text, table))
    n = 1
    while f"new-rule-{n}" in ids:
        n += 1
    dash = nodes[0].start_mark.column - 2
    item = CommentedMap([("id", f"new-rule-{n}"), ("description", ""), ("when", _flow({})),
                         ("then", _flow({}))])
    lines = [_emit(k, v, dash + 2) for k, v in item.items()]
    block = " " * dash + "- " + ("\n" + " " * (dash + 2)).join(lines) + "\n"
    prefix = text[:at] if text[:at].endswith("\n") else text[:at] + "\n"
    return prefix + block + text[at:]


# --------------------------------------------------------------------------- item patches

def set_item_key(text: str, table: int, section: str, index: int, key: str, value: Any) -> str:
    """Give key ``key`` of rule or example ``index`` the plain ``value`` (``ABSENT`` removes it).

    The old value's layout is kept where it can be: a flow mapping stays flow, a
    kept policy keeps its lines, a quoted scalar stays quoted.
    """
    root = _compose(text)
    target = _ruamel_rule(text, root, table, index, section)
    if (value is ABSENT and key not in target) or (
            key in target and value is not ABSENT and plain(target[key]) == value):
        return text
    if value is not ABSENT:
        old = target.get(key)
        if key == "then" and isinstance(value, list):
            value = _policies(old, value)
        elif old is not None:
            value = _merge(old, value) if isinstance(value, dict) else _styled(old, value)
        else:
            value = _flow(value) if key in ("when", "then", "given", "expect") else value
    return _replace_key(text, table, index, key, value, root, section)


def _styled(old: Any, new: Any) -> Any:
    """A new scalar written as the old one was (a quoted string stays quoted)."""
    if isinstance(old, str) and type(old) is not str and isinstance(new, str):
        return type(old)(new)
    return _flow(new)


def item_count(text: str, table: int, section: str) -> int:
    return len(_rule_nodes(_compose(text), table, section))


def delete_item(text: str, table: int, section: str, index: int) -> str:
    """Remove rule or example ``index`` with its lines."""
    span = _rule_spans(text, table, section)[index]
    return text[:span.start] + text[span.end:]


def insert_item(text: str, table: int, section: str, index: int, block: str) -> str:
    """Put ``block`` (whole lines: ``- key: ...``) as item ``index`` of the section."""
    spans = _rule_spans(text, table, section)
    at = spans[index].start if index < len(spans) else spans[-1].end
    prefix = text[:at] if not text[:at] or text[:at].endswith("\n") else text[:at] + "\n"
    return prefix + (block if block.endswith("\n") else block + "\n") + text[at:]


def item_indent(text: str, table: int, section: str) -> int:
    """The column of the section's ``-`` marks."""
    nodes = _rule_nodes(_compose(text), table, section)
    return nodes[0].start_mark.column - 2 if nodes else 2


def reorder_items(text: str, table: int, section: str, order: list[int]) -> str:
    """The section's items in ``order`` (old positions), each keeping its own lines."""
    spans = _rule_spans(text, table, section)
    if order == list(range(len(spans))):
        return text
    blocks = [_block(text, spans[i]) for i in order]
    return text[:spans[0].start] + "".join(blocks) + text[spans[-1].end:]


def set_table_key(text: str, table: int, key: str, value: Any) -> str:
    """Give a table's own key (``version``, ``description``, ``inputs`` ...) a new value."""
    root = _compose(text)
    body = _table_node(root, table)
    found = _get(body, key)
    current = _ruamel_table(_ruamel_doc(text), table)
    if found is None:
        if value is ABSENT:
            return text
        anchor = _get(body, "inputs") or _get(body, "rules")
        if anchor is None:
            raise EditError(f"the table has no place for '{key}'")
        at = anchor[0].start_mark.index
        column = anchor[0].start_mark.column
        return text[:at] + _emit(key, _flow(value), column) + "\n" + " " * column + text[at:]
    key_node, value_node = found
    start = key_node.start_mark.index
    end = _content_end(text, start, value_node.end_mark.index)
    if value is ABSENT:
        line0, line1 = _line_start(text, start), _line_after(text, end)
        return text[:line0] + text[line1:]
    styled = _styled(current.get(key), value) if not isinstance(value, list) else _flow(value)
    return text[:start] + _emit(key, styled, key_node.start_mark.column) + text[end:]


# --------------------------------------------------------------------------- versions

def next_version(version: str) -> str:
    """The version after ``version``: its last number plus one (``2026.12.0`` -> ``2026.12.1``)."""
    found = re.search(r"(\d+)(\D*)$", version)
    if not found:
        return f"{version}.1"
    return version[:found.start(1)] + str(int(found.group(1)) + 1) + found.group(2)


def bump_version(text: str, table: int) -> str:
    root = _compose(text)
    found = _get(_table_node(root, table), "version")
    if found is None or not isinstance(found[1], yaml.ScalarNode):
        raise EditError("the table has no version to bump")
    key_node, value_node = found
    start, end = key_node.start_mark.index, value_node.end_mark.index
    body = _ruamel_table(_ruamel_doc(text), table)
    old = body["version"]
    new = next_version(str(old))
    value = type(old)(new) if isinstance(old, str) and type(old) is not str else new
    return text[:start] + _emit("version", value, key_node.start_mark.column) + text[end:]
