"""The sections every auditor report has: population, discrimination, policies, sensitivity,
rejects and versions, each as plain values and drawn charts for the template.

``engine.report.html`` assembles them; ``engine.report.auditsections`` holds
the sections that answer the auditor's further questions.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from engine.errors import InputError
from engine.language import Language
from engine.records import CLASSES
from engine.report import charts
from engine.report.inputs import check_sensitivity, require
from engine.report.measures import RocKs, default_rate_by_grade, roc_ks, segment_order
from engine.vocabulary import label

__all__ = ["chart", "data_uri", "joined", "flatten", "in_use", "overrides", "performance",
           "policy_by_grade", "policy_chart", "population_charts", "reject_summary",
           "sensitivity_input", "value_counts", "version_rows"]

_SENSITIVITY_EXTRAS = (("customers_affected", "customers whose PD moved", "count"),
                       ("downgraded", "downgraded", "pct"), ("upgraded", "upgraded", "pct"))
_CURVE_POINTS = 2_000
# Sentences follow each other after a space in English, directly after 。 in Chinese.
_SENTENCE_GAP = {"zh-CN": ""}


def joined(t: Language, *sentences: str) -> str:
    """Sentences of one paragraph, joined the way ``t`` writes them."""
    return _SENTENCE_GAP.get(t.tag, " ").join(s for s in sentences if s)


def data_uri(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def chart(chart_id: str, title: str, png: bytes, caption: str) -> dict[str, str]:
    return {"id": chart_id, "title": title, "src": data_uri(png), "alt": title,
            "caption": caption}


def thin(curve: RocKs) -> RocKs:
    """At most ~2,000 curve points for drawing; the metrics stay those of the full curve."""
    n = curve.fpr.size
    if n <= _CURVE_POINTS:
        return curve
    keep = np.unique(np.r_[np.linspace(0, n - 1, _CURVE_POINTS).astype(int),
                           int(np.argmax(curve.tpr - curve.fpr))])
    return RocKs(curve.fpr[keep], curve.tpr[keep], curve.thresholds[keep], curve.auc,
                 curve.ks, curve.ks_threshold, curve.positives, curve.negatives)


def flatten(versions: Mapping[str, Any], prefix: str = "") -> list[dict[str, str]]:
    rows: list[dict[str, str]] = []
    for key, value in versions.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            rows.extend(flatten(value, f"{name} / "))
        elif isinstance(value, list | tuple):
            rows.append({"name": name, "value": ", ".join(str(v) for v in value)})
        else:
            rows.append({"name": name, "value": "" if value is None else str(value)})
    return rows


def version_rows(versions: Mapping[str, Any], t: Language) -> list[dict[str, str]]:
    """``flatten`` of ``Engine.versions()``, each item named in ``t``'s words and the table
    or model it belongs to (an identifier) kept apart as ``key``."""
    words = {"engine_version": t.gettext("engine version"),
             "tables_version": t.gettext("table set version"),
             "tables_content_hash": t.gettext("table set hash"),
             "tables": t.gettext("table version"), "models": t.gettext("model SHA-256")}
    rows = []
    for r in flatten(versions):
        head, _, rest = r["name"].partition(" / ")
        rows.append({"name": words.get(head, head.replace("_", " ")), "key": rest,
                     "value": r["value"]})
    return rows


def value_counts(series: pd.Series, order: Sequence[str] = ()) -> list[dict[str, Any]]:
    counts = series.astype(str).value_counts()
    keys = [k for k in order if k in counts.index] + [k for k in counts.index if k not in order]
    total = max(int(counts.sum()), 1)
    return [{"name": k, "count": int(counts[k]), "share": int(counts[k]) / total} for k in keys]


def in_use(decisions: pd.DataFrame, t: Language) -> list[dict[str, Any]]:
    """Which table versions, table hashes and models actually decided these rows."""
    rows = []
    for column, what in (("table_version", t.gettext("table set version")),
                         ("table_hash", t.gettext("table set hash")),
                         ("model_id", t.gettext("model"))):
        for item in value_counts(decisions[column]):
            rows.append({"what": what, "value": item["name"], "count": item["count"]})
    return rows


def reject_summary(rejects: pd.DataFrame, top: int) -> dict[str, Any]:
    frame = require(rejects, ("reason",), "rejects")
    rows = int(frame["row"].nunique()) if "row" in frame.columns else len(frame)
    keys = [c for c in ("field", "reason") if c in frame.columns]
    grouped = frame.groupby(keys, sort=False, dropna=False)
    table = grouped.size().rename("count").reset_index()
    if "customer_id" in frame.columns:
        table["example"] = grouped["customer_id"].first().to_numpy()
    table = table.sort_values("count", ascending=False, kind="mergesort").head(top)
    reasons = [{"field": "" if pd.isna(r.get("field")) else str(r.get("field", "")),
                "reason": str(r["reason"]), "count": int(r["count"]),
                "example": "" if pd.isna(r.get("example")) else str(r.get("example", ""))}
               for r in table.to_dict("records")]
    return {"rows": rows, "problems": len(frame), "reasons": reasons,
            "distinct": int(grouped.ngroups)}


def performance(decisions: pd.DataFrame, pd_values: pd.Series, y: pd.Series, t: Language,
                 ct: Language) -> tuple[dict[str, Any], list[dict[str, str]]]:
    """Discrimination (AUC, Gini, KS, overall and per class) and calibration by grade."""
    scores, outcomes = pd_values.to_numpy(), y.to_numpy()
    curve = roc_ks(scores, outcomes)
    drawn = thin(curve)
    calibration = default_rate_by_grade(decisions["grade"], pd_values, y)
    classes = decisions["customer_class"].astype(str).to_numpy()
    by_class = []
    for klass in [c for c in CLASSES if c in set(classes)] + sorted(set(classes) - set(CLASSES)):
        mask = classes == klass
        n, n_def = int(mask.sum()), int(outcomes[mask].sum())
        row = {"name": label(t, "customer class", klass), "customers": n, "defaults": n_def,
               "rate": n_def / n, "mean_pd": float(scores[mask].mean()), "auc": None, "ks": None}
        if 0 < n_def < n:
            part = roc_ks(scores[mask], outcomes[mask])
            row.update(auc=part.auc, ks=part.ks)
        by_class.append(row)
    customers = curve.positives + curve.negatives
    performance = {
        "auc": curve.auc, "gini": curve.gini, "ks": curve.ks, "ks_threshold": curve.ks_threshold,
        "defaults": curve.positives, "customers": customers,
        "rate": curve.positives / customers, "mean_pd": float(scores.mean()),
        "monotone": bool(np.all(np.diff(calibration["observed"].to_numpy()) >= 0)),
        "calibration": calibration.to_dict("records"),
        "by_class": by_class,
    }
    chart_list = [
        chart("roc-ks", t.gettext("ROC and KS"),
               charts.roc_ks_chart(drawn.fpr, drawn.tpr, curve.auc, drawn.thresholds, curve.ks,
                                   curve.ks_threshold, lang=ct),
               t.gettext("Left: the ROC curve of PD against the observed 12-month default. "
                         "Right: the share of defaulters and of non-defaulters above each PD "
                         "threshold; KS is the widest gap between them.")),
        chart("calibration", t.gettext("Observed default rate by grade"),
               charts.calibration_chart(calibration, lang=ct),
               t.gettext("Bars: observed default rate per grade with its 95 % Wilson "
                         "interval; diamonds: mean predicted PD of the grade.")),
    ]
    return performance, chart_list


def sensitivity_input(sensitivity: Any, png: bytes | str | Path | None, t: Language,
                       ct: Language) -> dict[str, Any] | None:
    """The sensitivity section from a frame (checked), else from an already drawn chart."""
    shocks = check_sensitivity(sensitivity) if sensitivity is not None else None
    drawn = read_png(png) if shocks is None and png is not None else None
    return sensitivity_section(shocks, drawn, t, ct)


def sensitivity_section(checked: tuple[pd.DataFrame, bool] | None, drawn: bytes | None,
                         t: Language, ct: Language) -> dict[str, Any] | None:
    """The sensitivity table and chart: drawn here from the frame, else the given PNG."""
    if checked is None and drawn is None:
        return None
    section: dict[str, Any] = {"rows": [], "chart": None, "is_pd": False, "extras": []}
    if checked is not None:
        frame, is_pd = checked
        extras = [e for e in _SENSITIVITY_EXTRAS if e[0] in frame.columns]
        section["is_pd"] = is_pd
        titles = extra_titles(t)
        section["extras"] = [{"title": titles[name], "format": fmt} for name, _, fmt in extras]
        section["rows"] = [
            {"group": label(t, "risk group", r["group"]), "shock": str(r["shock"]),
             "shock_word": charts.shock_word(t, str(r["shock"])),
             "before": float(r["before"]), "after": float(r["after"]),
             "change": float(r["after"]) - float(r["before"]),
             "extras": [r[name] for name, _, _ in extras]}
            for r in frame.to_dict("records")]
        png = charts.sensitivity_chart(
            frame, ct.gettext("portfolio mean PD") if is_pd else ct.gettext("score"),
            percent=is_pd, lang=ct)
    else:
        png = drawn
    section["chart"] = chart(
        "sensitivity", t.gettext("Sensitivity analysis"), png,
        t.gettext("For each risk-factor group, the value before and after each shock to that "
                  "group's indicators (one standard deviation, 10 %, 20 %, 30 %)."))
    return section


def extra_titles(t: Language) -> dict[str, str]:
    return {"customers_affected": t.gettext("customers whose PD moved"),
            "downgraded": t.gettext("downgraded"), "upgraded": t.gettext("upgraded")}


def read_png(source: bytes | str | Path) -> bytes:
    if isinstance(source, bytes):
        data = source
    else:
        try:
            data = Path(source).read_bytes()
        except OSError as exc:
            raise InputError(f"{source}: cannot read the sensitivity chart "
                             f"({exc.strerror}); write it first with 'gridcredit sensitivity'"
                             ) from None
    if not data.startswith(b"\x89PNG\r\n\x1a\n"):
        raise InputError(f"{source if not isinstance(source, bytes) else 'sensitivity_png'}: "
                         "not a PNG image")
    return data



def population_charts(decisions: pd.DataFrame, pd_values: pd.Series,
                       grade_counts: list[dict[str, Any]], band_edges: Sequence[float],
                       t: Language, ct: Language) -> list[dict[str, str]]:
    """The two charts every report has: grades, and PD by customer class."""
    return [
        chart("grades", t.gettext("Grade distribution"),
               charts.grade_distribution_chart({g["name"]: g["count"] for g in grade_counts},
                                               lang=ct),
               t.gettext("Customers per grade, best first.")),
        chart("pd-by-class", t.gettext("PD distribution by customer class"),
               charts.pd_histogram_chart(pd_values.to_numpy(),
                                         decisions["customer_class"].astype(str).to_numpy(),
                                         band_edges, lang=ct),
               t.gettext("Each class is normalised to its own size, so shapes compare across "
                         "classes.")),
    ]



def policy_chart(decisions: pd.DataFrame, counts: pd.DataFrame, segment: str,
                  grades: list[str], t: Any, ct: Any) -> dict[str, str]:
    """Customers receiving each policy, by grade, one panel per segment value."""
    return chart(
        "policies", t.gettext("Policies by grade and segment"),
        charts.policy_counts_chart(counts, segment, grades=grades,
                                   segments=segment_order(decisions[segment]), lang=ct),
        t.gettext("Customers receiving each policy, by grade, one panel per %(segment)s.",
                  segment=label(t, "segment", segment)))


def policy_by_grade(counts: pd.DataFrame, grades: Sequence[str]) -> list[dict[str, Any]]:
    """Per policy, most customers first: its total and its customers in each grade."""
    if not len(counts):
        return []
    totals = counts.groupby("policy")["customers"].sum().sort_values(ascending=False)
    rows = []
    for policy, total in totals.items():
        part = counts[counts["policy"] == policy].groupby("grade")["customers"].sum()
        rows.append({"policy": str(policy), "total": int(total),
                     "by_grade": [int(part.get(g, 0)) for g in grades]})
    return rows


def overrides(decisions: pd.DataFrame) -> pd.Series:
    """The override rule ids of the decisions that have one."""
    overrides = decisions["override"].astype(object).where(decisions["override"].notna(), "")
    overrides = overrides.astype(str).str.strip()
    return overrides[overrides.ne("") & overrides.ne("None") & overrides.ne("nan")]

