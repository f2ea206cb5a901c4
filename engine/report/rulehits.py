"""How many customers each rule decided for, every rule of every table listed, zero hits too.

An auditor asks which rules carry the decisions and which never fire: a rule
no customer reaches is either a safeguard waiting for its case or a stale
entry. The counts come from running the population through the engine's own
tables with the vectorised executor, chunk by chunk, the way ``rules impact``
counts them: a rule *hits* a customer when it decided for it (its
``effective`` mask: the first matching rule of a ``first`` table, every
matching rule of a ``collect`` table).
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import pandas as pd

from engine.frames import read_frame
from engine.pipeline import run_tables, score_population

__all__ = ["RULE_HIT_COLUMNS", "rule_hits"]

RULE_HIT_COLUMNS = ("table", "rule", "file", "line", "description", "customers", "share")


def _chunks(population: str | Path | pd.DataFrame, size: int) -> Any:
    frame = population if isinstance(population, pd.DataFrame) else read_frame(Path(population))
    for start in range(0, max(len(frame), 1), size):
        yield frame.iloc[start:start + size]


def _shown(file: str, home: Path) -> str:
    """A rule file as the project names it (``rules/grades.yaml``), else as given."""
    try:
        return Path(file).resolve().relative_to(Path(home).resolve()).as_posix()
    except ValueError:
        return file


def rule_hits(engine: Any, population: str | Path | pd.DataFrame, *,
              chunk_size: int = 200_000) -> pd.DataFrame:
    """One row per rule of ``engine``'s tables, in file order: the customers it decided for.

    ``share`` is of the customers decided (rows that pass validation); the
    frame's ``attrs`` keep ``decided`` and ``rejected``.
    """
    hits: Counter = Counter()
    decided = rejected = 0
    tables = engine.tables
    for chunk in _chunks(population, chunk_size):
        scored = score_population(engine.registry, chunk)
        rejected += len(scored.rejects)
        if not len(scored.facts):
            continue
        decided += len(scored.facts)
        effective = run_tables(tables, scored.facts).evaluation.effective
        for t in tables.tables:
            for r in t.rules:
                hits[(t.name, r.id)] += int(effective[t.name][r.index].sum())
    rows = [{"table": t.name, "rule": r.id, "file": _shown(r.file, engine.config.home),
             "line": r.line,
             "description": r.description, "customers": hits[(t.name, r.id)],
             "share": hits[(t.name, r.id)] / decided if decided else 0.0}
            for t in tables.tables for r in t.rules]
    frame = pd.DataFrame(rows, columns=list(RULE_HIT_COLUMNS))
    frame.attrs.update(decided=decided, rejected=rejected)
    return frame
