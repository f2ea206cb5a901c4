"""Group commit: concurrent decisions share transactions, each request gets its own outcome."""

from __future__ import annotations

import asyncio

import pytest

from engine import synth
from engine.audit.log import DuplicateDecision, open_log
from engine.service.logwriter import GroupCommitLog


@pytest.fixture(scope="module")
def decisions(engine):
    frame = synth.generate(40, seed=8).drop(columns=["default_12m"])
    records = [{k: v for k, v in r.items() if v is not None and v == v}
               for r in frame.to_dict(orient="records")]
    return [engine.decide(r) for r in records]


def test_concurrent_appends_form_one_valid_chain_and_a_duplicate_fails_alone(
        decisions, tmp_path):
    log = open_log(path=tmp_path / "log.sqlite")
    writer = GroupCommitLog(log, max_group=16)

    async def submit_all():
        batch = [*decisions, decisions[3]]
        return await asyncio.gather(*(writer.append(d) for d in batch), return_exceptions=True)

    try:
        outcomes = asyncio.run(submit_all())
    finally:
        writer.close()
    failures = [o for o in outcomes if isinstance(o, BaseException)]
    assert len(failures) == 1 and isinstance(failures[0], DuplicateDecision)
    assert log.count() == len(decisions)
    report = log.verify()
    assert report.ok and report.rows == len(decisions)
    assert log.get(decisions[7].decision_id).digest == decisions[7].digest
    log.close()
