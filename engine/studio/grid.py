"""A table as the workbench shows it: rows of notation cells with their problems.

Built from the draft's documents, not from loaded tables, so a table whose
draft does not load is still shown, with each loader error at its cell.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from engine.studio.drafts import Checked
from engine.studio.locate import Problem
from engine.studio.rows import example_columns, example_row, rule_columns, rule_row
from engine.yamlfile import LocatedList, LocatedMap, plain

__all__ = ["Column", "GridExample", "GridRow", "GridTable", "TableRef", "grid", "table_body",
           "table_refs"]


@dataclass(frozen=True)
class TableRef:
    """Where a table is: its file (full name), its position in the file, its name."""

    file: str
    position: int
    name: str

    @property
    def file_name(self) -> str:
        return Path(self.file).name


@dataclass(frozen=True)
class Column:
    name: str
    part: str  # rule, when, then


@dataclass
class GridRow:
    index: int
    rule_id: str
    line: int | None
    cells: list[str]
    errors: dict[str, list[str]] = field(default_factory=dict)
    findings: list[str] = field(default_factory=list)


@dataclass
class GridExample:
    index: int
    line: int | None
    cells: list[str]
    status: str  # pass, fail, unknown
    errors: list[str] = field(default_factory=list)


@dataclass
class GridTable:
    ref: TableRef
    version: str
    hit_policy: str
    description: str
    columns: list[Column]
    rows: list[GridRow]
    example_columns: list[str]
    examples: list[GridExample]
    errors: list[str]
    findings: list[str]
    adds_policies: bool


def _bodies(doc: Any) -> list[Any]:
    if isinstance(doc, Mapping) and isinstance(doc.get("tables"), list):
        return list(doc["tables"])
    return [doc]


def table_refs(checked: Checked) -> list[TableRef]:
    """Every table of the draft's files, in file order (those that can be read)."""
    refs = []
    for file, doc in sorted(checked.docs.items()):
        if doc is None or not isinstance(doc, Mapping) or not (
                "table" in doc or "tables" in doc):
            continue
        for i, body in enumerate(_bodies(doc)):
            name = body.get("table") if isinstance(body, Mapping) else None
            refs.append(TableRef(file, i, str(name) if name else f"{Path(file).stem}-{i + 1}"))
    return refs


def table_body(checked: Checked, ref: TableRef) -> Any:
    """The document of one table of a checked draft, as read (with its lines)."""
    return _bodies(checked.docs[ref.file])[ref.position]


def grid(checked: Checked, ref: TableRef) -> GridTable:
    """The grid of one table of a checked draft."""
    body = table_body(checked, ref)
    doc = plain(body)
    inputs = [str(i) for i in doc.get("inputs") or []]
    outputs = [str(o) for o in doc.get("outputs") or []]
    rules = doc.get("rules") if isinstance(doc.get("rules"), list) else []
    rule_cols = rule_columns(doc)
    columns = [*(Column(c, "rule") for c in rule_cols), *(Column(i, "when") for i in inputs),
               *(Column(o, "then") for o in outputs)]
    located = body.get("rules") if isinstance(body, LocatedMap) else None
    rows = []
    for i, rule in enumerate(rules):
        rule = rule if isinstance(rule, dict) else {}
        line = located.line_of(i) if isinstance(located, LocatedList) else None
        cells = rule_row(rule, rule_cols, inputs, outputs)
        for k, column in enumerate(columns):
            typed = checked.typed.get((ref.file, ref.position, i, column.name))
            if typed is not None:
                cells[k] = typed
        rows.append(GridRow(i, str(rule.get("id", "")), line, cells))
    raw_examples = doc.get("examples") if isinstance(doc.get("examples"), list) else []
    given, expect = example_columns([e for e in raw_examples if isinstance(e, dict)])
    given += [i for i in inputs if i not in given]  # every input can be given a value
    expect += [o for o in outputs if o not in expect and o != "policy"]
    located_ex = body.get("examples") if isinstance(body, LocatedMap) else None
    name = str(doc.get("table", ref.name))
    examples = []
    for k, ex in enumerate(raw_examples):
        ex = ex if isinstance(ex, dict) else {}
        status = "unknown" if not checked.loads else (
            "fail" if (name, k) in checked.failing_examples else "pass")
        examples.append(GridExample(k, located_ex.line_of(k) if isinstance(
            located_ex, LocatedList) else None, example_row(ex, given, expect), status))
    table = GridTable(ref, str(doc.get("version", "")), str(doc.get("hit_policy", "")),
                      str(doc.get("description", "") or ""), columns, rows,
                      ["description", *(f"given: {g}" for g in given),
                       *(f"expect: {e}" for e in expect)], examples, [], [],
                      outputs == ["policy"])
    _attach(table, checked, name)
    return table


def _attach(table: GridTable, checked: Checked, name: str) -> None:
    by_id = {r.rule_id: r for r in table.rows}
    for p in checked.problems:
        _attach_problem(table, p)
    for f in checked.findings:
        if f.file != table.ref.file:
            continue
        if f.subject in by_id:
            by_id[f.subject].findings.append(str(f))
        elif f.subject.startswith(f"{name} example "):
            number = f.subject.rpartition(" ")[2]
            k = int(number) - 1 if number.isdigit() else -1
            if 0 <= k < len(table.examples):
                table.examples[k].errors.append(f.message)
        elif f.subject == name or f.line == (table.rows[0].line if table.rows else None):
            table.findings.append(str(f))


def _attach_problem(table: GridTable, p: Problem) -> None:
    place = p.place
    if p.error.file != table.ref.file:
        return
    if place is None or place.table != table.ref.position:
        if place is None and table.ref.position == 0:
            table.errors.append(p.text)
        return
    if place.section == "rule" and place.index is not None and place.index < len(table.rows):
        row = table.rows[place.index]
        column = place.column or "id"
        if column not in {c.name for c in table.columns}:
            column = "policy" if table.adds_policies and column == "then" else "id"
        row.errors.setdefault(column, []).append(p.text)
    elif place.section == "example" and place.index is not None \
            and place.index < len(table.examples):
        table.examples[place.index].errors.append(p.text)
        table.examples[place.index].status = "fail"
    else:
        table.errors.append(p.text)
