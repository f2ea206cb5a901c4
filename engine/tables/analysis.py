"""Static checks of a table set: gaps, overlaps, dead rules, conflicting policies, examples.

Every threshold a table tests splits its field into regions (the threshold
itself, the open intervals between, null where the field is optional); every
customer falls into one combination of regions per table, and all customers
in one combination meet the same rules. So evaluating one representative per
combination (with the vectorised executor's own masks) proves, for fields
taken independently, that no input is left without a grade, that no two
``unique`` rules meet, that a rule can fire, and that no customer can receive
two policies the catalogue marks ``conflicts_with``. Above ``MAX_COMBINATIONS``
the combinations are sampled and the finding says so.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from engine.errors import DecisionError
from engine.records import FieldSpec, grade_scale, vocabulary
from engine.scale import band_grades
from engine.tables.hitpolicy import priority_order
from engine.tables.masks import Column, encode_column
from engine.tables.model import FieldRef, Table
from engine.tables.vectorised import first_winners, rule_masks

__all__ = ["MAX_COMBINATIONS", "Finding", "check_table_set", "compiled_findings",
           "policy_findings", "regions", "run_examples", "table_findings"]

MAX_COMBINATIONS = 2_000_000
_SHOWN = 3


@dataclass(frozen=True)
class Finding:
    """One problem the check found, printed as ``file:line: rule-or-table: message``."""

    file: str
    line: int
    subject: str
    kind: str
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.subject}: {self.message}"


def _fmt(x: float) -> str:
    return f"{x:g}"


def regions(spec: FieldSpec, thresholds: Sequence[Any]) -> list[tuple[Any, str]]:
    """One representative value per region of a field, with the region in words."""
    name = spec.name
    out: list[tuple[Any, str]] = []
    if spec.kind in ("int", "float"):
        points = sorted({float(t) for t in thresholds if not isinstance(t, bool)}
                        | {float(b) for b in (spec.ge, spec.le) if b is not None})
        points = [p for p in points if (spec.ge is None or p >= spec.ge)
                  and (spec.le is None or p <= spec.le)]
        if spec.kind == "int":
            points = [p for p in points if p.is_integer()]
        if not points:
            points = [0.0]
        if spec.ge is None:
            out.append((points[0] - 1, f"{name} < {_fmt(points[0])}"))
        for a, b in itertools.pairwise(points):
            out.append((a, f"{name} = {_fmt(a)}"))
            if spec.kind == "int":
                inside = math.floor(a) + 1
                if inside < b:
                    out.append((float(inside), f"{name} in ({_fmt(a)}, {_fmt(b)})"))
            else:
                out.append(((a + b) / 2, f"{name} in ({_fmt(a)}, {_fmt(b)})"))
        out.append((points[-1], f"{name} = {_fmt(points[-1])}"))
        if spec.le is None:
            out.append((points[-1] + 1, f"{name} > {_fmt(points[-1])}"))
    elif spec.kind == "bool":
        out = [(True, f"{name} = true"), (False, f"{name} = false")]
    elif spec.kind == "category":
        out = [(c, f"{name} = {c}") for c in spec.choices or ()]
    else:
        values = list(dict.fromkeys(str(t) for t in thresholds))
        out = [(v, f"{name} = {v}") for v in values] + [("\x00other", f"{name} = (other)")]
    if spec.required != "all":
        out.append((None, f"{name} absent"))
    return out


def _thresholds(tables: Sequence[Table]) -> dict[str, list[Any]]:
    found: dict[str, list[Any]] = {}
    for t in tables:
        for r in t.rules:
            for c in r.when:
                vals = c.value if isinstance(c.value, tuple) else (c.value,)
                found.setdefault(c.field, []).extend(vals)
    return found


@dataclass
class _Grid:
    """Representative facts for every combination of regions of some fields."""

    fields: list[str]
    labels: list[list[str]]
    codes: np.ndarray
    columns: dict[str, Column]
    sampled: bool
    n: int

    def describe(self, row: int, skip: set[int] | None = None) -> str:
        return ", ".join(self.labels[j][self.codes[j, row]] for j in range(len(self.fields))
                         if not skip or j not in skip) or "every input"

    def free_fields(self, rows: np.ndarray) -> set[int]:
        """Fields whose every region occurs among ``rows`` (not worth naming)."""
        return {j for j in range(len(self.fields))
                if len(np.unique(self.codes[j, rows])) == len(self.labels[j])}


def _grid(fields: Sequence[str], thresholds: dict[str, list[Any]], seed: int = 0) -> _Grid:
    vocab = vocabulary()
    per_field = [regions(vocab[f], thresholds.get(f, ())) for f in fields]
    sizes = [len(r) for r in per_field]
    total = math.prod(sizes)
    sampled = total > MAX_COMBINATIONS
    if sampled:
        rng = np.random.default_rng(seed)
        codes = np.vstack([rng.integers(0, s, MAX_COMBINATIONS) for s in sizes])
    else:
        codes = np.indices(sizes).reshape(len(sizes), -1) if sizes else np.zeros((0, 1), int)
    n = codes.shape[1]
    columns = {}
    for j, f in enumerate(fields):
        values = np.empty(len(per_field[j]), dtype=object)
        values[:] = [v for v, _ in per_field[j]]
        columns[f] = encode_column(vocab[f], pd.Series(values[codes[j]], dtype=object),
                                   thresholds.get(f, ()))
    return _Grid(list(fields), [[lab for _, lab in r] for r in per_field], codes, columns,
                 sampled, n)


def _effective(t: Table, masks: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
    if t.hit_policy in ("first", "priority"):
        win = first_winners(masks, priority_order(t) if t.hit_policy == "priority" else None)
        eff = np.zeros_like(masks)
        rows = np.flatnonzero(win >= 0)
        eff[win[rows], rows] = True
        return eff, win
    return masks, None


def _check_table(t: Table) -> list[Finding]:
    out: list[Finding] = []
    grid = _grid(t.reads, _thresholds([t]))
    note = " (sampled combinations)" if grid.sampled else ""
    masks = rule_masks(t, grid.columns.__getitem__, grid.n)
    eff, win = _effective(t, masks)
    for r in t.rules:
        if not masks[r.index].any():
            out.append(Finding(r.file, r.line, r.id, "unreachable",
                               "can never fire: no input meets all its conditions" + note))
        elif win is not None and not eff[r.index].any():
            taken = [t.rules[i].id for i in np.unique(win[masks[r.index]]) if i >= 0]
            out.append(Finding(r.file, r.line, r.id, "shadowed",
                               "can never fire: every input it matches is taken first by "
                               + ", ".join(f"'{x}'" for x in taken) + note))
    if t.hit_policy in ("unique", "any"):
        for a, b in itertools.combinations(t.rules, 2):
            both = masks[a.index] & masks[b.index]
            if not both.any():
                continue
            if t.hit_policy == "any" and a.sets == b.sets and a.policies == b.policies and \
                    not any(isinstance(v, FieldRef) for _, v in a.sets):
                continue
            row = int(np.flatnonzero(both)[0])
            what = "overlaps" if t.hit_policy == "unique" else "disagrees with"
            out.append(Finding(b.file, b.line, b.id, "overlap",
                               f"{what} rule '{a.id}' ({a.location}) under hit policy "
                               f"{t.hit_policy}, e.g. for {grid.describe(row)}{note}"))
    if not t.adds_policies:
        uncovered = np.flatnonzero(~masks.any(axis=0))
        if len(uncovered):
            skip = grid.free_fields(uncovered)
            shown_rows = list(dict.fromkeys(grid.describe(int(i), skip) for i in uncovered))
            shown = "; ".join(shown_rows[:_SHOWN])
            more = (f" and {len(shown_rows) - _SHOWN} more combinations"
                    if len(shown_rows) > _SHOWN else "")
            out.append(Finding(t.file, t.line, t.name, "gap",
                               f"no rule sets {', '.join(t.outputs)} for {shown}{more}{note}"))
    return out


def _pd_bounds(rule: Any) -> tuple[float, float]:
    lo, hi = 0.0, math.inf
    for c in rule.when:
        if c.field == "pd" and c.op in ("ge", "gt"):
            lo = max(lo, float(c.value))
        elif c.field == "pd" and c.op in ("lt", "le"):
            hi = min(hi, float(c.value))
    return lo, hi


def _check_bands(t: Table) -> list[Finding]:
    """The master scale's band rules (rules testing only ``pd``) must cover [0, 1].

    A missing band is named as the PD interval no band covers, so the author
    sees the gap itself rather than the examples and decisions it breaks.
    """
    if "grade" not in t.outputs or "pd" not in t.inputs:
        return []
    bands = sorted(((_pd_bounds(r), r) for r in t.rules
                    if r.when and all(c.field == "pd" for c in r.when)),
                   key=lambda b: b[0])
    bands = [(bounds, r) for bounds, r in bands if bounds[0] < bounds[1]]
    if not bands:
        return [Finding(t.file, t.line, t.name, "band-gap",
                        "no PD band rules (rules whose when: tests only pd): add the master "
                        "scale, e.g. when: {pd: {ge: 0.06, lt: 0.15}} then: {grade: B}")]
    out = []
    edge, before = 0.0, None
    for (lo, hi), r in bands:
        if lo > edge:
            after = f" between rule '{before.id}' and rule '{r.id}'" if before else \
                f" below rule '{r.id}'"
            out.append(Finding(t.file, r.line, t.name, "band-gap",
                               f"the master scale has no band for pd in [{edge:g}, {lo:g})"
                               f"{after}: add a band rule for it or move the edges"))
        edge, before = max(edge, hi), r
    if edge < 1.0 and before is not None:
        out.append(Finding(t.file, before.line, t.name, "band-gap",
                           f"the master scale has no band for pd in [{edge:g}, 1] above rule "
                           f"'{before.id}': end the last band with pd: {{ge: LO}}"))
    return out


def _check_grade_caps(t: Table) -> list[Finding]:
    """An override capping at grade G must test pd below exactly the lower edge of G's band.

    Band rules test only ``pd``; an override tests other fields and ``pd``. If
    its edge sits below the band edge, some customers escape the cap; above
    it, customers with a worse PD are lifted to G.
    """
    if "grade" not in t.outputs or "pd" not in t.inputs:
        return []
    sets = {r.id: dict(r.sets).get("grade") for r in t.rules}
    bands = {sets[r.id]: _pd_bounds(r)[0] for r in t.rules
             if r.when and all(c.field == "pd" for c in r.when) and isinstance(sets[r.id], str)}
    out = []
    for r in t.rules:
        grade = sets[r.id]
        if not isinstance(grade, str) or r.when and all(c.field == "pd" for c in r.when):
            continue
        if grade not in bands:
            out.append(Finding(r.file, r.line, r.id, "cap-edge",
                               f"sets grade {grade}, which no band rule of the master scale "
                               f"draws: add a band for {grade} or set a grade the scale has "
                               f"({', '.join(bands)})"))
            continue
        hi = _pd_bounds(r)[1]
        if math.isfinite(hi) and hi != bands[grade]:
            out.append(Finding(r.file, r.line, r.id, "cap-edge",
                               f"caps at {grade} for pd < {hi:g}, but the {grade} band starts "
                               f"at pd {bands[grade]:g}: use pd: {{lt: {bands[grade]:g}}}"))
    return out


@dataclass
class _Grants:
    """Which representative customers each policy rule grants its policies to."""

    grid: _Grid
    note: str
    rules: list[tuple[Any, Any, np.ndarray]]

    def gives(self) -> dict[str, np.ndarray]:
        out: dict[str, np.ndarray] = {}
        for _, action, mask in self.rules:
            out[action.policy_id] = out.get(action.policy_id, np.zeros(self.grid.n, bool)) | mask
        return out


def _grants(tables: Sequence[Table]) -> _Grants | None:
    policy_tables = [t for t in tables if t.adds_policies]
    if not policy_tables:
        return None
    fields = list(dict.fromkeys(f for t in policy_tables for f in t.reads))
    grid = _grid(fields, _thresholds(policy_tables))
    rules = []
    for t in policy_tables:
        eff, _ = _effective(t, rule_masks(t, grid.columns.__getitem__, grid.n))
        for r in t.rules:
            for a in r.policies:
                rules.append((r, a, eff[r.index]))
    return _Grants(grid, " (sampled combinations)" if grid.sampled else "", rules)


def _check_conflicts(grants: _Grants | None, pairs: Sequence[tuple[str, str]]
                     ) -> list[Finding]:
    if grants is None or not pairs:
        return []
    gives = grants.gives()
    first_rule: dict[str, Any] = {}
    for r, a, _ in grants.rules:
        first_rule.setdefault(a.policy_id, r)
    out = []
    for a, b in pairs:
        if a not in gives or b not in gives:
            continue
        both = gives[a] & gives[b]
        if both.any():
            row = int(np.flatnonzero(both)[0])
            r = first_rule[b]
            out.append(Finding(r.file, r.line, r.id, "conflict",
                               f"policies '{a}' and '{b}' are marked conflicts_with but can "
                               f"reach one customer together, e.g. "
                               f"{grants.grid.describe(row)}{grants.note}"))
    return out


def _check_clashes(grants: _Grants | None, catalogue: Any) -> list[Finding]:
    """A policy two rules can grant one customer with different params, and no ``combine:``."""
    if grants is None:
        return []
    out = []
    for (ra, a, ma), (rb, b, mb) in itertools.combinations(grants.rules, 2):
        if a.policy_id != b.policy_id or ra is rb:
            continue
        names = catalogue.clashes(a.policy_id, a.merged, b.merged)
        both = ma & mb
        if not names or not both.any():
            continue
        rows = np.flatnonzero(both)
        example = grants.grid.describe(int(rows[0]), grants.grid.free_fields(rows))
        values = "; ".join(f"{n} {a.merged[n]!r} vs {b.merged[n]!r}" for n in names)
        out.append(Finding(rb.file, b.line or rb.line, rb.id, "clash",
                           f"grants policy '{a.policy_id}' with other params than rule "
                           f"'{ra.id}' ({ra.location}) to the same customers ({values}), e.g. "
                           f"{example}{grants.note}; declare how they combine "
                           f"(combine: min, max or first on "
                           f"{', '.join(repr(n) for n in names)} in the catalogue) or give "
                           "both rules the same value"))
    return out


def run_examples(table_set: Any) -> list[Finding]:
    """Run every table's ``examples`` on all three executors; a finding per failure.

    The durable-rules executor is the reference the expectations are checked
    against; the compiled and vectorised executors must give its result exactly.
    """
    out = []
    for t in table_set.tables:
        for k, ex in enumerate(t.examples, start=1):
            subject = f"{t.name} example {k}"
            try:
                got = table_set.decide(dict(ex.given), tables=[t], executor="durable")
                compiled = table_set.decide(dict(ex.given), tables=[t], executor="compiled")
                frame = pd.DataFrame([dict(ex.given)], dtype=object)
                batch = table_set.row_result(table_set.decide_frame(frame, tables=[t]), 0,
                                             tables=[t])
            except DecisionError as exc:
                out.append(Finding(t.file, ex.line, subject, "example", exc.message))
                continue
            problems = _expectations(ex.expect, got)
            if compiled != got:
                problems.append("the compiled executor disagrees with durable-rules")
            if batch != got:
                problems.append("the vectorised executor disagrees with durable-rules")
            if problems:
                out.append(Finding(t.file, ex.line, subject, "example", "; ".join(problems)))
    return out


def _expectations(expect: Any, got: Any) -> list[str]:
    problems = []
    for name, want in expect.items():
        if name == "policy":
            have = list(got.policy_ids)
            if set(have) != set(want):
                missing = sorted(set(want) - set(have))
                extra = sorted(set(have) - set(want))
                problems.append(f"policies missing {missing}, unexpected {extra}")
        elif name == "rules":
            have = [h.rule_id for h in got.fired]
            if set(have) != set(want):
                problems.append(f"rules fired {have}, expected {list(want)}")
        elif got.outputs.get(name) != want:
            problems.append(f"{name} = {got.outputs.get(name)!r}, expected {want!r}")
    return problems


def compiled_findings(table_set: Any) -> list[Finding]:
    """A finding per table the compiled executor cannot express, naming the rule and why."""
    return [Finding(p.rule.file, p.rule.line, p.rule.id, "compiled",
                    f"the compiled executor cannot express this rule: {p.reason}")
            for p in table_set.compiled.problems.values()]


def check_table_set(table_set: Any, examples: bool = True) -> list[Finding]:
    """Every static finding for a loaded set (master-scale gaps first), then the examples'
    failures."""
    findings: list[Finding] = [f for t in table_set.tables for f in _check_bands(t)]
    with grade_scale(band_grades(table_set.tables)):
        for t in table_set.tables:
            findings += _check_table(t)
            findings += _check_grade_caps(t)
    grants = _grants(table_set.tables)
    findings += _check_conflicts(grants, table_set.catalogue.conflicts())
    findings += _check_clashes(grants, table_set.catalogue)
    findings += compiled_findings(table_set)
    if examples:
        findings += run_examples(table_set)
    return findings


def table_findings(table: Table) -> list[Finding]:
    """The static findings of one table on its own (bands, gaps, overlaps, dead rules, caps).

    With ``policy_findings`` and ``compiled_findings`` these are the parts of
    ``check_table_set``, for callers that re-check only the tables that changed.
    """
    return [*_check_bands(table), *_check_table(table), *_check_grade_caps(table)]


def policy_findings(tables: Sequence[Table], catalogue: Any) -> list[Finding]:
    """Findings across the policy tables: conflicting policies, undeclared param clashes."""
    grants = _grants(tables)
    return [*_check_conflicts(grants, catalogue.conflicts()), *_check_clashes(grants, catalogue)]
