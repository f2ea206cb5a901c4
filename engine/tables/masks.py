"""Conditions as numpy masks over whole columns: the vectorised executor's form.

A column is encoded once (numbers as floats, categories as codes), and each
distinct condition of a table set becomes one boolean mask over it, false on
a null value for every operator, as the other forms of ``engine.conditions``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from engine.conditions import LISTS, Condition
from engine.records import FieldSpec

__all__ = ["Column", "encode_column", "mask"]


@dataclass(frozen=True)
class Column:
    """A whole column ready for masks: floats with NaN, or category codes.

    Category codes are -1 for null and -2 for a value no rule mentions, so
    that ``ne`` and ``not_in`` stay true for it, as in the durable executor.
    """

    kind: str
    values: np.ndarray
    codes: dict[Any, int] | None = None

    @property
    def null(self) -> np.ndarray:
        if self.codes is None:
            return np.isnan(self.values)
        return self.values == -1


def encode_column(spec: FieldSpec, data: Any, mentioned: Sequence[Any] = ()) -> Column:
    """Encode one column of facts for mask evaluation."""
    series = data if isinstance(data, pd.Series) else pd.Series(data, dtype=object)
    if spec.kind in ("int", "float"):
        if pd.api.types.is_bool_dtype(series.dtype):
            series = series.astype("float64")
        values = pd.to_numeric(series, errors="coerce").to_numpy(dtype=np.float64,
                                                                  na_value=np.nan)
        return Column("num", values)
    if spec.kind == "bool":
        if pd.api.types.is_bool_dtype(series.dtype) and series.dtype != object:
            values = series.astype("boolean").to_numpy(dtype=np.float64, na_value=np.nan)
        else:
            obj = series.to_numpy(dtype=object)
            values = np.full(len(obj), np.nan)
            known = pd.notna(obj)
            values[known] = [1.0 if bool(v) else 0.0 for v in obj[known]]
        return Column("num", values)
    cats = list(dict.fromkeys([*(spec.choices or ()), *mentioned]))
    codes = pd.Index(cats, dtype=object).get_indexer(series.astype(object)).astype(np.int16)
    other = (codes == -1) & series.notna().to_numpy()
    if other.any():
        codes = codes.copy()
        codes[other] = -2
    return Column("cat", codes, {c: i for i, c in enumerate(cats)})


def mask(cond: Condition, col: Column) -> np.ndarray:
    """Rows where the condition holds; null rows are always false."""
    v = col.values
    if col.codes is not None:
        wanted = [col.codes.get(x, -3) for x in
                  (cond.value if isinstance(cond.value, tuple) else (cond.value,))]
        if cond.op == "eq":
            return v == wanted[0]
        if cond.op == "in":
            return np.isin(v, wanted)
        if cond.op == "ne":
            return (v != wanted[0]) & (v != -1)
        if cond.op == "not_in":
            return ~np.isin(v, wanted) & (v != -1)
        raise ValueError(f"operator {cond.op} on a category column")
    value = cond.value
    if cond.op in LISTS:
        wanted_num = np.array([float(x) for x in value])
        hit = np.isin(v, wanted_num)
        return hit if cond.op == "in" else ~hit & ~np.isnan(v)
    x = float(value)
    with np.errstate(invalid="ignore"):
        if cond.op == "eq":
            return v == x
        if cond.op == "ne":
            return (v != x) & ~np.isnan(v)
        if cond.op == "lt":
            return v < x
        if cond.op == "le":
            return v <= x
        if cond.op == "gt":
            return v > x
        return v >= x
