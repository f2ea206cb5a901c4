"""The workbench's Collections page: a customer's cases and dated steps, read only, in the
page's language, worded as ``collections show`` words them."""

from __future__ import annotations

import html

from fastapi.testclient import TestClient

from engine.studio.app import create_studio_app
from engine.studio.workbench import StudioSettings
from tests.collections_world import World
from tests.studio_server import studio_home


def test_the_page_shows_a_customers_steps_in_either_language_and_changes_nothing(
        tmp_path, engine):
    world = World(tmp_path / "db.sqlite")
    world.decide(engine, "H1", "household", "2026-01-01")
    world.send("bill_issued", "2026-01-01", bill_id="B1", amount=200.0, due="2026-01-20")
    expected = world.show("2026-03-01")
    world.close()
    home = studio_home(tmp_path)
    client = TestClient(create_studio_app(StudioSettings(
        home=home, drafts=tmp_path / "drafts", populations=(tmp_path,),
        db=str(tmp_path / "db.sqlite"))), base_url="http://127.0.0.1:8765")
    before = (tmp_path / "db.sqlite").read_bytes()

    empty = client.get("/studio/collections")
    assert empty.status_code == 200 and 'name="customer"' in empty.text
    assert 'class="timeline"' not in empty.text

    page = client.get("/studio/collections", params={"customer": "H1", "as_of": "2026-03-01",
                                                     "lang": "en"})
    assert page.status_code == 200
    case = expected.collections.cases[0]
    assert "Bill B1 of" in page.text and f"penalty {case.penalty.days}" not in page.text
    assert f"over {case.penalty.days} days" in page.text
    for step in case.steps:
        assert step.date.isoformat() in page.text
    chinese = client.get("/studio/collections", params={"customer": "H1",
                                                        "as_of": "2026-03-01", "lang": "zh-CN"})
    assert "客户催收情况" in chinese.text and "账单 B1" in chinese.text
    assert "Bill B1 of" not in chinese.text

    unknown = client.get("/studio/collections", params={"customer": "NOBODY",
                                                        "as_of": "2026-03-01", "lang": "en"})
    assert unknown.status_code == 200 and 'role="alert"' in unknown.text
    assert "decide the customer first" in unknown.text
    bad = client.get("/studio/collections", params={"customer": "H1", "as_of": "March"})
    assert "'March' is not a date: write it as YYYY-MM-DD" in html.unescape(bad.text)
    assert (tmp_path / "db.sqlite").read_bytes() == before
