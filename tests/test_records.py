"""The customer record contract: one declaration, two validators that agree."""

from __future__ import annotations

import math
from contextlib import nullcontext

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine import synth
from engine.errors import FrameError, RecordError, RequiredFieldError
from engine.recordframe import validate_frame
from engine.records import FIELDS, validate_record
from tests.factories import good


def test_a_good_record_is_accepted():
    rec = validate_record(good())
    assert rec.customer_id == "C001" and rec.monthly_kwh == 5200.0


@pytest.mark.parametrize(
    ("changes", "field", "pattern"),
    [
        ({"monthly_kwh": -5.0}, "monthly_kwh",
         r"field 'monthly_kwh' = -5.0: must be a number >= 0"),
        ({"customer_class": "farm"}, "customer_class", "must be one of residential, commercial"),
        ({"current_ratio": ...}, "current_ratio", "required for commercial customers"),
        ({"months_connected": ...}, "months_connected", "required field is missing"),
        ({"overdue_bills_12m": "3"}, "overdue_bills_12m", "must be a whole number"),
        ({"loan_repayment_on_schedule_rate": 1.5}, "loan_repayment_on_schedule_rate", "<= 1"),
        ({"monthly_kwh": float("nan")}, "monthly_kwh", "must be a number"),
        ({"monthly_kwhs": 5.0}, "monthly_kwhs", "did you mean 'monthly_kwh'"),
    ],
)
def test_a_bad_record_names_field_value_and_rule(changes, field, pattern):
    with pytest.raises(RecordError, match=pattern) as info:
        validate_record(good(**changes))
    assert info.value.field == field


def test_missing_financial_status_is_a_structured_error():
    with pytest.raises(RequiredFieldError) as info:
        validate_record(good(customer_class="industrial", return_on_net_assets=...))
    err = info.value
    assert (err.field, err.customer_class, err.required_for) == (
        "return_on_net_assets", "industrial", "non-residential")
    assert err.details() == [{"field": "return_on_net_assets", "value": None,
                              "rule": "required for industrial customers (financial status); "
                                      "supply the value"}]


def test_residential_customers_need_no_financial_status():
    record = good(customer_class="residential", asset_liability_ratio=..., current_ratio=...,
                  return_on_net_assets=..., loan_repayment_on_schedule_rate=...)
    assert validate_record(record).current_ratio is None


def test_frame_validation_keeps_every_row_once():
    frame = synth.generate(500, seed=3)
    frame.loc[3, "monthly_kwh"] = -1
    frame.loc[7, "customer_class"] = "farm"
    frame.loc[9, "overdue_bills_12m"] = np.nan
    accepted, rejects = validate_frame(frame)
    assert len(accepted) + len(rejects) == 500
    assert rejects.set_index("row")["field"].to_dict() == {
        3: "monthly_kwh", 7: "customer_class", 9: "overdue_bills_12m"}
    assert rejects.set_index("row").loc[9, "reason"] == "required field is missing"


def test_frame_missing_a_column_is_refused_by_name():
    frame = synth.generate(10, seed=3).drop(columns=["monthly_kwh", "as_of"])
    with pytest.raises(FrameError, match="missing required columns: as_of, monthly_kwh"):
        validate_frame(frame)


def test_synth_is_deterministic_by_seed():
    a, b = synth.generate(200, seed=5), synth.generate(200, seed=5)
    pd.testing.assert_frame_equal(a, b)
    assert not synth.generate(200, seed=6).equals(a)


numeric = [f for f in FIELDS if f.kind in ("int", "float")]


@settings(max_examples=150, deadline=None)
@given(
    spec=st.sampled_from(numeric),
    value=st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.integers(-10**6, 10**9)),
)
def test_record_and_frame_validators_agree(spec, value):
    base = good()
    if spec.kind == "int" and isinstance(value, float) and value.is_integer():
        value = int(value)
    record = dict(base, **{spec.name: value})
    try:
        validate_record(record)
        single_ok = True
    except RecordError as exc:
        single_ok = False
        assert exc.field == spec.name
    accepted, rejects = validate_frame(pd.DataFrame([record]))
    assert (len(accepted) == 1) == single_ok, (spec.name, value)
    if not single_ok:
        assert rejects.loc[0, "field"] == spec.name
    elif isinstance(value, float):
        assert math.isclose(accepted.iloc[0][spec.name], value)


@pytest.mark.parametrize("dates, days, refused", [
    (["2026-10-31", "2024-02-29", None], ["2026-10-31", "2024-02-29", None], {}),
    (["2026-10-31", "2026/10/30", None], ["2026-10-31", "2026-10-30", None], {}),
    (["2026-10-31", "2026-02-30", "soon"], ["2026-10-31"], {1: "2026-02-30", 2: "soon"}),
])
def test_frame_dates_read_strict_iso_and_other_forms_alike(dates, days, refused):
    frame = pd.DataFrame([good(customer_id=f"C{i}") for i in range(3)])
    frame["theft_override_until"] = pd.Series(dates, dtype="str")
    frame["as_of"] = frame["as_of"].astype("str")
    accepted, rejects = validate_frame(frame)
    got = accepted["theft_override_until"]
    assert got.dtype == pd.to_datetime(pd.Series(["2026-10-31"]), format="mixed").dtype
    assert [None if pd.isna(d) else d.date().isoformat() for d in got] == days
    assert rejects.set_index("row")["value"].to_dict() == refused
    assert set(rejects["reason"]) <= {"must be a date (YYYY-MM-DD)"}


def test_frame_customer_ids_are_refused_as_one_record_refuses_them():
    ids = ["C-1", "bad id", "_x", "a" * 64, "a" * 65, "ok.1:2_3"]
    frame = pd.DataFrame([good(customer_id=i) for i in ids])
    _, rejects = validate_frame(frame)
    single = []
    for i, cid in enumerate(ids):
        with pytest.raises(RecordError) if cid in ("bad id", "_x", "a" * 65) else nullcontext():
            validate_record(good(customer_id=cid))
            continue
        single.append(i)
    assert sorted(rejects["row"]) == single
    assert set(rejects["field"]) == {"customer_id"}
