"""Starter specs: ``gridcredit spec init`` reads a labelled file as an analyst would.

It proposes one indicator per usable column and says, in comments, what it
noticed and what it left out:

- identifiers (every value distinct, numeric or not), constant columns and
  dates are left out, each with the reason;
- sentinels, values such as 9, 99, 999 or 99999999 that sit far from the rest
  of a numeric column, are proposed as ``special_values`` with their counts;
- integer columns with few levels are marked as candidate categories;
- a target that is not 0/1 gets a ``label:`` block: for two values the rarer
  one is proposed as default, for more a comment asks which are good and
  which bad (the proposal still loads, so ``evaluate`` runs at once).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import yaml

from engine.errors import FrameError
from engine.scoring import canonical

__all__ = ["CATEGORY_LEVELS", "ID_MIN_ROWS", "init_spec", "sentinels"]

ID_MIN_ROWS = 20
CATEGORY_LEVELS = 10
_NINES = tuple(float(10 ** k - 1) for k in range(1, 13))


@dataclass(frozen=True)
class _Column:
    """What spec init makes of one column."""

    left_out: str = ""
    numeric: bool = False
    specials: tuple[tuple[float, int], ...] = ()
    levels: int = 0


def _yaml_scalar(value: Any) -> str:
    return yaml.safe_dump(value, default_flow_style=True, allow_unicode=True).strip() \
        .removesuffix("...").strip()


def init_spec(frame: pd.DataFrame, target: str, source: str = "") -> tuple[str, list[str]]:
    """A starter spec for a labelled file, and the columns it leaves out (with why).

    Numeric columns become ``identity`` indicators, text columns
    ``category``; every direction is ``auto`` (the binning chooses the
    trend). The result loads and trains as it is.
    """
    if target not in frame.columns:
        raise FrameError(f"no target column '{target}' in the data; columns: "
                         + ", ".join(map(str, frame.columns[:20])), columns=[target])
    lines = [f"# Starter spec for {source or 'the data'}, written by gridcredit spec init.",
             "# Review each entry: transform, direction (auto lets the binning choose),",
             "# special_values (e.g. [99999999]), missing (bin | refuse | {value: X}).",
             "schema: gridcredit.indicators/1", "groups: [data]",
             *_label_lines(frame[target], target), "indicators:"]
    left_out = []
    names: set[str] = set()
    for column in frame.columns:
        if column == target:
            continue
        seen = _read_column(frame[column])
        if seen.left_out:
            left_out.append(f"{column}: {seen.left_out}")
            continue
        base = "".join(c if c.isalnum() else "_" for c in str(column)).strip("_").lower()
        name, k = base or "column", 2
        while name in names:
            name, k = f"{base or 'column'}_{k}", k + 1
        names.add(name)
        lines += _entry_lines(name, str(column), seen)
    if left_out:
        lines += ["# Columns left out:"] + [f"#   {w}" for w in left_out]
    return "\n".join(lines) + "\n", left_out


def _entry_lines(name: str, column: str, seen: _Column) -> list[str]:
    lines = [f"  - name: {_yaml_scalar(name)}", f"    sources: [{_yaml_scalar(column)}]"]
    if seen.levels:
        lines.append(f"    # integer with {seen.levels} levels: a candidate category "
                     "(transform: category) if the codes are not an order")
    lines += [f"    transform: {'identity' if seen.numeric else 'category'}",
              "    direction: auto", "    unit: '-'", "    group: data",
              f"    description: {_yaml_scalar(f'Column {column} of the data.')}"]
    if seen.specials:
        counts = ", ".join(f"{_number(v)}: {n:,} rows" for v, n in seen.specials)
        lines += [f"    # far from the rest of the column, likely codes, not amounts ({counts})",
                  f"    special_values: [{', '.join(_number(v) for v, _ in seen.specials)}]"]
    return lines


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def _label_lines(series: pd.Series, target: str) -> list[str]:
    """A ``label:`` block for a target that is not 0/1 (none for a 0/1 target)."""
    values = series.dropna().map(canonical)
    counts = values.value_counts()
    distinct = sorted(counts.index)
    if set(distinct) <= {"0", "1"} or len(distinct) < 2:
        return []
    rare = min(distinct, key=lambda v: (counts[v], v))
    good = [v for v in distinct if v != rare]
    shown = ", ".join(f"{v} ({counts[v]:,} rows)" for v in distinct)
    if len(distinct) == 2:
        head = ["label:  # the rarer value is taken as default: check it"]
    else:
        head = [f"# '{target}' has {len(distinct)} values: {shown}.",
                "# Which mean default? List them under bad, those meaning no default under",
                "# good, and drop any other (e.g. still open) with filter: {"
                f"{_yaml_scalar(target)}: {{not_in: [...]}}}}.",
                "# Proposed: the rarest value as default, every other as good.",
                "label:"]
    return head + [f"  bad: [{_yaml_scalar(rare)}]",
                   f"  good: [{', '.join(_yaml_scalar(v) for v in good)}]"]


def sentinels(s: pd.Series) -> tuple[tuple[float, int], ...]:
    """Values like 9, 99, 999 or 99999999 that sit far from the rest, with their counts.

    A candidate is an all-nines number (or its negative) present in the
    column; it is a sentinel when the gap to the nearest other value is larger
    than the whole range of the other values (which must hold two or more).
    """
    x = pd.to_numeric(s, errors="coerce").dropna().to_numpy(dtype=np.float64)
    found = []
    for v in (*_NINES, *(-n for n in _NINES)):
        hit = x == v
        if not hit.any():
            continue
        rest = x[~np.isin(x, [c for c, _ in found] + [v])]
        if len(np.unique(rest)) < 2:
            continue
        gap = np.min(np.abs(rest - v))
        if gap > np.ptp(rest):
            found.append((v, int(hit.sum())))
    return tuple(found)


def _read_column(s: pd.Series) -> _Column:
    known = s.dropna()
    if known.empty or known.nunique() <= 1:
        return _Column("constant or empty")
    numeric = pd.api.types.is_numeric_dtype(s.dtype) and not pd.api.types.is_bool_dtype(s.dtype)
    distinct = known.nunique() == len(known) and len(known) > ID_MIN_ROWS
    if not numeric:
        if distinct:
            return _Column("every value distinct (an identifier)")
        sample = known.astype(str).head(50)
        if pd.to_datetime(sample, errors="coerce", format="ISO8601").notna().all():
            return _Column("dates (use them for --oot-date, not as an indicator)")
        return _Column()
    x = known.to_numpy(dtype=np.float64)
    integer = bool(np.all(x == np.round(x)))
    if distinct and integer:
        return _Column("every value distinct (an identifier)")
    specials = sentinels(known)
    levels = int(pd.Series(x[~np.isin(x, [v for v, _ in specials])]).nunique())
    few = integer and 2 < levels <= CATEGORY_LEVELS
    return _Column("", True, specials, levels if few else 0)
