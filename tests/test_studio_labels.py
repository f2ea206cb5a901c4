"""The workbench speaks zh-CN and English completely: labels, script words, the switch."""

from __future__ import annotations

import json
import re
from html import unescape

import pytest
from fastapi.testclient import TestClient

from engine.language import check_placeholders
from engine.studio.app import create_studio_app
from engine.studio.labels import COOKIE, LABELS, catalogue, label, script_words
from engine.studio.workbench import StudioSettings
from tests.studio_server import population, studio_home

HAN = re.compile(r"[\u4e00-\u9fff]")
# ASCII punctuation next to a Chinese character: Chinese lines use full-width marks.
HALF_WIDTH = re.compile(r"[\u4e00-\u9fff][,;:?!()]|[,;:?!(][\u4e00-\u9fff]")
PAGES = ["/studio", "/studio/tables/grades", "/studio/tables/service-policies",
         "/studio/simulate", "/studio/impact", "/studio/history"]


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    folder = tmp_path_factory.mktemp("labels")
    home = studio_home(folder)
    population(folder / "pop", n=200)
    app = create_studio_app(StudioSettings(home=home, drafts=folder / "drafts",
                                           populations=(folder / "pop",)))
    return TestClient(app, base_url="http://127.0.0.1:8765")


@pytest.mark.parametrize("key", sorted(LABELS))
def test_every_label_has_a_chinese_text_with_full_width_punctuation(key):
    english = LABELS[key]
    chinese = catalogue().get(english)
    assert chinese, f"{key}: {english!r} has no zh-CN text in the workbench catalogue"
    assert HAN.search(chinese) or key.startswith("punct."), f"{key}: {chinese!r}"
    assert not HALF_WIDTH.search(chinese), f"{key}: {chinese!r} uses a half-width mark"
    assert check_placeholders(english, chinese) is None
    assert set(re.findall(r"%\((\w+)\)s", english)) == set(re.findall(r"%\((\w+)\)s", chinese))


def test_labels_fill_their_placeholders_in_each_language():
    assert label("tables.with_problems", "en", num=3) == "(3 with problems)"
    assert label("tables.with_problems", "zh-CN", num=3) == "（其中 3 条有问题）"
    assert label("js.delete_rule", "zh-CN") == "从草稿中删除第 %(num)s 条规则？"
    assert script_words("zh-CN")["js.discard"] == "放弃草稿中的全部改动？"


def visible(html: str) -> str:
    html = re.sub(r"<script.*?</script>", " ", html, flags=re.S)
    return unescape(re.sub(r"<[^>]+>", " ", html))


@pytest.mark.parametrize("path", PAGES)
def test_each_page_in_chinese_leaves_no_english_label(client, path):
    page = client.get(path, params={"lang": "zh-CN"})
    assert page.status_code == 200
    assert '<html lang="zh-CN">' in page.text
    text = visible(page.text)
    assert len(HAN.findall(text)) > 40
    english = [v for v in LABELS.values() if re.search(r"[a-z] [a-z]", v) and "%(" not in v
               and catalogue().get(v) != v and v in text]
    assert english == []
    words = json.loads(re.search(r'<script type="application/json" id="words">(.*?)</script>',
                                 page.text, re.S).group(1))
    assert words["js.publishing"] == "发布中……"


@pytest.mark.parametrize("path", PAGES)
def test_each_page_in_english_has_no_chinese(client, path):
    """Only the zh-CN texts staff write beside the English ones, each marked as zh-CN."""
    page = client.get(path, params={"lang": "en"})
    assert '<html lang="en">' in page.text
    own = re.sub(r'<textarea[^>]*lang="zh-CN"[^>]*>[^<]*</textarea>', " ", page.text)
    text = visible(own).replace("中文", "")
    assert HAN.findall(text) == []


def test_the_language_follows_the_browser_and_a_choice_is_kept_for_the_session(client):
    client.cookies.clear()
    assert "决策表" in client.get("/studio", headers={"Accept-Language": "zh-CN,zh;q=0.9"}).text
    assert "决策表" not in client.get("/studio", headers={"Accept-Language": "en-GB"}).text
    chosen = client.get("/studio/simulate", params={"lang": "zh-CN"},
                        headers={"Accept-Language": "en"})
    assert chosen.cookies.get(COOKIE) == "zh-CN"
    again = client.get("/studio/impact", headers={"Accept-Language": "en"})
    assert '<html lang="zh-CN">' in again.text
    back = client.get("/studio", params={"lang": "en"})
    assert '<html lang="en">' in back.text
    assert '<html lang="en">' in client.get("/studio/impact").text
    client.cookies.clear()


def test_the_index_explains_each_hit_policy_and_shows_each_description(client):
    text = visible(client.get("/studio", params={"lang": "zh-CN"}).text)
    assert "第一条匹配的规则决定结果" in text and "每条匹配的规则都生效" in text
    english = visible(client.get("/studio", params={"lang": "en"}).text)
    assert "the first rule that matches decides" in english
    assert "Large, average or small consumption within the customer's own class." in english
