"""The service-quality evaluation (paper 3.2): gaps, sensitivity, change, policy links.

Pure functions over validated surveys (``engine.servicequality.surveys``),
optionally joined to decisions (``customer_id`` -> ``consumption_class``,
``grade``, ``policies``):

- **gap** per dimension = perceived - expected (below zero: the service falls
  short of what the customer expects), as a mean with its 95 % t interval, per
  segment and per grade;
- **sensitivity** per segment = the OLS slope of overall satisfaction on the
  mean perceived score, with its 95 % interval: the satisfaction points one
  point of perceived quality moves (the paper's "the greater the change of
  satisfaction for the same change of service quality, the higher the
  sensitivity"), and the drivers: a multiple regression of satisfaction on the
  five perceived scores, so the dimension a segment weighs most is read off;
- **change** against a baseline period per segment and dimension: current
  mean gap - baseline mean gap, with a Welch 95 % interval;
- **policies**: for each service policy, holders against non-holders of the
  current decisions: the difference of mean gaps now, and when a baseline is
  given the difference in differences over the customers surveyed in both
  periods, (holders' mean change - non-holders' mean change), with a Welch 95 %
  interval. Holding a policy is not assigned at random, so this is an
  association, not proof that the policy caused the change.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import stats

from engine.errors import FrameError
from engine.policies import Catalogue
from engine.records import GRADES
from engine.servicequality.surveys import DIMENSIONS, gap_column, perceived_column

__all__ = [
    "DECISION_FIELDS",
    "MIN_GROUP",
    "SEGMENT",
    "ServiceQuality",
    "attach_decisions",
    "evaluate",
    "gap_change",
    "gaps",
    "mean_interval",
    "policy_association",
    "sensitivity",
    "service_policies",
    "slope_interval",
]

SEGMENT = "consumption_class"
SEGMENTS = ("large", "average", "small")
DECISION_FIELDS = ("customer_id", SEGMENT, "grade", "policies")
NO_DECISION = "(no decision)"
# Catalogue categories whose policies are service a customer can perceive.
SERVICE_CATEGORIES = ("service", "outage")
# Fewer answers than this give no interval worth reading: the group is shown, not estimated.
MIN_GROUP = 5


def service_policies(catalogue: Catalogue) -> list[str]:
    """The catalogue's service and outage policies, in catalogue order."""
    return [p.id for p in catalogue if p.category in SERVICE_CATEGORIES]


def mean_interval(values: np.ndarray) -> tuple[float, float, float]:
    """Mean and its 95 % Student-t interval; NaN bounds for fewer than two values."""
    values = np.asarray(values, dtype=float)
    n = values.size
    if n == 0:
        return float("nan"), float("nan"), float("nan")
    mean = float(values.mean())
    if n < 2:
        return mean, float("nan"), float("nan")
    half = float(stats.t.ppf(0.975, n - 1) * values.std(ddof=1) / np.sqrt(n))
    return mean, mean - half, mean + half


def _welch(a: np.ndarray, b: np.ndarray) -> tuple[float, float, float]:
    """mean(a) - mean(b) and its Welch 95 % interval."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if a.size < 2 or b.size < 2:
        diff = float(a.mean() - b.mean()) if a.size and b.size else float("nan")
        return diff, float("nan"), float("nan")
    va, vb = a.var(ddof=1) / a.size, b.var(ddof=1) / b.size
    diff = float(a.mean() - b.mean())
    se = float(np.sqrt(va + vb))
    if se == 0.0:
        return diff, diff, diff
    df = (va + vb) ** 2 / (va**2 / (a.size - 1) + vb**2 / (b.size - 1))
    half = float(stats.t.ppf(0.975, df) * se)
    return diff, diff - half, diff + half


def slope_interval(x: np.ndarray, y: np.ndarray) -> tuple[float, float, float, float]:
    """OLS slope of ``y`` on ``x`` with its 95 % interval, and R²; NaN when x does not vary."""
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    n = x.size
    sxx = float(((x - x.mean()) ** 2).sum()) if n else 0.0
    if n < 3 or sxx == 0.0:
        return (float("nan"),) * 4
    slope = float(((x - x.mean()) * (y - y.mean())).sum() / sxx)
    resid = y - y.mean() - slope * (x - x.mean())
    sse = float((resid**2).sum())
    syy = float(((y - y.mean()) ** 2).sum())
    se = np.sqrt(sse / (n - 2) / sxx)
    half = float(stats.t.ppf(0.975, n - 2) * se)
    r2 = 1.0 - sse / syy if syy > 0 else float("nan")
    return slope, slope - half, slope + half, r2


def attach_decisions(surveys: pd.DataFrame, decisions: pd.DataFrame | None) -> pd.DataFrame:
    """Surveys with the segment, grade and policies of each customer's decision.

    A survey whose customer has no decision keeps ``(no decision)`` as segment
    and grade: it still counts overall, and the report says how many there are.
    """
    out = surveys.copy()
    if decisions is None:
        out[SEGMENT], out["grade"], out["policies"] = NO_DECISION, NO_DECISION, ""
        return out
    missing = [c for c in DECISION_FIELDS if c not in decisions.columns]
    if missing:
        raise FrameError("decisions lack column(s) " + ", ".join(missing)
                         + "; pass the decisions written by 'gridcredit decide'", columns=missing)
    keyed = decisions[list(DECISION_FIELDS)].astype({"customer_id": str})
    keyed = keyed.drop_duplicates("customer_id", keep="last").set_index("customer_id")
    ids = out["customer_id"].astype(str)
    for column in (SEGMENT, "grade"):
        out[column] = ids.map(keyed[column].astype(str)).fillna(NO_DECISION).to_numpy()
    out["policies"] = ids.map(keyed["policies"].fillna("").astype(str)).fillna("").to_numpy()
    return out


def _order(values: pd.Series, known: Sequence[str]) -> list[str]:
    present = set(pd.unique(values.astype(str)))
    return [v for v in known if v in present] + sorted(present - set(known))


def gaps(surveys: pd.DataFrame, by: str | None) -> pd.DataFrame:
    """Mean gap per dimension (and overall, the mean of the five) per value of ``by``."""
    rows = []
    groups = [("all", surveys)] if by is None else [
        (g, surveys[surveys[by].astype(str) == g])
        for g in _order(surveys[by], GRADES if by == "grade" else SEGMENTS)]
    for group, part in groups:
        gap_cols = [gap_column(d) for d in DIMENSIONS]
        overall = part[gap_cols].mean(axis=1).to_numpy()
        for dimension, values in [*((d, part[gap_column(d)].to_numpy()) for d in DIMENSIONS),
                                  ("overall", overall)]:
            mean, low, high = mean_interval(values)
            rows.append({"group": group, "dimension": dimension, "n": len(part),
                         "gap": mean, "low": low, "high": high})
    return pd.DataFrame(rows, columns=["group", "dimension", "n", "gap", "low", "high"])


def sensitivity(surveys: pd.DataFrame, by: str = SEGMENT) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Per segment: the slope of satisfaction on the mean perceived score, and the drivers.

    The drivers frame holds, per segment and dimension, the coefficient of the
    multiple regression of satisfaction on the five perceived scores (with its
    95 % interval): the dimension with the largest weighs most in that
    segment's satisfaction.
    """
    slopes, drivers = [], []
    for group in _order(surveys[by], SEGMENTS):
        part = surveys[surveys[by].astype(str) == group]
        slope, low, high, r2 = slope_interval(part["perceived_mean"], part["satisfaction"])
        slopes.append({"group": group, "n": len(part), "slope": slope, "low": low,
                       "high": high, "r2": r2})
        for row in _drivers(part):
            drivers.append({"group": group, **row})
    return (pd.DataFrame(slopes, columns=["group", "n", "slope", "low", "high", "r2"]),
            pd.DataFrame(drivers, columns=["group", "dimension", "weight", "low", "high"]))


def _drivers(part: pd.DataFrame) -> list[dict[str, float | str]]:
    """Multiple-regression coefficients of satisfaction on the five perceived scores."""
    k = len(DIMENSIONS)
    n = len(part)
    x = part[[perceived_column(d) for d in DIMENSIONS]].to_numpy(dtype=float)
    y = part["satisfaction"].to_numpy(dtype=float)
    design = np.column_stack([np.ones(n), x])
    if n <= k + 2 or np.linalg.matrix_rank(design) < k + 1:
        return [{"dimension": d, "weight": float("nan"), "low": float("nan"),
                 "high": float("nan")} for d in DIMENSIONS]
    beta, *_ = np.linalg.lstsq(design, y, rcond=None)
    resid = y - design @ beta
    sigma2 = float(resid @ resid) / (n - k - 1)
    se = np.sqrt(np.diag(np.linalg.inv(design.T @ design)) * sigma2)
    half = stats.t.ppf(0.975, n - k - 1) * se
    return [{"dimension": d, "weight": float(beta[i + 1]), "low": float(beta[i + 1] - half[i + 1]),
             "high": float(beta[i + 1] + half[i + 1])} for i, d in enumerate(DIMENSIONS)]


def gap_change(current: pd.DataFrame, baseline: pd.DataFrame, by: str = SEGMENT) -> pd.DataFrame:
    """Current mean gap - baseline mean gap per segment and dimension (Welch 95 % interval)."""
    rows = []
    groups = _order(pd.concat([current[by], baseline[by]]).astype(str), SEGMENTS)
    for group in ["all", *groups]:
        now = current if group == "all" else current[current[by].astype(str) == group]
        before = baseline if group == "all" else baseline[baseline[by].astype(str) == group]
        for d in DIMENSIONS:
            diff, low, high = _welch(now[gap_column(d)].to_numpy(),
                                     before[gap_column(d)].to_numpy())
            rows.append({"group": group, "dimension": d, "n_now": len(now),
                         "n_before": len(before),
                         "gap_now": float(now[gap_column(d)].mean()) if len(now) else np.nan,
                         "gap_before": (float(before[gap_column(d)].mean()) if len(before)
                                        else np.nan),
                         "change": diff, "low": low, "high": high})
    return pd.DataFrame(rows)


def _holdings(frame: pd.DataFrame, policies: Sequence[str]) -> dict[str, np.ndarray]:
    """Per policy, which rows hold it: each distinct ``a;b`` list is split once (a population
    holds a few hundred distinct lists, not one per customer)."""
    codes, lists = pd.factorize(frame["policies"].astype(str))
    held = [set(text.split(";")) for text in lists]
    return {p: np.array([p in h for h in held], dtype=bool)[codes] for p in policies}


def policy_association(current: pd.DataFrame, policies: Sequence[str],
                       baseline: pd.DataFrame | None = None) -> pd.DataFrame:
    """Holders against non-holders of each policy (held in the current decisions), per dimension.

    ``difference`` = holders' mean gap - non-holders' mean gap now. With a
    baseline, ``did`` = holders' mean change in gap - non-holders' mean change,
    over the customers surveyed in both periods (``panel_holders``,
    ``panel_others``): what the two groups had in common before is taken out.
    """
    panel = None
    if baseline is not None:
        before = baseline.drop_duplicates("customer_id").set_index("customer_id")
        both = current[current["customer_id"].isin(before.index)]
        panel = both.assign(**{f"change_{d}": both[gap_column(d)].to_numpy()
                               - before.loc[both["customer_id"], gap_column(d)].to_numpy()
                               for d in DIMENSIONS})
    rows = []
    now = _holdings(current, policies)
    then = _holdings(panel, policies) if panel is not None else None
    for policy in policies:
        held = now[policy]
        if not held.any():
            continue
        held_panel = then[policy] if then is not None else None
        for d in DIMENSIONS:
            values = current[gap_column(d)].to_numpy()
            diff, low, high = _welch(values[held], values[~held])
            row = {"policy": policy, "dimension": d, "holders": int(held.sum()),
                   "others": int((~held).sum()), "difference": diff, "low": low, "high": high,
                   "panel_holders": 0, "panel_others": 0, "did": np.nan, "did_low": np.nan,
                   "did_high": np.nan}
            if panel is not None and held_panel is not None:
                change = panel[f"change_{d}"].to_numpy()
                did, did_low, did_high = _welch(change[held_panel], change[~held_panel])
                row.update(panel_holders=int(held_panel.sum()),
                           panel_others=int((~held_panel).sum()), did=did, did_low=did_low,
                           did_high=did_high)
            rows.append(row)
    columns = ["policy", "dimension", "holders", "others", "difference", "low", "high",
               "panel_holders", "panel_others", "did", "did_low", "did_high"]
    return pd.DataFrame(rows, columns=columns)


@dataclass(frozen=True)
class ServiceQuality:
    """Everything the service-quality report shows, as plain frames."""

    periods: list[str]
    surveys: int
    undecided: int
    overall: pd.DataFrame
    by_segment: pd.DataFrame
    by_grade: pd.DataFrame
    sensitivity: pd.DataFrame
    drivers: pd.DataFrame
    baseline_periods: list[str] = field(default_factory=list)
    baseline_surveys: int = 0
    change: pd.DataFrame | None = None
    policies: pd.DataFrame | None = None
    # survey rows refused on reading (both periods), reported beside the evaluation
    rejected: int = 0


def evaluate(surveys: pd.DataFrame, decisions: pd.DataFrame | None = None, *,
             baseline: pd.DataFrame | None = None,
             policies: Sequence[str] = ()) -> ServiceQuality:
    """Evaluate validated ``surveys`` (and a validated ``baseline`` of an earlier period).

    ``decisions`` give each surveyed customer a segment, a grade and the
    policies it holds; ``policies`` are the service policies to compare
    holders and non-holders of (those nobody holds are left out).
    """
    current = attach_decisions(surveys, decisions)
    before = attach_decisions(baseline, decisions) if baseline is not None else None
    slopes, drivers = sensitivity(current)
    linked = policy_association(current, policies, before) if decisions is not None else None
    return ServiceQuality(
        periods=sorted(current["period"].unique().tolist()), surveys=len(current),
        undecided=int((current["grade"] == NO_DECISION).sum()) if decisions is not None else 0,
        overall=gaps(current, None), by_segment=gaps(current, SEGMENT),
        by_grade=gaps(current, "grade"), sensitivity=slopes, drivers=drivers,
        baseline_periods=(sorted(before["period"].unique().tolist())
                          if before is not None else []),
        baseline_surveys=len(before) if before is not None else 0,
        change=gap_change(current, before) if before is not None else None,
        policies=linked)
