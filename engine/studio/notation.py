"""The plain notation of the workbench grid and the Excel workbook, both ways.

A table cell holds one ``when`` entry, one output value or a rule's policies
as a person would write them on paper::

    < 0.015                 {lt: 0.015}
    ≥ 0.015 and < 0.03      {ge: 0.015, lt: 0.03}
    AAA, AA                 [AAA, AA]          (one of)
    [AA]                    [AA]               (a list of one)
    residential             residential        (equals)
    = 30                    {eq: 30}
    not residential         {ne: residential}
    not AAA, AA             {not_in: [AAA, AA]}
    in AAA, AA              {in: [AAA, AA]}
    from previous_grade     {from: previous_grade}   (an output copying an input)
    {lt: 0.015}             any YAML flow value, written as in the file

Each spelling maps to exactly one YAML form, so a table written out in this
notation and read back is the same document (the same content hash). The
notation does no checking of its own beyond its grammar: values are typed by
the field's kind and the table loader then judges them, so a wrong value gets
the very message ``rules check`` prints.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any

import yaml

from engine.errors import InputError
from engine.records import FieldSpec

__all__ = [
    "ABSENT",
    "NotationError",
    "format_condition",
    "format_output",
    "format_policies",
    "format_value",
    "parse_condition",
    "parse_output",
    "parse_policies",
    "parse_value",
]

ABSENT: Any = type("Absent", (), {"__repr__": lambda self: "ABSENT"})()

SYMBOLS = {"lt": "<", "le": "≤", "gt": ">", "ge": "≥", "eq": "="}
_READ_SYMBOLS = {"<": "lt", "<=": "le", "≤": "le", ">": "gt", ">=": "ge", "≥": "ge",
                 "=": "eq", "==": "eq", "!=": "ne", "≠": "ne"}
_TERM = re.compile(r"^(<=|>=|==|!=|≤|≥|≠|<|>|=)\s*(.*)$", re.S)
_WORD = re.compile(r"^(not\s+in|not|in)\s+(.*)$", re.S)
_AND = re.compile(r"\s+and\s+")
_INT = re.compile(r"^[+-]?\d+$")
_PERCENT = re.compile(r"^([+-]?\d+(?:\.\d+)?)\s*%$")
_BETWEEN = re.compile(r"^between\s+(\S+)\s+and\s+(\S+)$", re.I)
_POLICY = re.compile(r"^([A-Za-z0-9_.-]+)\s*(?:\((.*)\))?$", re.S)


class NotationError(InputError):
    """A cell's text does not follow the notation; ``text`` is what was written."""

    code = "invalid_notation"

    def __init__(self, message: str, text: str) -> None:
        super().__init__(message)
        self.text = text


# --------------------------------------------------------------------------- plain values

def format_value(value: Any) -> str:
    """One value as YAML would read it back: ``AA``, ``0.015``, ``true``, ``'yes'``."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float) and not isinstance(value, bool):
        return repr(value)
    text = yaml.safe_dump(value, default_flow_style=True, allow_unicode=True,
                          width=1 << 20).strip()
    return text[:-3].rstrip() if text.endswith("\n...") or text.endswith("...") else text


def parse_value(text: str) -> Any:
    """A value written in YAML flow style (examples, policy params)."""
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        problem = getattr(exc, "problem", None) or "invalid YAML"
        raise NotationError(f"cannot read {text!r} as a value: {problem}", text) from None


def _typed(text: str, spec: FieldSpec | None) -> Any:
    """A single value, typed by the field's kind; the loader judges what stays text."""
    if text == "null":
        return None
    if text.startswith(("'", '"')) and len(text) >= 2 and text[-1] == text[0]:
        return parse_value(text)
    kind = spec.kind if spec is not None else None
    if kind in ("int", "float"):
        if _INT.match(text):
            return int(text)
        try:
            number = float(text)
        except ValueError:
            percent = _PERCENT.match(text)
            if percent:
                share = _format_scalar(round(float(percent.group(1)) / 100, 12))
                raise NotationError(f"{text!r}: write a share as a decimal, not a percentage "
                                    f"(did you mean {share}?)", text) from None
            return text
        return number if math.isfinite(number) else text
    if kind == "bool" and text.lower() in ("true", "false"):
        return text.lower() == "true"
    return text


def _format_scalar(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, str):
        plain = value.strip() == value and value and value != "null" and not re.search(
            r"[,\[\]{}]|^(not|in|from)\s|^(<|>|=|!|≤|≥|≠)|\sand\s|^['\"]", value)
        return value if plain else format_value(value)
    return format_value(value)


def _format_list(items: list[Any]) -> str:
    if len(items) >= 2 and all(not isinstance(i, list | dict) for i in items):
        return ", ".join(_format_scalar(i) for i in items)
    return "[" + ", ".join(_format_scalar(i) for i in items) + "]"


def _parse_list(text: str, spec: FieldSpec | None) -> list[Any]:
    inner = text[1:-1] if text.startswith("[") and text.endswith("]") else text
    if not inner.strip():
        return []
    return [_typed(part.strip(), spec) for part in inner.split(",")]


def _is_list_text(text: str) -> bool:
    return (text.startswith("[") and text.endswith("]")) or "," in text


# --------------------------------------------------------------------------- conditions

def format_condition(raw: Any) -> str:
    """A ``when`` entry in notation; ``ABSENT`` (no condition) is the empty cell."""
    if raw is ABSENT:
        return ""
    if isinstance(raw, list):
        return _format_list(raw)
    if isinstance(raw, dict):
        if not raw or any(op not in (*SYMBOLS, "ne", "in", "not_in") for op in raw):
            return format_value(raw)
        terms = []
        for op, value in raw.items():
            if op in ("in", "not_in"):
                if not isinstance(value, list):
                    return format_value(raw)
                terms.append(("in " if op == "in" else "not ") + _format_list(value))
            elif isinstance(value, list | dict):
                return format_value(raw)
            elif op == "ne":
                terms.append("not " + _format_scalar(value))
            else:
                terms.append(f"{SYMBOLS[op]} {_format_scalar(value)}")
        return " and ".join(terms)
    return _format_scalar(raw)


def parse_condition(text: str, spec: FieldSpec | None) -> Any:
    """A cell's text as a ``when`` entry; ``ABSENT`` for an empty cell."""
    text = (text or "").strip()
    if not text:
        return ABSENT
    if text.startswith("{"):
        return parse_value(text)
    between = _BETWEEN.match(text)
    if between:
        low, high = between.group(1), between.group(2)
        raise NotationError(f"{text!r}: write a range with its two edges, the lower one "
                            f"included: '≥ {low} and < {high}' (or '≥ {low} and ≤ {high}' to "
                            "include both)", text)
    terms = _AND.split(text)
    if len(terms) == 1 and not (_TERM.match(text) or _WORD.match(text)):
        return _parse_list(text, spec) if _is_list_text(text) else _typed(text, spec)
    out: dict[str, Any] = {}
    for term in terms:
        op, value = _term(term.strip(), spec, text)
        if op in out:
            raise NotationError(f"{text!r}: the operator of '{term.strip()}' appears twice; "
                                "write each operator once", text)
        out[op] = value
    return out


def _term(term: str, spec: FieldSpec | None, text: str) -> tuple[str, Any]:
    word = _WORD.match(term)
    if word:
        head, rest = re.sub(r"\s+", " ", word.group(1)), word.group(2).strip()
        if head == "not" and not _is_list_text(rest):
            return "ne", _typed(rest, spec)
        if head == "in":
            return "in", _parse_list(rest, spec)
        return "not_in", _parse_list(rest, spec)
    symbol = _TERM.match(term)
    if not symbol:
        raise NotationError(f"{text!r}: '{term}' has no operator; join conditions as "
                            "'≥ 0.015 and < 0.03' (operators < ≤ > ≥ = not in)", text)
    op = _READ_SYMBOLS[symbol.group(1)]
    return op, _typed(symbol.group(2).strip(), spec)


# --------------------------------------------------------------------------- outputs

def format_output(raw: Any) -> str:
    """A value a rule sets: ``C``, or ``from previous_grade``."""
    if raw is ABSENT:
        return ""
    if isinstance(raw, dict) and list(raw) == ["from"] and isinstance(raw["from"], str):
        return f"from {raw['from']}"
    if isinstance(raw, list | dict):
        return format_value(raw)
    return _format_scalar(raw)


def parse_output(text: str, spec: FieldSpec | None) -> Any:
    text = (text or "").strip()
    if not text:
        return ABSENT
    if text.startswith(("{", "[")):
        return parse_value(text)
    found = re.match(r"^from\s+(\S+)$", text)
    if found:
        return {"from": found.group(1)}
    return _typed(text, spec)


# --------------------------------------------------------------------------- policies

def format_policies(items: Any) -> str:
    """A policy rule's ``then:`` list, one policy per line: ``id`` or ``id(param=value)``."""
    if items is ABSENT or items is None:
        return ""
    lines = []
    for item in items if isinstance(items, list) else [items]:
        if isinstance(item, str):
            lines.append(format_value(item) if _POLICY.match(item) is None else f'"{item}"')
        elif isinstance(item, Mapping) and set(item) <= {"policy", "params"} \
                and isinstance(item.get("policy"), str) \
                and isinstance(item.get("params", {}), Mapping):
            params = item.get("params")
            tail = "" if "params" not in item else "(" + ", ".join(
                f"{k}={format_value(v)}" for k, v in (params or {}).items()) + ")"
            lines.append(item["policy"] + tail)
        else:
            lines.append(format_value(item))
    return "\n".join(lines)


def parse_policies(text: str) -> Any:
    """The cell of a policy rule back to its ``then:`` list."""
    text = (text or "").strip()
    if not text:
        return ABSENT
    out: list[Any] = []
    for line in (ln.strip() for ln in text.splitlines()):
        if not line:
            continue
        if line.startswith(("{", "[")):
            out.append(parse_value(line))
            continue
        if line.startswith('"') and line.endswith('"') and len(line) > 2:
            out.append(line[1:-1])
            continue
        found = _POLICY.match(line)
        if not found:
            raise NotationError(f"{line!r}: write a policy as id or id(param=value, ...)",
                                text)
        item: dict[str, Any] = {"policy": found.group(1)}
        if found.group(2) is not None:
            item["params"] = _params(found.group(2), line)
        out.append(item)
    return out


def _params(inner: str, line: str) -> dict[str, Any]:
    params: dict[str, Any] = {}
    for part in (p.strip() for p in _split_top(inner)):
        if not part:
            continue
        name, eq, value = part.partition("=")
        if not eq or not name.strip():
            raise NotationError(f"{line!r}: write each param as name=value", line)
        params[name.strip()] = parse_value(value.strip())
    return params


def _split_top(text: str) -> list[str]:
    """Split on commas outside brackets and quotes."""
    parts, depth, quote, start = [], 0, "", 0
    for i, ch in enumerate(text):
        if quote:
            quote = "" if ch == quote else quote
        elif ch in "'\"":
            quote = ch
        elif ch in "[{(":
            depth += 1
        elif ch in "]})":
            depth -= 1
        elif ch == "," and depth == 0:
            parts.append(text[start:i])
            start = i + 1
    parts.append(text[start:])
    return parts
