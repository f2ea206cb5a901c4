"""One record scored straight from its facts, with everything per model worked out at load.

``RecordScorer`` fuses ``compute_one`` and ``ScoreModel.score_one`` for the
per-decision path. At load, each indicator's transform and the model's bins
for it are read once, and every bin's two products are taken once: its term
of ``z`` (``woe * coef``) and its contribution (``(woe - mean_woe) * coef``).
Scoring one record is then per indicator one transform in plain floats, one
bisection or dictionary look-up and two list reads; ``z`` adds the terms one
indicator at a time in the artifact's order, from 0, intercept last, so it
is bit for bit the ``z`` of ``score_frame`` (the products are the very ones
the frame path multiplies).

The isotonic calibration interpolates between knots as ``numpy.interp``
does, operation for operation (the same bisection, the same slope and the
same retry when a slope overflows), so the PD too is the frame's to the last
bit. Whatever this path does not spell out (a ``missing:`` rule other than
its own bin, a source value that is no number where a number is read, a
prior shift of the isotonic curve) goes through ``compute_one`` and
``pd_from_z``, the general path, for that indicator or that PD.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from engine.scoring.indicators import (
    Catalogue,
    Indicator,
    at_least,
    compute_one,
    divide,
)
from engine.scoring.model import TOP_REASONS, ScoreModel
from engine.scoring.values import canonical

__all__ = ["RecordScorer"]

_NUMBER_TYPES = (float, int, bool)
_FAST_TRANSFORMS = ("identity", "flag", "log1p", "ratio", "gap", "category")


class _Slow(Exception):
    """A value this path does not transform itself: the general path does."""


def _number(value: Any) -> float:
    if value is None:
        return math.nan
    kind = type(value)
    if kind is float:
        return value
    if kind is int or kind is bool:
        return float(value)
    raise _Slow


class _Step:
    """One indicator: its transform and, per bin, its term of z and its contribution."""

    def __init__(self, ind: Indicator, bins: Any, coef: float, mean: float,
                 catalogue: Catalogue) -> None:
        self.ind = ind
        self.catalogue = catalogue
        self.name = ind.name
        self.group = bins.group
        self.description = bins.description
        self.transform = ind.transform
        self.sources = ind.sources
        self.numeric = bins.kind == "numeric"
        self.fast = ind.missing == "bin" and ind.transform in _FAST_TRANSFORMS
        self.splits = bins.splits.tolist()
        woe = bins.woe.tolist()
        self.terms = [(w * coef, (w - mean) * coef) for w in woe]
        self.missing = (bins.missing_woe * coef, (bins.missing_woe - mean) * coef)
        self.unknown = (bins.unknown_woe * coef, (bins.unknown_woe - mean) * coef)
        self.categories = dict(bins.categories)
        self.specials = {v: (w * coef, (w - mean) * coef) for v, w in bins.specials}
        # an indicator that is its one source as a number, in numeric bins: read inline
        self.direct = (self.fast and self.numeric and _direct(ind)
                       and not self.specials)

    def value(self, facts: Mapping[str, Any]) -> Any:
        """The indicator's value, as ``compute_one`` gives it."""
        if self.fast:
            try:
                return self._value(facts)
            except _Slow:
                pass
        return compute_one(facts, self.catalogue, names=[self.name])[self.name]

    def _value(self, facts: Mapping[str, Any]) -> Any:
        ind = self.ind
        transform = self.transform
        if transform == "category":
            return canonical(facts.get(self.sources[0]))
        a = _number(facts.get(self.sources[0]))
        if transform == "identity" or transform == "flag":
            out = a
        elif transform == "log1p":
            out = float(np.log1p(at_least(a, 0.0)))
        elif transform == "ratio":
            out = divide(a, ind.scale * at_least(_number(facts.get(self.sources[1])),
                                                   ind.floor))
        else:  # gap
            out = a - _number(facts.get(self.sources[1]))
        if ind.clip is not None:
            lo, hi = ind.clip
            out = lo if out < lo else hi if out > hi else out
        if ind.special_values and a in ind.special_values:
            return a
        return out

    def terms_of(self, value: Any) -> tuple[float, float]:
        """(term of z, contribution) of the bin the value falls in."""
        specials = self.specials
        if self.numeric:
            x = math.nan if value is None else float(value)
            if specials and x in specials:
                return specials[x]
            if x != x:
                return self.missing
            return self.terms[bisect.bisect_right(self.splits, x)]
        if value is None or (isinstance(value, float) and value != value):
            return self.missing
        text = str(value)
        if specials and text in specials:
            return specials[text]
        k = self.categories.get(text)
        return self.unknown if k is None else self.terms[k]


def _direct(ind: Indicator) -> bool:
    """Whether the indicator's value is its one source as a float (no clip, no specials)."""
    return (ind.transform in ("identity", "flag") and ind.clip is None
            and not ind.special_values)


class RecordScorer:
    """A score model ready to score one customer's facts (see the module docstring)."""

    def __init__(self, model: ScoreModel, catalogue: Catalogue) -> None:
        self.model = model
        self.steps = tuple(
            _Step(catalogue[b.name], b, float(c), float(m), catalogue)
            for b, c, m in zip(model.bins, model.coef, model.mean_woe, strict=True))
        self.intercept = model.intercept
        cal = model.calibration
        self.isotonic = cal.get("kind") == "isotonic"
        self.knots_z = [float(v) for v in cal.get("knots_z", ())]
        self.knots_pd = [float(v) for v in cal.get("knots_pd", ())]
        self.plain_curve = self.isotonic and not model.shift and len(self.knots_z) > 1

    def score(self, facts: Mapping[str, Any]) -> tuple[float, float, list[tuple[Any, ...]]]:
        """``(z, pd, reasons)``; each reason is (indicator, group, value, contribution,
        description), the most adverse first, as ``ScoreModel.score_one`` orders them."""
        acc = 0.0
        contrib = []
        values = []
        for step in self.steps:
            if step.direct:
                value = facts.get(step.sources[0])
                kind = type(value)
                if kind is int or kind is bool:
                    value = float(value)
                elif value is None:
                    value = math.nan
                elif kind is not float:
                    value = step.value(facts)
                if value != value:
                    term, share = step.missing
                else:
                    term, share = step.terms[bisect.bisect_right(step.splits, value)]
            else:
                value = step.value(facts)
                term, share = step.terms_of(value)
            acc += term
            contrib.append(share)
            values.append(value)
        z = acc + self.intercept
        order = sorted(range(len(contrib)), key=contrib.__getitem__, reverse=True)[:TOP_REASONS]
        steps = self.steps
        reasons = [(steps[j].name, steps[j].group, values[j], contrib[j], steps[j].description)
                   for j in order if contrib[j] > 0]
        return z, self.pd(z), reasons

    def pd(self, z: float) -> float:
        """The calibrated PD of ``z``, bit for bit ``ScoreModel.pd_from_z``."""
        model = self.model
        if self.plain_curve:
            return _interp(z, self.knots_z, self.knots_pd)
        if self.isotonic:
            return float(model.pd_from_z(z))
        return 1.0 / (1.0 + float(np.exp(-(model.slope * z + model.offset))))


def _interp(x: float, xp: list[float], fp: list[float]) -> float:
    """``numpy.interp(x, xp, fp)`` of one float, computed as numpy's C loop computes it."""
    if x != x:
        return x
    j = bisect.bisect_right(xp, x) - 1
    if j < 0:
        return fp[0]
    if j >= len(xp) - 1:
        return fp[-1]
    if xp[j] == x:
        return fp[j]
    slope = (fp[j + 1] - fp[j]) / (xp[j + 1] - xp[j])
    out = slope * (x - xp[j]) + fp[j]
    if out != out:
        out = slope * (x - xp[j + 1]) + fp[j + 1]
        if out != out and fp[j] == fp[j + 1]:
            out = fp[j]
    return out
