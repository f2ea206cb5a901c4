"""The 0/1 default label from a target column, and what the label means in words."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from engine.errors import FrameError
from engine.scoring import canonical

__all__ = ["label_definition", "labels"]


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
                             "value with --bad VALUE", columns=[str(name)])
        return values.to_numpy(dtype=np.int64)
    text = series.map(canonical)
    bad_values = [canonical(v) for v in ([bad] if isinstance(bad, str) else bad or ["1"])]
    is_bad = text.isin(bad_values).to_numpy()
    if not is_bad.any():
        seen = ", ".join(sorted(map(str, text.unique()))[:10])
        raise FrameError(f"target '{name}' never equals {bad_values[0]!r}; values: {seen}",
                         columns=[str(name)])
    good_values = [canonical(v) for v in good] or sorted(set(text[~is_bad]))
    others = ~is_bad & ~text.isin(good_values).to_numpy()
    if others.any() or len(good_values) > 1 and not good:
        strays = sorted(set(text[others])) or good_values[1:]
        raise FrameError(
            f"target '{name}' has values other than the good and bad ones: "
            + ", ".join(repr(v) for v in strays[:5])
            + f" (bad: {', '.join(bad_values)}); list the good values under label: good in the "
            f"spec, or drop the other rows with filter: {{{name}: [...]}}", columns=[str(name)])
    return is_bad.astype(np.int64)


def label_definition(target: str, bad: Sequence[str], good: Sequence[str],
                     definition: str = "") -> dict[str, Any]:
    """What the label means, as the artifact and its card record it."""
    return {"target": target, "bad": list(bad), "good": list(good),
            "definition": definition or f"{target} in {{{', '.join(bad)}}} marks a default; "
                                        f"{', '.join(good)} none"}
