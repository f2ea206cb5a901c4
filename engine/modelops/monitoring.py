"""Has the population moved away from the one the model was built on? PSI, CSI, drift.

A current population is compared with a baseline (the training population,
or last quarter's) on what the model sees and what it says:

- **score PSI** over ten bins cut at the baseline's score deciles, and the
  **grade shift** (PSI over the master-scale grades);
- **CSI** per indicator over the model's *own* bins (the fitted bins, then
  unknown categories and missing), so a shift is measured where it changes
  a customer's WoE;
- with labels, **AUC/KS drift** against the baseline and **calibration by
  grade** (``engine.modelops.calibration``).

PSI and CSI are Jeffrey's divergence ``sum((a - e) * ln(a / e))``, computed
with optbinning's ``jeffrey``, the function its ``ScorecardMonitoring``
uses. ``ScorecardMonitoring`` itself is not called: it needs a fitted
optbinning ``Scorecard`` object and labels on both populations, while a
published model here is a JSON artifact and current outcomes often arrive
later than the population. Shares are floored at 1e-4 so an empty bin gives
a large, finite index rather than infinity.

Thresholds are the industry's: below 0.10 stable, 0.10 to 0.25 worth
watching, 0.25 and above a breach. Discrimination drift uses the same two
numbers as relative falls of Gini and KS against the baseline. A grade
whose observed default rate leaves its binomial interval is a breach.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from optbinning.binning.metrics import jeffrey

from engine.errors import FrameError
from engine.modelops.calibration import calibration_problems, grade_calibration
from engine.modelops.evaluation import metrics
from engine.modelops.labels import labels as label_values
from engine.recordframe import validate_frame
from engine.scale import Band, assign
from engine.scoring import (
    Registry,
    ScoreModel,
    canonical,
    compute,
    file_rows,
    model_catalogue,
    scale_for,
    unseen_note,
)

__all__ = [
    "BREACH",
    "WATCH",
    "Drift",
    "MonitorResult",
    "drift",
    "level",
    "monitor_frames",
    "monitor_model",
    "monitor_registry",
    "outcomes",
    "psi_table",
]

WATCH, BREACH = 0.10, 0.25
SCORE_BINS = 10
_FLOOR = 1e-4


def level(value: float | None) -> str:
    """``stable``, ``watch`` (>= 0.10) or ``breach`` (>= 0.25) for an index or a fall."""
    if value is None or not np.isfinite(value):
        return "stable"
    return "breach" if value >= BREACH else "watch" if value >= WATCH else "stable"


def psi_table(baseline: np.ndarray, current: np.ndarray, labels: Sequence[str]) -> pd.DataFrame:
    """Counts, shares and PSI per bin of two populations' bin positions (0..len-1)."""
    k = len(labels)
    e = np.bincount(np.asarray(baseline, dtype=np.int64), minlength=k)[:k]
    a = np.bincount(np.asarray(current, dtype=np.int64), minlength=k)[:k]
    pe = e / max(e.sum(), 1)
    pa = a / max(a.sum(), 1)
    contribution = jeffrey(np.maximum(pa, _FLOOR), np.maximum(pe, _FLOOR))
    return pd.DataFrame({"bin": list(labels), "baseline": e, "current": a,
                         "baseline_share": pe, "current_share": pa, "psi": contribution})


@dataclass(frozen=True)
class Drift:
    """Everything ``gridcredit monitor`` measured for one model."""

    segment: str
    model_id: str
    baseline_rows: int
    current_rows: int
    score: pd.DataFrame
    grades: pd.DataFrame
    csi: pd.DataFrame
    csi_bins: pd.DataFrame
    performance: pd.DataFrame | None = None
    calibration: pd.DataFrame | None = None
    performance_source: str = ""
    findings: tuple[tuple[str, str], ...] = ()
    performance_note: str = ""
    outcome: str = "12-month default rate"

    @property
    def score_psi(self) -> float:
        return float(self.score["psi"].sum())

    @property
    def grade_psi(self) -> float:
        return float(self.grades["psi"].sum())

    @property
    def status(self) -> str:
        levels = {lv for lv, _ in self.findings}
        return "breach" if "breach" in levels else "watch" if "watch" in levels else "stable"


@dataclass(frozen=True)
class MonitorResult:
    """One ``Drift`` per model compared; ``breached`` decides the exit code."""

    drifts: tuple[Drift, ...]
    baseline: str = ""
    current: str = ""
    rejected: dict[str, int] = field(default_factory=dict)
    rejected_by: str = "validation"
    bands: tuple[Band, ...] = ()
    notes: tuple[str, ...] = ()

    @property
    def breached(self) -> bool:
        return any(d.status == "breach" for d in self.drifts)

    def findings(self) -> list[str]:
        return [f"{d.model_id}: {lv}: {text}" for d in self.drifts for lv, text in d.findings]


def _score_bins(z_base: np.ndarray, z_cur: np.ndarray) -> tuple[np.ndarray, np.ndarray, list]:
    edges = np.unique(np.quantile(z_base, np.linspace(0, 1, SCORE_BINS + 1)[1:-1]))
    shown = ["-inf", *(f"{e:.4g}" for e in edges), "inf"]
    labels = [f"[{a}, {b})" for a, b in zip(shown, shown[1:], strict=False)]
    return (np.searchsorted(edges, z_base, side="right"),
            np.searchsorted(edges, z_cur, side="right"), labels)


def _csi(model: ScoreModel, base: pd.DataFrame, cur: pd.DataFrame) -> tuple[pd.DataFrame,
                                                                             pd.DataFrame]:
    pos_b, pos_c = model.bin_positions(base), model.bin_positions(cur)
    names = model.bin_labels()
    detail = []
    for name in model.indicators:
        t = psi_table(pos_b[name], pos_c[name], names[name])
        detail.append(t.assign(indicator=name))
    bins = pd.concat(detail, ignore_index=True)[
        ["indicator", "bin", "baseline", "current", "baseline_share", "current_share", "psi"]]
    summary = bins.groupby("indicator", sort=False)["psi"].sum().rename("csi").reset_index()
    summary["level"] = summary["csi"].map(level)
    return summary, bins


def _performance(y_base: np.ndarray | None, z_base: np.ndarray, y_cur: np.ndarray,
                 z_cur: np.ndarray, model: ScoreModel) -> tuple[pd.DataFrame, str]:
    cur = metrics(y_cur, z_cur)
    if y_base is not None and 0 < y_base.sum() < len(y_base):
        base, source = metrics(y_base, z_base), "the labelled baseline population"
    else:
        cv = model.doc["cv_metrics"]
        base = {"auc": cv["auc_mean"], "ks": cv["ks_mean"], "gini": cv["gini_mean"]}
        source = "the model's cross-validated training figures"
    rows = []
    for m in ("auc", "ks", "gini"):
        fall = (base[m] - cur[m]) / base[m] if m != "auc" and base[m] > 0 else None
        rows.append({"metric": m, "baseline": base[m], "current": cur[m],
                     "change": cur[m] - base[m], "relative_fall": fall,
                     "level": level(fall) if fall is not None else ""})
    return pd.DataFrame(rows), source


def drift(model: ScoreModel, bands: Sequence[Band], base: pd.DataFrame, cur: pd.DataFrame, *,
          y_base: np.ndarray | None = None, y_cur: np.ndarray | None = None) -> Drift:
    """Compare two indicator frames (rows of one model's segment) through ``model``."""
    sb, sc = model.score_frame(base), model.score_frame(cur)
    b_pos, c_pos, labels = _score_bins(sb.z, sc.z)
    score = psi_table(b_pos, c_pos, labels)
    grade_names = [b.grade for b in bands]
    g_base, g_cur = assign(sb.pd, bands), assign(sc.pd, bands)
    grades = psi_table(g_base, g_cur, grade_names).rename(columns={"bin": "grade"})
    csi, csi_bins = _csi(model, base, cur)
    findings: list[tuple[str, str]] = []
    for what, value in (("score PSI", float(score["psi"].sum())),
                        ("grade PSI", float(grades["psi"].sum()))):
        if level(value) != "stable":
            findings.append((level(value), f"{what} {value:.3f}"))
    for r in csi.to_dict("records"):
        if r["level"] != "stable":
            findings.append((r["level"], f"CSI of {r['indicator']} {r['csi']:.3f}"))
    performance = calibration = None
    source = ""
    if y_base is not None and (y_base < 0).any():
        y_base = None
    known = np.asarray(y_cur) >= 0 if y_cur is not None else None
    note = performance_note(y_cur, known)
    if known is not None and known.any():
        y_cur = np.asarray(y_cur)[known]
        if 0 < y_cur.sum() < len(y_cur):
            performance, source = _performance(y_base, sb.z, y_cur, sc.z[known], model)
            for r in performance.to_dict("records"):
                if r["level"] in ("watch", "breach"):
                    findings.append((r["level"], f"{r['metric'].upper()} fell "
                                     f"{r['relative_fall']:.0%} ({r['baseline']:.3f} -> "
                                     f"{r['current']:.3f})"))
        calibration = grade_calibration(np.array(grade_names, dtype=object)[g_cur[known]],
                                        sc.pd[known], y_cur, grade_names)
        findings += [("breach", p) for p in calibration_problems(calibration)]
    return Drift(model.segment, model.model_id, len(base), len(cur), score, grades, csi,
                 csi_bins, performance, calibration, source, tuple(findings), note,
                 outcome_name(model))


def performance_note(y_cur: np.ndarray | None, known: np.ndarray | None) -> str:
    """Whether AUC and KS were computed on the current rows, and why not."""
    if y_cur is None or known is None:
        return ("AUC and KS were not computed: the current file brings no outcomes (pass "
                "--labels, or a file with the model's target column).")
    if not known.any():
        return "AUC and KS were not computed: no current row has a known outcome yet."
    seen = np.asarray(y_cur)[known]
    bad = int(seen.sum())
    if not 0 < bad < len(seen):
        return (f"AUC and KS were not computed: the {len(seen):,} current rows with an outcome "
                f"are all {'bad' if bad else 'good'}, so there is nothing to rank.")
    return (f"AUC and KS computed on the {len(seen):,} current rows with a known outcome "
            f"({bad:,} bad).")


def outcome_name(model: ScoreModel) -> str:
    """What the model predicts, for an axis: its label's target and bad values."""
    label = model.doc.get("label") or {}
    target = str(label.get("target", "default_12m"))
    if target == "default_12m":
        return "12-month default rate"
    bad = " or ".join(str(v) for v in label.get("bad") or ["1"])
    return f"observed rate of {target} = {bad}"


def _outcome_values(series: pd.Series, bad: str | Sequence[str] | None,
                    good: Sequence[str]) -> np.ndarray:
    """1 for a bad value, 0 for a good one; with ``good`` named, -1 for any other value.

    A model's label names both; a row whose outcome is neither (still open,
    withdrawn: what a label filter leaves out of training) is not known, not good.
    """
    if not good:
        return label_values(series, bad)
    text = series.map(canonical)
    bad_values = [canonical(v) for v in ([bad] if isinstance(bad, str) else bad or ["1"])]
    good_values = [canonical(v) for v in good]
    return np.where(text.isin(bad_values), 1,
                    np.where(text.isin(good_values), 0, -1)).astype(np.int64)


def outcomes(frame: pd.DataFrame, labels: pd.DataFrame | None, *, target: str, key: str,
             bad: str | Sequence[str] | None = None, where: str = "labels",
             good: Sequence[str] = ()) -> np.ndarray | None:
    """0/1 outcome per row of ``frame`` (-1 where unknown), from ``labels`` or ``frame``.

    ``labels`` is joined on ``key``; without it the frame's own ``target``
    column is used if present. ``None`` when neither holds outcomes. With
    ``good`` named, values neither bad nor good count as unknown (-1).
    """
    if labels is None:
        if target not in frame.columns:
            return None
        return _outcome_values(frame[target], bad, good)
    for col in (key, target):
        if col not in labels.columns:
            raise FrameError(f"{where}: no column '{col}'"
                             + "; name it with " + ("--id" if col == key else "--target"),
                             columns=[col])
    if key not in frame.columns:
        raise FrameError(f"the population has no column '{key}' to join {where} on; "
                         "name the key with --id", columns=[key])
    y = pd.Series(_outcome_values(labels[target], bad, good),
                  index=labels[key].astype("string"))
    if y.index.duplicated().any():
        first = y.index[y.index.duplicated()][0]
        raise FrameError(f"{where}: '{key}' {first!r} has more than one outcome",
                         columns=[key])
    joined = y.reindex(frame[key].astype("string").to_numpy())
    return joined.fillna(-1).to_numpy(dtype=np.int64)


def monitor_frames(models: dict[str, ScoreModel], bands: Sequence[Band],
                   base: pd.DataFrame, cur: pd.DataFrame, seg_b: np.ndarray, seg_c: np.ndarray,
                   *, y_base: np.ndarray | None = None,
                   y_cur: np.ndarray | None = None) -> list[Drift]:
    """One ``Drift`` per model with rows in both; ``seg_b``/``seg_c`` name each row's model."""
    out = []
    for segment, model in models.items():
        mb, mc = seg_b == segment, seg_c == segment
        if not mb.any() or not mc.any():
            continue
        cols = list(model.indicators)
        out.append(drift(model, bands, base.loc[mb, cols], cur.loc[mc, cols],
                         y_base=None if y_base is None else y_base[mb],
                         y_cur=None if y_cur is None else y_cur[mc]))
    return out


def monitor_registry(registry: Registry, bands: Sequence[Band], baseline: pd.DataFrame,
                     current: pd.DataFrame, *, labels: pd.DataFrame | None = None,
                     target: str = "default_12m", key: str = "customer_id",
                     bad: str | None = None, names: tuple[str, str] = ("", "")) -> MonitorResult:
    """Monitor customer-record populations through the registry's model per segment.

    Both populations are validated as the batch job validates them; rejected
    rows are counted in the result, never silently dropped. Baseline outcomes
    come from its ``target`` column when it has one; current outcomes from
    ``labels`` (joined on ``key``) or its own ``target`` column.
    """
    frames, ys, segs, rejected = [], [], [], {}
    by_class = {c: s.segment for s in registry.spec.segments for c in s.customer_classes}
    for which, frame, extra in (("baseline", baseline, None), ("current", current, labels)):
        accepted, rejects = validate_frame(frame.drop(columns=[target], errors="ignore"))
        rejected[which] = len(rejects)
        kept = frame.loc[accepted.index]
        ys.append(outcomes(kept, extra, target=target, key=key, bad=bad,
                           where=names[1] if extra is not None else which))
        frames.append(registry.indicators(accepted))
        klass = accepted["customer_class"].astype("string").to_numpy(dtype=object,
                                                                    na_value=None)
        segs.append(np.array([by_class.get(c) for c in klass], dtype=object))
    drifts = monitor_frames(registry.models, bands, frames[0], frames[1], segs[0], segs[1],
                            y_base=ys[0], y_cur=ys[1])
    return MonitorResult(tuple(drifts), names[0], names[1], rejected, bands=tuple(bands))


def monitor_model(model: ScoreModel, bands: Sequence[Band] | None, baseline: pd.DataFrame,
                  current: pd.DataFrame, *, labels: pd.DataFrame | None = None,
                  target: str | None = None, key: str = "", bad: str | None = None,
                  names: tuple[str, str] = ("", ""),
                  scale_from: str = "the home's grade table") -> MonitorResult:
    """Monitor files of the kind a spec-trained model scores (``gridcredit score``).

    The model's embedded spec computes the indicators and its population
    filter chooses the rows (its conditions on the label are not applied:
    current outcomes arrive later; what they would have left out is noted).
    Grades use the model's own master scale; a disagreeing ``bands`` is noted.
    Outcomes use the model's own label definition unless ``bad`` is given.
    """
    catalogue = model_catalogue(model)
    scale, warning = scale_for(model, bands, scale_from)
    label = model.doc.get("label") or {}
    target = target or label.get("target", "default_12m")
    good = () if bad is not None else tuple(label.get("good") or ())
    bad = bad if bad is not None else label.get("bad") or None
    frames, ys, rejected, notes = [], [], {}, [warning] if warning else []
    for which, frame, extra in (("baseline", baseline, None), ("current", current, labels)):
        kept, left_out, note = file_rows(model, frame, catalogue)
        rejected[which] = left_out
        if note:
            notes.append(f"{which}: {note}")
        ys.append(outcomes(kept, extra, target=target, key=key, bad=bad, good=good,
                           where=names[1] if extra is not None else which))
        frames.append(compute(kept, catalogue, list(model.indicators)))
        unseen = unseen_note(model.unseen(frames[-1]), f"{which}: ")
        if unseen:
            notes.append(unseen)
    segs = [np.full(len(f), model.segment, dtype=object) for f in frames]
    drifts = monitor_frames({model.segment: model}, scale, frames[0], frames[1], segs[0],
                            segs[1], y_base=ys[0], y_cur=ys[1])
    used = catalogue.row_filter.without(target) if catalogue.row_filter else None
    return MonitorResult(tuple(drifts), names[0], names[1], rejected,
                         f"the model's population filter ({used.describe()})" if used
                         else "the model's population filter", scale, tuple(notes))
