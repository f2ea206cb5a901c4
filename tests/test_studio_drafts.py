"""Drafts: edits that touch only their own text, live checks at the cell, safe saves."""

from __future__ import annotations

import difflib
import shutil
from collections import Counter
from pathlib import Path

import pytest
import yaml

from engine.errors import ConflictError, InputError, TableSetError
from engine.policies import load_catalogue
from engine.records import vocabulary
from engine.rulecheck import check_catalogue
from engine.studio import edits
from engine.studio.drafts import DraftStore, Workspace, static_findings
from engine.studio.grid import grid, table_refs
from engine.studio.notation import ABSENT, parse_condition
from engine.studio.rows import rule_row
from engine.tables import check_table_set, load_table_set

ROOT = Path(__file__).resolve().parent.parent
CATALOGUE = load_catalogue(ROOT / "policies" / "catalogue.yaml")


@pytest.fixture
def workspace(tmp_path):
    shutil.copytree(ROOT / "rules", tmp_path / "rules")
    return Workspace(tmp_path / "rules", CATALOGUE, DraftStore(tmp_path / "drafts"))


def changed_lines(before: str, after: str) -> list[str]:
    return [ln for ln in difflib.unified_diff(before.splitlines(), after.splitlines(),
                                              lineterm="", n=0)
            if ln[:1] in "+-" and not ln.startswith(("+++", "---"))]


def test_writing_back_shipped_cells_changes_nothing():
    vocab = vocabulary()
    for path in sorted((ROOT / "rules").glob("*.yaml")):
        text = path.read_text()
        doc = yaml.safe_load(text)
        if "table" not in doc and "tables" not in doc:
            continue
        for t, body in enumerate(doc.get("tables") or [doc]):
            cols = ["id", "description", "source"]
            for r, rule in enumerate(body["rules"]):
                cells = rule_row(rule, cols, body["inputs"], body["outputs"])
                when = cells[len(cols):len(cols) + len(body["inputs"])]
                for name, cell in zip(body["inputs"], when, strict=True):
                    written = parse_condition(cell, vocab[name])
                    assert written == rule.get("when", {}).get(name, ABSENT), (path.name, r)
                if r % 4:
                    continue  # the text edit itself, for every fourth rule (ruamel is slow)
                names = [*cols, *body["inputs"],
                         *(["policy"] if body["outputs"] == ["policy"] else body["outputs"])]
                for name, cell in zip(names, cells, strict=True):
                    assert edits.set_cell(text, t, r, name, cell) == text, (path.name, r, name)


def test_a_threshold_in_a_wrapped_condition_changes_only_that_rule():
    text = (ROOT / "rules" / "service-policies.yaml").read_text()
    doc = yaml.safe_load(text)
    r = next(i for i, rule in enumerate(doc["rules"])
             if rule["id"] == "long-overdue-warning-residential")
    after = edits.set_cell(text, 0, r, "max_days_overdue_12m", "> 45")
    assert yaml.safe_load(after)["rules"][r]["when"]["max_days_overdue_12m"] == {"gt": 45}
    lines = changed_lines(text, after)
    assert lines[:2] == ["-    when: {max_days_overdue_12m: {gt: 30}, overdue_amount: {gt: 0}, "
                         "critical_load: false,", "-           customer_class: residential}"]
    assert lines[2:] == ["+    when: {max_days_overdue_12m: {gt: 45}, overdue_amount: {gt: 0}, "
                         "critical_load: false, customer_class: residential}"]


def test_comments_and_other_rules_survive_structural_edits():
    text = (ROOT / "rules" / "grades.yaml").read_text()
    commented = text.replace("  - id: band-aa\n", "  # the AA band: keep in step with the caps\n"
                             "  - id: band-aa\n")
    order = [r["id"] for r in yaml.safe_load(text)["rules"]]
    aaa = order.index("band-aaa")
    dup = edits.duplicate_rule(commented, 0, aaa)
    assert "# the AA band: keep in step with the caps" in dup
    ids = [r["id"] for r in yaml.safe_load(dup)["rules"]]
    assert ids[aaa:aaa + 2] == ["band-aaa", "band-aaa-copy"]
    moved = edits.move_rule(commented, 0, aaa + 2, -1)
    assert [r["id"] for r in yaml.safe_load(moved)["rules"]][aaa:aaa + 3] == [
        "band-aaa", "band-a", "band-aa"]
    gone = edits.delete_rule(commented, 0, order.index("band-c"))
    assert "id: band-c" not in gone and gone.startswith(commented[:200])
    added = edits.add_rule(commented, 0, 3)
    new = yaml.safe_load(added)["rules"][4]
    assert new == {"id": "new-rule-1", "description": "", "when": {}, "then": {}}
    assert edits.next_version("2026.12.0") == "2026.12.1"
    assert edits.next_version("v7") == "v8"


def test_a_typo_is_shown_at_its_cell_with_the_message_rules_check_prints(workspace, tmp_path):
    checked = workspace.edit("ann", "segments.yaml",
                             lambda s: edits.set_cell(s, 0, 0, "customer_class", "residental"))
    assert not checked.loads
    table = grid(checked, table_refs(checked)[1])
    assert table.ref.name == "consumption-class"
    (shown,) = table.rows[0].errors["customer_class"]
    # The same text written to a folder gives the same message from the loader.
    folder = tmp_path / "copy"
    shutil.copytree(tmp_path / "rules", folder)
    (folder / "segments.yaml").write_text(checked.texts["rules/segments.yaml"])
    with pytest.raises(TableSetError) as err:
        load_table_set(folder, CATALOGUE)
    (error,) = err.value.errors
    assert shown == "rules/segments.yaml:15: " + str(error).split(": ", 1)[1]
    assert shown.endswith("(did you mean 'residential'?)")
    assert [e.status for e in table.examples] == ["unknown"] * 5


def test_save_writes_only_a_set_that_loads(workspace, tmp_path):
    path = tmp_path / "rules" / "grades.yaml"
    before = path.read_text()
    order = [r["id"] for r in yaml.safe_load(before)["rules"]]
    workspace.edit("ann", "grades.yaml", lambda s: edits.set_cell(
        s, 0, order.index("band-aaa"), "pd", "< 0.0x5"))
    with pytest.raises(InputError, match=r"the draft does not load \(2 problem\(s\)"):
        workspace.save("ann")
    assert path.read_text() == before
    workspace.discard("ann")
    assert workspace.check("ann").changed == ()


def test_a_save_racing_another_edit_of_the_file_is_refused(workspace, tmp_path):
    path = tmp_path / "rules" / "segments.yaml"
    workspace.edit("ann", "segments.yaml",
                   lambda s: edits.set_cell(s, 0, 0, "monthly_kwh", "> 1400"))
    # Someone else saves the same file meanwhile (another workbench user, or an editor).
    workspace.edit("bob", "segments.yaml",
                   lambda s: edits.set_cell(s, 0, 1, "monthly_kwh", "< 250"))
    assert workspace.save("bob") == ["segments.yaml"]
    bobs = path.read_text()
    with pytest.raises(ConflictError) as err:
        workspace.save("ann")
    assert err.value.http_status == 409
    assert err.value.message == (
        "rules/segments.yaml: the file changed since your draft of it began (someone saved "
        "it, from the workbench or an editor); nothing was written: discard the draft and "
        "make your change again on the current file")
    assert path.read_text() == bobs


def test_save_with_bump_raises_the_version_of_changed_tables_only(workspace, tmp_path):
    before = (tmp_path / "rules" / "segments.yaml").read_text()
    workspace.edit("ann", "segments.yaml",
                   lambda s: edits.set_cell(s, 2, 0, "service_quality_gap", "≥ 1.5"))
    workspace.save("ann", bump=True)
    after = (tmp_path / "rules" / "segments.yaml").read_text()
    versions = {t.name: t.version for t in load_table_set(tmp_path / "rules", CATALOGUE).tables}
    assert versions["service-sensitivity"] == "2026.12.1"
    assert versions["consumption-class"] == versions["value-tier"] == "2026.12.0"
    assert len(changed_lines(before, after)) == 4


def test_live_static_checks_are_those_of_rules_check(workspace):
    checked = workspace.check("ann")
    expected = check_table_set(checked.table_set) + check_catalogue(checked.table_set)
    assert Counter(map(str, static_findings(checked.table_set)[0])) == Counter(map(str, expected))


def test_a_table_of_200_rules_is_shown_and_edited(tmp_path):
    rules = tmp_path / "rules"
    shutil.copytree(ROOT / "rules", rules)
    body = ["table: many-rules", 'version: "1"', "hit_policy: collect",
            "inputs: [monthly_kwh, customer_class]", "outputs: [policy]", "rules:"]
    for i in range(200):
        body += [f"  - id: r{i:03d}", f"    description: Rule number {i}.",
                 f"    when: {{monthly_kwh: {{gt: {i * 100}}}, customer_class: residential}}",
                 "    then:", "      - policy: personalised_service"]
    (rules / "many.yaml").write_text("\n".join(body) + "\n")
    ws = Workspace(rules, CATALOGUE, DraftStore(tmp_path / "drafts"))
    checked = ws.edit("ann", "many.yaml", lambda s: edits.set_cell(s, 0, 150, "monthly_kwh",
                                                                   "> 15050"))
    assert checked.loads
    table = grid(checked, next(r for r in table_refs(checked) if r.name == "many-rules"))
    assert len(table.rows) == 200
    assert table.rows[150].cells[3] == "> 15050"
    ws.save("ann")
    lines = changed_lines("\n".join(body) + "\n", (rules / "many.yaml").read_text())
    assert lines == ["-    when: {monthly_kwh: {gt: 15000}, customer_class: residential}",
                     "+    when: {monthly_kwh: {gt: 15050}, customer_class: residential}"]



def test_a_cell_the_notation_cannot_read_keeps_its_text_and_blocks_the_draft(tmp_path):
    rules = tmp_path / "rules"
    shutil.copytree(ROOT / "rules", rules)
    space = Workspace(rules, CATALOGUE, DraftStore(tmp_path / "drafts"))
    table = next(r for r in table_refs(space.check("li", static=False)) if r.name == "grades")
    index = next(i for i, row in enumerate(grid(space.check("li", static=False), table).rows)
                 if row.rule_id == "band-aa")
    checked = space.edit_cell("li", "grades.yaml", table.position, index, "pd",
                              "between 0.015 and 0.03")
    assert not checked.loads and checked.changed == ("grades.yaml",)
    row = grid(checked, table).rows[index]
    column = [c.name for c in grid(checked, table).columns].index("pd")
    assert row.cells[column] == "between 0.015 and 0.03"
    assert row.errors["pd"] == ["rules/grades.yaml: 'between 0.015 and 0.03': write a range "
                                "with its two edges, the lower one included: '≥ 0.015 and < "
                                "0.03' (or '≥ 0.015 and ≤ 0.03' to include both)"]
    with pytest.raises(InputError, match=r"1 cell\(s\) of the draft cannot be read"):
        space.save("li")
    checked = space.edit_cell("li", "grades.yaml", table.position, index, "pd", "1.5%")
    assert grid(checked, table).rows[index].errors["pd"][0].endswith(
        "write a share as a decimal, not a percentage (did you mean 0.015?)")
    fixed = space.edit_cell("li", "grades.yaml", table.position, index, "pd",
                            "≥ 0.015 and < 0.03")
    assert fixed.loads and fixed.changed == () and not fixed.problems


def test_an_edited_version_is_kept_and_an_unedited_one_is_bumped_on_save(tmp_path):
    rules = tmp_path / "rules"
    shutil.copytree(ROOT / "rules", rules)
    space = Workspace(rules, CATALOGUE, DraftStore(tmp_path / "drafts"))
    refs = {r.name: r for r in table_refs(space.check("li", static=False))}
    grades, value = refs["grades"], refs["value-tier"]
    space.edit("li", "grades.yaml",
               lambda t: edits.set_table_key(t, grades.position, "version", "2027.1.0"))
    space.edit("li", "grades.yaml", lambda t: edits.set_cell(
        t, grades.position, 0, "description", "A theft finding forces C."))
    space.edit("li", "segments.yaml", lambda t: edits.set_cell(
        t, value.position, 0, "description", "Large consumers with good credit."))
    assert sorted(space.save("li", bump=True)) == ["grades.yaml", "segments.yaml"]
    after = {t.name: t.version for t in load_table_set(rules, CATALOGUE).tables}
    assert after["grades"] == "2027.1.0"
    assert after["value-tier"] == "2026.12.1" and after["consumption-class"] == "2026.12.0"
    diff = [ln for ln in difflib.unified_diff((ROOT / "rules" / "grades.yaml").read_text()
                                              .splitlines(), (rules / "grades.yaml").read_text()
                                              .splitlines(), lineterm="", n=0)
            if ln[:1] in "+-" and not ln.startswith(("+++", "---"))]
    assert diff == ['-version: "2026.12.0"', '+version: "2027.1.0"',
                    diff[2], "+    description: A theft finding forces C."]
    assert diff[2].startswith("-    description: ")


def test_undo_and_redo_walk_the_draft_back_and_forth(tmp_path):
    rules = tmp_path / "rules"
    shutil.copytree(ROOT / "rules", rules)
    space = Workspace(rules, CATALOGUE, DraftStore(tmp_path / "drafts"))
    saved = (rules / "grades.yaml").read_text()

    def text():
        return space.texts("li")[0]["rules/grades.yaml"]

    space.edit("li", "grades.yaml", lambda t: edits.set_table_key(t, 0, "version", "2027.1"))
    first = text()
    space.edit("li", "grades.yaml", lambda t: edits.set_table_key(t, 0, "version", "2027.2"))
    second = text()
    assert space.undo("li").changed == ("grades.yaml",) and text() == first
    assert space.undo("li").changed == () and text() == saved
    with pytest.raises(InputError, match="nothing to undo in this draft"):
        space.undo("li")
    space.undo("li", redo=True)
    assert text() == first
    space.undo("li", redo=True)
    assert text() == second
    space.undo("li")
    space.edit("li", "grades.yaml", lambda t: edits.set_table_key(t, 0, "version", "2027.3"))
    with pytest.raises(InputError, match="nothing to redo in this draft"):
        space.undo("li", redo=True)
    space.discard("li")
    with pytest.raises(InputError, match="nothing to undo"):
        space.undo("li")


def test_a_threshold_changed_under_its_own_words_gets_a_finding(tmp_path):
    rules = tmp_path / "rules"
    shutil.copytree(ROOT / "rules", rules)
    space = Workspace(rules, CATALOGUE, DraftStore(tmp_path / "drafts"))
    ref = next(r for r in table_refs(space.check("li", static=False))
               if r.name == "consumption-class")
    checked = space.edit("li", "segments.yaml",
                         lambda t: edits.set_cell(t, ref.position, 0, "monthly_kwh", "> 1400"))
    stale = [f for f in checked.findings if f.kind == "description"]
    assert [str(f) for f in stale] == [
        "rules/segments.yaml:12: residential-large: the description still says 1,500 but the "
        "condition monthly_kwh.gt is now 1400: change the description too"]
    assert "the description still says 1,500" in grid(checked, ref).rows[0].findings[0]
    checked = space.edit("li", "segments.yaml", lambda t: edits.set_cell(
        t, ref.position, 0, "description", "Households using more than 1,400 kWh a month."))
    assert not [f for f in checked.findings if f.kind == "description"]
