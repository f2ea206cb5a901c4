"""How good a score is: discrimination, calibration by band and decile, publication checks.

Pure functions over arrays: they serve cross-validation in training, the
``evaluate`` command on held-out or external data, and the model card. The
publication check is the governance rule every model must pass: the observed
default rate rises from the best PD band of the master scale to the worst
(adjacent bands may dip only within a binomial tolerance) and no band is
nearly empty.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score, roc_curve

from engine.errors import GovernanceError
from engine.scale import Band, assign

__all__ = [
    "band_table",
    "check_governance",
    "decile_table",
    "governance_problems",
    "markdown_table",
    "metrics",
]

MIN_BAND_SHARE = 0.002
MIN_BAND_COUNT = 20
TOLERANCE_Z = 1.96


def metrics(y: np.ndarray, z: np.ndarray, pd_values: np.ndarray | None = None) -> dict[str, float]:
    """AUC, KS and Gini of a score (higher = riskier) and the Brier score of its PD."""
    y = np.asarray(y, dtype=np.int64)
    if y.min() == y.max():
        raise ValueError("metrics need both defaults and non-defaults")
    auc = float(roc_auc_score(y, z))
    fpr, tpr, _ = roc_curve(y, z)
    out = {"auc": auc, "ks": float(np.max(tpr - fpr)), "gini": 2.0 * auc - 1.0}
    if pd_values is not None:
        out["brier"] = float(np.mean((np.asarray(pd_values) - y) ** 2))
    return out


def band_table(pd_values: np.ndarray, y: np.ndarray, bands: Sequence[Band]) -> pd.DataFrame:
    """Customers, defaults, observed default rate and mean PD per master-scale band."""
    idx = assign(pd_values, bands)
    y = np.asarray(y, dtype=np.float64)
    n = np.bincount(idx, minlength=len(bands)).astype(np.int64)
    d = np.bincount(idx, weights=y, minlength=len(bands))
    s = np.bincount(idx, weights=np.asarray(pd_values, dtype=np.float64), minlength=len(bands))
    with np.errstate(invalid="ignore", divide="ignore"):
        return pd.DataFrame({
            "grade": [b.grade for b in bands],
            "pd_from": [b.lo for b in bands],
            "pd_to": [b.hi for b in bands],
            "customers": n,
            "share": n / max(len(idx), 1),
            "defaults": d.astype(np.int64),
            "default_rate": np.where(n > 0, d / np.maximum(n, 1), np.nan),
            "mean_pd": np.where(n > 0, s / np.maximum(n, 1), np.nan),
        })


def decile_table(score: np.ndarray, y: np.ndarray) -> pd.DataFrame:
    """Default rate per score decile, decile 1 = lowest risk."""
    score = np.asarray(score, dtype=np.float64)
    order = np.argsort(score, kind="stable")
    decile = np.empty(len(score), dtype=np.int64)
    decile[order] = np.arange(len(score)) * 10 // max(len(score), 1)
    y = np.asarray(y, dtype=np.float64)
    n = np.bincount(decile, minlength=10)
    d = np.bincount(decile, weights=y, minlength=10)
    lo = np.array([score[decile == k].min() if n[k] else np.nan for k in range(10)])
    hi = np.array([score[decile == k].max() if n[k] else np.nan for k in range(10)])
    with np.errstate(invalid="ignore", divide="ignore"):
        return pd.DataFrame({
            "decile": np.arange(1, 11), "score_from": lo, "score_to": hi, "customers": n,
            "defaults": d.astype(np.int64), "default_rate": d / np.maximum(n, 1),
        })


def governance_problems(table: pd.DataFrame, *, min_share: float = MIN_BAND_SHARE,
                        min_count: int = MIN_BAND_COUNT,
                        z: float = TOLERANCE_Z) -> list[str]:
    """Why a band table fails publication (empty list = it passes)."""
    problems = []
    total = int(table["customers"].sum())
    floor = max(min_count, math.ceil(min_share * total))
    rows = table.to_dict("records")
    for r in rows:
        if r["customers"] < floor:
            problems.append(f"band {r['grade']} is nearly empty: {r['customers']} customers "
                            f"(needs at least {floor})")
    filled = [r for r in rows if r["customers"] >= floor]
    for a, b in zip(filled, filled[1:], strict=False):
        pooled = (a["defaults"] + b["defaults"]) / (a["customers"] + b["customers"])
        tol = z * math.sqrt(max(pooled * (1 - pooled), 1e-12)
                            * (1 / a["customers"] + 1 / b["customers"]))
        if a["default_rate"] > b["default_rate"] + tol:
            problems.append(
                f"default rate falls from {a['grade']} ({a['default_rate']:.2%}) to "
                f"{b['grade']} ({b['default_rate']:.2%}) beyond the binomial tolerance "
                f"({tol:.2%})")
    if len(filled) >= 2 and filled[-1]["default_rate"] <= filled[0]["default_rate"]:
        problems.append(f"default rate does not rise from {filled[0]['grade']} to "
                        f"{filled[-1]['grade']}")
    return problems


def check_governance(table: pd.DataFrame, *, model_id: str, **kwargs: float) -> None:
    """Raise ``GovernanceError`` with the failing table if the bands break the rule."""
    problems = governance_problems(table, **kwargs)
    if problems:
        raise GovernanceError(
            f"model '{model_id}' not published: " + "; ".join(problems)
            + ". Out-of-fold default rate per band:",
            table=markdown_table(table),
        )


def markdown_table(frame: pd.DataFrame, digits: int = 4) -> str:
    """A plain markdown table (no optional dependencies)."""
    def cell(v: object) -> str:
        if isinstance(v, float | np.floating):
            return "" if np.isnan(v) else f"{v:.{digits}g}" if abs(v) >= 1 else f"{v:.{digits}f}"
        return str(v)

    head = "| " + " | ".join(str(c) for c in frame.columns) + " |"
    rule = "|" + "|".join("---" for _ in frame.columns) + "|"
    body = ["| " + " | ".join(cell(v) for v in row) + " |"
            for row in frame.itertuples(index=False)]
    return "\n".join([head, rule, *body])
