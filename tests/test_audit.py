"""The decision log: chained appends, lookups, tamper evidence, concurrency, on two databases.

Every test that takes ``db`` runs twice: on a SQLite file and on a fresh
database of a real PostgreSQL server (``tests.pg``). Tampering goes through
raw SQL, after showing that the append-only triggers refuse it.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from typer.testing import CliRunner

from engine.audit.decisionrows import content_of
from engine.audit.export import export_range, verify_export
from engine.audit.log import (
    DecisionLog,
    DecisionNotFound,
    DuplicateDecision,
    VerifyReport,
    open_log,
    verify_rows,
)
from engine.audit.rowcheck import chain_hash
from engine.audit.store import GENESIS, create_guards, resolve_url
from engine.cli import app
from engine.decision import (
    Decision,
    canonical_json,
    sha256_hex,
)
from engine.errors import ConfigError, EngineError, InputError
from tests.factories import make_decision

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture
def log(db: str) -> Iterator[DecisionLog]:
    with open_log(db) as opened:
        yield opened


def raw(log: DecisionLog, sql: str, **params: object) -> None:
    with log.engine.begin() as conn:
        conn.execute(text(sql), params)


def drop_guards(log: DecisionLog) -> None:
    """What an attacker with database rights does first: remove the append-only triggers."""
    if log.engine.dialect.name == "sqlite":
        raw(log, "DROP TRIGGER decision_log_no_update")
        raw(log, "DROP TRIGGER decision_log_no_delete")
    else:
        raw(log, "DROP TRIGGER decision_log_no_change ON decision_log")
        raw(log, "DROP TRIGGER decision_log_no_truncate ON decision_log")


def filled(log: DecisionLog, n: int = 5) -> list[Decision]:
    decisions = [make_decision(i) for i in range(1, n + 1)]
    for d in decisions:
        log.append(d)
    return decisions


# --- appends, reads -------------------------------------------------------------------------


def test_append_chains_rows_from_genesis(log: DecisionLog) -> None:
    first = log.append(make_decision(1))
    second = log.append(make_decision(2))
    assert (first.seq, second.seq) == (1, 2)
    assert first.prev_hash == GENESIS
    assert second.prev_hash == first.row_hash
    assert first.decision_id == "d-00001" and first.model_id == "lda-commercial-2026.1"
    assert first.table_hash == "cd" * 32 and first.as_of == "2026-06-30"
    report = log.verify()
    assert report == VerifyReport(True, 2, None, "2 rows, chain intact", None, second.row_hash)


def test_row_hash_is_sha256_of_prev_hash_and_canonical_content(log: DecisionLog) -> None:
    decision = make_decision(3)
    entry = log.append(decision)
    content = canonical_json({
        "seq": 1, "decision_id": "d-00003", "customer_id": decision.customer_id,
        "as_of": "2026-06-30", "created_at": entry.created_at, "table_hash": "cd" * 32,
        "model_id": "lda-commercial-2026.1",
        "payload": canonical_json(decision.model_dump(mode="json")),
    })
    assert entry.content_hash == hashlib.sha256(content.encode()).hexdigest()
    assert entry.row_hash == hashlib.sha256((GENESIS + content).encode()).hexdigest()


def test_get_returns_the_decision_and_unknown_id_is_404(log: DecisionLog) -> None:
    decisions = filled(log, 3)
    assert log.get("d-00002") == decisions[1]
    with pytest.raises(DecisionNotFound, match="decision 'd-99999' is not in the log") as info:
        log.get("d-99999")
    assert isinstance(info.value, LookupError) and isinstance(info.value, InputError)
    assert info.value.http_status == 404


def test_duplicate_id_is_refused_and_chain_unchanged(log: DecisionLog) -> None:
    filled(log, 2)
    with pytest.raises(DuplicateDecision, match="'d-00002' is already in the log") as info:
        log.append(make_decision(2))
    assert info.value.http_status == 409
    with pytest.raises(DuplicateDecision, match="'d-00001' is already in the log"):
        log.append_many([make_decision(3), make_decision(1)])
    with pytest.raises(DuplicateDecision, match="'d-00004' appears twice in the batch"):
        log.append_many([make_decision(4), make_decision(4)])
    assert log.count() == 2
    assert log.verify().ok


def test_unsealed_decision_is_refused(log: DecisionLog) -> None:
    unsealed = make_decision(1).model_copy(update={"digest": ""})
    with pytest.raises(InputError, match=r"'d-00001' is not sealed.*decision.sealed\(\)"):
        log.append(unsealed)
    edited = make_decision(2).model_copy(update={"customer_id": "C9999"})  # digest kept
    with pytest.raises(InputError, match=r"'d-00002' is not sealed"):
        log.append(edited)
    assert log.count() == 0


@settings(max_examples=100, deadline=None)
@given(data=st.binary(max_size=9000))
def test_the_lock_keeping_hash_is_sha256(data: bytes) -> None:
    assert sha256_hex(data) == hashlib.sha256(data).hexdigest()


@settings(max_examples=200, deadline=None)
@given(text=st.text(), seq=st.integers(min_value=1, max_value=2**62))
def test_row_content_is_the_canonical_json_of_the_row(text: str, seq: int) -> None:
    """Rows are hashed over ``content_of``; logs written before it took orjson's fast
    path must verify alike, so it gives canonical_json's bytes for any text."""
    row = {"seq": seq, "decision_id": text, "customer_id": text[::-1], "as_of": "2026-06-30",
           "created_at": text + "\u2028", "table_hash": "ab" * 32, "model_id": text * 2,
           "payload": json.dumps({"x": text, "n": 1e-7}, ensure_ascii=False)}
    assert content_of(row) == canonical_json({**row, "seq": seq})


def test_append_many_continues_the_same_chain(log: DecisionLog) -> None:
    log.append(make_decision(1))
    assert log.append_many(make_decision(i) for i in range(2, 2503)) == 2501
    assert log.append_many([]) == 0
    log.append(make_decision(9999))
    report = log.verify()
    assert (report.ok, report.rows) == (True, 2503)
    newest = log.entries(limit=2)
    assert [e.seq for e in newest] == [2503, 2502]
    assert newest[0].prev_hash == newest[1].row_hash


def test_entries_filter_by_customer_newest_first(log: DecisionLog) -> None:
    filled(log, 15)
    rows = log.entries(customer_id="C0001", limit=10)
    assert [e.decision_id for e in rows] == ["d-00015", "d-00008", "d-00001"]
    assert [e.decision_id for e in log.entries(limit=2)] == ["d-00015", "d-00014"]
    with pytest.raises(InputError, match="limit=0: give a positive number"):
        log.entries(limit=0)


def test_reopening_keeps_the_chain(db: str) -> None:
    with open_log(db) as first:
        filled(first, 3)
    with open_log(db) as again:
        entry = again.append(make_decision(4))
        assert entry.seq == 4
        assert again.verify().rows == 4


# --- tamper evidence ------------------------------------------------------------------------


def test_triggers_refuse_update_delete(log: DecisionLog) -> None:
    filled(log, 2)
    with pytest.raises(DBAPIError, match="decision_log is append-only"):
        raw(log, "UPDATE decision_log SET customer_id = 'X' WHERE seq = 1")
    with pytest.raises(DBAPIError, match="decision_log is append-only"):
        raw(log, "DELETE FROM decision_log WHERE seq = 2")
    if log.engine.dialect.name == "postgresql":
        with pytest.raises(DBAPIError, match="decision_log is append-only: TRUNCATE refused"):
            raw(log, "TRUNCATE decision_log")
    assert log.verify().ok and log.count() == 2


def test_verify_catches_edited_payload(log: DecisionLog) -> None:
    filled(log, 5)
    drop_guards(log)
    payload = json.loads(log.engine.connect().execute(
        text("SELECT payload FROM decision_log WHERE seq = 3")).scalar_one())
    payload["grade"]["grade"] = "AAA"
    raw(log, "UPDATE decision_log SET payload = :p WHERE seq = 3", p=canonical_json(payload))
    report = log.verify()
    assert (report.ok, report.first_broken, report.rows, report.decision_id) == (
        False, 3, 2, "d-00003")
    assert report.reason == (
        "content edited: payload edited: the decision's digest does not match its content")
    with pytest.raises(EngineError, match="digest mismatch: the decision was edited"):
        log.get("d-00003")


def test_verify_catches_edited_column(log: DecisionLog) -> None:
    filled(log, 4)
    drop_guards(log)
    raw(log, "UPDATE decision_log SET customer_id = 'C9999' WHERE seq = 2")
    report = log.verify()
    assert (report.first_broken, report.decision_id) == (2, "d-00002")
    assert report.reason == (
        "content edited: column customer_id = 'C9999' but the payload says 'C0002'")


def test_verify_catches_deleted_row(log: DecisionLog) -> None:
    filled(log, 5)
    drop_guards(log)
    raw(log, "DELETE FROM decision_log WHERE seq = 3")
    report = log.verify()
    assert (report.ok, report.first_broken, report.rows, report.decision_id) == (
        False, 3, 2, "d-00003")
    assert report.reason == ("row 3 (decision d-00003) is missing: the next row has seq 4 "
                             "(rows were deleted or renumbered)")


def test_verify_catches_deleted_last_row_through_the_head(log: DecisionLog) -> None:
    filled(log, 4)
    drop_guards(log)
    raw(log, "DELETE FROM decision_log WHERE seq = 4")
    report = log.verify()
    assert (report.ok, report.first_broken, report.rows) == (False, 4, 3)
    assert "the chain head records 4 rows" in report.reason


def test_verify_catches_renumbered_rows(log: DecisionLog) -> None:
    filled(log, 5)
    drop_guards(log)
    raw(log, "UPDATE decision_log SET seq = 100 WHERE seq = 2")
    raw(log, "UPDATE decision_log SET seq = 2 WHERE seq = 3")
    raw(log, "UPDATE decision_log SET seq = 3 WHERE seq = 100")
    report = log.verify()
    assert (report.first_broken, report.decision_id) == (2, "d-00003")
    assert report.reason.startswith("prev_hash")


def test_verify_catches_reordered_rows_with_rewritten_links(log: DecisionLog) -> None:
    """Swap rows 2 and 3 and repair prev_hash so the links look right: the content hash fails."""
    filled(log, 4)
    drop_guards(log)
    with log.engine.connect() as conn:
        rows = {r.seq: dict(r._mapping) for r in conn.execute(text("SELECT * FROM decision_log"))}
    swapped = {2: rows[3], 3: rows[2]}
    swapped[2]["prev_hash"] = rows[1]["row_hash"]
    swapped[3]["prev_hash"] = swapped[2]["row_hash"]
    raw(log, "DELETE FROM decision_log WHERE seq IN (2, 3)")
    for seq, row in swapped.items():
        row["seq"] = seq
        raw(log, f"INSERT INTO decision_log ({', '.join(row)}) "
                 f"VALUES ({', '.join(':' + c for c in row)})", **row)
    report = log.verify()
    assert (report.first_broken, report.decision_id) == (2, "d-00003")
    assert report.reason.startswith("content edited: content_hash")


def test_verify_catches_edited_hash(log: DecisionLog) -> None:
    filled(log, 3)
    drop_guards(log)
    raw(log, "UPDATE decision_log SET row_hash = :h WHERE seq = 2", h="f" * 64)
    report = log.verify()
    assert (report.first_broken, report.decision_id) == (2, "d-00002")
    assert report.reason.startswith("row_hash ffffffffffff... is not sha256(prev_hash + content)")


# --- the previous decision's id: a deleted row is named ----------------------------------------


def test_each_row_names_the_decision_before_it_inside_its_hashes(log: DecisionLog) -> None:
    first, second = log.append(make_decision(1)), log.append(make_decision(2))
    assert (first.prev_decision_id, second.prev_decision_id) == ("", "d-00001")
    decision = make_decision(2)
    content = canonical_json({
        "seq": 2, "decision_id": "d-00002", "customer_id": decision.customer_id,
        "as_of": "2026-06-30", "created_at": second.created_at, "table_hash": "cd" * 32,
        "model_id": "lda-commercial-2026.1", "prev_decision_id": "d-00001",
        "payload": decision.canonical_payload().decode(),
    })
    assert second.content_hash == hashlib.sha256(content.encode()).hexdigest()
    assert second.row_hash == chain_hash(first.row_hash, content)


def test_the_link_is_the_rows_and_leaves_the_decision_digest_alone(
        log: DecisionLog, tmp_path: Path) -> None:
    """The same decision logged first (no row before it) or after others keeps its digest."""
    filled(log, 3)
    with open_log(str(tmp_path / "alone.sqlite")) as other:
        other.append(make_decision(3))
        alone = other.get("d-00003")
    with log.engine.connect() as conn:
        payload = conn.execute(text("SELECT payload FROM decision_log WHERE seq = 3")).scalar_one()
    assert "prev_decision_id" not in payload and "d-00002" not in payload
    assert payload == make_decision(3).canonical_payload().decode()
    assert log.get("d-00003").digest == alone.digest == make_decision(3).digest


def test_verify_names_a_deleted_decision_through_the_cli(log: DecisionLog) -> None:
    filled(log, 5)
    drop_guards(log)
    raw(log, "DELETE FROM decision_log WHERE seq = 2")
    url = log.engine.url.render_as_string(hide_password=False)
    result = CliRunner().invoke(app, ["audit", "verify", "--db", url])
    assert result.exit_code == 1, result.output
    assert result.output.splitlines()[:2] == [
        f"{log.url}: BROKEN at row 2 (decision d-00002): row 2 (decision d-00002) is missing: "
        "the next row has seq 3 (rows were deleted or renumbered)",
        "rows intact before it: 1; do not trust the log from row 2 on"]


def test_a_row_deleted_while_it_was_the_head_cannot_be_named(log: DecisionLog) -> None:
    filled(log, 3)
    drop_guards(log)
    raw(log, "DELETE FROM decision_log WHERE seq = 3")
    entry = log.append(make_decision(4))
    assert entry.prev_decision_id == "?"
    report = log.verify()
    assert (report.first_broken, report.decision_id) == (3, None)
    assert report.reason == (
        "row 3 is missing: the next row has seq 4 (rows were deleted or renumbered); which "
        "decision it held cannot be known: it was already missing when the row after it "
        "(decision d-00004) was written")


def _older_log(db: str, n: int) -> None:
    """A log as versions before the previous-decision link wrote it: n rows, no such column."""
    with open_log(db) as log:
        drop_guards(log)
        raw(log, "ALTER TABLE decision_log DROP COLUMN prev_decision_id")
        for row in _chain(n):
            raw(log, f"INSERT INTO decision_log ({', '.join(row)}) "
                     f"VALUES ({', '.join(':' + c for c in row)})", **row)
        raw(log, "UPDATE chain_head SET seq = :s, row_hash = :h WHERE name = 'decision_log'",
            s=n, h=_chain(n)[-1]["row_hash"])
        with log.engine.begin() as conn:
            create_guards(conn, "decision_log")


def test_an_older_log_verifies_and_goes_on_with_named_rows(db: str) -> None:
    _older_log(db, 4)
    with open_log(db) as log:
        assert log.verify().ok and log.verify().rows == 4
        after = [log.append(make_decision(i)) for i in (5, 6)]
        assert [e.prev_decision_id for e in after] == ["d-00004", "d-00005"]
        assert log.verify() == VerifyReport(True, 6, None, "6 rows, chain intact", None,
                                            after[-1].row_hash)
        drop_guards(log)
        raw(log, "DELETE FROM decision_log WHERE seq = 4")  # the last older row: named by the next
        report = log.verify()
        assert (report.first_broken, report.decision_id) == (4, "d-00004")
        assert report.reason.startswith("row 4 (decision d-00004) is missing")


def test_a_deleted_older_row_is_reported_as_not_knowable(db: str) -> None:
    _older_log(db, 4)
    with open_log(db) as log:
        log.append(make_decision(5))
        drop_guards(log)
        raw(log, "DELETE FROM decision_log WHERE seq = 2")
        report = log.verify()
    assert (report.ok, report.first_broken, report.decision_id) == (False, 2, None)
    assert report.reason == (
        "row 2 is missing: the next row has seq 3 (rows were deleted or renumbered); which "
        "decision it held cannot be known: the row after it (decision d-00003) was logged "
        "before each row recorded the decision of the row before it")


def _export(log: DecisionLog, out: Path, day: date | None = None) -> list[dict[str, object]]:
    day = day or datetime.now(UTC).date()
    export_range(log, day, day, out)
    return [json.loads(line) for line in out.read_text().splitlines()]


def test_an_export_names_a_dropped_decision(log: DecisionLog, tmp_path: Path) -> None:
    filled(log, 3)
    header, *rows = _export(log, tmp_path / "export.jsonl")
    assert [r["prev_decision_id"] for r in rows] == ["", "d-00001", "d-00002"]
    dropped = tmp_path / "dropped.jsonl"
    dropped.write_text("".join(json.dumps(r) + "\n" for r in [header, rows[0], rows[2]]))
    report = verify_export(dropped)
    assert (report.ok, report.decision_id) == (False, "d-00002")
    assert report.reason.startswith("row 2: row 2 (decision d-00002) is missing")


def test_an_export_written_before_rows_named_their_predecessor_still_verifies(
        db: str, tmp_path: Path) -> None:
    _older_log(db, 3)
    with open_log(db) as log:
        header, *rows = _export(log, tmp_path / "export.jsonl", date(2026, 7, 1))
    older = tmp_path / "older.jsonl"
    assert {r.pop("prev_decision_id") for r in rows} == {""}
    older.write_text("".join(json.dumps(r) + "\n" for r in [header, *rows]))
    report = verify_export(older)
    assert report.ok, report.reason


# --- the pure chain check, over generated logs ----------------------------------------------


def _chain(n: int) -> list[dict[str, object]]:
    rows, prev = [], GENESIS
    for i in range(1, n + 1):
        d = make_decision(i)
        row = {"seq": i, "decision_id": d.decision_id, "customer_id": d.customer_id,
               "as_of": d.as_of, "created_at": "2026-07-01T00:00:00+00:00",
               "table_hash": d.tables.content_hash, "model_id": d.score.model_id,
               "payload": canonical_json(d.model_dump(mode="json"))}
        content = content_of(row)
        row.update(content_hash=hashlib.sha256(content.encode()).hexdigest(), prev_hash=prev,
                   row_hash=chain_hash(prev, content))
        prev = row["row_hash"]
        rows.append(row)
    return rows


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(n=st.integers(1, 12), data=st.data())
def test_any_single_edit_is_found_at_its_row(n: int, data: st.DataObject) -> None:
    rows = _chain(n)
    head = (n, rows[-1]["row_hash"])
    assert verify_rows(rows, head).ok
    k = data.draw(st.integers(1, n), label="row")
    field = data.draw(st.sampled_from(
        ["payload", "customer_id", "created_at", "content_hash", "prev_hash", "row_hash",
         "model_id"]), label="field")
    edited = [dict(r) for r in rows]
    value = str(edited[k - 1][field])
    edited[k - 1][field] = value[:-1] + ("0" if value[-1] != "0" else "1")
    report = verify_rows(edited, head)
    assert not report.ok
    assert report.first_broken == k
    assert report.rows == k - 1


def test_empty_log_verifies() -> None:
    assert verify_rows([], (0, GENESIS)) == VerifyReport(
        True, 0, None, "0 rows, chain intact", None, GENESIS)


# --- configuration --------------------------------------------------------------------------


def test_resolve_url(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("GRIDCREDIT_DB", raising=False)
    monkeypatch.setenv("GRIDCREDIT_HOME", str(tmp_path))
    assert resolve_url() == f"sqlite:///{tmp_path.resolve()}/out/decisions.sqlite"
    monkeypatch.delenv("GRIDCREDIT_HOME")
    checkout = Path(__file__).resolve().parent.parent
    assert resolve_url() == f"sqlite:///{checkout}/out/decisions.sqlite"
    assert resolve_url("a/b.db") == "sqlite:///a/b.db"
    assert resolve_url(path=Path("c.db")) == "sqlite:///c.db"
    assert resolve_url("postgresql://u@h:5/db") == "postgresql+psycopg://u@h:5/db"
    assert resolve_url("postgres://u@h/db") == "postgresql+psycopg://u@h/db"
    monkeypatch.setenv("GRIDCREDIT_DB", "postgresql://x@y/z")
    assert resolve_url() == "postgresql+psycopg://x@y/z"


def test_bad_locations_are_config_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="needs a file"):
        open_log("sqlite://")
    with pytest.raises(ConfigError, match="'mysql' is not supported"):
        open_log("mysql://u@h/db")


def test_unreachable_server_is_a_503(tmp_path: Path) -> None:
    with pytest.raises(EngineError, match="cannot prepare the log") as info:
        open_log("postgresql://nobody@127.0.0.1:1/none?connect_timeout=2")
    assert info.value.http_status == 503


def test_sqlite_runs_in_wal_with_full_sync(tmp_path: Path) -> None:
    with open_log(path=tmp_path / "x.sqlite") as opened, opened.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 2  # FULL


# --- concurrency ----------------------------------------------------------------------------

_WRITER = """
import sys, time
from pathlib import Path
sys.path.insert(0, {repo!r})
from tests.factories import make_decision
from engine.audit.log import open_log
log = open_log({url!r})
go = Path({go!r})
(go.parent / "ready-{first}").touch()
while not go.exists():
    time.sleep(0.005)
for i in range({first}, {first} + {count}):
    log.append(make_decision(i))
    time.sleep(0.002)  # a worker does other work between decisions
log.append_many(make_decision(i) for i in range({first} + {count}, {first} + 2 * {count}))
log.close()
"""


def test_two_processes_appending_keep_one_chain(db: str) -> None:
    open_log(db).close()
    count = 60
    go = Path(tempfile.mkdtemp()) / "go"
    writers = [
        subprocess.Popen([sys.executable, "-c", _WRITER.format(
            repo=str(REPO), url=db, go=str(go), first=first, count=count)])
        for first in (10_000, 20_000)
    ]
    deadline = time.monotonic() + 60
    while len(list(go.parent.glob("ready-*"))) < 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    go.touch()
    assert [w.wait(timeout=120) for w in writers] == [0, 0]
    with open_log(db) as opened:
        report = opened.verify()
        assert (report.ok, report.rows) == (True, 4 * count)
        order = [e.decision_id[2] for e in reversed(opened.entries(limit=4 * count))]
    switches = sum(a != b for a, b in zip(order, order[1:], strict=False))
    assert switches >= 2, f"the writers did not overlap: {''.join(order)}"


def test_threads_sharing_one_log_keep_one_chain(log: DecisionLog) -> None:
    """The service shares one log between its request threads."""
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=4) as pool:
        seqs = list(pool.map(lambda i: log.append(make_decision(i)).seq, range(1, 41)))
    assert sorted(seqs) == list(range(1, 41))
    report = log.verify()
    assert (report.ok, report.rows) == (True, 40)


@pytest.mark.parametrize("module_name", ["engine.audit.log", "engine.audit.store"])
def test_all_is_complete(module_name: str) -> None:
    import importlib
    import inspect as pyinspect

    module = importlib.import_module(module_name)
    defined = {
        name for name, value in vars(module).items()
        if not name.startswith("_") and (pyinspect.isclass(value) or pyinspect.isfunction(value))
        and value.__module__ == module_name
    }
    assert defined <= set(module.__all__)
    assert all(hasattr(module, name) for name in module.__all__)
