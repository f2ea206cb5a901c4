"""What changed between two table sets, said in plain words in the page's language.

``rules diff`` speaks the tables' YAML; the workbench's history says the same
changes as policy staff read them: "rule `residential-large`: monthly_kwh
threshold 1,500 → 1,600", a policy parameter's old and new value, examples
added, removed or changed field by field, rules added, removed or moved, and
each table's new version.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from engine.studio.labels import label
from engine.studio.notation import ABSENT, format_condition
from engine.tables import TableSet

__all__ = ["plain_diff", "shown"]

_OPS = ("gt", "ge", "lt", "le")


def shown(value: Any) -> str:
    """A value as the page writes it: numbers with thousands separators, lists joined."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:,.12g}" if abs(value) < 1e15 else repr(value)
    if isinstance(value, list | tuple):
        return ", ".join(shown(v) for v in value) or "—"
    if value is None or value is ABSENT:
        return "—"
    return str(value)


def _condition(raw: Any) -> str:
    return format_condition(raw) if raw is not ABSENT else "—"


def _threshold(old: Any, new: Any) -> tuple[Any, Any] | None:
    if isinstance(old, Mapping) and isinstance(new, Mapping) and len(old) == 1 \
            and old.keys() == new.keys() and next(iter(old)) in _OPS:
        op = next(iter(old))
        return old[op], new[op]
    return None


def _policies(then: Any) -> dict[str, dict[str, Any]]:
    if not isinstance(then, list):
        return {}
    return {str(a["policy"]): dict(a.get("params") or {}) for a in then
            if isinstance(a, Mapping) and "policy" in a}


def _rule_lines(rule_id: str, old: Mapping[str, Any], new: Mapping[str, Any],
                tag: str) -> list[str]:
    out = []
    w0, w1 = dict(old.get("when") or {}), dict(new.get("when") or {})
    for field in dict.fromkeys([*w0, *w1]):
        a, b = w0.get(field, ABSENT), w1.get(field, ABSENT)
        if a == b:
            continue
        edge = _threshold(a, b)
        if edge is not None:
            out.append(label("diff.threshold", tag, rule=rule_id, field=field,
                             old=shown(edge[0]), new=shown(edge[1])))
        else:
            out.append(label("diff.condition", tag, rule=rule_id, field=field,
                             old=_condition(a), new=_condition(b)))
    t0, t1 = old.get("then"), new.get("then")
    if isinstance(t0, list) or isinstance(t1, list):
        p0, p1 = _policies(t0), _policies(t1)
        if list(p0) != list(p1):
            out.append(label("diff.policies", tag, rule=rule_id, old=shown(list(p0)),
                             new=shown(list(p1))))
        for pid in (p for p in p1 if p in p0):
            for param in dict.fromkeys([*p0[pid], *p1[pid]]):
                a, b = p0[pid].get(param, ABSENT), p1[pid].get(param, ABSENT)
                if a != b:
                    out.append(label("diff.param", tag, rule=rule_id, policy=pid, param=param,
                                     old=shown(a), new=shown(b)))
    elif t0 != t1:
        d0 = dict(t0) if isinstance(t0, Mapping) else {}
        d1 = dict(t1) if isinstance(t1, Mapping) else {}
        for field in dict.fromkeys([*d0, *d1]):
            if d0.get(field, ABSENT) != d1.get(field, ABSENT):
                out.append(label("diff.output", tag, rule=rule_id, field=field,
                                 old=shown(d0.get(field, ABSENT)),
                                 new=shown(d1.get(field, ABSENT))))
    for key in ("description", "source", "priority"):
        if old.get(key) != new.get(key):
            out.append(label("diff.text", tag, rule=rule_id, field=key))
    return out


def _example_lines(table: str, old: list[Any], new: list[Any], tag: str) -> list[str]:
    out = []
    for k in range(max(len(old), len(new))):
        if k >= len(old):
            out.append(label("diff.example_added", tag, table=table, num=k + 1))
        elif k >= len(new):
            out.append(label("diff.example_removed", tag, table=table, num=k + 1))
        elif old[k] != new[k]:
            for part in ("given", "expect"):
                a = dict(old[k].get(part) or {}) if isinstance(old[k], Mapping) else {}
                b = dict(new[k].get(part) or {}) if isinstance(new[k], Mapping) else {}
                for field in dict.fromkeys([*a, *b]):
                    if a.get(field, ABSENT) != b.get(field, ABSENT):
                        out.append(label("diff.example", tag, table=table, num=k + 1,
                                         field=f"{part} {field}",
                                         old=shown(a.get(field, ABSENT)),
                                         new=shown(b.get(field, ABSENT))))
    return out


def _table_lines(name: str, old: Mapping[str, Any], new: Mapping[str, Any],
                 tag: str) -> list[str]:
    out = []
    if old.get("version") != new.get("version"):
        out.append(label("diff.version", tag, table=name, old=shown(old.get("version")),
                         new=shown(new.get("version"))))
    r0 = {str(r.get("id")): r for r in old.get("rules") or [] if isinstance(r, Mapping)}
    r1 = {str(r.get("id")): r for r in new.get("rules") or [] if isinstance(r, Mapping)}
    out += [label("diff.removed", tag, table=name, rule=rid) for rid in r0 if rid not in r1]
    kept0 = [rid for rid in r0 if rid in r1]
    kept1 = [rid for rid in r1 if rid in r0]
    for rid, rule in r1.items():
        if rid not in r0:
            out.append(label("diff.added", tag, table=name, rule=rid))
            continue
        changed = _rule_lines(rid, r0[rid], rule, tag)
        out += changed
        if not changed and kept0.index(rid) != kept1.index(rid):
            out.append(label("diff.moved", tag, table=name, rule=rid,
                             old=kept0.index(rid) + 1, new=kept1.index(rid) + 1))
    out += _example_lines(name, list(old.get("examples") or []),
                          list(new.get("examples") or []), tag)
    return out


def plain_diff(before: TableSet | None, after: TableSet, tag: str = "en") -> list[str]:
    """Every change from ``before`` to ``after`` as sentences (``before`` None: the first)."""
    if before is None:
        return [label("diff.first", tag, num=len(after.tables))]
    docs0 = {t.name: dict(t.canonical.get("table", {})) for t in before.tables}
    docs1 = {t.name: dict(t.canonical.get("table", {})) for t in after.tables}
    out = [label("diff.table_removed", tag, table=n) for n in docs0 if n not in docs1]
    for name, doc in docs1.items():
        if name not in docs0:
            out.append(label("diff.table_added", tag, table=name))
        else:
            out += _table_lines(name, docs0[name], doc, tag)
    return out or [label("diff.none", tag)]
