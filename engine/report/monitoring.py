"""The drift report of ``gridcredit monitor``: one self-contained HTML page with charts.

Built from a ``MonitorResult`` alone, rendered through the sandboxed,
autoescaping Jinja2 template ``policies/templates/monitor.html.j2``; charts
are PNG data URIs, so the page can be mailed or archived as one file.
"""

from __future__ import annotations

import base64
import datetime as dt
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from jinja2 import FileSystemLoader, StrictUndefined
from jinja2.sandbox import SandboxedEnvironment

from engine.errors import ConfigError
from engine.modelops import BREACH, WATCH, Drift, MonitorResult
from engine.report import charts

__all__ = ["TEMPLATE", "monitor_html", "write_monitor_report"]

TEMPLATE = "monitor.html.j2"
LEVEL_COLOURS = {"stable": "#1a9850", "watch": "#e0a800", "breach": "#d73027"}


def _uri(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def _shares_chart(table: pd.DataFrame, label: str, title: str) -> bytes:
    fig, (ax,) = charts.figure(8.0, 3.4)
    x = np.arange(len(table))
    ax.bar(x - 0.2, table["baseline_share"], 0.4, label="baseline", color=charts.BEFORE)
    ax.bar(x + 0.2, table["current_share"], 0.4, label="current", color=charts.AFTER)
    ax.set_xticks(x, table[label].astype(str), rotation=30 if len(x) > 6 else 0,
                  ha="right" if len(x) > 6 else "center", fontsize=7)
    ax.set_ylabel("share of customers")
    ax.set_title(f"{title}: PSI {table['psi'].sum():.3f}")
    fig.legend(frameon=False, fontsize=8, loc="outside right upper")
    ax.spines[["top", "right"]].set_visible(False)
    return charts.png(fig)


def _csi_chart(csi: pd.DataFrame) -> bytes:
    fig, (ax,) = charts.figure(8.0, 0.6 + 0.28 * max(len(csi), 3))
    y = np.arange(len(csi))
    ax.barh(y, csi["csi"], color=[LEVEL_COLOURS[lv] for lv in csi["level"]])
    for edge, style in ((WATCH, "--"), (BREACH, "-")):
        ax.axvline(edge, color="#555555", linestyle=style, linewidth=0.8)
    ax.set_yticks(y, csi["indicator"], fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel(f"CSI on the model's bins (watch {WATCH:.2f}, breach {BREACH:.2f})")
    ax.set_title("Characteristic stability per indicator")
    ax.spines[["top", "right"]].set_visible(False)
    return charts.png(fig)


def _calibration_chart(table: pd.DataFrame, outcome: str) -> bytes:
    shown = table[table["customers"] > 0]
    fig, (ax,) = charts.figure(7.0, 3.4)
    x = np.arange(len(shown))
    low, high = shown["low"].to_numpy(float), shown["high"].to_numpy(float)
    mid = shown["mean_pd"].to_numpy(float)
    ax.errorbar(x, mid, yerr=[mid - low, high - mid], fmt="D", color="#2c7fb8",
                capsize=4, label="predicted PD and its binomial interval")
    ax.scatter(x, shown["observed"], color=["#1a9850" if a else "#d73027"
                                            for a in shown["agrees"]],
               zorder=3, label="observed rate")
    ax.set_xticks(x, [f"{g}\nn={n:,}" for g, n in zip(shown["grade"], shown["customers"],
                                                    strict=True)], fontsize=8)
    ax.set_ylabel(outcome)
    ax.set_title("Calibration by grade (red: outside the interval)")
    fig.legend(frameon=False, fontsize=8, loc="outside lower center", ncols=2)
    ax.spines[["top", "right"]].set_visible(False)
    return charts.png(fig)


def _records(frame: pd.DataFrame | None) -> list[dict[str, Any]]:
    if frame is None:
        return []
    return [{k: (None if isinstance(v, float) and np.isnan(v) else v) for k, v in r.items()}
            for r in frame.to_dict("records")]


def _section(d: Drift) -> dict[str, Any]:
    out: dict[str, Any] = {
        "model_id": d.model_id, "segment": d.segment, "status": d.status,
        "baseline_rows": d.baseline_rows, "current_rows": d.current_rows,
        "score_psi": d.score_psi, "grade_psi": d.grade_psi,
        "findings": [{"level": lv, "text": t} for lv, t in d.findings],
        "score": _records(d.score), "grades": _records(d.grades), "csi": _records(d.csi),
        "performance": _records(d.performance), "calibration": _records(d.calibration),
        "performance_source": d.performance_source, "performance_note": d.performance_note,
        "charts": [
            {"title": "Score distribution", "src": _uri(_shares_chart(
                d.score, "bin", "Score (z) at the baseline's deciles"))},
            {"title": "Grade shift", "src": _uri(_shares_chart(d.grades, "grade",
                                                               "Grade distribution"))},
            {"title": "Indicator stability", "src": _uri(_csi_chart(d.csi))},
        ],
    }
    if d.calibration is not None and (d.calibration["customers"] > 0).any():
        out["charts"].append({"title": "Calibration", "src": _uri(
            _calibration_chart(d.calibration, d.outcome))})
    return out


def monitor_html(result: MonitorResult, templates_dir: str | Path) -> str:
    """The report page of ``result``, rendered with the project's template."""
    folder = Path(templates_dir)
    if not (folder / TEMPLATE).is_file():
        raise ConfigError(f"monitor template '{TEMPLATE}' not found; set --home or "
                          "GRIDCREDIT_HOME to a gridcredit project", file=str(folder))
    env = SandboxedEnvironment(loader=FileSystemLoader(str(folder)), autoescape=True,
                               undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    env.filters["num"] = lambda v, digits=3: "" if v is None else f"{float(v):.{digits}f}"
    env.filters["pct"] = lambda v, digits=2: "" if v is None else f"{float(v):.{digits}%}"
    return env.get_template(TEMPLATE).render(
        baseline=result.baseline, current=result.current, rejected=result.rejected,
        rejected_by=result.rejected_by,
        breached=result.breached, watch=WATCH, breach=BREACH,
        created_at=dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat(),
        sections=[_section(d) for d in result.drifts])


def write_monitor_report(result: MonitorResult, path: str | Path,
                         templates_dir: str | Path) -> Path:
    """Write the HTML report; the folder is created if needed."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(monitor_html(result, templates_dir), encoding="utf-8")
    return path
