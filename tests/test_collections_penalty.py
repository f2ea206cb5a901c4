"""The late-payment penalty against its closed form, and the rebate from the catalogue."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from engine.collections.penalty import penalty_of, rebate_of
from engine.policies import load_catalogue

ROOT = Path(__file__).resolve().parents[1]
CATALOGUE = load_catalogue(ROOT / "policies" / "catalogue.yaml")
RATES = CATALOGUE["late_payment_penalty"].defaults()
REBATE = CATALOGUE["overdue_rebate"].defaults()
DAY = dt.timedelta(days=1)


def by_the_day(amount, due, repayments, as_of, klass, params):
    """The definition, one day at a time: base before the day's payments, rate by year."""
    arrears_year = (due + DAY).year
    total, days, day = 0.0, 0, due + DAY
    while day <= as_of:
        base = round(amount - sum(a for d, a in repayments if d < day), 2)
        if base <= 0.005:
            break
        if klass == "residential":
            rate = params["daily_rate_residential"]
        elif day.year == arrears_year:
            rate = params["daily_rate_current_year"]
        else:
            rate = params["daily_rate_earlier_years"]
        total += base * rate
        days += 1
        day += DAY
    if days and total < params["minimum_charge"]:
        total = params["minimum_charge"]
    return round(total, 2), days


dates = st.dates(min_value=dt.date(2024, 1, 1), max_value=dt.date(2027, 12, 31))


@settings(max_examples=300, deadline=None)
@given(amount=st.floats(min_value=1, max_value=50_000).map(lambda x: round(x, 2)),
       due=dates, spans=st.lists(st.tuples(st.integers(-10, 500),
                                            st.floats(min_value=0.01, max_value=20_000)),
                                 max_size=4),
       horizon=st.integers(0, 800),
       klass=st.sampled_from(["residential", "commercial", "industrial", "public"]))
def test_the_penalty_equals_its_closed_form(amount, due, spans, horizon, klass):
    repayments = [(due + dt.timedelta(days=d), round(a, 2)) for d, a in spans]
    as_of = due + dt.timedelta(days=horizon)
    got = penalty_of(amount, due, repayments, as_of, klass, RATES)
    expected, days = by_the_day(amount, due, repayments, as_of, klass, RATES)
    assert got.days == days
    # pieces and single days are summed in different orders: a total that falls on half a
    # cent may round to either neighbour, never further
    assert abs(got.amount - expected) <= 0.01 + 1e-9


def test_a_household_pays_the_residential_rate_for_each_day_after_the_due_date():
    got = penalty_of(200.0, dt.date(2026, 1, 20), [], dt.date(2026, 3, 1), "residential", RATES)
    assert (got.amount, got.days, got.through) == (8.0, 40, dt.date(2026, 3, 1))


def test_arrears_cost_the_earlier_years_rate_from_the_first_of_january():
    # 10 days of 2026 at 0.2 %, then 20 days of 2027 at 0.3 % on 1,000
    got = penalty_of(1000.0, dt.date(2026, 12, 21), [], dt.date(2027, 1, 20), "commercial",
                     RATES)
    assert got.days == 30
    assert got.amount == round(1000 * (0.002 * 10 + 0.003 * 20), 2) == 80.0


def test_a_partial_repayment_lowers_the_base_from_the_next_day_and_full_payment_stops_it():
    due = dt.date(2026, 5, 1)
    got = penalty_of(1000.0, due, [(dt.date(2026, 5, 11), 600.0), (dt.date(2026, 5, 21), 400.0)],
                     dt.date(2026, 8, 1), "industrial", RATES)
    assert got.days == 20 and got.through == dt.date(2026, 5, 21)
    assert got.amount == round(1000 * 0.002 * 10 + 400 * 0.002 * 10, 2) == 28.0


def test_the_minimum_charge_applies_once_a_day_has_accrued():
    got = penalty_of(10.0, dt.date(2026, 5, 1), [], dt.date(2026, 5, 3), "residential", RATES)
    assert (got.amount, got.days) == (RATES["minimum_charge"], 2)
    assert penalty_of(10.0, dt.date(2026, 5, 1), [], dt.date(2026, 5, 1), "residential",
                      RATES).amount == 0.0


def test_the_rebate_reads_the_catalogue_terms():
    due = dt.date(2026, 5, 1)
    penalty = penalty_of(100_000.0, due, [(dt.date(2026, 5, 21), 100_000.0)],
                         dt.date(2026, 6, 1), "commercial", RATES)
    rebate = rebate_of(penalty, due, dt.date(2026, 5, 21), REBATE)
    assert penalty.amount == 4000.0
    assert rebate.amount == min(4000.0 * REBATE["rebate_share"], REBATE["cap_amount"])
    assert rebate_of(penalty, due, due + dt.timedelta(days=REBATE["window_days"] + 1),
                     REBATE) is None
    generous = {**REBATE, "cap_amount": 10_000.0}
    assert rebate_of(penalty, due, dt.date(2026, 5, 21), generous).amount == 2000.0
