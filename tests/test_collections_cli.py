"""The collections commands over a real database: stable JSON, exit codes, the work list."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from typer.testing import CliRunner

from engine.cli import app
from tests.collections_world import World

runner = CliRunner()


@pytest.fixture
def world(tmp_path, engine) -> World:
    found = World(tmp_path / "db.sqlite")
    found.decide(engine, "H1", "household", "2026-01-01")
    found.send("bill_issued", "2026-01-01", bill_id="B1", amount=200.0, due="2026-01-20")
    found.send("protection_granted", "2026-02-10", kind="medical_certificate",
               reference="MC-1", until="2026-02-20")
    yield found
    found.close()


def test_show_json_is_the_stable_shape(world):
    result = runner.invoke(app, ["collections", "show", "H1", "--as-of", "2026-03-01",
                                 "--db", world.url, "--json"])
    assert result.exit_code == 0, result.output
    body = json.loads(result.output)
    assert {"customer_id", "as_of", "cases", "protections"} <= set(body)
    assert (body["customer_id"], body["as_of"]) == ("H1", "2026-03-01")
    case = body["cases"][0]
    assert {k: case[k] for k in ("bill_id", "amount", "due", "outstanding", "penalty")} == {
        "bill_id": "B1", "amount": 200.0, "due": "2026-01-20", "outstanding": 200.0,
        "penalty": {"amount": 8.0, "days": 40}}
    warning = case["steps"][3]
    assert {k: warning[k] for k in ("action", "date", "status", "protection")} == {
        "action": "supply_cut_warning", "date": "2026-02-21", "status": "done",
        "protection": None}
    assert case["steps"][4]["date"] == "2026-03-01"  # 40 days, already 8 after the warning
    assert body["protections"] == [{"kind": "medical_certificate", "from": "2026-02-10",
                                    "until": "2026-02-20", "reference": "MC-1"}]


def test_show_text_speaks_the_chosen_language(world):
    result = runner.invoke(app, ["collections", "show", "H1", "--as-of", "2026-03-01",
                                 "--db", world.url, "--lang", "zh-CN"])
    assert result.exit_code == 0, result.output
    assert "客户H1，2026年3月1日：催收策略household-standard" in result.output
    assert "尚欠¥200.00，40天违约金¥8.00" in result.output
    assert "停电指令  今日到期" in result.output


def test_show_a_customer_never_decided_exits_2_saying_decide_first(world):
    result = runner.invoke(app, ["collections", "show", "H1", "--as-of", "2025-12-31",
                                 "--db", world.url])
    assert result.exit_code == 2
    assert "customer 'H1' has no decision logged" in result.output
    assert "decide the customer first" in result.output


def test_due_writes_the_work_list(world, tmp_path):
    out = tmp_path / "due.parquet"
    result = runner.invoke(app, ["collections", "due", "--as-of", "2026-03-01", "--db",
                                 world.url, "--out", str(out), "--no-progress"])
    assert result.exit_code == 0, result.output
    assert "1 steps due on 2026-03-01 for 1 customers" in result.output
    rows = pd.read_parquet(out)
    assert rows[["customer_id", "bill_id", "action", "channel", "date", "amount", "status"]] \
        .to_dict("records") == [{"customer_id": "H1", "bill_id": "B1",
                                 "action": "supply_cut_order", "channel": "visit",
                                 "date": "2026-03-01", "amount": 200.0, "status": "due"}]


def test_due_counts_customers_with_open_bills_but_no_decision(world, tmp_path):
    world.customer = "H2"
    world.send("bill_issued", "2026-02-10", bill_id="B2", amount=50.0, due="2026-02-20")
    result = runner.invoke(app, ["collections", "due", "--as-of", "2026-03-01", "--db",
                                 world.url, "--out", str(tmp_path / "d.csv"), "--no-progress"])
    assert result.exit_code == 0, result.output
    assert "1 customers with open bills have no decision on or before 2026-03-01 (H2): " \
           "decide them first" in result.output


def test_the_library_show_answers_the_same_json_as_the_command(world):
    from engine.collections import show

    result = runner.invoke(app, ["collections", "show", "H1", "--as-of", "2026-03-01",
                                 "--db", world.url, "--json"])
    assert show("H1", "2026-03-01", db=world.url) == json.loads(result.output)
