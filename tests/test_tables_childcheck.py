"""The table check in a child process finds exactly what the same check finds in this
process, for the set it names by content hash, and a folder it cannot load is reported as
such rather than passed."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from engine.policies import load_catalogue
from engine.tables import check_table_set, load_table_set
from engine.tables.childcheck import ChildCheckFailed, check_in_child

ROOT = Path(__file__).resolve().parent.parent
CATALOGUE = ROOT / "policies" / "catalogue.yaml"


# A gap between 0.1 and 0.2, a rule that can never fire, and an example that fails:
# static findings and an example's finding in one set.
BROKEN = """\
table: grades
version: "1"
hit_policy: first
inputs: [pd]
outputs: [grade]
examples:
  - given: {pd: 0.3}
    expect: {grade: C}
rules:
  - id: low
    description: Low PD.
    when: {pd: {lt: 0.1}}
    then: {grade: A}
  - id: mid
    description: Middle PD.
    when: {pd: {ge: 0.2, lt: 0.5}}
    then: {grade: B}
  - id: high
    description: High PD.
    when: {pd: {ge: 0.5}}
    then: {grade: C}
  - id: never
    description: Contradictory conditions.
    when: {pd: {lt: 0.1, gt: 0.2}}
    then: {grade: C}
"""


def test_the_child_finds_what_this_process_finds(tmp_path):
    (tmp_path / "t.yaml").write_text(BROKEN)
    here = load_table_set(tmp_path, load_catalogue(CATALOGUE))
    expected = check_table_set(here)
    assert {f.kind for f in expected} >= {"example"} and len(expected) >= 2

    child = check_in_child(tmp_path, CATALOGUE)

    assert child.content_hash == here.content_hash
    assert child.findings == expected


def test_a_folder_the_child_cannot_load_is_reported_not_passed(tmp_path):
    rules = tmp_path / "rules"
    shutil.copytree(ROOT / "rules", rules)
    (rules / "grades.yaml").write_text("tables: [\n")
    with pytest.raises(ChildCheckFailed, match="could not load the set: .*grades.yaml"):
        check_in_child(rules, CATALOGUE)
