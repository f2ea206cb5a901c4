"""Champion and challenger: compare them on outcomes, promote the better one.

A segment of ``models/registry.yaml`` may name a ``challenger`` beside its
``artifact``. Every decision then records the challenger's PD and grade in
shadow (``Decision.challenger``, ``used: false``; batch columns
``challenger_*``), while the champion alone decides. Once outcomes are
known, ``compare`` measures both on the same labelled customers, and
``promote`` swaps the two in the registry and notes the change in both
model cards, so the history of which model decided when stays readable.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from engine.errors import ConfigError, FrameError
from engine.modelops.calibration import grade_calibration
from engine.modelops.evaluation import markdown_table, metrics
from engine.records import validate_frame
from engine.scale import Band, assign
from engine.scoring import load_registry, read_spec

__all__ = ["Comparison", "compare", "promote"]


@dataclass(frozen=True)
class Comparison:
    """Champion and challenger of one segment on the same labelled customers."""

    segment: str
    champion: str
    challenger: str
    customers: int
    defaults: int
    table: pd.DataFrame

    def markdown(self) -> str:
        return (f"### {self.segment}: champion {self.champion} vs challenger "
                f"{self.challenger} on {self.customers:,} labelled customers "
                f"({self.defaults:,} defaults)\n\n" + markdown_table(self.table))


def _measures(model: Any, values: pd.DataFrame, y: np.ndarray,
              bands: tuple[Band, ...]) -> dict[str, float]:
    scored = model.score_frame(values)
    m = metrics(y, scored.z, scored.pd)
    names = [b.grade for b in bands]
    grades = np.array(names, dtype=object)[assign(scored.pd, bands)]
    cal = grade_calibration(grades, scored.pd, y, names)
    filled = cal[cal["customers"] > 0]
    return {**m, "grades_calibrated": float(filled["agrees"].sum()),
            "grades_held": float(len(filled))}


def compare(registry: Any, frame: pd.DataFrame, y: np.ndarray,
            bands: tuple[Band, ...]) -> list[Comparison]:
    """Measure champion and challenger of every segment that has one on labelled records.

    ``frame`` holds customer records and ``y`` their 0/1 outcomes (-1 where
    unknown, left out). AUC, KS, Gini, Brier and the number of grades whose
    observed default rate agrees with the predicted PD, for both models.
    """
    if not registry.challengers:
        raise ConfigError("no segment names a challenger: add 'challenger: FILE.json' to a "
                          "segment of registry.yaml", file=str(registry.spec.models_dir
                                                               / "registry.yaml"))
    accepted, _ = validate_frame(frame)
    y = np.asarray(y)[frame.index.get_indexer(accepted.index)]
    values = registry.indicators(accepted)
    klass = accepted["customer_class"].astype("string").to_numpy(dtype=object, na_value=None)
    out = []
    for seg in registry.spec.segments:
        challenger = registry.challengers.get(seg.segment)
        if challenger is None:
            continue
        rows = np.isin(klass, seg.customer_classes) & (y >= 0)
        ys = y[rows].astype(np.int64)
        if not rows.any() or ys.min() == ys.max():
            raise FrameError(f"segment '{seg.segment}': the labelled customers hold no "
                             "defaults or no non-defaults, so the models cannot be compared")
        champion = registry.models[seg.segment]
        a = _measures(champion, values.loc[rows], ys, bands)
        b = _measures(challenger, values.loc[rows], ys, bands)
        table = pd.DataFrame({"measure": list(a), "champion": list(a.values()),
                              "challenger": [b[k] for k in a],
                              "difference": [b[k] - a[k] for k in a]})
        out.append(Comparison(seg.segment, champion.model_id, challenger.model_id,
                              int(rows.sum()), int(ys.sum()), table))
    return out


def _swap_lines(text: str, start: int, end: int, champion: str, challenger: str) -> str:
    lines = text.splitlines(keepends=True)
    for i in range(start - 1, min(end, len(lines))):
        line = lines[i]
        if re.match(r"\s*(-\s*)?artifact\s*:", line):
            lines[i] = line.replace(champion, challenger, 1)
        elif re.match(r"\s*(-\s*)?challenger\s*:", line):
            lines[i] = line.replace(challenger, champion, 1)
    return "".join(lines)


def promote(models_dir: str | Path, segment: str, *, note: str = "",
            date: str = "") -> tuple[str, str]:
    """Make the segment's challenger its champion (and the champion its challenger).

    ``registry.yaml`` is edited in place, comments kept; both model cards
    get a line under "Champion/challenger history". Returns the new
    champion's and challenger's artifact names.
    """

    spec = read_spec(models_dir)
    where = Path(spec.models_dir) / "registry.yaml"
    seg = next((s for s in spec.segments if s.segment == segment), None)
    if seg is None:
        raise ConfigError(f"no segment '{segment}' in the registry; segments: "
                          + ", ".join(s.segment for s in spec.segments), file=str(where))
    if seg.challenger is None:
        raise ConfigError(f"segment '{segment}' names no challenger to promote",
                          file=str(where), line=seg.line)
    registry = load_registry(models_dir)
    old, new = registry.models[segment], registry.challengers[segment]
    starts = sorted(s.line or 0 for s in spec.segments)
    end = next((n for n in starts if n > (seg.line or 0)), 10 ** 9) - 1
    text = where.read_text(encoding="utf-8")
    swapped = _swap_lines(text, seg.line or 1, end, seg.artifact, seg.challenger)
    if swapped == text:
        raise ConfigError(f"segment '{segment}': found no 'artifact:' and 'challenger:' lines "
                          "to swap; edit the registry by hand", file=str(where), line=seg.line)
    where.write_text(swapped, encoding="utf-8")
    try:
        load_registry(models_dir)
    except ConfigError:
        where.write_text(text, encoding="utf-8")
        raise
    when = date or dt.date.today().isoformat()
    entry = (f"- {when}: {new.model_id} (sha256 {new.sha256[:12]}) promoted to champion of "
             f"segment '{segment}'; {old.model_id} (sha256 {old.sha256[:12]}) is now its "
             "challenger" + (f". {note}" if note else "") + "\n")
    for model in (new, old):
        card = Path(model.path).with_suffix(".md")
        body = card.read_text(encoding="utf-8") if card.exists() else f"# {model.model_id}\n"
        if "## Champion/challenger history" not in body:
            body = body.rstrip("\n") + "\n\n## Champion/challenger history\n\n"
        card.write_text(body + entry, encoding="utf-8")
    return seg.challenger, seg.artifact
