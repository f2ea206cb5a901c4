"""Starter specs: ``gridcredit spec init`` reads a labelled file and proposes its indicators."""

from __future__ import annotations

from typing import Any

import pandas as pd
import yaml

from engine.errors import FrameError
from engine.scoring import canonical

__all__ = ["init_spec"]


def _yaml_scalar(value: Any) -> str:
    return yaml.safe_dump(value, default_flow_style=True, allow_unicode=True).strip() \
        .removesuffix("...").strip()


def init_spec(frame: pd.DataFrame, target: str, source: str = "") -> tuple[str, list[str]]:
    """A starter spec for a labelled file, and the columns it leaves out (with why).

    Numeric columns become ``identity`` indicators, text columns
    ``category``; every direction is ``auto`` (the binning chooses the
    trend). Identifiers (every value distinct), constant columns and dates
    are left out with a comment. The result loads and trains as it is.
    """
    if target not in frame.columns:
        raise FrameError(f"no target column '{target}' in the data; columns: "
                         + ", ".join(map(str, frame.columns[:20])), columns=[target])
    lines = [f"# Starter spec for {source or 'the data'}, written by gridcredit spec init.",
             "# Review each entry: transform, direction (auto lets the binning choose),",
             "# special_values (e.g. [99999999]), missing (bin | refuse | {value: X}).",
             "schema: gridcredit.indicators/1", "groups: [data]"]
    values = frame[target].dropna().map(canonical)
    distinct = sorted(set(values))
    if set(distinct) != {"0", "1"} and len(distinct) == 2:
        rare = values.value_counts().sort_index().idxmin()
        good = [v for v in distinct if v != rare]
        lines += ["label:  # the rarer value is taken as default: check it",
                  f"  bad: [{_yaml_scalar(rare)}]", f"  good: [{_yaml_scalar(good[0])}]"]
    lines.append("indicators:")
    left_out = []
    names: set[str] = set()
    for column in frame.columns:
        if column == target:
            continue
        s = frame[column]
        why = _left_out(s)
        if why:
            left_out.append(f"{column}: {why}")
            continue
        numeric = pd.api.types.is_numeric_dtype(s.dtype) and not pd.api.types.is_bool_dtype(
            s.dtype)
        base = "".join(c if c.isalnum() else "_" for c in str(column)).strip("_").lower()
        name, k = base or "column", 2
        while name in names:
            name, k = f"{base or 'column'}_{k}", k + 1
        names.add(name)
        lines += [f"  - name: {_yaml_scalar(name)}",
                  f"    sources: [{_yaml_scalar(str(column))}]",
                  f"    transform: {'identity' if numeric else 'category'}",
                  "    direction: auto", "    unit: '-'", "    group: data",
                  f"    description: {_yaml_scalar(f'Column {column} of the data.')}"]
    if left_out:
        lines += ["# Columns left out:"] + [f"#   {w}" for w in left_out]
    return "\n".join(lines) + "\n", left_out


def _left_out(s: pd.Series) -> str:
    known = s.dropna()
    if known.empty or known.nunique() <= 1:
        return "constant or empty"
    if not pd.api.types.is_numeric_dtype(s.dtype):
        if known.nunique() == len(known) and len(known) > 20:
            return "every value distinct (an identifier)"
        sample = known.astype(str).head(50)
        if pd.to_datetime(sample, errors="coerce", format="ISO8601").notna().all():
            return "dates (use them for --oot-date, not as an indicator)"
    return ""
