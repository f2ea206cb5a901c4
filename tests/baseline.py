"""A clean customer record per class, the starting point of the BDD scenarios."""

from __future__ import annotations

from typing import Any

CONSUMPTION = {
    "residential": {"monthly_kwh": 800.0, "contracted_capacity_kva": 8.0},
    "commercial": {"monthly_kwh": 10_000.0, "contracted_capacity_kva": 40.0},
    "industrial": {"monthly_kwh": 400_000.0, "contracted_capacity_kva": 1_500.0},
    "public": {"monthly_kwh": 25_000.0, "contracted_capacity_kva": 100.0},
}
HEALTHY_FINANCES = {
    "asset_liability_ratio": 0.35,
    "current_ratio": 2.2,
    "return_on_net_assets": 0.14,
    "loan_repayment_on_schedule_rate": 1.0,
}


def clean_record(klass: str, *, customer_id: str, as_of: str = "2026-10-31") -> dict[str, Any]:
    """An established customer of ``klass`` with no arrears, findings or faults."""
    record: dict[str, Any] = {
        "customer_id": customer_id,
        "customer_class": klass,
        "as_of": as_of,
        "months_connected": 120,
        "overdue_bills_12m": 0,
        "overdue_amount": 0.0,
        "max_days_overdue_12m": 0,
        "theft_incidents_36m": 0,
        "has_repayment_agreement": False,
        "has_reactive_compensation": klass != "residential",
        "calibration_on_schedule": True,
        "grid_accidents_36m": 0,
        "social_credit_rating": "A",
        "expected_service_quality": 4.0,
        "perceived_service_quality": 4.0,
        "critical_load": False,
        **CONSUMPTION[klass],
    }
    if klass != "residential":
        record.update(HEALTHY_FINANCES)
    return record
