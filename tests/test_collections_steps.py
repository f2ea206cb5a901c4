"""Each step that falls due is a logged decision in the one chain, recorded once a day and
reproduced by ``audit replay`` from the chained events and the archived tables."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from typer.testing import CliRunner

from engine.audit.log import StepNotADecision, open_log
from engine.cli import app
from tests.collections_world import World

runner = CliRunner()


@pytest.fixture
def world(db, engine) -> World:
    found = World(db)
    found.decide(engine, "H1", "household", "2026-01-01")
    found.send("bill_issued", "2026-01-01", bill_id="B1", amount=200.0, due="2026-01-20")
    found.send("repayment", "2026-01-25", bill_id="B1", amount=50.0)
    yield found
    found.close()


def _due(world: World, on: str, out) -> str:
    result = runner.invoke(app, ["collections", "due", "--as-of", on, "--db", world.url,
                                 "--out", str(out), "--no-progress"])
    assert result.exit_code == 0, result.output
    return result.output


def test_the_days_steps_are_logged_once_and_replay_reproduces_them(world, tmp_path):
    out = tmp_path / "due.csv"
    first = _due(world, "2026-01-30", out)
    assert "1 steps due on 2026-01-30 for 1 customers" in first
    assert "1 step decisions logged in" in first and "(0 were logged already)" in first
    again = _due(world, "2026-01-30", out)
    assert "0 step decisions logged in" in again and "(1 were logged already)" in again
    row = pd.read_csv(out).iloc[0]
    assert (row["action"], row["status"], row["amount"]) == ("default_liability_notice", "due",
                                                             150.0)
    with open_log(world.url, create=False) as log:
        step = log.step(row["step_id"])
        with pytest.raises(StepNotADecision, match="is a collection step"):
            log.get(row["step_id"])
    assert (step["customer_id"], step["bill_id"], step["step"]["action"]) == (
        "H1", "B1", "default_liability_notice")
    assert step["case"]["outstanding"] == 150.0 and step["case"]["penalty"]["days"] == 10
    assert step["explanation"]["en"].startswith(
        "notice of default liability for bill B1 of CN¥200.00 due on January 20, 2026: due "
        "on January 30, 2026, 10 days after the due date (strategy household-standard).")
    assert "尚欠¥150.00；10天违约金" in step["explanation"]["zh-CN"]
    assert "January 30, 2026" in step["document"]["en"] and "您" in step["document"]["zh-CN"]
    assert len(step["events"]) == 2
    replayed = runner.invoke(app, ["audit", "replay", row["step_id"], "--db", world.url])
    assert replayed.exit_code == 0, replayed.output
    assert replayed.output.startswith(f"reproduced: collection step {row['step_id']} "
                                      "(default_liability_notice for customer H1, bill B1")
    verified = runner.invoke(app, ["audit", "verify", "--db", world.url])
    assert verified.exit_code == 0, verified.output


def test_show_still_reads_the_customers_decision_after_steps_are_logged(world, tmp_path):
    _due(world, "2026-01-30", tmp_path / "due.csv")
    result = runner.invoke(app, ["collections", "show", "H1", "--as-of", "2026-01-30",
                                 "--db", world.url, "--json"])
    assert result.exit_code == 0, result.output
    body = json.loads(result.output)
    with open_log(world.url, create=False) as log:
        decision = [e for e in log.entries("H1") if e.model_id != "(collections)"]
    assert body["decision_id"] == decision[0].decision_id


def test_a_step_computed_from_a_file_of_events_is_listed_not_logged(world, tmp_path):
    events = tmp_path / "events.csv"
    pd.DataFrame(world.processor.store.events_for("H1")).to_csv(events, index=False)
    result = runner.invoke(app, ["collections", "due", "--as-of", "2026-01-30", "--db",
                                 world.url, "--events", str(events), "--out",
                                 str(tmp_path / "d.csv"), "--no-progress"])
    assert result.exit_code == 0, result.output
    assert "1 steps due on 2026-01-30" in result.output and "logged" not in result.output


def test_a_yearly_deposit_review_is_a_step_decision_of_its_own(db, engine, tmp_path):
    world = World(db)
    world.decide(engine, "D2", "C-grade household", "2026-01-01")
    for type_, on, fields in [
            ("bill_issued", "2026-01-02", {"bill_id": "M0", "amount": 60.0, "due": "2026-01-21"}),
            ("deposit_paid", "2026-01-05", {"deposit_id": "DEP1", "amount": 240.0}),
            ("repayment", "2026-01-21", {"bill_id": "M0", "amount": 60.0}),
            ("bill_issued", "2026-06-01", {"bill_id": "M5", "amount": 60.0, "due": "2026-06-20"}),
            ("bill_overdue", "2026-06-21", {"bill_id": "M5"}),
            ("repayment", "2026-06-30", {"bill_id": "M5", "amount": 60.0})]:
        world.send(type_, on, **fields)
    out = tmp_path / "due.csv"
    assert "1 step decisions logged" in _due(world, "2027-01-05", out)
    row = pd.read_csv(out).iloc[0]
    assert (row["action"], row["amount"], row["status"]) == ("deposit_review", 120.0, "due")
    with open_log(world.url, create=False) as log:
        step = log.step(row["step_id"])
    assert step["step"]["change"] == -120.0 and step["step"]["required"] == 120.0
    assert step["explanation"]["en"].endswith("CN¥120.00 is returned to the customer. The "
                                              f"strategy follows decision "
                                              f"{step['profile']['decision_id']}: grade C, "
                                              "class residential.")
    assert "向客户退还¥120.00。" in step["explanation"]["zh-CN"]
    replayed = runner.invoke(app, ["audit", "replay", row["step_id"], "--db", world.url])
    assert replayed.exit_code == 0 and replayed.output.startswith("reproduced:"), \
        replayed.output
    world.close()
