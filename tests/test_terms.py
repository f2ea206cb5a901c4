"""One source for every term, and dates that mean what they say.

The rebate's share, cap and window are the catalogue's ``overdue_rebate``
params: the event processor pays by them and counts the window from the
bill's due date; ``rules check`` refuses a rule file that states them again or
a text that promises other values, and a grade rule that gives theft a second
duration. "In force to D" holds on D and not on D+1 for a theft finding, a
broken agreement and a habitual-defaulter mark, and a repayment on the last
day of the rebate window earns the rebate while one a day later does not.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from engine.cli import app
from engine.events.model import to_micros
from engine.events.processor import EventProcessor
from engine.events.rules import load_event_rules
from engine.events.store import open_store
from engine.events.terms import RebateTerms
from engine.policies import load_catalogue
from engine.records import SAMPLE_RECORD
from engine.statements import last_day
from tests.factories import project_copy

ROOT = Path(__file__).resolve().parent.parent
RULES = ROOT / "rules" / "events.yaml"
runner = CliRunner()
CLEAN = dict(SAMPLE_RECORD, overdue_bills_12m=0, max_days_overdue_12m=0,
             social_credit_rating="A", perceived_service_quality=4.0)


def ev(kind: str, event_id: str, at: dt.datetime, customer: str = "C1", **fields) -> dict:
    return {"type": kind, "event_id": event_id, "customer_id": customer,
            "time": at.isoformat(), **fields}


def _home(tmp_path: Path) -> Path:
    return project_copy(tmp_path / "home")


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, old
    path.write_text(text.replace(old, new, 1))


def _check(home: Path):
    return runner.invoke(app, ["rules", "check", str(home / "rules"), "--catalogue",
                               str(home / "policies" / "catalogue.yaml"), "--no-examples"])


def test_rules_check_refuses_terms_stated_twice_or_misquoted(tmp_path):
    """One check run over four faults: a rebate share, cap and window stated in the rule
    file as well as the catalogue, a text promising other values, a duration the rule does
    not apply, and a grade rule that gives theft a second duration."""
    home = _home(tmp_path)
    events, catalogue, grades = (home / "rules" / "events.yaml",
                                 home / "policies" / "catalogue.yaml",
                                 home / "rules" / "grades.yaml")
    _edit(events, "    when: {outstanding: {le: 0}}\n",
          "    when: {outstanding: {le: 0}, days_after_overdue: {le: 30}}\n"
          "    rebate: {share: 0.3, cap: 200}\n")
    _edit(catalogue,
          "A customer who repays overdue charges within the window gets part of the late-payment\n"
          "      penalty back, up to a cap;",
          "A customer who repays overdue charges within 45 days gets half of the late-payment\n"
          "      penalty back, up to 500;")
    _edit(catalogue, "rebate_share: {type: float, default: 0.5,",
          "rebate_share: {type: float, default: 0.3,")
    _edit(events, "\n    lasts_days: 730\n", "\n    lasts_days: 1095\n")
    _edit(grades, "  - id: broken-agreement-regrade\n",
          "  - id: theft-incident\n    description: Theft in 36 months forces C.\n"
          "    when: {theft_incidents_36m: {ge: 1}}\n    then: {grade: C}\n"
          "  - id: broken-agreement-regrade\n")
    _edit(grades, "inputs: [theft_override_active,",
          "inputs: [theft_incidents_36m, theft_override_active,")
    result = _check(home)
    assert result.exit_code == 1, result.output
    out = " ".join(result.output.split())
    assert ("events.yaml:28: overdue-rebate: the rebate's share and cap are stated here and in "
            "policies/catalogue.yaml (overdue_rebate: window_days = 30, rebate_share = 0.3, "
            "cap_amount = 500)") in out
    assert "events.yaml:27: overdue-rebate: the rebate window is stated here (days_after_overdue)" \
        in out
    assert "overdue_rebate: the en text promises 45, half, which is not a term" in out
    assert "theft-override: the description says 2 years, but the rule lasts 1095 days" in out
    assert ("theft-incident: theft would force the grade for two durations: this rule for 36 "
            "months (the count's window) and rule 'theft-override'") in out


def test_rules_check_refuses_a_rebate_share_stated_in_two_places_and_nothing_else(tmp_path):
    """The one fault alone: the shipped set is clean; the share (and the cap the rule format
    asks with it) stated again in the rule file is refused, even at the catalogue's values."""
    home = _home(tmp_path)
    assert _check(home).exit_code == 0
    _edit(home / "rules" / "events.yaml", "    when: {outstanding: {le: 0}}\n",
          "    when: {outstanding: {le: 0}}\n    rebate: {share: 0.5, cap: 500}\n")
    result = _check(home)
    assert result.exit_code == 1, result.output
    out = " ".join(result.output.split())
    assert ("events.yaml:28: overdue-rebate: the rebate's share and cap are stated here and in "
            "policies/catalogue.yaml") in out


def _feed(processor, stream: list[dict]) -> list:
    """Process each event on its own clock (the service's clock when it arrives)."""
    results = [processor.process(e, now_us=to_micros(dt.datetime.fromisoformat(e["time"])))
               for e in stream]
    assert all(r.ok for r in results), results
    return results


def _processor(tmp_path: Path, rules: Path = RULES, terms: RebateTerms | None = None):
    tmp_path.mkdir(parents=True, exist_ok=True)
    return EventProcessor(open_store(str(tmp_path / "ev.sqlite"), synchronous="NORMAL"),
                          load_event_rules(rules), terms=terms)


def _repay(processor, due: dt.date, overdue_after: int, repaid_after: int, penalty: float,
           customer: str = "C1"):
    noon = dt.time(12, tzinfo=dt.UTC)
    issued = dt.datetime.combine(due - dt.timedelta(days=20), noon)
    stream = [ev("bill_issued", f"{customer}-b", issued, customer, bill_id="B1", amount=300.0,
                 due=due.isoformat()),
              ev("bill_overdue", f"{customer}-o", dt.datetime.combine(
                  due + dt.timedelta(days=overdue_after), noon), customer, bill_id="B1",
                 penalty=penalty),
              ev("repayment", f"{customer}-r", dt.datetime.combine(
                  due + dt.timedelta(days=repaid_after), noon), customer, bill_id="B1",
                 amount=300.0)]
    _feed(processor, stream)
    day = due + dt.timedelta(days=repaid_after)
    return [o for o in processor.store.outcomes_for(customer, day).outcomes
            if o.kind == "rebate_earned"]


def test_the_processor_pays_the_catalogues_terms_counted_from_the_due_date(tmp_path):
    terms = RebateTerms.of(load_catalogue(ROOT / "policies" / "catalogue.yaml"))
    assert (terms.share, terms.cap, terms.window_days) == (0.5, 500.0, 30.0)
    processor = _processor(tmp_path / "late")
    assert processor.terms == terms
    # due 08-20, overdue 09-15, repaid 10-10: 51 days after the due date, no rebate
    assert _repay(processor, dt.date(2026, 8, 20), 26, 51, 100.0, "LATE") == []
    paid = _repay(_processor(tmp_path / "on-time"), dt.date(2026, 8, 20), 5, 30, 100.0)
    assert [o.amount for o in paid] == [50.0]
    other = _processor(tmp_path / "b", terms=RebateTerms(share=0.3, cap=20.0, window_days=30))
    assert [o.amount for o in _repay(other, dt.date(2026, 8, 20), 5, 10, 100.0)] == [20.0]


@settings(max_examples=25, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(due=st.dates(dt.date(2025, 1, 1), dt.date(2027, 12, 1)), late=st.integers(-3, 3),
       window=st.integers(7, 90))
def test_the_rebate_window_ends_on_its_last_day(tmp_path_factory, due, late, window):
    terms = RebateTerms(share=0.5, cap=500.0, window_days=window)
    processor = _processor(tmp_path_factory.mktemp("w"), terms=terms)
    repaid_after = window + late
    paid = _repay(processor, due, min(3, repaid_after), repaid_after, 40.0)
    assert bool(paid) == (repaid_after <= window)


def _decide_on(engine, store, customer: str, day: dt.date):
    record = dict(CLEAN, customer_id=customer, as_of=day.isoformat())
    return engine.decide(record, outcomes=store.outcomes_for(customer, day))


@settings(max_examples=20, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(start=st.datetimes(dt.datetime(2025, 1, 1), dt.datetime(2026, 12, 31)),
       kind=st.sampled_from(["theft_finding", "agreement_broken"]))
def test_an_override_in_force_to_d_holds_on_d_and_not_on_d_plus_one(engine, tmp_path_factory,
                                                                  start, kind):
    at = start.replace(tzinfo=dt.UTC)
    processor = _processor(tmp_path_factory.mktemp("o"))
    stream = [ev("bill_issued", "b", at - dt.timedelta(days=3), bill_id="B1", amount=80.0)]
    if kind == "agreement_broken":
        stream.append(ev("agreement_made", "m", at - dt.timedelta(days=2),
                         agreement_id="A1", amount=80.0))
        stream.append(ev(kind, "x", at, agreement_id="A1"))
    else:
        stream.append(ev(kind, "x", at))
    results = _feed(processor, stream)
    outcome = next(o for r in results for o in r.outcomes)
    end = last_day(outcome.valid_until)
    rule = {"theft_finding": "theft-override", "agreement_broken": "broken-agreement-regrade"}
    on_end = _decide_on(engine, processor.store, "C1", end)
    after = _decide_on(engine, processor.store, "C1", end + dt.timedelta(days=1))
    assert (on_end.grade.grade, on_end.grade.rule_id) == ("C", rule[kind])
    assert after.grade.rule_id != rule[kind]
    notice = engine.explain(on_end, "text", lang="en", audience="customer")
    assert f"until {end:%B} {end.day}, {end.year} (inclusive)" in notice


@settings(max_examples=15, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(start=st.datetimes(dt.datetime(2025, 1, 1), dt.datetime(2026, 12, 31)),
       gap=st.integers(20, 60))
def test_a_habitual_defaulter_mark_holds_to_its_stated_last_day(engine, tmp_path_factory,
                                                               start, gap):
    at = start.replace(tzinfo=dt.UTC)
    processor = _processor(tmp_path_factory.mktemp("h"))
    stream = []
    for i in range(3):
        t = at + dt.timedelta(days=gap * i)
        stream.append(ev("bill_issued", f"b{i}", t, bill_id=f"B{i}", amount=50.0))
        stream.append(ev("bill_overdue", f"o{i}", t + dt.timedelta(days=5), bill_id=f"B{i}",
                         penalty=1.0))
    results = _feed(processor, stream)
    mark = next(o for r in results for o in r.outcomes if o.kind == "habitual_defaulter")
    end = last_day(mark.valid_until)
    on_end = _decide_on(engine, processor.store, "C1", end)
    after = _decide_on(engine, processor.store, "C1", end + dt.timedelta(days=1))
    assert on_end.inputs["habitual_defaulter"] is True
    assert not after.inputs.get("habitual_defaulter")
    notice = engine.explain(on_end, "text", lang="en", audience="customer")
    assert f"the mark ends after {end:%B} {end.day}, {end.year}." in notice


def test_a_theft_count_alone_no_longer_forces_c_but_a_dated_finding_does(engine):
    counted = engine.decide(dict(CLEAN, theft_incidents_36m=1))
    assert counted.grade.rule_id != "theft-incident"
    dated = engine.decide(dict(CLEAN, theft_override_until="2026-10-31"))
    assert (dated.grade.grade, dated.grade.rule_id) == ("C", "theft-override")
    next_day = engine.decide(dict(CLEAN, as_of="2026-11-01", theft_override_until="2026-10-31"))
    assert next_day.grade.rule_id != "theft-override"
    assert "theft-incident" not in {r.id for r in engine.tables.table("grades").rules}


def test_a_translation_only_change_is_named_as_a_translation_change(tmp_path):
    from engine.tables.diff import diff_sets
    from engine.tables.tableset import load_table_set

    home = _home(tmp_path)
    before = load_table_set(ROOT / "rules", load_catalogue(ROOT / "policies" / "catalogue.yaml"))
    po = home / "policies" / "locale" / "zh_CN" / "LC_MESSAGES" / "gridcredit.po"
    _edit(po, 'msgstr "公共机构"', 'msgstr "公共单位"')
    after = load_table_set(home / "rules", load_catalogue(home / "policies" / "catalogue.yaml"))
    diff = diff_sets(before, after)
    assert diff.catalogue_parts == ("translation locale/zh_CN/LC_MESSAGES/gridcredit.po",)
    assert ("changed translations only (no policy, parameter or template changed): "
            "policies/locale/zh_CN/LC_MESSAGES/gridcredit.po") in diff.text()
    assert "policy titles, parameters" not in diff.text()
    _edit(home / "policies" / "catalogue.yaml", "cap_amount: {type: float, default: 500.0,",
          "cap_amount: {type: float, default: 400.0,")
    again = diff_sets(before, load_table_set(
        home / "rules", load_catalogue(home / "policies" / "catalogue.yaml")))
    assert again.catalogue_parts[0] == "policies"
    assert "changed policies/catalogue.yaml (policy titles, parameters" in again.text()
    assert "changed translation policies/locale/zh_CN/LC_MESSAGES/gridcredit.po" in again.text()
