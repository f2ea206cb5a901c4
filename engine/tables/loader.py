"""Load a folder of decision tables: every problem named at file:line, or a new TableSet.

Loading is a pure function. It reads every ``*.yaml`` table file, checks each
table against the field vocabulary and the policy catalogue, checks the set
as a whole (unique names and rule ids, one table per output field, every
input provided, no cycle) and orders the tables so that a table reading a
field runs after the one that sets it. All problems of all files are
gathered; if there is any, ``TableSetError`` lists them and nothing is
returned, so a service keeps the set it already had.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Any

from engine.conditions import parse_condition, value_problem
from engine.errors import TableError, TableSetError, YamlFileError, closest
from engine.policies import Catalogue
from engine.records import FieldSpec, grade_scale, vocabulary
from engine.scale import declared_grades
from engine.tables.model import (
    HIT_POLICIES,
    POLICY_OUTPUT,
    Example,
    FieldRef,
    PolicyAction,
    Rule,
    Table,
)
from engine.yamlfile import LocatedList, LocatedMap, parse_yaml, read_yaml

__all__ = ["TABLE_KEYS", "RULE_KEYS", "load_tables", "load_texts", "order_tables",
           "parse_document"]

TABLE_KEYS = ("table", "version", "description", "hit_policy", "inputs", "outputs", "rules",
              "examples")
RULE_KEYS = ("id", "description", "source", "when", "then", "priority")
EXAMPLE_KEYS = ("description", "given", "expect")
_NAME = re.compile(r"^[a-z][a-z0-9-]{0,63}$")
_RULE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,79}$")
_FIELD_HIT = ("unique", "first", "priority", "any")


class _Errors:
    """Collects problems of one file, each as a ``TableError``."""

    def __init__(self, file: str) -> None:
        self.file = file
        self.items: list[TableError] = []

    def add(self, message: str, line: int | None, rule_id: str | None = None,
            suggestion: str | None = None) -> None:
        self.items.append(TableError(message, file=self.file, line=line, rule_id=rule_id,
                                     suggestion=suggestion))


def _parse_all(sources: Iterable[tuple[str, Callable[[], Any]]], catalogue: Catalogue
               ) -> tuple[list[Table], list[TableError]]:
    """Parse each ``(file name, read)`` source's tables; a file that cannot be read is an error."""
    tables: list[Table] = []
    errors: list[TableError] = []
    docs: list[tuple[str, Any]] = []
    for name, read in sources:
        try:
            doc = read()
        except YamlFileError as exc:
            errors.append(TableError(exc.reason, file=name, line=exc.line))
            continue
        if doc is None:
            errors.append(_empty(name))
            continue
        docs.append((name, doc))
    with grade_scale(declared_grades(doc for _, doc in docs)):
        for name, doc in docs:
            found, problems = parse_document(doc, name, catalogue)
            tables += found
            errors += problems
    return tables, errors


def load_tables(rules_dir: Path, catalogue: Catalogue) -> tuple[list[Table], list[TableError]]:
    """Parse every table file in ``rules_dir``; return the tables and all problems found."""
    if not rules_dir.is_dir():
        return [], [TableError("not a folder of rule files", file=str(rules_dir))]
    files = sorted(p for p in rules_dir.iterdir() if p.suffix in (".yaml", ".yml")
                   and p.is_file())
    tables, errors = _parse_all(((str(p), lambda p=p: read_yaml(p)) for p in files), catalogue)
    if not files:
        errors.append(TableError("no *.yaml table files in this folder", file=str(rules_dir)))
    return tables, errors


def _empty(file: str) -> TableError:
    return TableError("file is empty: a table needs at least table:, version:, hit_policy:, "
                      "inputs:, outputs: and rules:", file=file, line=1)


def is_table_document(doc: Any) -> bool:
    """Whether a YAML document is meant as decision tables (other rule files are skipped)."""
    if not isinstance(doc, dict):
        return True
    return any(k in doc for k in ("table", "tables", "hit_policy", "inputs", "outputs"))


def parse_document(doc: Any, file: str, catalogue: Catalogue
                   ) -> tuple[list[Table], list[TableError]]:
    """Parse one file's document: a single table or ``tables:`` holding several."""
    errs = _Errors(file)
    if not is_table_document(doc):
        return [], []
    if not isinstance(doc, LocatedMap):
        errs.add("a table file must be a mapping with table:, version:, hit_policy:, inputs:, "
                 "outputs: and rules:", getattr(doc, "line", 1))
        return [], errs.items
    if "tables" in doc:
        extra = [k for k in doc if k != "tables"]
        if extra:
            errs.add(f"unknown key '{extra[0]}' next to 'tables:' (each table carries its own "
                     "keys)", doc.line_of(extra[0]))
        raw = doc["tables"]
        if not isinstance(raw, LocatedList) or not raw:
            errs.add("'tables:' must be a non-empty list of tables", doc.line_of("tables"))
            return [], errs.items
        docs = [(item, raw.line_of(i)) for i, item in enumerate(raw)]
    else:
        docs = [(doc, doc.line)]
    tables = []
    for item, line in docs:
        table = _table(item, line, errs, catalogue)
        if table is not None:
            tables.append(table)
    return tables, errs.items


def _table(doc: Any, line: int, errs: _Errors, catalogue: Catalogue) -> Table | None:
    if not isinstance(doc, LocatedMap):
        errs.add("a table must be a mapping", line)
        return None
    before = len(errs.items)
    for key in doc:
        if key not in TABLE_KEYS:
            errs.add(f"unknown key '{key}' in a table (allowed: {', '.join(TABLE_KEYS)})",
                     doc.line_of(key), suggestion=closest(key, TABLE_KEYS))
    for key in ("table", "version", "hit_policy", "inputs", "outputs", "rules"):
        if key not in doc:
            errs.add(f"the table has no '{key}:'", line)
    if len(errs.items) > before:
        return None
    name = doc["table"]
    if not isinstance(name, str) or not _NAME.match(name):
        errs.add(f"table name {name!r} must be lower-case letters, digits and '-'",
                 doc.line_of("table"))
        name = str(name)
    version = doc["version"]
    if not isinstance(version, str) or not version.strip():
        errs.add(f"version {version!r} must be text; quote it: version: \"{version}\"",
                 doc.line_of("version"))
    hit = doc["hit_policy"]
    if hit not in HIT_POLICIES:
        errs.add(f"unknown hit_policy {hit!r} (use one of {', '.join(HIT_POLICIES)})",
                 doc.line_of("hit_policy"), suggestion=closest(hit, HIT_POLICIES))
    vocab = vocabulary()
    inputs = _names(doc, "inputs", errs, vocab, allow_policy=False)
    outputs = _names(doc, "outputs", errs, vocab, allow_policy=True)
    adds_policies = POLICY_OUTPUT in outputs
    if adds_policies and len(outputs) > 1:
        errs.add("'outputs:' is either [policy] or a list of fields, not both",
                 doc.line_of("outputs"))
    if not adds_policies and hit in ("collect", "rule_order"):
        errs.add(f"hit_policy {hit} gives several results, so it can only add policies; a "
                 "table that sets fields uses unique, first, priority or any",
                 doc.line_of("hit_policy"))
    for out in outputs:
        if out in inputs:
            errs.add(f"'{out}' is both an input and an output of the table",
                     doc.line_of("outputs"))
    raw_rules = doc["rules"]
    rules: list[Rule] = []
    if not isinstance(raw_rules, LocatedList) or not raw_rules:
        errs.add("'rules:' must be a non-empty list", doc.line_of("rules"))
    else:
        seen: dict[str, int] = {}
        for i, raw in enumerate(raw_rules):
            rule = _rule(raw, raw_rules.line_of(i), i, name, hit, inputs, outputs, errs,
                         catalogue)
            if rule is None:
                continue
            if rule.id in seen:
                errs.add(f"duplicate rule id (first used at line {seen[rule.id]})", rule.line,
                         rule.id)
            seen.setdefault(rule.id, rule.line)
            rules.append(rule)
    examples = _examples(doc, inputs, outputs, rules, errs, catalogue)
    if len(errs.items) > before:
        return None
    return Table(name=name, version=version.strip(), hit_policy=hit, inputs=tuple(inputs),
                 outputs=tuple(outputs), rules=tuple(rules), examples=tuple(examples),
                 file=errs.file, line=line, description=" ".join(str(
                     doc.get("description", "")).split()),
                 canonical=MappingProxyType({"file": Path(errs.file).name,
                                             "table": _plain(doc)}))


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def _names(doc: LocatedMap, key: str, errs: _Errors, vocab: Mapping[str, FieldSpec],
           allow_policy: bool) -> list[str]:
    raw = doc[key]
    if not isinstance(raw, list) or not raw:
        errs.add(f"'{key}:' must be a non-empty list of field names", doc.line_of(key))
        return []
    known = [*vocab, POLICY_OUTPUT] if allow_policy else list(vocab)
    out = []
    for i, name in enumerate(raw):
        at = raw.line_of(i) if isinstance(raw, LocatedList) else doc.line_of(key)
        if name not in known:
            errs.add(f"unknown field '{name}' in {key}:", at, suggestion=closest(name, known))
        elif name in out:
            errs.add(f"field '{name}' is listed twice in {key}:", at)
        else:
            out.append(name)
    return out


def _rule(raw: Any, line: int, index: int, table: str, hit: str, inputs: list[str],
          outputs: list[str], errs: _Errors, catalogue: Catalogue) -> Rule | None:
    if not isinstance(raw, LocatedMap):
        errs.add("a rule must be a mapping with id:, description:, when: and then:", line)
        return None
    rid = raw.get("id")
    before = len(errs.items)
    if not isinstance(rid, str) or not _RULE_ID.match(rid):
        errs.add(f"rule id {rid!r} must be text of letters, digits, '-', '_' or '.'",
                 line)
        rid = None
    for key in raw:
        if key not in RULE_KEYS:
            errs.add(f"unknown key '{key}' in a rule (allowed: {', '.join(RULE_KEYS)})",
                     raw.line_of(key), rid, closest(key, RULE_KEYS))
    if not isinstance(raw.get("description"), str) or not raw["description"].strip():
        errs.add("'description:' is required: say in a sentence what the rule does", line, rid)
    source = raw.get("source", "")
    if not isinstance(source, str):
        errs.add("'source:' must be text", raw.line_of("source"), rid)
    priority = raw.get("priority", 0)
    if "priority" in raw and hit != "priority":
        errs.add(f"'priority:' only counts under hit_policy priority (this table is {hit})",
                 raw.line_of("priority"), rid)
    if isinstance(priority, bool) or not isinstance(priority, int):
        errs.add(f"'priority:' must be a whole number, not {priority!r}",
                 raw.line_of("priority"), rid)
        priority = 0
    conditions = _when(raw, rid, inputs, errs)
    sets, policies = _then(raw, line, rid, inputs, outputs, errs, catalogue)
    if len(errs.items) > before or rid is None:
        return None
    return Rule(id=rid, description=" ".join(raw["description"].split()),
                source=str(source), when=tuple(conditions), sets=tuple(sets),
                policies=tuple(policies), priority=priority, file=errs.file, line=line,
                index=index)


def _when(raw: LocatedMap, rid: str | None, inputs: list[str], errs: _Errors) -> list:
    when = raw.get("when")
    if when is None:
        return []
    if not isinstance(when, LocatedMap):
        errs.add("'when:' must map field names to conditions", raw.line_of("when"), rid)
        return []
    vocab = vocabulary()
    conditions = []
    for field_name, spec_raw in when.items():
        at = when.line_of(field_name)
        spec = vocab.get(field_name)
        if spec is None:
            errs.add(f"unknown field '{field_name}'", at, rid, closest(field_name, vocab))
            continue
        listed = field_name in inputs
        if not listed:
            errs.add(f"field '{field_name}' is not among the table's inputs: add it to "
                     "'inputs:'", at, rid)

        def report(msg: str, line: int, hint: str | None, _rid: str | None = rid) -> None:
            errs.add(msg, line, _rid, hint)

        key_line = spec_raw.line_of if isinstance(spec_raw, LocatedMap) else None
        parsed = parse_condition(spec, spec_raw, at, report, key_line)
        if listed:
            conditions += parsed
    return conditions


def _then(raw: LocatedMap, line: int, rid: str | None, inputs: list[str], outputs: list[str],
          errs: _Errors, catalogue: Catalogue) -> tuple[list, list]:
    then = raw.get("then")
    at = raw.line_of("then") if "then" in raw else line
    if then is None or then == [] or then == {}:
        errs.add("'then:' is required: the policies the rule adds or the fields it sets",
                 at, rid)
        return [], []
    if POLICY_OUTPUT in outputs:
        items = then if isinstance(then, list) else [then]
        policies = []
        for i, item in enumerate(items):
            item_line = then.line_of(i) if isinstance(then, LocatedList) else at
            action = _policy_action(item, item_line, rid, errs, catalogue)
            if action:
                policies.append(action)
        return [], policies
    if not isinstance(then, LocatedMap):
        errs.add("'then:' must map output fields to values (this table sets "
                 + ", ".join(outputs) + ")", at, rid)
        return [], []
    vocab = vocabulary()
    sets = []
    for name, value in then.items():
        vline = then.line_of(name)
        if name not in outputs:
            errs.add(f"'{name}' is not an output of this table (outputs: "
                     + ", ".join(outputs) + ")", vline, rid, closest(name, outputs))
            continue
        spec = vocab[name]
        if isinstance(value, dict):
            ref = value.get("from") if list(value) == ["from"] else None
            if ref is None:
                errs.add(f"'{name}': a set value is a plain value or {{from: <input field>}}",
                         vline, rid)
            elif ref not in inputs:
                errs.add(f"'{name}': from '{ref}' must name one of the table's inputs",
                         vline, rid, closest(ref, inputs))
            elif vocab[ref].kind != spec.kind or (
                    spec.choices and not set(vocab[ref].choices or ()) <= set(spec.choices)):
                errs.add(f"'{name}' cannot take the value of '{ref}': they hold different "
                         "kinds of values", vline, rid)
            else:
                sets.append((name, FieldRef(ref)))
            continue
        problem = value_problem(spec, value)
        if problem:
            errs.add(problem[0], vline, rid, problem[1])
            continue
        sets.append((name, value))
    return sets, []


def _policy_action(item: Any, line: int, rid: str | None, errs: _Errors,
                   catalogue: Catalogue) -> PolicyAction | None:
    if isinstance(item, str):
        item = {"policy": item}
    if not isinstance(item, dict) or "policy" not in item:
        errs.add("each 'then:' item is {policy: <id>, params: {...}}", line, rid)
        return None
    for key in item:
        if key not in ("policy", "params"):
            errs.add(f"unknown key '{key}' in a policy item (allowed: policy, params)", line,
                     rid, closest(key, ("policy", "params")))
            return None
    pid = item["policy"]
    if pid not in catalogue:
        errs.add(f"policy '{pid}' is not in the catalogue ({catalogue.file})", line, rid,
                 catalogue.suggest(str(pid)))
        return None
    policy = catalogue[pid]
    params = item.get("params") or {}
    if not isinstance(params, dict):
        errs.add(f"policy '{pid}': 'params:' must be a mapping", line, rid)
        return None
    ok = True
    for name, value in params.items():
        pline = params.line_of(name) if isinstance(params, LocatedMap) else line
        spec = policy.params.get(name)
        if spec is None:
            known = list(policy.params)
            errs.add(f"policy '{pid}' has no param '{name}' (params: "
                     + (", ".join(known) or "none") + ")", pline, rid, closest(name, known))
            ok = False
            continue
        problem = spec.problem(value)
        if problem:
            errs.add(f"policy '{pid}' param '{name}': {problem}", pline, rid)
            ok = False
    if not ok:
        return None
    plain = dict(params)
    return PolicyAction(pid, MappingProxyType(plain),
                        MappingProxyType(catalogue.merged_params(pid, plain)), line)


def _examples(doc: LocatedMap, inputs: list[str], outputs: list[str], rules: list[Rule],
              errs: _Errors, catalogue: Catalogue) -> list[Example]:
    raw = doc.get("examples")
    if raw is None:
        return []
    if not isinstance(raw, LocatedList):
        errs.add("'examples:' must be a list of {given: ..., expect: ...}",
                 doc.line_of("examples"))
        return []
    vocab = vocabulary()
    rule_ids = {r.id for r in rules}
    readable = set(inputs) | {r_.field for r in rules for _, r_ in r.sets
                              if isinstance(r_, FieldRef)}
    out = []
    for i, item in enumerate(raw):
        line = raw.line_of(i)
        if not isinstance(item, LocatedMap) or "given" not in item or "expect" not in item:
            errs.add("an example needs 'given:' and 'expect:'", line)
            continue
        bad = [k for k in item if k not in EXAMPLE_KEYS]
        for key in bad:
            errs.add(f"unknown key '{key}' in an example", item.line_of(key),
                     suggestion=closest(key, EXAMPLE_KEYS))
        given, expect = item["given"], item["expect"]
        if not isinstance(given, dict) or not isinstance(expect, dict):
            errs.add("'given:' and 'expect:' must be mappings", line)
            continue
        ok = not bad
        for name, value in given.items():
            if name not in readable:
                errs.add(f"example gives '{name}', which the table does not read",
                         given.line_of(name), suggestion=closest(name, readable))  # type: ignore
                ok = False
            elif value is not None and (p := value_problem(vocab[name], value)):
                errs.add("example: " + p[0], given.line_of(name), suggestion=p[1])  # type: ignore
                ok = False
        for name, value in expect.items():
            eline = expect.line_of(name)  # type: ignore[attr-defined]
            if name == "rules":
                unknown = [r for r in (value or []) if r not in rule_ids]
                if not isinstance(value, list) or unknown:
                    errs.add(f"example expects rules {unknown or value!r} the table lacks",
                             eline, suggestion=closest(unknown[0], rule_ids) if unknown else None)
                    ok = False
            elif name == POLICY_OUTPUT and POLICY_OUTPUT in outputs:
                unknown = [p for p in (value or []) if p not in catalogue]
                if not isinstance(value, list) or unknown:
                    errs.add(f"example expects unknown policies {unknown or value!r}", eline,
                             suggestion=catalogue.suggest(unknown[0]) if unknown else None)
                    ok = False
            elif name not in outputs:
                errs.add(f"example expects '{name}', which is not an output of the table "
                         "(or 'rules')", eline, suggestion=closest(name, [*outputs, "rules"]))
                ok = False
            elif value is not None and (p := value_problem(vocab[name], value)):
                errs.add("example: " + p[0], eline, suggestion=p[1])
                ok = False
        if ok:
            out.append(Example(MappingProxyType(dict(given)), MappingProxyType(dict(expect)),
                               line, str(item.get("description", ""))))
    return out


def check_set(tables: list[Table]) -> list[TableError]:
    """Problems of the set as a whole: names, rule ids, providers of every input."""
    errors = []
    names: dict[str, Table] = {}
    for t in tables:
        if t.name in names:
            errors.append(TableError(f"table name '{t.name}' is already used in "
                                     f"{names[t.name].file}:{names[t.name].line}",
                                     file=t.file, line=t.line))
        names.setdefault(t.name, t)
    rule_ids: dict[str, Rule] = {}
    for t in tables:
        for r in t.rules:
            if r.id in rule_ids and rule_ids[r.id] is not r:
                first = rule_ids[r.id]
                if first.file != r.file or first.line != r.line:
                    errors.append(TableError(f"duplicate rule id (also used at "
                                             f"{first.location})", file=r.file, line=r.line,
                                             rule_id=r.id))
            rule_ids.setdefault(r.id, r)
    setters: dict[str, Table] = {}
    for t in tables:
        for out in t.outputs:
            if out == POLICY_OUTPUT:
                continue
            if out in setters:
                other = setters[out]
                errors.append(TableError(
                    f"tables '{other.name}' ({other.file}:{other.line}) and '{t.name}' both set "
                    f"'{out}': one field has one table", file=t.file, line=t.line))
            setters.setdefault(out, t)
    vocab = vocabulary()
    for t in tables:
        for name in t.reads:
            if vocab[name].group == "tables" and name not in setters:
                errors.append(TableError(
                    f"table '{t.name}' reads '{name}', which no table sets", file=t.file,
                    line=t.line))
    return errors


def order_tables(tables: list[Table]) -> tuple[list[Table], list[TableError]]:
    """Tables in execution order (setters before readers); a cycle is an error."""
    setter = {o: t.name for t in tables for o in t.outputs if o != POLICY_OUTPUT}
    deps = {t.name: {setter[f] for f in t.reads if f in setter and setter[f] != t.name}
            for t in tables}
    by_name = {t.name: t for t in tables}
    ordered: list[Table] = []
    done: set[str] = set()
    pending = [t.name for t in tables]
    while pending:
        ready = [n for n in pending if deps[n] <= done]
        if not ready:
            cycle = _cycle(deps, pending)
            first = by_name[cycle[0]]
            return [], [TableError("tables depend on each other in a cycle: "
                                   + " -> ".join(cycle + [cycle[0]])
                                   + " (each reads a field the next sets)",
                                   file=first.file, line=first.line)]
        for n in ready:
            ordered.append(by_name[n])
            done.add(n)
        pending = [n for n in pending if n not in done]
    return ordered, []


def _cycle(deps: dict[str, set[str]], pending: list[str]) -> list[str]:
    node = pending[0]
    path: list[str] = []
    while node not in path:
        path.append(node)
        node = sorted(d for d in deps[node] if d in pending)[0]
    return path[path.index(node):][::-1]


def build(rules_dir: Path, catalogue: Catalogue) -> list[Table]:
    """Tables of a folder in execution order, or ``TableSetError`` with every problem."""
    tables, errors = load_tables(rules_dir, catalogue)
    if not errors:
        errors = check_set(tables)
    if not errors:
        tables, errors = order_tables(tables)
    if errors:
        raise TableSetError(errors)
    return tables


def load_texts(texts: Mapping[str, str], catalogue: Catalogue) -> tuple[list[Table],
                                                                         list[TableError]]:
    """Tables from file texts held in memory (``{file name: YAML text}``), in execution order.

    The same checks as loading a folder, for text not yet written: a draft in
    the workbench, a workbook being imported. Returns every problem found.
    """
    tables, errors = _parse_all(
        ((name, lambda n=name, t=text: parse_yaml(t, n)) for name, text in texts.items()),
        catalogue)
    if not errors:
        errors = check_set(tables)
    if not errors:
        tables, errors = order_tables(tables)
    return tables, errors
