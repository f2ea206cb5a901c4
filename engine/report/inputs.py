"""What the auditor report accepts: the decided population, outcomes, sensitivity, segment.

Each check refuses bad input with the column, the row and what to pass instead,
before anything is drawn.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from engine.errors import FrameError, InputError, closest, did_you_mean
from engine.records import scale_grades

__all__ = ["DECISION_COLUMNS", "SEGMENTS", "SENSITIVITY_COLUMNS", "check_decisions",
           "check_labels", "check_segment", "check_sensitivity", "labels_from", "require"]

DECISION_COLUMNS = (
    "customer_id", "customer_class", "as_of", "model_id", "z", "pd", "band_grade", "grade",
    "grade_rule", "override", "consumption_class", "outage_sensitivity",
    "service_sensitivity", "value_tier", "policies", "table_version", "table_hash",
)
SEGMENTS = ("consumption_class", "outage_sensitivity", "service_sensitivity", "value_tier")
SENSITIVITY_COLUMNS = ("group", "shock", "before", "after")
# ``engine.modelops.sensitivity.analyse`` reports the portfolio's mean PD before and after.
_PORTFOLIO_PD = {"mean_pd_before": "before", "mean_pd_after": "after"}


def require(frame: Any, columns: Sequence[str], what: str) -> pd.DataFrame:
    if not isinstance(frame, pd.DataFrame):
        raise InputError(f"{what} must be a pandas DataFrame, not {type(frame).__name__}")
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        hints = []
        for name in missing:
            hints.append(f"'{name}'" + did_you_mean(closest(name, frame.columns)))
        raise FrameError(f"{what} lacks column(s) {', '.join(hints)}; it needs "
                         + ", ".join(columns), columns=missing)
    return frame


def check_decisions(decisions: Any) -> pd.DataFrame:
    frame = require(decisions, DECISION_COLUMNS, "decisions")
    pd_values = pd.to_numeric(frame["pd"], errors="coerce")
    bad = frame.index[~pd_values.between(0.0, 1.0)]
    if len(bad):
        row = bad[0]
        raise FrameError(f"decisions: column 'pd' must hold numbers in [0, 1]; {len(bad)} row(s) "
                         f"do not, first at index {row} (customer "
                         f"'{frame.at[row, 'customer_id']}', pd = {frame.at[row, 'pd']})",
                         columns=["pd"])
    grades = frame["grade"].astype(str)
    scale = scale_grades()
    unknown = sorted(set(grades) - set(scale))
    if unknown:
        raise FrameError(f"decisions: column 'grade' holds {unknown[0]!r}, not a grade of the "
                         f"master scale ({', '.join(scale)})", columns=["grade"])
    return frame


def check_labels(labels: Any, decisions: pd.DataFrame) -> pd.Series:
    if not isinstance(labels, pd.Series):
        raise InputError(f"labels must be a pandas Series indexed like decisions, "
                         f"not {type(labels).__name__}")
    aligned = labels.reindex(decisions.index)
    missing = int(aligned.isna().sum())
    if missing:
        raise InputError(f"labels: {missing} of {len(decisions)} decided customers have no "
                         f"observed outcome; index the labels like decisions "
                         f"(e.g. labels = population['default_12m'].loc[decisions.index])")
    values = pd.to_numeric(aligned, errors="coerce")
    if not values.isin([0, 1]).all():
        odd = aligned[~values.isin([0, 1])].iloc[0]
        raise InputError(f"labels must be 0 (no default) or 1 (default within 12 months), "
                         f"found {odd}")
    return values.astype(np.int64)


def labels_from(decisions: pd.DataFrame, population: pd.DataFrame,
                column: str = "default_12m") -> pd.Series:
    """Observed outcomes for ``decisions``, matched on ``customer_id`` from a labelled population.

    Batch output drops rejected rows and renumbers, so outcomes are matched by
    customer id rather than by position.
    """
    require(population, ("customer_id", column), "labelled population")
    ids = population["customer_id"].astype(str)
    doubled = ids[ids.duplicated()]
    if len(doubled):
        raise FrameError(f"labelled population: customer_id {doubled.iloc[0]!r} appears more "
                         "than once; outcomes must be one per customer", columns=["customer_id"])
    outcome = pd.Series(population[column].to_numpy(), index=ids.to_numpy())
    matched = decisions["customer_id"].astype(str).map(outcome)
    missing = decisions["customer_id"][matched.isna()]
    if len(missing):
        raise InputError(f"labelled population: no '{column}' for {len(missing)} decided "
                         f"customer(s), first {str(missing.iloc[0])!r}; label the same "
                         "population that was decided")
    return matched.rename(column)


def check_sensitivity(sensitivity: Any) -> tuple[pd.DataFrame, bool]:
    """The sensitivity frame with ``before``/``after`` columns, and whether they are PDs.

    Takes a frame with group, shock, before, after, or the result of
    ``engine.modelops.sensitivity.analyse`` (or its ``table``), whose mean PD columns
    become before and after.
    """
    table = getattr(sensitivity, "table", None)
    if isinstance(table, pd.DataFrame):
        sensitivity = table
    is_pd = False
    if (isinstance(sensitivity, pd.DataFrame) and "before" not in sensitivity.columns
            and set(_PORTFOLIO_PD) <= set(sensitivity.columns)):
        sensitivity = sensitivity.rename(columns=_PORTFOLIO_PD)
        is_pd = True
    frame = require(sensitivity, SENSITIVITY_COLUMNS, "sensitivity")
    for column in ("before", "after"):
        if pd.to_numeric(frame[column], errors="coerce").isna().any():
            raise FrameError(f"sensitivity: column '{column}' must hold numbers",
                             columns=[column])
    return frame, is_pd


# ---------------------------------------------------------------------------- sections


def check_segment(segment: str) -> None:
    if segment not in SEGMENTS:
        raise InputError(f"unknown segment '{segment}'" + did_you_mean(closest(segment, SEGMENTS))
                         + f": use one of {', '.join(SEGMENTS)}")

