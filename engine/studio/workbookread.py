"""A workbook back into table files: every rule and example kept, or a refusal at ``sheet!cell``.

``read_workbook`` reads each table sheet that the ``About`` sheet lists. Rules
are read from the header row down to the ``examples`` row (or the end of the
sheet), examples from their header to the end of the sheet. A blank row among
them is skipped and named in a warning; it never ends the table, so no rule
below it is lost. Anything that would be lost in the reading is refused at its
cell with what to do: a value outside the table's columns, a column with no
part, a header named twice, a merged cell, a formula, a date. Every value is
checked by the table loader, each problem named at the cell it came from.

The reading is then counted: every rule id and every example row the sheets
hold must be in the tables loaded back from the files about to be written,
else nothing is written.

With ``base`` (the files as they are now), a file whose content the workbook
does not change is returned byte for byte as it was, and a changed file is
changed only where its meaning changed (``engine.studio.textpatch``).
"""

from __future__ import annotations

import io
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

import yaml
from openpyxl import load_workbook

from engine.errors import InputError, TableError, YamlFileError, closest, did_you_mean
from engine.policies import Catalogue
from engine.records import vocabulary
from engine.studio.locate import block_text, line_paths, reason_of
from engine.studio.notation import (
    ABSENT,
    NotationError,
    parse_condition,
    parse_output,
    parse_policies,
    parse_value,
)
from engine.studio.sheetwords import english, sheet_word, split_example_header
from engine.studio.tableyaml import file_doc, write_tables
from engine.studio.textpatch import patch_text
from engine.studio.workbook import ABOUT, EMPTY_WHEN, META, NOTATION, OTHER, WorkbookError
from engine.tables import Table, load_texts
from engine.yamlfile import parse_yaml, plain

__all__ = ["ImportedWorkbook", "import_workbook", "lost_in_writing", "read_workbook"]

PARTS = ("rule", "when", "then", "note")
EXAMPLES = "examples"


@dataclass(frozen=True)
class ImportedWorkbook:
    """What a workbook holds, as the files to write, and what was said while reading it.

    ``texts`` holds every file (``{file name: YAML text}``); ``unchanged`` names
    those whose content equals the ``base`` given, returned as they were;
    ``warnings`` are ``sheet!cell: message`` lines about what was skipped;
    ``counts`` gives each table's rules and examples as read.
    """

    texts: dict[str, str]
    warnings: tuple[str, ...] = ()
    unchanged: tuple[str, ...] = ()
    counts: dict[str, tuple[int, int]] = field(default_factory=dict)

    @property
    def changed(self) -> dict[str, str]:
        return {n: t for n, t in self.texts.items() if n not in self.unchanged}


@dataclass
class _Reading:
    """What the sheets say: each file's documents, and the cell behind each document path."""

    files: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)
    cells: dict[tuple[str, int, tuple[Any, ...]], str] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    rows: dict[str, list[tuple[str, str]]] = field(default_factory=dict)
    examples: dict[str, list[str]] = field(default_factory=dict)


@dataclass(frozen=True)
class _Columns:
    """A sheet's header: each named column's index, part and name, and the note column."""

    named: list[tuple[int, str, str]]
    note: int | None
    width: int

    @property
    def outputs(self) -> list[str]:
        return [n for _, k, n in self.named if k == "then"]


def read_workbook(source: str | Path | bytes | BinaryIO, catalogue: Catalogue,
                  base: Mapping[str, str] | None = None) -> ImportedWorkbook:
    """The table files a workbook holds, checked by the loader and counted against the sheets.

    Raises ``WorkbookError`` listing each problem as ``sheet!cell: message``.
    """
    if isinstance(source, bytes):
        source = io.BytesIO(source)
    try:
        wb = load_workbook(source, data_only=False)
    except Exception as exc:  # openpyxl raises zipfile, KeyError and its own errors
        raise WorkbookError([f"not an Excel workbook (.xlsx): {exc}"]) from None
    reading = _Reading()
    for name, (table, file) in _listed_sheets(wb, reading).items():
        _read_sheet(wb[name], table, file, reading)
    others = _other_files(wb, reading)
    if reading.problems:
        raise WorkbookError(reading.problems)
    docs = {file: file_doc(tables) for file, tables in reading.files.items()}
    texts = {file: block_text(doc) for file, doc in docs.items()}
    tables, errors = load_texts(texts, catalogue)
    if errors:
        raise WorkbookError(_located(reading, texts, errors))
    written, unchanged = _written(docs, reading.headers, others, base or {})
    lost = lost_in_writing(reading, _loaded(written, catalogue))
    if lost:
        raise WorkbookError(lost)
    counts = {t.name: (len(t.rules), len(t.examples)) for t in tables}
    return ImportedWorkbook(written, tuple(reading.warnings), tuple(sorted(unchanged)), counts)


def import_workbook(source: str | Path | bytes | BinaryIO, folder: Path, catalogue: Catalogue,
                    *, overwrite: bool = False) -> ImportedWorkbook:
    """Read a workbook into a folder of table files, writing only the files it changes.

    A file whose content the workbook leaves as it is stays untouched (byte
    for byte, same modification time); a changed file is changed only where
    its meaning changed. An existing file is replaced only with ``overwrite``.
    """
    folder = Path(folder)
    base = {p.name: p.read_text(encoding="utf-8") for p in sorted(folder.glob("*.y*ml"))
            if p.is_file()} if folder.is_dir() else {}
    imported = read_workbook(source, catalogue, base=base)
    clash = [name for name in imported.changed if name in base]
    if clash and not overwrite:
        raise InputError(f"{folder / clash[0]}: exists and the workbook changes it; use "
                         "--overwrite to replace it")
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in imported.changed.items():
        tmp = folder / f".{name}.tmp"
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(folder / name)
    return imported


def _located(reading: _Reading, texts: dict[str, str], errors: list[TableError]) -> list[str]:
    paths = {file: line_paths(text) for file, text in texts.items()}
    out = []
    for err in errors:
        path = paths.get(err.file, {}).get(err.line or 0, ())
        out.append(f"{_cell_for(reading, err.file, path)}: {reason_of(err)}")
    return out


def _written(docs: dict[str, Any], headers: dict[str, str], others: dict[str, str],
             base: Mapping[str, str]) -> tuple[dict[str, str], set[str]]:
    """Each file's text: the base text when the content is the same, else the least change."""
    out: dict[str, str] = {}
    unchanged: set[str] = set()
    for name, doc in [*docs.items(), *others.items()]:
        new = yaml.safe_load(doc) if isinstance(doc, str) else doc
        old = base.get(name)
        old_doc = _content(old) if old is not None else ABSENT
        if old is not None and old_doc == plain(new):
            out[name] = old
            unchanged.add(name)
        elif isinstance(doc, str):
            out[name] = doc
        elif old is not None and old_doc is not ABSENT:
            out[name] = patch_text(old, doc, fallback=lambda d=doc, n=name: write_tables(
                d, headers.get(n, "")))
        else:
            out[name] = write_tables(doc, headers.get(name, ""))
    return out, unchanged


def _content(text: str) -> Any:
    try:
        return plain(parse_yaml(text))
    except YamlFileError:
        return ABSENT


def _loaded(texts: dict[str, str], catalogue: Catalogue) -> list[Table]:
    tables, _ = load_texts({n: t for n, t in texts.items() if _is_tables(t)}, catalogue)
    return tables


def _is_tables(text: str) -> bool:
    doc = _content(text)
    return isinstance(doc, Mapping) and ("table" in doc or "tables" in doc)


def lost_in_writing(reading: _Reading, tables: list[Table]) -> list[str]:
    """Each rule and example the sheets hold that the tables to be written do not."""
    by_name = {t.name: t for t in tables}
    out = []
    for name, rows in reading.rows.items():
        table = by_name.get(name)
        ids = [r.id for r in table.rules] if table is not None else []
        for rule_id, where in rows:
            if rule_id not in ids:
                out.append(f"{where}: rule '{rule_id}' is in the workbook but not in the "
                           "files that would be written: nothing was written; keep the "
                           "workbook and report the problem")
        examples = reading.examples.get(name, [])
        held = len(table.examples) if table is not None else 0
        for where in examples[held:]:
            out.append(f"{where}: this example is in the workbook but not in the files that "
                       "would be written: nothing was written; keep the workbook and report "
                       "the problem")
    return out


def _other_files(wb: Any, reading: _Reading) -> dict[str, str]:
    other = sheet_word(OTHER, wb.sheetnames)
    if other is None:
        return {}
    out = {}
    for row in wb[other].iter_rows(min_row=2):
        name, text = _text(row[0]), _text(row[1]) if len(row) > 1 else ""
        if not name:
            continue
        if not name.endswith((".yaml", ".yml")) or "/" in name or "\\" in name:
            reading.problems.append(f"{other}!{row[0].coordinate}: {name!r} is not a rule "
                                    "file name (name.yaml)")
            continue
        try:
            yaml.safe_load(text)
        except yaml.YAMLError as exc:
            reading.problems.append(f"{other}!{row[1].coordinate}: {name}: not valid YAML "
                                    f"({getattr(exc, 'problem', None) or exc})")
            continue
        out[name] = text
    return out


def _listed_sheets(wb: Any, reading: _Reading) -> dict[str, tuple[str, str]]:
    about = sheet_word(ABOUT, wb.sheetnames)
    if about is None:
        reading.problems.append(f"the workbook has no '{ABOUT}' sheet listing its tables: "
                                "export one with gridcredit rules export --xlsx")
        return {}
    listed: dict[str, tuple[str, str]] = {}
    at: dict[str, int] = {}
    fixed = {sheet_word(n, wb.sheetnames) for n in (ABOUT, NOTATION, OTHER)}
    for row in wb[about].iter_rows(min_row=6):
        sheet, table, file = (_text(c) for c in row[:3])
        if not sheet:
            continue
        listed[sheet] = (table, file)
        at[sheet] = row[0].row
        header = _text(row[3]) if len(row) > 3 else ""
        if header and file:
            reading.headers.setdefault(file, header)
    for name in wb.sheetnames:
        if name not in listed and name not in fixed:
            guess = _closest(name, [s for s in listed if s not in wb.sheetnames])
            hint = did_you_mean(guess)
            reading.problems.append(
                f"{name}!A1: sheet '{name}' is not a table of this workbook: a table sheet "
                f"keeps its table's name; rename it back{hint}, or list it on '{about}'")
    for name in listed:
        if name not in wb.sheetnames:
            reading.problems.append(f"{about}!A{at[name]}: sheet '{name}' is missing (renamed "
                                    "or deleted?): every table listed here needs its sheet")
    return {n: v for n, v in listed.items() if n in wb.sheetnames}


def _closest(word: str, options: list[str]) -> str | None:
    """A renamed sheet's likely name: a loose match, or the only sheet left unmatched."""
    return closest(word, options, cutoff=0.4) or (options[0] if len(options) == 1 else None)


def _text(cell: Any) -> str:
    value = cell.value if cell is not None else None
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _blank(row: list[Any]) -> bool:
    return not any(_text(c).strip() for c in row)


# --------------------------------------------------------------------------- one sheet

def _read_sheet(ws: Any, table: str, file: str, reading: _Reading) -> None:
    bad = _structural_problems(ws)
    if bad:
        reading.problems += bad
        return
    rows = [list(r) for r in ws.iter_rows()]
    meta, header_at = _meta(ws, rows, reading)
    if header_at is None:
        return
    name = meta.get("table", ("", None))[0]
    if name != table:
        reading.problems.append(f"{ws.title}!B1: the sheet holds table '{name}' but the "
                                f"'{ABOUT}' sheet lists '{table}': keep the two the same")
        return
    file_name = meta.get("file", (file, None))[0] or file
    doc: dict[str, Any] = {}
    key = (file_name, len(reading.files.setdefault(file_name, [])))
    for label in ("table", "version", "description", "hit_policy"):
        text, cell = meta.get(label, ("", None))
        if text or label != "description":
            doc[label] = text
            if cell is not None:
                reading.cells[(*key, (label,))] = f"{ws.title}!{cell.coordinate}"
    columns = _columns(ws, rows, header_at, reading)
    if columns is None:
        return
    doc["inputs"] = [n for _, k, n in columns.named if k == "when"]
    doc["outputs"] = columns.outputs
    end = _examples_row(rows, header_at + 1)
    doc["rules"] = _read_rules(ws, rows[header_at + 1:end], columns, key, reading, name)
    if end < len(rows):
        examples = _read_examples(ws, rows[end + 1:], key, reading, name)
        if examples is not None:
            doc["examples"] = examples
    reading.files[file_name].append(doc)


def _meta(ws: Any, rows: list[list[Any]], reading: _Reading
          ) -> tuple[dict[str, tuple[str, Any]], int | None]:
    """The table's fields above the grid, and the header row's index (None: refused)."""
    meta: dict[str, tuple[str, Any]] = {}
    for i, row in enumerate(rows):
        label = english(_text(row[0])) if row else ""
        if label == "id":
            if i == 0:
                break
            return meta, i
        if label in META:
            meta[label] = (_text(row[1]) if len(row) > 1 else "",
                           row[1] if len(row) > 1 else row[0])
        elif label and label not in PARTS:
            reading.problems.append(
                f"{ws.title}!{row[0].coordinate}: '{label}' is not a field of a table ("
                f"{', '.join(META)}): it would be lost; delete it or move it to the note "
                "column of a rule")
            return meta, None
    reading.problems.append(f"{ws.title}!A1: no header row starting with 'id' (the row that "
                            "names the columns)")
    return meta, None


def _columns(ws: Any, rows: list[list[Any]], header_at: int, reading: _Reading
             ) -> _Columns | None:
    kinds = [_text(c) for c in rows[header_at - 1]]
    names = [_text(c) for c in rows[header_at]]
    named: list[tuple[int, str, str]] = []
    note = None
    seen: dict[tuple[str, str], str] = {}
    fields = vocabulary()
    before = len(reading.problems)
    for i, name in enumerate(names):
        if not name:
            continue
        kind = english(kinds[i]) if i < len(kinds) else ""
        where = rows[header_at][i].coordinate
        if kind not in PARTS:
            reading.problems.append(
                f"{ws.title}!{where}: column '{name}' has no part: the cell above it says "
                f"{' / '.join(PARTS)} ('{kind}' is none of them)")
            continue
        if kind == "note":
            note = i
            continue
        if (kind, name) in seen:
            reading.problems.append(f"{ws.title}!{where}: column '{name}' is named twice "
                                    f"(also at {seen[(kind, name)]}): keep one of them")
            continue
        name = english(name) if kind == "rule" else name
        if kind in ("when", "then") and name not in fields and name != "policy":
            reading.problems.append(
                f"{ws.title}!{where}: '{name}' is not a field a table can read or set"
                f"{did_you_mean(closest(name, list(fields)))}: fix the header (the rules "
                "below it are read once it names a field)")
            continue
        seen[(kind, name)] = where
        named.append((i, kind, name))
    if len(reading.problems) > before:
        return None
    return _Columns(named, note, max([i for i, _, _ in named] + [note or 0]) + 1)


def _examples_row(rows: list[list[Any]], start: int) -> int:
    """The index of the row that opens the examples (``examples`` alone), or the row count."""
    for i in range(start, len(rows)):
        row = rows[i]
        if row and english(_text(row[0])) == EXAMPLES and _blank(row[1:]):
            return i
    return len(rows)


def _outside(ws: Any, row: list[Any], width: int, what: str) -> list[str]:
    return [f"{ws.title}!{c.coordinate}: a value outside the {what}'s columns ({_text(c)!r}) "
            "would be lost: move it into the note column, or delete it"
            for c in row[width:] if _text(c).strip()]


def _skipped(ws: Any, blank: list[int], reading: _Reading, what: str) -> None:
    """Warn of the blank rows inside a block of rows, as runs (``A24`` or ``A24:A26``)."""
    runs: list[list[int]] = []
    for n in blank:
        if runs and runs[-1][-1] == n - 1:
            runs[-1].append(n)
        else:
            runs.append([n])
    for run in runs:
        cells = f"A{run[0]}" if len(run) == 1 else f"A{run[0]}:A{run[-1]}"
        count = "a blank row" if len(run) == 1 else f"{len(run)} blank rows"
        reading.warnings.append(f"{ws.title}!{cells}: {count} inside the {what}, skipped "
                                f"(the {what} go on below)")


def _read_rules(ws: Any, rows: list[list[Any]], columns: _Columns, key: tuple[str, int],
                reading: _Reading, table: str) -> list[dict[str, Any]]:
    vocab = vocabulary()
    rules: list[dict[str, Any]] = []
    blank: list[int] = []
    held = reading.rows.setdefault(table, [])
    for row in rows:
        reading.problems += _outside(ws, row, columns.width, "table")
        cells = [row[i] if i < len(row) else None for i, _, _ in columns.named]
        if not any(_text(c).strip() for c in cells):
            if row and any(_text(c).strip() for c in row):
                reading.warnings.append(f"{ws.title}!A{row[0].row}: a row with only a note, "
                                        "skipped")
            elif row:
                blank.append(row[0].row)
            continue
        if rules and blank:
            _skipped(ws, blank, reading, "rules")
        blank = []
        path = ("rules", len(rules))
        reading.cells[(*key, path)] = f"{ws.title}!{row[0].coordinate}"
        rule = _rule(ws, row, columns, (*key, path), vocab, reading)
        held.append((str(rule.get("id", "")), f"{ws.title}!{row[0].coordinate}"))
        rules.append(rule)
    return rules


def _rule(ws: Any, row: list[Any], columns: _Columns, at: tuple[Any, ...],
          vocab: Mapping[str, Any], reading: _Reading) -> dict[str, Any]:
    key, path = at[:2], at[2]
    rule: dict[str, Any] = {}
    when: dict[str, Any] = {}
    then: dict[str, Any] | Any = {}
    policies = columns.outputs == ["policy"]
    for i, kind, name in columns.named:
        cell = row[i] if i < len(row) else None
        text = _text(cell)
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
            elif policies:
                then = parse_policies(text)
                reading.cells[(*key, (*path, "then"))] = where
            else:
                value = parse_output(text, vocab.get(name))
                if value is not ABSENT:
                    then[name] = value
                reading.cells[(*key, (*path, "then", name))] = where
        except NotationError as exc:
            reading.problems.append(f"{where}: {exc.message}")
    note = row[columns.note] if columns.note is not None and columns.note < len(row) else None
    if when or _text(note).endswith(EMPTY_WHEN):
        rule["when"] = when
    if then is not ABSENT and then != {}:
        rule["then"] = then
    return rule


def _read_examples(ws: Any, rows: list[list[Any]], key: tuple[str, int], reading: _Reading,
                   table: str) -> list[dict[str, Any]] | None:
    at = 0
    while at < len(rows) and _blank(rows[at]):
        at += 1
    if at >= len(rows):
        return []
    header = [_text(c) for c in rows[at]]
    header = [english(h) if english(h) == "description" else h for h in header]
    if not _example_header(ws, rows[at], header, reading):
        return None
    examples: list[dict[str, Any]] = []
    blank: list[int] = []
    held = reading.examples.setdefault(table, [])
    for row in rows[at + 1:]:
        reading.problems += _outside(ws, row, len(header), "examples")
        if _blank(row[:len(header)]):
            if row:
                blank.append(row[0].row)
            continue
        if examples and blank:
            _skipped(ws, blank, reading, "examples")
        blank = []
        path = ("examples", len(examples))
        reading.cells[(*key, path)] = f"{ws.title}!{row[0].coordinate}"
        held.append(f"{ws.title}!{row[0].coordinate}")
        examples.append(_example(ws, row, header, (*key, path), reading))
    return examples


def _example_header(ws: Any, cells: list[Any], header: list[str], reading: _Reading) -> bool:
    before = len(reading.problems)
    if not header or header[0] != "description":
        reading.problems.append(f"{ws.title}!{cells[0].coordinate}: the examples' header "
                                "starts with 'description' (then given: F and expect: F)")
    for cell, name in zip(cells[1:], header[1:], strict=False):
        part, rest = split_example_header(name)
        if name and (part not in ("given", "expect") or not rest):
            reading.problems.append(f"{ws.title}!{cell.coordinate}: '{name}' is not an "
                                    "example column: write 'given: FIELD' or 'expect: FIELD'")
    return len(reading.problems) == before


def _example(ws: Any, row: list[Any], header: list[str], at: tuple[Any, ...],
             reading: _Reading) -> dict[str, Any]:
    key, path = at[:2], at[2]
    ex: dict[str, Any] = {}
    given: dict[str, Any] = {}
    expect: dict[str, Any] = {}
    for i, name in enumerate(header):
        cell = row[i] if i < len(row) else None
        text = _text(cell)
        if not name or not text:
            continue
        where = f"{ws.title}!{cell.coordinate}"
        if name == "description":
            ex["description"] = text
            continue
        part, field_name = split_example_header(name)
        try:
            value = parse_value(text)
        except NotationError as exc:
            reading.problems.append(f"{where}: {exc.message}")
            continue
        (given if part == "given" else expect)[field_name] = value
        reading.cells[(*key, (*path, part, field_name))] = where
    ex["given"], ex["expect"] = given, expect
    return ex


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
