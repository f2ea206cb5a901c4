"""The auditor report: one self-contained HTML file about a decided population.

An auditor should be able to open the file anywhere, offline, years later, and
see how customers were graded, how well the grades separate defaulters, which
policies each grade and segment received, how sensitive the score is to each
risk-factor group, and exactly which table and model versions decided. So the
report carries everything inside it: charts are PNGs embedded as base64 data
URIs, styles are inline, and there is no script and no external link.

The numbers are computed by the pure functions of ``engine.report.measures``
(ROC, KS, default rate by grade with a Wilson interval, policy counts), drawn
by ``engine.report.charts`` and
laid out by the sandboxed, autoescaped template ``policies/templates/
report.html.j2``, so nothing in a customer id, a reject reason or a rule id
can inject markup.
"""

from __future__ import annotations

import base64
import datetime as dt
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from jinja2 import FileSystemLoader, StrictUndefined, TemplateError
from jinja2.sandbox import SandboxedEnvironment

from engine import __version__
from engine.config import EngineConfig
from engine.errors import ConfigError, FrameError, InputError, closest, did_you_mean
from engine.language import Language, Languages, load_languages
from engine.records import CLASSES, GRADES
from engine.report import charts
from engine.report.measures import (
    RocKs,
    default_rate_by_grade,
    policy_counts,
    roc_ks,
    segment_order,
    wilson_interval,
)
from engine.vocabulary import label

__all__ = [
    "DECISION_COLUMNS",
    "SEGMENTS",
    "RocKs",
    "build_report",
    "check_sensitivity",
    "default_rate_by_grade",
    "labels_from",
    "policy_counts",
    "report_environment",
    "roc_ks",
    "wilson_interval",
    "write_report",
]

DECISION_COLUMNS = (
    "customer_id", "customer_class", "as_of", "model_id", "z", "pd", "band_grade", "grade",
    "grade_rule", "override", "consumption_class", "outage_sensitivity",
    "service_sensitivity", "value_tier", "policies", "table_version", "table_hash",
)
SEGMENTS = ("consumption_class", "outage_sensitivity", "service_sensitivity", "value_tier")
SENSITIVITY_COLUMNS = ("group", "shock", "before", "after")
# ``engine.modelops.sensitivity.analyse`` reports the portfolio's mean PD before and after.
_PORTFOLIO_PD = {"mean_pd_before": "before", "mean_pd_after": "after"}
_SENSITIVITY_EXTRAS = (("customers_affected", "customers whose PD moved", "count"),
                       ("downgraded", "downgraded", "pct"), ("upgraded", "upgraded", "pct"))
TEMPLATE = "report.html.j2"
_CURVE_POINTS = 2_000


# ---------------------------------------------------------------------------- input checks


def _require(frame: Any, columns: Sequence[str], what: str) -> pd.DataFrame:
    if not isinstance(frame, pd.DataFrame):
        raise InputError(f"{what} must be a pandas DataFrame, not {type(frame).__name__}")
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        hints = []
        for name in missing:
            hints.append(f"'{name}'" + did_you_mean(closest(name, frame.columns)))
        raise FrameError(f"{what} lacks column(s) {', '.join(hints)}; it needs "
                         + ", ".join(columns), columns=missing)
    return frame


def _check_decisions(decisions: Any) -> pd.DataFrame:
    frame = _require(decisions, DECISION_COLUMNS, "decisions")
    pd_values = pd.to_numeric(frame["pd"], errors="coerce")
    bad = frame.index[~pd_values.between(0.0, 1.0)]
    if len(bad):
        row = bad[0]
        raise FrameError(f"decisions: column 'pd' must hold numbers in [0, 1]; {len(bad)} row(s) "
                         f"do not, first at index {row} (customer "
                         f"'{frame.at[row, 'customer_id']}', pd = {frame.at[row, 'pd']})",
                         columns=["pd"])
    grades = frame["grade"].astype(str)
    unknown = sorted(set(grades) - set(GRADES))
    if unknown:
        raise FrameError(f"decisions: column 'grade' holds {unknown[0]!r}, not a grade of the "
                         f"master scale ({', '.join(GRADES)})", columns=["grade"])
    return frame


def _check_labels(labels: Any, decisions: pd.DataFrame) -> pd.Series:
    if not isinstance(labels, pd.Series):
        raise InputError(f"labels must be a pandas Series indexed like decisions, "
                         f"not {type(labels).__name__}")
    aligned = labels.reindex(decisions.index)
    missing = int(aligned.isna().sum())
    if missing:
        raise InputError(f"labels: {missing} of {len(decisions)} decided customers have no "
                         f"observed outcome; index the labels like decisions "
                         f"(e.g. labels = population['default_12m'].loc[decisions.index])")
    values = pd.to_numeric(aligned, errors="coerce")
    if not values.isin([0, 1]).all():
        odd = aligned[~values.isin([0, 1])].iloc[0]
        raise InputError(f"labels must be 0 (no default) or 1 (default within 12 months), "
                         f"found {odd}")
    return values.astype(np.int64)


def labels_from(decisions: pd.DataFrame, population: pd.DataFrame,
                column: str = "default_12m") -> pd.Series:
    """Observed outcomes for ``decisions``, matched on ``customer_id`` from a labelled population.

    Batch output drops rejected rows and renumbers, so outcomes are matched by
    customer id rather than by position.
    """
    _require(population, ("customer_id", column), "labelled population")
    ids = population["customer_id"].astype(str)
    doubled = ids[ids.duplicated()]
    if len(doubled):
        raise FrameError(f"labelled population: customer_id {doubled.iloc[0]!r} appears more "
                         "than once; outcomes must be one per customer", columns=["customer_id"])
    outcome = pd.Series(population[column].to_numpy(), index=ids.to_numpy())
    matched = decisions["customer_id"].astype(str).map(outcome)
    missing = decisions["customer_id"][matched.isna()]
    if len(missing):
        raise InputError(f"labelled population: no '{column}' for {len(missing)} decided "
                         f"customer(s), first {str(missing.iloc[0])!r}; label the same "
                         "population that was decided")
    return matched.rename(column)


def check_sensitivity(sensitivity: Any) -> tuple[pd.DataFrame, bool]:
    """The sensitivity frame with ``before``/``after`` columns, and whether they are PDs.

    Takes a frame with group, shock, before, after, or the result of
    ``engine.modelops.sensitivity.analyse`` (or its ``table``), whose mean PD columns
    become before and after.
    """
    table = getattr(sensitivity, "table", None)
    if isinstance(table, pd.DataFrame):
        sensitivity = table
    is_pd = False
    if (isinstance(sensitivity, pd.DataFrame) and "before" not in sensitivity.columns
            and set(_PORTFOLIO_PD) <= set(sensitivity.columns)):
        sensitivity = sensitivity.rename(columns=_PORTFOLIO_PD)
        is_pd = True
    frame = _require(sensitivity, SENSITIVITY_COLUMNS, "sensitivity")
    for column in ("before", "after"):
        if pd.to_numeric(frame[column], errors="coerce").isna().any():
            raise FrameError(f"sensitivity: column '{column}' must hold numbers",
                             columns=[column])
    return frame, is_pd


# ---------------------------------------------------------------------------- sections


def _data_uri(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def _chart(chart_id: str, title: str, png: bytes, caption: str) -> dict[str, str]:
    return {"id": chart_id, "title": title, "src": _data_uri(png), "alt": title,
            "caption": caption}


def _thin(curve: RocKs) -> RocKs:
    """At most ~2,000 curve points for drawing; the metrics stay those of the full curve."""
    n = curve.fpr.size
    if n <= _CURVE_POINTS:
        return curve
    keep = np.unique(np.r_[np.linspace(0, n - 1, _CURVE_POINTS).astype(int),
                           int(np.argmax(curve.tpr - curve.fpr))])
    return RocKs(curve.fpr[keep], curve.tpr[keep], curve.thresholds[keep], curve.auc,
                 curve.ks, curve.ks_threshold, curve.positives, curve.negatives)


def _flatten(versions: Mapping[str, Any], prefix: str = "") -> list[dict[str, str]]:
    rows: list[dict[str, str]] = []
    for key, value in versions.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            rows.extend(_flatten(value, f"{name} / "))
        elif isinstance(value, list | tuple):
            rows.append({"name": name, "value": ", ".join(str(v) for v in value)})
        else:
            rows.append({"name": name, "value": "" if value is None else str(value)})
    return rows


def _value_counts(series: pd.Series, order: Sequence[str] = ()) -> list[dict[str, Any]]:
    counts = series.astype(str).value_counts()
    keys = [k for k in order if k in counts.index] + [k for k in counts.index if k not in order]
    total = max(int(counts.sum()), 1)
    return [{"name": k, "count": int(counts[k]), "share": int(counts[k]) / total} for k in keys]


def _in_use(decisions: pd.DataFrame, t: Language) -> list[dict[str, Any]]:
    """Which table versions, table hashes and models actually decided these rows."""
    rows = []
    for column, what in (("table_version", t.gettext("table set version")),
                         ("table_hash", t.gettext("table set hash")),
                         ("model_id", t.gettext("model"))):
        for item in _value_counts(decisions[column]):
            rows.append({"what": what, "value": item["name"], "count": item["count"]})
    return rows


def _reject_summary(rejects: pd.DataFrame, top: int) -> dict[str, Any]:
    frame = _require(rejects, ("reason",), "rejects")
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


def _performance(decisions: pd.DataFrame, pd_values: pd.Series, y: pd.Series, t: Language,
                 ct: Language) -> tuple[dict[str, Any], list[dict[str, str]]]:
    """Discrimination (AUC, Gini, KS, overall and per class) and calibration by grade."""
    scores, outcomes = pd_values.to_numpy(), y.to_numpy()
    curve = roc_ks(scores, outcomes)
    thin = _thin(curve)
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
        _chart("roc-ks", t.gettext("ROC and KS"),
               charts.roc_ks_chart(thin.fpr, thin.tpr, curve.auc, thin.thresholds, curve.ks,
                                   curve.ks_threshold, lang=ct),
               t.gettext("Left: the ROC curve of PD against the observed 12-month default. "
                         "Right: the share of defaulters and of non-defaulters above each PD "
                         "threshold; KS is the widest gap between them.")),
        _chart("calibration", t.gettext("Observed default rate by grade"),
               charts.calibration_chart(calibration, lang=ct),
               t.gettext("Bars: observed default rate per grade with its 95 % Wilson "
                         "interval; diamonds: mean predicted PD of the grade.")),
    ]
    return performance, chart_list


def _sensitivity_input(sensitivity: Any, png: bytes | str | Path | None, t: Language,
                       ct: Language) -> dict[str, Any] | None:
    """The sensitivity section from a frame (checked), else from an already drawn chart."""
    shocks = check_sensitivity(sensitivity) if sensitivity is not None else None
    drawn = _read_png(png) if shocks is None and png is not None else None
    return _sensitivity_section(shocks, drawn, t, ct)


def _sensitivity_section(checked: tuple[pd.DataFrame, bool] | None, drawn: bytes | None,
                         t: Language, ct: Language) -> dict[str, Any] | None:
    """The sensitivity table and chart: drawn here from the frame, else the given PNG."""
    if checked is None and drawn is None:
        return None
    section: dict[str, Any] = {"rows": [], "chart": None, "is_pd": False, "extras": []}
    if checked is not None:
        frame, is_pd = checked
        extras = [e for e in _SENSITIVITY_EXTRAS if e[0] in frame.columns]
        section["is_pd"] = is_pd
        titles = _extra_titles(t)
        section["extras"] = [{"title": titles[name], "format": fmt} for name, _, fmt in extras]
        section["rows"] = [
            {"group": label(t, "risk group", r["group"]), "shock": str(r["shock"]),
             "before": float(r["before"]), "after": float(r["after"]),
             "change": float(r["after"]) - float(r["before"]),
             "extras": [r[name] for name, _, _ in extras]}
            for r in frame.to_dict("records")]
        png = charts.sensitivity_chart(
            frame, ct.gettext("portfolio mean PD") if is_pd else ct.gettext("score"),
            percent=is_pd, lang=ct)
    else:
        png = drawn
    section["chart"] = _chart(
        "sensitivity", t.gettext("Sensitivity analysis"), png,
        t.gettext("For each risk-factor group, the value before and after each shock to that "
                  "group's indicators (one standard deviation, 10 %, 20 %, 30 %)."))
    return section


def _extra_titles(t: Language) -> dict[str, str]:
    return {"customers_affected": t.gettext("customers whose PD moved"),
            "downgraded": t.gettext("downgraded"), "upgraded": t.gettext("upgraded")}


def _read_png(source: bytes | str | Path) -> bytes:
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


# ---------------------------------------------------------------------------- the report


def _templates_dir(templates_dir: str | Path | None) -> Path:
    """The folder given, else the project's (``engine.config``: --home / GRIDCREDIT_HOME)."""
    if templates_dir is not None:
        return Path(templates_dir)
    return EngineConfig.at().templates_dir


def _template_folder(templates_dir: str | Path | None) -> Path:
    folder = _templates_dir(templates_dir)
    if not (folder / TEMPLATE).is_file():
        raise ConfigError(f"report template '{TEMPLATE}' not found; set --home or "
                          "GRIDCREDIT_HOME to a gridcredit project", file=str(folder))
    return folder


def report_environment(folder: Path, t: Language) -> SandboxedEnvironment:
    """The sandboxed, autoescaped environment of the project's report pages (the auditor
    report, the impact report): ``t``'s words and the ``pct``, ``count``, ``num`` filters."""
    env = SandboxedEnvironment(loader=FileSystemLoader(str(folder)), autoescape=True,
                               undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    t.install(env)
    env.filters["word"] = lambda code, kind: label(t, kind, code)
    env.filters["pct"] = lambda v, digits=1: "" if v is None else f"{float(v) * 100:.{digits}f} %"
    env.filters["count"] = lambda v: f"{int(v):,}"
    env.filters["num"] = lambda v, digits=4: (
        "" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{float(v):.{digits}f}")
    return env


def _check_segment(segment: str) -> None:
    if segment not in SEGMENTS:
        raise InputError(f"unknown segment '{segment}'" + did_you_mean(closest(segment, SEGMENTS))
                         + f": use one of {', '.join(SEGMENTS)}")


def _population_charts(decisions: pd.DataFrame, pd_values: pd.Series,
                       grade_counts: list[dict[str, Any]], band_edges: Sequence[float],
                       t: Language, ct: Language) -> list[dict[str, str]]:
    """The two charts every report has: grades, and PD by customer class."""
    return [
        _chart("grades", t.gettext("Grade distribution"),
               charts.grade_distribution_chart({g["name"]: g["count"] for g in grade_counts},
                                               lang=ct),
               t.gettext("Customers per grade, best first.")),
        _chart("pd-by-class", t.gettext("PD distribution by customer class"),
               charts.pd_histogram_chart(pd_values.to_numpy(),
                                         decisions["customer_class"].astype(str).to_numpy(),
                                         band_edges, lang=ct),
               t.gettext("Each class is normalised to its own size, so shapes compare across "
                         "classes.")),
    ]


def _languages(templates_dir: str | Path | None, languages: Languages | None,
               lang: str | None) -> tuple[Path, Language, Language]:
    """The template folder, the report's language and the language its charts can draw."""
    folder = _template_folder(templates_dir)
    t = (languages or load_languages(folder.parent / "locale")).get(lang)
    return folder, t, charts.chart_language(t)


def _policy_chart(decisions: pd.DataFrame, counts: pd.DataFrame, segment: str,
                  grades: list[str], t: Any, ct: Any) -> dict[str, str]:
    """Customers receiving each policy, by grade, one panel per segment value."""
    return _chart(
        "policies", t.gettext("Policies by grade and segment"),
        charts.policy_counts_chart(counts, segment, grades=grades,
                                   segments=segment_order(decisions[segment]), lang=ct),
        t.gettext("Customers receiving each policy, by grade, one panel per %(segment)s.",
                  segment=label(t, "segment", segment)))


def _policy_by_grade(counts: pd.DataFrame, grades: Sequence[str]) -> list[dict[str, Any]]:
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


def _overrides(decisions: pd.DataFrame) -> pd.Series:
    """The override rule ids of the decisions that have one."""
    overrides = decisions["override"].astype(object).where(decisions["override"].notna(), "")
    overrides = overrides.astype(str).str.strip()
    return overrides[overrides.ne("") & overrides.ne("None") & overrides.ne("nan")]


def _created(created_at: dt.datetime | str | None) -> str:
    """When the report was made, as ISO text: the given time, or now (UTC)."""
    if isinstance(created_at, dt.datetime):
        return created_at.isoformat(timespec="seconds")
    if created_at is not None:
        return str(created_at)
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


def build_report(
    decisions: pd.DataFrame,
    *,
    labels: pd.Series | None = None,
    rejects: pd.DataFrame | None = None,
    sensitivity: pd.DataFrame | object | None = None,
    sensitivity_png: bytes | str | Path | None = None,
    versions: Mapping[str, Any] | None = None,
    title: str | None = None,
    segment: str = "consumption_class",
    band_edges: Sequence[float] = (),
    created_at: dt.datetime | str | None = None,
    templates_dir: str | Path | None = None,
    top_reasons: int = 10,
    lang: str | None = None,
    languages: Languages | None = None,
    in_sample: bool = False,
) -> str:
    """Render the auditor report for one decided population as a self-contained HTML page.

    ``labels`` (observed 12-month default, 0/1, indexed like ``decisions``)
    enable the ROC/KS and calibration sections; without them the report says
    that no outcomes were supplied. ``sensitivity`` is a frame with columns
    group, shock, before, after, or what ``engine.modelops.sensitivity.analyse``
    returns (its mean PD before and after are shown); ``sensitivity_png`` is
    an already drawn chart, used when no frame is given. ``versions`` is shown
    as given (nested mappings are flattened), next to the versions the
    decisions themselves carry.
    ``lang`` (en or zh-CN; ``languages`` default to the catalogues beside the
    templates) sets the language of the text and of the chart labels; Chinese
    chart labels need a CJK font (``engine.report.charts.chart_language``).
    """
    folder, t, ct = _languages(templates_dir, languages, lang)
    decisions = _check_decisions(decisions)
    _check_segment(segment)
    y = _check_labels(labels, decisions) if labels is not None else None
    sensitivity_section = _sensitivity_input(sensitivity, sensitivity_png, t, ct)
    reject_section = _reject_summary(rejects, top_reasons) if rejects is not None else None
    env = report_environment(folder, t)
    pd_values = pd.to_numeric(decisions["pd"]).astype(float)
    grade_counts = _value_counts(decisions["grade"], GRADES)
    chart_list = _population_charts(decisions, pd_values, grade_counts, band_edges, t, ct)
    performance: dict[str, Any] | None = None
    if y is not None:
        performance, performance_charts = _performance(decisions, pd_values, y, t, ct)
        performance["in_sample"] = in_sample
        chart_list += performance_charts

    grades_present = [g["name"] for g in grade_counts]
    counts = policy_counts(decisions, segment)
    chart_list.append(_policy_chart(decisions, counts, segment, grades_present, t, ct))
    policy_by_grade = _policy_by_grade(counts, grades_present)
    if sensitivity_section is not None:
        chart_list.append(sensitivity_section["chart"])

    rejected = reject_section["rows"] if reject_section else 0
    overrides = _overrides(decisions)
    context = {
        "title": title or t.gettext("gridcredit auditor report"),
        "lang": t.tag,
        "chart_note": ct is not t,
        "created_at": _created(created_at),
        "engine_version": __version__,
        "as_of": sorted({str(v) for v in decisions["as_of"].dropna()}),
        "summary": {"rows_in": len(decisions) + rejected, "decided": len(decisions),
                    "rejected": rejected, "overridden": len(overrides),
                    "policies_used": len(policy_by_grade),
                    "policy_assignments": int(counts["customers"].sum())},
        "grade_counts": grade_counts,
        "class_counts": [{**c, "name": label(t, "customer class", c["name"])}
                         for c in _value_counts(decisions["customer_class"], CLASSES)],
        "overrides": _value_counts(overrides) if len(overrides) else [],
        "grades_present": grades_present,
        "policy_by_grade": policy_by_grade,
        "charts": {c["id"]: c for c in chart_list},
        "chart_order": [c["id"] for c in chart_list],
        "performance": performance,
        "rejects": reject_section,
        "sensitivity": sensitivity_section,
        "versions": _flatten(versions or {}),
        "in_use": _in_use(decisions, t),
        "segment": label(t, "segment", segment),
    }
    return _render(env, context, templates_dir)


def _render(env: SandboxedEnvironment, context: dict[str, Any],
            templates_dir: str | Path | None) -> str:
    try:
        return env.get_template(TEMPLATE).render(**context)
    except TemplateError as exc:
        raise ConfigError(f"report template failed: {exc}",
                          file=str(_templates_dir(templates_dir) / TEMPLATE)) from None


def write_report(path: str | Path, decisions: pd.DataFrame, *, overwrite: bool = False,
                 **options: Any) -> Path:
    """Build the report and write it to ``path`` (UTF-8), atomically; returns the path.

    ``options`` are those of :func:`build_report`. An existing file is kept
    unless ``overwrite`` is true, so a report an auditor was sent is never
    replaced by accident.
    """
    target = Path(path)
    if target.exists() and not overwrite:
        raise InputError(f"{target}: file exists; use --overwrite to replace it")
    html = build_report(decisions, **options)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_name(target.name + ".partial")
        partial.write_text(html, encoding="utf-8")
        partial.replace(target)
    except OSError as exc:
        raise InputError(f"{target}: cannot write the report ({exc.strerror})") from None
    return target
