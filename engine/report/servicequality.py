"""The service-quality report: one self-contained HTML page, in en or zh-CN.

Built from a ``ServiceQuality`` evaluation alone and rendered through the
sandboxed, autoescaping template ``policies/templates/servicequality.html.j2``
(the auditor report's environment: the same words, filters and styles).
Charts are PNG data URIs drawn with ``engine.report.charts`` (the CJK font
when Chinese is asked for). Every sentence the page states is built here from
the numbers it sits beside: a shortfall, a change or a policy link is stated
only when its 95 % interval excludes zero, and the policy comparison says it
is an association, not proof.
"""

from __future__ import annotations

import base64
import datetime as dt
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from engine import __version__
from engine.errors import ConfigError
from engine.language import Language, Languages, load_languages
from engine.report import charts
from engine.report.environment import report_environment, write_page
from engine.report.sections import joined
from engine.servicequality.evaluation import NO_DECISION, ServiceQuality
from engine.servicequality.surveys import DIMENSIONS
from engine.vocabulary import label

__all__ = ["TEMPLATE", "dimension_words", "service_quality_html", "service_summary",
           "write_service_quality"]

TEMPLATE = "servicequality.html.j2"
# Sentences of each kind the auditor report shows; the service-quality report has them all.
SUMMARY_LINES = 6
_SEGMENT_COLOURS = {"large": "#7b3294", "average": "#2c7fb8", "small": "#1a9850"}


def dimension_words(t: Language) -> dict[str, str]:
    """The SERVQUAL dimensions (and the mean of the five) as words in ``t``."""
    return {
        "tangibles": t.pgettext("servqual dimension", "tangibles"),
        "reliability": t.pgettext("servqual dimension", "reliability"),
        "responsiveness": t.pgettext("servqual dimension", "responsiveness"),
        "assurance": t.pgettext("servqual dimension", "assurance"),
        "empathy": t.pgettext("servqual dimension", "empathy"),
        "overall": t.pgettext("servqual dimension", "mean of the five"),
    }


def _group_word(t: Language, group: str) -> str:
    if group == "all":
        return t.gettext("all surveyed customers")
    if group == NO_DECISION:
        return t.gettext("no decision")
    return label(t, "segment value", group)


def _num(value: float, digits: int = 2, sign: bool = True) -> str:
    """A score difference; one more digit when rounding would show a non-zero bound as 0."""
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return "n/a"
    if value != 0 and abs(value) < 0.5 * 10 ** -digits:
        digits += 1
    return f"{value:+.{digits}f}" if sign else f"{value:.{digits}f}"


def _uri(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def _excludes_zero(low: float, high: float) -> bool:
    return bool(np.isfinite(low) and np.isfinite(high) and (low > 0 or high < 0))


# ---------------------------------------------------------------------------- sentences


def _shortfall_sentences(frame: pd.DataFrame, t: Language, words: Mapping[str, str]
                         ) -> list[str]:
    """Per group: its largest confirmed shortfall, or that none is confirmed."""
    out = []
    for group, part in frame[frame["dimension"] != "overall"].groupby("group", sort=False):
        short = part[(part["high"] < 0)]
        who = _group_word(t, str(group))
        if not len(short):
            out.append(t.gettext("%(group)s: no dimension falls short of expectation beyond "
                                 "its 95 %% interval.", group=who))
            continue
        worst = short.loc[short["gap"].idxmin()]
        out.append(t.gettext(
            "%(group)s: the largest shortfall is on %(dimension)s, %(gap)s points "
            "(95 %% interval %(low)s to %(high)s, %(n)s surveys).", group=who,
            dimension=words[worst["dimension"]], gap=_num(worst["gap"]),
            low=_num(worst["low"]), high=_num(worst["high"]), n=t.count(int(worst["n"]))))
    return out


def _sensitivity_sentences(slopes: pd.DataFrame, drivers: pd.DataFrame, t: Language,
                           words: Mapping[str, str]) -> list[str]:
    out = []
    for row in slopes.itertuples():
        if not np.isfinite(row.slope):
            out.append(t.gettext("%(group)s: too few surveys or no spread in perceived "
                                 "quality to estimate a sensitivity.",
                                 group=_group_word(t, row.group)))
            continue
        weights = drivers[drivers["group"] == row.group].dropna(subset=["weight"])
        text = t.gettext(
            "%(group)s: satisfaction moves %(slope)s points per point of perceived quality "
            "(95 %% interval %(low)s to %(high)s, %(n)s surveys).",
            group=_group_word(t, row.group), slope=_num(row.slope, sign=False),
            low=_num(row.low, sign=False), high=_num(row.high, sign=False), n=t.count(row.n))
        if len(weights):
            top = weights.loc[weights["weight"].idxmax()]
            text = joined(t, text, t.gettext(
                "Of the five dimensions, %(dimension)s weighs most (%(weight)s points of "
                "satisfaction per point).", dimension=words[top["dimension"]],
                weight=_num(top["weight"], sign=False)))
        out.append(text)
    return out


def _change_sentences(change: pd.DataFrame, t: Language, words: Mapping[str, str]
                      ) -> list[str]:
    out = []
    for row in change.itertuples():
        if not _excludes_zero(row.low, row.high):
            continue
        values = {"group": _group_word(t, row.group), "dimension": words[row.dimension],
                  "change": _num(abs(row.change), sign=False), "low": _num(row.low),
                  "high": _num(row.high)}
        if row.change > 0:
            out.append(t.gettext("%(group)s, %(dimension)s: the gap rose by %(change)s points "
                                 "against the baseline (95 %% interval %(low)s to %(high)s): "
                                 "perceived service moved towards or above what is expected.",
                                 **values))
        else:
            out.append(t.gettext("%(group)s, %(dimension)s: the gap fell by %(change)s points "
                                 "against the baseline (95 %% interval %(low)s to %(high)s): "
                                 "perceived service fell further below what is expected.",
                                 **values))
    return out


def _policy_sentences(linked: pd.DataFrame, t: Language, words: Mapping[str, str],
                      has_baseline: bool, title: Callable[[str], str] = str) -> list[str]:
    """``title`` names a policy id in ``t``'s language (the id itself by default)."""
    out = []
    for row in linked.itertuples():
        if has_baseline and _excludes_zero(row.did_low, row.did_high):
            out.append(t.gettext(
                "Holders of %(policy)s: their %(dimension)s gap changed by %(did)s points "
                "against non-holders' change (difference in differences, 95 %% interval "
                "%(low)s to %(high)s; %(holders)s holders and %(others)s non-holders surveyed "
                "in both periods).", policy=title(row.policy), dimension=words[row.dimension],
                did=_num(row.did), low=_num(row.did_low), high=_num(row.did_high),
                holders=t.count(row.panel_holders), others=t.count(row.panel_others)))
        elif not has_baseline and _excludes_zero(row.low, row.high):
            out.append(t.gettext(
                "Holders of %(policy)s: their %(dimension)s gap differs from non-holders' "
                "by %(difference)s points (95 %% interval %(low)s to %(high)s).",
                policy=title(row.policy), dimension=words[row.dimension],
                difference=_num(row.difference), low=_num(row.low), high=_num(row.high)))
    return out


# ---------------------------------------------------------------------------- charts


def _gap_chart(frame: pd.DataFrame, t: Language, words: Mapping[str, str], title: str) -> bytes:
    shown = frame[frame["dimension"] != "overall"]
    groups = list(dict.fromkeys(shown["group"]))
    fig, (ax,) = charts.figure(8.0, 3.6)
    x = np.arange(len(DIMENSIONS))
    width = 0.8 / max(len(groups), 1)
    for i, group in enumerate(groups):
        part = shown[shown["group"] == group].set_index("dimension").reindex(list(DIMENSIONS))
        gap = part["gap"].to_numpy(dtype=float)
        err = np.vstack([gap - part["low"].to_numpy(dtype=float),
                         part["high"].to_numpy(dtype=float) - gap])
        ax.bar(x + (i - (len(groups) - 1) / 2) * width, gap, width,
               yerr=np.nan_to_num(np.clip(err, 0, None)), capsize=2,
               color=_SEGMENT_COLOURS.get(group, charts.GRADE_COLOURS.get(group, "#888888")),
               edgecolor="#333333", linewidth=0.4, label=_group_word(t, group))
    ax.axhline(0, color="#333333", linewidth=0.8)
    ax.set_xticks(x, [words[d] for d in DIMENSIONS])
    ax.set_ylabel(t.gettext("perceived - expected (points)"))
    ax.set_title(title)
    ax.legend(fontsize=8, frameon=False, ncols=min(len(groups), 5))
    ax.spines[["top", "right"]].set_visible(False)
    return charts.png(fig)


def _slope_chart(slopes: pd.DataFrame, t: Language) -> bytes:
    shown = slopes.dropna(subset=["slope"])
    fig, (ax,) = charts.figure(6.0, 3.0)
    x = np.arange(len(shown))
    slope = shown["slope"].to_numpy(dtype=float)
    ax.bar(x, slope, color=[_SEGMENT_COLOURS.get(g, "#888888") for g in shown["group"]],
           yerr=np.vstack([slope - shown["low"].to_numpy(dtype=float),
                           shown["high"].to_numpy(dtype=float) - slope]), capsize=4)
    ax.set_xticks(x, [_group_word(t, g) for g in shown["group"]])
    ax.set_ylabel(t.gettext("satisfaction points per point"))
    ax.set_title(t.gettext("Sensitivity: satisfaction per point of perceived quality"))
    ax.spines[["top", "right"]].set_visible(False)
    return charts.png(fig)


def _did_chart(linked: pd.DataFrame, t: Language, words: Mapping[str, str]) -> bytes:
    fig, (ax,) = charts.figure(8.0, 0.8 + 0.22 * max(len(linked), 4))
    y = np.arange(len(linked))
    did = linked["did"].to_numpy(dtype=float)
    ax.errorbar(did, y, xerr=np.vstack([did - linked["did_low"].to_numpy(dtype=float),
                                        linked["did_high"].to_numpy(dtype=float) - did]),
                fmt="o", color="#2c7fb8", capsize=3)
    ax.axvline(0, color="#333333", linewidth=0.8)
    ax.set_yticks(y, [f"{p} · {words[d]}" for p, d in zip(linked["policy"],
                                                            linked["dimension"], strict=True)],
                  fontsize=7)
    ax.invert_yaxis()
    ax.set_xlabel(t.gettext("difference in differences of the gap (points)"))
    ax.set_title(t.gettext("Holders against non-holders, change since the baseline"))
    ax.spines[["top", "right"]].set_visible(False)
    return charts.png(fig)


# ---------------------------------------------------------------------------- the page


def _records(frame: pd.DataFrame | None, words: Mapping[str, str], t: Language
             ) -> list[dict[str, Any]]:
    if frame is None:
        return []
    rows = []
    for r in frame.to_dict("records"):
        row = {k: (None if isinstance(v, float) and np.isnan(v) else v) for k, v in r.items()}
        if "dimension" in row:
            row["dimension_word"] = words[row["dimension"]]
        if "group" in row:
            row["group_word"] = _group_word(t, str(row["group"]))
        rows.append(row)
    return rows


def _sections(result: ServiceQuality, t: Language, ct: Language) -> dict[str, Any]:
    words, cwords = dimension_words(t), dimension_words(ct)
    has_baseline = result.change is not None
    linked = result.policies if result.policies is not None else None
    figures = [
        {"id": "gap-segment", "src": _uri(_gap_chart(
            result.by_segment, ct, cwords, ct.gettext("Gap per dimension by consumption "
                                                      "class"))),
         "caption": t.gettext("Mean of perceived minus expected score per dimension, with "
                              "its 95 % interval; below zero the service falls short.")},
        {"id": "gap-grade", "src": _uri(_gap_chart(
            result.by_grade, ct, cwords, ct.gettext("Gap per dimension by grade"))),
         "caption": t.gettext("The same gaps by credit grade, best grade first.")},
        {"id": "sensitivity", "src": _uri(_slope_chart(result.sensitivity, ct)),
         "caption": t.gettext("Slope of overall satisfaction on the mean perceived score, "
                              "with its 95 % interval.")},
    ]
    if has_baseline and linked is not None and len(linked):
        figures.append({"id": "did", "src": _uri(_did_chart(linked, ct, cwords)),
                        "caption": t.gettext("Difference in differences per policy and "
                                             "dimension, with its 95 % interval: an "
                                             "association, not proof.")})
    return {
        "dimensions": [words[d] for d in (*DIMENSIONS, "overall")],
        "overall": _records(result.overall, words, t),
        "by_segment": _records(result.by_segment, words, t),
        "by_grade": _records(result.by_grade, words, t),
        "sensitivity": _records(result.sensitivity, words, t),
        "drivers": _records(result.drivers, words, t),
        "change": _records(result.change, words, t) if has_baseline else None,
        "policies": _records(linked, words, t) if linked is not None else None,
        "findings": {
            "gaps": _shortfall_sentences(result.by_segment, t, words),
            "grades": _shortfall_sentences(result.by_grade, t, words),
            "sensitivity": _sensitivity_sentences(result.sensitivity, result.drivers, t,
                                                  words),
            "change": _change_sentences(result.change, t, words) if has_baseline else [],
            "policies": (_policy_sentences(linked, t, words, has_baseline)
                         if linked is not None else []),
        },
        "figures": figures,
    }


def service_quality_html(result: ServiceQuality, *, templates_dir: str | Path,
                         lang: str | None = None, languages: Languages | None = None,
                         reading: Mapping[str, Any] | None = None,
                         created_at: str | None = None) -> str:
    """The report page of ``result`` in ``lang``; ``reading`` holds the input counts
    (``rows_in``, ``accepted``, ``rejected``, ``rejects_file`` per file read)."""
    folder = Path(templates_dir)
    if not (folder / TEMPLATE).is_file():
        raise ConfigError(f"service-quality template '{TEMPLATE}' not found; set --home or "
                          "GRIDCREDIT_HOME to a gridcredit project", file=str(folder))
    t = (languages or load_languages(folder.parent / "locale")).get(lang)
    ct = charts.chart_language(t)
    env = report_environment(folder, t)
    context = {
        "lang": t.tag, "engine_version": __version__, "chart_note": ct is not t,
        "created_at": created_at or dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "periods": result.periods, "baseline_periods": result.baseline_periods,
        "surveys": result.surveys, "baseline_surveys": result.baseline_surveys,
        "undecided": result.undecided, "has_decisions": result.policies is not None,
        "reading": list((reading or {}).values()),
        **_sections(result, t, ct),
    }
    return env.get_template(TEMPLATE).render(**context)


def write_service_quality(path: str | Path, result: ServiceQuality, *, overwrite: bool = False,
                          **options: Any) -> Path:
    """Write the page atomically (an existing file is kept unless ``overwrite``)."""
    return write_page(path, lambda: service_quality_html(result, **options), overwrite=overwrite)


def _strongest(result: ServiceQuality) -> pd.DataFrame:
    """The policy links, the largest first (difference in differences when there is one)."""
    linked = result.policies
    key = "did" if result.change is not None else "difference"
    return linked.reindex(linked[key].abs().sort_values(ascending=False).index)


def service_summary(result: ServiceQuality, t: Language,
                    title: Callable[[str], str] = str) -> dict[str, Any]:
    """What the auditor report shows of a service-quality evaluation: its sentences and the
    mean gap of the five dimensions per grade; ``title`` names a policy id."""
    words = dimension_words(t)
    overall = result.by_grade[result.by_grade["dimension"] == "overall"]
    return {
        "periods": result.periods, "surveys": result.surveys,
        "baseline_periods": result.baseline_periods, "rejected": result.rejected,
        "gaps": _shortfall_sentences(result.by_segment, t, words),
        "sensitivity": _sensitivity_sentences(result.sensitivity, result.drivers, t, words),
        "change": (_change_sentences(result.change, t, words)
                   if result.change is not None else [])[:SUMMARY_LINES],
        "policies": (_policy_sentences(_strongest(result), t, words, result.change is not None,
                                       title)
                     if result.policies is not None else [])[:SUMMARY_LINES],
        "by_grade": _records(overall, words, t),
    }
