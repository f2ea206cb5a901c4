"""The table format as a JSON Schema, so editors validate and complete as policy staff type.

Generated from the same vocabulary and operator list the loader enforces, and
written to ``engine/tables/table.schema.json`` (the file the shipped tables'
``yaml-language-server`` header points at); a test keeps the two equal.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from engine.conditions import OPERATORS
from engine.records import vocabulary
from engine.tables.model import HIT_POLICIES, POLICY_OUTPUT

__all__ = ["SCHEMA_PATH", "table_schema"]

SCHEMA_PATH = Path(__file__).with_name("table.schema.json")


def _value_schema(kind: str, choices: tuple[str, ...] | None) -> dict[str, Any]:
    if choices:
        return {"enum": list(choices)}
    return {"int": {"type": "integer"}, "float": {"type": "number"},
            "bool": {"type": "boolean"}}.get(kind, {"type": "string"})


def table_schema(policy_ids: list[str] | None = None) -> dict[str, Any]:
    """JSON Schema (draft 2020-12) of a rule file: one table, or ``tables:`` holding several."""
    vocab = vocabulary()
    testable = {n: s for n, s in vocab.items() if s.kind != "date"}
    conditions = {}
    for name, spec in testable.items():
        value = _value_schema(spec.kind, spec.choices)
        ops: dict[str, Any] = {}
        for op in OPERATORS:
            if op in ("in", "not_in"):
                ops[op] = {"type": "array", "items": value, "minItems": 1}
            elif op in ("lt", "le", "gt", "ge"):
                if spec.kind in ("int", "float"):
                    ops[op] = {"type": "number"}
            else:
                ops[op] = value
        conditions[name] = {"description": spec.description, "anyOf": [
            value, {"type": "array", "items": value, "minItems": 1},
            {"type": "object", "properties": ops, "additionalProperties": False,
             "minProperties": 1}]}
    sets = {name: {"description": spec.description, "anyOf": [
        _value_schema(spec.kind, spec.choices),
        {"type": "object", "properties": {"from": {"enum": sorted(testable)}},
         "required": ["from"], "additionalProperties": False}]}
        for name, spec in vocab.items()}
    policy = {"type": "string"} if not policy_ids else {"enum": sorted(policy_ids)}
    rule = {
        "type": "object",
        "required": ["id", "description", "then"],
        "additionalProperties": False,
        "properties": {
            "id": {"type": "string", "pattern": "^[A-Za-z0-9][A-Za-z0-9_.-]{0,79}$"},
            "description": {"type": "string", "minLength": 1},
            "source": {"type": "string"},
            "priority": {"type": "integer"},
            "when": {"type": "object", "properties": conditions, "additionalProperties": False},
            "then": {"anyOf": [
                {"type": "object", "properties": sets, "additionalProperties": False,
                 "minProperties": 1},
                {"type": "array", "minItems": 1, "items": {
                    "type": "object", "required": ["policy"], "additionalProperties": False,
                    "properties": {"policy": policy, "params": {"type": "object"}}}}]},
        },
    }
    fields = {"enum": sorted(vocab)}
    table = {
        "type": "object",
        "required": ["table", "version", "hit_policy", "inputs", "outputs", "rules"],
        "additionalProperties": False,
        "properties": {
            "table": {"type": "string", "pattern": "^[a-z][a-z0-9-]{0,63}$"},
            "version": {"type": "string"},
            "description": {"type": "string"},
            "hit_policy": {"enum": list(HIT_POLICIES)},
            "inputs": {"type": "array", "items": fields, "minItems": 1, "uniqueItems": True},
            "outputs": {"type": "array", "minItems": 1, "uniqueItems": True,
                        "items": {"enum": sorted([*vocab, POLICY_OUTPUT])}},
            "rules": {"type": "array", "items": {"$ref": "#/$defs/rule"}, "minItems": 1},
            "examples": {"type": "array", "items": {
                "type": "object", "required": ["given", "expect"],
                "additionalProperties": False,
                "properties": {"description": {"type": "string"},
                               "given": {"type": "object"}, "expect": {"type": "object"}}}},
        },
    }
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "https://gridcredit.example/schemas/table.schema.json",
        "title": "gridcredit decision table file",
        "description": "One decision table, or several under 'tables:'.",
        "$defs": {"rule": rule, "table": table},
        "anyOf": [
            {"$ref": "#/$defs/table"},
            {"type": "object", "required": ["tables"], "additionalProperties": False,
             "properties": {"tables": {"type": "array", "minItems": 1,
                                       "items": {"$ref": "#/$defs/table"}}}},
        ],
    }
