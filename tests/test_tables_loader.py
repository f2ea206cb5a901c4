"""Loading decision tables: bad input gives one clear error at file:line, never a traceback."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import pytest

from engine.errors import TableSetError
from engine.policies import load_catalogue
from engine.tables import TableSet, load_table_set

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "tests" / "data" / "tables"
CATALOGUE = load_catalogue(ROOT / "policies" / "catalogue.yaml")

TINY = """\
table: tiny
version: "1"
hit_policy: first
inputs: [pd, consumption_class]
outputs: [grade]
rules:
  - id: low
    description: Low PD.
    when: {pd: {lt: 0.5}}
    then: {grade: A}
  - id: high
    description: High PD.
    when: {pd: {ge: 0.5}}
    then: {grade: C}
"""

SEGMENT = """\
table: size
version: "1"
hit_policy: first
inputs: [monthly_kwh]
outputs: [consumption_class]
rules:
  - id: big
    description: Big users.
    when: {monthly_kwh: {gt: 1000}}
    then: {consumption_class: large}
  - id: rest
    description: Everyone else.
    then: {consumption_class: average}
"""


def write(folder: Path, **files: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (folder / f"{name}.yaml").write_text(text)
    return folder


def load_error(folder: Path) -> TableSetError:
    with pytest.raises(TableSetError) as info:
        load_table_set(folder, CATALOGUE)
    return info.value


def test_tiny_set_loads_in_execution_order(tmp_path):
    ts = load_table_set(write(tmp_path, a=TINY, b=SEGMENT), CATALOGUE)
    assert [t.name for t in ts.tables] == ["size", "tiny"]
    assert ts.versions == {"size": "1", "tiny": "1"}
    assert len(ts.content_hash) == 64


def test_content_hash_ignores_comments_and_layout_but_not_content(tmp_path):
    a = load_table_set(write(tmp_path / "a", t=TINY, s=SEGMENT), CATALOGUE)
    b = load_table_set(write(tmp_path / "b", t="# a comment\n" + TINY, s=SEGMENT), CATALOGUE)
    c = load_table_set(write(tmp_path / "c", t=TINY.replace("0.5", "0.4"), s=SEGMENT),
                       CATALOGUE)
    assert a.content_hash == b.content_hash
    assert a.content_hash != c.content_hash


def test_tab_indented_file_names_the_line_and_the_fix(tmp_path):
    shutil.copy(DATA / "tab-indented.yaml", tmp_path / "t.yaml")
    err = load_error(tmp_path)
    assert err.line == 7
    assert "indent with spaces, not tabs" in str(err)
    assert str(err).startswith(f"{tmp_path / 't.yaml'}:7: ")


def test_misspelled_field_gets_did_you_mean(tmp_path):
    text = TINY + """\
  - id: typo
    description: Misspelled field.
    when: {consumptoin_class: large}
    then: {grade: B}
"""
    err = load_error(write(tmp_path, t=text, s=SEGMENT))
    assert (err.line, err.rule_id, err.suggestion) == (17, "typo", "consumption_class")
    assert "unknown field 'consumptoin_class'" in str(err)
    assert "(did you mean 'consumption_class'?)" in str(err)


def test_grade_not_on_the_scale(tmp_path):
    tier = ('table: tier\nversion: "1"\nhit_policy: first\ninputs: [grade]\n'
            'outputs: [value_tier]\nrules:\n  - id: top\n    description: Top grade.\n'
            '    when: {grade: AA}\n    then: {value_tier: high}\n  - id: rest\n'
            '    description: Everyone else.\n    then: {value_tier: standard}\n')
    err = load_error(write(tmp_path, t=TINY, s=SEGMENT, v=tier))
    assert (Path(err.file).name, err.line, err.rule_id, err.suggestion) == ("v.yaml", 9,
                                                                            "top", "A")
    assert err.reason == "'grade' eq: 'AA' is not a value of 'grade': use one of A, C"


def test_an_override_to_a_grade_no_band_draws_is_a_finding(tmp_path):
    from engine.tables.analysis import table_findings

    override = TINY.replace("rules:\n", "rules:\n  - id: large\n    description: Large users."
                            "\n    when: {consumption_class: large, pd: {lt: 0.5}}\n"
                            "    then: {grade: CC}\n")
    tables = load_table_set(write(tmp_path, t=override, s=SEGMENT), CATALOGUE)
    found = [f for f in table_findings(tables.table("tiny")) if f.subject == "large"]
    assert [f.message for f in found] == [
        "sets grade CC, which no band rule of the master scale draws: add a band for CC or "
        "set a grade the scale has (A, C)"]


def test_the_band_rules_name_the_grades(tmp_path):
    tables = load_table_set(write(tmp_path, t=TINY.replace("{grade: A}", "{grade: AAAA}"),
                                  s=SEGMENT), CATALOGUE)
    assert [b.grade for b in tables.scale] == ["AAAA", "C"]


def test_text_where_a_number_belongs(tmp_path):
    err = load_error(write(tmp_path, t=TINY.replace("{ge: 0.5}", '{ge: "ten"}'), s=SEGMENT))
    assert (err.line, err.rule_id) == (13, "high")
    assert "'pd' ge: 'pd' is a number (probability), not 'ten'" in err.reason


def test_unknown_operator(tmp_path):
    err = load_error(write(tmp_path, t=TINY.replace("{ge: 0.5}", "{gte: 0.5}"), s=SEGMENT))
    assert err.suggestion == "ge"
    assert "unknown operator 'gte'" in err.reason


def test_ordering_operator_on_a_category(tmp_path):
    err = load_error(write(tmp_path, t=TINY + """\
  - id: cmp
    description: Compares a category.
    when: {consumption_class: {gt: small}}
    then: {grade: B}
""", s=SEGMENT))
    assert "compares numbers" in err.reason


POLICY_TABLE = """\
table: offers
version: "1"
hit_policy: collect
inputs: [consumption_class]
outputs: [policy]
rules:
  - id: big-manager
    description: Big users get a manager.
    when: {consumption_class: large}
    then:
      - policy: dedicated_account_manager
        params: {review_interval_days: 30}
"""


def test_policy_id_typo(tmp_path):
    text = POLICY_TABLE.replace("dedicated_account_manager", "dedicated_acount_manager")
    err = load_error(write(tmp_path, p=text, s=SEGMENT))
    assert (err.line, err.rule_id, err.suggestion) == (11, "big-manager",
                                                      "dedicated_account_manager")
    assert "not in the catalogue" in err.reason


def test_param_above_its_bound(tmp_path):
    err = load_error(write(tmp_path, p=POLICY_TABLE.replace(": 30}", ": 999}"), s=SEGMENT))
    assert err.line == 12
    assert "param 'review_interval_days': 999 is above its maximum 180 days" in err.reason


def test_unknown_param_gets_did_you_mean(tmp_path):
    text = POLICY_TABLE.replace("review_interval_days", "review_interval")
    err = load_error(write(tmp_path, p=text, s=SEGMENT))
    assert err.suggestion == "review_interval_days"


def test_two_tables_set_grade(tmp_path):
    err = load_error(write(tmp_path, a=TINY, b=TINY.replace("tiny", "other"), s=SEGMENT))
    assert "both set 'grade'" in str(err)


def test_cycle_names_the_tables(tmp_path):
    shutil.copy(DATA / "cycle-a.yaml", tmp_path / "c.yaml")
    err = load_error(tmp_path)
    assert "cycle" in err.reason
    assert "makes-grade" in err.reason and "makes-tier" in err.reason


def test_empty_file(tmp_path):
    err = load_error(write(tmp_path, empty="# nothing here\n"))
    assert "file is empty" in str(err)


def test_ten_megabyte_file_is_refused_quickly(tmp_path):
    big = tmp_path / "big.yaml"
    big.write_text(TINY + "# " + "x" * 10_000_000 + "\n")
    started = time.perf_counter()
    err = load_error(tmp_path)
    assert time.perf_counter() - started < 2
    assert "at most 1,000,000 bytes" in str(err)


def test_yaml_bomb_is_refused_without_expanding(tmp_path):
    shutil.copy(DATA / "yaml-bomb.yaml", tmp_path / "bomb.yaml")
    started = time.perf_counter()
    err = load_error(tmp_path)
    assert time.perf_counter() - started < 5
    assert "anchors and aliases" in str(err)


def test_duplicate_rule_id(tmp_path):
    err = load_error(write(tmp_path, t=TINY.replace("id: high", "id: low"), s=SEGMENT))
    assert (err.line, err.rule_id) == (11, "low")
    assert "duplicate rule id (first used at line 7)" in err.reason


def test_unknown_rule_key_and_missing_description(tmp_path):
    text = TINY.replace("when: {pd: {lt: 0.5}}", "wen: {pd: {lt: 0.5}}")
    err = load_error(write(tmp_path, t=text, s=SEGMENT))
    assert err.suggestion == "when"


def test_input_no_table_sets(tmp_path):
    err = load_error(write(tmp_path, t=TINY))
    assert "reads 'consumption_class', which no table sets" in err.reason


def test_field_not_declared_as_input(tmp_path):
    text = TINY.replace("{pd: {lt: 0.5}}", "{pd: {lt: 0.5}, critical_load: true}")
    err = load_error(write(tmp_path, t=text, s=SEGMENT))
    assert "not among the table's inputs" in err.reason


def test_collect_cannot_set_fields(tmp_path):
    err = load_error(write(tmp_path, t=TINY.replace("first", "collect"), s=SEGMENT))
    assert "can only add policies" in err.reason


def test_all_problems_of_all_files_are_reported_together(tmp_path):
    bad1 = TINY.replace("{ge: 0.5}", '{ge: "ten"}')
    bad2 = SEGMENT.replace("large", "huge")
    err = load_error(write(tmp_path, a=bad1, b=bad2))
    assert len(err.errors) == 2
    assert {Path(e.file).name for e in err.errors} == {"a.yaml", "b.yaml"}


def test_non_table_yaml_is_skipped(tmp_path):
    write(tmp_path, t=TINY, s=SEGMENT, events="windows:\n  rebate_days: 30\n")
    assert len(load_table_set(tmp_path, CATALOGUE).tables) == 2


def test_failed_reload_leaves_the_good_set_in_force(tmp_path):
    folder = write(tmp_path, t=TINY, s=SEGMENT)
    good = load_table_set(folder, CATALOGUE)
    before = good.decide({"pd": 0.2, "monthly_kwh": 10})
    write(folder, t=TINY.replace("{ge: 0.5}", '{ge: "ten"}'))
    with pytest.raises(TableSetError):
        load_table_set(folder, CATALOGUE)
    assert good.decide({"pd": 0.2, "monthly_kwh": 10}) == before
    assert before.outputs == {"consumption_class": "average", "grade": "A"}


def test_table_set_is_immutable(tmp_path):
    ts = load_table_set(write(tmp_path, t=TINY, s=SEGMENT), CATALOGUE)
    assert isinstance(ts, TableSet)
    with pytest.raises(AttributeError):
        ts.version = "2"  # type: ignore[misc]
    assert isinstance(ts.tables, tuple)


def test_schema_file_matches_the_generator():
    import json

    from engine.tables import table_schema

    shipped = json.loads((ROOT / "engine" / "tables" / "table.schema.json").read_text())
    assert shipped == table_schema([p.id for p in CATALOGUE])
    assert shipped["$defs"]["table"]["properties"]["hit_policy"]["enum"] == [
        "unique", "first", "priority", "any", "collect", "rule_order"]
