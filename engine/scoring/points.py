"""Scorecard points: the calibrated PD on a points-to-double-the-odds (PDO) scale.

A model trained with points ``{base_score, base_odds, pdo}`` gives every
customer ``points = offset + factor * ln(odds)``, where ``odds`` are the
good:bad odds ``(1 - PD) / PD``, ``factor = pdo / ln 2`` and ``offset =
base_score - factor * ln(base_odds)``: odds of ``base_odds`` score
``base_score`` and every ``pdo`` points more double the odds. Points come
from the PD the model publishes, so they agree with the grade.

With Platt calibration the log-odds are linear in the WoE, so the points
split into a base and one addend per indicator bin
(``-factor * slope * coefficient * WoE``); with isotonic calibration they do
not, and ``bin_points`` returns None.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from engine.errors import ConfigError

__all__ = ["Points", "parse_points", "points_of"]


@dataclass(frozen=True)
class Points:
    """A PDO points scale: ``base_score`` at odds ``base_odds``:1, ``pdo`` to double them."""

    base_score: float
    base_odds: float
    pdo: float

    @property
    def factor(self) -> float:
        return self.pdo / math.log(2)

    @property
    def offset(self) -> float:
        return self.base_score - self.factor * math.log(self.base_odds)

    def of_pd(self, pd_values: Any) -> np.ndarray:
        """Points of each PD (rounded to whole points)."""
        p = np.clip(np.asarray(pd_values, dtype=np.float64), 1e-12, 1 - 1e-12)
        return np.round(self.offset + self.factor * np.log((1 - p) / p))

    def record(self) -> dict[str, float]:
        return {"base_score": self.base_score, "base_odds": self.base_odds, "pdo": self.pdo}

    def describe(self) -> str:
        return (f"{self.base_score:g} points at good:bad odds of {self.base_odds:g}:1, "
                f"{self.pdo:g} points to double the odds")

    def bin_points(self, cal: dict[str, Any], coefficient: float,
                   woe: list[float]) -> list[float] | None:
        """Each bin's addend to the points (Platt calibration), or None (isotonic)."""
        if cal.get("kind", "platt") != "platt":
            return None
        return [round(-self.factor * float(cal["slope"]) * coefficient * w, 1) for w in woe]


def parse_points(text: str | None) -> Points | None:
    """``BASE,ODDS,PDO`` (for example ``600,50,20``) as a ``Points``, or None for none."""
    if text is None:
        return None
    parts = [p.strip() for p in str(text).split(",")]
    try:
        base, odds, pdo = (float(p) for p in parts)
    except ValueError:
        raise ConfigError(f"--points {text!r}: give BASE,ODDS,PDO as three numbers, for "
                          "example 600,50,20 (600 points at good:bad odds of 50:1, 20 points "
                          "to double the odds)") from None
    if not (odds > 0 and pdo > 0 and math.isfinite(base)):
        raise ConfigError(f"--points {text!r}: the odds and the points to double them must be "
                          "above 0")
    return Points(base, odds, pdo)


def points_of(doc: dict[str, Any]) -> Points | None:
    """The points scale an artifact stores, or None; ``ConfigError`` names a faulty one."""
    raw = doc.get("points")
    if raw is None:
        return None
    if not isinstance(raw, dict) or not all(
            isinstance(raw.get(k), int | float) for k in ("base_score", "base_odds", "pdo")):
        raise ConfigError("points must be {base_score, base_odds, pdo} numbers, got "
                          f"{raw!r}")
    if raw["base_odds"] <= 0 or raw["pdo"] <= 0:
        raise ConfigError(f"points {raw!r}: base_odds and pdo must be above 0")
    return Points(float(raw["base_score"]), float(raw["base_odds"]), float(raw["pdo"]))
