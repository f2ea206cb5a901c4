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

import re
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import Engine

from engine.errors import ConfigError, FrameError
from engine.modelops.calibration import grade_calibration
from engine.modelops.comparison import (
    ModelComparison,
    promotion_basis,
    record_promotion,
    who,
    write_history,
)
from engine.modelops.evaluation import delong, metrics
from engine.recordframe import validate_frame
from engine.scale import Band, assign
from engine.scoring import Registry, load_registry, read_spec

__all__ = ["compare", "promote"]


def _measures(model: Any, values: pd.DataFrame, y: np.ndarray,
              bands: tuple[Band, ...]) -> tuple[dict[str, float], np.ndarray]:
    scored = model.score_frame(values)
    m = metrics(y, scored.z, scored.pd)
    names = [b.grade for b in bands]
    grades = np.array(names, dtype=object)[assign(scored.pd, bands)]
    cal = grade_calibration(grades, scored.pd, y, names)
    filled = cal[cal["customers"] > 0]
    return {**m, "grades_calibrated": float(filled["agrees"].sum()),
            "grades_held": float(len(filled))}, scored.z


def compare(registry: Registry, frame: pd.DataFrame, y: np.ndarray,
            bands: tuple[Band, ...], *, data: str = "the data") -> list[ModelComparison]:
    """Measure champion and challenger of every segment that has one on labelled records.

    ``frame`` holds customer records and ``y`` their 0/1 outcomes (-1 where
    unknown, left out). AUC, KS, Gini, Brier and the number of grades whose
    observed default rate agrees with the predicted PD, for both models, and
    DeLong's test of the AUC difference (the promotion gate's figure).
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
        a, za = _measures(champion, values.loc[rows], ys, bands)
        b, zb = _measures(challenger, values.loc[rows], ys, bands)
        table = pd.DataFrame({"measure": list(a), "champion": list(a.values()),
                              "challenger": [b[k] for k in a],
                              "difference": [b[k] - a[k] for k in a]})
        out.append(ModelComparison(who(champion), who(challenger), data, int(rows.sum()),
                                   int(ys.sum()), table, delong(ys, za, zb), seg.segment))
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


def promote(models_dir: str | Path, segment: str, database: Engine, *, note: str = "",
            force: bool = False, reason: str = "") -> tuple[str, str]:
    """Make the segment's challenger its champion (and the champion its challenger).

    Refused unless a comparison of the two artifacts that met the gate is
    logged in ``database`` (``engine.modelops.comparison``), or ``force``
    with a ``reason``; the promotion itself is logged. ``registry.yaml`` is
    edited in place, comments kept; both model cards get a line under
    "Champion/challenger history". Returns the new champion's and
    challenger's artifact names.
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
    basis = promotion_basis(database, old, new, force=force, reason=reason)
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
    row = record_promotion(database, old, new, basis, where=f"{where} segment '{segment}'")
    write_history(row, (new, old), note)
    return seg.challenger, seg.artifact
