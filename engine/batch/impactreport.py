"""The rule-change impact in words: headline, markdown and HTML, in zh-CN or en.

``engine.batch.impact.compare`` counts; this module says what the counts
mean, in the language asked for (an ``engine.language.Language``; English when
none is given). Ids (policies, rules, tables, files) and grades stay as they
are: they are what policy staff search their files for. Counts carry
thousands separators, amounts the project's currency, param values their
unit (``engine.explanation.param_value``).

The HTML page is the project's sandboxed, autoescaped template
``policies/templates/impact.html.j2``, styled like the auditor report (both
include ``report.css.j2``), with its charts (``engine.batch.impactcharts``)
embedded as PNG data URIs, so the page is one self-contained file.
"""

from __future__ import annotations

import base64
import datetime as dt
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from jinja2 import TemplateError

from engine import __version__
from engine.batch import impactcharts
from engine.batch.impactchanges import EVERY_DECISION, REPORTS
from engine.config import EngineConfig
from engine.errors import ConfigError
from engine.explanation import param_value
from engine.language import ENGLISH, Language
from engine.report import charts
from engine.report.environment import report_environment
from engine.vocabulary import label

if TYPE_CHECKING:
    from engine.batch.impact import Impact

__all__ = ["TEMPLATE", "findings_note", "headline", "html", "loss_note", "markdown", "sections"]

TEMPLATE = "impact.html.j2"


def headline(impact: Impact, lang: Language | None = None) -> str:
    """One sentence: customers decided and rejected, grade and param changes, affected."""
    t = lang or ENGLISH
    return t.gettext(
        "%(decided)s customers decided (%(rejected)s rejected): %(changed)s change grade "
        "(%(down)s down, %(up)s up), %(params)s see policy params change, %(affected)s "
        "affected in all",
        decided=t.count(impact.decided), rejected=t.count(impact.rejected),
        changed=t.count(impact.grade_changed), down=t.count(impact.downgraded),
        up=t.count(impact.upgraded), params=t.count(impact.params_changed),
        affected=t.count(len(impact.affected)))


def loss_note(impact: Impact, lang: Language | None = None) -> str:
    """How the expected default loss was estimated, or how to have it estimated."""
    t = lang or ENGLISH
    if impact.tariff is None:
        return t.gettext("Expected default loss not estimated: give --tariff (currency per kWh) "
                         "to turn consumption into bills and deposits.")
    return t.gettext(
        "Expected default loss = sum of PD x max(overdue amount + %(months)s of bills at "
        "%(tariff)s per kWh - security deposit, 0); PD does not depend on the tables, so only "
        "deposits move it.",
        months=t.duration(impact.exposure_months, "months"), tariff=t.money(impact.tariff))


def findings_note(impact: Impact, lang: Language | None = None) -> str:
    """The warning a report compared despite ``rules check`` findings opens with."""
    t = lang or ENGLISH
    return t.ngettext(
        "The candidate has %(num)s rules check finding: it was compared only because "
        "--allow-findings was given, and must not be published as it is.",
        "The candidate has %(num)s rules check findings: it was compared only because "
        "--allow-findings was given, and must not be published as it is.",
        len(impact.findings), num=t.count(len(impact.findings)))


def _param_rows(impact: Impact, t: Language) -> pd.DataFrame:
    """The param changes with each value in words and its unit (``2 hours``, ``2小时``)."""
    frame = impact.params.copy()
    specs = impact.param_specs or {}
    for column in ("before", "after"):
        frame[column] = [t.gettext("(none)") if v is None else param_value(t, specs.get((p, n)), v)
                         for p, n, v in zip(frame["policy"], frame["param"], frame[column],
                                            strict=True)]
    return frame


def _segment_rows(impact: Impact, t: Language) -> pd.DataFrame:
    """The segment changes with each field and value in words (``average`` -> ``平均``)."""
    frame = impact.segments.copy()
    frame["before"] = [label(t, "segment value", v) for v in frame["before"]]
    frame["after"] = [label(t, "segment value", v) for v in frame["after"]]
    frame["field"] = [label(t, "segment", v) for v in frame["field"]]
    return frame


def _change_words(t: Language) -> dict[str, str]:
    """The kinds of change the diff and the catalogue and template lists name, in words."""
    return {"added": t.gettext("added"), "removed": t.gettext("removed"),
            "changed": t.gettext("changed"), "moved": t.gettext("moved")}


def sections(impact: Impact, lang: Language | None = None
             ) -> list[tuple[str, str, pd.DataFrame, str]]:
    """Id, title, frame (headers and cells in words) and what to say when it is empty."""
    t = lang or ENGLISH
    none = t.gettext("none")
    grades = impact.transitions.rename(index={"none": none}, columns={"none": none})
    grades = grades.reset_index(names=t.gettext("baseline"))
    rules = impact.rules.replace({"absent": t.gettext("absent")})
    explains = {EVERY_DECISION: t.gettext("every decision"), REPORTS: t.gettext("reports only")}
    words = _change_words(t)
    templates = impact.templates.replace({"explains": explains, "change": words})
    catalogue = impact.catalogue.replace({"change": words})
    heads = {"policy": t.gettext("policy"), "gained": t.gettext("gained"),
             "lost": t.gettext("lost"), "table": t.gettext("table"), "rule": t.gettext("rule"),
             "change": t.gettext("change"), "measure": t.gettext("measure"),
             "param": t.gettext("param"), "customers": t.gettext("customers"),
             "detail": t.gettext("what changed"), "file": t.gettext("file"),
             "explains": t.gettext("explains"), "outcome_changed": t.gettext("outcome changed"),
             "before": t.gettext("baseline"), "after": t.gettext("candidate"),
             "field": t.gettext("segment")}
    rule_heads = {**heads, "before": t.gettext("matched (baseline)"),
                  "after": t.gettext("matched (candidate)")}
    return [
        ("catalogue", t.gettext("Catalogue changes"), catalogue.rename(columns=heads),
         t.gettext("The catalogue is unchanged.")),
        ("templates", t.gettext("Template and translation changes (explanations, not "
                                "decisions)"), templates.rename(columns=heads),
         t.gettext("No template or translation changed.")),
        ("transitions", t.gettext("Grade transitions (rows: baseline, columns: candidate)"),
         grades, ""),
        ("segments", t.gettext("Segment changes"), _segment_rows(impact, t).rename(columns=heads),
         t.gettext("No segment changes.")),
        ("policies", t.gettext("Policies gained and lost"), impact.policies.rename(columns=heads),
         t.gettext("No policy changes.")),
        ("params", t.gettext("Policy parameter changes (customers who keep the policy)"),
         _param_rows(impact, t).rename(columns=heads), t.gettext("No parameter changes.")),
        ("rules", t.gettext("Rules: customers matched and outcomes changed"),
         rules.rename(columns=rule_heads), t.gettext("No rule hits differ.")),
        ("workload", t.gettext("Workload and expected loss"), _workload(impact, t)
         .rename(columns=heads), ""),
        *_service_sections(impact, t),
    ]


def _service_sections(impact: Impact, t: Language) -> list[tuple[str, str, pd.DataFrame, str]]:
    """Service levels by grade against the catalogue's floors, the gap between the best and
    the worst grade, and the findings (a floor broken, a gap widened beyond its threshold)."""
    service = impact.service
    if service is None or not len(service.spreads):
        return []
    titles = {r["floor"]: f"{t.text(r['title'])} ({r['unit']})"
              for r in service.spreads.to_dict("records")}
    levels = pd.DataFrame({
        t.gettext("service floor"): [titles[f] for f in service.levels["floor"]],
        t.gettext("grade"): service.levels["grade"],
        t.gettext("mean level (baseline)"): [f"{v:.2f}" for v in service.levels["level_before"]],
        t.gettext("mean level (candidate)"): [f"{v:.2f}" for v in service.levels["level_after"]],
        t.gettext("below the floor (baseline)"): service.levels["below_before"],
        t.gettext("below the floor (candidate)"): service.levels["below_after"]})
    spreads = pd.DataFrame({
        t.gettext("service floor"): [titles[f] for f in service.spreads["floor"]],
        t.gettext("best and worst grade"): [f"{b} / {w}" for b, w in zip(
            service.spreads["best"], service.spreads["worst"], strict=True)],
        t.gettext("gap (baseline)"): [f"{v:.2f}" for v in service.spreads["before"]],
        t.gettext("gap (candidate)"): [f"{v:.2f}" for v in service.spreads["after"]],
        t.gettext("threshold"): [f"{v:g}" for v in service.spreads["threshold"]]})
    findings = pd.DataFrame({t.gettext("finding"): [f.text(t) for f in service.findings]})
    return [
        ("service", t.gettext("Service levels by grade (floors every customer keeps)"), levels,
         ""),
        ("service-gap", t.gettext("Service gap between the best and the worst grade"),
         spreads, ""),
        ("service-findings", t.gettext("Service floor findings"), findings,
         t.gettext("No floor is broken and no gap between grades widened beyond its "
                   "threshold.")),
    ]


def _workload(impact: Impact, t: Language) -> pd.DataFrame:
    work = impact.workload.copy()
    titles = impact.titles or {}
    what = {"customers": t.gettext("customers"), "visits": t.gettext("visits a year"),
            "loss": t.gettext("expected default loss")}
    work["measure"] = [
        what[w] if not p else f"{t.text(titles.get(p, p))} ({p}): {what[w]}"
        for p, w in zip(work["policy"], work["what"], strict=True)]
    if impact.tariff is not None and len(work):
        loss = work["what"] == "loss"
        for column in ("before", "after", "change"):
            work.loc[loss, column] = [t.money(v) for v in work.loc[loss, column]]
    return work.drop(columns=["policy", "what"])


def _diff_text(impact: Impact) -> str:
    return impact.diff.text() if impact.diff is not None else ""


def markdown(impact: Impact, lang: Language | None = None) -> str:
    """The impact as a markdown document (what ``rules impact`` prints)."""
    t = lang or ENGLISH
    base, cand = "`" + impact.baseline + "`", "`" + impact.candidate + "`"
    lines = ["# " + t.gettext("Rule-change impact"), ""]
    if impact.findings:
        lines += [f"> **{findings_note(impact, t)}**", ">"]
        lines += [f"> - {f}" for f in impact.findings] + [""]
    lines += [
        "- " + t.gettext("baseline: %(set)s (sha256:%(hash)s)", set=base,
                         hash=impact.baseline_hash[:12]),
        "- " + t.gettext("candidate: %(set)s (sha256:%(hash)s)", set=cand,
                         hash=impact.candidate_hash[:12]),
        f"- {headline(impact, t)}", "",
    ]
    if impact.no_changes:
        lines += [t.gettext("No changes: the two sets decide and explain alike."), ""]
    lines += ["## " + t.gettext("Changed rules"), ""]
    lines += (["```", _diff_text(impact).rstrip("\n"), "```", ""] if impact.diff is not None
              and not impact.diff.empty else [t.gettext("No rule changed."), ""])
    for _, title, frame, empty in sections(impact, t):
        lines += [f"## {title}", "", _md_table(frame) if len(frame) or not empty else empty, ""]
    lines += [loss_note(impact, t), ""]
    return "\n".join(lines)


def _md_table(frame: pd.DataFrame) -> str:
    head = "| " + " | ".join(str(c) for c in frame.columns) + " |"
    rule = "|" + "|".join("---" for _ in frame.columns) + "|"
    body = ["| " + " | ".join(_cell(v).replace("|", "\\|") for v in row) + " |"
            for row in frame.itertuples(index=False)]
    return "\n".join([head, rule, *body])


def _cell(value: Any) -> str:
    if isinstance(value, bool | np.bool_):
        return str(value)
    if isinstance(value, float | np.floating):
        return f"{value:,.2f}"
    if isinstance(value, int | np.integer):
        return f"{value:,}"
    return str(value)


# --------------------------------------------------------------------------- HTML

def _uri(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def _html_rows(frame: pd.DataFrame) -> list[list[dict[str, Any]]]:
    return [[{"v": _cell(v), "n": isinstance(v, int | float | np.integer | np.floating)
              and not isinstance(v, bool | np.bool_)} for v in row]
            for row in frame.itertuples(index=False)]


def _charts(impact: Impact, t: Language) -> list[dict[str, str]]:
    ct = charts.chart_language(t)
    out = [{"id": "transitions", "title": t.gettext("Grade transitions"),
            "src": _uri(impactcharts.transition_heatmap(impact.transitions, lang=ct)),
            "caption": t.gettext("Customers by baseline grade (rows) and candidate grade "
                                 "(columns); off the diagonal are the customers who move.")}]
    if len(impact.policies):
        out.append({"id": "policies", "title": t.gettext("Policies gained and lost"),
                    "src": _uri(impactcharts.policy_delta_chart(impact.policies, lang=ct)),
                    "caption": t.gettext("Customers gaining (right) and losing (left) each "
                                         "policy.")})
    return out


def _diff_blocks(impact: Impact, t: Language) -> list[dict[str, Any]]:
    """The changed tables and rules, each rule with its matches and changed outcomes."""
    if impact.diff is None:
        return []
    words = _change_words(t)
    counts = {(r.table, r.rule): r for r in impact.rules.itertuples(index=False)}
    blocks = []
    for tc in impact.diff.tables:
        rules = []
        for rc in tc.rules:
            row = counts.get((tc.table, rc.rule_id))
            rules.append({"id": rc.rule_id, "change": words.get(rc.change, rc.change),
                          "details": list(rc.details),
                          "before": _cell(row.before) if row else "",
                          "after": _cell(row.after) if row else "",
                          "outcome": _cell(row.outcome_changed) if row else ""})
        blocks.append({"table": tc.table, "change": words.get(tc.change, tc.change),
                       "details": list(tc.details),
                       "rules": rules})
    return blocks


def html(impact: Impact, lang: Language | None = None, *,
         templates_dir: str | Path | None = None) -> str:
    """The impact as one self-contained, autoescaped HTML page styled like the auditor
    report; ``templates_dir`` defaults to the project's (``engine.config``)."""
    t = lang or ENGLISH
    folder = Path(templates_dir) if templates_dir is not None else EngineConfig.at().templates_dir
    if not (folder / TEMPLATE).is_file():
        raise ConfigError(f"impact template '{TEMPLATE}' not found; set --home or "
                          "GRIDCREDIT_HOME to a gridcredit project", file=str(folder))
    env = report_environment(folder, t)
    drawn = {c["id"]: c for c in _charts(impact, t)}
    context = {
        "lang": t.tag, "title": t.gettext("Rule-change impact"),
        "created_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "engine_version": __version__, "headline": headline(impact, t),
        "baseline": impact.baseline, "candidate": impact.candidate,
        "baseline_hash": impact.baseline_hash, "candidate_hash": impact.candidate_hash,
        "summary": {"rows_in": impact.rows_in, "decided": impact.decided,
                    "rejected": impact.rejected, "grade_changed": impact.grade_changed,
                    "segments_changed": impact.segments_changed,
                    "params_changed": impact.params_changed,
                    "affected": len(impact.affected)},
        "findings": list(impact.findings),
        "findings_note": findings_note(impact, t) if impact.findings else "",
        "no_changes": impact.no_changes,
        "diff": _diff_blocks(impact, t),
        "sections": [{"id": sid, "title": title, "columns": [str(c) for c in frame.columns],
                      "rows": _html_rows(frame), "empty": empty or t.gettext("No changes."),
                      "chart": drawn.get(sid)}
                     for sid, title, frame, empty in sections(impact, t)],
        "note": loss_note(impact, t),
    }
    try:
        return env.get_template(TEMPLATE).render(**context)
    except TemplateError as exc:
        raise ConfigError(f"impact template failed: {exc}", file=str(folder / TEMPLATE)
                          ) from None
