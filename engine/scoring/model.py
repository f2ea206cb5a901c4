"""Scoring with a published model artifact: bin lookup, ``z = w.x + b``, calibrated PD.

An artifact is plain JSON written by ``engine.modelops.training``. Loading it runs no
code: every key is checked for presence, type and finiteness, and a refused
file raises ``ModelError`` naming the file and the key, so a hand-edited or
corrupted model can never score anyone. Scoring is numpy only and reproduces
the fitted scikit-learn / optbinning pipeline (tested to 1e-9).

``z`` is summed in one fixed order, identical for one customer and for a
frame: the products ``woe_i * coef_i`` are added one indicator at a time, in
the artifact's order, starting from 0, and the intercept is added last. A
matrix product would let BLAS choose blocks by array length, so the last bits
of a score would depend on the chunk it was scored in.

``score_frame`` does it column by column over arrays, ``score_one`` in plain
Python floats (numpy only for ``exp`` of one float: ``math.exp`` differs from
numpy's in the last bit for a few percent of inputs), so one record scores
bit for bit as its row in a frame.

Sign convention: higher ``z`` means more likely to default. Each indicator's
contribution is ``coef_i * (woe_i - mean_woe_i)``: its share of the distance
between this customer's ``z`` and the population's mean ``z``. Positive
contributions are adverse; the four largest are the customer's reason codes.
"""

from __future__ import annotations

import bisect
import hashlib
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from engine.errors import ConfigError, FrameError, ModelError
from engine.scoring.points import points_of
from engine.scoring.values import canonical

__all__ = [
    "SCHEMA",
    "SCHEMA_VERSION",
    "ReasonCode",
    "Score",
    "ScoreModel",
    "ScoredFrame",
    "TOP_REASONS",
    "bin_index",
    "canonical_sha256",
]

SCHEMA = "gridcredit.score-model"
SCHEMA_VERSION = 1
TOP_REASONS = 4


def canonical_sha256(doc: Mapping[str, Any]) -> str:
    """Hash of the artifact's canonical JSON (sorted keys, no spaces): stable across layout."""
    text = json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                      allow_nan=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class ReasonCode:
    """One indicator's adverse contribution to a customer's score."""

    indicator: str
    group: str
    value: Any
    contribution: float
    description: str


@dataclass(frozen=True)
class Score:
    """A scored customer: discriminant score, PD and the top adverse reasons."""

    z: float
    pd: float
    reasons: tuple[ReasonCode, ...]
    model_id: str = ""


@dataclass(frozen=True)
class ScoredFrame:
    """Scores of a whole frame: arrays aligned with ``index``."""

    index: pd.Index
    z: np.ndarray
    pd: np.ndarray
    contributions: np.ndarray
    indicators: tuple[str, ...]
    model_id: str

    def top_reasons(self, k: int = TOP_REASONS) -> tuple[np.ndarray, np.ndarray]:
        """Indicator positions (-1 = none) and contributions of the ``k`` most adverse.

        Repeated row-wise argmax: for four reasons among a dozen indicators this
        is several times faster than sorting every row.
        """
        n, width = self.contributions.shape
        k = min(k, width)
        work = np.array(self.contributions, order="C")
        cells = work.reshape(-1)
        starts = np.arange(0, n * width, width)
        order = np.empty((n, k), dtype=np.int64)
        contrib = np.empty((n, k), dtype=np.float64)
        for j in range(k):
            best = np.argmax(work, axis=1)
            order[:, j] = best
            at = starts + best
            contrib[:, j] = cells.take(at)
            if j < k - 1:
                cells.put(at, -np.inf)
        adverse = contrib > 0
        return np.where(adverse, order, -1), np.where(adverse, contrib, 0.0)

    def to_frame(self, k: int = TOP_REASONS) -> pd.DataFrame:
        """z, pd, model_id and ``reason_i`` (indicator or None) / ``contribution_i`` columns."""
        order, contrib = self.top_reasons(k)
        names = np.array([*self.indicators, None], dtype=object)
        out: dict[str, Any] = {"z": self.z, "pd": self.pd,
                               "model_id": np.full(len(self.z), self.model_id, dtype=object)}
        for j in range(order.shape[1]):
            out[f"reason_{j + 1}"] = names[order[:, j]]
            out[f"contribution_{j + 1}"] = contrib[:, j]
        return pd.DataFrame(out, index=self.index)


def bin_index(splits: np.ndarray, x: np.ndarray) -> np.ndarray:
    """``np.searchsorted(splits, x, side="right")`` for every ``x`` that is not NaN.

    The number of splits at or below each value, counted one split at a time:
    for the dozen splits of a bin this is several times faster than a binary
    search per value. NaN counts 0; callers give it the missing bin.
    """
    index = np.zeros(len(x), dtype=np.int8 if len(splits) < 127 else np.intp)
    above = np.empty(len(x), dtype=bool)
    for split in splits.tolist():
        np.greater_equal(x, split, out=above)
        index += above
    return index


@dataclass(frozen=True)
class _Bins:
    name: str
    kind: str
    group: str
    description: str
    splits: np.ndarray
    categories: dict[str, int]
    woe: np.ndarray
    missing_woe: float
    unknown_woe: float
    specials: tuple[tuple[Any, float], ...] = ()

    def lookup(self, values: Any) -> np.ndarray:
        """WoE of each value, as optbinning's transform gives it."""
        if self.kind == "numeric":
            x = np.asarray(values, dtype=np.float64)
            out = self.woe.take(bin_index(self.splits, x))
            np.putmask(out, np.isnan(x), self.missing_woe)
            for value, woe in self.specials:
                out = np.where(x == value, woe, out)
            return out
        codes, uniques = pd.factorize(pd.Series(values, dtype=object)
                                      if not isinstance(values, pd.Series) else values)
        special = dict(self.specials)
        table = np.array([special[u] if u in special else self.woe[self.categories[u]]
                          if u in self.categories else self.unknown_woe
                          for u in map(str, uniques)] + [self.missing_woe], dtype=np.float64)
        return table[codes]

    def positions(self, values: Any) -> np.ndarray:
        """Bin of each value: 0.. for the fitted bins, then unknown (categories) and missing."""
        if self.kind == "numeric":
            x = np.asarray(values, dtype=np.float64)
            out = np.searchsorted(self.splits, x, side="right")
            out = np.where(np.isnan(x), len(self.woe), out)
            for j, (value, _) in enumerate(self.specials):
                out = np.where(x == value, len(self.woe) + 1 + j, out)
            return out
        codes, uniques = pd.factorize(pd.Series(values, dtype=object)
                                      if not isinstance(values, pd.Series) else values)
        n = len(self.woe)
        special = {v: n + 2 + j for j, (v, _) in enumerate(self.specials)}
        table = np.array([special.get(u, self.categories.get(u, n)) for u in map(str, uniques)]
                         + [n + 1], dtype=np.int64)
        return table[codes]

    def labels(self, groups: list[list[str]] | None = None) -> list[str]:
        """Readable names of the bins ``positions`` counts, in the same order."""
        if self.kind == "numeric":
            edges = ["-inf", *(f"{s:.6g}" for s in self.splits), "inf"]
            return ([f"[{a}, {b})" for a, b in zip(edges, edges[1:], strict=False)]
                    + ["missing"] + [f"special {canonical(v)}" for v, _ in self.specials])
        return ([", ".join(g) for g in groups or []] + ["unknown", "missing"]
                + [f"special {v}" for v, _ in self.specials])


class ScoreModel:
    """A validated, immutable scoring model loaded from its JSON artifact."""

    def __init__(self, doc: dict[str, Any], *, path: str = "<memory>",
                 catalogue: Any = None) -> None:
        self.path = path
        self.doc = doc
        bad = _nonfinite_key(doc)
        if bad is not None:
            raise _fail(path, bad, "must be a finite number, got NaN or infinity")
        _check(doc, path, catalogue)
        self.sha256 = canonical_sha256(doc)
        self.model_id: str = doc["model_id"]
        self.segment: str = doc["segment"]
        self.bins = tuple(_bins(doc, i, path) for i in range(len(doc["indicators"])))
        self.indicators: tuple[str, ...] = tuple(b.name for b in self.bins)
        self.coef = np.array([e["coefficient"] for e in doc["indicators"]], dtype=np.float64)
        self.mean_woe = np.array([e["mean_woe"] for e in doc["indicators"]], dtype=np.float64)
        self.intercept = float(doc["intercept"])
        cal = doc["calibration"]
        self.calibration = cal
        self.slope = float(cal["slope"])
        self.offset = float(cal["intercept"]) + _prior_shift(cal)
        self.shift = _prior_shift(cal)
        self._plain = tuple(
            (b.name, b.kind == "numeric", b.splits.tolist(), b.woe.tolist(), b.categories,
             b.missing_woe, b.unknown_woe, float(c), float(m), dict(b.specials))
            for b, c, m in zip(self.bins, self.coef, self.mean_woe, strict=True))

    # ------------------------------------------------------------------ loading
    @classmethod
    def load(cls, path: str | Path, catalogue: Any = None) -> ScoreModel:
        """Read and check an artifact; ``ModelError`` names the file and the key."""
        path = Path(path)
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise ModelError(f"cannot read model artifact ({exc.strerror})",
                             file=str(path)) from None
        try:
            doc = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ModelError(f"not valid JSON at line {exc.lineno} column {exc.colno}: "
                             f"{exc.msg}", file=str(path)) from None
        if not isinstance(doc, dict):
            raise ModelError("the artifact must be a JSON object", file=str(path))
        return cls(doc, path=str(path), catalogue=catalogue)

    def with_prior(self, prior: float) -> ScoreModel:
        """The same model calibrated to a portfolio's prior default rate."""
        if not 0.0 < prior < 1.0:
            raise ModelError(f"prior default rate {prior!r} must be in (0, 1)", file=self.path)
        doc = json.loads(json.dumps(self.doc))
        doc["calibration"]["prior"] = float(prior)
        return ScoreModel(doc, path=self.path)

    # ------------------------------------------------------------------ scoring
    def pd_from_z(self, z: np.ndarray | float) -> np.ndarray:
        """Calibrated default probability of discriminant scores."""
        if self.calibration.get("kind") == "isotonic":
            p = np.interp(np.asarray(z, dtype=np.float64), self.calibration["knots_z"],
                          self.calibration["knots_pd"])
            if not self.shift:
                return p
            t = np.log(p / (1 - p)) + self.shift
        else:
            t = self.slope * np.asarray(z, dtype=np.float64) + self.offset
        return 1.0 / (1.0 + np.exp(-t))

    def woe_matrix(self, indicators: pd.DataFrame, rows: np.ndarray | None = None
                   ) -> np.ndarray:
        """The WoE features (n x k) of an indicator frame, or of its ``rows`` (positions)."""
        missing = [n for n in self.indicators if n not in indicators.columns]
        if missing:
            raise FrameError(f"model '{self.model_id}' needs indicator columns: "
                             + ", ".join(missing), columns=missing)
        n = len(indicators) if rows is None else len(rows)
        w = np.empty((n, len(self.bins)), dtype=np.float64, order="F")
        for j, b in enumerate(self.bins):
            column = indicators[b.name]
            if b.kind == "numeric":
                values = column.to_numpy()
                w[:, j] = b.lookup(values if rows is None else values.take(rows))
            else:
                w[:, j] = b.lookup(column if rows is None else column.iloc[rows])
        return w

    def bin_positions(self, indicators: pd.DataFrame) -> dict[str, np.ndarray]:
        """Per indicator, the model bin of every row (fitted bins, then unknown, missing)."""
        self.woe_matrix(indicators.iloc[:0])
        return {b.name: b.positions(indicators[b.name].to_numpy() if b.kind == "numeric"
                                    else indicators[b.name]) for b in self.bins}

    def unseen(self, indicators: pd.DataFrame) -> dict[str, tuple[int, int]]:
        """Per indicator, rows with a category training never saw and rows missing where
        training had no missing value: both get the neutral WoE of their bin (0).

        Only indicators with at least one such row are listed. A missing value is
        unseen when the artifact's bin table counts no training customer as missing.
        """
        out = {}
        for b, e in zip(self.bins, self.doc["indicators"], strict=True):
            pos = b.positions(indicators[b.name].to_numpy() if b.kind == "numeric"
                              else indicators[b.name])
            n = len(b.woe)
            category = int((pos == n).sum()) if b.kind == "category" else 0
            trained = [s.get("customers", 0) for s in e.get("bins", [{"bin": "missing",
                                                                      "customers": 1}])
                       if s.get("bin") == "missing"]
            had_missing = not trained or trained[0] > 0
            missing = 0 if had_missing else int((pos == (n + 1 if b.kind == "category"
                                                          else n)).sum())
            if category or missing:
                out[b.name] = (category, missing)
        return out

    def bin_labels(self) -> dict[str, list[str]]:
        """Per indicator, the names of the bins ``bin_positions`` returns."""
        return {b.name: b.labels(e.get("categories")) for b, e in
                zip(self.bins, self.doc["indicators"], strict=True)}

    def discriminant(self, woe: np.ndarray) -> np.ndarray:
        """``z`` of WoE rows (n x k), in the fixed summation order of the module docstring."""
        z = np.zeros(woe.shape[0], dtype=np.float64)
        for j in range(woe.shape[1]):
            z += woe[:, j] * self.coef[j]
        z += self.intercept
        return z

    def score_frame(self, indicators: pd.DataFrame, rows: np.ndarray | None = None
                    ) -> ScoredFrame:
        """Score every row of an indicator frame (from ``engine.scoring.indicators.compute``).

        With ``rows`` (positions) only those rows are scored, read column by
        column: the frame is never copied whole.
        """
        w = self.woe_matrix(indicators, rows)
        z = self.discriminant(w)
        w -= self.mean_woe
        w *= self.coef
        index = indicators.index if rows is None else indicators.index[rows]
        return ScoredFrame(index, z, self.pd_from_z(z), w, self.indicators, self.model_id)

    def score_one(self, indicator_row: Mapping[str, Any]) -> Score:
        """Score one customer's indicators (a dict, as ``compute_one`` returns).

        Plain Python on floats, in the order ``score_frame`` uses, so the
        result equals the customer's row of a scored frame bit for bit.
        """
        missing = [n for n in self.indicators if n not in indicator_row]
        if missing:
            raise FrameError(f"model '{self.model_id}' needs indicators: " + ", ".join(missing),
                             columns=missing)
        acc = 0.0
        contrib = []
        for name, numeric, splits, woe, cats, missing_woe, unknown_woe, c, m, sp in self._plain:
            value = indicator_row[name]
            if numeric:
                x = math.nan if value is None else float(value)
                w = missing_woe if x != x else woe[bisect.bisect_right(splits, x)]
                if sp and x in sp:
                    w = sp[x]
            elif value is None or (isinstance(value, float) and value != value):
                w = missing_woe
            else:
                text = str(value)
                k = cats.get(text)
                w = sp[text] if sp and text in sp else unknown_woe if k is None else woe[k]
            acc += w * c
            contrib.append((w - m) * c)
        z = acc + self.intercept
        # stable: equal contributions keep artifact order, as the frame's argmax does
        order = sorted(range(len(contrib)), key=contrib.__getitem__, reverse=True)[:TOP_REASONS]
        bins = self.bins
        reasons = tuple(
            ReasonCode(bins[j].name, bins[j].group, indicator_row[bins[j].name],
                       contrib[j], bins[j].description)
            for j in order if contrib[j] > 0
        )
        if self.calibration.get("kind") == "isotonic":
            pd_ = float(self.pd_from_z(z))
        else:
            pd_ = 1.0 / (1.0 + float(np.exp(-(self.slope * z + self.offset))))
        return Score(z=z, pd=pd_, reasons=reasons, model_id=self.model_id)

    def __repr__(self) -> str:
        return f"ScoreModel({self.model_id!r}, {len(self.indicators)} indicators)"


def _prior_shift(cal: Mapping[str, Any]) -> float:
    prior = cal.get("prior")
    if prior is None:
        return 0.0
    rate = float(cal["training_default_rate"])
    return math.log(prior / (1 - prior)) - math.log(rate / (1 - rate))


# --------------------------------------------------------------------------- checking

def _nonfinite_key(value: Any, key: str = "") -> str | None:
    """Path of the first NaN or infinite number in the artifact, if any."""
    if isinstance(value, float):
        return None if math.isfinite(value) else key
    items: Any = ()
    if isinstance(value, dict):
        items = ((f"{key}.{k}" if key else str(k), v) for k, v in value.items())
    elif isinstance(value, list):
        items = ((f"{key}[{i}]", v) for i, v in enumerate(value))
    for sub, v in items:
        found = _nonfinite_key(v, sub)
        if found is not None:
            return found
    return None


def _fail(path: str, key: str, msg: str) -> ModelError:
    return ModelError(f"key '{key}': {msg}; retrain with 'gridcredit train' or restore the "
                      "published file", file=path)


def _need(doc: Mapping[str, Any], key: str, typ: Any, path: str, prefix: str = "") -> Any:
    full = f"{prefix}{key}"
    if key not in doc:
        raise _fail(path, full, "missing")
    value = doc[key]
    if typ is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise _fail(path, full, f"must be a number, got {value!r}")
        if not math.isfinite(value):
            raise _fail(path, full, f"must be a finite number, got {value!r}")
    elif not isinstance(value, typ):
        raise _fail(path, full, f"must be {getattr(typ, '__name__', typ)}, got {value!r}")
    return value


def _numbers(values: Any, key: str, path: str, n: int | None = None) -> list[float]:
    if not isinstance(values, list):
        raise _fail(path, key, f"must be a list of numbers, got {values!r}")
    if n is not None and len(values) != n:
        raise _fail(path, key, f"has {len(values)} values, expected {n}")
    for i, v in enumerate(values):
        if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v):
            raise _fail(path, f"{key}[{i}]", f"must be a finite number, got {v!r}")
    return [float(v) for v in values]


def _check_calibration(cal: dict[str, Any], path: str) -> None:
    """The artifact's ``calibration``: Platt or isotonic, the training rate and prior."""
    _need(cal, "slope", float, path, "calibration.")
    _need(cal, "intercept", float, path, "calibration.")
    if cal.get("kind", "platt") not in ("platt", "isotonic"):
        raise _fail(path, "calibration.kind", f"is {cal['kind']!r}, expected 'platt' or "
                    "'isotonic'")
    if cal.get("kind") == "isotonic":
        knots = _numbers(_need(cal, "knots_z", list, path, "calibration."),
                         "calibration.knots_z", path)
        pds = _numbers(_need(cal, "knots_pd", list, path, "calibration."),
                       "calibration.knots_pd", path, len(knots))
        if not all(0 < p < 1 for p in pds):
            raise _fail(path, "calibration.knots_pd", "must lie strictly between 0 and 1")
        if not knots or any(b < a for a, b in zip(knots, knots[1:], strict=False)):
            raise _fail(path, "calibration.knots_z", "must be a non-empty increasing list")
    rate = _need(cal, "training_default_rate", float, path, "calibration.")
    if not 0 < rate < 1:
        raise _fail(path, "calibration.training_default_rate", f"{rate!r} must be in (0, 1)")
    prior = cal.get("prior")
    if prior is not None:
        _need(cal, "prior", float, path, "calibration.")
        if not 0 < prior < 1:
            raise _fail(path, "calibration.prior", f"{prior!r} must be in (0, 1) or null")


def _check(doc: dict[str, Any], path: str, catalogue: Any) -> None:
    schema = doc.get("schema")
    if schema != SCHEMA:
        raise _fail(path, "schema", f"is {schema!r}, expected {SCHEMA!r}")
    version = doc.get("schema_version")
    if version != SCHEMA_VERSION:
        raise _fail(path, "schema_version",
                    f"is {version!r}; this engine reads version {SCHEMA_VERSION}")
    _need(doc, "model_id", str, path)
    _need(doc, "segment", str, path)
    _need(doc, "intercept", float, path)
    _check_calibration(_need(doc, "calibration", dict, path), path)
    try:
        points_of(doc)
    except ConfigError:
        raise _fail(path, "points", f"is {doc['points']!r}, expected {{base_score, base_odds, "
                    "pdo} numbers with base_odds and pdo above 0") from None
    items = _need(doc, "indicators", list, path)
    if not items:
        raise _fail(path, "indicators", "is empty")
    seen: set[str] = set()
    for i, e in enumerate(items):
        pre = f"indicators[{i}]."
        if not isinstance(e, dict):
            raise _fail(path, f"indicators[{i}]", "must be an object")
        name = _need(e, "name", str, path, pre)
        if name in seen:
            raise _fail(path, f"{pre}name", f"indicator '{name}' is listed twice")
        seen.add(name)
        pre = f"indicators[{i}] ({name})."
        for key in ("coefficient", "mean_woe", "missing_woe"):
            _need(e, key, float, path, pre)
        _need(e, "group", str, path, pre)
        _need(e, "description", str, path, pre)
        kind = _need(e, "kind", str, path, pre)
        if kind == "numeric":
            splits = _numbers(_need(e, "splits", list, path, pre), pre + "splits", path)
            if any(b <= a for a, b in zip(splits, splits[1:], strict=False)):
                raise _fail(path, pre + "splits", "must be strictly increasing")
            _numbers(_need(e, "woe", list, path, pre), pre + "woe", path, len(splits) + 1)
        elif kind == "category":
            cats = _need(e, "categories", list, path, pre)
            flat = [c for group in cats if isinstance(group, list) for c in group]
            if any(not isinstance(g, list) or not g for g in cats) or not all(
                    isinstance(c, str) for c in flat) or len(set(flat)) != len(flat):
                raise _fail(path, pre + "categories",
                            "must be a list of non-empty lists of distinct strings")
            _numbers(_need(e, "woe", list, path, pre), pre + "woe", path, len(cats))
            _need(e, "unknown_woe", float, path, pre)
        else:
            raise _fail(path, pre + "kind", f"is {kind!r}, expected 'numeric' or 'category'")
        specials = e.get("specials", [])
        if not isinstance(specials, list) or not all(
                isinstance(sp, dict) and "value" in sp for sp in specials):
            raise _fail(path, pre + "specials", "must be a list of {value, woe} objects")
        for j, sp in enumerate(specials):
            _need(sp, "woe", float, path, f"{pre}specials[{j}].")
        if catalogue is not None:
            if name not in catalogue:
                raise _fail(path, f"indicators[{i}].name",
                            f"indicator '{name}' is not in the catalogue {catalogue.path}")
            if catalogue[name].kind != kind:
                raise _fail(path, pre + "kind",
                            f"is {kind!r} but the catalogue says {catalogue[name].kind!r}")


def _bins(doc: dict[str, Any], i: int, path: str) -> _Bins:
    e = doc["indicators"][i]
    cats: dict[str, int] = {}
    if e["kind"] == "category":
        cats = {c: j for j, group in enumerate(e["categories"]) for c in group}
    return _Bins(
        name=e["name"], kind=e["kind"], group=e["group"], description=e["description"],
        splits=np.array(e.get("splits", []), dtype=np.float64),
        categories=cats, woe=np.array(e["woe"], dtype=np.float64),
        missing_woe=float(e["missing_woe"]), unknown_woe=float(e.get("unknown_woe", 0.0)),
        specials=tuple((float(sp["value"]) if e["kind"] == "numeric" else str(sp["value"]),
                        float(sp["woe"])) for sp in e.get("specials", [])),
    )
