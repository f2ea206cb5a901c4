"""How good a score is: discrimination, calibration by band and decile, publication checks.

Pure functions over arrays: they serve cross-validation in training, the
``evaluate`` command on held-out or external data, and the model card.
``evaluate_registry`` measures the published registry models on labelled
customer records and ``cross_validation_report`` renders a training run's
out-of-fold measures: both are what ``gridcredit evaluate`` prints. The
publication check is the governance rule every model must pass: the observed
default rate rises from the best PD band of the master scale to the worst
(adjacent bands may dip only within a binomial tolerance) and no band is
nearly empty.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy.stats import norm, rankdata
from sklearn.metrics import roc_auc_score, roc_curve

from engine.errors import FrameError, GovernanceError
from engine.modelops.calibration import band_calibration, calibration_problems
from engine.modelops.labels import labels
from engine.pipeline import score_population
from engine.scale import Band, assign
from engine.scoring import Registry

__all__ = [
    "RegistryEvaluation",
    "SegmentEvaluation",
    "band_table",
    "check_governance",
    "cross_validation_report",
    "cv_summary",
    "decile_table",
    "delong",
    "evaluate_registry",
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


def delong(y: np.ndarray, a: np.ndarray, b: np.ndarray, *,
           confidence: float = 0.95) -> dict[str, float]:
    """DeLong's test of two correlated AUCs on the same rows (scores: higher = riskier).

    Returns both AUCs, the difference ``auc_b - auc_a``, its standard error,
    the two-sided ``confidence`` interval and p-value (DeLong, DeLong and
    Clarke-Pearson 1988, with the midrank algorithm of Sun and Xu 2014).
    """
    y = np.asarray(y, dtype=np.int64)
    pos, neg = y == 1, y == 0
    m, n = int(pos.sum()), int(neg.sum())
    if m == 0 or n == 0:
        raise ValueError("DeLong's test needs both defaults and non-defaults")
    aucs, v10, v01 = [], [], []
    for s in (np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)):
        tz = rankdata(s)
        tx, ty = rankdata(s[pos]), rankdata(s[neg])
        aucs.append((tz[pos].sum() - m * (m + 1) / 2) / (m * n))
        v10.append((tz[pos] - tx) / n)
        v01.append(1.0 - (tz[neg] - ty) / m)
    sx, sy = np.cov(np.vstack(v10)), np.cov(np.vstack(v01))
    cov = sx / m + sy / n
    var = float(cov[0, 0] + cov[1, 1] - 2 * cov[0, 1])
    diff = float(aucs[1] - aucs[0])
    se = math.sqrt(max(var, 0.0))
    half = float(norm.ppf(0.5 + confidence / 2)) * se
    p = float(2 * norm.sf(abs(diff) / se)) if se > 0 else (1.0 if diff == 0 else 0.0)
    return {"auc_a": float(aucs[0]), "auc_b": float(aucs[1]), "difference": diff, "se": se,
            "low": diff - half, "high": diff + half, "p_value": p, "confidence": confidence}


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
    if filled:
        problems += calibration_problems(band_calibration(pd.DataFrame(filled)))
    return problems


def check_governance(table: pd.DataFrame, *, model_id: str, **kwargs: float) -> None:
    """Raise ``GovernanceError`` with the failing table if the bands break the rule."""
    problems = governance_problems(table, **kwargs)
    if problems:
        raise GovernanceError(
            f"model '{model_id}' not published: " + "; ".join(problems)
            + ". If this master scale does not suit the population, point --rules at a "
            "grade table whose PD bands do, or explore with --no-governance. "
            "Held-out default rate per band:",
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


# --------------------------------------------------------------------------- reports

def cv_summary(artifact: dict[str, Any]) -> str:
    """One line on a trained artifact: rows, default rate and its cross-validated measures."""
    cv = artifact["cv_metrics"]
    training = artifact["training"]
    return (f"{artifact['model_id']}: {training['rows']:,} rows, "
            f"{training['defaults'] / training['rows']:.2%} defaults; "
            f"CV AUC {cv['auc_mean']:.4f} ± {cv['auc_std']:.4f}, KS {cv['ks_mean']:.4f}, "
            f"Gini {cv['gini_mean']:.4f}, Brier {cv['brier_oof']:.4f}")


def cross_validation_report(result: Any, *, title: str) -> str:
    """A training run (``engine.modelops.training.TrainingResult``) as markdown: its summary,
    then the per-fold, per-band and per-decile out-of-fold tables."""
    doc = result.artifact
    dropped = doc.get("dropped_indicators") or {}
    left_out = (["Indicators left out:\n" + "\n".join(f"- {n}: {why}"
                                                      for n, why in dropped.items())]
                if dropped else [])
    pop = doc.get("population")
    rows = ([f"Rows: {pop['rows_in']:,} in the file, {pop['filtered_out']:,} left out by the "
             "spec's filter" + (f" ({pop['filter']})" if pop.get("filter") else "") + "."]
            if pop else [])
    iv = pd.DataFrame([{"indicator": e["name"], "iv": e["iv"], "bins": len(e["woe"]),
                        **({"trend": e["trend"]["chosen"]} if "trend" in e else {})}
                       for e in doc["indicators"] if "iv" in e])
    return "\n\n".join([f"## {title}", cv_summary(doc), *rows,
                         "Measured on " + doc["cv_metrics"]["population"] + ".",
                         *left_out, *([markdown_table(iv)] if len(iv) else []),
                         markdown_table(result.folds), markdown_table(result.bands),
                         markdown_table(result.deciles)])


@dataclass(frozen=True)
class SegmentEvaluation:
    """One registry model measured on its customers; ``metrics`` is None when too few to
    measure (no customers, or no defaults or no non-defaults among them)."""

    segment: str
    model_id: str
    customers: int
    default_rate: float
    metrics: dict[str, float] | None
    bands: pd.DataFrame | None
    deciles: pd.DataFrame | None

    def markdown(self) -> list[str]:
        if self.metrics is None:
            return [f"### {self.segment}: too few customers or defaults to measure"]
        m = self.metrics
        return [f"### {self.model_id}: {self.customers:,} customers, "
                f"{self.default_rate:.2%} defaults; AUC {m['auc']:.4f}, "
                f"KS {m['ks']:.4f}, Gini {m['gini']:.4f}, Brier {m['brier']:.4f}",
                markdown_table(self.bands), markdown_table(self.deciles)]


@dataclass(frozen=True)
class RegistryEvaluation:
    """The registry's models measured on labelled customer records (a hold-out check)."""

    what: str
    scored: int
    rejected: int
    segments: tuple[SegmentEvaluation, ...]

    def markdown(self) -> str:
        lines = [f"## Registry models on {self.what} ({self.scored:,} scored, "
                 f"{self.rejected:,} rejected)"]
        for seg in self.segments:
            lines.extend(seg.markdown())
        return "\n\n".join(lines)


def evaluate_registry(registry: Registry, frame: pd.DataFrame, *, target: str,
                      bands: Sequence[Band], bad: str | None = None,
                      what: str = "the given records") -> RegistryEvaluation:
    """Validate and score labelled customer records with the registry; measure each model.

    Rows that fail validation are counted, not scored; ``target`` is the label
    column (1 = default, or the value ``bad`` names).
    """
    if target not in frame.columns:
        raise FrameError(f"missing target column '{target}'", columns=[target])
    population = score_population(registry, frame.drop(columns=[target]))
    accepted, scored = population.facts, population.scores
    y = labels(frame.loc[accepted.index, target], bad)
    klass = accepted["customer_class"].astype("string").to_numpy(dtype=object, na_value=None)
    z_all, pd_all = scored["z"].to_numpy(), scored["pd"].to_numpy()
    segments = []
    for seg in registry.spec.segments:
        mask = np.isin(klass, seg.customer_classes)
        count = int(mask.sum())
        model_id = registry.models[seg.segment].model_id if seg.segment in registry.models \
            else seg.segment
        if count == 0 or y[mask].min() == y[mask].max():
            segments.append(SegmentEvaluation(seg.segment, model_id, count,
                                              float(y[mask].mean()) if count else 0.0,
                                              None, None, None))
            continue
        z, p = z_all[mask], pd_all[mask]
        segments.append(SegmentEvaluation(
            seg.segment, model_id, count, float(y[mask].mean()), metrics(y[mask], z, p),
            band_table(p, y[mask], bands), decile_table(z, y[mask])))
    return RegistryEvaluation(what, len(accepted), len(population.rejects), tuple(segments))
