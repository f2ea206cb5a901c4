"""The report's payment events and collections section: events by type and the outcomes the
event rules raised, from the log's chained tables, and the collection cases by step status,
each number computed here from the events the test posts, in English and Chinese."""

from __future__ import annotations

import datetime as dt
import re

import pandas as pd
import pytest

from engine.audit.log import open_log
from engine.collections.profiles import profiles_from_frame
from engine.collections.tables import load_collection_tables
from engine.events.model import to_micros
from engine.events.processor import EventProcessor
from engine.events.rules import load_event_rules
from engine.events.store import open_store
from engine.language import load_languages
from engine.report.auditinputs import audit_inputs
from engine.report.html import build_report
from engine.report.payments import log_events, log_outcomes, payment_facts

AS_OF = dt.date(2026, 10, 31)
CREATED = "2026-12-01T09:00:00+00:00"


def _ev(kind: str, n: int, day: str, customer: str, **fields) -> dict:
    return {"type": kind, "event_id": f"E{n}", "customer_id": customer,
            "time": f"{day}T09:00:00Z", **fields}


EVENTS = [
    # R1, a household: bill B1 overdue with a recorded penalty of 10, repaid in full 16 days
    # after its due date (inside the 30-day window: an event rebate of 10 x 0.5 = 5.00);
    # bill B2 overdue and unpaid; a theft finding.
    _ev("bill_issued", 1, "2026-08-01", "R1", bill_id="B1", amount=1000.0, due="2026-08-20"),
    _ev("bill_overdue", 2, "2026-08-21", "R1", bill_id="B1", penalty=10.0),
    _ev("bill_issued", 3, "2026-09-01", "R1", bill_id="B2", amount=200.0, due="2026-09-20"),
    _ev("repayment", 4, "2026-09-05", "R1", bill_id="B1", amount=1000.0),
    _ev("bill_overdue", 5, "2026-09-21", "R1", bill_id="B2"),
    _ev("theft_finding", 6, "2026-10-01", "R1"),
    # C2, a shop: a bill paid on time (no case) and a broken repayment agreement.
    _ev("bill_issued", 7, "2026-10-01", "C2", bill_id="B3", amount=500.0, due="2026-10-20"),
    _ev("agreement_made", 8, "2026-10-02", "C2", agreement_id="A1"),
    _ev("repayment", 9, "2026-10-10", "C2", bill_id="B3", amount=500.0),
    _ev("agreement_broken", 10, "2026-10-15", "C2", agreement_id="A1"),
    # X3 has events but no decision.
    _ev("bill_issued", 11, "2026-09-01", "X3", bill_id="B4", amount=80.0, due="2026-09-20"),
]


def _decisions() -> pd.DataFrame:
    return pd.DataFrame({
        "customer_id": ["R1", "C2"], "customer_class": ["residential", "commercial"],
        "grade": ["A", "AA"], "policies": ["", ""], "as_of": [AS_OF.isoformat()] * 2,
        "consumption_class": ["small", "average"], "outage_sensitivity": ["normal"] * 2,
        "service_sensitivity": ["normal"] * 2, "value_tier": ["standard"] * 2,
        "model_id": ["residential-2026.11", "enterprise-2026.11"], "z": [0.0, 0.0],
        "pd": [0.03, 0.01], "band_grade": ["A", "AA"], "grade_rule": ["a", "aa"],
        "override": [None, None], "table_version": ["t"] * 2, "table_hash": ["h"] * 2})


@pytest.fixture
def logged(engine, tmp_path) -> str:
    db = str(tmp_path / "log.sqlite")
    processor = EventProcessor(open_store(db), load_event_rules(engine.config.rules_dir
                                                                / "events.yaml"))
    now = to_micros(dt.datetime(2026, 10, 31, 12, tzinfo=dt.UTC))
    results = processor.process_many(sorted(EVENTS, key=lambda e: e["time"]), now_us=now)
    assert all(type(r).__name__ == "Accepted" for r in results), results
    processor.store.close()
    return db


def _facts(engine, db: str):
    tables = load_collection_tables(engine.config.rules_dir, engine.catalogue)
    with open_log(db, create=False) as log:
        return payment_facts(log_events(log.engine, AS_OF), profiles_from_frame(_decisions()).get,
                             AS_OF, tables, outcomes=log_outcomes(log.engine, AS_OF),
                             source=log.url)


def test_events_outcomes_and_cases_are_counted_from_the_log(engine, logged):
    facts = _facts(engine, logged)
    assert facts.events == len(EVENTS) and facts.customers == 3
    assert facts.by_type == {"bill_issued": 4, "bill_overdue": 2, "repayment": 2,
                             "theft_finding": 1, "agreement_made": 1, "agreement_broken": 1}
    raised = facts.outcomes
    assert raised["theft_override"] == {"raised": 1, "customers": 1, "amount": 0.0}
    assert raised["agreement_regrade"]["raised"] == 1
    assert raised["rebate_earned"] == {"raised": 1, "customers": 1, "amount": 5.0}
    assert raised["habitual_defaulter"]["raised"] == 0  # two overdue bills, three needed
    # Cases: B1 (paid in full late) and B2 (open); B3 was paid before its due date.
    assert (facts.cases, facts.open_cases, facts.closed_cases) == (2, 1, 1)
    assert facts.case_customers == 1 and facts.outstanding == 200.0
    # Residential penalty 0.1 % a day on the unpaid part: B1 08-21..09-05 (16 days),
    # B2 09-21..10-31 (41 days); the rebate on B1's penalty is half of it (within 30 days).
    b1, b2 = round(1000 * 0.001 * 16, 2), round(200 * 0.001 * 41, 2)
    assert facts.penalty == pytest.approx(b1 + b2) and facts.penalty_open == pytest.approx(b2)
    assert facts.rebate == pytest.approx(b1 * 0.5)
    assert facts.undecided == ("X3",)
    strategy = load_collection_tables(engine.config.rules_dir, engine.catalogue) \
        .strategies.choose({"customer_class": "residential", "grade": "A",
                            "consumption_class": "small", "outage_sensitivity": "normal",
                            "service_sensitivity": "normal", "value_tier": "standard",
                            "habitual_defaulter": False, "critical_load": False})
    assert sum(facts.steps.values()) == 2 * len(strategy.steps)
    assert facts.open_steps["cancelled"] == 0 and facts.steps["cancelled"] >= 1


def _text(html: str) -> str:
    part = html[html.index('id="payments"'):html.index('id="provenance"')]
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", part))


def test_the_section_says_what_the_numbers_say_in_english_and_chinese(engine, logged):
    facts = _facts(engine, logged)
    en = _text(build_report(_decisions(), payments=facts, created_at=CREATED))
    assert "11 payment events of 3 customers up to October 31, 2026." in en
    assert "1 theft finding forced grade C on 1 customers." in en
    assert "1 overdue bill repaid in full within the rebate window earned a rebate; " \
           "rebates total CN¥5.00." in en
    assert "No habitual-defaulter mark was raised." in en
    assert ("By October 31, 2026, 2 bills of 1 customers had fallen overdue: 1 still open "
            "with CN¥200.00 outstanding, 1 paid in full late.") in en
    assert "Late-payment penalties accrued on these bills: CN¥24.20, of which CN¥8.20 on " \
           "the open ones; rebates earned on their penalties: CN¥8.00." in en
    assert "1 customer with events has no decision" in en
    languages = load_languages(engine.config.templates_dir.parent / "locale")
    zh = _text(build_report(_decisions(), payments=facts, created_at=CREATED, lang="zh-CN",
                            languages=languages))
    assert "截至2026年10月31日，3位客户共有11条缴费事件。" in zh
    assert "1次窃电查实使1位客户被强制评为C级。" in zh
    assert "返还合计¥5.00。" in zh
    assert "这些电费单累计违约金¥24.20，其中未结清的为¥8.20" in zh
    assert "Payment events" not in zh and "theft" not in zh


def test_an_empty_log_says_it_holds_no_payment_events(engine, tmp_path):
    db = str(tmp_path / "empty.sqlite")
    open_store(db).close()
    with open_log(db, create=False) as log:
        found = audit_inputs(engine, _decisions(), log=log)
    html = build_report(_decisions(), created_at=CREATED, **found)
    assert ("The decision log holds no payment events up to October 31, 2026, so there are "
            "no event outcomes and no collection cases to report.") in _text(html)
    without = build_report(_decisions(), created_at=CREATED)
    assert 'id="no-payments"' in without and "pass --db" in _text(without)
