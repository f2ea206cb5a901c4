"""Condition columns from the record's vocabulary: added, renamed and removed in the grid,
each changing only the lines concerned, with drop-downs for fields with fixed values."""

from __future__ import annotations

import difflib

import pytest
from fastapi.testclient import TestClient

from engine.studio.app import create_studio_app
from engine.studio.columns import add_column, remove_column, rename_column
from engine.studio.edits import EditError
from engine.studio.workbench import StudioSettings
from tests.studio_server import studio_home

STUDIO = {"X-Studio": "1"}
TEXT = ("table: t\nversion: '1'\nhit_policy: first\ninputs: [customer_class, monthly_kwh]\n"
        "outputs: [consumption_class]\nrules:\n"
        "  - id: big\n    when: {customer_class: residential, monthly_kwh: {gt: 1500}}\n"
        "    then: {consumption_class: large}\n"
        "  - id: rest\n    when: {customer_class: residential}\n"
        "    then: {consumption_class: average}\n")


def _changed(before, after):
    return [ln for ln in difflib.unified_diff(before.splitlines(), after.splitlines(),
                                              lineterm="", n=0)
            if ln[:1] in "+-" and not ln.startswith(("+++", "---"))]


@pytest.fixture
def local(tmp_path):
    home = studio_home(tmp_path)
    client = TestClient(create_studio_app(StudioSettings(home=home, drafts=tmp_path / "d",
                                                         populations=(tmp_path,))),
                        base_url="http://127.0.0.1:8765")
    return client


def test_a_column_is_added_renamed_and_removed_line_by_line():
    added = add_column(TEXT, 0, "critical_load")
    assert _changed(TEXT, added) == [
        "-inputs: [customer_class, monthly_kwh]",
        "+inputs: [customer_class, monthly_kwh, critical_load]"]
    renamed = rename_column(TEXT, 0, "monthly_kwh", "contracted_capacity_kva")
    assert _changed(TEXT, renamed) == [
        "-inputs: [customer_class, monthly_kwh]",
        "+inputs: [customer_class, contracted_capacity_kva]",
        "-    when: {customer_class: residential, monthly_kwh: {gt: 1500}}",
        "+    when: {customer_class: residential, contracted_capacity_kva: {gt: 1500}}"]
    removed = remove_column(TEXT, 0, "monthly_kwh")
    assert _changed(TEXT, removed) == [
        "-inputs: [customer_class, monthly_kwh]", "+inputs: [customer_class]",
        "-    when: {customer_class: residential, monthly_kwh: {gt: 1500}}",
        "+    when: {customer_class: residential}"]


@pytest.mark.parametrize(("call", "message"), [
    (lambda: add_column(TEXT, 0, "monthly_kwhh"),
     "'monthly_kwhh' is not a field of the customer record (did you mean 'monthly_kwh'?)"),
    (lambda: add_column(TEXT, 0, "monthly_kwh"),
     "'monthly_kwh' is already a condition column of this table"),
    (lambda: rename_column(TEXT, 0, "pd", "monthly_kwh"),
     "'pd' is not a condition column of this table"),
    (lambda: remove_column(TEXT, 3, "pd"), "there is no table number 4 in this file"),
])
def test_a_column_edit_that_cannot_be_made_says_why(call, message):
    with pytest.raises(EditError) as refused:
        call()
    assert str(refused.value) == message


def test_the_grid_adds_a_column_and_offers_the_fixed_values(local):
    page = local.get("/studio/tables/consumption-class?lang=en").text
    assert '<datalist id="choices-customer_class">' in page
    assert '<option value="residential">' in page and 'list="choices-customer_class"' in page
    assert '<option value="critical_load">critical_load</option>' in page
    assert '<option value="monthly_kwh">' not in page
    done = local.post("/studio/api/edit", headers=STUDIO, json={
        "op": "column-add", "file": "segments.yaml", "table": 0, "column": "",
        "text": "critical_load"}).json()
    assert 'data-column-name="critical_load"' in done["grid"]
    assert '<datalist id="choices-critical_load"><option value="true"><option value="false">' \
        in done["grid"]
    assert done["status"]["changed"] == ["segments.yaml"] and done["status"]["loads"]
    refused = local.post("/studio/api/edit", headers=STUDIO, json={
        "op": "column-rename", "file": "segments.yaml", "table": 0, "column": "critical_load",
        "text": "critcal_load"})
    assert refused.status_code == 422 and "did you mean" in refused.text
    gone = local.post("/studio/api/edit", headers=STUDIO, json={
        "op": "column-remove", "file": "segments.yaml", "table": 0,
        "column": "critical_load", "text": ""}).json()
    assert 'data-column-name="critical_load"' not in gone["grid"]
    assert gone["status"]["changed"] == []
