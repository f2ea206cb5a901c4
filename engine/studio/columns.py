"""Condition columns of a table: add one from the record's vocabulary, rename, remove.

A table's condition columns are its ``inputs``. Adding one puts a field of
the record (``engine.records.vocabulary``) at the end of ``inputs``; no rule
has a condition on it yet. Renaming one moves every rule's condition on the
old field to the new one, keeping its notation; removing one drops the field
from ``inputs`` and every rule's condition on it. Each is a text patch of the
lines concerned, like every edit of ``engine.studio.edits``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from engine.errors import closest, did_you_mean
from engine.records import vocabulary
from engine.studio.edits import EditError, set_cell, set_table_key
from engine.studio.notation import format_condition
from engine.yamlfile import parse_yaml, plain

__all__ = ["add_column", "remove_column", "rename_column"]


def _body(text: str, table: int) -> Mapping[str, Any]:
    doc = plain(parse_yaml(text))
    bodies = doc["tables"] if isinstance(doc, Mapping) and "tables" in doc else [doc]
    if not 0 <= table < len(bodies) or not isinstance(bodies[table], Mapping):
        raise EditError(f"there is no table number {table + 1} in this file")
    return bodies[table]


def _inputs(body: Mapping[str, Any]) -> list[str]:
    return [str(i) for i in body.get("inputs") or []]


def _known(field: str, inputs: list[str]) -> str:
    field = field.strip()
    fields = vocabulary()
    if field not in fields:
        raise EditError(f"'{field}' is not a field of the customer record"
                        + did_you_mean(closest(field, list(fields))))
    if field in inputs:
        raise EditError(f"'{field}' is already a condition column of this table")
    return field


def add_column(text: str, table: int, field: str) -> str:
    """``field`` as a new last condition column (no rule has a condition on it yet)."""
    inputs = _inputs(_body(text, table))
    return set_table_key(text, table, "inputs", [*inputs, _known(field, inputs)])


def rename_column(text: str, table: int, old: str, new: str) -> str:
    """Condition column ``old`` becomes ``new``: in ``inputs`` and in every rule's conditions."""
    body = _body(text, table)
    inputs = _inputs(body)
    if old not in inputs:
        raise EditError(f"'{old}' is not a condition column of this table")
    new = _known(new, inputs)
    both = [n for i in inputs for n in ((i, new) if i == old else (i,))]
    text = set_table_key(text, table, "inputs", both)
    for k, rule in enumerate(body.get("rules") or []):
        when = rule.get("when") if isinstance(rule, Mapping) else None
        if isinstance(when, Mapping) and old in when:
            text = set_cell(text, table, k, new, format_condition(when[old]))
            text = set_cell(text, table, k, old, "")
    return set_table_key(text, table, "inputs", [new if i == old else i for i in inputs])


def remove_column(text: str, table: int, field: str) -> str:
    """Drop condition column ``field`` and every rule's condition on it."""
    body = _body(text, table)
    inputs = _inputs(body)
    if field not in inputs:
        raise EditError(f"'{field}' is not a condition column of this table")
    for k, rule in enumerate(body.get("rules") or []):
        when = rule.get("when") if isinstance(rule, Mapping) else None
        if isinstance(when, Mapping) and field in when:
            text = set_cell(text, table, k, field, "")
    return set_table_key(text, table, "inputs", [i for i in inputs if i != field])
