"""Descriptions left behind by a threshold change: a warning, not a refusal.

A rule's description often repeats its threshold in words ("more than 1,500
kWh a month"). When a draft changes a number in a rule's conditions and the
description still says the old number and not the new one, the description
no longer tells the truth about the rule; the grid shows a finding on the
rule so that the words are changed with the number. Only numbers the draft
changed are compared, so a description that names other numbers (a window of
36 months, a rate) is never flagged.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Any

from engine.tables import Finding
from engine.yamlfile import LocatedList, plain

__all__ = ["stale_descriptions"]

_NUMBER = re.compile(r"(?<![\w.])\d{1,3}(?:[, ]\d{3})+(?:\.\d+)?(?![\w])|(?<![\w.,])\d+(?:\.\d+)?")


def _numbers(value: Any, path: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], float]]:
    if isinstance(value, bool):
        return
    if isinstance(value, int | float):
        yield path, float(value)
    elif isinstance(value, Mapping):
        for key, child in value.items():
            yield from _numbers(child, (*path, str(key)))


def _said(text: str) -> set[float]:
    return {float(re.sub(r"[, ]", "", n)) for n in _NUMBER.findall(text)}


def _bodies(doc: Any) -> list[Any]:
    if isinstance(doc, Mapping) and isinstance(doc.get("tables"), list):
        return list(doc["tables"])
    return [doc] if isinstance(doc, Mapping) else []


def stale_descriptions(saved: Mapping[str, Any], draft: Mapping[str, Any]) -> list[Finding]:
    """A finding for each rule whose changed threshold its unchanged words still state."""
    out = []
    for file, doc in draft.items():
        old_doc = saved.get(file)
        if old_doc is None or plain(old_doc) == plain(doc):
            continue
        old_rules = {r.get("id"): r for body in _bodies(old_doc)
                     for r in (body.get("rules") or []) if isinstance(r, Mapping)}
        for body in _bodies(doc):
            rules = body.get("rules")
            for i, rule in enumerate(rules if isinstance(rules, list) else []):
                old = old_rules.get(rule.get("id")) if isinstance(rule, Mapping) else None
                if old is None:
                    continue
                finding = _stale(file, rule, old, rules.line_of(i) if isinstance(
                    rules, LocatedList) else 0)
                if finding is not None:
                    out.append(finding)
    return out


def _stale(file: str, rule: Mapping[str, Any], old: Mapping[str, Any], line: int
           ) -> Finding | None:
    before = dict(_numbers(plain(old.get("when") or {})))
    after = dict(_numbers(plain(rule.get("when") or {})))
    said = _said(str(rule.get("description", "")))
    for path, value in after.items():
        was = before.get(path)
        if was is not None and was != value and was in said and value not in said:
            return Finding(file, line, str(rule.get("id")), "description",
                           f"the description still says {was:,g} but the condition "
                           f"{'.'.join(path)} is now {value:g}: change the description too")
    return None
