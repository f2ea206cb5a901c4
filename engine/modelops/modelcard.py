"""The model card: a markdown page beside each artifact, rendered from the artifact alone.

Because the card is generated from the JSON it describes, the two cannot
drift apart: a reviewer reads the same coefficients, bins and metrics that
scoring uses.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from engine.modelops.calibration import band_calibration
from engine.modelops.evaluation import markdown_table
from engine.scoring import ScoreModel
from engine.scoring.points import points_of

__all__ = ["render"]


def render(doc: dict[str, Any]) -> str:
    """Markdown model card of an artifact document."""
    label = doc.get("label") or {"target": doc["target"], "bad": ["1"], "good": ["0"],
                                 "definition": f"{doc['target']} = 1 marks a default"}
    lines = [
        f"# Model card: {doc['model_id']}",
        "",
        f"Fisher linear discriminant on weight-of-evidence features, segment "
        f"**{doc['segment']}**, target `{label['target']}`. Higher z means a customer is "
        "more likely to default; the PD is the calibration of z below.",
        "",
        "## Label",
        "",
        f"- default (1): `{label['target']}` in {{{', '.join(map(str, label['bad']))}}}",
        f"- no default (0): `{label['target']}` in {{{', '.join(map(str, label['good']))}}}",
        f"- definition: {label['definition']}",
        "",
        "## Intended use",
        "",
        *_intended_use(doc),
        "",
        "## Limitations",
        "",
        *_limitations(doc),
        "",
        *_training_data(doc),
        *_performance(doc),
        *_points(doc),
        *_indicator_tables(doc),
    ]
    return "\n".join(lines)


def _training_data(doc: dict[str, Any]) -> list[str]:
    tr = doc["training"]
    pop = doc.get("population") or {}
    return [
        "## Training data",
        "",
        f"- source: {tr.get('source') or 'not recorded'}",
        *([f"- rows in the file: {pop['rows_in']:,}; left out by the spec's filter: "
           f"{pop['filtered_out']:,}" + (f" ({pop['filter']})" if pop.get("filter") else "")]
          if pop else []),
        f"- rows: {tr['rows']:,}, defaults: {tr['defaults']:,} "
        f"({tr['defaults'] / tr['rows']:.2%})",
        f"- data sha256: `{tr['data_sha256']}` (the artifact is a function of the data and "
        "the settings: the same inputs give the same bytes)",
        "- libraries: " + ", ".join(f"{k} {v}" for k, v in doc["versions"].items()),
        "",
    ]


def _performance(doc: dict[str, Any]) -> list[str]:
    """Cross-validated measures, calibration, bands with governance, and deciles."""
    cv, tr, gov = doc["cv_metrics"], doc["training"], doc["governance"]
    return [
        f"## Cross-validated performance ({tr['folds']}-fold stratified, seed {tr['seed']})",
        "",
        "Measured on " + cv.get("population", "out-of-fold predictions on the training rows")
        + ". These are not figures on later customers: use `gridcredit evaluate --oot-date` "
        "or `gridcredit monitor --labels` for those.",
        "",
        "| metric | mean | sd |",
        "|---|---|---|",
        *(f"| {m.upper()} | {cv[f'{m}_mean']:.4f} | {cv[f'{m}_std']:.4f} |"
          for m in ("auc", "ks", "gini")),
        f"| Brier (out-of-fold PD) | {cv['brier_oof']:.4f} | |",
        "",
        markdown_table(pd.DataFrame(cv["folds"])),
        "",
        "## Calibration",
        "",
        _calibration_text(doc["calibration"]),
        "",
        "## Default rate per master-scale band (held-out)",
        "",
        markdown_table(pd.DataFrame(doc["bands"])),
        "",
        "Calibration test per band (binomial, 99 %; on held-out PDs):",
        "",
        markdown_table(band_calibration(pd.DataFrame(doc["bands"]))),
        "",
        "Governance: " + ("passed" if gov["passed"] else "FAILED: " + "; ".join(gov["problems"]))
        + ("" if gov["checked"] else " (check not enforced for this run)") + ".",
        "",
        "## Default rate per score decile (out-of-fold, 1 = lowest risk)",
        "",
        markdown_table(pd.DataFrame(doc["deciles"])),
        "",
    ]


def _indicator_tables(doc: dict[str, Any]) -> list[str]:
    """The indicators with their coefficients, then each one's bins."""
    trends = all("trend" in e for e in doc["indicators"])
    lines = [
        "## Indicators",
        "",
        "| indicator | group | " + ("trend | " if trends else "")
        + "bins | coefficient | mean WoE | description |",
        "|---|---|---|---|---|---|" + ("---|" if trends else ""),
    ]
    for e in doc["indicators"]:
        bins = len(e["woe"])
        trend = f"{e['trend']['chosen']} | " if trends else ""
        lines.append(f"| {e['name']} | {e['group']} | {trend}{bins} | "
                     f"{e['coefficient']:.4f} | {e['mean_woe']:.4f} | {e['description']} |")
    if trends:
        lines += ["", "Trend of the default rate per indicator, and why (a `direction: auto` "
                  "trend is chosen on the training rows; `engine.modelops.trends`):", ""]
        lines += [f"- {e['name']}: {e['trend']['chosen']}; {e['trend']['why']}"
                  for e in doc["indicators"]]
    lines += ["", "## Bins, WoE and information value", ""]
    scale = points_of(doc)
    for e in doc["indicators"]:
        if "bins" not in e:
            continue
        table = pd.DataFrame(e["bins"])
        added = (scale.bin_points(doc["calibration"], e["coefficient"], list(table["woe"]))
                 if scale is not None else None)
        if added is not None:
            table["points"] = added
        lines += [f"### {e['name']} (IV {e['iv']:.4f})", "",
                  markdown_table(table), ""]
    dropped = doc.get("dropped_indicators") or {}
    if dropped:
        lines += ["", "Catalogue indicators left out of this model:", ""]
        lines += [f"- {name}: {why}" for name, why in dropped.items()]
    lines += [
        "",
        f"Intercept: {doc['intercept']:.6f}. A reason code is an indicator's contribution "
        "coefficient x (WoE - mean WoE); the four largest positive ones explain each score.",
        "",
    ]
    return lines


def _points(doc: dict[str, Any]) -> list[str]:
    """The scorecard points scale, and how a customer's points add up, when the model has one."""
    scale = points_of(doc)
    if scale is None:
        return []
    lines = ["## Points", "", f"Points = {scale.offset:.4f} + {scale.factor:.4f} x ln(good:bad "
             f"odds of the PD): {scale.describe()}. `gridcredit score` writes each row's "
             "points beside its PD and grade."]
    cal = doc["calibration"]
    if cal.get("kind", "platt") == "platt":
        model = ScoreModel(doc)
        base = scale.offset - scale.factor * (model.slope * doc["intercept"] + model.offset)
        lines += ["", f"With Platt calibration the points add up: {base:.1f} base points plus, "
                  "per indicator, the points of the customer's bin (the `points` column of "
                  "the bin tables below), rounded to whole points."]
    else:
        lines += ["", "With isotonic calibration the points do not split into per-bin "
                  "addends, so the bin tables show none."]
    return [*lines, ""]


def _calibration_text(cal: dict[str, Any]) -> str:
    kind = cal.get("kind", "platt")
    how = ("Isotonic (pool-adjacent-violators) curve of log-odds over "
           f"{len(cal.get('knots_z', []))} z knots" if kind == "isotonic" else
           f"Platt scaling: slope {cal['slope']:.6f}, intercept {cal['intercept']:.6f}")
    tried = cal.get("heldout_brier")
    chosen = ("; chosen over " + ", ".join(f"{m} (held-out Brier {b:.5f})"
                                           for m, b in tried.items() if m != kind)
              if tried else "")
    return (f"{how}, fitted on out-of-fold scores{chosen}; training default rate "
            f"{cal['training_default_rate']:.4%}; portfolio prior "
            + ("none (training rate)" if cal.get("prior") is None else f"{cal['prior']:.4%}")
            + ".")


def _intended_use(doc: dict[str, Any]) -> list[str]:
    if "data_spec" in doc:
        return [f"- Rank and price the default risk of rows like those of "
                f"`{doc['training'].get('source') or 'the training file'}` (the same columns, "
                "the same population filter), scored with `gridcredit score --model`.",
                "- Compare with other scorers on the same data; not for decisions on "
                "electricity customers, which the registry models serve."]
    return [f"- Grade {doc['segment']} electricity customers (the registry's customer "
            "classes for this segment) for differentiated service policies.",
            "- PDs feed the master scale of `rules/grades.yaml`; decisions cite this "
            "model's id and hash."]


def _limitations(doc: dict[str, Any]) -> list[str]:
    out = ["- Performance is measured on the training population; the population may move: "
           "monitor it (`gridcredit monitor`).",
           "- A linear score on binned indicators: interactions between indicators are not "
           "modelled, and values beyond the training range take the outer bin's WoE.",
           "- Neutral WoE: a category training never saw, and a missing value of an "
           "indicator that had none in training, take WoE 0 (the evidence of neither good "
           "nor bad); `gridcredit score` and `gridcredit monitor` count such rows per "
           "indicator."]
    if doc.get("dropped_indicators"):
        out.append("- Indicators left out (below) carry no weight even where they would "
                   "matter for a customer.")
    if not doc["governance"]["checked"]:
        out.append("- The publication check was not enforced for this run.")
    return out
