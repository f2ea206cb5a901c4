"""The binning stage of training: optbinning's ``BinningProcess``, told what the spec says.

Each indicator is binned in the direction its spec gives:

- numeric indicators monotone ascending (``higher_is_riskier``), descending
  (``lower_is_riskier``), or, for ``auto``, optbinning's ``auto`` trend
  (the default), its ``auto_asc_desc``, or with ``trend="choose"`` the
  trend the training rows choose (ascending, descending, peak or valley;
  ``engine.modelops.trends``), chosen again each time the binning is
  fitted, so on every cross-validation fold without the rows it is
  measured on;
- ordered categories (``levels``) as their position in the level list, so
  the same monotone trends apply and grouped levels stay contiguous; values
  outside the list share one bin of their own (code -1);
- nominal categories by optbinning's categorical binning.

``special_values`` each get a bin of their own (optbinning special codes,
WoE measured on the data), and missing values get the missing bin. What a
fitted variable publishes is read back through optbinning's own transform,
with the binning table's counts and information value per bin, so the
model card's table is the binning that scores.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from optbinning import BinningProcess
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.discriminant_analysis import LinearDiscriminantAnalysis
from sklearn.pipeline import Pipeline

from engine.modelops.trends import TrendChoice, choose_trend
from engine.scoring import Catalogue, Indicator, canonical

__all__ = [
    "AUTO_TRENDS",
    "OrderedCodes",
    "TrendBinning",
    "artifact_bins",
    "fit_woe",
    "make_pipeline",
    "woe_frame",
]

TREND = {"higher_is_riskier": "ascending", "lower_is_riskier": "descending"}
AUTO_TRENDS = ("choose", "auto", "auto_asc_desc")
UNLISTED = -1.0
_UNKNOWN = "\x00unknown-category"
_PARAMS = {"metric": "woe", "metric_missing": "empirical", "metric_special": "empirical"}


def _special_code(ind: Indicator, j: int) -> float:
    """The numeric code of an ordered category's j-th special value (-2, -3, ...)."""
    return -2.0 - j


class OrderedCodes(BaseEstimator, TransformerMixin):
    """Ordered categories to level positions (unlisted -1, specials -2.., missing NaN)."""

    def __init__(self, ordered: tuple[tuple[str, tuple[str, ...], tuple[str, ...]], ...] = ()):
        self.ordered = ordered

    def fit(self, x: pd.DataFrame, y: Any = None) -> OrderedCodes:
        self.n_features_in_ = x.shape[1]
        return self

    def __sklearn_is_fitted__(self) -> bool:
        return True

    def transform(self, x: pd.DataFrame) -> pd.DataFrame:
        if not self.ordered:
            return x
        x = x.copy()
        for name, levels, specials in self.ordered:
            lookup = {v: float(i) for i, v in enumerate(levels)}
            lookup |= {v: -2.0 - j for j, v in enumerate(specials)}
            x[name] = np.array([np.nan if pd.isna(v) else lookup.get(v, UNLISTED)
                                for v in x[name].to_numpy(dtype=object)], dtype=np.float64)
        return x


def _fit_params(ind: Indicator, trend: str | None) -> dict[str, Any]:
    params: dict[str, Any] = {}
    if trend is not None:
        params["monotonic_trend"] = trend
    if ind.ordered:
        codes = {"unlisted": [UNLISTED]}
        codes |= {f"special {v}": [_special_code(ind, j)]
                  for j, v in enumerate(ind.special_values)}
        params["special_codes"] = codes
    elif ind.special_values:
        params["special_codes"] = {str(v): [v] for v in ind.special_values}
    return params


class TrendBinning(BaseEstimator, TransformerMixin):
    """optbinning's ``BinningProcess`` with each ``auto`` indicator's trend chosen at fit.

    ``trend`` says how ``direction: auto`` is read: ``choose`` (the rule of
    ``engine.modelops.trends``, on the rows being fitted), or one of
    optbinning's own settings, ``auto`` or ``auto_asc_desc``. After ``fit``,
    ``binning_`` is the fitted process and ``trends_`` the choice per
    indicator, with its reason.
    """

    def __init__(self, catalogue: Catalogue | None = None, max_n_prebins: int = 20,
                 min_prebin_size: float = 0.01, trend: str = "auto", seed: int = 42):
        self.catalogue = catalogue
        self.max_n_prebins = max_n_prebins
        self.min_prebin_size = min_prebin_size
        self.trend = trend
        self.seed = seed

    def _choice(self, ind: Indicator, values: pd.Series, y: np.ndarray) -> TrendChoice | None:
        if not (ind.kind == "numeric" or ind.ordered):
            return None
        if ind.direction != "auto":
            return TrendChoice(TREND[ind.direction], f"the spec's direction {ind.direction}")
        if self.trend != "choose":
            return TrendChoice(self.trend, f"optbinning's own '{self.trend}' setting")
        x = values.to_numpy(dtype=np.float64)
        known = np.isfinite(x)
        if ind.ordered:
            known &= x >= 0
        elif ind.special_values:
            known &= ~np.isin(x, np.asarray(ind.special_values, dtype=np.float64))
        return choose_trend(x[known], y[known], n_prebins=self.max_n_prebins, seed=self.seed,
                            levels=len(ind.levels) if ind.ordered else None)

    def fit(self, x: pd.DataFrame, y: np.ndarray) -> TrendBinning:
        y = np.asarray(y, dtype=np.int64)
        catalogue = self.catalogue
        names = [i.name for i in catalogue]
        self.trends_ = {i.name: self._choice(i, x[i.name], y) for i in catalogue}
        params = {}
        for ind in catalogue:
            choice = self.trends_[ind.name]
            p = _fit_params(ind, choice.trend if choice else None)
            if p:
                params[ind.name] = p
        self.binning_ = BinningProcess(
            names,
            categorical_variables=[i.name for i in catalogue
                                   if i.kind == "category" and not i.ordered],
            max_n_prebins=self.max_n_prebins,
            min_prebin_size=self.min_prebin_size,
            binning_fit_params=params,
            binning_transform_params={n: dict(_PARAMS) for n in names},
        ).fit(x, y)
        self.n_features_in_ = x.shape[1]
        return self

    def transform(self, x: pd.DataFrame) -> Any:
        return self.binning_.transform(x)


def make_pipeline(catalogue: Catalogue, config: Any) -> Pipeline:
    """The unfitted sklearn pipeline: ordered codes, WoE binning, then Fisher LDA."""
    ordered = tuple((i.name, i.levels, tuple(i.special_values)) for i in catalogue if i.ordered)
    binning = TrendBinning(catalogue, config.max_n_prebins, config.min_prebin_size,
                           config.trend, config.seed)
    return Pipeline([("codes", OrderedCodes(ordered)), ("woe", binning),
                     ("lda", LinearDiscriminantAnalysis(solver="lsqr"))])


def woe_frame(pipe: Pipeline, x: pd.DataFrame) -> pd.DataFrame:
    """The WoE features a fitted pipeline's binning gives ``x`` (before the LDA)."""
    woe = pipe.named_steps["woe"].transform(pipe.named_steps["codes"].transform(x))
    return pd.DataFrame(np.asarray(woe), columns=list(x.columns), index=x.index)


def fit_woe(pipe: Pipeline, x: pd.DataFrame, y: np.ndarray) -> pd.DataFrame:
    """Fit only the pipeline's codes and binning; the WoE features of ``x``."""
    codes = pipe.named_steps["codes"].fit(x, y).transform(x)
    pipe.named_steps["woe"].fit(codes, y)
    return woe_frame(pipe, x)


def _table(optb: Any) -> pd.DataFrame:
    table = optb.binning_table.build()
    return table[table.index != "Totals"]


def _stat(row: Any, label: str, woe: float) -> dict[str, Any]:
    if row is None:
        return {"bin": label, "customers": 0, "defaults": 0, "woe": woe, "iv": 0.0}
    return {"bin": label, "customers": int(row["Count"]), "defaults": int(row["Event"]),
            "woe": woe, "iv": float(row["IV"])}


def _by_name(table: pd.DataFrame, name: str) -> Any:
    match = table[table["Bin"].astype(str) == name]
    return None if match.empty else match.iloc[0]


def artifact_bins(binning: TrendBinning, ind: Indicator) -> dict[str, Any]:
    """Bins, WoE, the per-bin counts and IV, and the trend of one fitted variable."""
    optb = binning.binning_.get_binned_variable(ind.name)
    table = _table(optb)
    n_fitted = len(table) - 1 - max(1, len(optb.special_codes or {}))
    fitted = [table.iloc[k] for k in range(n_fitted)]
    if ind.kind == "numeric":
        splits = [float(s) for s in optb.splits]
        woe = optb.transform(np.array([-np.inf, *splits]), **_PARAMS)
        out: dict[str, Any] = {"kind": "numeric", "splits": splits,
                               "woe": [float(w) for w in woe]}
        names = [str(r["Bin"]) for r in fitted]
        probes = np.array(ind.special_values, dtype=np.float64)
        missing_probe = np.array([np.nan])
    elif ind.ordered:
        out, names, fitted = _ordered_groups(optb, ind, fitted)
        probes = np.array([_special_code(ind, j) for j in range(len(ind.special_values))])
        missing_probe = np.array([np.nan])
    else:
        groups = [[str(c) for c in group] for group in optb.splits]
        woe = optb.transform(np.array([g[0] for g in groups] + [_UNKNOWN], dtype=object),
                             **_PARAMS)
        out = {"kind": "category", "categories": groups,
               "woe": [float(w) for w in woe[:len(groups)]], "unknown_woe": float(woe[-1])}
        names = [", ".join(g) for g in groups]
        probes = np.array(ind.special_values, dtype=object)
        missing_probe = np.array([None], dtype=object)
    out["missing_woe"] = float(optb.transform(missing_probe, **_PARAMS)[0])
    stats = [_stat(r, n, w) for r, n, w in zip(fitted, names, out["woe"], strict=True)]
    if ind.ordered:
        stats.append(_stat(_by_name(table, "unlisted"), "unlisted", out["unknown_woe"]))
    if ind.special_values:
        woe = optb.transform(probes, **_PARAMS)
        out["specials"] = [{"value": v, "woe": float(w)}
                           for v, w in zip(ind.special_values, woe, strict=True)]
        keys = [k for k in optb.special_codes if k != "unlisted"]
        stats += [_stat(_by_name(table, k), f"special {canonical(v)}", float(w))
                  for k, v, w in zip(keys, ind.special_values, woe, strict=True)]
    stats.append(_stat(_by_name(table, "Missing"), "missing", out["missing_woe"]))
    out["bins"] = stats
    out["iv"] = float(sum(s["iv"] for s in stats))
    choice = binning.trends_.get(ind.name)
    out["trend"] = (choice.record() if choice else
                    {"chosen": "none", "why": "nominal categories: optbinning groups them by "
                                              "default rate"})
    return out


def _ordered_groups(optb: Any, ind: Indicator, fitted: list) -> tuple[dict, list, list]:
    """An ordered category's numeric bins turned back into contiguous groups of levels."""
    splits = np.asarray(optb.splits, dtype=np.float64)
    position = np.searchsorted(splits, np.arange(len(ind.levels), dtype=np.float64),
                               side="right")
    used = sorted(set(int(p) for p in position))
    groups = [[lv for lv, p in zip(ind.levels, position, strict=True) if p == k] for k in used]
    codes = np.array([float(ind.levels.index(g[0])) for g in groups])
    woe = optb.transform(np.r_[codes, UNLISTED], **_PARAMS)
    out = {"kind": "category", "categories": groups,
           "woe": [float(w) for w in woe[:len(groups)]], "unknown_woe": float(woe[-1])}
    rows = [fitted[k] if k < len(fitted) else None for k in used]
    return out, [", ".join(g) for g in groups], rows
