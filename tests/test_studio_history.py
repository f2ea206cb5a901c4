"""Releases in the workbench: the history in plain words, in both languages, and a restore
that makes an older release the draft."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from engine.studio.app import create_studio_app
from engine.studio.plaindiff import shown
from engine.studio.workbench import StudioSettings
from tests.studio_server import studio_home

STUDIO = {"X-Studio": "1"}


@pytest.fixture(scope="module")
def published(tmp_path_factory):
    """A project with two releases: as shipped, then residential-large raised to 1,600 kWh."""
    folder = tmp_path_factory.mktemp("history")
    home = studio_home(folder)
    client = TestClient(create_studio_app(StudioSettings(
        home=home, drafts=folder / "drafts", populations=(folder,),
        db=str(folder / "log.sqlite"))), base_url="http://127.0.0.1:8765")
    first = client.post("/studio/api/publish", headers=STUDIO, json={"message": "as shipped",
                                                                   "publisher": "Wang Fang"})
    assert first.status_code == 200, first.text
    for body in ({"op": "set", "rule": 0, "column": "monthly_kwh", "text": "> 1600"},
                 {"op": "example-set", "rule": 0, "column": "given: monthly_kwh",
                  "text": "1600.5"}):
        done = client.post("/studio/api/edit", headers=STUDIO,
                           json={"file": "segments.yaml", "table": 0, **body})
        assert done.status_code == 200, done.text
    assert client.post("/studio/api/save", headers=STUDIO, json={"bump": True}
                       ).status_code == 200
    second = client.post("/studio/api/publish", headers=STUDIO,
                         json={"message": "large households from 1,600 kWh",
                               "publisher": "Wang Fang"})
    assert second.status_code == 200, second.text
    return client, home


def test_the_history_says_each_change_in_plain_words(published):
    client, _ = published
    page = client.get("/studio/history", params={"lang": "en"}).text
    assert page.index("Release 2") < page.index("Release 1")
    for line in ("rule `residential-large`: monthly_kwh threshold 1,500 → 1,600",
                 "table consumption-class: version 2026.12.0 → 2026.12.1",
                 "table consumption-class: example 1, given monthly_kwh 1,500.5 → 1,600.5",
                 "first release: 6 tables", "large households from 1,600 kWh",
                 "by Wang Fang",
                 "Four-eyes review is off for this project."):
        assert line in page
    assert page.count('class="restore"') == 1 and 'data-release="1"' in page


def test_the_history_in_chinese(published):
    client, _ = published
    page = client.get("/studio/history", params={"lang": "zh-CN"}).text
    assert "规则 `residential-large`：monthly_kwh 阈值 1,500 → 1,600" in page
    assert "表 consumption-class：示例1，given monthly_kwh 1,500.5 → 1,600.5" in page
    assert "恢复为新草稿" in page and "首次发布：6 张表" in page


def test_restoring_a_release_makes_its_tables_the_draft(published):
    client, home = published
    client.cookies.clear()  # the session's language is English again
    done = client.post("/studio/api/restore", headers=STUDIO, json={"release": 1})
    assert done.status_code == 200, done.text
    assert done.json()["changed"] == ["segments.yaml"]
    assert "The tables of release 1 are your draft now: segments.yaml" in done.json()["message"]
    grid = client.get("/studio/api/grid", params={"file": "segments.yaml", "table": 0}).json()
    assert 'value="&gt; 1500"' in grid["grid"] and grid["status"]["changed"] == ["segments.yaml"]
    assert "{gt: 1600}" in (home / "rules" / "segments.yaml").read_text()
    client.post("/studio/api/discard", headers=STUDIO, json={})
    again = client.post("/studio/api/restore", headers=STUDIO, json={"release": 2})
    assert again.json() == {"changed": [], "message": "The saved tables already are release "
                                                      "2: there is nothing to restore."}
    missing = client.post("/studio/api/restore", headers=STUDIO, json={"release": 9})
    assert missing.status_code == 422 and "there is no release 9" in missing.text


@pytest.mark.parametrize(("value", "text"), [(1500, "1,500"), (1500.5, "1,500.5"),
                                             (0.015, "0.015"), (True, "true"),
                                             (["a", "b"], "a, b"), (None, "—")])
def test_values_are_shown_as_the_page_writes_them(value, text):
    assert shown(value) == text


def test_publish_speaks_in_the_pages_terms_and_asks_who_publishes(tmp_path):
    home = studio_home(tmp_path)
    client = TestClient(create_studio_app(StudioSettings(
        home=home, drafts=tmp_path / "d", populations=(tmp_path,), four_eyes=True,
        db=str(tmp_path / "log.sqlite"))), base_url="http://127.0.0.1:8765")
    assert "an approver is needed" in client.get("/studio?lang=en").text
    refused = client.post("/studio/api/publish", headers=STUDIO, json={"message": " "})
    assert refused.status_code == 422 and refused.json()["code"] == "publish_refused"
    message = refused.json()["message"]
    assert "--" not in message and message.splitlines() == [
        "Not published, nothing was changed:",
        "  Write a release message: say what this release changes and why.",
        "  Say who is publishing: the page asks for your name once and remembers it.",
        "  Four-eyes review is on for this project: fill in \u201capproved by\u201d with the "
        "person who reviewed the tables."]
    self_approved = client.post("/studio/api/publish?lang=zh-CN", headers=STUDIO, json={
        "message": "m", "publisher": "Li Na", "approved_by": "li  na"})
    assert self_approved.json()["message"] == (
        "未发布，没有任何改动：\n  本项目启用了双人复核：批准人（li na）不能是发布人本人。")
    done = client.post("/studio/api/publish", headers=STUDIO, json={
        "message": "m", "publisher": "Li Na", "approved_by": "Zhou Min"})
    assert done.status_code == 200 and "by Li Na, approved by Zhou Min" in done.json()["line"]
