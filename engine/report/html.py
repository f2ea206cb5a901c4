"""The auditor report: one self-contained HTML file about a decided population.

An auditor should be able to open the file anywhere, offline, years later, and
see how customers were graded, how well the grades separate defaulters, which
policies each grade and segment received, how sensitive the score is to each
risk-factor group, and exactly which table and model versions decided. So the
report carries everything inside it: charts are PNGs embedded as base64 data
URIs, styles are inline, and there is no script and no external link.

The numbers are computed by the pure functions of ``engine.report.measures``
(ROC, KS, default rate by grade with a Wilson interval, policy counts), the
sections by ``engine.report.sections`` (what every report has) and
``engine.report.auditsections`` (rule hits, overrides, disparity, calibration
in words, stability, provenance, service quality), drawn by
``engine.report.charts`` and laid out by the sandboxed, autoescaped template
``policies/templates/report.html.j2``, so nothing in a customer id, a reject
reason or a rule id can inject markup. Input checks are in
``engine.report.inputs``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd
from jinja2 import TemplateError
from jinja2.sandbox import SandboxedEnvironment

from engine import __version__
from engine.config import EngineConfig
from engine.errors import ConfigError
from engine.language import Language, Languages, load_languages
from engine.modelops.monitoring import MonitorResult
from engine.records import CLASSES, grade_scale, scale_grades
from engine.report import auditsections, charts, sections
from engine.report.environment import report_environment, write_page
from engine.report.inputs import check_decisions, check_labels, check_segment
from engine.report.measures import policy_counts
from engine.report.payments import PaymentFacts
from engine.servicequality.evaluation import ServiceQuality
from engine.vocabulary import label

__all__ = ["TEMPLATE", "build_report", "write_report"]

TEMPLATE = "report.html.j2"


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


def _languages(templates_dir: str | Path | None, languages: Languages | None,
               lang: str | None) -> tuple[Path, Language, Language]:
    """The template folder, the report's language and the language its charts can draw."""
    folder = _template_folder(templates_dir)
    t = (languages or load_languages(folder.parent / "locale")).get(lang)
    return folder, t, charts.chart_language(t)


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
    rule_hits: pd.DataFrame | None = None,
    stability: MonitorResult | None = None,
    provenance: Mapping[str, Any] | None = None,
    service_quality: ServiceQuality | None = None,
    payments: PaymentFacts | None = None,
    policy_titles: Mapping[str, str] | None = None,
) -> str:
    """Render the auditor report for one decided population as a self-contained HTML page.

    ``labels`` (observed 12-month default, 0/1, indexed like ``decisions``)
    enable the ROC/KS and calibration sections and the default rates of
    overridden customers; without them the report says that no outcomes were
    supplied. ``sensitivity`` is a frame with columns group, shock, before,
    after, or what ``engine.modelops.sensitivity.analyse`` returns (its mean
    PD before and after are shown); ``sensitivity_png`` is an already drawn
    chart, used when no frame is given. ``versions`` is shown as given (nested
    mappings are flattened), next to the versions the decisions themselves
    carry. ``rule_hits`` (``engine.report.rulehits.rule_hits``), ``stability``
    (``engine.modelops.monitoring.monitor_registry`` against the training
    population), ``provenance`` (``engine.report.provenance.provenance``) and
    ``service_quality`` (``engine.servicequality.evaluation.evaluate``) and
    ``payments`` (``engine.report.payments.payment_facts``) fill their
    sections; each one missing is named with what to pass. ``policy_titles``
    (the catalogue's English title of each policy id) names policies by their
    title in the report's language instead of by id.
    ``lang`` (en or zh-CN; ``languages`` default to the catalogues beside the
    templates) sets the language of the text and of the chart labels; Chinese
    chart labels need a CJK font (``engine.report.charts.chart_language``).
    """
    folder, t, ct = _languages(templates_dir, languages, lang)
    decisions = check_decisions(decisions)
    check_segment(segment)
    y = check_labels(labels, decisions) if labels is not None else None
    titles = dict(policy_titles or {})
    context = _population(decisions, y, t, ct, segment=segment, band_edges=band_edges,
                          in_sample=in_sample, titles=titles)
    sensitivity_section = sections.sensitivity_input(sensitivity, sensitivity_png, t, ct)
    if sensitivity_section is not None:
        context["chart_list"].append(sensitivity_section["chart"])
    audit = auditsections.audit_sections(
        decisions, y, t, ct, performance=context["performance"], rule_hits=rule_hits,
        stability=stability, provenance=provenance, service_quality=service_quality,
        payments=payments, policy_title=_titler(t, titles))
    chart_list = context.pop("chart_list") + audit.pop("charts")
    reject_section = (sections.reject_summary(rejects, top_reasons) if rejects is not None
                      else None)
    rejected = reject_section["rows"] if reject_section else 0
    context["summary"]["rows_in"] += rejected
    context["summary"]["rejected"] = rejected
    context |= {
        "title": title or t.gettext("gridcredit auditor report"), "lang": t.tag,
        "chart_note": ct is not t, "created_at": _created(created_at),
        "engine_version": __version__, "charts": {c["id"]: c for c in chart_list},
        "chart_order": [c["id"] for c in chart_list], "rejects": reject_section,
        "sensitivity": sensitivity_section, "audit": audit,
        "versions": sections.version_rows(versions or {}, t),
    }
    return _render(report_environment(folder, t), context, templates_dir)


def _titler(t: Language, titles: Mapping[str, str]) -> Callable[[str], str]:
    """A policy id's title in ``t``'s words (the catalogue's titles are gettext messages);
    an id with no title stays an id."""
    return lambda pid: t.gettext(titles[pid]) if pid in titles else pid


def _population(decisions: pd.DataFrame, y: pd.Series | None, t: Language, ct: Language, *,
                segment: str, band_edges: Sequence[float], in_sample: bool,
                titles: Mapping[str, str]) -> dict[str, Any]:
    """What every report shows of the decided population: counts, grades, performance with
    outcomes, policies by grade, and the charts of these (under ``chart_list``)."""
    pd_values = pd.to_numeric(decisions["pd"]).astype(float)
    grade_counts = sections.value_counts(decisions["grade"], scale_grades())
    chart_list = sections.population_charts(decisions, pd_values, grade_counts, band_edges,
                                            t, ct)
    performance: dict[str, Any] | None = None
    if y is not None:
        performance, performance_charts = sections.performance(decisions, pd_values, y, t, ct)
        performance["in_sample"] = in_sample
        chart_list += performance_charts
    grades_present = [g["name"] for g in grade_counts]
    counts = policy_counts(decisions, segment)
    drawn = counts.assign(policy=counts["policy"].astype(str).map(_titler(ct, titles)))
    chart_list.append(sections.policy_chart(decisions, drawn, segment, grades_present, t, ct))
    title = _titler(t, titles)
    by_grade = [{**row, "title": title(row["policy"])}
                for row in sections.policy_by_grade(counts, grades_present)]
    overridden = sections.overrides(decisions)
    return {
        "chart_list": chart_list,
        "performance": performance,
        "as_of": sorted({str(v) for v in decisions["as_of"].dropna()}),
        "summary": {"rows_in": len(decisions), "decided": len(decisions), "rejected": 0,
                    "overridden": len(overridden), "policies_used": len(by_grade),
                    "policy_assignments": int(counts["customers"].sum())},
        "grade_counts": grade_counts,
        "class_counts": [{**c, "name": label(t, "customer class", c["name"])}
                         for c in sections.value_counts(decisions["customer_class"], CLASSES)],
        "overrides": sections.value_counts(overridden) if len(overridden) else [],
        "grades_present": grades_present,
        "policy_by_grade": by_grade,
        "in_use": sections.in_use(decisions, t),
        "segment": label(t, "segment", segment),
    }


def _render(env: SandboxedEnvironment, context: dict[str, Any],
            templates_dir: str | Path | None) -> str:
    try:
        return env.get_template(TEMPLATE).render(**context)
    except TemplateError as exc:
        raise ConfigError(f"report template failed: {exc}",
                          file=str(_templates_dir(templates_dir) / TEMPLATE)) from None


def write_report(path: str | Path, decisions: pd.DataFrame, *, overwrite: bool = False,
                 grades: Sequence[str] = (), **options: Any) -> Path:
    """Build the report and write it to ``path`` (UTF-8), atomically; returns the path.

    ``grades`` is the master scale the decisions were graded on, best first
    (the engine's ``[b.grade for b in engine.bands]``; the shipped scale when
    empty): the report counts and orders grades by it. ``options`` are those
    of :func:`build_report`. An existing file is kept unless ``overwrite`` is
    true, so a report an auditor was sent is never replaced by accident.
    """
    def page() -> str:
        with grade_scale(grades or None):
            return build_report(decisions, **options)

    return write_page(path, page, overwrite=overwrite)
