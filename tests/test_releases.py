"""The auditor's time machine: archive, replay, releases and exports, on SQLite and PostgreSQL.

A decision is logged through the real service; the tables are then edited and
published; the replay must still reproduce the logged digest from the archive,
and ``--with`` must show what the edited tables would have decided instead.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text
from typer.testing import CliRunner

from engine import synth
from engine.audit.archive import Archive, ArchiveMissing
from engine.audit.log import open_log
from engine.cli import app
from engine.decider import load
from engine.governance.releases import PublishRefused, history, is_published, publish
from engine.governance.replay import replay
from engine.service import Settings, create_app
from engine.service.auth import add_key
from tests.factories import plain_record

ROOT = Path(__file__).resolve().parent.parent
POLICIES = ROOT / "rules" / "service-policies.yaml"
CRITICAL = "params: {response_target_hours: 1.0}"


def _plain(row: dict) -> dict:
    return plain_record(row)


@pytest.fixture(scope="module")
def critical_record() -> dict:
    frame = synth.generate(400, seed=5).drop(columns=["default_12m"])
    rows = frame[frame["critical_load"]].to_dict(orient="records")
    return _plain(rows[0])


def _edit(home: Path, old: str, new: str, version: str | None = None) -> None:
    path = home / "rules" / "service-policies.yaml"
    body = path.read_text()
    assert old in body
    body = body.replace(old, new)
    if version:
        body = body.replace('version: "2026.12.0"', f'version: "{version}"', 1)
    path.write_text(body)


def _cli(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, list(args))
    return result.exit_code, result.output


def _service(home: Path, db: str, tmp_path: Path, **settings) -> TestClient:
    keys = tmp_path / "keys.yaml"
    key = add_key(keys, f"ops-{len(keys.read_text()) if keys.exists() else 0}",
                  ["decide", "audit", "admin"])
    s = Settings.load(env={}, db=db, keys_file=keys, home=home, **settings)
    client = TestClient(create_app(s))
    client.headers["Authorization"] = f"Bearer {key}"
    return client


def test_a_service_decision_replays_after_the_tables_change(home, db, tmp_path,
                                                            critical_record):
    with _service(home, db, tmp_path) as client:
        decided = client.post("/v1/decisions", json=critical_record)
        assert decided.status_code == 200, decided.text
    logged = decided.json()
    repair = next(p for p in logged["policies"] if p["policy_id"] == "priority_repair_channel")

    _edit(home, CRITICAL, "params: {response_target_hours: 0.5}", version="2026.12.1")
    code, out = _cli("rules", "publish", "--home", str(home), "--db", db,
                     "-m", "critical loads repaired within 30 minutes",
                     "--approved-by", "auditor-li", "--publisher", "policy-wang")
    assert code == 0, out
    assert "published release 1" in out and "by policy-wang, approved by auditor-li" in out
    code, out = _cli("rules", "diff", logged["tables"]["content_hash"][:12], "1", "--db", db,
                     "--home", str(home))
    assert code == 0, out
    assert "param response_target_hours: 1.0 -> 0.5" in out

    code, out = _cli("audit", "replay", logged["decision_id"], "--db", db)
    assert code == 0, out
    assert out.startswith(f"reproduced: decision {logged['decision_id']} digest "
                          f"{logged['digest']}")

    code, out = _cli("audit", "replay", logged["decision_id"], "--db", db,
                     "--with", str(home / "rules"), "--home", str(home))
    assert code == 0, out
    assert out.startswith("COUNTERFACTUAL")
    index = logged["policies"].index(repair)
    assert (f"policies[{index}].params.response_target_hours: "
            f"{repair['params']['response_target_hours']!r} -> 0.5") in out


def test_publish_refuses_a_changed_table_without_a_new_version_and_changes_nothing(
        home, tmp_path):
    db = str(tmp_path / "log.sqlite")
    engine = load(home)
    with open_log(db) as log:
        first, _ = publish(engine, log.engine, message="baseline", publisher="wang",
                           approver="li")
        _edit(home, CRITICAL, "params: {response_target_hours: 0.5}")
        edited = load(home)
        with pytest.raises(PublishRefused, match=r"service-policies.yaml:\d+: table "
                           r"'service-policies' changed since the last release but its "
                           r"version is still 2026.12.0: bump 'version:'"):
            publish(edited, log.engine, message="faster", publisher="wang", approver="li")
        assert [r.number for r in history(log.engine)] == [first.number]
        assert not Archive(log.engine).has("tables", edited.tables.content_hash)


def test_publish_refuses_failing_checks_and_four_eyes_violations(home, tmp_path):
    db = str(tmp_path / "log.sqlite")
    _edit(home, "expect: {policy: [", "expect: {policy: [security_deposit, ", )
    code, out = _cli("rules", "publish", "--home", str(home), "--db", db, "-m", "x",
                     "--approved-by", "li")
    assert code == 1
    assert "publish refused, nothing was changed" in out
    assert "example" in out
    code, out = _cli("rules", "history", "--db", db)
    assert code == 0 and out.startswith("no releases")
    shutil.copy(ROOT / "rules" / "service-policies.yaml", home / "rules")
    code, out = _cli("rules", "publish", "--home", str(home), "--db", db, "-m", "x",
                     "--four-eyes", "--publisher", "wang", "--approved-by", "Wang")
    assert code == 1
    assert "the approver (Wang) must not be the publisher" in out


def test_require_published_refuses_at_start_and_at_reload(home, db, tmp_path):
    engine = load(home)
    with pytest.raises(Exception, match="was never published, and require_published is on"):
        _service(home, db, tmp_path, require_published=True).__enter__()
    with open_log(db) as log:
        publish(engine, log.engine, message="baseline", publisher="wang", approver="li")
    with _service(home, db, tmp_path, require_published=True) as client:
        _edit(home, CRITICAL, "params: {response_target_hours: 0.5}", version="2026.12.1")
        refused = client.post("/v1/tables:reload")
        assert refused.status_code == 422
        assert "was never published" in refused.json()["message"]
        active = client.get("/v1/tables").json()
        assert active["tables_content_hash"] == engine.tables.content_hash


def test_verify_catches_an_edited_archive_and_replay_says_what_is_missing(home, tmp_path,
                                                                          critical_record):
    db = str(tmp_path / "log.sqlite")
    engine = load(home)
    decision = engine.decide(critical_record)
    with open_log(db) as log:
        log.append(decision)
        with pytest.raises(ArchiveMissing, match=f"table set {decision.tables.content_hash} "
                           f"that decision {decision.decision_id} was made with is not in "
                           "the archive"):
            replay(log, decision.decision_id)
        Archive(log.engine).keep(engine)
        assert replay(log, decision.decision_id).reproduced
        code, out = _cli("audit", "verify", "--db", db)
        assert code == 0, out
        assert "archive: 3 rows, chain intact" in out
        with log.engine.begin() as conn:
            conn.execute(text("DROP TRIGGER archive_no_update"))
            content = conn.scalar(text("SELECT content FROM archive WHERE kind='tables'"))
            doc = json.loads(content)
            name = "rules/service-policies.yaml"
            doc["files"][name] = doc["files"][name].replace("response_target_hours: 1.0",
                                                            "response_target_hours: 9.0")
            conn.execute(text("UPDATE archive SET content=:c WHERE kind='tables'"),
                         {"c": json.dumps(doc, sort_keys=True, separators=(",", ":"))})
    code, out = _cli("audit", "verify", "--db", db)
    assert code == 1
    assert "archive: BROKEN at row 1: tables" in out
    assert "content hashes to" in out and "not its key" in out


def test_replay_of_an_unknown_id_exits_2(tmp_path):
    db = str(tmp_path / "log.sqlite")
    open_log(db).close()
    code, out = _cli("audit", "replay", "no-such-id", "--db", db)
    assert code == 2
    assert "decision 'no-such-id' is not in the log" in out


def test_export_verifies_offline_and_an_edited_export_is_caught(home, db, tmp_path,
                                                                critical_record):
    engine = load(home)
    with open_log(db) as log:
        for i in range(4):
            log.append(engine.decide({**critical_record, "customer_id": f"C-{i}"}))
    for fmt in ("jsonl", "parquet"):
        out_file = tmp_path / f"export.{fmt}"
        code, out = _cli("audit", "export", "--db", db, "--from", "2000-01-01",
                         "--to", "2999-12-31", "--format", fmt, "--out", str(out_file))
        assert code == 0, out
        assert "exported 4 decisions (seq 1-4)" in out
        code, out = _cli("audit", "verify", "--export", str(out_file))
        assert code == 0, out
        assert "4 decisions, seq 1-4, chain intact" in out
    lines = (tmp_path / "export.jsonl").read_text().splitlines()
    row = json.loads(lines[3])
    payload = json.loads(row["payload"])
    payload["grade"]["grade"] = "AAA" if payload["grade"]["grade"] != "AAA" else "C"
    row["payload"] = json.dumps(payload)
    lines[3] = json.dumps(row)
    (tmp_path / "edited.jsonl").write_text("\n".join(lines) + "\n")
    code, out = _cli("audit", "verify", "--export", str(tmp_path / "edited.jsonl"))
    assert code == 1
    assert f"BROKEN (decision {row['decision_id']}): row 3: content edited" in out
    dropped = lines[:2] + lines[3:]
    (tmp_path / "dropped.jsonl").write_text("\n".join(dropped) + "\n")
    code, out = _cli("audit", "verify", "--export", str(tmp_path / "dropped.jsonl"))
    gone = json.loads(lines[2])["decision_id"]
    assert code == 1 and f"BROKEN (decision {gone}): row 2: row 2 (decision {gone}) is missing" \
        in out


def test_rules_diff_compares_releases_folders_and_hashes(home, tmp_path):
    db = str(tmp_path / "log.sqlite")
    engine = load(home)
    with open_log(db) as log:
        publish(engine, log.engine, message="baseline", publisher="wang", approver="li")
        assert is_published(log.engine, engine.tables.content_hash)
    _edit(home, CRITICAL, "params: {response_target_hours: 0.5}", version="2026.12.1")
    code, out = _cli("rules", "diff", "1", str(home / "rules"), "--db", db,
                     "--home", str(home))
    assert code == 0, out
    assert out.splitlines()[0] == (f"release 1 -> folder {home / 'rules'}: 0 rule(s) added, "
                                   "0 removed, 1 changed, 0 moved")
    assert "  version: \"2026.12.0\" -> \"2026.12.1\"" in out
    assert ("    policy priority_repair_channel param response_target_hours: 1.0 -> 0.5"
            in out)
    code, out = _cli("rules", "diff", engine.tables.content_hash[:12], "1", "--db", db,
                     "--home", str(home))
    assert code == 0 and "no changes between" in out


def test_a_cli_decision_with_db_is_archived_and_replays(tmp_path, critical_record):
    db = str(tmp_path / "log.sqlite")
    record = tmp_path / "record.json"
    record.write_text(json.dumps(critical_record))
    code, out = _cli("decide", str(record), "--db", db)
    assert code == 0, out
    decision = json.loads(out)
    code, out = _cli("audit", "replay", decision["decision_id"], "--db", db)
    assert code == 0, out
    assert out.startswith(f"reproduced: decision {decision['decision_id']} digest "
                          f"{decision['digest']}")
    with open_log(db) as log:
        archived = Archive(log.engine).find("")
    assert archived == [decision["tables"]["content_hash"]]
