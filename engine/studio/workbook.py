"""Decision tables as an Excel workbook, and back, without losing anything.

``export_workbook`` writes one sheet per table laid out like the workbench
grid (one row per rule, one column per input, then the outputs or policies),
in the plain notation of ``engine.studio.notation``, an ``About`` sheet that
lists each sheet's table and file, and a ``Notation`` sheet that explains the
notation. ``read_workbook`` turns a workbook back into table files; every
value is checked by the table loader, and each problem is reported at its
``sheet!cell`` with the loader's message. Export then import gives the same
table-set content hash.

Sheet layout (rows): ``table``, ``file``, ``version``, ``hit_policy``,
``description``; a blank row; a row naming each column's part (``rule``,
``when``, ``then``, ``note``) and the header row; one row per rule; a blank
row; ``examples`` and their header and rows (``given: F``, ``expect: F``).
"""

from __future__ import annotations

import io
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

import yaml

from engine.errors import InputError, closest, did_you_mean
from engine.policies import Catalogue
from engine.records import vocabulary
from engine.studio.locate import block_text, line_paths, reason_of
from engine.studio.notation import (
    ABSENT,
    NotationError,
    format_condition,
    format_output,
    format_policies,
    format_value,
    parse_condition,
    parse_output,
    parse_policies,
    parse_value,
)
from engine.tables import TableSet
from engine.tables.loader import load_texts

__all__ = ["MAX_WORKBOOK_BYTES", "WorkbookError", "export_workbook", "read_workbook",
           "table_texts", "write_tables"]

MAX_WORKBOOK_BYTES = 5_000_000
ABOUT, NOTATION, OTHER = "About", "Notation", "Other files"
META = ("table", "file", "version", "hit_policy", "description")
RULE_COLUMNS = ("id", "description", "source", "priority")
NOTE_COLUMN = "at (file:line)"
EMPTY_WHEN = " · when: {}"
_HEADER_ROW = 6

NOTATION_ROWS = (
    ("written", "means", "YAML"),
    ("(empty)", "no condition on this field", "(key absent)"),
    ("residential", "equals", "residential"),
    ("AAA, AA", "one of", "[AAA, AA]"),
    ("[AA]", "a list of one value", "[AA]"),
    ("< 0.015", "less than", "{lt: 0.015}"),
    ("≤ 30", "at most (also <=)", "{le: 30}"),
    ("> 1500", "more than", "{gt: 1500}"),
    ("≥ 30", "at least (also >=)", "{ge: 30}"),
    ("= 30", "equals (operator form)", "{eq: 30}"),
    ("not residential", "anything but", "{ne: residential}"),
    ("not AAA, AA", "none of", "{not_in: [AAA, AA]}"),
    ("in AAA, AA", "one of (operator form)", "{in: [AAA, AA]}"),
    ("≥ 0.015 and < 0.03", "both conditions", "{ge: 0.015, lt: 0.03}"),
    ("from previous_grade", "an output copying an input", "{from: previous_grade}"),
    ("security_deposit(months=3)", "a policy with params, one per line", "policy: ..."),
    ("true / false", "yes or no fields", "true / false"),
    ("when: {} (in the note column)", "a rule written with an empty when:", "when: {}"),
    ("{lt: 0.015}", "any YAML flow value, as in the file", "{lt: 0.015}"),
)
NOTATION_NOTES = (
    "Each table sheet keeps its table's name; do not rename sheets, merge cells or use "
    "formulas: type values.",
    "Numbers are typed as written: 30 is a whole number, 30.0 a decimal.",
    "Rows: one rule each, in order (for hit_policy first the order decides). Columns under "
    "'when' are the table's inputs, under 'then' its outputs or policies.",
    "Import checks the workbook with the same loader as gridcredit rules check and names "
    "each problem as sheet!cell.",
)


class WorkbookError(InputError):
    """A workbook cannot become tables; ``problems`` are ``sheet!cell: message`` lines."""

    code = "invalid_workbook"

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = list(problems)

    def details(self) -> list[dict[str, Any]]:
        return [{"message": p} for p in self.problems]


# --------------------------------------------------------------------------- export

def _header_comment(path: Path) -> str:
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError:
        return ""
    head = []
    for line in lines:
        if not line.startswith("#"):
            break
        head.append(line)
    return "\n".join(head)


def other_files(rules_dir: Path) -> dict[str, str]:
    """The rule files of a folder that hold no decision tables (the event rules), as text."""
    from engine.errors import YamlFileError
    from engine.tables.loader import is_table_document
    from engine.yamlfile import read_yaml

    out = {}
    for path in sorted(rules_dir.glob("*.y*ml")):
        try:
            doc = read_yaml(path)
        except YamlFileError:
            continue
        if doc is not None and not is_table_document(doc):
            out[path.name] = path.read_text(encoding="utf-8")
    return out


def export_workbook(table_set: TableSet, out: str | Path | BinaryIO,
                    rules_dir: Path | None = None) -> None:
    """Write ``table_set`` as a workbook (a path or a binary stream).

    The folder's other rule files (the event rules, which are part of the
    set's content hash) travel verbatim on the ``Other files`` sheet.
    """
    from openpyxl import Workbook
    from openpyxl.styles import Alignment, Font, PatternFill

    wb = Workbook()
    about = wb.active
    about.title = ABOUT
    about.append(["gridcredit decision tables"])
    about.append(["table set", table_set.version])
    about.append(["content hash", table_set.content_hash])
    about.append([])
    about.append(["sheet", "table", "file", "file header"])
    bold = Font(bold=True)
    for cell in about[5]:
        cell.font = bold
    by_file: dict[str, list[Any]] = {}
    for t in table_set.tables:
        by_file.setdefault(t.file, []).append(t)
    for file, tables in by_file.items():
        comment = _header_comment(Path(file))
        for t in sorted(tables, key=lambda t: t.line):
            name = _sheet_name(t.name)
            about.append([name, t.name, Path(file).name, comment])
            _table_sheet(wb.create_sheet(name), t, bold, PatternFill("solid",
                                                                    fgColor="E8EEF7"))
    _notation_sheet(wb.create_sheet(NOTATION), bold)
    folder = rules_dir or (Path(table_set.tables[0].file).parent if table_set.tables else None)
    others = wb.create_sheet(OTHER)
    others.append(["file", "text (copied verbatim; edit these files as YAML)"])
    for cell in others[1]:
        cell.font = bold
    for name, text in (other_files(folder) if folder else {}).items():
        others.append([name, text])
    others.column_dimensions["A"].width = 20
    others.column_dimensions["B"].width = 100
    for ws in wb.worksheets:
        for row in ws.iter_rows():
            for cell in row:
                if isinstance(cell.value, str):
                    cell.data_type = "s"
                    cell.alignment = Alignment(wrap_text="\n" in cell.value, vertical="top")
    wb.save(out)


def _sheet_name(table: str) -> str:
    return table[:31]


def _table_sheet(ws: Any, t: Any, bold: Any, fill: Any) -> None:
    doc = t.canonical["table"]
    for key in META:
        value = Path(t.file).name if key == "file" else doc.get(key, ABSENT)
        ws.append([key, "" if value is ABSENT else str(value)])
        ws.cell(ws.max_row, 1).font = bold
    rules = doc["rules"]
    priority = any("priority" in r for r in rules) or doc.get("hit_policy") == "priority"
    rule_cols = [c for c in RULE_COLUMNS if c != "priority" or priority]
    outputs = doc["outputs"]
    ws.append([])
    ws.append([*["rule"] * len(rule_cols), *["when"] * len(doc["inputs"]),
               *["then"] * len(outputs), "note"])
    ws.append([*rule_cols, *doc["inputs"], *outputs, NOTE_COLUMN])
    for cell in (*ws[ws.max_row - 1], *ws[ws.max_row]):
        cell.font = bold
        cell.fill = fill
    for rule, row in zip(rules, t.rules, strict=True):
        note = f"{Path(row.file).name}:{row.line}"
        ws.append(rule_row(rule, rule_cols, doc["inputs"], outputs)
                  + [note + EMPTY_WHEN if rule.get("when", ABSENT) == {} else note])
    examples = doc.get("examples")
    if examples is not None:
        given, expect = example_columns(examples)
        ws.append([])
        ws.append(["examples"])
        ws.cell(ws.max_row, 1).font = bold
        ws.append(["description", *(f"given: {g}" for g in given),
                   *(f"expect: {e}" for e in expect)])
        for cell in ws[ws.max_row]:
            cell.font = bold
            cell.fill = fill
        for ex in examples:
            ws.append(example_row(ex, given, expect))
    ws.freeze_panes = ws.cell(_HEADER_ROW + 3, 2)
    for i, width in enumerate((22, 48, 28), start=1):
        ws.column_dimensions[ws.cell(1, i).column_letter].width = width


def rule_row(rule: Mapping[str, Any], rule_cols: list[str], inputs: list[str],
             outputs: list[str]) -> list[str]:
    """One rule as grid cells: rule columns, one condition per input, the outputs."""
    when = rule.get("when") or {}
    then = rule.get("then", ABSENT)
    cells = []
    for c in rule_cols:
        value = rule.get(c, ABSENT)
        cells.append("" if value is ABSENT else format_value(value) if c == "priority"
                     else str(value))
    cells += [format_condition(when.get(i, ABSENT)) if isinstance(when, Mapping) else ""
              for i in inputs]
    if outputs == ["policy"]:
        cells.append(format_policies(then))
    else:
        cells += [format_output(then.get(o, ABSENT)) if isinstance(then, Mapping) else ""
                  for o in outputs]
    return cells


def example_columns(examples: list[Any]) -> tuple[list[str], list[str]]:
    given: dict[str, None] = {}
    expect: dict[str, None] = {}
    for ex in examples:
        given.update(dict.fromkeys(ex.get("given") or {}))
        expect.update(dict.fromkeys(ex.get("expect") or {}))
    return list(given), list(expect)


def example_row(ex: Mapping[str, Any], given: list[str], expect: list[str]) -> list[str]:
    g, e = ex.get("given") or {}, ex.get("expect") or {}
    return [str(ex.get("description", "")),
            *(format_value(g[k]) if k in g else "" for k in given),
            *(format_value(e[k]) if k in e else "" for k in expect)]


def _notation_sheet(ws: Any, bold: Any) -> None:
    for row in NOTATION_ROWS:
        ws.append(list(row))
    for cell in ws[1]:
        cell.font = bold
    ws.append([])
    for note in NOTATION_NOTES:
        ws.append([note])
    for letter, width in (("A", 30), ("B", 36), ("C", 28)):
        ws.column_dimensions[letter].width = width


# --------------------------------------------------------------------------- import

@dataclass
class _Reading:
    """What the sheets say: each file's documents, and the cell behind each document path."""

    files: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)
    cells: dict[tuple[str, int, tuple[Any, ...]], str] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)


def read_workbook(source: str | Path | bytes | BinaryIO, catalogue: Catalogue
                  ) -> dict[str, str]:
    """The table files a workbook holds (``{file name: YAML text}``), checked by the loader.

    Raises ``WorkbookError`` listing each problem as ``sheet!cell: message``.
    """
    from openpyxl import load_workbook

    if isinstance(source, bytes):
        source = io.BytesIO(source)
    try:
        wb = load_workbook(source, data_only=False)
    except Exception as exc:  # openpyxl raises zipfile, KeyError and its own errors
        raise WorkbookError([f"not an Excel workbook (.xlsx): {exc}"]) from None
    reading = _Reading()
    sheets = _listed_sheets(wb, reading)
    for name, (table, file) in sheets.items():
        _read_sheet(wb[name], table, file, reading)
    others = _other_files(wb, reading)
    if reading.problems:
        raise WorkbookError(reading.problems)
    docs = {file: _file_doc(tables) for file, tables in reading.files.items()}
    texts = {file: block_text(doc) for file, doc in docs.items()}
    _, errors = load_texts(texts, catalogue)
    if errors:
        paths = {file: line_paths(text) for file, text in texts.items()}
        problems = []
        for err in errors:
            path = paths.get(err.file, {}).get(err.line or 0, ())
            problems.append(f"{_cell_for(reading, err.file, path)}: {reason_of(err)}")
        raise WorkbookError(problems)
    return {**{file: write_tables(doc, reading.headers.get(file, ""))
               for file, doc in docs.items()}, **others}


def _other_files(wb: Any, reading: _Reading) -> dict[str, str]:
    if OTHER not in wb.sheetnames:
        return {}
    out = {}
    for row in wb[OTHER].iter_rows(min_row=2):
        name, text = _text(row[0]), _text(row[1]) if len(row) > 1 else ""
        if not name:
            continue
        if not name.endswith((".yaml", ".yml")) or "/" in name or "\\" in name:
            reading.problems.append(f"{OTHER}!{row[0].coordinate}: {name!r} is not a rule "
                                    "file name (name.yaml)")
            continue
        try:
            yaml.safe_load(text)
        except yaml.YAMLError as exc:
            reading.problems.append(f"{OTHER}!{row[1].coordinate}: {name}: not valid YAML "
                                    f"({getattr(exc, 'problem', None) or exc})")
            continue
        out[name] = text
    return out


def _listed_sheets(wb: Any, reading: _Reading) -> dict[str, tuple[str, str]]:
    if ABOUT not in wb.sheetnames:
        reading.problems.append(f"the workbook has no '{ABOUT}' sheet listing its tables: "
                                "export one with gridcredit rules export --xlsx")
        return {}
    about = wb[ABOUT]
    listed: dict[str, tuple[str, str]] = {}
    for row in about.iter_rows(min_row=6):
        sheet, table, file = (_text(c) for c in row[:3])
        if not sheet:
            continue
        listed[sheet] = (table, file)
        header = _text(row[3]) if len(row) > 3 else ""
        if header and file:
            reading.headers.setdefault(file, header)
    for name in wb.sheetnames:
        if name not in listed and name not in (ABOUT, NOTATION, OTHER):
            guess = _closest(name, [s for s in listed if s not in wb.sheetnames])
            hint = did_you_mean(guess)
            reading.problems.append(
                f"{name}!A1: sheet '{name}' is not a table of this workbook: a table sheet "
                f"keeps its table's name; rename it back{hint}, or list it on '{ABOUT}'")
    for i, name in enumerate(listed, start=6):
        if name not in wb.sheetnames:
            reading.problems.append(f"{ABOUT}!A{i}: sheet '{name}' is missing (renamed or "
                                    "deleted?): every table listed here needs its sheet")
    return {n: v for n, v in listed.items() if n in wb.sheetnames}


def _closest(word: str, options: list[str]) -> str | None:
    """A renamed sheet's likely name: a loose match, or the only sheet left unmatched."""
    return closest(word, options, cutoff=0.4) or (options[0] if len(options) == 1 else None)


def _text(cell: Any) -> str:
    value = cell.value
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _read_sheet(ws: Any, table: str, file: str, reading: _Reading) -> None:
    bad = _structural_problems(ws)
    if bad:
        reading.problems += bad
        return
    rows = [list(r) for r in ws.iter_rows()]
    meta, header_at = {}, None
    for i, row in enumerate(rows):
        label = _text(row[0]) if row else ""
        if label == "id":
            header_at = i
            break
        if label in META:
            meta[label] = (_text(row[1]) if len(row) > 1 else "", row[1] if len(row) > 1
                           else row[0])
    if header_at is None or header_at == 0:
        reading.problems.append(f"{ws.title}!A1: no header row starting with 'id' (the row "
                                "that names the columns)")
        return
    name = meta.get("table", ("", None))[0]
    if name != table:
        reading.problems.append(f"{ws.title}!B1: the sheet holds table '{name}' but the "
                                f"'{ABOUT}' sheet lists '{table}': keep the two the same")
        return
    file_name = meta.get("file", (file, None))[0] or file
    doc: dict[str, Any] = {}
    position = len(reading.files.setdefault(file_name, []))
    key = (file_name, position)
    for label in ("table", "version", "description", "hit_policy"):
        text, cell = meta.get(label, ("", None))
        if text or label != "description":
            doc[label] = text
            if cell is not None:
                reading.cells[(*key, (label,))] = f"{ws.title}!{cell.coordinate}"
    _read_grid(ws, rows, header_at, doc, key, reading)
    reading.files[file_name].append(doc)


def _structural_problems(ws: Any) -> list[str]:
    out = []
    for merged in ws.merged_cells.ranges:
        first = str(merged).split(":")[0]
        out.append(f"{ws.title}!{first}: merged cells ({merged}): unmerge them, each value "
                   "needs its own cell")
    for row in ws.iter_rows():
        for cell in row:
            if cell.data_type == "f":
                out.append(f"{ws.title}!{cell.coordinate}: a formula ({cell.value}): type "
                           "the value itself")
            elif hasattr(cell.value, "year"):
                out.append(f"{ws.title}!{cell.coordinate}: a date ({cell.value}) cannot be "
                           "tested by a table: type the value as text")
    return out


def _read_grid(ws: Any, rows: list[list[Any]], header_at: int, doc: dict[str, Any],
               key: tuple[str, int], reading: _Reading) -> None:
    kinds = [_text(c) for c in rows[header_at - 1]]
    names = [_text(c) for c in rows[header_at]]
    columns = [(i, kinds[i] if i < len(kinds) else "", n) for i, n in enumerate(names) if n]
    inputs = [n for _, k, n in columns if k == "when"]
    outputs = [n for _, k, n in columns if k == "then"]
    doc["inputs"], doc["outputs"] = inputs, outputs
    vocab = vocabulary()
    rules: list[dict[str, Any]] = []
    at = header_at + 1
    while at < len(rows) and any(_text(c) for c in rows[at]):
        row = rows[at]
        rule: dict[str, Any] = {}
        when: dict[str, Any] = {}
        then: dict[str, Any] | Any = {}
        path = ("rules", len(rules))
        reading.cells[(*key, path)] = f"{ws.title}!{row[0].coordinate}"
        for i, kind, name in columns:
            cell = row[i] if i < len(row) else None
            text = _text(cell) if cell is not None else ""
            where = f"{ws.title}!{cell.coordinate}" if cell is not None else ws.title
            try:
                if kind == "rule":
                    if text:
                        rule[name] = parse_value(text) if name == "priority" else text
                    reading.cells[(*key, (*path, name))] = where
                elif kind == "when":
                    value = parse_condition(text, vocab.get(name))
                    if value is not ABSENT:
                        when[name] = value
                    reading.cells[(*key, (*path, "when", name))] = where
                elif kind == "then" and outputs == ["policy"]:
                    then = parse_policies(text)
                    reading.cells[(*key, (*path, "then"))] = where
                elif kind == "then":
                    value = parse_output(text, vocab.get(name))
                    if value is not ABSENT:
                        then[name] = value
                    reading.cells[(*key, (*path, "then", name))] = where
            except NotationError as exc:
                reading.problems.append(f"{where}: {exc.message}")
        note = row[columns[-1][0]] if columns and columns[-1][1] == "note" else None
        if when or (note is not None and _text(note).endswith(EMPTY_WHEN)):
            rule["when"] = when
        if then is not ABSENT and then != {}:
            rule["then"] = then
        rules.append(rule)
        at += 1
    doc["rules"] = rules
    _read_examples(ws, rows, at, doc, key, reading)


def _read_examples(ws: Any, rows: list[list[Any]], at: int, doc: dict[str, Any],
                   key: tuple[str, int], reading: _Reading) -> None:
    while at < len(rows) and not any(_text(c) for c in rows[at]):
        at += 1
    if at >= len(rows) or _text(rows[at][0]) != "examples":
        return
    header = [_text(c) for c in rows[at + 1]] if at + 1 < len(rows) else []
    examples = []
    for row in rows[at + 2:]:
        if not any(_text(c) for c in row):
            break
        ex: dict[str, Any] = {}
        path = ("examples", len(examples))
        reading.cells[(*key, path)] = f"{ws.title}!{row[0].coordinate}"
        given: dict[str, Any] = {}
        expect: dict[str, Any] = {}
        for i, name in enumerate(header):
            cell = row[i] if i < len(row) else None
            text = _text(cell) if cell is not None else ""
            if not name or not text:
                continue
            where = f"{ws.title}!{cell.coordinate}"
            if name == "description":
                ex["description"] = text
                continue
            part, _, field_name = name.partition(": ")
            try:
                value = parse_value(text)
            except NotationError as exc:
                reading.problems.append(f"{where}: {exc.message}")
                continue
            target = given if part == "given" else expect
            target[field_name] = value
            reading.cells[(*key, (*path, part, field_name))] = where
        ex["given"], ex["expect"] = given, expect
        examples.append(ex)
    doc["examples"] = examples


def _file_doc(tables: list[dict[str, Any]]) -> dict[str, Any]:
    return tables[0] if len(tables) == 1 else {"tables": tables}


def _cell_for(reading: _Reading, file: str, path: tuple[Any, ...]) -> str:
    """The sheet cell behind a document path (the nearest ancestor that has one)."""
    position, rest = 0, path
    if rest[:1] == ("tables",) and len(rest) > 1:
        position, rest = rest[1], rest[2:]
    while True:
        cell = reading.cells.get((file, position, tuple(rest)))
        if cell is not None:
            return cell
        if not rest:
            return f"{file}"
        rest = rest[:-1]


# --------------------------------------------------------------------------- YAML out

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


def table_texts(table_set: TableSet) -> dict[str, str]:
    """Each file of a loaded set as the importer would write it (for comparisons)."""
    files: dict[str, list[Any]] = {}
    for t in sorted(table_set.tables, key=lambda t: (t.file, t.line)):
        files.setdefault(Path(t.file).name, []).append(dict(t.canonical["table"]))
    return {name: write_tables(_file_doc(docs)) for name, docs in files.items()}
