"""The auditor's questions, answered as report sections: each a plain dict for the template.

- **rule hits**: every rule of every table with the customers it decided for,
  the rules no customer reached listed by name (``engine.report.rulehits``);
- **overrides**: per override rule and (PD-only grade, final grade), the
  customers it moved and, with outcomes, their default rate beside the rate
  of the customers left at the PD-only grade and of those the PD alone put
  in the final grade;
- **disparity** by customer class and by consumption class: shares in grade
  C, with a security deposit, with a supply-cut warning, and how often each
  principal reason is given;
- **calibration**: one plain sentence per grade whose defaults fall outside
  the 99 % binomial interval of its mean PD (``engine.modelops.calibration``);
- **stability**: score PSI, grade PSI and the indicators that moved most per
  model, from ``engine.modelops.monitoring`` against the training population;
- **provenance**, **service quality** and **payment events and collections**
  (``engine.report.provenance``, ``engine.servicequality``,
  ``engine.report.payments``).

Every sentence is built from the numbers of its own table.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from engine.language import Language
from engine.modelops.calibration import CONFIDENCE, band_calibration
from engine.modelops.monitoring import MonitorResult, level
from engine.records import CLASSES, scale_grades
from engine.report import charts, sections
from engine.report.payments import PaymentFacts, payment_section
from engine.report.servicequality import service_summary
from engine.servicequality.evaluation import ServiceQuality
from engine.vocabulary import label

__all__ = ["audit_sections", "calibration_sentences", "disparity_section", "override_section",
           "rule_hit_section", "stability_section"]

DEPOSIT, CUT_WARNING = "security_deposit", "supply_cut_warning"
REASONS = ("reason_1", "reason_2", "reason_3", "reason_4")
_TOP_REASONS = 6


def _pct(t: Language, value: float | None) -> str:
    return t.share(value, 2) if value is not None and np.isfinite(value) else t.gettext("n/a")


def _fixed(value: float) -> str:
    """A PSI or CSI as the tables show it: four decimals."""
    return format(value, ".4f")


def rule_hit_section(hits: pd.DataFrame | None) -> dict[str, Any] | None:
    """Every rule with its hits, grouped by table; the zero-hit rules by name."""
    if hits is None:
        return None
    tables = []
    for table, part in hits.groupby("table", sort=False):
        tables.append({"table": str(table), "file": str(part["file"].iloc[0]),
                       "rules": part.to_dict("records")})
    zero = hits[hits["customers"] == 0]
    return {"tables": tables, "zero": zero.to_dict("records"), "rules": len(hits),
            "decided": int(hits.attrs.get("decided", 0))}


def _holds(decisions: pd.DataFrame, policy: str) -> np.ndarray:
    text = decisions["policies"].astype(object).where(decisions["policies"].notna(), "")
    return np.array([policy in str(p).split(";") for p in text], dtype=bool)


def _overridden(decisions: pd.DataFrame) -> np.ndarray:
    o = decisions["override"].astype(object).where(decisions["override"].notna(), "")
    o = o.astype(str).str.strip()
    return (o.ne("") & o.ne("None") & o.ne("nan")).to_numpy()


def override_section(decisions: pd.DataFrame, y: pd.Series | None, t: Language
                     ) -> dict[str, Any]:
    """Per (override rule, PD-only grade, final grade): customers and, with outcomes, rates."""
    moved = _overridden(decisions)
    band = decisions["band_grade"].astype(str).to_numpy()
    final = decisions["grade"].astype(str).to_numpy()
    labels = None if y is None else y.to_numpy()
    rows, sentences = [], []
    frame = pd.DataFrame({"rule": decisions["override"].astype(str).to_numpy()[moved],
                          "band": band[moved], "grade": final[moved]})
    for (rule, b, g), part in frame.groupby(["rule", "band", "grade"], sort=False):
        mask = moved & (decisions["override"].astype(str).to_numpy() == rule) & (band == b) \
            & (final == g)
        row: dict[str, Any] = {"rule": rule, "band": b, "grade": g, "customers": len(part),
                               "defaults": None, "rate": None, "band_rate": None,
                               "grade_rate": None}
        if labels is not None:
            stay_b, pd_g = ~moved & (final == b), ~moved & (final == g)
            row.update(defaults=int(labels[mask].sum()), rate=float(labels[mask].mean()),
                       band_rate=float(labels[stay_b].mean()) if stay_b.any() else None,
                       grade_rate=float(labels[pd_g].mean()) if pd_g.any() else None)
            if b != g:
                sentences.append(t.ngettext(
                    "%(rule)s moved %(num)s customer from %(band)s (the PD-only grade) to "
                    "%(grade)s; %(defaults)s defaulted (%(rate)s), against %(band_rate)s for "
                    "customers the PD put in %(band)s and left there, and %(grade_rate)s for "
                    "customers the PD alone put in %(grade)s.",
                    "%(rule)s moved %(num)s customers from %(band)s (the PD-only grade) to "
                    "%(grade)s; %(defaults)s of them defaulted (%(rate)s), against "
                    "%(band_rate)s for customers the PD put in %(band)s and left there, and "
                    "%(grade_rate)s for customers the PD alone put in %(grade)s.", len(part),
                    rule=rule, num=t.count(len(part)), band=b, grade=g,
                    defaults=t.count(row["defaults"]), rate=_pct(t, row["rate"]),
                    band_rate=_pct(t, row["band_rate"]), grade_rate=_pct(t, row["grade_rate"])))
        rows.append(row)
    order = {g: i for i, g in enumerate(scale_grades())}
    rows.sort(key=lambda r: (r["rule"], order.get(r["band"], 9), order.get(r["grade"], 9)))
    return {"rows": rows, "sentences": sentences, "overridden": int(moved.sum()),
            "labelled": labels is not None}


def _reason_shares(part: pd.DataFrame) -> dict[str, float]:
    present = [c for c in REASONS if c in part.columns]
    if not present or not len(part):
        return {}
    stacked = part[present].stack()
    counts = stacked.astype(str).value_counts()
    return {str(k): int(v) / len(part) for k, v in counts.items()}


def disparity_section(decisions: pd.DataFrame, t: Language) -> dict[str, Any]:
    """Shares in C, with a deposit, with a cut warning, and the reasons, per class and segment."""
    c = decisions["grade"].astype(str).eq("C").to_numpy()
    deposit, warning = _holds(decisions, DEPOSIT), _holds(decisions, CUT_WARNING)
    groups = []
    for column, kind, order in (("customer_class", "customer class", CLASSES),
                                ("consumption_class", "segment value",
                                 ("large", "average", "small"))):
        values = decisions[column].astype(str).to_numpy()
        present = [v for v in order if v in set(values)] + sorted(set(values) - set(order))
        rows = []
        for v in present:
            mask = values == v
            n = int(mask.sum())
            reasons = _reason_shares(decisions[mask])
            top = sorted(reasons.items(), key=lambda kv: -kv[1])[:_TOP_REASONS]
            rows.append({"name": label(t, kind, v), "customers": n,
                         "c_share": float(c[mask].mean()), "deposit": float(deposit[mask].mean()),
                         "warning": float(warning[mask].mean()),
                         "reasons": [{"indicator": k, "share": s} for k, s in top]})
        groups.append({"by": label(t, "segment", column) if column != "customer_class"
                       else t.gettext("customer class"), "rows": rows})
    overall = _reason_shares(decisions)
    return {"groups": groups, "reasons": sorted(overall.items(), key=lambda kv: -kv[1]),
            "total": {"c_share": float(c.mean()) if len(c) else 0.0,
                      "deposit": float(deposit.mean()) if len(c) else 0.0,
                      "warning": float(warning.mean()) if len(c) else 0.0}}


def calibration_sentences(calibration: Sequence[dict[str, Any]], tested: pd.DataFrame,
                          t: Language) -> list[str]:
    """A sentence per grade whose defaults fall outside the binomial interval of its mean PD.

    ``tested`` is ``engine.modelops.calibration.band_calibration`` of the same
    grades: ``low``/``high`` bound the default rate a binomial with the grade's
    mean PD gives with probability ``CONFIDENCE``.
    """
    out = []
    bounds = tested.set_index("grade")
    for r in calibration:
        if r["agrees"]:
            continue
        b = bounds.loc[r["grade"]]
        n = int(r["customers"])
        values = {"grade": r["grade"], "defaults": t.count(int(r["defaults"])), "n": t.count(n),
                  "observed": _pct(t, r["observed"]), "predicted": _pct(t, r["mean_pd"]),
                  "low": t.count(round(b["low"] * n)), "high": t.count(round(b["high"] * n)),
                  "confidence": f"{CONFIDENCE * 100:.0f}"}
        if r["observed"] > b["high"]:
            out.append(t.gettext(
                "Grade %(grade)s: %(defaults)s of %(n)s customers defaulted (%(observed)s) "
                "against a mean predicted PD of %(predicted)s. At that PD, %(low)s to %(high)s "
                "defaults would fall inside the %(confidence)s %% binomial interval; more were "
                "seen, so the model understates the risk of this grade.", **values))
        else:
            out.append(t.gettext(
                "Grade %(grade)s: %(defaults)s of %(n)s customers defaulted (%(observed)s) "
                "against a mean predicted PD of %(predicted)s. At that PD, %(low)s to %(high)s "
                "defaults would fall inside the %(confidence)s %% binomial interval; fewer were "
                "seen, so the model overstates the risk of this grade.", **values))
    return out


def stability_section(result: MonitorResult | None, t: Language) -> dict[str, Any] | None:
    """Per model: score and grade PSI with their level, and the indicators that moved most."""
    if result is None:
        return None
    models = []
    words = {"stable": t.gettext("stable"), "watch": t.gettext("watch"),
             "breach": t.gettext("breach")}
    for d in result.drifts:
        csi = d.csi.sort_values("csi", ascending=False).head(5)
        top = csi.iloc[0] if len(csi) else None
        sentence = t.gettext(
            "Model %(model)s: score PSI %(psi)s (%(level)s) and grade PSI %(grade_psi)s "
            "against %(baseline)s customers of the baseline and %(current)s now.",
            model=d.model_id, psi=_fixed(d.score_psi), level=words[level(d.score_psi)],
            grade_psi=_fixed(d.grade_psi), baseline=t.count(d.baseline_rows),
            current=t.count(d.current_rows))
        if top is not None and _fixed(float(top["csi"])) == _fixed(0.0):
            sentence = sections.joined(t, sentence, t.gettext(
                "No indicator moved: every CSI rounds to 0.0000."))
        elif top is not None:
            sentence = sections.joined(t, sentence, t.gettext(
                "The indicator that moved most is %(indicator)s (CSI %(csi)s, %(level)s).",
                indicator=str(top["indicator"]), csi=_fixed(float(top["csi"])),
                level=words[level(float(top["csi"]))]))
        models.append({"model_id": d.model_id, "segment": d.segment, "status": d.status,
                       "status_word": words[d.status], "score_psi": d.score_psi,
                       "grade_psi": d.grade_psi, "baseline_rows": d.baseline_rows,
                       "current_rows": d.current_rows, "sentence": sentence,
                       "csi": [{"indicator": str(r["indicator"]), "csi": float(r["csi"]),
                                "level": words[level(float(r["csi"]))]}
                               for r in csi.to_dict("records")]})
    return {"models": models, "baseline": result.baseline, "current": result.current,
            "rejected": dict(result.rejected)}


def _disparity_chart(section: dict[str, Any], ct: Language) -> bytes:
    """Shares in C, with a deposit and with a cut warning, per customer class."""
    rows = section["groups"][0]["rows"]
    fig, (ax,) = charts.figure(7.5, 3.2)
    x = np.arange(len(rows))
    measures = (("c_share", ct.gettext("grade C"), charts.GRADE_COLOURS["C"]),
                ("deposit", ct.gettext("security deposit"), "#fc8d59"),
                ("warning", ct.gettext("supply-cut warning"), "#7b3294"))
    for i, (key, name, colour) in enumerate(measures):
        ax.bar(x + (i - 1) * 0.27, [r[key] for r in rows], 0.27, label=name, color=colour)
    ax.set_xticks(x, [r["name"] for r in rows])
    ax.yaxis.set_major_formatter(lambda v, _pos: f"{v:.0%}")
    ax.set_ylabel(ct.gettext("share of the class's customers"))
    ax.set_title(ct.gettext("Low grades, deposits and cut warnings by customer class"))
    ax.legend(fontsize=8, frameon=False)
    ax.spines[["top", "right"]].set_visible(False)
    return charts.png(fig)


def audit_sections(decisions: pd.DataFrame, y: pd.Series | None, t: Language, ct: Language, *,
                   performance: dict[str, Any] | None, rule_hits: pd.DataFrame | None,
                   stability: MonitorResult | None, provenance: Mapping[str, Any] | None,
                   service_quality: ServiceQuality | None,
                   payments: PaymentFacts | None = None,
                   policy_title: Callable[[str], str] = str) -> dict[str, Any]:
    """Every further section of the report, and (under ``charts``) the charts they draw."""
    disparity = disparity_section(decisions, t)
    drawn = [sections.chart("disparity", t.gettext("Disparity by customer class"),
                            _disparity_chart(disparity, ct),
                            t.gettext("Share of each customer class in grade C, holding a "
                                      "security deposit, and warned of a supply cut."))]
    calibration = None
    if performance is not None:
        rows = performance["calibration"]
        tested = band_calibration(pd.DataFrame(rows))
        calibration = {"sentences": calibration_sentences(rows, tested, t),
                       "rows": [{**r, "low_count": round(b["low"] * r["customers"]),
                                 "high_count": round(b["high"] * r["customers"])}
                                for r, b in zip(rows, tested.to_dict("records"), strict=True)]}
    return {
        "rule_hits": rule_hit_section(rule_hits),
        "overrides": override_section(decisions, y, t),
        "disparity": disparity,
        "calibration": calibration,
        "stability": stability_section(stability, t),
        "provenance": dict(provenance) if provenance is not None else None,
        "service": (service_summary(service_quality, t, policy_title)
                    if service_quality is not None else None),
        "payments": payment_section(payments, t) if payments is not None else None,
        "charts": drawn,
    }
