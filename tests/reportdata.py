"""Decisions shaped like a batch output, with labels, rejects and versions, for the report tests."""

from __future__ import annotations

import numpy as np
import pandas as pd

from engine import synth

EDGES = (0.01, 0.025, 0.06, 0.15)
GRADE_NAMES = np.array(["AAA", "AA", "A", "B", "C"])
CREATED = "2026-11-30T09:00:00+00:00"


def make_decisions(n: int = 600, seed: int = 3) -> tuple[pd.DataFrame, pd.Series]:
    """Decisions with the report's columns over a labelled synthetic population.

    The PD is a noisy function of payment behaviour and of the label itself,
    so it separates defaulters the way a real scorer would, without training one.
    """
    pop = synth.generate(n, seed)
    rng = np.random.default_rng(seed)
    z = (0.6 * pop["overdue_bills_12m"] + 0.02 * pop["max_days_overdue_12m"]
         + 1.2 * pop["default_12m"] + rng.normal(0.0, 1.0, n) - 4.0).to_numpy()
    pd_values = 1.0 / (1.0 + np.exp(-z))
    grade = GRADE_NAMES[np.searchsorted(EDGES, pd_values, side="right")]
    theft = pop["theft_incidents_36m"].to_numpy() > 0
    final = np.where(theft, "C", grade)
    kwh = pop["monthly_kwh"].to_numpy()
    consumption = np.where(kwh > 5000, "large", np.where(kwh > 700, "average", "small"))
    policies = np.where(np.isin(final, ["B", "C"]), "on_site_inspection;late_payment_penalty",
                        np.where(consumption == "large", "dedicated_account_manager", ""))
    decisions = pd.DataFrame({
        "customer_id": pop["customer_id"],
        "customer_class": pop["customer_class"],
        "as_of": pop["as_of"],
        "model_id": "lda-" + pop["customer_class"],
        "z": z,
        "pd": pd_values,
        "band_grade": grade,
        "grade": final,
        "grade_rule": np.where(theft, "theft-forces-c", "band-" + grade.astype(object)),
        "override": np.where(theft, "theft-forces-c", None),
        "consumption_class": consumption,
        "outage_sensitivity": np.where(pop["critical_load"], "high", "normal"),
        "service_sensitivity": "normal",
        "value_tier": np.where(consumption == "large", "high", "standard"),
        "policies": policies,
        "table_version": "2026.12.0",
        "table_hash": "sha256:" + "ab" * 32,
    }, index=pop.index)
    return decisions, pop["default_12m"]


def sensitivity_frame() -> pd.DataFrame:
    rows = []
    for group, before in (("production", 0.30), ("management", 0.20),
                          ("payment behaviour", 0.50)):
        for shock, factor in (("1 sd", 0.15), ("10 %", 0.05), ("20 %", 0.10), ("30 %", 0.20)):
            rows.append((group, shock, before, round(before * (1 + factor), 4)))
    return pd.DataFrame(rows, columns=["group", "shock", "before", "after"])


REJECTS = pd.DataFrame({
    "row": [3, 9, 9, 14],
    "customer_id": ["R1", "R2", "R2", "R3"],
    "field": ["monthly_kwh", "customer_class", "monthly_kwh", "monthly_kwh"],
    "value": ["-1", "farm", "-5", "-2"],
    "reason": ["must be a number >= 0 (kWh/month)",
               "must be one of residential, commercial, industrial, public",
               "must be a number >= 0 (kWh/month)", "must be a number >= 0 (kWh/month)"],
})
VERSIONS = {"engine_version": "0.1.0", "tables_version": "2026.12.0",
            "tables_content_hash": "sha256:" + "ab" * 32,
            "tables": {"grades": "2026.12.0", "service-policies": "2026.12.1"},
            "models": {"lda-residential": "cd" * 32}}
