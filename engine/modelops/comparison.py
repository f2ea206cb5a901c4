"""Champion and challenger for any two models: measured on one file, logged, gated.

``compare_models`` scores the same labelled rows with both artifacts (each
through its own spec; rows either model's filter leaves out are left out of
both) and reports AUC, KS, Gini and Brier of each, with DeLong's test of the
AUC difference. ``record_comparison`` appends the result to the ``releases``
chain of the audit database (kind ``model-comparison``), so it is verified
with everything else by ``gridcredit audit verify``.

The promotion gate: a challenger may replace its champion only when the
DeLong 95 % interval of AUC(challenger) - AUC(champion) lies above 0 and the
challenger's Brier score is no worse. ``promotion_basis`` finds a logged
comparison of the same two artifacts (by hash) that met the gate, or
refuses; ``--force --reason`` is the logged way past it (``record_promotion``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
from sqlalchemy import Engine

from engine.audit.chain import KeyedRow, append_keyed, keyed_rows
from engine.audit.store import releases
from engine.errors import ConfigError, FrameError, InputError
from engine.modelops.evaluation import delong, markdown_table, metrics
from engine.modelops.labels import labels
from engine.scoring import ScoreModel, apply_filter, compute, model_catalogue

__all__ = [
    "COMPARISON",
    "GATE",
    "PROMOTION",
    "ModelComparison",
    "compare_models",
    "history_note",
    "promote_file",
    "promotion_basis",
    "record_comparison",
    "record_promotion",
    "who",
    "write_history",
]

COMPARISON = "model-comparison"
PROMOTION = "model-promotion"
GATE = ("the DeLong 95 % interval of AUC(challenger) - AUC(champion) lies above 0 and the "
        "challenger's Brier score is no worse")


@dataclass(frozen=True)
class ModelComparison:
    """Two artifacts measured on the same labelled rows, with the gate's verdict."""

    champion: dict[str, str]
    challenger: dict[str, str]
    data: str
    rows: int
    defaults: int
    table: pd.DataFrame
    test: dict[str, float]
    segment: str = ""

    @property
    def passed(self) -> bool:
        brier = self.table.set_index("measure")
        return bool(self.test["low"] > 0
                    and brier.loc["brier", "challenger"] <= brier.loc["brier", "champion"])

    def content(self) -> dict[str, Any]:
        """What the log keeps: both models by id and hash, the data, the figures, the verdict."""
        return {"segment": self.segment, "champion": self.champion,
                "challenger": self.challenger, "data": self.data,
                "rows": self.rows, "defaults": self.defaults,
                "measures": {r["measure"]: {"champion": r["champion"],
                                            "challenger": r["challenger"]}
                             for r in self.table.to_dict("records")},
                "delong": self.test, "gate": GATE, "passed": self.passed}

    def markdown(self) -> str:
        t = self.test
        return "\n\n".join([
            f"### {self.segment + ': ' if self.segment else ''}champion "
            f"{self.champion['model_id']} (sha256 {self.champion['sha256'][:12]}) "
            f"vs challenger {self.challenger['model_id']} (sha256 "
            f"{self.challenger['sha256'][:12]}) on {self.rows:,} labelled rows of "
            f"{self.data} ({self.defaults:,} defaults)",
            markdown_table(self.table),
            f"AUC difference (challenger - champion) {t['difference']:+.4f}, DeLong 95 % "
            f"interval [{t['low']:+.4f}, {t['high']:+.4f}], p = {t['p_value']:.3g}.",
            f"Gate ({GATE}): " + ("met" if self.passed else "not met") + "."])


def who(model: ScoreModel) -> dict[str, str]:
    return {"model_id": model.model_id, "sha256": model.sha256, "path": model.path}


def _label(model: ScoreModel) -> tuple[str, tuple[str, ...], tuple[str, ...]]:
    label = model.doc.get("label") or {}
    return (label.get("target") or model.doc["target"], tuple(label.get("bad") or ["1"]),
            tuple(label.get("good") or ["0"]))


def compare_models(champion: ScoreModel, challenger: ScoreModel, frame: pd.DataFrame, *,
                   data: str = "the data") -> ModelComparison:
    """Measure two spec-trained artifacts on the same labelled rows of ``frame``."""
    if champion.sha256 == challenger.sha256:
        raise InputError(f"champion and challenger are the same artifact (sha256 "
                         f"{champion.sha256[:12]}): give two different models")
    if champion.model_id == challenger.model_id:
        raise InputError(f"champion and challenger share the id '{champion.model_id}'; "
                         "retrain one with 'gridcredit train --model-id ID'")
    target, bad, good = _label(champion)
    if _label(challenger) != (target, bad, good):
        raise ConfigError(f"champion and challenger define default differently "
                          f"({target} bad {list(bad)} vs {_label(challenger)[0]} bad "
                          f"{list(_label(challenger)[1])}): compare models of one label",
                          file=challenger.path)
    catalogues = [model_catalogue(m) for m in (champion, challenger)]
    kept = frame
    for model, catalogue in zip((champion, challenger), catalogues, strict=True):
        kept, _ = apply_filter(kept, catalogue.row_filter, f"{model.path} (data_spec)")
    if target not in kept.columns:
        raise FrameError(f"{data} has no outcome column '{target}' (the models' label)",
                         columns=[target])
    y = labels(kept[target], list(bad), list(good))
    if y.min() == y.max():
        raise FrameError(f"{data}: the rows hold no defaults or no non-defaults, so the models "
                         "cannot be compared")
    scored = [m.score_frame(compute(kept, c, list(m.indicators)))
              for m, c in zip((champion, challenger), catalogues, strict=True)]
    a = metrics(y, scored[0].z, scored[0].pd)
    b = metrics(y, scored[1].z, scored[1].pd)
    table = pd.DataFrame({"measure": list(a), "champion": list(a.values()),
                          "challenger": [b[k] for k in a],
                          "difference": [b[k] - a[k] for k in a]})
    return ModelComparison(who(champion), who(challenger), data, len(y), int(y.sum()), table,
                           delong(y, scored[0].z, scored[1].z))


def record_comparison(database: Engine, comparison: ModelComparison) -> KeyedRow:
    """Append the comparison to the audit database's ``releases`` chain."""
    return append_keyed(database, releases, COMPARISON, comparison.challenger["sha256"],
                        comparison.content())


def promotion_basis(database: Engine, champion: ScoreModel, challenger: ScoreModel, *,
                    force: bool = False, reason: str = "") -> dict[str, Any]:
    """The logged comparison that lets ``challenger`` replace ``champion``, or a refusal.

    With ``force`` a ``reason`` is required and stands in for the comparison.
    """
    if force:
        if not reason.strip():
            raise InputError("--force needs --reason TEXT: the log keeps why the gate was "
                             "passed by")
        return {"forced": True, "reason": reason.strip()}
    found = [r for r in keyed_rows(database, releases, kind=COMPARISON, key=challenger.sha256)
             if r.content and r.content["champion"]["sha256"] == champion.sha256]
    passed = [r for r in found if r.content.get("passed")]
    if passed:
        last = passed[-1]
        return {"forced": False, "comparison_seq": last.seq, "comparison_row": last.row_hash,
                "delong": last.content["delong"], "data": last.content["data"]}
    seen = (f"{len(found)} logged comparison(s) of these two did not meet it" if found
            else "no comparison of these two artifacts is logged")
    raise InputError(f"challenger {challenger.model_id} may not replace {champion.model_id}: "
                     f"the gate is that {GATE}; {seen}. Run 'gridcredit models compare "
                     "--champion A --challenger B --data F' on labelled data, or pass the "
                     "gate with --force --reason TEXT (logged)")


def record_promotion(database: Engine, champion: ScoreModel, challenger: ScoreModel,
                     basis: dict[str, Any], *, where: str = "") -> KeyedRow:
    """Append the promotion (and what allowed it) to the ``releases`` chain."""
    content = {"champion_before": who(champion), "champion_after": who(challenger),
               "where": where, "basis": basis, "gate": GATE}
    return append_keyed(database, releases, PROMOTION, challenger.sha256, content)


def history_note(row: KeyedRow) -> str:
    """One line for a model card: who replaced whom, on what basis."""
    c = row.content
    basis = c["basis"]
    why = (f"forced: {basis['reason']}" if basis.get("forced") else
           f"DeLong AUC difference {basis['delong']['difference']:+.4f} "
           f"[{basis['delong']['low']:+.4f}, {basis['delong']['high']:+.4f}] on {basis['data']}"
           f" (logged comparison #{basis['comparison_seq']})")
    return (f"- {row.created_at[:10]}: {c['champion_after']['model_id']} (sha256 "
            f"{c['champion_after']['sha256'][:12]}) replaced {c['champion_before']['model_id']} "
            f"(sha256 {c['champion_before']['sha256'][:12]}); {why}; log entry #{row.seq}\n")


def promote_file(champion: ScoreModel, challenger: ScoreModel, database: Engine, *,
                 force: bool = False, reason: str = "", note: str = "") -> KeyedRow:
    """Promote one spec-trained artifact over another: gate, log, note in both cards."""
    basis = promotion_basis(database, champion, challenger, force=force, reason=reason)
    row = record_promotion(database, champion, challenger, basis,
                           where=f"{champion.path} -> {challenger.path}")
    write_history(row, (challenger, champion), note)
    return row


def write_history(row: KeyedRow, models: tuple[ScoreModel, ...], note: str = "") -> None:
    """Add the promotion's line under "Champion/challenger history" in each model's card."""
    entry = history_note(row)
    if note:
        entry = entry.rstrip("\n") + f". {note}\n"
    for model in models:
        card = Path(model.path).with_suffix(".md")
        body = card.read_text(encoding="utf-8") if card.exists() else f"# {model.model_id}\n"
        if "## Champion/challenger history" not in body:
            body = body.rstrip("\n") + "\n\n## Champion/challenger history\n\n"
        card.write_text(body + entry, encoding="utf-8")
