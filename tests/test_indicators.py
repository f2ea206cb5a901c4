"""The indicator catalogue and the two computation paths (frame and single record)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine import synth
from engine.errors import ConfigError, FrameError
from engine.recordframe import validate_frame
from engine.scoring import RISK_GROUPS, compute, compute_one, load_catalogue

ROOT = Path(__file__).resolve().parent.parent
CATALOGUE = ROOT / "models" / "indicators.yaml"
_CATALOGUE = load_catalogue(CATALOGUE)


@pytest.fixture(scope="module")
def catalogue():
    return load_catalogue(CATALOGUE)


@pytest.fixture(scope="module")
def accepted():
    frame, rejects = validate_frame(synth.generate(400, seed=5).drop(columns="default_12m"))
    assert rejects.empty
    return frame


def test_catalogue_covers_the_paper_groups_and_required_indicators(catalogue):
    assert {i.group for i in catalogue} == set(RISK_GROUPS)
    for name in ("overdue_bills", "max_days_overdue", "overdue_to_bill", "theft_incidents",
                 "repayment_agreement", "social_credit_rating", "calibration_on_schedule",
                 "reactive_compensation", "grid_accidents", "asset_liability_ratio",
                 "current_ratio", "return_on_net_assets", "loan_repayment_rate",
                 "log_consumption", "capacity_utilisation", "months_connected",
                 "service_quality_gap"):
        assert name in catalogue
    financial = {"asset_liability_ratio", "current_ratio", "return_on_net_assets",
                 "loan_repayment_rate"}
    assert financial <= set(catalogue.names("enterprise"))
    assert not financial & set(catalogue.names("residential"))


def test_transforms_give_the_documented_numbers(catalogue):
    record = {"overdue_amount": 240.0, "monthly_kwh": 1000.0, "contracted_capacity_kva": 10.0,
              "expected_service_quality": 4.5, "perceived_service_quality": 3.0,
              "has_repayment_agreement": True, "social_credit_rating": "B",
              "overdue_bills_12m": 2}
    names = ["overdue_to_bill", "capacity_utilisation", "service_quality_gap",
             "repayment_agreement", "social_credit_rating", "log_consumption", "overdue_bills"]
    out = compute_one(record, catalogue, names)
    assert out["overdue_to_bill"] == pytest.approx(240.0 / (0.12 * 1000.0))
    assert out["capacity_utilisation"] == pytest.approx(1000.0 / (730.0 * 10.0))
    assert out["service_quality_gap"] == pytest.approx(1.5)
    assert out["repayment_agreement"] == 1.0
    assert out["social_credit_rating"] == "B"
    assert out["log_consumption"] == pytest.approx(math.log1p(1000.0))
    assert out["overdue_bills"] == 2.0


def test_absent_financial_ratios_are_missing_not_zero(catalogue, accepted):
    values = compute(accepted, catalogue)
    residential = (accepted["customer_class"] == "residential").to_numpy()
    assert values.loc[residential, "current_ratio"].isna().all()
    assert values.loc[~residential, "current_ratio"].notna().all()


def test_frame_and_record_paths_agree_exactly(catalogue, accepted):
    values = compute(accepted, catalogue)
    for i in range(0, len(accepted), 7):
        record = accepted.iloc[i].to_dict()
        record = {k: (None if v is pd.NA or v is None or (isinstance(v, float) and np.isnan(v))
                      else v) for k, v in record.items()}
        one = compute_one(record, catalogue)
        for name, value in one.items():
            batch = values.iloc[i][name]
            if isinstance(value, float) and np.isnan(value):
                assert np.isnan(batch), name
            else:
                assert value == batch, (name, value, batch)


@settings(max_examples=60, deadline=None)
@given(amount=st.floats(0, 1e6), kwh=st.floats(0, 1e7), kva=st.floats(0, 1e5),
       expected=st.floats(1, 5), perceived=st.floats(1, 5))
def test_numeric_transforms_agree_on_any_input(amount, kwh, kva, expected, perceived):
    catalogue = _CATALOGUE
    record = {"overdue_amount": amount, "monthly_kwh": kwh, "contracted_capacity_kva": kva,
              "expected_service_quality": expected, "perceived_service_quality": perceived}
    names = ["overdue_to_bill", "capacity_utilisation", "service_quality_gap", "log_consumption"]
    frame = compute(pd.DataFrame([record]), catalogue, names)
    one = compute_one(record, catalogue, names)
    for name in names:
        assert one[name] == frame[name].iloc[0]
        assert np.isfinite(one[name])
    assert 0.0 <= one["overdue_to_bill"] <= 120.0


def test_missing_source_column_is_named(catalogue):
    with pytest.raises(FrameError, match="missing columns the indicators need: overdue_amount"):
        compute(pd.DataFrame({"monthly_kwh": [1.0]}), catalogue, ["overdue_to_bill"])


def _write(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "indicators.yaml"
    path.write_text("schema: gridcredit.indicators/1\nrecord: customer\nindicators:\n" + body)
    return path


ENTRY = """  - name: bills
    sources: [{source}]
    transform: {transform}
    direction: higher_is_riskier
    unit: bills
    group: {group}
    description: Late bills.
"""


def test_unknown_source_field_is_refused_with_line_and_suggestion(tmp_path):
    path = _write(tmp_path, ENTRY.format(source="overdue_bils_12m", transform="identity",
                                         group="payment behaviour"))
    with pytest.raises(ConfigError, match=r"indicators.yaml:4: indicator 'bills': unknown "
                       r"source field 'overdue_bils_12m' \(did you mean 'overdue_bills_12m'\?\)"):
        load_catalogue(path)


def test_unknown_transform_and_group_are_refused(tmp_path):
    path = _write(tmp_path, ENTRY.format(source="overdue_bills_12m", transform="log",
                                         group="payment behaviour"))
    with pytest.raises(ConfigError, match=r":4: indicator 'bills': unknown transform 'log'"):
        load_catalogue(path)
    path = _write(tmp_path, ENTRY.format(source="overdue_bills_12m", transform="identity",
                                         group="payment"))
    with pytest.raises(ConfigError, match=r"group 'payment' is not one of .* \(did you mean "
                       r"'payment behaviour'\?\)"):
        load_catalogue(path)


def test_duplicate_indicator_is_refused(tmp_path):
    entry = ENTRY.format(source="overdue_bills_12m", transform="identity",
                         group="payment behaviour")
    path = _write(tmp_path, entry + entry)
    with pytest.raises(ConfigError, match=r"indicators.yaml:11: indicator 'bills' is listed twice"):
        load_catalogue(path)


def test_generic_spec_reads_any_columns():
    spec = load_catalogue(ROOT / "tests" / "data" / "germancredit-indicators.yaml")
    frame = pd.read_csv(ROOT / "tests" / "data" / "germancredit.csv")
    values = compute(frame, spec)
    assert values.shape == (1000, 20)
    assert values["duration_in_month"].iloc[0] == 6.0
    assert values["checking_account"].iloc[0] == "... < 0 DM"
