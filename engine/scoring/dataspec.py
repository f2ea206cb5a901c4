"""A credit team's own data: the spec's row filter and label.

An indicator spec (the catalogue format, ``engine.scoring.indicators``)
describes a labelled file that is not a customer-record file. Besides its
indicators it may say which rows belong to the modelled population and
what the label means::

    filter:                      # rows kept: every condition holds
      status: {ne: withdrawn}    # lt le gt ge eq ne in not_in; a list = one of
      creditability: [good, bad]
    label:
      bad: [bad]                 # target values meaning default
      good: [good]               # values meaning no default; any other is refused
      definition: Payments 90 days past due within 12 months of the loan.

Both travel into the artifact with the indicators, so a model trained on a
file can score that kind of file alone (``engine.scoring.files``) and its
card states the label it was trained on. Starter specs are written by
``engine.modelops.specinit``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from engine.errors import ConfigError, FrameError
from engine.scoring.values import canonical

__all__ = [
    "Label",
    "RowFilter",
    "apply_filter",
    "read_filter",
    "read_label",
]

OPERATORS = ("lt", "le", "gt", "ge", "eq", "ne", "in", "not_in")


@dataclass(frozen=True)
class RowFilter:
    """ANDed conditions per column: ``(column, operator, value)``."""

    conditions: tuple[tuple[str, str, Any], ...]
    source: dict[str, Any]

    def describe(self) -> str:
        return " and ".join(f"{c} {op} {v!r}" for c, op, v in self.conditions)


@dataclass(frozen=True)
class Label:
    """Which target values mean default, which mean none, and in words what default is."""

    bad: tuple[str, ...] = ()
    good: tuple[str, ...] = ()
    definition: str = ""


def read_filter(doc: Any, where: str, line: int | None) -> RowFilter | None:
    """Check the spec's ``filter:`` mapping; ``None`` when the spec has none."""
    if doc is None:
        return None
    if not isinstance(doc, dict) or not doc:
        raise ConfigError("filter must map column names to conditions, e.g. "
                          "{status: {ne: withdrawn}}", file=where, line=line)
    conditions = []
    for column, cond in doc.items():
        if isinstance(cond, list):
            conditions.append((str(column), "in", tuple(cond)))
            continue
        if not isinstance(cond, dict):
            conditions.append((str(column), "eq", cond))
            continue
        for op, value in cond.items():
            if op not in OPERATORS:
                raise ConfigError(f"filter on '{column}': unknown operator '{op}'; use one of "
                                  + ", ".join(OPERATORS), file=where, line=line)
            if op in ("in", "not_in") and not isinstance(value, list):
                raise ConfigError(f"filter on '{column}': '{op}' takes a list", file=where,
                                  line=line)
            if op in ("lt", "le", "gt", "ge") and (isinstance(value, bool)
                                                   or not isinstance(value, int | float)):
                raise ConfigError(f"filter on '{column}': '{op}' takes a number, got "
                                  f"{value!r}", file=where, line=line)
            conditions.append((str(column), op, tuple(value) if isinstance(value, list)
                               else value))
    return RowFilter(tuple(conditions), doc)


def read_label(doc: Any, where: str, line: int | None) -> Label | None:
    """Check the spec's ``label:`` mapping (``bad``, ``good``, ``definition``)."""
    if doc is None:
        return None
    if not isinstance(doc, dict) or not set(doc) <= {"bad", "good", "definition"}:
        raise ConfigError("label takes bad: [values], good: [values] and definition: text",
                          file=where, line=line)

    def values(key: str) -> tuple[str, ...]:
        raw = doc.get(key)
        raw = [] if raw is None else raw if isinstance(raw, list) else [raw]
        return tuple(canonical(v) for v in raw)

    label = Label(values("bad"), values("good"), " ".join(str(doc.get("definition", "")).split()))
    if set(label.bad) & set(label.good):
        raise ConfigError("label: a value is both bad and good", file=where, line=line)
    return label


def _mask(frame: pd.DataFrame, column: str, op: str, value: Any) -> np.ndarray:
    if op in ("lt", "le", "gt", "ge"):
        x = pd.to_numeric(frame[column], errors="coerce").to_numpy(dtype=np.float64)
        with np.errstate(invalid="ignore"):
            return {"lt": x < value, "le": x <= value, "gt": x > value, "ge": x >= value}[op]
    text = frame[column].map(canonical).to_numpy(dtype=object)
    wanted = [canonical(v) for v in (value if isinstance(value, tuple) else (value,))]
    hit = np.isin(text, wanted)
    return ~hit if op in ("ne", "not_in") else hit


def apply_filter(frame: pd.DataFrame, row_filter: RowFilter | None,
                 where: str = "the spec") -> tuple[pd.DataFrame, int]:
    """The rows the filter keeps, and how many it left out (counted, never silent)."""
    if row_filter is None:
        return frame, 0
    keep = np.ones(len(frame), dtype=bool)
    for column, op, value in row_filter.conditions:
        if column not in frame.columns:
            raise FrameError(f"{where}: filter on '{column}', which the data does not have",
                             columns=[column])
        keep &= _mask(frame, column, op, value)
    return frame[keep], int((~keep).sum())
