"""Examples edited in the grid: a threshold change breaks one, the page fixes it, adds and
deletes one, and the file changes only in the lines each edit touched."""

from __future__ import annotations

import difflib
import re

import pytest
from fastapi.testclient import TestClient

from engine.studio.app import create_studio_app
from engine.studio.edits import EditError
from engine.studio.examples import add_example, delete_example, set_example_cell
from engine.studio.notation import NotationError
from engine.studio.workbench import StudioSettings
from tests.studio_server import studio_home

STUDIO = {"X-Studio": "1"}


@pytest.fixture(scope="module")
def home(tmp_path_factory):
    return studio_home(tmp_path_factory.mktemp("examples"))


@pytest.fixture
def local(home, tmp_path):
    client = TestClient(create_studio_app(StudioSettings(home=home, drafts=tmp_path / "d",
                                                         populations=(tmp_path,))),
                        base_url="http://127.0.0.1:8765")
    yield client
    client.post("/studio/api/discard", json={}, headers=STUDIO)


def _edit(local, **body):
    done = local.post("/studio/api/edit", headers=STUDIO,
                      json={"file": "segments.yaml", "table": 0, **body})
    assert done.status_code == 200, done.text
    return done.json()


def _statuses(grid):
    return re.findall(r'<tr class="example (\w+)" data-example="\d+">', grid)


def _changed(before, after):
    return [ln for ln in difflib.unified_diff(before.splitlines(), after.splitlines(),
                                              lineterm="", n=0)
            if ln[:1] in "+-" and not ln.startswith(("+++", "---"))]


def test_a_threshold_breaks_an_example_and_the_page_fixes_it(home, local):
    before = (home / "rules" / "segments.yaml").read_text(encoding="utf-8")
    assert _statuses(_edit(local, op="set", rule=0, column="monthly_kwh", text="> 1600")["grid"]
                     ) == ["fail", "pass", "pass", "pass", "pass"]
    grid = _edit(local, op="example-set", rule=0, column="given: monthly_kwh",
                 text="1600.5")["grid"]
    assert _statuses(grid) == ["pass"] * 5
    assert 'value="1600.5" data-example-column="given: monthly_kwh"' in grid
    assert local.post("/studio/api/save", json={}, headers=STUDIO).status_code == 200
    after = (home / "rules" / "segments.yaml").read_text(encoding="utf-8")
    assert _changed(before, after) == [
        "-        when: {customer_class: residential, monthly_kwh: {gt: 1500}}",
        "+        when: {customer_class: residential, monthly_kwh: {gt: 1600}}",
        "-      - given: {customer_class: residential, monthly_kwh: 1500.5}",
        "+      - given: {customer_class: residential, monthly_kwh: 1600.5}"]


def test_an_added_example_is_checked_and_a_deleted_one_is_gone(local):
    grid = _edit(local, op="example-add")["grid"]
    assert _statuses(grid) == ["pass"] * 6
    grid = _edit(local, op="example-set", rule=5, column="expect: consumption_class",
                 text="large")["grid"]
    assert _statuses(grid) == ["pass"] * 5 + ["fail"]
    assert "consumption_class = &#39;average&#39;, expected &#39;large&#39;" in grid
    grid = _edit(local, op="example-delete", rule=5)["grid"]
    assert _statuses(grid) == ["pass"] * 5


def test_every_input_and_output_is_a_column_of_the_examples(local):
    grid = _edit(local, op="example-set", rule=0, column="description",
                 text="Just above the line")["grid"]
    for column in ("description", "given: customer_class", "given: monthly_kwh",
                   "expect: consumption_class", "expect: rules"):
        assert f'data-example-column="{column}"' in grid
    assert 'value="Just above the line"' in grid


def test_example_edits_change_only_their_lines():
    text = ("table: t\nversion: '1'\nhit_policy: first\ninputs: [a]\noutputs: [b]\n"
            "rules:\n  - id: r\n    when: {a: {gt: 1}}\n    then: {b: x}\n"
            "examples:\n  - given: {a: 2}\n    expect: {b: x}\n")
    assert set_example_cell(text, 0, 0, "given: a", "") == text.replace("{a: 2}", "{}")
    assert set_example_cell(text, 0, 0, "expect: rules", "[r]").endswith(
        "    expect: {b: x, rules: [r]}\n")
    assert add_example(text, 0).endswith("  - given: {a: 2}\n    expect: {b: x}\n" * 2)
    assert delete_example(text, 0, 0).endswith("examples:\n")
    with pytest.raises(NotationError, match="cannot read"):
        set_example_cell(text, 0, 0, "given: a", "{oops")
    with pytest.raises(EditError, match="'given' is not an example column"):
        set_example_cell(text, 0, 0, "given", "1")
    with pytest.raises(EditError, match="no example number 3"):
        delete_example(text, 0, 2)
