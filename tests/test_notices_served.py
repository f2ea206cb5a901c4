"""End to end through a real ``gridcredit serve``: what set the grade, told to the customer.

A theft finding and a broken repayment agreement are posted as events; the
decision on the end date the notice states is still C by the override, the
decision on the day after is not, and the customer notice names the finding
(窃电 / theft) and that end date in zh-CN and en. A new connection with a
top-band PD is capped at A, and its notice says so instead of listing a
service rating or "only 2 months" as reasons.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import httpx
import pytest

from engine.records import SAMPLE_RECORD
from engine.service.auth import add_key
from engine.statements import last_day
from tests.served import free_port, start_serve, stop_serve

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parent.parent
NOW = dt.datetime.now(dt.UTC).replace(microsecond=0)
CLEAN = dict(SAMPLE_RECORD, overdue_bills_12m=0, max_days_overdue_12m=0,
             social_credit_rating="A", perceived_service_quality=4.0)


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("notices")
    keys, db, port = tmp / "keys.yaml", tmp / "decisions.sqlite", free_port()
    key = add_key(keys, "ops", ["decide", "audit"])
    server = start_serve(["--db", str(db), "--keys", str(keys), "--log-level", "warning"],
                         port, {"GRIDCREDIT_HOME": str(ROOT)})
    with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=60,
                      headers={"Authorization": f"Bearer {key}"}) as http:
        yield http
    stop_serve(server)


def _event(kind: str, event_id: str, customer: str, hours_ago: float, **fields) -> dict:
    return {"type": kind, "event_id": event_id, "customer_id": customer,
            "time": (NOW - dt.timedelta(hours=hours_ago)).isoformat(), **fields}


def _post_events(client, events: list[dict]) -> list[dict]:
    answer = client.post("/v1/events", json=events)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["rejected"] == 0, body
    return [o for e in body["events"] for o in e["outcomes"]]


def _decide(client, customer: str, day: dt.date, **changes) -> dict:
    record = {**CLEAN, "customer_id": customer, "as_of": day.isoformat(), **changes}
    answer = client.post("/v1/decisions", json=record)
    assert answer.status_code == 200, answer.text
    return answer.json()


def _notice(client, decision: dict, lang: str) -> str:
    answer = client.get(f"/v1/decisions/{decision['decision_id']}/explanation",
                        params={"audience": "customer", "lang": lang})
    assert answer.status_code == 200, answer.text
    return answer.text


def _zh(day: dt.date) -> str:
    return f"{day.year}年{day.month}月{day.day}日"


def _en(day: dt.date) -> str:
    return f"{day:%B} {day.day}, {day.year}"


@pytest.mark.parametrize(("kind", "rule", "zh_words", "en_words"), [
    ("theft_finding", "theft-override", "查实窃电", "electricity theft was found"),
    ("agreement_broken", "broken-agreement-regrade", "还款协议未被履行",
     "the repayment agreement for your arrears was broken"),
])
def test_an_override_posted_as_an_event_leads_the_notice_to_its_last_day(client, kind, rule,
                                                                       zh_words, en_words):
    customer = f"E2E{kind[:5].upper()}"
    events = [_event("bill_issued", f"{customer}-b", customer, 30, bill_id="B1", amount=90.0)]
    if kind == "agreement_broken":
        events.append(_event("agreement_made", f"{customer}-m", customer, 20,
                             agreement_id="A1", amount=90.0))
        events.append(_event(kind, f"{customer}-x", customer, 10, agreement_id="A1"))
    else:
        events.append(_event(kind, f"{customer}-x", customer, 10))
    (outcome,) = _post_events(client, events)
    end = last_day(outcome["valid_until"])
    on_end = _decide(client, customer, end)
    assert (on_end["grade"]["grade"], on_end["grade"]["rule_id"]) == ("C", rule)
    after = _decide(client, customer, end + dt.timedelta(days=1))
    assert after["grade"]["rule_id"] != rule
    zh = _notice(client, on_end, "zh-CN")
    lead = zh.split("决定您等级的原因")[1].split("您记录中其他增加风险的因素")[0]
    assert zh_words in lead and f"直至{_zh(end)}（含当日）" in lead, lead
    assert f"自{_zh(end + dt.timedelta(days=1))}起" in lead
    en = _notice(client, on_end, "en")
    lead = en.split("WHAT SET YOUR GRADE")[1].split("OTHER THINGS IN YOUR RECORD")[0]
    assert en_words in lead and f"until {_en(end)} (inclusive)" in lead, lead
    assert "What you can do:" in lead
    assert rule not in en and "The customer" not in en


def test_a_new_connection_cap_is_told_as_the_reason_for_its_grade(client):
    decision = _decide(client, "E2ENEW", NOW.date(), months_connected=2)
    assert (decision["grade"]["grade"], decision["grade"]["rule_id"]) == ("A",
                                                                          "new-connection-cap")
    en = _notice(client, decision, "en")
    lead = en.split("WHAT SET YOUR GRADE")[1].split("OTHER THINGS IN YOUR RECORD")[0]
    assert ("Your supply was connected 2 months ago. A connection younger than 12 months is "
            "graded at most A; this limit ends once your connection is 12 months old, in 10 "
            "months.") in lead
    assert f"Your payment and usage record alone would give {decision['grade']['band_grade']}." \
        in lead
    assert "only" not in en and "below what was expected" not in en
    zh = _notice(client, decision, "zh-CN")
    assert "您的供电于2个月前接电。接电不满12个月的客户等级最高为A" in zh
