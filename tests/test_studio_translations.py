"""The tables' texts in every language, written in the workbench and checked live.

An edited description lacks its zh-CN text: the grid says so at the rule, as
publish would refuse it; the text written beside it goes into the project's
``.po`` file as the only added lines, and the running workbench sees it (and a
hand edit of the file) without a restart. ``rules check DIR`` checks the
translations of a folder outside the project too.
"""

from __future__ import annotations

import difflib
import shutil

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from engine.cli import app as cli
from engine.errors import InputError
from engine.studio.app import create_studio_app
from engine.studio.translate import write_translation
from engine.studio.workbench import StudioSettings
from tests.studio_server import studio_home

STUDIO = {"X-Studio": "1"}
EDITED = "Households above 1,600 kWh a month are large consumers."
LACKING = f"no zh-CN translation of {EDITED!r}".replace("'", "&#39;")
PO = "policies/locale/zh_CN/LC_MESSAGES/gridcredit.po"


@pytest.fixture
def home(tmp_path):
    return studio_home(tmp_path)


@pytest.fixture
def local(home, tmp_path):
    application = create_studio_app(StudioSettings(home=home, drafts=tmp_path / "drafts",
                                                   populations=(tmp_path,)))
    return TestClient(application, base_url="http://127.0.0.1:8765")


def _describe(local, text):
    done = local.post("/studio/api/edit", headers=STUDIO, json={
        "op": "set", "file": "segments.yaml", "table": 0, "rule": 0, "column": "description",
        "text": text})
    assert done.status_code == 200, done.text
    return done.json()


def test_a_new_description_lacks_its_translation_until_it_is_written_in_the_page(home, local):
    before = (home / PO).read_text(encoding="utf-8")
    grid = _describe(local, EDITED)["grid"]
    assert LACKING in grid
    assert 'data-translate="zh-CN"' in grid and "publishing refuses" in grid

    done = local.post("/studio/api/translate", headers=STUDIO, json={
        "file": "segments.yaml", "table": 0, "lang": "zh-CN", "line": 13, "source": EDITED,
        "text": "每月用电超过1,600千瓦时的居民为大用户。"})
    assert done.status_code == 200, done.text
    assert done.json()["catalogue"] == PO
    assert LACKING not in done.json()["grid"]
    after = (home / PO).read_text(encoding="utf-8")
    changed = [line for line in difflib.unified_diff(before.splitlines(), after.splitlines(),
                                                     lineterm="", n=0)
               if line[:1] in "+-" and not line.startswith(("+++", "---"))]
    assert changed == ["+", "+#: rules/segments.yaml:13", f'+msgid "{EDITED}"',
                       '+msgstr "每月用电超过1,600千瓦时的居民为大用户。"']
    page = local.get("/studio/tables/consumption-class?lang=zh-CN").text
    assert "每月用电超过1,600千瓦时的居民为大用户。" in page
    # Saved and published as it stands: the catalogue the release archives is the new one.
    assert local.post("/studio/api/save", headers=STUDIO, json={"bump": True}
                      ).status_code == 200
    published = local.post("/studio/api/publish", headers=STUDIO, json={
        "message": "new description", "publisher": "Wang Fang"})
    assert published.status_code == 200, published.text


def test_a_hand_edit_of_the_catalogue_reaches_the_running_workbench(home, local):
    assert LACKING in _describe(local, EDITED)["grid"]
    with (home / PO).open("a", encoding="utf-8") as fh:
        fh.write(f'\nmsgid "{EDITED}"\nmsgstr "大用户。"\n')
    grid = local.get("/studio/api/grid", params={"file": "segments.yaml", "table": 0}).json()
    assert LACKING not in grid["grid"]
    assert "大用户。" in grid["grid"]


def test_a_translation_changes_only_its_own_lines_and_keeps_placeholders(tmp_path):
    po = tmp_path / "x.po"
    po.write_text('msgid ""\nmsgstr ""\n\nmsgid "Days between account reviews."\n'
                  'msgstr "旧"\n\nmsgid "%(num)s days"\nmsgstr "%(num)s天"\n', encoding="utf-8")
    assert write_translation(po, "Days between  account\nreviews.", "新", "rules/a.yaml:1")
    assert po.read_text(encoding="utf-8").splitlines()[4] == 'msgstr "新"'
    assert not write_translation(po, "Days between account reviews.", "新", "rules/a.yaml:1")
    with pytest.raises(InputError, match=r"translation of '%\(num\)s days'"):
        write_translation(po, "%(num)s days", "%(days)s天", "rules/a.yaml:2")
    with pytest.raises(InputError, match="is empty"):
        write_translation(po, "%(num)s days", "  ", "rules/a.yaml:2")
    assert po.read_text(encoding="utf-8").endswith('msgstr "%(num)s天"\n')


def test_an_unknown_language_is_refused_by_name(local):
    done = local.post("/studio/api/translate", headers=STUDIO, json={
        "file": "segments.yaml", "table": 0, "lang": "fr", "line": 1, "source": "x",
        "text": "y"})
    assert done.status_code == 422
    assert "'fr' is not a language translations are written for: use zh-CN" in done.text


def test_rules_check_of_a_folder_outside_the_project_checks_its_translations(home, tmp_path):
    folder = tmp_path / "elsewhere"
    shutil.copytree(home / "rules", folder)
    path = folder / "segments.yaml"
    path.write_text(path.read_text(encoding="utf-8").replace(
        "Households using more than 1,500 kWh a month are large consumers.", EDITED),
        encoding="utf-8")
    result = CliRunner().invoke(cli, ["rules", "check", str(folder), "--no-examples",
                                      "--home", str(home)])
    assert result.exit_code == 1, result.output
    assert f"{folder}/segments.yaml:13: zh-CN: no zh-CN translation of {EDITED!r}" \
        in result.output
