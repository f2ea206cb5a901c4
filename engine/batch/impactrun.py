"""One impact run as ``rules impact`` makes it: load both sides, check the candidate, compare.

A candidate that ``rules check`` finds fault with (a gap, an overlap, a
broken template, a failing example...) is refused before anything is
decided: an impact of tables that must not be published would be read as
the impact of a release. ``allow_findings`` compares it anyway, and the
report then opens with the findings.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from engine.batch.impact import EXPOSURE_MONTHS, Impact, compare
from engine.batch.rulesource import RuleSide, load_side
from engine.errors import EngineError, InputError
from engine.explanation import Explainer
from engine.language import load_languages
from engine.rulecheck import check_rules

if TYPE_CHECKING:
    from engine.decider import Engine

__all__ = ["CandidateRefused", "candidate_findings", "run_impact"]


class CandidateRefused(EngineError):
    """The candidate tables have ``rules check`` findings; nothing was compared."""

    exit_code = 1
    http_status = 422
    code = "candidate_refused"

    def __init__(self, candidate: str, findings: list[str]) -> None:
        super().__init__(
            f"candidate {candidate}: refused, rules check has {len(findings)} finding(s):\n"
            + "\n".join(f"  {f}" for f in findings)
            + "\nfix them (gridcredit rules check), or give --allow-findings to see the "
              "impact anyway")
        self.findings = list(findings)


def candidate_findings(side: RuleSide, engine: Engine) -> list[str]:
    """What ``rules check`` reports for ``side``: its tables, event rules, catalogue and
    templates (its own, or the project's), and the examples, as ``file:line: ...`` lines."""

    if side.policies is not None:
        explainer = Explainer(side.policies / "templates", side.catalogue,
                              load_languages(side.policies / "locale"))
    else:
        explainer = engine.explainer
    events = side.folder / "events.yaml" if side.folder is not None else None
    return [str(f) for f in check_rules(side.tables, explainer, events).findings]


def run_impact(engine: Engine, baseline: str, candidate: str | Path,
               population: str | Path | pd.DataFrame, *, allow_findings: bool = False,
               tariff: float | None = None, exposure_months: float = EXPOSURE_MONTHS,
               store: Any = None, chunk_size: int = 200_000,
               progress: Callable[[int], None] | None = None) -> Impact:
    """Compare ``candidate`` (a rules or project folder) with ``baseline`` (a folder or a
    git revision of the project's repository, ``engine.batch.rulesource``) over
    ``population``.

    Raises ``CandidateRefused`` when the candidate has findings, unless
    ``allow_findings``; the impact then carries them.
    """
    if not Path(candidate).is_dir():
        raise InputError(f"--candidate {candidate}: folder not found; give a rules folder or "
                         "a project folder (one with rules/ and policies/)")
    cand = load_side(candidate, engine, option="--candidate")
    base = load_side(baseline, engine, candidate_dir=candidate)
    findings = candidate_findings(cand, engine)
    if findings and not allow_findings:
        raise CandidateRefused(cand.label, findings)
    impact = compare(engine, base.tables, cand.tables, population, baseline_label=base.label,
                     candidate_label=cand.label, tariff=tariff,
                     exposure_months=exposure_months, chunk_size=chunk_size,
                     progress=progress, store=store, templates=(base.templates, cand.templates))
    return dataclasses.replace(impact, findings=tuple(findings))
