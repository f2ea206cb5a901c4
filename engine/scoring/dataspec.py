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

from engine.errors import ConfigError, FrameError, closest, did_you_mean
from engine.scoring.values import canonical

__all__ = [
    "Label",
    "RowFilter",
    "apply_filter",
    "label_filter_note",
    "read_filter",
    "read_label",
]

OPERATORS = ("lt", "le", "gt", "ge", "eq", "ne", "in", "not_in")


@dataclass(frozen=True)
class RowFilter:
    """ANDed conditions per column: ``(column, operator, value)``, with the spec line of each."""

    conditions: tuple[tuple[str, str, Any], ...]
    source: dict[str, Any]
    lines: tuple[int | None, ...] = ()

    def describe(self) -> str:
        return " and ".join(f"{c} {op} {v!r}" for c, op, v in self.conditions)

    def on(self, column: str) -> RowFilter | None:
        """The conditions that test ``column`` alone (``None`` when none does)."""
        keep = [k for k, (c, _, _) in enumerate(self.conditions) if c == column]
        return self._pick(keep)

    def without(self, column: str | None) -> RowFilter | None:
        """The conditions that do not test ``column`` (``None`` when none is left)."""
        keep = [k for k, (c, _, _) in enumerate(self.conditions) if c != column]
        return self._pick(keep)

    def _pick(self, keep: list[int]) -> RowFilter | None:
        if not keep:
            return None
        lines = tuple(self.lines[k] for k in keep) if self.lines else ()
        columns = {self.conditions[k][0] for k in keep}
        return RowFilter(tuple(self.conditions[k] for k in keep),
                         {c: v for c, v in self.source.items() if str(c) in columns}, lines)


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
    conditions, lines = [], []
    for column, cond in doc.items():
        at = doc.line_of(column) if hasattr(doc, "line_of") else line
        if isinstance(cond, list):
            conditions.append((str(column), "in", tuple(cond)))
            lines.append(at)
            continue
        if not isinstance(cond, dict):
            conditions.append((str(column), "eq", cond))
            lines.append(at)
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
            lines.append(at)
    return RowFilter(tuple(conditions), doc, tuple(lines))


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
    """The rows the filter keeps, and how many it left out (counted, never silent).

    A condition on a column the data lacks is refused with the spec line and
    the column meant (same name in another case, or a close spelling).
    """
    if row_filter is None:
        return frame, 0
    keep = np.ones(len(frame), dtype=bool)
    lines = row_filter.lines or (None,) * len(row_filter.conditions)
    for (column, op, value), line in zip(row_filter.conditions, lines, strict=True):
        if column not in frame.columns:
            names = [str(c) for c in frame.columns]
            same_case = [c for c in names if c.lower() == column.lower()]
            hint = (f" (did you mean '{same_case[0]}'?)" if same_case
                    else did_you_mean(closest(column, names, cutoff=0.8)))
            at = f":{line}" if line else ""
            raise FrameError(f"{where}{at}: filter on '{column}', which the data does not "
                             f"have{hint}", columns=[column])
        keep &= _mask(frame, column, op, value)
    return frame[keep], int((~keep).sum())


def label_filter_note(frame: pd.DataFrame, row_filter: RowFilter | None,
                      target: str) -> str:
    """What the spec's conditions on the label would do to a file being scored or monitored.

    Scoring and monitoring never apply them: a label filter chooses the rows
    a model learns from, and outcomes arrive months after the rows are
    scored. Empty when the filter does not test the label.
    """
    on_label = row_filter.on(target) if row_filter is not None else None
    if on_label is None:
        return ""
    if target not in frame.columns:
        return (f"the filter on the label '{target}' ({on_label.describe()}) was not applied: "
                "the file has no outcomes")
    _, would = apply_filter(frame, on_label)
    return (f"the filter on the label '{target}' ({on_label.describe()}) was not applied; "
            f"it would have left out {would:,} rows")
