"""A credit team's own data: the spec's row filter and label, and starter specs.

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
file can score that kind of file alone (``gridcredit score``) and its card
states the label it was trained on.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from engine.errors import ConfigError, FrameError

__all__ = [
    "Label",
    "RowFilter",
    "apply_filter",
    "init_spec",
    "model_catalogue",
    "read_filter",
    "read_label",
    "score_file",
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
    from engine.scoring.indicators import canonical

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
    from engine.scoring.indicators import canonical

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


def model_catalogue(model: Any) -> Any:
    """The indicator spec a file-trained artifact embeds, checked like a spec file."""
    from engine.scoring.indicators import catalogue_from_doc

    spec = model.doc.get("data_spec")
    if spec is None:
        raise FrameError(f"model '{model.model_id}' ({model.path}) scores customer records, "
                         "not a file of its own kind: use 'gridcredit decide --input FILE'")
    return catalogue_from_doc(spec, f"{model.path} (data_spec)")


def score_file(model: Any, frame: pd.DataFrame, bands: Any) -> tuple[pd.DataFrame,
                                                                      pd.DataFrame]:
    """Score the rows of a file with the model trained on that kind of file.

    Returns ``(scored, rejects)``: the rows the training filter admits with
    ``z``, ``pd``, ``grade`` and the top reasons appended, and the rows it
    does not, each with the reason. Rows in = rows scored + rows rejected.
    """
    from engine.scale import assign
    from engine.scoring.indicators import compute

    catalogue = model_catalogue(model)
    kept, _ = apply_filter(frame, catalogue.row_filter, f"{model.path} (data_spec)")
    rejects = frame.loc[~frame.index.isin(kept.index)].assign(
        reason=f"outside the model's population ({catalogue.row_filter.describe()})"
        if catalogue.row_filter else "")
    values = compute(kept, catalogue, list(model.indicators))
    scored = model.score_frame(values).to_frame()
    scored.insert(2, "grade", np.array([b.grade for b in bands], dtype=object)[
        assign(scored["pd"].to_numpy(), bands)])
    return pd.concat([kept, scored], axis=1), rejects


def _yaml_scalar(value: Any) -> str:
    import yaml

    return yaml.safe_dump(value, default_flow_style=True, allow_unicode=True).strip() \
        .removesuffix("...").strip()


def init_spec(frame: pd.DataFrame, target: str, source: str = "") -> tuple[str, list[str]]:
    """A starter spec for a labelled file, and the columns it leaves out (with why).

    Numeric columns become ``identity`` indicators, text columns
    ``category``; every direction is ``auto`` (the binning chooses the
    trend). Identifiers (every value distinct), constant columns and dates
    are left out with a comment. The result loads and trains as it is.
    """
    from engine.scoring.indicators import canonical

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
