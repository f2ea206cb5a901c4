"""The master scale: PD bands per grade, best first.

The grade table (``rules/grades.yaml``) is the authority: its band rules are
those whose ``when`` tests only ``pd``. Until that file exists the default
edges below apply. They were widened at the top (AAA below 1.5 %, AA below
3 %) because on the synthetic population a 1 % AAA edge left the residential
AAA band nearly empty. Training checks its published models against these bands,
so the scorer and the grade table always use the same edges.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import yaml

from engine.errors import ConfigError

__all__ = ["DEFAULT_BANDS", "Band", "assign", "master_scale"]

DEFAULT_SCALE = "rules/grades.yaml"


@dataclass(frozen=True)
class Band:
    """PDs in ``[lo, hi)`` get ``grade`` (the last band includes ``hi`` = 1)."""

    grade: str
    lo: float
    hi: float


DEFAULT_BANDS: tuple[Band, ...] = (
    Band("AAA", 0.0, 0.015),
    Band("AA", 0.015, 0.03),
    Band("A", 0.03, 0.06),
    Band("B", 0.06, 0.15),
    Band("C", 0.15, 1.0),
)


def master_scale(path: str | Path = DEFAULT_SCALE) -> list[Band]:
    """Bands of the grade table at ``path``, or the default edges if it does not exist."""
    path = Path(path)
    if not path.exists():
        return list(DEFAULT_BANDS)
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ConfigError(f"not valid YAML ({exc})", file=str(path)) from None
    tables = doc.get("tables", [doc]) if isinstance(doc, dict) else []
    bands: list[Band] = []
    for table in tables:
        for rule in (table or {}).get("rules", []) or []:
            when = rule.get("when") if isinstance(rule, dict) else None
            if not isinstance(when, dict) or set(when) != {"pd"}:
                continue
            cond = when["pd"]
            grade = (rule.get("then") or {}).get("grade") if isinstance(rule.get("then"),
                                                                        dict) else None
            if not isinstance(cond, dict) or grade is None:
                raise ConfigError(f"rule '{rule.get('id')}': a PD band needs "
                                  "when: {pd: {ge: LO, lt: HI}} and then: {grade: G}",
                                  file=str(path))
            lo = float(cond.get("ge", cond.get("gt", 0.0)))
            hi = float(cond.get("lt", cond.get("le", 1.0)))
            bands.append(Band(str(grade), lo, hi))
    if not bands:
        raise ConfigError("no PD band rules (rules whose 'when' tests only 'pd')",
                          file=str(path))
    bands.sort(key=lambda b: b.lo)
    if bands[0].lo != 0.0 or bands[-1].hi < 1.0 or any(
            a.hi != b.lo for a, b in zip(bands, bands[1:], strict=False)):
        edges = ", ".join(f"{b.grade} [{b.lo:g}, {b.hi:g})" for b in bands)
        raise ConfigError(f"PD bands must cover [0, 1] without gaps or overlaps: {edges}",
                          file=str(path))
    return bands


def assign(pd_values: np.ndarray, bands: list[Band] | tuple[Band, ...]) -> np.ndarray:
    """Band index (0 = best) of each PD."""
    inner = np.array([b.lo for b in bands[1:]], dtype=np.float64)
    return np.searchsorted(inner, np.asarray(pd_values, dtype=np.float64), side="right")
