"""Indicators: the numbers the scorer sees, computed from customer records.

The catalogue (``models/indicators.yaml``) is the one place that says how each
indicator is derived, which way it moves when credit worsens and which
risk-factor group it belongs to. Training, scoring, reason codes and the
sensitivity analysis read it, so they cannot disagree about an indicator.

``compute`` works on whole frames with numpy; ``compute_one`` runs the very
same transform functions on one-element arrays, so a single record gets
exactly the numbers the batch path gives it.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from engine.errors import ConfigError, FrameError, closest, did_you_mean
from engine.records import FIELDS
from engine.scoring.dataspec import read_filter, read_label
from engine.scoring.values import canonical
from engine.yamlfile import read_yaml

__all__ = [
    "DIRECTIONS",
    "RISK_GROUPS",
    "TRANSFORMS",
    "Catalogue",
    "Indicator",
    "catalogue_from_doc",
    "compute",
    "compute_one",
    "load_catalogue",
]

RISK_GROUPS = (
    "production", "management", "technical", "market", "payment behaviour", "social credit",
)
TRANSFORMS = {"identity": 1, "log1p": 1, "flag": 1, "category": 1, "ratio": 2, "gap": 2}
DIRECTIONS = ("higher_is_riskier", "lower_is_riskier", "auto")
SCHEMA = "gridcredit.indicators/1"
_KEYS = {
    "name", "sources", "transform", "direction", "unit", "group", "description",
    "scale", "floor", "clip", "levels", "applies_to", "special_values", "missing",
}
_TOP_KEYS = {"schema", "record", "groups", "indicators", "filter", "label"}
_ONE_SOURCE = ("identity", "log1p", "flag", "category")


@dataclass(frozen=True)
class Indicator:
    """One catalogue entry. ``kind`` is ``numeric`` or ``category``."""

    name: str
    sources: tuple[str, ...]
    transform: str
    direction: str
    unit: str
    group: str
    description: str
    scale: float = 1.0
    floor: float = 0.0
    clip: tuple[float, float] | None = None
    levels: tuple[str, ...] = ()
    applies_to: tuple[str, ...] | None = None
    line: int | None = None
    special_values: tuple[Any, ...] = ()
    missing: str = "bin"
    missing_value: Any = None

    @property
    def kind(self) -> str:
        return "category" if self.transform == "category" else "numeric"

    @property
    def sign(self) -> int:
        """+1 when a larger value means worse credit, -1 when smaller does, 0 if unknown."""
        return {"higher_is_riskier": 1, "lower_is_riskier": -1}.get(self.direction, 0)

    def applies(self, segment: str | None) -> bool:
        return segment is None or self.applies_to is None or segment in self.applies_to

    @property
    def ordered(self) -> bool:
        """A category whose ``levels`` give an order the binning must respect."""
        return self.kind == "category" and bool(self.levels)

    def spec(self) -> dict[str, Any]:
        """The entry as a spec mapping (what an artifact embeds to score files alone)."""
        out: dict[str, Any] = {
            "name": self.name, "sources": list(self.sources), "transform": self.transform,
            "direction": self.direction, "unit": self.unit, "group": self.group,
            "description": self.description}
        if self.scale != 1.0:
            out["scale"] = self.scale
        if self.floor != 0.0:
            out["floor"] = self.floor
        if self.clip is not None:
            out["clip"] = list(self.clip)
        if self.levels:
            out["levels"] = list(self.levels)
        if self.special_values:
            out["special_values"] = list(self.special_values)
        if self.missing != "bin":
            out["missing"] = ({"value": self.missing_value} if self.missing == "value"
                              else self.missing)
        return out


@dataclass(frozen=True)
class Catalogue:
    """The loaded indicator catalogue (ordered as in the file)."""

    indicators: tuple[Indicator, ...]
    groups: tuple[str, ...] = RISK_GROUPS
    path: str = ""
    row_filter: Any = None
    label: Any = None
    _by_name: Mapping[str, Indicator] = field(default_factory=dict, repr=False, compare=False)
    _chosen: dict[tuple[str, ...], tuple[Indicator, ...]] = field(
        default_factory=dict, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_by_name", {i.name: i for i in self.indicators})

    def __getitem__(self, name: str) -> Indicator:
        try:
            return self._by_name[name]
        except KeyError:
            raise ConfigError(f"unknown indicator '{name}'", file=self.path,
                              suggestion=closest(name, self._by_name)) from None

    def __contains__(self, name: object) -> bool:
        return name in self._by_name

    def __iter__(self):
        return iter(self.indicators)

    def __len__(self) -> int:
        return len(self.indicators)

    def chosen(self, names: list[str] | tuple[str, ...] | None) -> tuple[Indicator, ...]:
        """The indicators named (all for ``None``), in that order; looked up once per list."""
        if names is None:
            return self.indicators
        key = tuple(names)
        found = self._chosen.get(key)
        if found is None:
            found = self._chosen[key] = tuple(self[n] for n in key)
        return found

    def names(self, segment: str | None = None) -> list[str]:
        """Indicator names used by a model segment (all of them for ``None``)."""
        return [i.name for i in self.indicators if i.applies(segment)]

    def subset(self, names: list[str] | tuple[str, ...]) -> Catalogue:
        """The catalogue restricted to ``names``, in that order."""
        return Catalogue(tuple(self[n] for n in names), self.groups, self.path,
                         self.row_filter, self.label)

    def sources(self) -> list[str]:
        return list(dict.fromkeys(s for i in self.indicators for s in i.sources))


# --------------------------------------------------------------------------- loading

def load_catalogue(path: str | Path) -> Catalogue:
    """Read and check an indicator catalogue; refuse it whole with file:line on any error."""
    path = Path(path)
    where = str(path)
    return catalogue_from_doc(read_yaml(path), where)


def catalogue_from_doc(doc: Any, where: str) -> Catalogue:
    """Check a catalogue or data spec read by ``read_yaml`` (with lines) or from JSON."""
    if not isinstance(doc, dict):
        raise ConfigError("expected a mapping with 'indicators:'", file=where, line=1)
    for key in doc:
        if key not in _TOP_KEYS:
            raise ConfigError(f"unknown key '{key}'", file=where, line=_line_of(doc, key),
                              suggestion=closest(key, sorted(_TOP_KEYS)))
    if doc.get("schema") != SCHEMA:
        raise ConfigError(f"key 'schema' = {doc.get('schema')!r}: expected {SCHEMA!r}",
                          file=where, line=_line_of(doc, "schema"))
    groups = tuple(doc.get("groups") or RISK_GROUPS)
    items = doc.get("indicators")
    if not isinstance(items, list) or not items:
        raise ConfigError("key 'indicators' must be a non-empty list", file=where,
                          line=_line_of(doc, "indicators"))
    lines = [_line_of(items, i) for i in range(len(items))]
    record_fields = _record_fields() if doc.get("record") == "customer" else None
    seen: set[str] = set()
    out = []
    for item, line in zip(items, lines, strict=True):
        ind = _indicator(item, where, line, groups, record_fields)
        if ind.name in seen:
            raise ConfigError(f"indicator '{ind.name}' is listed twice", file=where, line=line)
        seen.add(ind.name)
        out.append(ind)
    row_filter = read_filter(doc.get("filter"), where, _line_of(doc, "filter"))
    label = read_label(doc.get("label"), where, _line_of(doc, "label"))
    return Catalogue(tuple(out), groups, where, row_filter, label)


def _line_of(doc: Any, key: Any) -> int | None:
    """The line of ``key`` when the document came from a file, else None."""
    return doc.line_of(key) if hasattr(doc, "line_of") else None


def _record_fields() -> list[str]:
    return [f.name for f in FIELDS]


def _clip(clip: Any, fail: Callable[..., ConfigError]) -> tuple[float, float] | None:
    """An indicator's ``clip: [low, high]`` as floats, or None when absent."""
    if clip is None:
        return None
    if (not isinstance(clip, list) or len(clip) != 2
            or not all(isinstance(c, int | float) for c in clip) or clip[0] >= clip[1]):
        raise fail(f"clip must be [low, high] with low < high, got {clip!r}")
    return (float(clip[0]), float(clip[1]))


def _specials(specials: Any, transform: str, fail: Callable[..., ConfigError]) -> list[Any]:
    """An indicator's ``special_values``: numbers, or texts of a category, each once."""
    if specials and transform not in _ONE_SOURCE:
        raise fail("special_values apply to one-source transforms "
                   f"({', '.join(_ONE_SOURCE)})")
    if not isinstance(specials, list) or not all(
            isinstance(v, int | float | str) and not isinstance(v, bool) for v in specials):
        raise fail(f"special_values must be a list of numbers or texts, got {specials!r}")
    if transform != "category" and not all(isinstance(v, int | float) for v in specials):
        raise fail(f"special_values of a numeric indicator must be numbers, got {specials!r}")
    out = [canonical(v) if transform == "category" else float(v) for v in specials]
    if len(set(out)) != len(out):
        raise fail("special_values lists a value twice")
    return out


def _indicator(item: Any, where: str, line: int | None, groups: tuple[str, ...],
               record_fields: list[str] | None) -> Indicator:
    def fail(msg: str, suggestion: str | None = None) -> ConfigError:
        name = item.get("name") if isinstance(item, dict) else None
        who = f"indicator '{name}': " if name else ""
        return ConfigError(who + msg, file=where, line=line, suggestion=suggestion)

    if not isinstance(item, dict):
        raise fail("each indicator must be a mapping")
    for key in item:
        if key not in _KEYS:
            raise fail(f"unknown key '{key}'", closest(key, sorted(_KEYS)))
    for key in ("name", "sources", "transform", "direction", "unit", "group", "description"):
        if key not in item:
            raise fail(f"missing key '{key}'")
    transform = item["transform"]
    if transform not in TRANSFORMS:
        raise fail(f"unknown transform '{transform}': use one of {', '.join(TRANSFORMS)}",
                   closest(transform, TRANSFORMS))
    sources = item["sources"]
    if isinstance(sources, str):
        sources = [sources]
    if not isinstance(sources, list) or len(sources) != TRANSFORMS[transform]:
        raise fail(f"transform '{transform}' takes {TRANSFORMS[transform]} source field(s), "
                   f"got {sources!r}")
    if record_fields is not None:
        for s in sources:
            if s not in record_fields:
                raise fail(f"unknown source field '{s}'", closest(s, record_fields))
    if item["direction"] not in DIRECTIONS:
        raise fail(f"direction '{item['direction']}' must be one of {', '.join(DIRECTIONS)}")
    if item["group"] not in groups:
        raise fail(f"group '{item['group']}' is not one of {', '.join(groups)}",
                   closest(item["group"], groups))
    clip = _clip(item.get("clip"), fail)
    for key in ("scale", "floor"):
        value = item.get(key, 1.0 if key == "scale" else 0.0)
        if not isinstance(value, int | float) or not math.isfinite(value):
            raise fail(f"{key} must be a number, got {value!r}")
    if float(item.get("scale", 1.0)) <= 0:
        raise fail("scale must be > 0")
    levels = item.get("levels") or []
    if levels and transform != "category":
        raise fail("levels apply only to the category transform")
    if transform == "category" and not levels and item["direction"] != "auto":
        raise fail(f"direction '{item['direction']}' needs an order: list the categories in "
                   "'levels', best first, or use direction: auto")
    specials = _specials(item.get("special_values") or [], transform, fail)
    missing, missing_value = _missing(item.get("missing", "bin"), transform, fail)
    applies = item.get("applies_to")
    return Indicator(
        name=str(item["name"]),
        sources=tuple(str(s) for s in sources),
        transform=transform,
        direction=item["direction"],
        unit=str(item["unit"]),
        group=item["group"],
        description=" ".join(str(item["description"]).split()),
        scale=float(item.get("scale", 1.0)),
        floor=float(item.get("floor", 0.0)),
        clip=clip,
        levels=tuple(str(v) for v in levels),
        applies_to=tuple(applies) if applies else None,
        line=line,
        special_values=tuple(specials),
        missing=missing,
        missing_value=missing_value,
    )


def _missing(value: Any, transform: str, fail: Any) -> tuple[str, Any]:
    """``missing:`` is ``bin`` (own bin, the default), ``refuse``, or ``{value: X}``."""
    if value in ("bin", "refuse"):
        return value, None
    if isinstance(value, dict) and set(value) == {"value"}:
        fill = value["value"]
        if transform == "category":
            return "value", canonical(fill)
        if isinstance(fill, bool) or not isinstance(fill, int | float):
            raise fail(f"missing value for a numeric indicator must be a number, got {fill!r}")
        return "value", float(fill)
    raise fail(f"missing must be 'bin' (own bin), 'refuse' or {{value: X}}, got {value!r}")


# --------------------------------------------------------------------------- transforms

def _numeric(values: Any, name: str, source: str) -> np.ndarray:
    """A source column as float64 with NaN for missing; booleans become 0/1."""
    if isinstance(values, np.ndarray) and values.dtype == np.float64:
        return values
    s = pd.Series(values) if not isinstance(values, pd.Series) else values
    if pd.api.types.is_bool_dtype(s.dtype):
        return s.astype("Float64").to_numpy(dtype=np.float64, na_value=np.nan)
    if pd.api.types.is_numeric_dtype(s.dtype):
        return s.to_numpy(dtype=np.float64, na_value=np.nan)
    if s.dtype == object:
        mapped = s.map(lambda v: float(v) if isinstance(v, bool | np.bool_) else v)
        num = pd.to_numeric(mapped, errors="coerce")
    else:
        num = pd.to_numeric(s, errors="coerce")
    bad = num.isna().to_numpy() & ~s.isna().to_numpy()
    if bad.any():
        first = s[bad].iloc[0]
        raise FrameError(f"indicator '{name}': source '{source}' has a non-numeric value "
                         f"{first!r}; if the column holds categories, use transform: "
                         "category", columns=[source])
    return num.to_numpy(dtype=np.float64, na_value=np.nan)


def _category(values: Any) -> np.ndarray:
    if isinstance(values, np.ndarray) and values.dtype == object and len(values) < 8:
        return np.array([canonical(v) for v in values], dtype=object)
    s = pd.Series(values, dtype=object) if not isinstance(values, pd.Series) else values
    codes, uniques = pd.factorize(s, use_na_sentinel=True)
    table = np.array([canonical(u) for u in uniques] + [None], dtype=object)
    return table[codes]


def _apply(ind: Indicator, columns: list[Any]) -> np.ndarray:
    """The indicator's transform on its source columns (pure numpy)."""
    if ind.transform == "category":
        out = _category(columns[0])
        if ind.missing != "bin":
            out = _fill_missing(ind, out, np.equal(out, None))
        return out
    a = _numeric(columns[0], ind.name, ind.sources[0])
    if ind.missing != "bin":
        a = _fill_missing(ind, a, np.isnan(a))
    with np.errstate(invalid="ignore", divide="ignore"):
        if ind.transform in ("identity", "flag"):
            out = a
        elif ind.transform == "log1p":
            out = np.log1p(np.maximum(a, 0.0))
        elif ind.transform == "ratio":
            b = _numeric(columns[1], ind.name, ind.sources[1])
            out = a / (ind.scale * np.maximum(b, ind.floor))
        else:  # gap
            out = a - _numeric(columns[1], ind.name, ind.sources[1])
    if ind.clip is not None:
        out = np.clip(out, ind.clip[0], ind.clip[1])
    if ind.special_values:
        special = np.isin(a, ind.special_values)
        if special.any():
            out = np.where(special, a, out)
    return out


def _fill_missing(ind: Indicator, values: np.ndarray, missing: np.ndarray) -> np.ndarray:
    """Apply the indicator's ``missing:`` rule (``refuse`` or ``{value: X}``)."""
    if not missing.any():
        return values
    if ind.missing == "refuse":
        where = f" (spec line {ind.line})" if ind.line else ""
        raise FrameError(f"indicator '{ind.name}': source '{ind.sources[0]}' has "
                         f"{int(missing.sum())} missing values (first at row "
                         f"{int(np.flatnonzero(missing)[0])}) and its spec says missing: "
                         f"refuse{where}; fill them, drop the rows with 'filter:', or use "
                         "missing: bin", columns=[ind.sources[0]])
    out = values.copy()
    out[missing] = ind.missing_value
    return out


def compute(frame: pd.DataFrame, catalogue: Catalogue,
            names: list[str] | None = None) -> pd.DataFrame:
    """Indicators for every row of ``frame`` (index kept), one column per indicator.

    Numeric indicators are float64 with NaN where a source is absent (for
    example the financial ratios of residential customers); categories are
    object arrays with ``None`` for absent values.
    """
    chosen = catalogue.indicators if names is None else [catalogue[n] for n in names]
    missing = [s for s in dict.fromkeys(s for i in chosen for s in i.sources)
               if s not in frame.columns]
    if missing:
        raise FrameError(_missing_columns(missing, chosen, frame.columns, catalogue.path),
                         columns=missing)
    out = {ind.name: _apply(ind, [frame[s] for s in ind.sources]) for ind in chosen}
    return pd.DataFrame(out, index=frame.index)


def _missing_columns(missing: list[str], chosen: Any, columns: Any, path: str) -> str:
    """Which columns are absent, where the spec names them, and the column meant."""
    parts = []
    for source in missing:
        ind = next(i for i in chosen if source in i.sources)
        where = f"{path}:{ind.line}: " if ind.line else ""
        same_case = [str(c) for c in columns if str(c).lower() == source.lower()]
        hint = (f" (did you mean '{same_case[0]}'?)" if same_case
                else did_you_mean(closest(source, [str(c) for c in columns], cutoff=0.8)))
        parts.append(f"{where}indicator '{ind.name}' reads '{source}'{hint}")
    return ("missing columns the indicators need: " + ", ".join(missing) + "; "
            + "; ".join(parts))


def _one_number(value: Any, ind: Indicator, source: str) -> float:
    if value is None:
        return math.nan
    if type(value) is float:
        return value
    if isinstance(value, bool | np.bool_ | int | float | np.integer | np.floating):
        return float(value)
    return float(_numeric(pd.Series([value], dtype=object), ind.name, source)[0])


def at_least(a: float, b: float) -> float:
    """``np.maximum(a, b)``: NaN wins, and ``b`` on a tie (so -0.0 vs 0.0 gives ``b``)."""
    return a if a != a or a > b else b


def divide(a: float, b: float) -> float:
    """``a / b`` as numpy divides floats: inf or NaN for a zero divisor, never an exception."""
    if b != 0.0:
        return a / b
    if a != a or a == 0.0:
        return math.nan
    return math.copysign(math.inf, a) * math.copysign(1.0, b)


def _apply_one(ind: Indicator, values: list[Any]) -> Any:
    """``_apply`` on one record's source values, in plain Python floats."""
    if ind.transform == "category":
        text = canonical(values[0])
        if text is None and ind.missing != "bin":
            text = _fill_missing(ind, np.array([None], dtype=object), np.array([True]))[0]
        return text
    a = _one_number(values[0], ind, ind.sources[0])
    if a != a and ind.missing != "bin":
        a = float(_fill_missing(ind, np.array([a]), np.array([True]))[0])
    if ind.transform in ("identity", "flag"):
        out = a
    elif ind.transform == "log1p":
        out = float(np.log1p(at_least(a, 0.0)))
    elif ind.transform == "ratio":
        b = _one_number(values[1], ind, ind.sources[1])
        out = divide(a, ind.scale * at_least(b, ind.floor))
    else:  # gap
        out = a - _one_number(values[1], ind, ind.sources[1])
    if ind.clip is not None:
        lo, hi = ind.clip
        out = lo if out < lo else hi if out > hi else out
    if ind.special_values and a in ind.special_values:
        return a
    return out


def compute_one(record: Mapping[str, Any], catalogue: Catalogue,
                names: list[str] | None = None) -> dict[str, Any]:
    """Indicators of one record (a dict of field values), identical to ``compute``.

    Values arrive validated (``engine.records``), so each transform runs on
    plain floats, operation for operation as ``_apply`` runs it on arrays
    (numpy only for ``log1p`` of one float, whose last bit ``math.log1p`` does
    not always share): the service scores one record at a time and must not
    pay for building numpy or pandas objects per indicator.
    """
    return {ind.name: _apply_one(ind, [record.get(s) for s in ind.sources])
            for ind in catalogue.chosen(names)}
