"""What changed between two table sets, in the terms policy staff write them.

Tables are compared by name and rules by id, on the documents as written
(``Table.canonical``), so the diff speaks of conditions, outputs, policies
and parameters rather than of lines::

    table service-policies: version 2026.12.0 -> 2026.12.1
      changed rule critical-load-protection
        when critical_load: true -> [true]
        policy priority_repair_channel param response_target_hours: 2.0 -> 1.0
      added rule hospital-backup
      removed rule old-clinic-rule

A rule moved within its table is reported as moved: under ``first`` and
``priority`` the order decides.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from engine.policies import Catalogue, template_hashes
from engine.tables.tableset import TableSet

__all__ = ["RuleChange", "SetDiff", "TableChange", "diff_sets"]

_RULE_TEXT = ("description", "source", "priority")


def _show(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, default=str)


@dataclass(frozen=True)
class RuleChange:
    """One rule added, removed, moved or changed, with what changed in it."""

    rule_id: str
    change: str  # added | removed | changed | moved
    details: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {"rule_id": self.rule_id, "change": self.change, "details": list(self.details)}


@dataclass(frozen=True)
class TableChange:
    """One table added, removed or changed."""

    table: str
    change: str  # added | removed | changed
    details: tuple[str, ...] = ()
    rules: tuple[RuleChange, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {"table": self.table, "change": self.change, "details": list(self.details),
                "rules": [r.to_dict() for r in self.rules]}


@dataclass(frozen=True)
class SetDiff:
    """Every table change between two sets, plus the catalogue."""

    before: str
    after: str
    tables: tuple[TableChange, ...] = ()
    catalogue_changed: bool = False
    notes: tuple[str, ...] = field(default=())
    #: What of the catalogue changed: "policies", "template <file>", "translation <file>".
    catalogue_parts: tuple[str, ...] = ()

    @property
    def empty(self) -> bool:
        return not self.tables and not self.catalogue_changed

    def counts(self) -> dict[str, int]:
        out = {"added": 0, "removed": 0, "changed": 0, "moved": 0}
        for t in self.tables:
            for r in t.rules:
                out[r.change] += 1
        return out

    def to_dict(self) -> dict[str, Any]:
        return {"before": self.before, "after": self.after,
                "tables": [t.to_dict() for t in self.tables],
                "catalogue_changed": self.catalogue_changed,
                "catalogue_parts": list(self.catalogue_parts), "counts": self.counts()}

    def text(self) -> str:
        if self.empty:
            return f"no changes between {self.before} and {self.after}\n"
        c = self.counts()
        lines = [f"{self.before} -> {self.after}: {c['added']} rule(s) added, "
                 f"{c['removed']} removed, {c['changed']} changed, {c['moved']} moved"]
        for t in self.tables:
            if t.change == "added":
                lines.append(f"added table {t.table} ({', '.join(t.details)}, "
                             f"{len(t.rules)} rules)")
                continue
            lines.append(f"{t.change} table {t.table}")
            lines += [f"  {d}" for d in t.details]
            for r in t.rules:
                lines.append(f"  {r.change} rule {r.rule_id}")
                lines += [f"    {d}" for d in r.details]
        if self.catalogue_changed:
            lines += catalogue_lines(self.catalogue_parts)
        return "\n".join(lines) + "\n"


def _then_items(then: Any) -> dict[str, Any]:
    """A rule's ``then`` as {label: value}: policies by id, set fields by name."""
    items: dict[str, Any] = {}
    if isinstance(then, list):
        for action in then:
            if isinstance(action, Mapping) and "policy" in action:
                items[f"policy {action['policy']}"] = dict(action.get("params") or {})
    elif isinstance(then, Mapping):
        for name, value in then.items():
            items[f"sets {name}"] = value
    return items


def _rule_details(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[str]:
    out: list[str] = []
    w0, w1 = dict(old.get("when") or {}), dict(new.get("when") or {})
    for name in dict.fromkeys([*w0, *w1]):
        if name not in w1:
            out.append(f"condition on {name} removed (was {_show(w0[name])})")
        elif name not in w0:
            out.append(f"condition on {name} added: {_show(w1[name])}")
        elif w0[name] != w1[name]:
            out.append(f"when {name}: {_show(w0[name])} -> {_show(w1[name])}")
    t0, t1 = _then_items(old.get("then")), _then_items(new.get("then"))
    for label in dict.fromkeys([*t0, *t1]):
        if label not in t1:
            out.append(f"{label} removed")
        elif label not in t0:
            out.append(f"{label} added" + (f" with {_show(t1[label])}" if t1[label] else ""))
        elif t0[label] != t1[label]:
            if label.startswith("policy ") and isinstance(t0[label], dict):
                for p in dict.fromkeys([*t0[label], *t1[label]]):
                    a, b = t0[label].get(p, "(default)"), t1[label].get(p, "(default)")
                    if a != b:
                        out.append(f"{label} param {p}: {_show(a)} -> {_show(b)}")
            else:
                out.append(f"{label}: {_show(t0[label])} -> {_show(t1[label])}")
    for key in _RULE_TEXT:
        if old.get(key) != new.get(key):
            out.append(f"{key}: {_show(old.get(key))} -> {_show(new.get(key))}")
    return out


def _table_doc(t: Any) -> dict[str, Any]:
    return dict(t.canonical.get("table", {}))


def _table_change(name: str, old: dict[str, Any], new: dict[str, Any]) -> TableChange | None:
    details = [f"{key}: {_show(old.get(key))} -> {_show(new.get(key))}"
               for key in ("version", "hit_policy", "inputs", "outputs", "description")
               if old.get(key) != new.get(key)]
    r0 = {r.get("id"): r for r in old.get("rules") or [] if isinstance(r, Mapping)}
    r1 = {r.get("id"): r for r in new.get("rules") or [] if isinstance(r, Mapping)}
    rules: list[RuleChange] = []
    for rid in r0:
        if rid not in r1:
            rules.append(RuleChange(str(rid), "removed"))
    order0 = [rid for rid in r0 if rid in r1]
    order1 = [rid for rid in r1 if rid in r0]
    for rid in r1:
        if rid not in r0:
            rules.append(RuleChange(str(rid), "added", tuple(_rule_details({}, r1[rid]))))
            continue
        changed = _rule_details(r0[rid], r1[rid])
        if changed:
            rules.append(RuleChange(str(rid), "changed", tuple(changed)))
        elif order0.index(rid) != order1.index(rid):
            rules.append(RuleChange(str(rid), "moved", (
                f"position {order0.index(rid) + 1} -> {order1.index(rid) + 1}",)))
    if old.get("examples") != new.get("examples"):
        details.append("examples changed")
    if not details and not rules:
        return None
    return TableChange(name, "changed", tuple(details), tuple(rules))


def diff_sets(before: TableSet, after: TableSet, *, before_label: str = "before",
              after_label: str = "after") -> SetDiff:
    """The rule-level difference between two loaded table sets."""
    docs0 = {t.name: _table_doc(t) for t in before.tables}
    docs1 = {t.name: _table_doc(t) for t in after.tables}
    changes: list[TableChange] = []
    for name in docs0:
        if name not in docs1:
            changes.append(TableChange(name, "removed", (f"version {docs0[name].get('version')}",)))
    for name, doc in docs1.items():
        if name not in docs0:
            rules = tuple(RuleChange(str(r.get("id")), "added")
                          for r in doc.get("rules") or [] if isinstance(r, Mapping))
            changes.append(TableChange(name, "added", (f"version {doc.get('version')}",), rules))
            continue
        change = _table_change(name, docs0[name], doc)
        if change is not None:
            changes.append(change)
    changed = before.catalogue.content_hash != after.catalogue.content_hash
    return SetDiff(before_label, after_label, tuple(changes), catalogue_changed=changed,
                   catalogue_parts=catalogue_parts(before.catalogue, after.catalogue)
                   if changed else ())


def catalogue_parts(before: Catalogue, after: Catalogue) -> tuple[str, ...]:
    """What differs between two catalogues: ``policies`` (titles, params, defaults, bounds,
    the catalogue's own sections), and each template or translation file by name."""
    def policies(c: Catalogue) -> Any:
        return ({p.id: (p.title, p.category, p.description, sorted(p.params.items()),
                        tuple(p.conflicts_with), p.template) for p in c},
                c.version, dict(c.explanations))

    out: list[str] = ["policies"] if repr(policies(before)) != repr(policies(after)) else []
    h0, h1 = template_hashes(before.root), template_hashes(after.root)
    for name in sorted(set(h0) | set(h1)):
        if h0.get(name) != h1.get(name):
            out.append(("translation " if name.endswith(".po") else "template ") + name)
    return tuple(out) or ("policies",)


def catalogue_lines(parts: tuple[str, ...]) -> list[str]:
    """The diff's lines for a changed catalogue: a translation-only change says so."""
    files = [p.split(" ", 1) for p in parts if p != "policies"]
    if files and all(kind == "translation" for kind, _ in files) and "policies" not in parts:
        return ["changed translations only (no policy, parameter or template changed): "
                + ", ".join(f"policies/{name}" for _, name in files)]
    out = []
    if "policies" in parts:
        out.append("changed policies/catalogue.yaml (policy titles, parameters, defaults or "
                   "bounds)")
    out += [f"changed {kind} policies/{name}" for kind, name in files]
    return out
