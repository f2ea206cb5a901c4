"""A synthetic customer base with a known 12-month default label.

The generative model is documented in ``docs/data-card.md``. In short: every
customer has a latent risk ``r ~ N(0, 1)`` (higher = worse credit). The risk
drives payment behaviour, equipment management, social credit and, for
enterprises, the financial ratios, each with its own noise; the default label
is drawn from ``sigmoid(a_class + 1.5 r + e)`` so that no indicator reveals it
exactly. Everything is drawn from one ``numpy.random.Generator`` seeded by the
caller, so the same seed gives the same population.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd

from engine.records import CLASSES, GRADES
from engine.servicequality.surveys import DIMENSIONS, expected_column, perceived_column

__all__ = ["CLASS_MIX", "DEFAULT_AS_OF", "POLICY_EFFECTS", "SATISFACTION_WEIGHTS",
           "SENSITIVITY", "generate", "generate_surveys"]

DEFAULT_AS_OF = dt.date(2026, 10, 31)

# Share of customers by count (utility-practice notes: ~88 % residential,
# ~11 % commercial, under 1 % industrial).
CLASS_MIX = {"residential": 0.875, "commercial": 0.110, "industrial": 0.008, "public": 0.007}

# Median monthly kWh and log-spread per class: residential mean ~890 kWh/month.
_KWH = {"residential": (800.0, 0.45), "commercial": (6_000.0, 1.0),
        "industrial": (400_000.0, 1.2), "public": (25_000.0, 0.9)}
# Intercepts of the default model: base rates about 4 % residential,
# 6 % commercial, 5 % industrial, 2 % public.
_DEFAULT_INTERCEPT = {"residential": -4.25, "commercial": -3.80, "industrial": -4.00,
                      "public": -5.00}
_CRITICAL_SHARE = {"residential": 0.005, "commercial": 0.03, "industrial": 0.25, "public": 0.30}
_RISK_WEIGHT = 1.5


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def generate(n: int, seed: int = 0, as_of: dt.date = DEFAULT_AS_OF) -> pd.DataFrame:
    """Generate ``n`` customer records plus the ``default_12m`` label (0/1).

    Each group of fields is drawn by its own function, always in the order
    below: the draws of one generator follow each other, so reordering the
    calls would change every population a seed gives.
    """
    if n < 0:
        raise ValueError("n must be >= 0")
    rng = np.random.default_rng(seed)
    klass = rng.choice(np.array(CLASSES), size=n, p=[CLASS_MIX[c] for c in CLASSES])
    enterprise = klass != "residential"
    risk = rng.standard_normal(n)
    months = _months_connected(rng, n)
    consumption = _consumption(rng, klass, enterprise, risk)
    financial = _financial(rng, enterprise, risk)
    payment = _payment(rng, risk, consumption["monthly_kwh"])
    columns = {
        "customer_class": klass,
        "as_of": np.full(n, as_of.isoformat()),
        "months_connected": months,
        **financial,
        "monthly_kwh": np.round(consumption["monthly_kwh"], 1),
        "contracted_capacity_kva": np.round(consumption["contracted_capacity_kva"], 1),
        **{k: v for k, v in payment.items() if not k.startswith("_")},
        **_equipment(rng, enterprise, risk),
        "social_credit_rating": _social_credit(rng, enterprise, risk),
        **_service(rng, klass, enterprise),
        **_history(rng, risk, months, payment, as_of),
    }
    intercept = np.array([_DEFAULT_INTERCEPT[c] for c in klass])
    default = rng.random(n) < _sigmoid(intercept + _RISK_WEIGHT * risk
                                       + 0.5 * rng.standard_normal(n))
    width = max(8, len(str(n)))
    columns["customer_id"] = [f"C{i:0{width}d}" for i in range(1, n + 1)]
    columns["default_12m"] = default.astype(np.int64)
    return pd.DataFrame({name: columns[name] for name in _COLUMNS})


_COLUMNS = (
    "customer_id", "customer_class", "as_of", "months_connected", "asset_liability_ratio",
    "current_ratio", "return_on_net_assets", "loan_repayment_on_schedule_rate", "monthly_kwh",
    "contracted_capacity_kva", "overdue_bills_12m", "overdue_amount", "max_days_overdue_12m",
    "theft_incidents_36m", "has_repayment_agreement", "has_reactive_compensation",
    "calibration_on_schedule", "grid_accidents_36m", "social_credit_rating",
    "expected_service_quality", "perceived_service_quality", "critical_load", "previous_grade",
    "habitual_defaulter", "rebate_earned", "theft_override_until", "default_12m",
)


def _months_connected(rng: np.random.Generator, n: int) -> np.ndarray:
    """Months since connection; about 6 % are new connections (under a year)."""
    months = np.minimum(rng.exponential(110.0, n), 600.0).astype(np.int64)
    new = rng.random(n) < 0.06
    return np.where(new, rng.integers(0, 12, n), months)


def _consumption(rng: np.random.Generator, klass: np.ndarray, enterprise: np.ndarray,
                 risk: np.ndarray) -> dict[str, np.ndarray]:
    """Log-normal consumption per class, lightly tied to risk (struggling firms use less)."""
    n = len(klass)
    median = np.array([_KWH[c][0] for c in klass])
    spread = np.array([_KWH[c][1] for c in klass])
    kwh = median * np.exp(spread * rng.standard_normal(n) - 0.08 * risk * enterprise)
    load_factor = rng.uniform(0.25, 0.65, n)
    kva = kwh / (730.0 * load_factor * 0.9)
    kva = np.where(enterprise, kva, np.maximum(kva, 4.0))
    return {"monthly_kwh": kwh, "contracted_capacity_kva": kva}


def _financial(rng: np.random.Generator, enterprise: np.ndarray,
               risk: np.ndarray) -> dict[str, np.ndarray]:
    """Financial ratios, drawn for everyone and kept for enterprises only."""
    n = len(risk)
    nan = np.full(n, np.nan)
    alr = np.clip(0.55 + 0.12 * risk + 0.15 * rng.standard_normal(n), 0.05, 3.0)
    cur = np.clip(np.exp(np.log(1.4) - 0.18 * risk + 0.35 * rng.standard_normal(n)), 0.05, 20.0)
    rona = np.clip(0.08 - 0.05 * risk + 0.08 * rng.standard_normal(n), -2.0, 2.0)
    loan = np.clip(1.0 - np.abs(0.03 + 0.04 * risk + 0.04 * rng.standard_normal(n)), 0.0, 1.0)
    return {
        "asset_liability_ratio": np.where(enterprise, np.round(alr, 4), nan),
        "current_ratio": np.where(enterprise, np.round(cur, 3), nan),
        "return_on_net_assets": np.where(enterprise, np.round(rona, 4), nan),
        "loan_repayment_on_schedule_rate": np.where(enterprise, np.round(loan, 4), nan),
    }


def _payment(rng: np.random.Generator, risk: np.ndarray,
             kwh: np.ndarray) -> dict[str, np.ndarray]:
    """Payment behaviour; ``_owes`` (unpaid charges) is kept for the history fields."""
    n = len(risk)
    overdue_bills = np.minimum(rng.poisson(np.exp(-2.3 + 1.45 * risk)), 12)
    days = np.where(overdue_bills > 0,
                    np.minimum(5 + rng.gamma(1.5, 10.0 * np.exp(0.45 * risk)), 366), 0)
    monthly_bill = kwh * 0.12
    owes = rng.random(n) < _sigmoid(-3.0 + 1.1 * risk + 0.4 * (overdue_bills > 0))
    overdue_amount = np.where(owes, monthly_bill * rng.lognormal(0.0, 0.6, n), 0.0)
    agreement = owes & (rng.random(n) < 0.3)
    theft = np.where(rng.random(n) < _sigmoid(-4.8 + 1.0 * risk), rng.integers(1, 3, n), 0)
    return {
        "overdue_bills_12m": overdue_bills.astype(np.int64),
        "overdue_amount": np.round(overdue_amount, 2),
        "max_days_overdue_12m": np.round(days).astype(np.int64),
        "theft_incidents_36m": theft.astype(np.int64),
        "has_repayment_agreement": agreement,
        "_owes": owes,
    }


def _equipment(rng: np.random.Generator, enterprise: np.ndarray,
               risk: np.ndarray) -> dict[str, np.ndarray]:
    """Equipment operation and management."""
    n = len(risk)
    reactive = np.where(enterprise, rng.random(n) < _sigmoid(1.6 - 0.5 * risk),
                        rng.random(n) < 0.02)
    calibration = rng.random(n) < _sigmoid(2.2 - 0.7 * risk)
    accidents = rng.poisson(np.where(enterprise, np.exp(-2.2 + 0.5 * risk), np.exp(-4.5)))
    return {"has_reactive_compensation": reactive, "calibration_on_schedule": calibration,
            "grid_accidents_36m": accidents.astype(np.int64)}


def _social_credit(rng: np.random.Generator, enterprise: np.ndarray,
                   risk: np.ndarray) -> np.ndarray:
    """Social credit: ordinal from risk, many residential customers unrated."""
    n = len(risk)
    social_latent = risk + 0.8 * rng.standard_normal(n)
    social = np.select([social_latent < -0.7, social_latent < 0.5, social_latent < 1.5],
                       ["A", "B", "C"], "D").astype(object)
    unrated = rng.random(n) < np.where(enterprise, 0.08, 0.35)
    social[unrated] = "unrated"
    return social


def _service(rng: np.random.Generator, klass: np.ndarray,
             enterprise: np.ndarray) -> dict[str, np.ndarray]:
    """Service expectations, perceptions and critical loads."""
    n = len(klass)
    base_expect = np.where(klass == "industrial", 4.3, np.where(enterprise, 3.9, 3.5))
    expected = np.clip(np.round(base_expect + 0.6 * rng.standard_normal(n), 1), 1.0, 5.0)
    perceived = np.clip(np.round(expected - 0.3 - 0.8 * rng.standard_normal(n), 1), 1.0, 5.0)
    critical = rng.random(n) < np.array([_CRITICAL_SHARE[c] for c in klass])
    return {"expected_service_quality": expected, "perceived_service_quality": perceived,
            "critical_load": critical}


def _history(rng: np.random.Generator, risk: np.ndarray, months: np.ndarray,
             payment: dict[str, np.ndarray], as_of: dt.date) -> dict[str, np.ndarray]:
    """Previous grade for established customers and the payment-event outcomes."""
    n = len(risk)
    overdue_bills = payment["overdue_bills_12m"]
    prev_latent = risk + 0.7 * rng.standard_normal(n)
    prev_idx = np.digitize(prev_latent, [-1.2, -0.4, 0.6, 1.6])
    previous_grade = np.array(GRADES, dtype=object)[prev_idx]
    previous_grade[months < 12] = None
    habitual = overdue_bills >= 3
    rebate = (overdue_bills > 0) & ~payment["_owes"] & (rng.random(n) < 0.25)
    theft_until = np.full(n, None, dtype=object)
    recent_theft = (payment["theft_incidents_36m"] > 0) & (rng.random(n) < 0.6)
    offsets = rng.integers(30, 730, n)
    for i in np.flatnonzero(recent_theft):
        theft_until[i] = (as_of + dt.timedelta(days=int(offsets[i]))).isoformat()
    return {"previous_grade": previous_grade, "habitual_defaulter": habitual,
            "rebate_earned": rebate, "theft_override_until": theft_until}


# ---------------------------------------------------------------------------- surveys

# How much each SERVQUAL dimension counts in overall satisfaction, by consumption class
# (paper 3.2): large consumers want their demands answered and solved fast, average
# consumers want personalised service.
SATISFACTION_WEIGHTS = {
    "large": {"tangibles": 0.05, "reliability": 0.20, "responsiveness": 0.50,
              "assurance": 0.15, "empathy": 0.10},
    "average": {"tangibles": 0.10, "reliability": 0.20, "responsiveness": 0.15,
                "assurance": 0.15, "empathy": 0.40},
    "small": {"tangibles": 0.20, "reliability": 0.30, "responsiveness": 0.20,
              "assurance": 0.15, "empathy": 0.15},
}
# Satisfaction points per point of (weighted) perceived quality: the paper's sensitivity.
SENSITIVITY = {"large": 1.2, "average": 0.9, "small": 0.5}
# Perceived score points a held service policy adds, per dimension.
POLICY_EFFECTS = {
    "fast_response_service": {"responsiveness": 0.6},
    "priority_repair_channel": {"reliability": 0.3, "responsiveness": 0.2},
    "dedicated_account_manager": {"assurance": 0.3, "empathy": 0.3},
    "personalised_service": {"empathy": 0.5},
    "on_site_service": {"tangibles": 0.3, "empathy": 0.2},
    "outage_advance_notice": {"reliability": 0.2},
}
# What each class expects on each dimension, and how far its perception falls short.
_EXPECTED = {
    "large": {"tangibles": 3.6, "reliability": 4.4, "responsiveness": 4.5, "assurance": 4.0,
              "empathy": 3.7},
    "average": {"tangibles": 3.4, "reliability": 4.0, "responsiveness": 3.7, "assurance": 3.7,
                "empathy": 4.0},
    "small": {"tangibles": 3.3, "reliability": 3.8, "responsiveness": 3.4, "assurance": 3.5,
              "empathy": 3.4},
}
_SHORTFALL = {
    "large": {"tangibles": 0.1, "reliability": 0.4, "responsiveness": 0.9, "assurance": 0.3,
              "empathy": 0.3},
    "average": {"tangibles": 0.1, "reliability": 0.3, "responsiveness": 0.3, "assurance": 0.3,
                "empathy": 0.7},
    "small": {"tangibles": 0.1, "reliability": 0.3, "responsiveness": 0.3, "assurance": 0.2,
              "empathy": 0.3},
}
_CHANNEL_MIX = {"large": (("account_manager", 0.6), ("phone", 0.3), ("on_site", 0.1)),
                "average": (("app", 0.4), ("phone", 0.3), ("web", 0.2), ("counter", 0.1)),
                "small": (("app", 0.4), ("phone", 0.3), ("web", 0.15), ("counter", 0.15))}


def generate_surveys(customers: pd.DataFrame, period: str, *, seed: int = 0, wave: int = 0,
                     effects: dict[str, dict[str, float]] | None = None) -> pd.DataFrame:
    """One survey per row of ``customers`` (``customer_id``, ``consumption_class`` and the
    ``;``-joined ``policies`` a decision granted) for ``period``.

    A customer's taste (how demanding it is, how well it is served) is drawn
    from ``seed`` alone, so surveys of the same customers for two periods
    (``wave`` 0, 1, ...) describe the same people; each wave adds its own
    answer noise. Every held policy of ``effects`` (default
    ``POLICY_EFFECTS``) raises the perceived score of its dimensions by its
    amount, so a baseline drawn before the policies were granted (pass
    decisions whose ``policies`` are empty, or ``effects={}``) and a later wave
    differ by exactly those amounts on average.
    """
    effects = POLICY_EFFECTS if effects is None else effects
    n = len(customers)
    segment = customers["consumption_class"].astype(str).to_numpy()
    unknown = sorted(set(segment) - set(_EXPECTED))
    if unknown:
        raise ValueError(f"consumption_class {unknown[0]!r}: use one of {', '.join(_EXPECTED)}")
    person = np.random.default_rng(seed)
    answers = np.random.default_rng([seed, wave + 1])
    demanding = person.normal(0.0, 0.3, (n, len(DIMENSIONS)))
    served = person.normal(0.0, 0.4, n)
    held = customers["policies"].fillna("").astype(str).str.split(";")
    held_sets = [set(p) for p in held]
    columns: dict[str, np.ndarray] = {}
    weighted = np.zeros(n)
    for i, d in enumerate(DIMENSIONS):
        base = np.array([_EXPECTED[s][d] for s in segment])
        short = np.array([_SHORTFALL[s][d] for s in segment])
        lift = np.zeros(n)
        for policy, by_dimension in effects.items():
            if d in by_dimension:
                lift += by_dimension[d] * np.array([policy in h for h in held_sets])
        expected = base + demanding[:, i] + answers.normal(0.0, 0.15, n)
        perceived = (expected - short + served + lift - demanding[:, i] * 0.5
                     + answers.normal(0.0, 0.35, n))
        columns[expected_column(d)] = np.clip(np.round(expected, 1), 1.0, 5.0)
        columns[perceived_column(d)] = np.clip(np.round(perceived, 1), 1.0, 5.0)
        weighted += np.array([SATISFACTION_WEIGHTS[s][d] for s in segment]) * perceived
    slope = np.array([SENSITIVITY[s] for s in segment])
    satisfaction = 3.4 + slope * (weighted - 3.4) + answers.normal(0.0, 0.3, n)
    channel = np.empty(n, dtype=object)
    for s, mix in _CHANNEL_MIX.items():
        rows = segment == s
        names, shares = zip(*mix, strict=True)
        channel[rows] = answers.choice(np.array(names), size=int(rows.sum()), p=shares)
    return pd.DataFrame({
        "customer_id": customers["customer_id"].astype(str).to_numpy(),
        "period": np.full(n, period), "channel": channel,
        **{expected_column(d): columns[expected_column(d)] for d in DIMENSIONS},
        **{perceived_column(d): columns[perceived_column(d)] for d in DIMENSIONS},
        "satisfaction": np.clip(np.round(satisfaction, 1), 1.0, 5.0),
    })
