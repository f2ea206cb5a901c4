"""Service levels by grade in an impact comparison: floors kept, and the gap between grades.

Each side of ``engine.batch.impact.compare`` counts, per service floor of its
catalogue (``engine.floors``) and per grade, the customers, the sum of their
levels and those served worse than the floor; per (grade, consumption class)
the customers below the floor. A customer's level is the best value of the
floor's ``granted_by`` params among the policies it holds (a policy granted
with a worse value than the standard does lower it), else the floor's
``standard``. The spread of a floor is how much worse the worst grade present
is served than the best one, on the mean level. A candidate whose spread is
beyond the floor's ``spread_threshold`` and wider than the baseline's is a
finding, and so is any customer below a floor.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from engine.floors import Floor, Floors, load_floors
from engine.language import ENGLISH, Language
from engine.policies import Catalogue
from engine.records import GRADES
from engine.vocabulary import label

__all__ = ["ServiceComparison", "ServiceFinding", "ServiceTally", "service_comparison",
           "service_tally"]

_COLUMNS = ["floor", "grade", "customers_before", "level_before", "below_before",
            "customers_after", "level_after", "below_after"]


@dataclass
class ServiceTally:
    """One side's running counts per (floor, grade) and (floor, grade, segment)."""

    floors: Floors
    customers: Counter = field(default_factory=Counter)
    level_sum: Counter = field(default_factory=Counter)
    below: Counter = field(default_factory=Counter)
    below_segment: Counter = field(default_factory=Counter)
    grades: tuple[str, ...] = GRADES

    def add(self, grades: np.ndarray, has: dict[str, np.ndarray],
            params: dict[tuple[str, str], np.ndarray], segments: dict[str, np.ndarray]) -> None:
        """Count one chunk: grade codes (``len(grades)`` = none), policy masks, param values."""
        n = len(grades)
        segment = segments.get("consumption_class", np.full(n, "", dtype=object))
        for floor in self.floors:
            level = np.full(n, np.nan)
            pick = np.fmin if floor.better == "lower" else np.fmax  # NaN: not yet granted
            for pid, param in floor.granted_by:
                held = has.get(pid)
                values = params.get((pid, param))
                if held is not None and values is not None:
                    level = np.where(held, pick(level, values), level)
            level = np.where(np.isnan(level), floor.standard, level)
            worse = level > floor.floor if floor.better == "lower" else level < floor.floor
            for code, grade in enumerate(self.grades):
                rows = grades == code
                if not rows.any():
                    continue
                self.customers[(floor.id, grade)] += int(rows.sum())
                self.level_sum[(floor.id, grade)] += float(level[rows].sum())
                bad = rows & worse
                self.below[(floor.id, grade)] += int(bad.sum())
                for value, k in zip(*np.unique(segment[bad].astype(str), return_counts=True),
                                    strict=True):
                    self.below_segment[(floor.id, grade, value)] += int(k)

    def mean(self, floor: str, grade: str) -> float:
        n = self.customers[(floor, grade)]
        return self.level_sum[(floor, grade)] / n if n else float("nan")

    def spread(self, floor: Floor) -> tuple[str, str, float] | None:
        """(best grade, worst grade, how much worse the worst is served) over grades present."""
        present = [g for g in self.grades if self.customers[(floor.id, g)]]
        if len(present) < 2:
            return None
        best, worst = present[0], present[-1]
        return best, worst, floor.gap(self.mean(floor.id, best), self.mean(floor.id, worst))


def service_tally(catalogue: Catalogue, grades: tuple[str, ...] = GRADES) -> ServiceTally:
    """An empty tally of the floors a loaded catalogue declares (none if its file is gone),
    counted per grade of ``grades``, best first."""
    if not Path(catalogue.file).is_file():
        return ServiceTally(Floors({}, catalogue.file), grades=grades)
    return ServiceTally(load_floors(catalogue.file, catalogue.policies), grades=grades)


@dataclass(frozen=True)
class ServiceFinding:
    """A floor broken or a gap between grades widened beyond its threshold, by the candidate."""

    kind: str  # "spread" or "below"
    floor: Floor
    grade: str = ""
    segment: str = ""
    customers: int = 0
    best: str = ""
    worst: str = ""
    before: float = float("nan")
    after: float = float("nan")

    def text(self, lang: Language | None = None) -> str:
        t = lang or ENGLISH
        f = self.floor
        if self.kind == "spread":
            return t.gettext(
                "%(where)s: floor %(floor)s: the candidate serves grade %(worst)s %(after)s "
                "worse than grade %(best)s on average (baseline %(before)s), beyond the spread "
                "threshold of %(threshold)s: differentiated service must not widen the service "
                "gap.", where=f.where, floor=f.id, worst=self.worst, best=self.best,
                after=_amount(t, self.after, f.unit), before=_amount(t, self.before, f.unit),
                threshold=_amount(t, f.spread_threshold, f.unit))
        return t.gettext(
            "%(where)s: floor %(floor)s: %(customers)s customers of grade %(grade)s, consumption "
            "class %(segment)s, are served worse than the floor of %(level)s.",
            where=f.where, floor=f.id, customers=t.count(self.customers), grade=self.grade,
            segment=label(t, "segment value", self.segment), level=_amount(t, f.floor, f.unit))


def _amount(t: Language, value: float, unit: str) -> str:
    """A service level in its unit, as ``t`` writes hours and days."""
    if not np.isfinite(value):
        return "n/a"
    shown = float(f"{value:.2f}")
    if unit in ("hours", "days"):
        return t.duration(shown, unit)
    return f"{shown:g} {unit}"


@dataclass(frozen=True)
class ServiceComparison:
    """Levels by floor and grade on both sides, the spreads, and the findings."""

    levels: pd.DataFrame
    spreads: pd.DataFrame
    findings: tuple[ServiceFinding, ...]


def _spread_row(floor: Floor, before: ServiceTally, after: ServiceTally) -> dict[str, object]:
    b, a = before.spread(floor), after.spread(floor)
    return {"floor": floor.id, "title": floor.title, "unit": floor.unit,
            "threshold": floor.spread_threshold, "where": floor.where,
            "best": a[0] if a else "", "worst": a[1] if a else "",
            "before": b[2] if b else float("nan"), "after": a[2] if a else float("nan")}


def _level_rows(floor: Floor, before: ServiceTally, after: ServiceTally) -> list[dict]:
    rows = []
    for grade in after.grades:
        if not (before.customers[(floor.id, grade)] or after.customers[(floor.id, grade)]):
            continue
        rows.append({"floor": floor.id, "grade": grade,
                     "customers_before": before.customers[(floor.id, grade)],
                     "level_before": before.mean(floor.id, grade),
                     "below_before": before.below[(floor.id, grade)],
                     "customers_after": after.customers[(floor.id, grade)],
                     "level_after": after.mean(floor.id, grade),
                     "below_after": after.below[(floor.id, grade)]})
    return rows


def service_comparison(before: ServiceTally, after: ServiceTally) -> ServiceComparison:
    """Compare two sides' service levels; the candidate (``after``) owns the floors judged."""
    levels, spreads, findings = [], [], []
    for floor in after.floors:
        levels += _level_rows(floor, before, after)
        row = _spread_row(floor, before, after)
        spreads.append(row)
        widened = not np.isfinite(row["before"]) or row["after"] > row["before"] + 1e-9
        if np.isfinite(row["after"]) and row["after"] > floor.spread_threshold and widened:
            findings.append(ServiceFinding("spread", floor, best=row["best"], worst=row["worst"],
                                           before=row["before"], after=row["after"]))
        for (fid, grade, segment), n in sorted(after.below_segment.items()):
            if fid == floor.id and n:
                findings.append(ServiceFinding("below", floor, grade=grade, segment=segment,
                                               customers=n))
    return ServiceComparison(pd.DataFrame(levels, columns=_COLUMNS),
                             pd.DataFrame(spreads, columns=["floor", "title", "unit", "threshold",
                                                            "where", "best", "worst", "before",
                                                            "after"]),
                             tuple(findings))
