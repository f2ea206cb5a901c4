"""Does each grade's predicted PD match the defaults it sees? A binomial test per grade.

A score can rank customers well and still state the wrong PD: the master
scale then promises a default rate that the portfolio does not show. For
each grade the number of defaults is tested against a binomial with the
grade's mean predicted PD (scipy's ``binomtest``, two-sided). A grade whose
observed rate falls outside the central interval of that binomial at the
chosen confidence disagrees with its prediction, in either direction: too
many defaults understate the risk, too few overstate it and price good
customers as worse than they are.

Training governance, ``gridcredit monitor`` and the auditor report all read
this one table, so the three cannot disagree about a grade.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy.stats import binom, binomtest

__all__ = ["CONFIDENCE", "band_calibration", "calibration_problems", "grade_calibration"]

CONFIDENCE = 0.99


def grade_calibration(grades: Sequence[str] | np.ndarray, pd_values: np.ndarray,
                      y: np.ndarray, order: Sequence[str], *,
                      confidence: float = CONFIDENCE) -> pd.DataFrame:
    """Per grade (in ``order``): customers, defaults, observed rate, mean PD, test, verdict.

    ``low``/``high`` bound the default rate a binomial with the grade's mean
    PD produces with probability ``confidence``; ``p_value`` is the two-sided
    exact binomial test; ``agrees`` is False for a grade outside its interval.
    Grades nobody holds get empty figures and agree trivially.
    """
    grades = np.asarray(grades, dtype=object)
    pd_values = np.asarray(pd_values, dtype=np.float64)
    y = np.asarray(y, dtype=np.int64)
    counts = []
    for grade in order:
        mask = grades == grade
        n = int(mask.sum())
        counts.append((grade, n, int(y[mask].sum()),
                       float(pd_values[mask].mean()) if n else np.nan))
    return _tested(counts, confidence)


def band_calibration(table: pd.DataFrame, *, confidence: float = CONFIDENCE) -> pd.DataFrame:
    """The same test from a band table (``grade``, ``customers``, ``defaults``, ``mean_pd``)."""
    return _tested([(r["grade"], int(r["customers"]), int(r["defaults"]), r["mean_pd"])
                    for r in table.to_dict("records")], confidence)


def _tested(counts: list[tuple[str, int, int, float]], confidence: float) -> pd.DataFrame:
    rows = []
    for grade, n, k, mean_pd in counts:
        if n == 0:
            rows.append({"grade": grade, "customers": 0, "defaults": 0, "observed": np.nan,
                         "mean_pd": np.nan, "low": np.nan, "high": np.nan,
                         "p_value": np.nan, "agrees": True})
            continue
        p = float(np.clip(mean_pd, 1e-12, 1 - 1e-12))
        lo, hi = binom.interval(confidence, n, p)
        p_value = float(binomtest(k, n, p, alternative="two-sided").pvalue)
        rows.append({"grade": grade, "customers": n, "defaults": k, "observed": k / n,
                     "mean_pd": p, "low": lo / n, "high": hi / n, "p_value": p_value,
                     "agrees": bool(lo <= k <= hi)})
    return pd.DataFrame(rows)


def calibration_problems(table: pd.DataFrame, *, min_count: int = 1) -> list[str]:
    """One sentence per grade whose observed default rate is outside its interval."""
    problems = []
    for r in table.to_dict("records"):
        if r["customers"] < min_count or r["agrees"]:
            continue
        side = "above" if r["observed"] > r["high"] else "below"
        problems.append(
            f"grade {r['grade']}: observed default rate {r['observed']:.2%} is {side} the "
            f"{CONFIDENCE:.0%} binomial interval [{r['low']:.2%}, {r['high']:.2%}] of its "
            f"predicted {r['mean_pd']:.2%} ({r['customers']:,} customers, "
            f"p = {r['p_value']:.2g})")
    return problems
