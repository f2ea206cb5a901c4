"""The model card: a markdown page beside each artifact, rendered from the artifact alone.

Because the card is generated from the JSON it describes, the two cannot
drift apart: a reviewer reads the same coefficients, bins and metrics that
scoring uses.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from engine.scoring.evaluation import markdown_table

__all__ = ["render"]


def render(doc: dict[str, Any]) -> str:
    """Markdown model card of an artifact document."""
    cv = doc["cv_metrics"]
    tr = doc["training"]
    cal = doc["calibration"]
    gov = doc["governance"]
    lines = [
        f"# Model card: {doc['model_id']}",
        "",
        f"Fisher linear discriminant on weight-of-evidence features, segment "
        f"**{doc['segment']}**, target `{doc['target']}` (1 = default). Higher z means a "
        "customer is more likely to default; PD = 1 / (1 + exp(-(slope * z + intercept))).",
        "",
        "## Training data",
        "",
        f"- source: {tr.get('source') or 'not recorded'}",
        f"- rows: {tr['rows']:,}, defaults: {tr['defaults']:,} "
        f"({tr['defaults'] / tr['rows']:.2%})",
        f"- data sha256: `{tr['data_sha256']}`",
        f"- created at: {doc['created_at']}",
        "- libraries: " + ", ".join(f"{k} {v}" for k, v in doc["versions"].items()),
        "",
        f"## Cross-validated performance ({tr['folds']}-fold stratified, seed {tr['seed']})",
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
        f"Platt scaling fitted on out-of-fold scores: slope {cal['slope']:.6f}, "
        f"intercept {cal['intercept']:.6f}; training default rate "
        f"{cal['training_default_rate']:.4%}; portfolio prior "
        + ("none (training rate)" if cal.get("prior") is None else f"{cal['prior']:.4%}") + ".",
        "",
        "## Default rate per master-scale band (out-of-fold)",
        "",
        markdown_table(pd.DataFrame(doc["bands"])),
        "",
        "Governance: " + ("passed" if gov["passed"] else "FAILED: " + "; ".join(gov["problems"]))
        + ("" if gov["checked"] else " (check not enforced for this run)") + ".",
        "",
        "## Default rate per score decile (out-of-fold, 1 = lowest risk)",
        "",
        markdown_table(pd.DataFrame(doc["deciles"])),
        "",
        "## Indicators",
        "",
        "| indicator | group | bins | coefficient | mean WoE | description |",
        "|---|---|---|---|---|---|",
    ]
    for e in doc["indicators"]:
        bins = len(e["woe"])
        lines.append(f"| {e['name']} | {e['group']} | {bins} | {e['coefficient']:.4f} | "
                     f"{e['mean_woe']:.4f} | {e['description']} |")
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
    return "\n".join(lines)
