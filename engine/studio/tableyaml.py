"""Table documents as YAML text in the style of the shipped files.

``write_tables`` writes a file's tables the way policy staff write them: block
mappings for tables and rules, ``when:`` and ``then:`` (and a policy's
``params``) as one-line flow mappings, keys in their order, Unicode as is. It
is used for a file the workbook brings that the project does not have yet; a
file the project has is changed line by line instead (``engine.studio.textpatch``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import yaml

__all__ = ["file_doc", "item_block", "write_tables"]


def file_doc(tables: list[dict[str, Any]]) -> dict[str, Any]:
    """The document of a file holding ``tables``: the table itself, or a ``tables:`` list."""
    return tables[0] if len(tables) == 1 else {"tables": tables}


class _Flow(dict):
    """A mapping written on one line, as policy staff write ``when:``."""


class _FlowList(list):
    """A list written on one line."""


class _Dumper(yaml.SafeDumper):
    pass


_Dumper.add_representer(_Flow, lambda d, v: d.represent_mapping(
    "tag:yaml.org,2002:map", v.items(), flow_style=True))
_Dumper.add_representer(_FlowList, lambda d, v: d.represent_sequence(
    "tag:yaml.org,2002:seq", v, flow_style=True))


def _styled_table(doc: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(doc)
    for key in ("inputs", "outputs"):
        if isinstance(out.get(key), list):
            out[key] = _FlowList(out[key])
    rules = []
    for rule in doc.get("rules") or []:
        r = dict(rule)
        if isinstance(r.get("when"), dict):
            r["when"] = _flow(r["when"])
        then = r.get("then")
        if isinstance(then, dict):
            r["then"] = _flow(then)
        elif isinstance(then, list):
            r["then"] = [_policy_item(i) for i in then]
        rules.append(r)
    out["rules"] = rules
    if isinstance(doc.get("examples"), list):
        out["examples"] = [{k: _flow(v) if k in ("given", "expect") and isinstance(v, dict)
                            else v for k, v in ex.items()} for ex in doc["examples"]]
    return out


def item_block(item: Mapping[str, Any], section: str, dash: int) -> str:
    """One rule or example as the lines of a list item whose ``-`` sits at column ``dash``."""
    styled = _styled_table({section: [item]} if section == "rules"
                           else {"rules": [], section: [item]})[section][0]
    text = yaml.dump([styled], Dumper=_Dumper, sort_keys=False, allow_unicode=True,
                     width=100, default_flow_style=False)
    return "".join(" " * dash + line if line.strip() else line
                   for line in text.splitlines(keepends=True))


def _flow(value: Any) -> Any:
    if isinstance(value, dict):
        return _Flow({k: _flow(v) for k, v in value.items()})
    if isinstance(value, list):
        return _FlowList(_flow(v) for v in value)
    return value


def _policy_item(item: Any) -> Any:
    if isinstance(item, dict) and isinstance(item.get("params"), dict):
        return {**item, "params": _flow(item["params"])}
    return item


def write_tables(doc: Mapping[str, Any], header: str = "") -> str:
    """A file's tables as YAML in the shipped files' style (flow ``when:``/``then:``)."""
    if "tables" in doc:
        body: Any = {"tables": [_styled_table(t) for t in doc["tables"]]}
    else:
        body = _styled_table(doc)
    text = yaml.dump(body, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=100,
                     default_flow_style=False)
    return (header.rstrip("\n") + "\n" if header else "") + text

