"""``gridcredit audit``: exact output and exit codes of verify, show and list."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import text
from typer.testing import CliRunner

from engine.audit.log import open_log
from engine.audit.recorder import open_recorder
from engine.cli import app
from tests.factories import artifact_sha256, good, make_decision

REPO = Path(__file__).resolve().parent.parent

runner = CliRunner()
TEMPLATES = str(REPO / "policies" / "templates")


@pytest.fixture
def db(tmp_path: Path) -> str:
    path = str(tmp_path / "log.sqlite")
    with open_log(path) as log:
        log.append_many(make_decision(i) for i in range(1, 4))
    return path


def invoke(*args: str):
    return runner.invoke(app, list(args))


def test_verify_intact(db: str) -> None:
    with open_log(db) as log:
        head = log.verify().head_hash
    result = invoke("audit", "verify", "--db", db)
    assert result.exit_code == 0
    assert result.output == (f"sqlite:///{db}: 3 rows, chain intact; head {head}\n"
                             "archive: 0 rows, chain intact\nreleases: 0 rows, chain intact\n"
                             "payment events: 0 rows, chain intact\n"
                             "event outcomes: 0 rows, chain intact\n")


def test_verify_broken_names_row_decision_and_difference(db: str) -> None:
    with open_log(db) as log, log.engine.begin() as conn:
        conn.execute(text("DROP TRIGGER decision_log_no_update"))
        conn.execute(text("UPDATE decision_log SET as_of = '2025-01-01' WHERE seq = 2"))
    result = invoke("audit", "verify", "--db", db)
    assert result.exit_code == 1
    assert result.output.splitlines() == [
        f"sqlite:///{db}: BROKEN at row 2 (decision d-00002): content edited: "
        "column as_of = '2025-01-01' but the payload says '2026-06-30'",
        "rows intact before it: 1; do not trust the log from row 2 on",
        "archive: 0 rows, chain intact",
        "releases: 0 rows, chain intact",
        "payment events: 0 rows, chain intact",
        "event outcomes: 0 rows, chain intact",
    ]


def test_verify_missing_file_is_an_error(tmp_path: Path) -> None:
    missing = tmp_path / "nope.sqlite"
    result = invoke("audit", "verify", "--db", str(missing))
    assert result.exit_code == 2
    assert f"error: no decision log at {missing}: give the log with --db" in result.output
    assert not missing.exists()


def test_verify_uses_environment_variable(db: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GRIDCREDIT_DB", db)
    result = invoke("audit", "verify")
    assert result.exit_code == 0
    assert ": 3 rows, chain intact" in result.output


def test_show_json_round_trips(db: str) -> None:
    result = invoke("audit", "show", "d-00002", "--db", db, "--format", "json")
    assert result.exit_code == 0
    assert json.loads(result.output) == json.loads(make_decision(2).to_json())


@pytest.mark.parametrize(
    ("fmt", "expected"),
    [
        ("text", "Decision d-00002\nCustomer C0002 (commercial), as of June 30, 2026.\n"),
        ("md", "d-00002"),
        ("html", "d-00002"),
    ],
)
def test_show_explains(db: str, fmt: str, expected: str) -> None:
    result = invoke("audit", "show", "d-00002", "--db", db, "--format", fmt,
                    "--templates", TEMPLATES)
    assert result.exit_code == 0, result.output
    assert expected in result.output
    assert "band-A" in result.output and "lda-commercial-2026.1" in result.output


def test_show_carries_the_sha256_of_the_artifact_that_scored(tmp_path: Path, engine) -> None:
    path = str(tmp_path / "real.sqlite")
    decisions = [engine.decide(good(customer_id="E1")),
                 engine.decide(good(customer_id="R1", customer_class="residential",
                                      asset_liability_ratio=..., current_ratio=...,
                                      return_on_net_assets=...,
                                      loan_repayment_on_schedule_rate=...))]
    with open_recorder(path=path) as recorder:
        recorder.decisions(engine, decisions)
    for decision, artifact in zip(decisions, ("enterprise.json", "residential.json"),
                                  strict=True):
        sha = artifact_sha256(REPO / "models" / artifact)
        shown = invoke("audit", "show", decision.decision_id, "--db", path, "--format", "json")
        assert json.loads(shown.output)["score"]["model_sha256"] == sha
        for fmt, lang in (("text", "en"), ("md", "zh-CN"), ("html", "en")):
            shown = invoke("audit", "show", decision.decision_id, "--db", path, "--format", fmt,
                           "--lang", lang)
            assert shown.exit_code == 0, shown.output
            assert sha in shown.output, (fmt, lang)


def test_show_names_policies_with_catalogue_titles(tmp_path: Path) -> None:
    path = str(tmp_path / "p.sqlite")
    with open_log(path) as log:
        log.append(make_decision(7, policies=True))
    result = invoke("audit", "show", "d-00007", "--db", path, "--templates", TEMPLATES,
                    "--catalogue", str(REPO / "policies" / "catalogue.yaml"))
    assert result.exit_code == 0, result.output
    assert "POLICIES (1)" in result.output
    assert "  * Personalised service [personalised_service]" in result.output
    assert "rule 'avg-personal' at rules/service-policies.yaml:30" in result.output


def test_show_unknown_id_and_format(db: str) -> None:
    result = invoke("audit", "show", "d-404", "--db", db)
    assert result.exit_code == 2
    assert "error: decision 'd-404' is not in the log" in result.output
    result = invoke("audit", "show", "d-00001", "--db", db, "--format", "pdf")
    assert result.exit_code == 2
    assert "error: unknown format 'pdf': use one of json, text, md, html" in result.output


def test_list_newest_first_and_by_customer(db: str) -> None:
    result = invoke("audit", "list", "--db", db, "--limit", "2")
    assert result.exit_code == 0
    lines = result.output.splitlines()
    assert [line.split()[0] for line in lines] == ["3", "2"]
    assert [line.split()[2] for line in lines] == ["d-00003", "d-00002"]
    result = invoke("audit", "list", "--db", db, "--customer", "C0001")
    assert [line.split()[2] for line in result.output.splitlines()] == ["d-00001"]
    result = invoke("audit", "list", "--db", db, "--customer", "ZZZ")
    assert result.output == "no decisions logged for customer ZZZ\n"


def test_every_audit_command_has_help_and_is_documented() -> None:
    docs = (REPO / "docs" / "audit.md").read_text()
    for command in ("verify", "show", "list"):
        result = invoke("audit", command, "--help")
        assert result.exit_code == 0
        assert "--db" in result.output
        assert f"gridcredit audit {command}" in docs
