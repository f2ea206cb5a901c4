"""The auditor report's charts, each drawn from plain numbers into PNG bytes.

Every function takes data that ``engine.report.html`` has already counted or
computed and returns the PNG of one figure. Figures are built on matplotlib's
object API with the Agg canvas (``Figure`` + ``FigureCanvasAgg``), never
through ``pyplot``: no global figure state, no display, nothing to close, so
reports can be built on a headless server or in several threads. PNG metadata
that would change from run to run (software version, time) is left out, so
the same data gives the same bytes.

Titles, axis labels and legends are gettext messages in the language asked
for (``lang``, an ``engine.language.Language``; English when none is given).
Chinese labels need a CJK font: the first of ``CJK_FONTS`` that the system
has (Debian's ``fonts-noto-cjk``, which ``.ci/run`` installs) is used as the
fallback after DejaVu Sans for every text of a figure. Without one,
:func:`chart_language` warns (``MissingFontWarning``) and the charts are drawn
with English labels, so they stay readable.
"""

from __future__ import annotations

import functools
import io
import warnings
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import PowerNorm
from matplotlib.figure import Figure
from matplotlib.text import Text

from engine.language import ENGLISH, Language
from engine.vocabulary import label

__all__ = [
    "CJK_FONTS",
    "MissingFontWarning",
    "calibration_chart",
    "chart_language",
    "cjk_font",
    "figure",
    "png",
    "grade_distribution_chart",
    "pd_histogram_chart",
    "policy_counts_chart",
    "roc_ks_chart",
    "sensitivity_chart",
]

GRADE_COLOURS = {"AAA": "#1a9850", "AA": "#91cf60", "A": "#d9ef8b", "B": "#fc8d59",
                 "C": "#d73027"}
CLASS_COLOURS = {"residential": "#4575b4", "commercial": "#f46d43", "industrial": "#7b3294",
                 "public": "#1b7837"}
BEFORE, AFTER = "#9e9e9e", "#2c7fb8"
_DPI = 100
CJK_FONTS = ("Noto Sans CJK SC", "Noto Sans SC", "Source Han Sans SC", "Noto Serif CJK SC",
             "WenQuanYi Zen Hei", "WenQuanYi Micro Hei", "SimHei", "Microsoft YaHei")
LATIN_FONT = "DejaVu Sans"


class MissingFontWarning(UserWarning):
    """Chinese chart labels were asked for, but the system has no CJK font."""


@functools.cache
def cjk_font() -> str | None:
    """The first of ``CJK_FONTS`` matplotlib can use, registering system fonts it missed.

    matplotlib caches its font list when first imported; a font installed
    later (``apt-get install fonts-noto-cjk``) is found among the system fonts
    and added here.
    """
    from matplotlib import font_manager

    def known() -> str | None:
        names = {f.name for f in font_manager.fontManager.ttflist}
        return next((n for n in CJK_FONTS if n in names), None)

    found = known()
    if found is None:
        for path in font_manager.findSystemFonts():
            if any(k in path for k in ("CJK", "Han", "wqy", "WenQuanYi", "simhei", "msyh")):
                try:
                    font_manager.fontManager.addfont(path)
                except (OSError, RuntimeError, ValueError):
                    continue
        found = known()
    return found


def chart_language(lang: Language | None) -> Language:
    """The language charts can be labelled in: ``lang``, or English when it needs a CJK
    font the system lacks (with a ``MissingFontWarning`` saying what to install)."""
    if lang is None or lang.tag != "zh-CN":
        return lang or ENGLISH
    if cjk_font() is None:
        warnings.warn("no CJK font found: charts are labelled in English; install one "
                      "(apt-get install fonts-noto-cjk) for Chinese chart labels",
                      MissingFontWarning, stacklevel=2)
        return ENGLISH
    return lang


def _figure(width: float, height: float, ncols: int = 1) -> tuple[Figure, list]:
    fig = Figure(figsize=(width, height), dpi=_DPI, layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(1, ncols, squeeze=False)[0]
    return fig, list(axes)


def _png(fig: Figure) -> bytes:
    cjk = cjk_font()
    if cjk is not None:
        for text in fig.findobj(Text):
            text.set_fontfamily([LATIN_FONT, cjk])
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=_DPI, metadata={"Software": None})
    return buf.getvalue()


def figure(width: float, height: float, ncols: int = 1) -> tuple[Figure, list]:
    """A headless figure and its axes, for charts drawn in other report modules."""
    return _figure(width, height, ncols)


def png(fig: Figure) -> bytes:
    """The figure's PNG bytes without run-dependent metadata."""
    return _png(fig)


def grade_distribution_chart(counts: Mapping[str, int], *, lang: Language | None = None
                             ) -> bytes:
    """Customers per grade, best grade first, each bar labelled with count and share."""
    t = lang or ENGLISH
    grades = list(counts)
    values = np.array([counts[g] for g in grades], dtype=float)
    total = values.sum() or 1.0
    fig, (ax,) = _figure(7.5, 3.6)
    bars = ax.bar(grades, values, color=[GRADE_COLOURS.get(g, "#888888") for g in grades],
                  edgecolor="#333333", linewidth=0.6)
    labels = [f"{int(v):,}\n{v / total:.1%}" for v in values]
    ax.bar_label(bars, labels=labels, padding=2, fontsize=8)
    ax.set_ylim(0, max(values.max(initial=0.0), 1.0) * 1.22)
    ax.set_xlabel(t.gettext("grade (best first)"))
    ax.set_ylabel(t.gettext("customers"))
    ax.set_title(t.gettext("Grade distribution"))
    ax.spines[["top", "right"]].set_visible(False)
    return _png(fig)


def pd_histogram_chart(pd_values: np.ndarray, classes: np.ndarray,
                       band_edges: Sequence[float] = (), *, lang: Language | None = None
                       ) -> bytes:
    """PD distribution per customer class on a log scale, each class as its own share.

    Residential customers outnumber the others by far, so each class is
    normalised to its own count: the chart compares shapes, the legend gives sizes.
    """
    t = lang or ENGLISH
    pd_values = np.asarray(pd_values, dtype=float)
    classes = np.asarray(classes).astype(str)
    positive = pd_values[pd_values > 0]
    lo = max(float(positive.min()) if positive.size else 1e-4, 1e-6)
    hi = max(float(pd_values.max(initial=0.0)), lo * 10)
    bins = np.geomspace(lo, min(hi * 1.01, 1.0) if hi < 1.0 else 1.0, 41)
    fig, (ax,) = _figure(7.5, 3.6)
    for klass in [c for c in CLASS_COLOURS if c in set(classes)] + sorted(
            set(classes) - set(CLASS_COLOURS)):
        values = np.clip(pd_values[classes == klass], bins[0], bins[-1])
        weights = np.full(values.size, 1.0 / max(values.size, 1))
        ax.hist(values, bins=bins, weights=weights, histtype="step", linewidth=1.6,
                color=CLASS_COLOURS.get(klass),
                label=f"{label(t, 'customer class', klass)} (n={values.size:,})")
    for edge in band_edges:
        if bins[0] < edge < bins[-1]:
            ax.axvline(edge, color="#555555", linestyle=":", linewidth=0.9)
    ax.set_xscale("log")
    ax.set_xlabel(t.gettext("probability of default within 12 months (log scale)"))
    ax.set_ylabel(t.gettext("share of the class"))
    ax.set_title(t.gettext("PD distribution by customer class (dotted: grade band edges)")
                 if len(band_edges) else t.gettext("PD distribution by customer class"))
    if classes.size:
        ax.legend(fontsize=8, frameon=False)
    ax.spines[["top", "right"]].set_visible(False)
    return _png(fig)


def roc_ks_chart(fpr: np.ndarray, tpr: np.ndarray, auc: float, thresholds: np.ndarray,
                 ks: float, ks_threshold: float, *, lang: Language | None = None) -> bytes:
    """ROC curve (left) and the KS separation of defaulters and non-defaulters (right).

    ``fpr``/``tpr`` are taken at descending PD ``thresholds``: the share of
    non-defaulters and of defaulters whose PD is at least the threshold.
    """
    t = lang or ENGLISH
    fig, (roc, kss) = _figure(10.0, 4.0, ncols=2)
    shown_auc, shown_ks, shown_at = f"{auc:.3f}", f"{ks:.3f}", f"{ks_threshold:.2%}"
    roc.plot(fpr, tpr, color=AFTER, linewidth=1.8,
             label=t.gettext("model (AUC %(auc)s)", auc=shown_auc))
    roc.plot([0, 1], [0, 1], color=BEFORE, linestyle="--", linewidth=1.0,
             label=t.gettext("chance"))
    roc.set_xlabel(t.gettext("false positive rate (non-defaulters flagged)"))
    roc.set_ylabel(t.gettext("true positive rate (defaulters flagged)"))
    roc.set_title(f"ROC: AUC {auc:.3f}, Gini {2 * auc - 1:.3f}")
    roc.set_aspect("equal")
    roc.legend(loc="lower right", fontsize=8, frameon=False)

    order = np.argsort(thresholds)
    x, f, p = thresholds[order], fpr[order], tpr[order]
    keep = np.isfinite(x) & (x > 0)
    x, f, p = x[keep], f[keep], p[keep]
    kss.plot(x, p, color="#d73027", linewidth=1.6, label=t.gettext("defaulters with PD >= x"))
    kss.plot(x, f, color="#4575b4", linewidth=1.6,
             label=t.gettext("non-defaulters with PD >= x"))
    if x.size:
        i = int(np.argmax(p - f))
        kss.vlines(x[i], f[i], p[i], color="#333333", linewidth=1.2)
        kss.annotate(t.gettext("KS %(ks)s\nat PD %(pd)s", ks=shown_ks, pd=shown_at),
                     (x[i], (f[i] + p[i]) / 2),
                     xytext=(6, 0), textcoords="offset points", fontsize=8, va="center")
        kss.set_xscale("log")
    kss.set_xlabel(t.gettext("PD threshold x (log scale)"))
    kss.set_ylabel(t.gettext("share of the group"))
    kss.set_title(f"Kolmogorov-Smirnov: KS {ks:.3f}")
    kss.legend(loc="lower left", fontsize=8, frameon=False)
    for ax in (roc, kss):
        ax.spines[["top", "right"]].set_visible(False)
    return _png(fig)


def calibration_chart(table: pd.DataFrame, *, lang: Language | None = None) -> bytes:
    """Observed default rate per grade with its 95 % interval, against the mean predicted PD.

    ``table`` has one row per grade (best first) and columns ``grade``,
    ``customers``, ``observed``, ``low``, ``high`` and ``mean_pd``.
    """
    t = lang or ENGLISH
    grades = table["grade"].astype(str).tolist()
    x = np.arange(len(grades))
    observed = table["observed"].to_numpy(dtype=float)
    err = np.vstack([observed - table["low"].to_numpy(dtype=float),
                     table["high"].to_numpy(dtype=float) - observed])
    fig, (ax,) = _figure(7.5, 3.6)
    ax.bar(x, observed, color=[GRADE_COLOURS.get(g, "#888888") for g in grades],
           edgecolor="#333333", linewidth=0.6, label=t.gettext("observed default rate"))
    ax.errorbar(x, observed, yerr=np.clip(err, 0, None), fmt="none", ecolor="#333333",
                capsize=4, linewidth=1.0, label=t.gettext("95 % interval (Wilson)"))
    ax.plot(x, table["mean_pd"].to_numpy(dtype=float), "D", color="#2c7fb8", markersize=6,
            label=t.gettext("mean predicted PD"))
    ax.set_xticks(x, [f"{g}\nn={int(n):,}" for g, n in zip(grades, table["customers"],
                                                           strict=True)])
    ax.set_xlabel(t.gettext("grade (best first)"))
    ax.set_ylabel(t.gettext("12-month default rate"))
    ax.yaxis.set_major_formatter(lambda v, _pos: f"{v:.0%}" if v >= 0.1 else f"{v:.1%}")
    ax.set_title(t.gettext("Observed default rate by grade (calibration)"))
    ax.legend(fontsize=8, frameon=False, loc="upper left")
    ax.spines[["top", "right"]].set_visible(False)
    return _png(fig)


def policy_counts_chart(counts: pd.DataFrame, segment: str, *,
                        segments: Sequence[str] = (), grades: Sequence[str] = (),
                        lang: Language | None = None) -> bytes:
    """Customers receiving each policy, by grade, one heatmap panel per segment value.

    ``counts`` has columns ``policy``, ``segment``, ``grade`` and ``customers``.
    ``segments`` and ``grades`` fix the panel and column order (values found
    in ``counts`` but not listed follow in the order they appear).
    """
    t = lang or ENGLISH
    policies = sorted(counts["policy"].astype(str).unique())
    segments = list(dict.fromkeys([*segments, *counts["segment"].astype(str)]))
    grades = list(dict.fromkeys([*grades, *counts["grade"].astype(str)]))
    if not policies or not segments:
        fig, (ax,) = _figure(7.5, 1.6)
        ax.axis("off")
        ax.text(0.5, 0.5, t.gettext("No policies were assigned."), ha="center", va="center")
        return _png(fig)
    height = 1.2 + 0.32 * len(policies)
    fig, axes = _figure(min(3.2 + 2.3 * len(segments), 16.0), height, ncols=len(segments))
    cube = counts.pivot_table(index="policy", columns=["segment", "grade"], values="customers",
                              aggfunc="sum", fill_value=0)
    vmax = max(float(counts["customers"].max()), 1.0)
    image = None
    for ax, seg in zip(axes, segments, strict=True):
        grid = np.array([[cube.get((seg, g), pd.Series(dtype=float)).get(p, 0) for g in grades]
                         for p in policies], dtype=float)
        # A square-root scale keeps rare policies visible next to one given to most customers.
        image = ax.imshow(grid, cmap="Blues", norm=PowerNorm(0.5, vmin=0, vmax=vmax),
                          aspect="auto")
        for (i, j), v in np.ndenumerate(grid):
            if v:
                ax.text(j, i, f"{int(v):,}", ha="center", va="center", fontsize=7,
                        color="white" if v > vmax * 0.4 else "#222222")
        ax.set_xticks(range(len(grades)), grades, fontsize=8)
        ax.set_yticks(range(len(policies)), policies if ax is axes[0] else [], fontsize=8)
        ax.set_title(f"{label(t, 'segment', segment)}: {label(t, 'segment value', seg)}",
                     fontsize=9)
    if image is not None:
        fig.colorbar(image, ax=axes, shrink=0.8, label=t.gettext("customers"))
    fig.suptitle(t.gettext("Policies by grade and segment"), fontsize=11)
    return _png(fig)


def shock_word(t: Language, shock: str) -> str:
    """A shock's label in ``t``'s words: ``+1 sd`` is written out; a share stays a number."""
    return t.gettext("+1 standard deviation") if shock == "+1 sd" else shock


def sensitivity_chart(frame: pd.DataFrame, value_label: str = "score", *,
                      percent: bool = False, lang: Language | None = None) -> bytes:
    """Before and after bars per risk-factor group, one panel per shock.

    ``frame`` has columns ``group``, ``shock``, ``before`` and ``after``; the
    shocks keep the order in which they first appear. Each "after" bar is
    labelled with its relative change, which stays readable when a shock
    moves the value by a few per cent only. ``percent`` shows values as %.
    """
    t = lang or ENGLISH
    shocks = list(dict.fromkeys(frame["shock"].astype(str)))
    ncols = max(len(shocks), 1)
    fig, axes = _figure(min(2.0 + 3.2 * ncols, 16.0), 4.2, ncols=ncols)
    lows = [0.0]
    highs = [0.0]
    for ax, shock in zip(axes, shocks, strict=False):
        part = frame[frame["shock"].astype(str) == shock]
        groups = part["group"].astype(str).tolist()
        y = np.arange(len(groups))
        before = part["before"].to_numpy(dtype=float)
        after = part["after"].to_numpy(dtype=float)
        lows.append(float(np.nanmin(np.concatenate([before, after]), initial=0.0)))
        highs.append(float(np.nanmax(np.concatenate([before, after]), initial=0.0)))
        ax.barh(y - 0.2, before, height=0.4, color=BEFORE, label=t.gettext("before"))
        bars = ax.barh(y + 0.2, after, height=0.4, color=AFTER, label=t.gettext("after"))
        change = np.divide(after - before, np.abs(before), out=np.full(after.size, np.nan),
                           where=before != 0)
        ax.bar_label(bars, labels=["" if np.isnan(c) else f"{c:+.1%}" for c in change],
                     padding=2, fontsize=7)
        if percent:
            ax.xaxis.set_major_formatter(lambda v, _pos: f"{v:.1%}")
        ax.set_yticks(y, [label(t, "risk group", g) for g in groups] if ax is axes[0] else [],
                      fontsize=8)
        ax.invert_yaxis()
        ax.set_title(t.gettext("shock: %(shock)s", shock=shock_word(t, shock)), fontsize=9)
        ax.set_xlabel(value_label, fontsize=8)
        ax.spines[["top", "right"]].set_visible(False)
    for ax in axes:
        ax.set_xlim(min(lows) * 1.1, max(highs) * 1.3 or 1.0)
    fig.legend(*axes[0].get_legend_handles_labels(), loc="outside lower center", ncols=2,
               fontsize=8, frameon=False)
    fig.suptitle(t.gettext("Sensitivity by risk-factor group: before vs after each shock"),
                 fontsize=11)
    return _png(fig)
