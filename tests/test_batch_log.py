"""Batch runs in the decision log, on SQLite and PostgreSQL.

A batch with ``--db`` seals every output row with the digest ``Engine.decide``
gives the same record (event outcomes included), logs one chained run entry
(rows in = decided + rejected, input, tables, models, output digests), and
its decisions can be shown, replayed and checked from the log and the output
file alone. A run whose log cannot be written keeps its parts, and
``--resume`` logs it.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import math
import sqlite3
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from engine import synth
from engine.assembly import json_value
from engine.audit import store as audit_store
from engine.audit.decisionrows import RUN_CUSTOMER
from engine.audit.log import open_log
from engine.batch.digests import file_sha256
from engine.batch.runfiles import parts_path
from engine.cli import app
from engine.decider import load
from engine.events.store import open_store
from tests.factories import ROOT, artifact_sha256

AS_OF = dt.date(2026, 3, 1)
THIEF = "THIEF01"


@pytest.fixture(scope="module")
def engine():
    return load()


def _cli(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, list(args))
    return result.exit_code, result.output


def _population(tmp_path: Path, n: int = 30, suffix: str = ".parquet") -> Path:
    """``n`` customers as of AS_OF, row 0 a customer with a theft finding, row 5 invalid."""
    frame = synth.generate(n, seed=11).drop(columns=["default_12m"])
    frame["as_of"] = AS_OF.isoformat()
    frame.loc[0, "customer_id"] = THIEF
    frame.loc[5, "monthly_kwh"] = -1.0
    path = tmp_path / f"customers{suffix}"
    if suffix == ".parquet":
        frame.to_parquet(path, index=False)
    else:
        frame.to_csv(path, index=False)
    return path


def _theft(tmp_path: Path, db: str) -> None:
    when = dt.datetime.combine(AS_OF, dt.time(), tzinfo=dt.UTC)
    rows = [{"type": "bill_issued", "event_id": "tb1", "customer_id": THIEF, "bill_id": "B1",
             "amount": 120.0, "time": (when - dt.timedelta(days=20)).isoformat()},
            {"type": "theft_finding", "event_id": "tf1", "customer_id": THIEF,
             "reference": "INSP-9", "time": (when - dt.timedelta(days=3)).isoformat()}]
    events = tmp_path / "events.csv"
    pd.DataFrame(rows).to_csv(events, index=False)
    code, out = _cli("events", "replay", str(events), "--db", db, "--no-progress")
    assert code == 0, out


def _record(raw: dict) -> dict:
    values = ((k, json_value(v)) for k, v in raw.items())
    return {k: v for k, v in values if v is not None and not (isinstance(v, float)
                                                            and math.isnan(v))}


def _run(db: str) -> dict:
    with open_log(db, create=False) as log:
        runs = log.runs()
    assert len(runs) == 1
    return runs[0]


def test_every_row_carries_the_seal_engine_decide_gives_and_one_entry_logs_the_run(
        db, tmp_path, engine):
    _theft(tmp_path, db)
    source = _population(tmp_path)
    out = tmp_path / "decisions.parquet"
    code, text = _cli("decide", "--input", str(source), "--out", str(out), "--db", db,
                      "--chunk-size", "12", "--no-progress")
    assert code == 0, text
    assert "rows in 30 = decided 29 + rejected 1" in text

    run = _run(db)
    assert run["counts"] == {"rows_in": 30, "decided": 29, "rejected": 1}
    assert run["input"]["sha256"] == file_sha256(source)
    assert run["output"]["sha256"] == file_sha256(out)
    assert [(p["first_row"], p["rows"], p["first_output_row"]) for p in run["output"]["parts"]
            ] == [(0, 12, 0), (12, 12, 11), (24, 6, 23)]
    assert run["tables"]["content_hash"] == engine.tables.content_hash
    assert run["models"] == {m.model_id: m.sha256 for m in engine.registry.models.values()}
    assert run["models"] == {"enterprise-2026.11": artifact_sha256(ROOT / "models/enterprise.json"),
                             "residential-2026.11": artifact_sha256(
                                 ROOT / "models/residential.json")}
    assert run["executor"] == {"run": "single process", "tables": "vectorised"}
    with open_log(db, create=False) as log:
        entry = log.entries(limit=1)[0]
        assert log.verify().ok
    assert (entry.decision_id, entry.customer_id) == (run["run_id"], RUN_CUSTOMER)

    rows = pq.read_table(out).to_pylist()
    inputs = pd.read_parquet(source).to_dict(orient="records")
    inputs.pop(5)
    store = open_store(db, create=False)
    for row, raw in zip(rows, inputs, strict=True):
        record = _record(raw)
        outcomes = store.outcomes_for(record["customer_id"], AS_OF)
        single = engine.decide(record, decision_id=row["decision_id"],
                               outcomes=outcomes if outcomes.outcomes else None)
        assert single.model_copy(update={"timings_ms": {}}).sealed().digest == row["digest"]
        assert json.loads(row["policy_params"]) == {p.policy_id: p.params
                                                    for p in single.policies}
        assert row["rules"] == ";".join(h.rule_id for h in single.trace)
        assert row["model_sha256"] == run["models"][row["model_id"]] == single.score.model_sha256
    store.engine.dispose()
    thief = rows[0]
    assert thief["decision_id"] == f"{run['run_id']}-0"
    assert (thief["grade"], thief["override"]) == ("C", "theft-override")
    assert [e["event_ids"] for e in json.loads(thief["events"])] == [["tf1"]]
    assert json.loads(thief["segment_rules"])["consumption_class"]
    assert rows[5]["decision_id"] == f"{run['run_id']}-6"


def test_show_replay_and_verify_find_check_and_name_batch_decisions(db, tmp_path):
    source = _population(tmp_path, n=20)
    out = tmp_path / "decisions.parquet"
    code, text = _cli("decide", "--input", str(source), "--out", str(out), "--db", db,
                      "--chunk-size", "8", "--no-progress")
    assert code == 0, text
    rows = pq.read_table(out).to_pylist()
    row = rows[9]

    code, text = _cli("audit", "show", row["decision_id"], "--db", db, "--lang", "en")
    assert code == 0, text
    assert text.startswith(f"Decision {row['decision_id']}\nCustomer {row['customer_id']}")
    assert f"GRADE {row['grade']}" in text and "rules/grades.yaml:" in text
    code, text = _cli("audit", "show", row["decision_id"], "--db", db, "--format", "json")
    assert code == 0 and json.loads(text)["digest"] == row["digest"]

    code, text = _cli("audit", "replay", row["decision_id"], "--db", db)
    assert code == 0, text
    assert text.startswith(f"reproduced: batch decision {row['decision_id']} digest "
                           f"{row['digest']} (run {_run(db)['run_id']}, {out} row 9;")
    code, text = _cli("audit", "replay", f"{_run(db)['run_id']}-99", "--db", db)
    assert code == 2 and "has no input row 99" in text

    code, text = _cli("audit", "verify", "--db", db)
    assert code == 0, text
    assert f"batch run {_run(db)['run_id']}: 20 rows, output and rejects as logged" in text
    today = dt.datetime.now(dt.UTC).date().isoformat()
    export = tmp_path / "export.jsonl"
    code, text = _cli("audit", "export", "--from", today, "--to", today, "--format", "jsonl",
                      "--out", str(export), "--db", db)
    assert code == 0, text
    code, text = _cli("audit", "verify", "--export", str(export))
    assert code == 0 and "1 batch run, seq" in text, text

    table = pq.read_table(out)
    grades = table.column("grade").to_pylist()
    grades[9] = "AAA" if grades[9] != "AAA" else "C"
    pq.write_table(table.set_column(table.schema.get_field_index("grade"), "grade",
                                    pa.array(grades)), out)
    code, text = _cli("audit", "verify", "--db", db)
    assert code == 1, text
    assert (f"TAMPERED: output {out} row 9 (decision {row['decision_id']}) was edited: "
            f"grade '{grades[9]}' where its decision says '{row['grade']}'") in text
    code, text = _cli("audit", "replay", row["decision_id"], "--db", db)
    assert code == 1 and text.startswith("DIFFERS")
    assert f"grade: '{grades[9]}' -> '{row['grade']}'" in text
    code, text = _cli("audit", "show", row["decision_id"], "--db", db)
    assert code == 0  # its stored inputs and digest still hold: the decision is shown as made


def test_verify_names_a_row_whose_stored_inputs_were_edited_in_a_csv_output(tmp_path):
    db = str(tmp_path / "log.sqlite")
    source = _population(tmp_path, n=20, suffix=".csv")
    out = tmp_path / "decisions.csv"
    code, text = _cli("decide", "--input", str(source), "--out", str(out), "--db", db,
                      "--chunk-size", "8", "--no-progress")
    assert code == 0, text
    with out.open(newline="") as fh:
        lines = list(csv.reader(fh))
    at = lines[0].index("input_monthly_kwh")
    lines[13][at] = str(float(lines[13][at]) * 3)
    with out.open("w", newline="") as fh:
        csv.writer(fh).writerows(lines)
    code, text = _cli("audit", "verify", "--db", db)
    assert code == 1, text
    decision_id = pd.read_csv(out)["decision_id"][12]
    assert (f"output {out} row 12 (decision {decision_id}) was edited: its stored inputs no "
            "longer give its digest") in text


def test_a_run_whose_log_cannot_be_written_keeps_its_parts_and_resume_logs_it(
        tmp_path, monkeypatch):
    db = tmp_path / "log.sqlite"
    source = _population(tmp_path, n=20)
    first = tmp_path / "first.parquet"
    code, text = _cli("decide", "--input", str(source), "--out", str(first), "--db", str(db),
                      "--no-progress")
    assert code == 0, text
    monkeypatch.setattr(audit_store, "BUSY_TIMEOUT_S", 0.2)
    holder = sqlite3.connect(db, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")  # another writer holds the log's lock
    out = tmp_path / "decisions.parquet"
    try:
        code, text = _cli("decide", "--input", str(source), "--out", str(out), "--db",
                          str(db), "--chunk-size", "8", "--no-progress")
    finally:
        holder.rollback()
        holder.close()
    assert code == 2, text
    assert "all 20 rows are decided, but the run cannot be logged in" in text
    assert str(db) in text and "run the same command again with --resume" in text
    assert not out.exists()
    parts = parts_path(out)
    assert len(list(parts.glob("decisions-*.arrow"))) == 3

    code, text = _cli("decide", "--input", str(source), "--out", str(out), "--db", str(db),
                      "--chunk-size", "8", "--no-progress", "--resume")
    assert code == 0, text
    assert "resumed:  3 of 3 chunks" in text and not parts.exists()
    with open_log(str(db), create=False) as log:
        runs = log.runs()
    assert len(runs) == 2
    assert runs[1]["output"]["sha256"] == file_sha256(out)
    ids = pq.read_table(out).column("decision_id").to_pylist()
    assert ids[0] == f"{runs[1]['run_id']}-0"
    code, text = _cli("audit", "replay", ids[-1], "--db", str(db))
    assert code == 0 and text.startswith("reproduced: batch decision")


def test_a_dask_run_with_db_seals_on_the_workers_and_logs_the_run_as_one_process_does(
        tmp_path, engine):
    from engine.batch.scaleout import decide_file_dask

    db = str(tmp_path / "log.sqlite")
    _theft(tmp_path, db)
    source = _population(tmp_path, n=24)
    out = tmp_path / "dask.parquet"
    summary = decide_file_dask(engine, source, out, cluster="local:2", chunk_size=8, db=db)
    assert (summary.rows_in, summary.decided, summary.rejected) == (24, 23, 1)
    run = _run(db)
    assert run["executor"]["run"] == "dask local:2"
    rows = pq.read_table(out).to_pylist()
    assert (rows[0]["grade"], json.loads(rows[0]["events"])[0]["event_ids"]) == ("C", ["tf1"])
    record = {k[len("input_"):]: v for k, v in rows[7].items()
              if k.startswith("input_") and v is not None}
    single = engine.decide(record, decision_id=rows[7]["decision_id"])
    assert single.model_copy(update={"timings_ms": {}}).sealed().digest == rows[7]["digest"]
    code, text = _cli("audit", "verify", "--db", db)
    assert code == 0 and f"batch run {run['run_id']}: 24 rows, output and rejects" in text


def test_a_periodic_replay_sample_draws_batch_rows_as_well_as_single_decisions(tmp_path):
    db = str(tmp_path / "log.sqlite")
    record = tmp_path / "record.json"
    record.write_text(json.dumps(_record(pd.read_parquet(_population(tmp_path, n=8))
                                         .iloc[1].to_dict())))
    code, text = _cli("decide", str(record), "--db", db)
    assert code == 0, text
    source = _population(tmp_path, n=20)
    out = tmp_path / "decisions.parquet"
    code, text = _cli("decide", "--input", str(source), "--out", str(out), "--db", db,
                      "--chunk-size", "8", "--no-progress")
    assert code == 0, text
    today = dt.datetime.now(dt.UTC).date().isoformat()

    code, text = _cli("audit", "replay", "--since", today, "--sample", "50", "--db", db)
    assert code == 0, text
    assert (f"replayed 20 of 20 decisions logged since {today}: 20 reproduced, 0 differ"
            in text)

    table = pq.read_table(out)
    grades = table.column("grade").to_pylist()
    grades[3] = "AAA" if grades[3] != "AAA" else "C"
    pq.write_table(table.set_column(table.schema.get_field_index("grade"), "grade",
                                    pa.array(grades)), out)
    code, text = _cli("audit", "replay", "--since", today, "--sample", "50", "--db", db)
    assert code == 1, text
    assert "19 reproduced, 1 differ" in text
    assert f"differs: {table.column('decision_id')[3].as_py()}" in text

    out.unlink()
    code, text = _cli("audit", "replay", "--since", today, "--sample", "50", "--db", db)
    assert code == 1, text
    assert "1 reproduced, 0 differ, 19 cannot be replayed" in text
    assert f"(its output {out} is gone)" in text


def test_a_replay_sample_counts_an_edited_row_as_differing_and_goes_on(tmp_path):
    db = str(tmp_path / "log.sqlite")
    frame = pd.read_parquet(_population(tmp_path, n=6))
    ids = []
    for i in range(3):
        record = tmp_path / f"record{i}.json"
        record.write_text(json.dumps(_record(frame.iloc[i].to_dict())))
        code, text = _cli("decide", str(record), "--db", db, "--format", "json")
        assert code == 0, text
        ids.append(json.loads(text)["decision_id"])
    with sqlite3.connect(db) as conn:
        conn.execute("DROP TRIGGER decision_log_no_update")
        payload = json.loads(conn.execute("SELECT payload FROM decision_log WHERE "
                                          "decision_id = ?", (ids[0],)).fetchone()[0])
        payload["grade"]["grade"] = "AAA" if payload["grade"]["grade"] != "AAA" else "C"
        conn.execute("UPDATE decision_log SET payload = ? WHERE decision_id = ?",
                     (json.dumps(payload), ids[0]))
    today = dt.datetime.now(dt.UTC).date().isoformat()
    code, text = _cli("audit", "replay", "--since", today, "--sample", "10", "--db", db)
    assert code == 1, text
    assert (f"replayed 3 of 3 decisions logged since {today}: 2 reproduced, 1 differ, "
            "0 cannot be replayed") in text
    assert f"  differs: {ids[0]} (" in text and "digest mismatch" in text
