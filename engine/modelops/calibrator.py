"""From discriminant score to PD: Platt or isotonic, chosen on held-out folds.

Platt scaling (a one-variable logistic of ``z``) is smooth and needs little
data, but it bends every grade to one S-curve: on a large portfolio whose
score is lumpy it can promise AAA customers twice their real default rate.
Isotonic regression (pool-adjacent-violators, scikit-learn's
``IsotonicRegression``) follows the observed rate wherever the score
places customers, monotone by construction, but needs enough defaults per
step. Neither is right everywhere, so training fits both *cross-fitted*:
for each fold, on the out-of-fold scores of the other folds only, and
scores the fold it did not see. The method with the lower held-out Brier
score is published, and those held-out PDs are what governance tests: the
calibration is never judged on the rows it was fitted on.

Both are stored as plain numbers. Isotonic is scikit-learn's piecewise-linear
curve of PD over ``z`` knots (``np.interp`` between them, flat outside, PDs
kept within [0.01 %, 99.99 %]); a portfolio prior shifts its log-odds exactly
as it shifts Platt's intercept.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from sklearn.isotonic import IsotonicRegression
from sklearn.linear_model import LogisticRegression

__all__ = ["METHODS", "PD_FLOOR", "choose", "fit", "log_odds"]

METHODS = ("platt", "isotonic")
PD_FLOOR = 1e-4


def log_odds(doc: dict, z: np.ndarray) -> np.ndarray:
    """Calibrated log-odds of default for scores ``z`` (before any prior shift)."""
    z = np.asarray(z, dtype=np.float64)
    if doc.get("kind") == "isotonic":
        return _logit(np.interp(z, doc["knots_z"], doc["knots_pd"]))
    return doc["slope"] * z + doc["intercept"]


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(p, PD_FLOOR, 1 - PD_FLOOR)
    return np.log(p / (1 - p))


def fit(method: str, z: np.ndarray, y: np.ndarray) -> dict:
    """Fit one calibration on scores ``z`` and 0/1 outcomes ``y``; a JSON-ready dict."""
    lr = LogisticRegression(C=1e6, max_iter=1000).fit(z.reshape(-1, 1), y)
    doc = {"kind": method, "slope": float(lr.coef_[0, 0]), "intercept": float(lr.intercept_[0])}
    if method == "isotonic":
        iso = IsotonicRegression(out_of_bounds="clip", increasing=True).fit(z, y)
        doc["knots_z"] = [float(v) for v in iso.X_thresholds_]
        doc["knots_pd"] = [float(v) for v in np.clip(iso.y_thresholds_, PD_FLOOR,
                                                     1 - PD_FLOOR)]
    return doc


def choose(z: np.ndarray, y: np.ndarray, folds: Sequence[tuple[np.ndarray, np.ndarray]],
           methods: Sequence[str] = METHODS) -> tuple[dict, np.ndarray, dict[str, float]]:
    """The method with the lowest cross-fitted Brier score, refitted on every row.

    Returns the fitted calibration, the cross-fitted PDs of that method (each
    fold predicted by a calibration that never saw it) and the held-out
    Brier score of every method tried.
    """
    held: dict[str, np.ndarray] = {}
    for method in methods:
        pd_values = np.empty(len(y), dtype=np.float64)
        for train_idx, test_idx in folds:
            part = fit(method, z[train_idx], y[train_idx])
            pd_values[test_idx] = 1.0 / (1.0 + np.exp(-log_odds(part, z[test_idx])))
        held[method] = pd_values
    brier = {m: float(np.mean((p - y) ** 2)) for m, p in held.items()}
    best = min(methods, key=lambda m: (round(brier[m], 12), methods.index(m)))
    return fit(best, z, y), held[best], brier
