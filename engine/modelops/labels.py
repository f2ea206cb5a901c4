"""The 0/1 default label from a target column, and what the label means in words."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from engine.errors import FrameError
from engine.scoring import Catalogue, apply_filter, canonical

__all__ = ["LabelledRows", "label_definition", "labelled_rows", "labels"]


def labels(series: pd.Series, bad: str | Sequence[str] | None = None,
           good: Sequence[str] = ()) -> np.ndarray:
    """The 0/1 default label from a target column.

    ``bad`` names the value(s) meaning default and ``good`` those meaning
    none; without ``good`` the column must hold exactly one other value.
    Any value outside the two is refused (drop such rows with the spec's
    ``filter:``), so an unknown outcome is never counted as a good one.
    """
    name = series.name
    if series.isna().any():
        raise FrameError(f"target '{name}' has {int(series.isna().sum())} missing values; "
                         f"drop those rows with filter: {{{name}: {{ne: ''}}}} in the spec "
                         "or fill them", columns=[str(name)])
    if bad is None and not good:
        values = pd.to_numeric(series, errors="coerce")
        if values.isna().any() or not set(values.unique()) <= {0, 1}:
            seen = ", ".join(sorted(map(str, series.unique()))[:10])
            raise FrameError(f"target '{name}' must be 0/1, got {seen}; name the default "
                             "value with --bad VALUE, or say which values mean default and "
                             "which none under label: (bad: [...], good: [...]) in the spec",
                             columns=[str(name)])
        return values.to_numpy(dtype=np.int64)
    text = series.map(canonical)
    bad_values = [canonical(v) for v in ([bad] if isinstance(bad, str) else bad or ["1"])]
    is_bad = text.isin(bad_values).to_numpy()
    if not is_bad.any():
        seen = ", ".join(sorted(map(str, text.unique()))[:10])
        raise FrameError(f"target '{name}' never equals {bad_values[0]!r}; values: {seen}",
                         columns=[str(name)])
    if not good:
        rest = sorted(set(text[~is_bad]))
        if len(rest) > 1:
            raise FrameError(
                f"target '{name}' has {len(rest)} values besides the bad one"
                f"{'s' if len(bad_values) > 1 else ''} ({', '.join(map(repr, bad_values))}): "
                + ", ".join(repr(v) for v in rest[:5])
                + "; list those meaning no default under label: good in the spec, and drop "
                f"the others with filter: {{{name}: {{not_in: [...]}}}}", columns=[str(name)])
        return is_bad.astype(np.int64)
    good_values = [canonical(v) for v in good]
    others = ~is_bad & ~text.isin(good_values).to_numpy()
    if others.any():
        strays = sorted(set(text[others]))
        raise FrameError(
            f"target '{name}' has values other than the good and bad ones: "
            + ", ".join(repr(v) for v in strays[:5])
            + f" (bad: {', '.join(bad_values)}; good: {', '.join(good_values)}); list them "
            f"under label: good or bad in the spec, or drop those rows with filter: "
            f"{{{name}: {{not_in: [...]}}}}", columns=[str(name)])
    return is_bad.astype(np.int64)


def label_definition(target: str, bad: Sequence[str], good: Sequence[str],
                     definition: str = "") -> dict[str, Any]:
    """What the label means, as the artifact and its card record it."""
    return {"target": target, "bad": list(bad), "good": list(good),
            "definition": definition or f"{target} in {{{', '.join(bad)}}} marks a default; "
                                        f"{', '.join(good)} none"}


@dataclass(frozen=True)
class LabelledRows:
    """The rows of a labelled file a spec admits, their 0/1 labels and what they mean."""

    frame: pd.DataFrame
    y: np.ndarray
    label: dict[str, Any]
    rows_in: int
    filtered: int


def labelled_rows(frame: pd.DataFrame, catalogue: Catalogue, *, target: str,
                  bad: str | None = None, where: str = "the spec") -> LabelledRows:
    """Apply the spec's whole ``filter:`` (features and label) and its ``label:``.

    Training and every evaluation (cross-validated or out of time) read a
    labelled file through this one function, so they count the same rows
    and the same defaults. ``bad`` overrides the spec's bad values.
    """
    kept, filtered = apply_filter(frame, catalogue.row_filter, where)
    if target not in kept.columns:
        raise FrameError(f"missing target column '{target}'", columns=[target])
    spec_label = catalogue.label
    bad_values = [bad] if bad is not None else list(spec_label.bad) if spec_label else []
    good_values = list(spec_label.good) if spec_label else []
    y = labels(kept[target], bad_values or None, good_values)
    if bad_values and not good_values:
        good_values = sorted({v for v in kept[target].map(canonical)} - set(bad_values))
    label = label_definition(target, bad_values or ["1"], good_values or ["0"],
                             spec_label.definition if spec_label else "")
    return LabelledRows(kept, y, label, len(frame), filtered)
