"""A table file's text changed only where its meaning changed.

A workbook brings whole documents back, and writing them out anew would
re-flow every line of a file (quotes, indentation, folded descriptions). So a
changed file is patched instead, with the line edits of ``engine.studio.edits``:
a changed table key gets a new value in its old style, a deleted rule loses
its lines, a new rule gets lines of its own, moved rules keep theirs, and a
changed rule or example changes only the keys that differ. Untouched tables
and rules keep every byte. Examples have no ids, so they are matched by
content in order (``difflib``).

If the patched text does not read back as the new document (an unusual file
layout, tables added, removed or renamed), the whole file is written anew by
the caller's fallback: the content is what counts, the layout second.
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Callable, Mapping
from typing import Any

from engine.errors import YamlFileError
from engine.studio import edits
from engine.studio.notation import ABSENT
from engine.studio.tableyaml import item_block
from engine.yamlfile import parse_yaml, plain

__all__ = ["patch_text"]

TABLE_KEYS = ("table", "version", "description", "hit_policy", "inputs", "outputs")


def patch_text(old: str, doc: Mapping[str, Any], fallback: Callable[[], str]) -> str:
    """``old`` changed so that it reads as ``doc``, touching only what differs."""
    try:
        before = plain(parse_yaml(old))
        new = _patched(old, before, plain(doc))
        if plain(parse_yaml(new)) == plain(doc):
            return new
    except (edits.EditError, YamlFileError, IndexError, KeyError, TypeError):
        pass
    return fallback()


def _bodies(doc: Any) -> list[Any]:
    return list(doc["tables"]) if isinstance(doc, dict) and "tables" in doc else [doc]


def _patched(text: str, before: Any, after: Any) -> str:
    old_tables, new_tables = _bodies(before), _bodies(after)
    if [t.get("table") for t in old_tables] != [t.get("table") for t in new_tables]:
        raise edits.EditError("the tables of the file changed")
    for i, (old, new) in enumerate(zip(old_tables, new_tables, strict=True)):
        if old == new:
            continue
        for key in TABLE_KEYS:
            if old.get(key, ABSENT) != new.get(key, ABSENT):
                text = edits.set_table_key(text, i, key, new.get(key, ABSENT))
        text = _rules(text, i, old.get("rules") or [], new.get("rules") or [])
        if old.get("examples", ABSENT) != new.get("examples", ABSENT):
            text = _examples(text, i, old.get("examples") or [], new.get("examples") or [])
    return text


def _rules(text: str, table: int, old: list[Any], new: list[Any]) -> str:
    """Rules matched by id: deleted, moved, added, then each changed key set."""
    if old == new:
        return text
    new_ids = [r.get("id") for r in new]
    for i in reversed(range(len(old))):
        if old[i].get("id") not in new_ids:
            text = edits.delete_item(text, table, "rules", i)
    kept = [r for r in old if r.get("id") in new_ids]
    kept_ids = [r.get("id") for r in kept]
    order = sorted(range(len(kept)), key=lambda k: new_ids.index(kept_ids[k]))
    text = edits.reorder_items(text, table, "rules", order)
    dash = edits.item_indent(text, table, "rules")
    by_id = {r.get("id"): r for r in kept}
    for i, rule in enumerate(new):
        if rule.get("id") not in by_id:
            text = edits.insert_item(text, table, "rules", i, item_block(rule, "rules", dash))
            continue
        text = _item(text, table, "rules", i, by_id[rule.get("id")], rule)
    return text


def _item(text: str, table: int, section: str, index: int, old: Mapping[str, Any],
          new: Mapping[str, Any]) -> str:
    for key in [*new, *(k for k in old if k not in new)]:
        if old.get(key, ABSENT) != new.get(key, ABSENT):
            text = edits.set_item_key(text, table, section, index, key, new.get(key, ABSENT))
    return text


def _examples(text: str, table: int, old: list[Any], new: list[Any]) -> str:
    """Examples matched by content in order: equal runs kept, the rest changed in place."""
    if not old or not new:
        raise edits.EditError("examples added to or removed from a whole table")
    keys = [[json.dumps(e, sort_keys=True) for e in side] for side in (old, new)]
    ops = difflib.SequenceMatcher(a=keys[0], b=keys[1], autojunk=False).get_opcodes()
    dash = edits.item_indent(text, table, "examples")
    for tag, i1, i2, j1, j2 in reversed(ops):
        if tag == "equal":
            continue
        common = min(i2 - i1, j2 - j1) if tag == "replace" else 0
        for k in range(common):
            text = _item(text, table, "examples", i1 + k, old[i1 + k], new[j1 + k])
        for k in reversed(range(i1 + common, i2)):
            text = edits.delete_item(text, table, "examples", k)
        for k in range(j1 + common, j2):
            at = i1 + (k - j1)
            text = edits.insert_item(text, table, "examples", at,
                                     item_block(new[k], "examples", dash))
    return text
