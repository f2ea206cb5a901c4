"""The master scale: PD bands per grade, best first, read from the loaded tables.

The table that sets ``grade`` is the one authority on band edges, whatever
its file is called: its band rules are the rules whose ``when`` tests only
``pd`` (``pd: {ge: LO, lt: HI}``). Everything that needs the edges (the
``band_grade`` of a decision, the batch band column, training governance,
sensitivity, impact and the report) reads them from the loaded table set, so
a moved edge reaches all of them at once. There are no built-in edges to
fall back to: a table set whose band rules are missing, or do not cover
[0, 1] exactly once, is refused at the rule that is wrong.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from engine.errors import TableError

if TYPE_CHECKING:
    from engine.tables.model import Rule, Table

__all__ = ["Band", "assign", "band_grades", "band_rules", "declared_grades", "grade_table",
           "master_scale"]

_FORM = "a PD band is written when: {pd: {ge: LO, lt: HI}} and then: {grade: G}"


@dataclass(frozen=True)
class Band:
    """PDs in ``[lo, hi)`` get ``grade`` (the last band includes ``hi`` = 1).

    ``rule_id``, ``file`` and ``line`` say which rule draws the band; they do
    not take part in comparisons.
    """

    grade: str
    lo: float
    hi: float
    rule_id: str = field(default="", compare=False)
    file: str = field(default="", compare=False)
    line: int = field(default=0, compare=False)


def grade_table(tables: Sequence[Table]) -> Table | None:
    """The table that sets ``grade`` (a loaded set has at most one)."""
    return next((t for t in tables if "grade" in t.outputs), None)


def band_rules(table: Table) -> tuple[Rule, ...]:
    """The master-scale rules of a grade table: those whose ``when`` tests only ``pd``."""
    return tuple(r for r in table.rules if r.when and all(c.field == "pd" for c in r.when))


def band_grades(tables: Sequence[Table]) -> tuple[str, ...] | None:
    """The grade names of a loaded set's band rules, best first; None without a grade table.

    Unlike ``master_scale`` this never refuses: it names the grades a set
    declares even while its bands do not yet tile [0, 1].
    """
    table = grade_table(tables)
    found: dict[str, float] = {}
    for rule in band_rules(table) if table is not None else ():
        grade = dict(rule.sets).get("grade")
        lo = next((float(c.value) for c in rule.when if c.op == "ge"), 0.0)
        if isinstance(grade, str):
            found.setdefault(grade, lo)
    return tuple(sorted(found, key=lambda g: found[g])) or None


def master_scale(tables: Sequence[Table]) -> tuple[Band, ...]:
    """The PD bands of a loaded table set, best first, or ``TableError`` at the faulty rule."""
    if not tables:
        raise TableError("no decision tables, so no master scale", file="(empty table set)")
    table = grade_table(tables)
    if table is None:
        folder = str(Path(tables[0].file).parent)
        raise TableError("no table sets 'grade', so there is no master scale: add a grade "
                         f"table whose band rules test only pd ({_FORM})", file=folder)
    rules = band_rules(table)
    if not rules:
        raise TableError(f"table '{table.name}' has no PD band rules (rules whose 'when' tests "
                         f"only 'pd'); {_FORM}", file=table.file, line=table.line)
    bands = sorted((_band(r) for r in rules), key=lambda b: (b.lo, b.hi))
    _check_cover(table, bands)
    return tuple(bands)


def _band(rule: Rule) -> Band:
    grade = dict(rule.sets).get("grade")
    if not isinstance(grade, str):
        raise TableError(f"a PD band must set a grade value; {_FORM}", file=rule.file,
                         line=rule.line, rule_id=rule.id)
    lo, hi = 0.0, 1.0
    for c in rule.when:
        if c.op == "ge":
            lo = float(c.value)
        elif c.op == "lt":
            hi = float(c.value)
        else:
            raise TableError(f"pd {c.op} {c.value!r}: {_FORM} (bands are closed below and open "
                             "above, so every PD falls in exactly one)",
                             file=rule.file, line=c.line or rule.line, rule_id=rule.id)
    if lo >= hi:
        raise TableError(f"the PD band [{lo:g}, {hi:g}) is empty; {_FORM} with LO below HI",
                         file=rule.file, line=rule.line, rule_id=rule.id)
    return Band(grade, lo, hi, rule_id=rule.id, file=rule.file, line=rule.line)


def _check_cover(table: Table, bands: list[Band]) -> None:
    """The bands must tile [0, 1]: start at 0, end at 1, each starting where the last ended."""
    first, last = bands[0], bands[-1]
    if first.lo != 0.0:
        raise TableError(f"the best band starts at pd {first.lo:g}: PDs below it reach no "
                         "grade; start it at 0", file=first.file, line=first.line,
                         rule_id=first.rule_id)
    if last.hi < 1.0:
        raise TableError(f"the worst band ends at pd {last.hi:g}: PDs from there to 1 reach no "
                         "grade; drop its 'lt'", file=last.file, line=last.line,
                         rule_id=last.rule_id)
    for a, b in zip(bands, bands[1:], strict=False):
        if a.hi != b.lo:
            what = "a gap" if a.hi < b.lo else "an overlap"
            raise TableError(f"band {b.grade} [{b.lo:g}, {b.hi:g}) leaves {what} after band "
                             f"{a.grade} [{a.lo:g}, {a.hi:g}) (rule '{a.rule_id}', line "
                             f"{a.line}) in table '{table.name}': each band starts where the "
                             "last one ends", file=b.file, line=b.line, rule_id=b.rule_id)


def assign(pd_values: np.ndarray, bands: Sequence[Band]) -> np.ndarray:
    """Band index (0 = best) of each PD."""
    inner = np.array([b.lo for b in bands[1:]], dtype=np.float64)
    return np.searchsorted(inner, np.asarray(pd_values, dtype=np.float64), side="right")


def declared_grades(docs: Iterable[Any]) -> tuple[str, ...] | None:
    """The grade names a set's grade table declares, best first, read from its YAML documents.

    The names are the ``grade`` values of the band rules (rules whose
    ``when`` tests only ``pd``), in the order of their lower PD edge, then
    any grade only an override sets (``rules check`` reports an override
    that caps at a grade no band draws, and a band left out). They
    are read before the tables are checked, so that every table is checked
    against the scale its set declares; None when no band rule declares one
    (the set is then checked against the shipped scale). A band whose edge
    is not a number still declares its grade, placed last: checking the
    tables names the faulty edge.
    """
    found: dict[str, float] = {}
    others: dict[str, None] = {}
    for doc in docs:
        for table in _table_docs(doc):
            outputs = table.get("outputs")
            if not isinstance(outputs, list) or "grade" not in outputs:
                continue
            for rule in table.get("rules") or ():
                band = _declared_band(rule)
                if band is not None:
                    found.setdefault(band[0], band[1])
                elif isinstance(rule, dict) and isinstance(rule.get("then"), dict) and \
                        isinstance(rule["then"].get("grade"), str):
                    others.setdefault(rule["then"]["grade"])
    if not found:
        return None
    ordered = sorted(found, key=lambda g: found[g])
    return tuple([*ordered, *(g for g in others if g not in found)])


def _table_docs(doc: Any) -> list[dict[str, Any]]:
    if not isinstance(doc, dict):
        return []
    inner = doc.get("tables")
    items = inner if isinstance(inner, list) else [doc]
    return [t for t in items if isinstance(t, dict)]


def _declared_band(rule: Any) -> tuple[str, float] | None:
    """``(grade, lower PD edge)`` of a band rule written as a mapping, else None."""
    if not isinstance(rule, dict):
        return None
    when, then = rule.get("when"), rule.get("then")
    if not isinstance(when, dict) or set(when) != {"pd"} or not isinstance(then, dict):
        return None
    grade, test = then.get("grade"), when["pd"]
    if not isinstance(grade, str):
        return None
    lo = test.get("ge", 0.0) if isinstance(test, dict) else None
    return grade, float(lo) if isinstance(lo, int | float) else float("inf")
