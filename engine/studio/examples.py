"""Edits to a table's examples from the grid: set a cell, add one, delete one.

An example's grid row is its description, one cell per ``given`` field and
one per ``expect`` field (``given: monthly_kwh``, ``expect: consumption_class``);
a cell holds a value in YAML flow notation (``1500``, ``residential``,
``[industrial-large]``) and an empty cell leaves the field out. Like every
edit of ``engine.studio.edits`` these change only the lines of the example
they touch; whether the example then passes is the checks' verdict.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from engine.studio.edits import (
    EditError,
    delete_item,
    insert_item,
    item_count,
    item_indent,
    set_item_key,
    set_table_key,
)
from engine.studio.notation import ABSENT, format_value, parse_value
from engine.yamlfile import parse_yaml, plain

__all__ = ["add_example", "delete_example", "set_example_cell"]

SECTION = "examples"
PARTS = ("given", "expect")


def _examples(text: str, table: int) -> list[Any]:
    doc = plain(parse_yaml(text))
    bodies = doc["tables"] if isinstance(doc, Mapping) and "tables" in doc else [doc]
    if not 0 <= table < len(bodies) or not isinstance(bodies[table], Mapping):
        raise EditError(f"there is no table number {table + 1} in this file")
    found = bodies[table].get(SECTION)
    return list(found) if isinstance(found, list) else []


def _example(text: str, table: int, index: int) -> Mapping[str, Any]:
    examples = _examples(text, table)
    if not 0 <= index < len(examples):
        raise EditError(f"the table has no example number {index + 1}")
    found = examples[index]
    if not isinstance(found, Mapping):
        raise EditError(f"example number {index + 1} is not a mapping: edit it as text")
    return found


def set_example_cell(text: str, table: int, index: int, column: str, cell: str) -> str:
    """Set one cell of example ``index``: its description, a given or an expected value."""
    example = _example(text, table, index)
    cell = cell.strip()
    if column == "description":
        return set_item_key(text, table, SECTION, index, "description", cell or ABSENT)
    part, _, name = column.partition(":")
    part, name = part.strip(), name.strip()
    if part not in PARTS or not name:
        raise EditError(f"'{column}' is not an example column: use description, "
                        "'given: FIELD' or 'expect: FIELD'")
    values = dict(example.get(part) or {}) if isinstance(example.get(part), Mapping) else {}
    if cell:
        values[name] = parse_value(cell)
    elif name in values:
        del values[name]
    else:
        return text
    return set_item_key(text, table, SECTION, index, part, values)


def add_example(text: str, table: int) -> str:
    """A new example at the end: a copy of the last one to change, or an empty first one."""
    examples = _examples(text, table)
    if not examples:
        return set_table_key(text, table, SECTION, [{"given": {}, "expect": {}}])
    last = examples[-1] if isinstance(examples[-1], Mapping) else {}
    indent = " " * item_indent(text, table, SECTION)
    given, expect = (format_value(dict(last.get(p) or {})) for p in PARTS)
    block = f"{indent}- given: {given}\n{indent}  expect: {expect}\n"
    return insert_item(text, table, SECTION, item_count(text, table, SECTION), block)


def delete_example(text: str, table: int, index: int) -> str:
    if not 0 <= index < item_count(text, table, SECTION):
        raise EditError(f"the table has no example number {index + 1}")
    return delete_item(text, table, SECTION, index)
