"""Sensitivity of the score to each risk-factor group (the paper's Table 1 and Fig. 1).

For each group of the indicator catalogue the indicators of that group are
moved in the adverse direction -- by one standard deviation, or by 10, 20 and
30 % -- and the portfolio is scored again. The result answers "how much does
our risk rest on this group": mean PD before and after, and how many
customers change grade.

How a change is applied:

* a numeric indicator moves per customer: ``x + s * sd`` for the sd shock and
  ``x + s * p * |x|`` for a relative shock ``p`` (``s`` = +1 when higher is
  riskier, -1 otherwise), then is clipped to the catalogue's range;
* a yes/no flag or an ordered category cannot move by fractions, so the
  population's mean moves instead: just enough customers, drawn with a fixed
  seed, step one level worse for the mean to move by one sd or by ``p`` of
  itself. Unordered values (``unrated``) and missing values stay as they are.

Indicators whose direction is ``auto`` have no adverse direction and are left
unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from engine.frames import write_frame
from engine.modelops.evaluation import markdown_table
from engine.pipeline import score_population
from engine.scale import Band, assign
from engine.scoring import Catalogue, Indicator

__all__ = [
    "SHOCKS",
    "SensitivityResult",
    "Shock",
    "analyse",
    "analyse_portfolio",
    "chart",
    "shock_group",
    "shock_indicator",
    "write_sensitivity",
]


@dataclass(frozen=True)
class Shock:
    """An adverse change: ``kind`` is ``sd`` (size in sds) or ``relative`` (size as share)."""

    label: str
    kind: str
    size: float


SHOCKS: tuple[Shock, ...] = (
    Shock("+1 sd", "sd", 1.0),
    Shock("10 %", "relative", 0.10),
    Shock("20 %", "relative", 0.20),
    Shock("30 %", "relative", 0.30),
)


@dataclass
class SensitivityResult:
    """Portfolio table (one row per group and shock) and the per-customer detail."""

    table: pd.DataFrame
    customers: pd.DataFrame

    def markdown(self) -> str:
        return markdown_table(self.table)

    def summary(self) -> pd.DataFrame:
        """The table as people read it: without the long list of indicators per group."""
        return self.table.drop(columns=["indicators"])


def _ordinal_codes(ind: Indicator, values: pd.Series) -> tuple[np.ndarray, int]:
    """Riskiness code per customer (0 = best, NaN = no order) and the worst code."""
    if ind.kind == "category":
        lookup = {v: k for k, v in enumerate(ind.levels if ind.sign > 0 else ind.levels[::-1])}
        codes = np.array([lookup.get(v, np.nan) for v in values.to_numpy(dtype=object)],
                         dtype=np.float64)
        return codes, len(ind.levels) - 1
    x = values.to_numpy(dtype=np.float64)
    return (x if ind.sign > 0 else 1.0 - x), 1


def _from_codes(ind: Indicator, codes: np.ndarray, original: pd.Series) -> Any:
    if ind.kind == "category":
        levels = ind.levels if ind.sign > 0 else ind.levels[::-1]
        out = original.to_numpy(dtype=object).copy()
        ok = ~np.isnan(codes)
        out[ok] = np.array(levels, dtype=object)[codes[ok].astype(np.int64)]
        return out
    return codes if ind.sign > 0 else 1.0 - codes


def _is_ordinal(ind: Indicator) -> bool:
    return ind.transform == "flag" or (ind.kind == "category" and bool(ind.levels))


def shock_indicator(ind: Indicator, values: pd.Series, shock: Shock,
                    rng: np.random.Generator) -> Any:
    """The indicator's values after an adverse ``shock`` (see the module docstring)."""
    if ind.sign == 0 or (ind.kind == "category" and not ind.levels):
        return values.to_numpy()
    if _is_ordinal(ind):
        codes, worst = _ordinal_codes(ind, values)
        known = ~np.isnan(codes)
        if not known.any():
            return values.to_numpy()
        raw = values.to_numpy(dtype=np.float64) if ind.kind == "numeric" else codes
        mean = float(np.nanmean(raw[known]))
        step = float(np.nanstd(raw[known])) * shock.size if shock.kind == "sd" \
            else shock.size * abs(mean)
        movable = np.flatnonzero(known & (codes < worst))
        moves = min(len(movable), int(round(step * known.sum())))
        chosen = rng.choice(movable, size=moves, replace=False) if moves else movable[:0]
        codes = codes.copy()
        codes[chosen] += 1
        return _from_codes(ind, codes, values)
    x = values.to_numpy(dtype=np.float64)
    delta = np.nanstd(x) * shock.size if shock.kind == "sd" else shock.size * np.abs(x)
    out = x + ind.sign * delta
    if ind.clip is not None:
        out = np.clip(out, ind.clip[0], ind.clip[1])
    return out


def shock_group(values: pd.DataFrame, catalogue: Catalogue, group: str, shock: Shock,
                seed: int = 0) -> pd.DataFrame:
    """A copy of the indicator frame with every indicator of ``group`` shocked."""
    rng = np.random.default_rng(seed)
    out = values.copy()
    for ind in catalogue:
        if ind.group == group and ind.name in out.columns:
            out[ind.name] = shock_indicator(ind, values[ind.name], shock, rng)
    return out


def analyse(values: pd.DataFrame, customer_class: Any, score: Any, catalogue: Catalogue,
            bands: list[Band] | tuple[Band, ...], *, shocks: tuple[Shock, ...] = SHOCKS,
            customer_id: Any = None, seed: int = 0) -> SensitivityResult:
    """Score the portfolio before and after each group's shocks.

    ``score(values, customer_class)`` returns a frame with ``z`` and ``pd``
    (``Registry.score_indicators``); ``values`` are the catalogue's indicators.
    """
    klass = pd.Series(customer_class, index=values.index)
    ids = pd.Series(customer_id if customer_id is not None else values.index.astype(str),
                    index=values.index)
    base = score(values, klass)
    pd0 = base["pd"].to_numpy()
    grade0 = assign(pd0, bands)
    names = np.array([b.grade for b in bands], dtype=object)
    rows, detail = [], []
    for group in catalogue.groups:
        members = [i.name for i in catalogue if i.group == group and i.name in values.columns]
        if not members:
            continue
        for shock in shocks:
            after = score(shock_group(values, catalogue, group, shock, seed), klass)
            pd1 = after["pd"].to_numpy()
            grade1 = assign(pd1, bands)
            rows.append({
                "group": group, "shock": shock.label, "indicators": ", ".join(members),
                "mean_pd_before": float(pd0.mean()), "mean_pd_after": float(pd1.mean()),
                "change_pp": float((pd1.mean() - pd0.mean()) * 100),
                "relative_change": float(pd1.mean() / pd0.mean() - 1),
                "customers_affected": int(np.sum(pd1 != pd0)),
                "downgraded": float(np.mean(grade1 > grade0)),
                "upgraded": float(np.mean(grade1 < grade0)),
            })
            detail.append(pd.DataFrame({
                "customer_id": ids.to_numpy(), "customer_class": klass.to_numpy(),
                "group": group, "shock": shock.label,
                "z_before": base["z"].to_numpy(), "z_after": after["z"].to_numpy(),
                "pd_before": pd0, "pd_after": pd1,
                "grade_before": names[grade0], "grade_after": names[grade1],
            }))
    return SensitivityResult(pd.DataFrame(rows), pd.concat(detail, ignore_index=True))


def analyse_portfolio(frame: pd.DataFrame, registry: Any, bands: list[Band] | tuple[Band, ...],
                      *, seed: int = 0) -> SensitivityResult:
    """``analyse`` on customer records: validated (refused rows and a ``default_12m``
    label left out), turned into the catalogue's indicators and scored by ``registry``."""
    population = score_population(registry, frame.drop(columns=["default_12m"],
                                                       errors="ignore"))
    facts = population.facts
    return analyse(population.indicators, facts["customer_class"], registry.score_indicators,
                   registry.catalogue, bands, customer_id=facts["customer_id"], seed=seed)


SENSITIVITY_FILES = ("sensitivity.csv", "sensitivity.md", "sensitivity.png",
                     "sensitivity-customers.parquet")


def write_sensitivity(result: SensitivityResult, out: str | Path) -> list[Path]:
    """Write the analysis into ``out``: ``SENSITIVITY_FILES``, in that order.

    The CSV keeps every column; the markdown drops the indicator lists; the
    Parquet file holds the per-customer detail.
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    paths = [out / name for name in SENSITIVITY_FILES]
    result.table.to_csv(paths[0], index=False)
    paths[1].write_text("# Sensitivity of the portfolio PD to each risk-factor group\n\n"
                        + markdown_table(result.summary()) + "\n", encoding="utf-8")
    chart(result.table, paths[2])
    write_frame(result.customers, paths[3])
    return paths


def chart(table: pd.DataFrame, path: str | Path) -> Path:
    """Fig. 1: portfolio mean PD against the size of the adverse change, one line per group."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.5),
                                      gridspec_kw={"width_ratios": [3, 2]})
    before = float(table["mean_pd_before"].iloc[0]) * 100
    relative = table[table["shock"].str.endswith("%")]
    for group, rows in relative.groupby("group", sort=False):
        sizes = [0.0] + [float(s.rstrip(" %")) for s in rows["shock"]]
        left.plot(sizes, [before, *(rows["mean_pd_after"] * 100)], marker="o", label=group)
    left.set_xlabel("adverse change of the group's indicators (%)")
    left.set_ylabel("portfolio mean PD (%)")
    left.set_title("Score after a relative change")
    left.legend(fontsize=8)
    sd = table[table["shock"] == "+1 sd"]
    right.barh(sd["group"], sd["change_pp"], color="tab:red")
    right.set_xlabel("change of mean PD (percentage points)")
    right.set_title("One standard deviation adverse")
    right.invert_yaxis()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path
