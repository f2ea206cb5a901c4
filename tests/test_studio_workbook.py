"""Decision tables to Excel and back: lossless, and every refusal named at sheet!cell."""

from __future__ import annotations

import copy
import re
import shutil
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from openpyxl import load_workbook
from typer.testing import CliRunner

from engine.cli import app
from engine.errors import TableSetError
from engine.policies import load_catalogue
from engine.records import DERIVED, FIELDS
from engine.studio.notation import (
    ABSENT,
    format_condition,
    format_policies,
    parse_condition,
    parse_policies,
)
from engine.studio.textpatch import patch_text
from engine.studio.workbook import WorkbookError, export_workbook
from engine.studio.workbookread import read_workbook
from engine.tables import load_table_set

ROOT = Path(__file__).resolve().parent.parent
CATALOGUE = load_catalogue(ROOT / "policies" / "catalogue.yaml")
SPECS = {f.name: f for f in (*FIELDS, *DERIVED)}


def import_to(folder: Path, workbook: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in read_workbook(workbook, CATALOGUE).texts.items():
        (folder / name).write_text(text, encoding="utf-8")
    return folder


@pytest.fixture(scope="module")
def shipped():
    return load_table_set(ROOT / "rules", CATALOGUE)


@pytest.fixture
def workbook(tmp_path, shipped):
    path = tmp_path / "tables.xlsx"
    export_workbook(shipped, path)
    return path


@pytest.mark.parametrize(("text", "field", "raw"), [
    ("< 0.015", "pd", {"lt": 0.015}),
    ("≥ 30", "max_days_overdue_12m", {"ge": 30}),
    (">= 30", "max_days_overdue_12m", {"ge": 30}),
    ("≥ 0.015 and < 0.03", "pd", {"ge": 0.015, "lt": 0.03}),
    ("AAA, AA", "grade", ["AAA", "AA"]),
    ("[AA]", "grade", ["AA"]),
    ("residential", "customer_class", "residential"),
    ("not residential", "customer_class", {"ne": "residential"}),
    ("not AAA, AA", "grade", {"not_in": ["AAA", "AA"]}),
    ("in AAA, AA", "grade", {"in": ["AAA", "AA"]}),
    ("= 30", "months_connected", {"eq": 30}),
    ("30", "months_connected", 30),
    ("30.0", "months_connected", 30.0),
    ("true", "critical_load", True),
    ("{lt: 0.015}", "pd", {"lt": 0.015}),
])
def test_notation_reads_each_form_and_writes_it_back(text, field, raw):
    assert parse_condition(text, SPECS[field]) == raw
    assert parse_condition(format_condition(raw), SPECS[field]) == raw


def test_empty_cell_is_no_condition_and_policies_keep_their_params():
    assert parse_condition("  ", SPECS["pd"]) is ABSENT
    items = [{"policy": "security_deposit"},
             {"policy": "late_payment_penalty", "params": {"daily_rate_current_year": 0.001}},
             {"policy": "on_site_inspection", "params": {}}]
    text = format_policies(items)
    assert text == ("security_deposit\nlate_payment_penalty(daily_rate_current_year=0.001)\n"
                    "on_site_inspection()")
    assert parse_policies(text) == items


def test_export_then_import_of_the_shipped_set_keeps_the_content_hash(tmp_path, shipped,
                                                                      workbook):
    back = load_table_set(import_to(tmp_path / "back", workbook), CATALOGUE)
    assert back.content_hash == shipped.content_hash
    assert [t.name for t in back.tables] == [t.name for t in shipped.tables]
    text = (tmp_path / "back" / "segments.yaml").read_text()
    assert text.startswith("# yaml-language-server: $schema=")
    assert "when: {customer_class: residential, monthly_kwh: {gt: 1500}}" in text


def test_sheets_are_laid_out_like_the_grid(workbook):
    wb = load_workbook(workbook)
    assert wb.sheetnames[0] == "About" and wb.sheetnames[-2:] == ["Notation", "Other files"]
    ws = wb["grades"]
    rows = [[c.value for c in row] for row in ws.iter_rows()]
    assert rows[0][:2] == ["table", "grades"] and rows[3][:2] == ["hit_policy", "first"]
    header = rows[7]
    assert header[:4] == ["id", "description", "source", "theft_override_active"]
    band = next(r for r in rows if r[0] == "band-aa")
    assert band[header.index("pd")] == "≥ 0.015 and < 0.03"
    assert band[header.index("grade")] == "AA"
    assert band[-1].startswith("grades.yaml:")
    policies = wb["service-policies"]
    cells = [[c.value for c in row] for row in policies.iter_rows()]
    overdue = next(r for r in cells if r[0] == "overdue-non-residential")
    head = cells[7]
    assert overdue[head.index("customer_class")] == "not residential"
    assert overdue[head.index("overdue_amount")] == "> 0"


def test_cli_round_trip_prints_the_same_hash(tmp_path, shipped):
    runner = CliRunner()
    xlsx = tmp_path / "t.xlsx"
    done = runner.invoke(app, ["rules", "export", "--xlsx", str(xlsx)])
    assert done.exit_code == 0, done.output
    assert f"sha256:{shipped.content_hash}" in done.output
    again = runner.invoke(app, ["rules", "export", "--xlsx", str(xlsx)])
    assert again.exit_code == 2 and "use --overwrite" in again.output
    done = runner.invoke(app, ["rules", "import", str(xlsx), "--out", str(tmp_path / "r")])
    assert done.exit_code == 0, done.output
    assert f"sha256:{shipped.content_hash}" in done.output
    assert sorted(p.name for p in (tmp_path / "r").iterdir()) == sorted(
        p.name for p in (ROOT / "rules").glob("*.yaml"))
    assert (tmp_path / "r" / "events.yaml").read_text() == (ROOT / "rules" / "events.yaml"
                                                            ).read_text()


# --------------------------------------------------------------------------- refusals

def refusal(path: Path) -> list[str]:
    with pytest.raises(WorkbookError) as err:
        read_workbook(path, CATALOGUE)
    return err.value.problems


def cell_of(ws, rule_id: str, column: str) -> str:
    rows = list(ws.iter_rows())
    header = [c.value for c in rows[7]]
    row = next(r for r in rows if r[0].value == rule_id)
    return row[header.index(column)].coordinate


def test_wrong_type_in_a_condition_names_the_cell_and_the_loader_message(tmp_path, workbook):
    wb = load_workbook(workbook)
    where = cell_of(wb["grades"], "band-aaa", "pd")
    wb["grades"][where] = "< 0.0x5"
    wb.save(workbook)
    problems = refusal(workbook)
    # The same mistake made in YAML gives rules check's message for that rule.
    rules = tmp_path / "rules"
    shutil.copytree(ROOT / "rules", rules)
    path = rules / "grades.yaml"
    path.write_text(path.read_text().replace("when: {pd: {lt: 0.015}}",
                                             "when: {pd: {lt: '0.0x5'}}"))
    with pytest.raises(TableSetError) as err:
        load_table_set(rules, CATALOGUE)
    errors = err.value.errors
    assert len(problems) == len(errors) == 2
    assert problems[0] == f"grades!{where}: rule 'band-aaa': {errors[0].reason}"
    # The example that expects the broken rule is refused too, at its own row.
    assert re.match(r"grades![A-Z]+\d+: example expects rules", problems[1]), problems[1]
    assert problems[1].endswith(errors[1].reason + " (did you mean 'band-aa'?)")
    assert "'pd' lt: 'pd' is a number (probability), not '0.0x5'" in problems[0]


def test_typo_in_a_category_and_a_policy_get_did_you_mean(workbook):
    wb = load_workbook(workbook)
    ws = wb["consumption-class"]
    ws[cell_of(ws, "residential-large", "customer_class")] = "residental"
    ws = wb["service-policies"]
    ws[cell_of(ws, "average-personalised", "policy")] = "personalised_servise"
    wb.save(workbook)
    problems = refusal(workbook)
    assert any(p.startswith("consumption-class!D9: rule 'residential-large': 'customer_class' "
                            "eq: 'residental' is not a value of 'customer_class'")
               and p.endswith("(did you mean 'residential'?)") for p in problems), problems
    assert any("service-policies!" in p and "policy 'personalised_servise' is not in the "
               "catalogue" in p and "(did you mean 'personalised_service'?)" in p
               for p in problems), problems


def test_renamed_sheet_is_refused(workbook):
    wb = load_workbook(workbook)
    wb["grades"].title = "grades (2)"
    wb.save(workbook)
    problems = refusal(workbook)
    assert problems[0] == ("grades (2)!A1: sheet 'grades (2)' is not a table of this workbook: "
                           "a table sheet keeps its table's name; rename it back (did you mean "
                           "'grades'?), or list it on 'About'")
    assert problems[1].startswith("About!A6: sheet 'grades' is missing")


def test_merged_cell_and_formula_are_refused_at_their_cell(workbook):
    wb = load_workbook(workbook)
    ws = wb["grades"]
    ws.merge_cells("B9:C9")
    ws["L10"] = "=L9"
    wb.save(workbook)
    problems = refusal(workbook)
    assert ("grades!B9: merged cells (B9:C9): unmerge them, each value needs its own cell"
            in problems)
    assert "grades!L10: a formula (=L9): type the value itself" in problems


def test_not_a_workbook(tmp_path):
    bad = tmp_path / "x.xlsx"
    bad.write_text("hello")
    assert refusal(bad)[0].startswith("not an Excel workbook (.xlsx)")


def test_cli_import_refusal_exits_2_and_writes_nothing(tmp_path, workbook):
    wb = load_workbook(workbook)
    wb["grades"]["L10"] = "=L9"
    wb.save(workbook)
    done = CliRunner().invoke(app, ["rules", "import", str(workbook), "--out",
                                    str(tmp_path / "r")])
    assert done.exit_code == 2
    assert "grades!L10: a formula (=L9)" in done.output
    assert not (tmp_path / "r").exists()


# --------------------------------------------------------------------------- random tables

NUMERIC = [f for f in (*FIELDS, *DERIVED) if f.kind in ("int", "float") and f.group != "tables"]
CATEGORY = [f for f in (*FIELDS, *DERIVED) if f.kind == "category" and f.group != "tables"]
BOOLS = [f for f in (*FIELDS, *DERIVED) if f.kind == "bool" and f.group != "tables"]
INPUTS = [*NUMERIC, *CATEGORY, *BOOLS]
TEXT = st.text(st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")),
               min_size=1, max_size=40).filter(lambda s: s.strip() == s and s)


def number(spec):
    if spec.kind == "int":
        return st.integers(min_value=0, max_value=1000)
    return st.floats(min_value=0, max_value=1e6, allow_nan=False).map(lambda x: round(x, 4))


@st.composite
def condition(draw, spec):
    if spec.kind in ("int", "float"):
        ops = draw(st.lists(st.sampled_from(["lt", "le", "gt", "ge", "eq", "ne"]), min_size=1,
                            max_size=2, unique=True))
        if draw(st.booleans()) and ops == ["eq"]:
            return draw(number(spec))
        if draw(st.integers(0, 5)) == 0:
            return {"in": draw(st.lists(number(spec), min_size=1, max_size=3))}
        return {op: draw(number(spec)) for op in ops}
    if spec.kind == "bool":
        value = draw(st.booleans())
        return draw(st.sampled_from([value, {"ne": value}, {"eq": value}]))
    values = draw(st.lists(st.sampled_from(spec.choices), min_size=1, max_size=3, unique=True))
    form = draw(st.integers(0, 4))
    if form == 0:
        return values[0]
    if form == 1:
        return values
    if form == 2:
        return {"ne": values[0]}
    if form == 3:
        return {"not_in": values}
    return {"in": values}


@st.composite
def table_doc(draw):
    inputs = draw(st.lists(st.sampled_from(INPUTS), min_size=1, max_size=5, unique=True))
    names = [s.name for s in inputs]
    policy = draw(st.booleans())
    rules = []
    for i in range(draw(st.integers(1, 6))):
        when = {}
        for spec in inputs:
            if draw(st.booleans()):
                when[spec.name] = draw(condition(spec))
        rule = {"id": f"r{i}-{draw(st.sampled_from(['a', 'b.c', 'd_e']))}",
                "description": draw(TEXT)}
        if draw(st.booleans()):
            rule["source"] = draw(TEXT)
        if when or draw(st.booleans()):
            rule["when"] = when
        if policy:
            items = []
            for pid in draw(st.lists(st.sampled_from(sorted(CATALOGUE.policies)), min_size=1,
                                     max_size=3, unique=True)):
                item = {"policy": pid}
                spec = CATALOGUE[pid]
                numeric = [n for n, p in spec.params.items() if p.type in ("int", "float")]
                if numeric and draw(st.booleans()):
                    item["params"] = {numeric[0]: spec.params[numeric[0]].default}
                items.append(item)
            rule["then"] = items
        else:
            rule["then"] = {"grade": draw(st.sampled_from(["AAA", "AA", "A", "B", "C"]))}
        rules.append(rule)
    doc = {"table": "random-table", "version": draw(st.sampled_from(["1", "2026.12.0", "v2"])),
           "hit_policy": "collect" if policy else "first", "inputs": names,
           "outputs": ["policy"] if policy else ["grade"], "rules": rules}
    if draw(st.booleans()):
        doc["description"] = draw(TEXT)
    if draw(st.booleans()):
        first = inputs[0]
        value = draw(number(first)) if first.kind in ("int", "float") else (
            draw(st.booleans()) if first.kind == "bool" else first.choices[0])
        doc["examples"] = [{"description": draw(TEXT), "given": {first.name: value},
                            "expect": {"rules": [rules[0]["id"]]}}]
    return doc


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                  HealthCheck.function_scoped_fixture])
@given(doc=table_doc())
def test_random_tables_survive_the_round_trip(tmp_path_factory, doc):
    import yaml

    folder = tmp_path_factory.mktemp("random")
    (folder / "random.yaml").write_text(yaml.safe_dump(doc, sort_keys=False, allow_unicode=True),
                                        encoding="utf-8")
    before = load_table_set(folder, CATALOGUE)
    xlsx = folder / "t.xlsx"
    export_workbook(before, xlsx)
    after = load_table_set(import_to(folder / "back", xlsx), CATALOGUE)
    assert [dict(t.canonical) for t in after.tables] == [dict(t.canonical) for t in before.tables]
    assert after.content_hash == before.content_hash


# --------------------------------------------------------------------------- nothing lost

def rule_ids(folder: Path) -> dict[str, tuple[list[str], int]]:
    tables = load_table_set(folder, CATALOGUE).tables
    return {t.name: ([r.id for r in t.rules], len(t.examples)) for t in tables}


def test_blank_rows_inside_a_table_are_skipped_and_named(tmp_path, workbook):
    wb = load_workbook(workbook)
    ws = wb["service-policies"]
    ws.insert_rows(24)
    ws.insert_rows(14, amount=2)
    last_rule = max(c.row for c in ws["A"] if c.value == "long-overdue-warning-non-residential")
    wb.save(workbook)
    done = CliRunner().invoke(app, ["rules", "import", str(workbook), "--out",
                                    str(tmp_path / "r")])
    assert done.exit_code == 0, done.output
    assert ("warning: service-policies!A14:A15: 2 blank rows inside the rules, skipped (the "
            "rules go on below)") in done.output
    assert "warning: service-policies!A26: a blank row inside the rules, skipped" in done.output
    assert last_rule > 26
    assert rule_ids(tmp_path / "r") == rule_ids(ROOT / "rules")
    total = sum(len(ids) for ids, _ in rule_ids(ROOT / "rules").values())
    assert f"the workbook's {total} rules and " in done.output


def test_blank_rows_among_examples_keep_every_example(workbook):
    wb = load_workbook(workbook)
    ws = wb["grades"]
    first = next(c.row for c in ws["A"] if c.value == "examples") + 2
    ws.insert_rows(first + 1)
    wb.save(workbook)
    imported = read_workbook(workbook, CATALOGUE)
    assert imported.warnings == (f"grades!A{first + 1}: a blank row inside the examples, "
                                 "skipped (the examples go on below)",)
    shipped_grades = next(t for t in load_table_set(ROOT / "rules", CATALOGUE).tables
                          if t.name == "grades")
    assert imported.counts["grades"] == (len(shipped_grades.rules),
                                         len(shipped_grades.examples))


def test_what_would_be_lost_is_refused_at_its_cell(workbook):
    wb = load_workbook(workbook)
    ws = wb["grades"]
    ws.cell(9, ws.max_column + 2, "ask Li about this band")
    ws["A3"] = "owner"
    policies = wb["service-policies"]
    policies.cell(7, 5).value = "wen"
    wb.save(workbook)
    problems = refusal(workbook)
    assert any(p.startswith("grades!A3: 'owner' is not a field of a table (table, file, "
                            "version, hit_policy, description): it would be lost") for p in
               problems), problems
    wb = load_workbook(workbook)
    wb["grades"]["A3"] = "version"
    wb.save(workbook)
    problems = refusal(workbook)
    column = wb["grades"].cell(9, wb["grades"].max_column).coordinate
    assert (f"grades!{column}: a value outside the table's columns ('ask Li about this band') "
            "would be lost: move it into the note column, or delete it") in problems
    name = policies.cell(8, 5).value
    assert (f"service-policies!E8: column '{name}' has no part: the cell above it says rule / "
            "when / then / note ('wen' is none of them)") in problems


def test_a_rule_or_example_missing_from_the_files_is_an_error(shipped):
    from engine.studio.workbookread import _Reading, lost_in_writing

    reading = _Reading(rows={"grades": [("band-aaa", "grades!A9"), ("band-zz", "grades!A30")]},
                       examples={"grades": [f"grades!A{40 + i}" for i in range(30)]})
    lost = lost_in_writing(reading, list(shipped.tables))
    held = len(next(t for t in shipped.tables if t.name == "grades").examples)
    assert lost[0] == ("grades!A30: rule 'band-zz' is in the workbook but not in the files that "
                       "would be written: nothing was written; keep the workbook and report "
                       "the problem")
    assert [p.split(":")[0] for p in lost[1:]] == [f"grades!A{40 + i}" for i in range(held, 30)]


def put(cell, value):
    """A value typed as text, as the export writes it (so '= 0' stays text, not a formula)."""
    cell.value = value
    if isinstance(value, str):
        cell.data_type = "s"


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                  HealthCheck.function_scoped_fixture])
@given(doc=table_doc(), data=st.data())
def test_blank_rows_moved_rows_and_notes_lose_nothing(tmp_path_factory, doc, data):
    import yaml

    folder = tmp_path_factory.mktemp("edited")
    (folder / "random.yaml").write_text(yaml.safe_dump(doc, sort_keys=False, allow_unicode=True),
                                        encoding="utf-8")
    before = load_table_set(folder, CATALOGUE)
    xlsx = folder / "t.xlsx"
    export_workbook(before, xlsx)
    wb = load_workbook(xlsx)
    ws = wb["random-table"]
    n = len(doc["rules"])
    first = 9  # the header is row 8
    order = data.draw(st.permutations(range(n)))
    rows = [[c.value for c in ws[first + i]] for i in range(n)]
    note = ws.max_column if ws.cell(8, ws.max_column).value == "at (file:line)" else None
    for i, k in enumerate(order):
        for j, value in enumerate(rows[k], start=1):
            put(ws.cell(first + i, j), value)
        if note and data.draw(st.booleans()):
            old = ws.cell(first + i, note).value or ""
            put(ws.cell(first + i, note), "checked with Li" + (
                " · when: {}" if old.endswith(" · when: {}") else ""))
    blanks = sorted(data.draw(st.lists(st.integers(1, max(1, n - 1)), max_size=3)),
                    reverse=True)
    for at in blanks if n > 1 else []:
        ws.insert_rows(first + at)
    if doc.get("examples"):
        marker = next(c.row for c in ws["A"] if c.value == "examples")
        ws.insert_rows(marker + 1)  # a blank row between the marker and the examples' header
    wb.save(xlsx)
    imported = read_workbook(xlsx, CATALOGUE)
    expected = dict(doc, rules=[doc["rules"][k] for k in order])
    out = folder / "back"
    out.mkdir()
    for name, text in imported.texts.items():
        (out / name).write_text(text, encoding="utf-8")
    after = load_table_set(out, CATALOGUE)
    assert dict(after.tables[0].canonical)["table"] == expected
    assert len(imported.warnings) == len(set(blanks)) if n > 1 else not imported.warnings
    assert imported.counts["random-table"] == (n, len(doc.get("examples") or []))


# --------------------------------------------------------------------------- minimal diffs

def changed_lines(a: str, b: str) -> list[str]:
    import difflib

    return [line for line in difflib.unified_diff(a.splitlines(), b.splitlines(), n=0,
                                                  lineterm="")
            if line[:1] in "+-" and line[:3] not in ("+++", "---")]


def test_rules_import_changes_only_the_edited_line_and_leaves_other_files_alone(tmp_path,
                                                                                 workbook):
    rules = tmp_path / "rules"
    shutil.copytree(ROOT / "rules", rules)
    stamps = {p.name: p.stat().st_mtime_ns for p in rules.iterdir()}
    wb = load_workbook(workbook)
    ws = wb["grades"]
    ws[cell_of(ws, "new-connection-cap", "months_connected")] = "< 18"
    wb.save(workbook)
    done = CliRunner().invoke(app, ["rules", "import", str(workbook), "--out", str(rules),
                                    "--overwrite"])
    assert done.exit_code == 0, done.output
    others = sorted(p.name for p in (ROOT / "rules").glob("*.yaml") if p.name != "grades.yaml")
    assert "wrote 1 file(s)" in done.output
    assert f"({len(others)} unchanged, left as they were)" in done.output
    for name in others:
        assert (rules / name).read_bytes() == (ROOT / "rules" / name).read_bytes()
        assert (rules / name).stat().st_mtime_ns == stamps[name]
    assert changed_lines((ROOT / "rules" / "grades.yaml").read_text(),
                         (rules / "grades.yaml").read_text()) == [
        "-    when: {months_connected: {lt: 12}, pd: {lt: 0.03}}",
        "+    when: {months_connected: {lt: 18}, pd: {lt: 0.03}}"]


def test_an_unchanged_table_in_a_changed_file_keeps_its_bytes(workbook):
    wb = load_workbook(workbook)
    ws = wb["consumption-class"]
    ws["B3"] = "2026.12.5"
    wb.save(workbook)
    base = {p.name: p.read_text(encoding="utf-8") for p in (ROOT / "rules").glob("*.yaml")}
    imported = read_workbook(workbook, CATALOGUE, base=base)
    assert sorted(imported.changed) == ["segments.yaml"]
    assert changed_lines(base["segments.yaml"], imported.texts["segments.yaml"]) == [
        '-    version: "2026.12.0"', '+    version: "2026.12.5"']


def test_without_the_files_import_writes_them_whole(workbook):
    imported = read_workbook(workbook, CATALOGUE)
    assert imported.unchanged == ()
    assert sorted(imported.changed) == sorted(p.name for p in (ROOT / "rules").glob("*.yaml"))


# --------------------------------------------------------------------------- whole-document patches

@st.composite
def patched_doc(draw):
    """A random table and a random change of it: cells, rules deleted, added, moved, examples."""
    doc = draw(table_doc())
    new = copy.deepcopy(doc)
    rules = new["rules"]
    for rule in rules:
        if draw(st.integers(0, 3)) == 0:
            rule["description"] = draw(st.text("abc xyz", min_size=1, max_size=12)).strip() or "x"
    if len(rules) > 1 and draw(st.booleans()):
        rules.pop(draw(st.integers(0, len(rules) - 1)))
    if draw(st.booleans()):
        rules.insert(draw(st.integers(0, len(rules))), {
            "id": "added-rule", "description": "added", "when": {},
            "then": rules[0]["then"]})
    order = draw(st.permutations(range(len(rules))))
    new["rules"] = [rules[k] for k in order]
    if draw(st.booleans()):
        new["version"] = "9.9"
    if new.get("examples") and draw(st.booleans()):
        new["examples"][0]["description"] = "changed example"
        new["examples"][0]["expect"] = {"rules": [new["rules"][0]["id"]]}
    return doc, new


@settings(max_examples=40, deadline=None)
@given(pair=patched_doc())
def test_a_patched_file_reads_as_the_new_document_and_keeps_untouched_rules(pair):
    import yaml

    old, new = pair
    text = yaml.safe_dump(old, sort_keys=False, allow_unicode=True, width=1 << 20)

    def refuse():
        raise AssertionError("the patch fell back to writing the whole file")

    patched = patch_text(text, new, fallback=refuse)
    assert yaml.safe_load(patched) == new
    kept = [r for r in old["rules"] if r in new["rules"]]
    for rule in kept:
        block = yaml.safe_dump([rule], sort_keys=False, allow_unicode=True, width=1 << 20)
        assert all(line.strip() in patched for line in block.splitlines())


# --------------------------------------------------------------------------- languages

def test_a_chinese_workbook_reads_back_to_the_same_tables(tmp_path, shipped):
    xlsx = tmp_path / "zh.xlsx"
    done = CliRunner().invoke(app, ["rules", "export", "--xlsx", str(xlsx), "--lang", "zh-CN"])
    assert done.exit_code == 0, done.output
    wb = load_workbook(xlsx)
    assert wb.sheetnames[0] == "说明" and wb.sheetnames[-2:] == ["写法", "其他文件"]
    ws = wb["grades"]
    rows = [[c.value for c in row] for row in ws.iter_rows()]
    assert [r[0] for r in rows[:5]] == ["表名", "文件", "版本", "命中策略", "描述"]
    assert rows[6][:2] == ["规则", "规则"] and "条件" in rows[6] and rows[6][-1] == "备注"
    assert rows[7][:3] == ["编号", "描述", "来源"] and rows[7][-1] == "位置（文件:行）"
    head = rows[7]
    note = ws.cell(8, head.index("pd") + 1).comment.text
    assert note.startswith("数字") and "≥ 0.015 and < 0.03" in note
    assert "示例" in [r[0] for r in rows]
    assert any(str(v).startswith("给定：") for r in rows for v in r if v)
    assert wb["写法"]["B6"].value == "小于"
    back = load_table_set(import_to(tmp_path / "back", xlsx), CATALOGUE)
    assert back.content_hash == shipped.content_hash


def test_english_headers_carry_notes_and_fixed_values_get_a_drop_down(workbook):
    wb = load_workbook(workbook)
    ws = wb["consumption-class"]
    head = [c.value for c in ws[8]]
    column = head.index("customer_class") + 1
    assert ws.cell(8, column).comment.text == (
        "One of: residential, commercial, industrial, public. Write one value, several (a, b) "
        "or not a; empty means no condition.")
    lists = [v for v in ws.data_validations.dataValidation if v.type == "list"]
    letter = ws.cell(1, column).column_letter
    drop = next(v for v in lists if f"{letter}9" in str(v.sqref))
    assert drop.formula1 == '"residential,commercial,industrial,public"'
    assert drop.showErrorMessage is False


def test_a_workbook_mixing_both_languages_is_read(tmp_path, shipped, workbook):
    wb = load_workbook(workbook)
    wb["About"].title = "说明"
    ws = wb["grades"]
    ws["A3"] = "版本"
    ws.cell(7, 1).value = "规则"
    wb.save(workbook)
    back = load_table_set(import_to(tmp_path / "mixed", workbook), CATALOGUE)
    assert back.content_hash == shipped.content_hash


def test_a_typo_in_a_header_is_one_message_at_the_header(workbook):
    wb = load_workbook(workbook)
    ws = wb["consumption-class"]
    head = [c.value for c in ws[8]]
    where = ws.cell(8, head.index("customer_class") + 1)
    where.value = "customer_clas"
    wb.save(workbook)
    problems = refusal(workbook)
    assert problems == [f"consumption-class!{where.coordinate}: 'customer_clas' is not a field "
                        "a table can read or set (did you mean 'customer_class'?): fix the "
                        "header (the rules below it are read once it names a field)"]
