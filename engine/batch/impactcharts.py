"""The impact report's charts: the grade transition heatmap and the policy deltas, as PNG.

Drawn like the auditor report's (``engine.report.charts``: headless Agg
figures, no run-dependent PNG metadata, the CJK font fallback), from the
frames ``engine.batch.impact.compare`` counted. Labels are gettext messages
in ``lang``; pass ``charts.chart_language(lang)`` so Chinese labels are only
asked for when a CJK font is installed.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.colors import PowerNorm
from matplotlib.patches import Rectangle

from engine.language import ENGLISH, Language
from engine.report import charts

__all__ = ["policy_delta_chart", "transition_heatmap"]

GAINED, LOST = "#2c7fb8", "#d73027"


def transition_heatmap(transitions: pd.DataFrame, *, lang: Language | None = None) -> bytes:
    """Customers by baseline grade (rows) and candidate grade (columns), each cell counted;
    the diagonal (no move) is grey, moves are coloured on a square-root scale."""
    t = lang or ENGLISH
    grid = transitions.to_numpy(dtype=float)
    names = [t.gettext("none") if n == "none" else str(n) for n in transitions.index]
    size = 1.6 + 0.62 * len(names)
    fig, (ax,) = charts.figure(size + 1.4, size)
    moved = grid.copy()
    np.fill_diagonal(moved, 0.0)
    vmax = max(float(moved.max(initial=0.0)), 1.0)
    image = ax.imshow(moved, cmap="Oranges", norm=PowerNorm(0.5, vmin=0, vmax=vmax))
    for (i, j), v in np.ndenumerate(grid):
        colour = "white" if i != j and v > vmax * 0.5 else "#222222"
        ax.text(j, i, f"{int(v):,}", ha="center", va="center", fontsize=8, color=colour,
                fontweight="bold" if i != j and v else "normal", zorder=2)
    for k in range(len(names)):
        ax.add_patch(Rectangle((k - 0.5, k - 0.5), 1, 1, facecolor="#e6e6e6",
                               edgecolor="none", zorder=1))
    ax.set_xticks(range(len(names)), names)
    ax.set_yticks(range(len(names)), names)
    ax.set_xlabel(t.gettext("candidate grade"))
    ax.set_ylabel(t.gettext("baseline grade"))
    ax.set_title(t.gettext("Grade transitions"))
    fig.colorbar(image, ax=ax, shrink=0.8, label=t.gettext("customers who move"))
    return charts.png(fig)


def policy_delta_chart(policies: pd.DataFrame, *, lang: Language | None = None) -> bytes:
    """Per policy, customers gaining it (to the right) and losing it (to the left).

    ``policies`` has columns ``policy``, ``gained`` and ``lost``
    (``Impact.policies``); the largest change is drawn first.
    """
    t = lang or ENGLISH
    frame = policies.assign(size=policies["gained"] + policies["lost"]).sort_values(
        "size", ascending=False, kind="mergesort")
    gained = frame["gained"].to_numpy(dtype=float)
    lost = frame["lost"].to_numpy(dtype=float)
    y = np.arange(len(frame))
    fig, (ax,) = charts.figure(8.0, 1.2 + 0.38 * max(len(frame), 2))
    right = ax.barh(y, gained, color=GAINED, label=t.gettext("gained"))
    left = ax.barh(y, -lost, color=LOST, label=t.gettext("lost"))
    ax.bar_label(right, labels=[f"+{int(v):,}" if v else "" for v in gained], padding=3,
                 fontsize=8)
    ax.bar_label(left, labels=[f"-{int(v):,}" if v else "" for v in lost], padding=3,
                 fontsize=8)
    reach = max(float(gained.max(initial=0.0)), float(lost.max(initial=0.0)), 1.0) * 1.25
    ax.set_xlim(-reach, reach)
    ax.axvline(0, color="#555555", linewidth=0.8)
    ax.set_yticks(y, frame["policy"].astype(str), fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel(t.gettext("customers"))
    ax.set_title(t.gettext("Policies gained and lost"))
    ax.legend(frameon=False, fontsize=8, loc="upper left")
    ax.spines[["top", "right"]].set_visible(False)
    return charts.png(fig)
