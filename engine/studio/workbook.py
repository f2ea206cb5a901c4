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
from openpyxl.comments import Comment
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.worksheet.datavalidation import DataValidation

from engine.errors import InputError, YamlFileError
from engine.records import vocabulary
from engine.studio.notation import ABSENT
from engine.studio.rows import example_columns, example_row, rule_columns, rule_row
from engine.studio.sheetwords import (
    NOTATION_NOTES,
    NOTATION_ROWS,
    example_header,
    header_note,
    word,
)
from engine.tables import TableSet, is_table_document
from engine.yamlfile import read_yaml

__all__ = ["ABOUT", "EMPTY_WHEN", "META", "NOTATION", "NOTE_COLUMN", "OTHER", "WorkbookError",
           "export_workbook", "other_files"]

ABOUT, NOTATION, OTHER = "About", "Notation", "Other files"
META = ("table", "file", "version", "hit_policy", "description")
NOTE_COLUMN = "at (file:line)"
EMPTY_WHEN = " · when: {}"
_HEADER_ROW = 6

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
                    rules_dir: Path | None = None, lang: str = "en") -> None:
    """Write ``table_set`` as a workbook (a path or a binary stream), laid out in ``lang``.

    The folder's other rule files (the event rules, which are part of the
    set's content hash) travel verbatim on the ``Other files`` sheet. With
    ``lang`` zh-CN the sheets, table fields, column parts, example headers,
    header notes and the notation sheet are in Chinese; the cells' values are
    the same in both languages.
    """
    wb = Workbook()
    about = wb.active
    about.title = word(ABOUT, lang)
    about.append([word("gridcredit decision tables", lang)])
    about.append([word("table set", lang), table_set.version])
    about.append([word("content hash", lang), table_set.content_hash])
    about.append([])
    about.append([word(w, lang) for w in ("sheet", "table", "file", "file header")])
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
            _table_sheet(wb.create_sheet(name), t, _Style(bold, lang))
    _notation_sheet(wb.create_sheet(word(NOTATION, lang)), bold, lang)
    folder = rules_dir or (Path(table_set.tables[0].file).parent if table_set.tables else None)
    _others_sheet(wb.create_sheet(word(OTHER, lang)), folder, bold, lang)
    for ws in wb.worksheets:
        for row in ws.iter_rows():
            for cell in row:
                if isinstance(cell.value, str):
                    cell.data_type = "s"
                    cell.alignment = Alignment(wrap_text="\n" in cell.value, vertical="top")
    wb.save(out)


def _others_sheet(ws: Any, folder: Path | None, bold: Any, lang: str) -> None:
    ws.append([word("file", lang), word("text (copied verbatim; edit these files as YAML)",
                                         lang)])
    for cell in ws[1]:
        cell.font = bold
    for name, text in (other_files(folder) if folder else {}).items():
        ws.append([name, text])
    ws.column_dimensions["A"].width = 20
    ws.column_dimensions["B"].width = 100


class _Style:
    """What every table sheet shares: the bold font, the header fill, the language."""

    def __init__(self, bold: Any, lang: str) -> None:
        self.bold = bold
        self.fill = PatternFill("solid", fgColor="E8EEF7")
        self.lang = lang


def _sheet_name(table: str) -> str:
    return table[:31]


def _table_sheet(ws: Any, t: Any, style: _Style) -> None:
    doc = t.canonical["table"]
    lang = style.lang
    for key in META:
        value = Path(t.file).name if key == "file" else doc.get(key, ABSENT)
        ws.append([word(key, lang), "" if value is ABSENT else str(value)])
        ws.cell(ws.max_row, 1).font = style.bold
    rules = doc["rules"]
    rule_cols = rule_columns(doc)
    inputs, outputs = doc["inputs"], doc["outputs"]
    ws.append([])
    parts = [*["rule"] * len(rule_cols), *["when"] * len(inputs), *["then"] * len(outputs)]
    ws.append([word(p, lang) for p in [*parts, "note"]])
    ws.append([*(word(c, lang) for c in rule_cols), *inputs, *outputs,
               word(NOTE_COLUMN, lang)])
    for cell in (*ws[ws.max_row - 1], *ws[ws.max_row]):
        cell.font = style.bold
        cell.fill = style.fill
    first = ws.max_row + 1
    for rule, row in zip(rules, t.rules, strict=True):
        note = f"{Path(row.file).name}:{row.line}"
        ws.append(rule_row(rule, rule_cols, inputs, outputs)
                  + [note + EMPTY_WHEN if rule.get("when", ABSENT) == {} else note])
    _guides(ws, [*rule_cols, *inputs, *outputs], parts, (first, max(first, ws.max_row)), lang)
    examples = doc.get("examples")
    if examples is not None:
        given, expect = example_columns(examples)
        ws.append([])
        ws.append([word("examples", lang)])
        ws.cell(ws.max_row, 1).font = style.bold
        ws.append([word("description", lang), *(example_header("given", g, lang) for g in given),
                   *(example_header("expect", e, lang) for e in expect)])
        for cell in ws[ws.max_row]:
            cell.font = style.bold
            cell.fill = style.fill
        for ex in examples:
            ws.append(example_row(ex, given, expect))
    ws.freeze_panes = ws.cell(_HEADER_ROW + 3, 2)
    for i, width in enumerate((22, 48, 28), start=1):
        ws.column_dimensions[ws.cell(1, i).column_letter].width = width


def _guides(ws: Any, names: list[str], parts: list[str], rows: tuple[int, int],
            lang: str) -> None:
    """A note on each input and output header, and a drop-down where the values are fixed.

    The drop-down offers the field's values but accepts any text, so that
    ``AAA, AA`` or ``not residential`` can still be typed.
    """
    vocab = vocabulary()
    for column, (name, part) in enumerate(zip(names, parts, strict=True), start=1):
        spec = vocab.get(name) if part != "rule" else None
        note = header_note(spec, part, lang)
        if note:
            ws.cell(_HEADER_ROW + 2, column).comment = Comment(note, "gridcredit")
        choices = list(spec.choices or ()) if spec is not None else []
        if spec is not None and spec.kind == "bool":
            choices = ["true", "false"]
        if choices and len(",".join(choices)) < 250:
            letter = ws.cell(1, column).column_letter
            check = DataValidation(type="list", formula1='"' + ",".join(choices) + '"',
                                   allow_blank=True, showErrorMessage=False)
            check.add(f"{letter}{rows[0]}:{letter}{rows[1] + 200}")
            ws.add_data_validation(check)


def _notation_sheet(ws: Any, bold: Any, lang: str) -> None:
    for row in NOTATION_ROWS[lang]:
        ws.append(list(row))
    for cell in ws[1]:
        cell.font = bold
    ws.append([])
    for note in NOTATION_NOTES[lang]:
        ws.append([note])
    for letter, width in (("A", 30), ("B", 36), ("C", 28)):
        ws.column_dimensions[letter].width = width
