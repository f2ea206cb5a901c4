"""The numbers of the auditor report: ROC and KS, default rate by grade, policy counts.

Pure functions over a decided population (``engine.batch`` output columns)
and observed outcomes; ``engine.report.html`` lays them out and
``engine.report.charts`` draws them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from engine.errors import InputError
from engine.modelops import band_calibration
from engine.records import scale_grades, vocabulary

__all__ = [
    "RocKs",
    "default_rate_by_grade",
    "grade_order",
    "policy_counts",
    "roc_ks",
    "segment_order",
    "wilson_interval",
]

# The two-sided 95 % normal quantile of the Wilson interval.
_Z95 = 1.959963984540054

@dataclass(frozen=True)
class RocKs:
    """ROC points at descending PD thresholds, with AUC and the KS statistic."""

    fpr: np.ndarray
    tpr: np.ndarray
    thresholds: np.ndarray
    auc: float
    ks: float
    ks_threshold: float
    positives: int
    negatives: int

    @property
    def gini(self) -> float:
        return 2.0 * self.auc - 1.0


def roc_ks(scores: np.ndarray, labels: np.ndarray) -> RocKs:
    """ROC curve, AUC (ties counted half) and KS of ``scores`` against 0/1 ``labels``.

    Higher scores must mean more risk (PD). Computed with numpy from the
    sorted scores, so it scales to whole customer bases.
    """
    scores = np.asarray(scores, dtype=float)
    labels = np.asarray(labels).astype(np.int64)
    positives = int(labels.sum())
    negatives = int(labels.size - positives)
    if positives == 0 or negatives == 0:
        raise InputError(
            f"labels hold only one outcome ({positives} defaults, {negatives} non-defaults): "
            "ROC and KS need both; pass a labelled population with defaulters and non-defaulters")
    order = np.argsort(-scores, kind="mergesort")
    s, y = scores[order], labels[order]
    last_of_tie = np.r_[np.flatnonzero(np.diff(s)), s.size - 1]
    tp = np.cumsum(y)[last_of_tie]
    fp = (last_of_tie + 1) - tp
    tpr = np.r_[0.0, tp / positives]
    fpr = np.r_[0.0, fp / negatives]
    thresholds = np.r_[np.inf, s[last_of_tie]]
    auc = float(np.trapezoid(tpr, fpr))
    gap = tpr - fpr
    best = int(np.argmax(gap))
    return RocKs(fpr, tpr, thresholds, auc, float(gap[best]), float(thresholds[best]),
                 positives, negatives)


def wilson_interval(defaults: np.ndarray, n: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """95 % Wilson score interval of a binomial rate; stays inside [0, 1] for small counts."""
    defaults = np.asarray(defaults, dtype=float)
    n = np.asarray(n, dtype=float)
    safe = np.maximum(n, 1.0)
    p = defaults / safe
    denom = 1.0 + _Z95**2 / safe
    centre = (p + _Z95**2 / (2 * safe)) / denom
    half = _Z95 * np.sqrt(p * (1 - p) / safe + _Z95**2 / (4 * safe**2)) / denom
    empty = n == 0
    return np.where(empty, 0.0, centre - half), np.where(empty, 1.0, centre + half)


def default_rate_by_grade(grades: pd.Series, pd_values: pd.Series,
                          labels: pd.Series) -> pd.DataFrame:
    """Customers, defaults, observed rate (95 % Wilson interval) and mean PD per grade.

    ``agrees`` says whether the grade's defaults lie inside the 99 % binomial
    interval of its mean PD (``engine.modelops.calibration``, the test
    training governance and ``gridcredit monitor`` apply).

    Grades follow the master-scale order, best first; grades nobody holds are
    left out.
    """
    frame = pd.DataFrame({"grade": grades.astype(str).to_numpy(),
                          "pd": pd_values.to_numpy(dtype=float),
                          "label": labels.to_numpy(dtype=np.int64)})
    grouped = frame.groupby("grade", sort=False).agg(
        customers=("label", "size"), defaults=("label", "sum"), mean_pd=("pd", "mean"))
    grouped = grouped.reindex([g for g in grade_order(frame["grade"]) if g in grouped.index])
    low, high = wilson_interval(grouped["defaults"].to_numpy(), grouped["customers"].to_numpy())
    grouped["observed"] = grouped["defaults"] / grouped["customers"]
    grouped["low"] = low
    grouped["high"] = high
    tested = band_calibration(grouped.reset_index()).set_index("grade")
    grouped["agrees"] = tested["agrees"].reindex(grouped.index).to_numpy(dtype=bool)
    return grouped.reset_index()[["grade", "customers", "defaults", "observed", "low", "high",
                                  "mean_pd", "agrees"]]


def policy_counts(decisions: pd.DataFrame, segment: str = "consumption_class") -> pd.DataFrame:
    """Customers per (policy, segment value, grade) from the ``;``-joined policies column."""
    policies = decisions["policies"].astype(object).where(decisions["policies"].notna(), "")
    long = pd.DataFrame({
        "policy": policies.astype(str).str.split(";").to_numpy(),
        "segment": decisions[segment].astype(str).to_numpy(),
        "grade": decisions["grade"].astype(str).to_numpy(),
    }).explode("policy")
    long["policy"] = long["policy"].astype(str).str.strip()
    long = long[long["policy"].ne("") & long["policy"].ne("nan")]
    counts = long.groupby(["policy", "segment", "grade"], sort=False).size()
    counts = counts.rename("customers").reset_index()
    grade_rank = {g: i for i, g in enumerate(grade_order(counts["grade"]))}
    return counts.sort_values(["policy", "segment", "grade"],
                              key=lambda c: c.map(grade_rank) if c.name == "grade" else c,
                              ignore_index=True)


def segment_order(values: pd.Series) -> list[str]:
    """Segment values in the record contract's order, then any others as found."""
    present = set(values.astype(str))
    spec = vocabulary().get(str(values.name))
    known = [v for v in (spec.choices if spec and spec.choices else ()) if v in present]
    return known + sorted(present - set(known))


def grade_order(values: pd.Series) -> list[str]:
    """Grades in master-scale order (best first), then any other values as found."""
    present = set(values.astype(str))
    scale = scale_grades()
    return [g for g in scale if g in present] + sorted(present - set(scale))
