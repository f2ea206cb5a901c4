"""The rule-change impact in words: headline, markdown and HTML, in zh-CN or en.

``engine.batch.impact.compare`` counts; this module says what the counts
mean, in the language asked for (an ``engine.language.Language``; English when
none is given). Ids (policies, rules, tables) and grades stay as they are:
they are what policy staff search their files for. Amounts carry the
project's currency.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from jinja2.sandbox import SandboxedEnvironment

from engine.language import ENGLISH, Language

if TYPE_CHECKING:
    from engine.batch.impact import Impact

__all__ = ["headline", "html", "loss_note", "markdown"]


def headline(impact: Impact, lang: Language | None = None) -> str:
    """One sentence: customers decided and rejected, grade changes, customers affected."""
    t = lang or ENGLISH
    return t.gettext(
        "%(decided)s customers decided (%(rejected)s rejected): %(changed)s change grade "
        "(%(down)s down, %(up)s up), %(affected)s affected in all",
        decided=t.count(impact.decided), rejected=t.count(impact.rejected),
        changed=t.count(impact.grade_changed), down=t.count(impact.downgraded),
        up=t.count(impact.upgraded), affected=t.count(len(impact.affected)))


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


def _sections(impact: Impact, t: Language) -> list[tuple[str, pd.DataFrame, str]]:
    """Title, frame (headers and cells in words) and what to say when it is empty."""
    none = t.gettext("none")
    grades = impact.transitions.rename(index={"none": none}, columns={"none": none})
    grades = grades.reset_index(names=t.gettext("baseline"))
    rules = impact.rules.replace({"absent": t.gettext("absent")})
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
    work = work.drop(columns=["policy", "what"])
    heads = {"policy": t.gettext("policy"), "before": t.gettext("before"),
             "after": t.gettext("after"), "gained": t.gettext("gained"),
             "lost": t.gettext("lost"), "table": t.gettext("table"), "rule": t.gettext("rule"),
             "change": t.gettext("change"), "measure": t.gettext("measure")}
    return [
        (t.gettext("Grade transitions (rows: baseline, columns: candidate)"), grades, ""),
        (t.gettext("Policies gained and lost"), impact.policies.rename(columns=heads),
         t.gettext("No policy changes.")),
        (t.gettext("Rule hits before and after"), rules.rename(columns=heads),
         t.gettext("No rule hits differ.")),
        (t.gettext("Workload and expected loss"), work.rename(columns=heads), ""),
    ]


def markdown(impact: Impact, lang: Language | None = None) -> str:
    """The impact as a markdown document (what ``rules impact`` prints)."""
    t = lang or ENGLISH
    base, cand = "`" + impact.baseline + "`", "`" + impact.candidate + "`"
    lines = [
        "# " + t.gettext("Rule-change impact"), "",
        "- " + t.gettext("baseline: %(set)s (sha256:%(hash)s)", set=base,
                         hash=impact.baseline_hash[:12]),
        "- " + t.gettext("candidate: %(set)s (sha256:%(hash)s)", set=cand,
                         hash=impact.candidate_hash[:12]),
        f"- {headline(impact, t)}", "",
    ]
    for title, frame, empty in _sections(impact, t):
        lines += [f"## {title}", "", _md_table(frame) if len(frame) or not empty else empty, ""]
    lines += [loss_note(impact, t), ""]
    return "\n".join(lines)


def html(impact: Impact, lang: Language | None = None) -> str:
    """The impact as one self-contained, autoescaped HTML page."""
    t = lang or ENGLISH
    env = SandboxedEnvironment(autoescape=True)
    return env.from_string(_HTML).render(
        lang=t.tag, title=t.gettext("Rule-change impact"), headline=headline(impact, t),
        baseline=t.gettext("baseline: %(set)s (sha256:%(hash)s)", set=impact.baseline,
                           hash=impact.baseline_hash[:12]),
        candidate=t.gettext("candidate: %(set)s (sha256:%(hash)s)", set=impact.candidate,
                            hash=impact.candidate_hash[:12]),
        sections=[(title, frame.columns, [[_cell(v) for v in row]
                                          for row in frame.itertuples(index=False)],
                   empty or t.gettext("No changes."))
                  for title, frame, empty in _sections(impact, t)],
        note=loss_note(impact, t))


def _md_table(frame: pd.DataFrame) -> str:
    head = "| " + " | ".join(str(c) for c in frame.columns) + " |"
    rule = "|" + "|".join("---" for _ in frame.columns) + "|"
    body = ["| " + " | ".join(_cell(v) for v in row) + " |"
            for row in frame.itertuples(index=False)]
    return "\n".join([head, rule, *body])


def _cell(value: Any) -> str:
    if isinstance(value, float | np.floating):
        return f"{value:,.2f}"
    if isinstance(value, int | np.integer):
        return f"{value:,}"
    return str(value)


_HTML = """<!doctype html>
<html lang="{{ lang }}"><head><meta charset="utf-8"><title>{{ title }}</title>
<style>body{font-family:sans-serif,"Noto Sans CJK SC";margin:2em;max-width:70em}
table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #bbb;padding:.25em .6em}
td{text-align:right}td:first-child{text-align:left}</style></head><body>
<h1>{{ title }}</h1>
<ul><li>{{ baseline }}</li><li>{{ candidate }}</li><li>{{ headline }}</li></ul>
{% for title, columns, rows, empty in sections %}<h2>{{ title }}</h2>
{% if rows %}<table><tr>{% for c in columns %}<th>{{ c }}</th>{% endfor %}</tr>
{% for row in rows %}<tr>{% for v in row %}<td>{{ v }}</td>{% endfor %}</tr>
{% endfor %}</table>{% else %}<p>{{ empty }}</p>{% endif %}{% endfor %}
<p>{{ note }}</p>
</body></html>
"""
