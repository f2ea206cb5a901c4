"""Whole frames of customer records validated column-wise against ``engine.records.FIELDS``.

``validate_frame`` accepts and refuses exactly what ``validate_record`` does
row by row, with the same rules, and keeps every input row: in the accepted
frame or as a reject naming its field, value and reason.
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from engine.errors import FrameError
from engine.records import ABSENT_RULE, CUSTOMER_ID, FIELDS, NON_RESIDENTIAL, FieldSpec

__all__ = ["validate_frame"]

_TRUE = {"true", "1", "yes", "y", "t"}
_FALSE = {"false", "0", "no", "n", "f"}


def validate_frame(frame: pd.DataFrame, fields: tuple[FieldSpec, ...] = FIELDS
                   ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Validate a whole frame column-wise against ``fields`` (the customer record's by default;
    other records, such as service-quality surveys, declare their own ``FieldSpec`` tuple).

    Returns ``(accepted, rejects)``: accepted rows converted to the declared
    types (original index kept), and one reject row per refused input row
    with ``row``, ``customer_id``, ``field``, ``value`` and ``reason``. Every
    input row lands in exactly one of the two. A frame missing required
    columns raises ``FrameError`` naming them.
    """
    missing = [f.name for f in fields if f.required == "all" and f.name not in frame.columns]
    if missing:
        raise FrameError("missing required columns: " + ", ".join(missing), columns=missing)
    n = len(frame)
    bad = np.zeros(n, dtype=bool)
    reason = np.empty(n, dtype=object)
    bad_field = np.empty(n, dtype=object)
    bad_value = np.empty(n, dtype=object)
    out: dict[str, Any] = {}
    enterprise = (_is_in(frame["customer_class"].astype("string"), NON_RESIDENTIAL)
                  if "customer_class" in frame.columns else np.zeros(n, dtype=bool))

    def flag(mask: np.ndarray, spec: FieldSpec, why: str, raw: pd.Series | None) -> None:
        new = mask & ~bad
        if new.any():
            bad[new] = True
            reason[new] = why
            bad_field[new] = spec.name
            # raw values are read for the refused rows only: most rows pass
            bad_value[new] = None if raw is None else raw[new].to_numpy(dtype=object)

    for spec in fields:
        if spec.name not in frame.columns:
            out[spec.name] = _empty_column(spec, n)
            if spec.required == "non-residential":
                flag(enterprise, spec, f"required for non-residential customers: {spec.rule()}",
                     None)
            continue
        raw = frame[spec.name]
        null = raw.isna().to_numpy()
        col, invalid = _convert(spec, raw)
        flag(invalid & ~null, spec, spec.rule(), raw)
        if spec.required == "all":
            flag(null, spec, "required field is missing", raw)
        elif spec.required == "non-residential":
            flag(null & enterprise, spec,
                 "required for non-residential customers (financial status)", raw)
            flag(~null & ~enterprise, spec, ABSENT_RULE, raw)
        out[spec.name] = col

    # one block per column, as converted: consolidating them would copy every column
    accepted = pd.DataFrame(out, index=frame.index, copy=False)
    if bad.any():
        accepted = accepted[~bad]
    rows = np.flatnonzero(bad)
    ids = frame["customer_id"].iloc[rows].to_numpy(dtype=object)
    rejects = pd.DataFrame(
        {
            "row": rows.astype(np.int64),
            "customer_id": pd.array([_text(v) for v in ids], dtype="string"),
            "field": pd.array(list(bad_field[rows]), dtype="string"),
            "value": pd.array([_text(v) for v in bad_value[rows]], dtype="string"),
            "reason": pd.array(list(reason[rows]), dtype="string"),
        }
    )
    return accepted, rejects


def _text(value: Any) -> str | None:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return None
    return str(value)


def _empty_column(spec: FieldSpec, n: int) -> pd.Series:
    if spec.kind in ("int", "float"):
        return pd.Series(np.full(n, np.nan))
    if spec.kind == "bool":
        return pd.Series(pd.array([pd.NA] * n, dtype="boolean"))
    if spec.kind == "date":
        return pd.Series(pd.NaT, index=range(n), dtype="datetime64[ns]")
    return pd.Series(pd.array([pd.NA] * n, dtype="string"))


def _convert(spec: FieldSpec, s: pd.Series) -> tuple[Any, np.ndarray]:
    """Convert one column to its declared type; return (values, invalid mask)."""
    null = s.isna().to_numpy()
    if spec.kind in ("int", "float"):
        if s.dtype == bool or pd.api.types.is_bool_dtype(s.dtype):
            num = pd.Series(np.full(len(s), np.nan), index=s.index)
            invalid = ~null
        else:
            num = pd.to_numeric(s, errors="coerce").astype("float64")
            invalid = num.isna().to_numpy() & ~null
        v = num.to_numpy()
        with np.errstate(invalid="ignore"):
            invalid |= ~np.isfinite(v) & ~np.isnan(v)
            if spec.ge is not None:
                invalid |= v < spec.ge
            if spec.le is not None:
                invalid |= v > spec.le
            if spec.kind == "int":
                invalid |= np.isfinite(v) & (v != np.round(v))
        return num.to_numpy(), invalid
    if spec.kind == "bool":
        if pd.api.types.is_bool_dtype(s.dtype):
            return s.astype("boolean").to_numpy(), np.zeros(len(s), dtype=bool)
        text = s.astype("string").str.strip().str.lower()
        is_true = text.isin(_TRUE).fillna(False).to_numpy(dtype=bool)
        is_false = text.isin(_FALSE).fillna(False).to_numpy(dtype=bool)
        vals = pd.array(np.where(is_true, True, False), dtype="boolean")
        vals[null] = pd.NA
        return vals, ~(is_true | is_false) & ~null
    if spec.kind == "date":
        iso = _iso_dates(s, null)
        if iso is not None:
            return iso, np.zeros(len(s), dtype=bool)
        d = pd.to_datetime(s, errors="coerce", format="mixed")
        return d.to_numpy(), d.isna().to_numpy() & ~null
    text = s.astype("string")
    if spec.kind == "category":
        ok = _is_in(text, spec.choices)
    else:
        ok = _matches(text, CUSTOMER_ID.pattern)
    return text.array, ~ok & ~null


def _arrow_text(text: pd.Series) -> pa.ChunkedArray | pa.Array | None:
    """A text column's Arrow array when it has one (no copy), else None."""
    if isinstance(text.dtype, pd.StringDtype) and text.dtype.storage == "pyarrow":
        return pa.array(text.array)
    return None


def _is_in(text: pd.Series, choices: tuple[str, ...]) -> np.ndarray:
    """Whether each cell of a text column is one of ``choices`` (False where missing)."""
    arrow = _arrow_text(text)
    if arrow is None:
        return text.isin(choices).fillna(False).to_numpy(dtype=bool)
    found = pc.is_in(arrow, value_set=pa.array(choices, type=arrow.type))
    return np.asarray(pc.fill_null(found, False), dtype=bool)


def _matches(text: pd.Series, pattern: str) -> np.ndarray:
    """Whether each cell of a text column matches ``pattern`` whole (False where missing).

    The pattern is anchored at both ends, so a substring match is a full one.
    """
    arrow = _arrow_text(text)
    if arrow is None:
        return text.str.fullmatch(pattern).fillna(False).to_numpy(dtype=bool)
    found = pc.match_substring_regex(arrow, pattern)
    return np.asarray(pc.fill_null(found, False), dtype=bool)


@functools.cache
def _date_unit() -> np.dtype:
    """The datetime type ``pd.to_datetime`` gives a column of ISO dates."""
    return pd.to_datetime(pd.Series(["2000-01-01"]), format="mixed").to_numpy().dtype


def _iso_dates(s: pd.Series, null: np.ndarray) -> np.ndarray | None:
    """A text column of strict ``YYYY-MM-DD`` dates (or missing) parsed by Arrow, else None.

    Arrow's cast refuses the whole column at the first cell that is not a
    real calendar date in exactly that form; such a column, and one with no
    date at all, is left to ``pd.to_datetime``, which reads other forms too.
    For strict ISO dates both give the same day at midnight.
    """
    arrow = _arrow_text(s)
    if arrow is None or null.all():
        return None
    try:
        days = pc.cast(arrow, pa.date32())
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return None
    stamps = pc.cast(days, pa.timestamp(np.datetime_data(_date_unit())[0]))
    return np.asarray(stamps.to_numpy(zero_copy_only=False), dtype=_date_unit())
