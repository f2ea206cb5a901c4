"""Decision tables as an Excel workbook: the layout both directions share, and the export.

``export_workbook`` writes one sheet per table laid out like the workbench
grid (one row per rule, one column per input, then the outputs or policies),
in the plain notation of ``engine.studio.notation``, an ``About`` sheet that
lists each sheet's table and file, and a ``Notation`` sheet that explains the
notation. ``engine.studio.workbookread`` turns a workbook back into table
files, losing nothing or refusing at ``sheet!cell``. Export then import gives
the same table-set content hash.

Sheet layout (rows): ``table``, ``file``, ``version``, ``hit_policy``,
``description``; a blank row; a row naming each column's part (``rule``,
``when``, ``then``, ``note``) and the header row; one row per rule; a blank
row; ``examples`` and their header and rows (``given: F``, ``expect: F``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, BinaryIO

from openpyxl import Workbook
from openpyxl.styles import Alignment, Font, PatternFill

from engine.errors import InputError, YamlFileError
from engine.studio.notation import ABSENT
from engine.studio.rows import example_columns, example_row, rule_columns, rule_row
from engine.tables import TableSet, is_table_document
from engine.yamlfile import read_yaml

__all__ = ["ABOUT", "EMPTY_WHEN", "META", "NOTATION", "NOTE_COLUMN", "OTHER", "WorkbookError",
           "export_workbook", "other_files"]

ABOUT, NOTATION, OTHER = "About", "Notation", "Other files"
META = ("table", "file", "version", "hit_policy", "description")
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
    rule_cols = rule_columns(doc)
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
