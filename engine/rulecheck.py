"""The whole rules check: everything that decides or explains, checked together.

``gridcredit rules check`` runs ``check_rules``: the decision tables' static
findings and examples (``engine.tables.analysis``), the event rules
(``rules/events.yaml``, every problem at once), the catalogue (every policy
granted by some rule) and the templates: every ``*.j2`` compiles, each
policy fragment names only its policy's params, and every explanation format
renders under StrictUndefined, in every supported language and for both
audiences, for decisions that carry every policy with every value its params
can take, several granting rules, every event outcome, an override and none.
A template that fails is reported at its ``file:line``. Every message of the
code, the templates and the knowledge files must have its translation in
each language's catalogue (``engine.translations``); a missing one is reported
where the message is written.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jinja2 import nodes

from engine.collections.tables import check_collection_rules
from engine.decision import (
    Decision,
    EventOutcome,
    GradeOutcome,
    GrantOutcome,
    PolicyOutcome,
    Reason,
    RuleFired,
    ScoreOutcome,
    TableVersions,
)
from engine.errors import ConfigError, ConfigErrors, closest, did_you_mean
from engine.events.rules import OUTCOMES, load_event_rules
from engine.explanation import AUDIENCES, FORMATS, Explainer, template_position
from engine.floors import Floor, Floors, load_floors
from engine.policies import Catalogue
from engine.records import GRADES
from engine.scale import band_grades
from engine.statements import LEGAL_NOTICES
from engine.tables.analysis import Finding, check_table_set, run_examples
from engine.tables.tableset import TableSet
from engine.termcheck import check_terms
from engine.translations import missing

__all__ = ["RuleCheck", "check_catalogue", "check_event_rules", "check_floors", "check_rules",
           "check_templates", "check_translations", "grade_levels", "sample_decisions",
           "service_spread", "spread_warnings"]

_SEGMENTS = {"consumption_class": "large", "outage_sensitivity": "high",
             "service_sensitivity": "high", "value_tier": "high"}


@dataclass(frozen=True)
class RuleCheck:
    """Findings of a whole check; ``unloadable`` when a file could not be read at all."""

    findings: tuple[Finding, ...]
    unloadable: bool = False
    # the spread of each service floor's level between the best and the worst grade
    spread: tuple[str, ...] = ()


def check_rules(table_set: TableSet, explainer: Explainer, events_path: Path | None, *,
                examples: bool = True) -> RuleCheck:
    """Every finding for a loaded table set, its event rules, catalogue and templates."""
    findings: list[Finding] = []
    events, broken = check_event_rules(events_path) if events_path else ([], False)
    findings += check_table_set(table_set, examples=False)
    findings += events
    if events_path:  # the collection tables sit beside the event rules
        findings += check_collection_rules(events_path.parent, table_set.catalogue)
    findings += check_catalogue(table_set)
    floors = load_floors(table_set.catalogue.file, table_set.catalogue.policies)
    findings += check_floors(table_set, floors)
    findings += check_terms(table_set, events_path, explainer.languages)
    findings += check_templates(explainer, table_set.catalogue)
    findings += check_translations(explainer, events_path.parent if events_path else None)
    if examples:

        findings += run_examples(table_set)
    return RuleCheck(tuple(findings), broken, tuple(service_spread(table_set, floors)))


def check_event_rules(path: Path) -> tuple[list[Finding], bool]:
    """Every problem of the event rule file as a finding; True when it cannot be loaded."""

    if not path.is_file():
        return [], False
    try:
        load_event_rules(path)
    except ConfigErrors as exc:
        return [_finding(e, "event rules") for e in exc.errors], True
    except ConfigError as exc:
        return [_finding(exc, "event rules")], True
    return [], False


def _finding(exc: ConfigError, subject: str, kind: str = "event-rule") -> Finding:
    return Finding(exc.file or "", exc.line or 1, subject, kind,
                   exc.reason + did_you_mean(exc.suggestion))


def check_catalogue(table_set: TableSet) -> list[Finding]:
    """Catalogue policies no rule grants (a policy nobody can receive is a stale entry)."""
    granted = {a.policy_id for t in table_set.tables for r in t.rules for a in r.policies}
    cat = table_set.catalogue
    return [Finding(cat.file, p.line, p.id, "unused",
                    "no rule grants this policy: add a rule that gives it or remove it from "
                    "the catalogue") for p in cat if p.id not in granted]


# --------------------------------------------------------------------------- service floors

def _scale(table_set: TableSet) -> tuple[str, ...]:
    """The grades of the set's master scale, best first."""
    return band_grades(table_set.tables) or GRADES


def _grades_reached(rule: Any, scale: tuple[str, ...]) -> tuple[str, ...]:
    """The grades a rule's own conditions on ``grade`` let through (every grade without any)."""
    grades = list(scale)
    for c in rule.when:
        if c.field != "grade":
            continue
        values = set(c.value) if isinstance(c.value, tuple) else {c.value}
        keep = {"eq": values.__contains__, "in": values.__contains__,
                "ne": lambda g, v=values: g not in v, "not_in": lambda g, v=values: g not in v}
        test = keep.get(c.op)
        grades = [g for g in grades if test is None or test(g)]
    return tuple(grades)


def _grants(table_set: TableSet, floor: Floor) -> Iterator[tuple[Any, Any, str, float]]:
    """(rule, action, param, value) of every rule action that sets one of the floor's params."""
    for table in table_set.tables:
        for rule in table.rules:
            for action in rule.policies:
                for pid, param in floor.granted_by:
                    value = action.merged.get(param) if action.policy_id == pid else None
                    if isinstance(value, int | float) and not isinstance(value, bool):
                        yield rule, action, param, float(value)


def _who(rule: Any, scale: tuple[str, ...]) -> str:
    """The grades, and the segments when the rule tests any, that a rule's grant reaches."""
    grades = _grades_reached(rule, scale)
    who = "every grade" if len(grades) == len(scale) else "grade " + ", ".join(grades)
    segments = [f"{c.field} {c.op} "
                + (", ".join(map(str, c.value)) if isinstance(c.value, tuple) else str(c.value))
                for c in rule.when if c.field in _SEGMENTS]
    return who + (" in segment " + " and ".join(segments) if segments else "")


def check_floors(table_set: TableSet, floors: Floors) -> list[Finding]:
    """Rules that grant a service level worse than a floor every customer keeps."""
    out = []
    for floor in floors:
        for rule, action, param, value in _grants(table_set, floor):
            if not floor.worse(value):
                continue
            bound = "at most" if floor.better == "lower" else "at least"
            out.append(Finding(
                rule.file, action.line or rule.line, rule.id, "floor",
                f"grants {action.policy_id} with {param} {value:g} {floor.unit} to "
                f"{_who(rule, _scale(table_set))}, worse than the floor '{floor.title}' ({bound} "
                f"{floor.floor:g} {floor.unit} for every customer whatever the grade, "
                f"{floor.where}): set {param} to {bound} {floor.floor:g}"))
    return out


def grade_levels(table_set: TableSet, floor: Floor) -> dict[str, float]:
    """The level each grade's own rules grant (rules that test the grade), else the standard.

    Rules that do not test the grade (a critical load, a segment) serve every
    grade alike and so do not widen the gap between grades.
    """
    return {g: level for g, (level, _where) in _grade_grants(table_set, floor).items()}


def _grade_grants(table_set: TableSet, floor: Floor) -> dict[str, tuple[float, str | None]]:
    """Per grade: its level and the ``file:line rule 'id'`` that grants it (None: the
    standard level, granted by no rule of the grade's own)."""
    scale = _scale(table_set)
    levels: dict[str, tuple[float, str | None]] = {g: (floor.standard, None) for g in scale}
    for rule, action, _param, value in _grants(table_set, floor):
        grades = _grades_reached(rule, scale)
        if len(grades) == len(scale):
            continue
        for g in grades:
            if floor.best([levels[g][0], value]) != levels[g][0]:
                levels[g] = (value, f"{rule.file}:{action.line or rule.line} rule '{rule.id}'")
    return levels


def spread_warnings(table_set: TableSet) -> list[str]:
    """The service-spread lines of ``table_set`` beyond their threshold (a warning at publish)."""
    catalogue = table_set.catalogue
    if not Path(catalogue.file).is_file():
        return []
    floors = load_floors(catalogue.file, catalogue.policies)
    return [line for line in service_spread(table_set, floors) if "beyond the threshold" in line]


def service_spread(table_set: TableSet, floors: Floors) -> list[str]:
    """Per floor, one line: the level the best and the worst grade earn, and the threshold."""
    out = []
    top, bottom = _scale(table_set)[0], _scale(table_set)[-1]
    for floor in floors:
        grants = _grade_grants(table_set, floor)
        (best, best_at), (worst, worst_at) = grants[top], grants[bottom]
        gap = floor.gap(best, worst)
        state = "beyond" if gap > floor.spread_threshold else "within"
        line = (f"service spread {floor.id}: {top} {best:g}, {bottom} {worst:g} "
                f"{floor.unit} by the grades' own rules, gap {gap:g} {floor.unit}, {state} the "
                f"threshold {floor.spread_threshold:g} ({floor.where})")
        if state == "beyond":
            set_by = [f"{g} by {at}" for g, at in ((top, best_at), (bottom, worst_at))
                      if at]
            line += ("; set for " + " and ".join(set_by) if set_by else "") + \
                ": bring the grades' levels closer or raise spread_threshold in the catalogue"
        out.append(line)
    return out


def check_translations(explainer: Explainer, rules_dir: Path | None = None) -> list[Finding]:
    """Every message (code, templates, knowledge files, the tables of ``rules_dir`` wherever
    it is) a supported language lacks."""

    languages = explainer.languages
    lacking = missing(languages, explainer.templates_dir.parent.parent, rules_dir)
    return [Finding(m.file, m.line, tag, "translation",
                    f"no {tag} translation of {m.id!r} in {languages.files[tag]}")
            for tag, found in lacking.items() for m in found]


# --------------------------------------------------------------------------- templates

def check_templates(explainer: Explainer, catalogue: Catalogue) -> list[Finding]:
    """Compile every template, check the params each fragment names, render every format."""
    root = explainer.templates_dir
    env = explainer.environment("text")
    out: list[Finding] = []
    broken: set[str] = set()
    for path in sorted(root.rglob("*.j2")):
        name = path.relative_to(root).as_posix()
        try:
            env.get_template(name)
        except Exception as exc:  # noqa: BLE001 - every template error is a finding
            file, line = template_position(exc, path)
            out.append(Finding(file, line or 1, name, "template", f"does not compile: {exc}"))
            broken.add(name)
    for policy in catalogue:
        name = policy.template.removeprefix("templates/")
        if name in broken or not (root / name).is_file():
            continue
        out += _unknown_params(root / name, env.parse((root / name).read_text()),
                               policy.id, list(policy.params))
    if out:
        return out
    for decision in sample_decisions(catalogue):
        for fmt, lang, audience in itertools.product(FORMATS, explainer.languages.tags,
                                                     AUDIENCES):
            if LEGAL_NOTICES.get(audience, "") not in ("", *decision.policy_ids):
                continue  # a legal document is rendered only for a decision that calls for it
            try:
                explainer.render(decision, fmt, lang=lang, audience=audience)
            except ConfigError as exc:
                what = {"auditor": "explanation", "customer": "customer notice"}.get(
                    audience, audience)
                out.append(Finding(exc.file or str(root), exc.line or 1, f"{fmt} {what}",
                                   "template", exc.reason))
    return sorted(set(out), key=lambda f: (f.file, f.line, f.message))


def _unknown_params(path: Path, tree: nodes.Template, policy_id: str,
                    known: list[str]) -> list[Finding]:
    out = []
    for node in tree.find_all((nodes.Getattr, nodes.Getitem)):
        target = node.node
        if not (isinstance(target, nodes.Name) and target.name == "params"):
            continue
        if isinstance(node, nodes.Getattr):
            name = node.attr
        elif isinstance(node.arg, nodes.Const) and isinstance(node.arg.value, str):
            name = node.arg.value
        else:
            continue
        if name not in known:
            hint = did_you_mean(closest(name, known))
            listed = ", ".join(known) or "none"
            out.append(Finding(str(path), node.lineno, policy_id, "template",
                               f"names param '{name}', which policy '{policy_id}' does not "
                               f"have (its params: {listed}){hint}"))
    return out


def _param_values(spec: Any) -> list[Any]:
    if spec.type == "bool":
        return [True, False]
    if spec.choices:
        return list(spec.choices)
    values = [spec.default]
    for bound in (spec.min, spec.max):
        if bound is not None:
            values.append(int(bound) if spec.type == "int" else float(bound))
    return values


def _variants(catalogue: Catalogue) -> Iterator[dict[str, dict[str, Any]]]:
    """Param sets per policy such that every param takes each of its sample values."""
    samples = {p.id: {n: _param_values(s) for n, s in p.params.items()} for p in catalogue}
    rounds = max((len(v) for per in samples.values() for v in per.values()), default=1)
    for k in range(rounds):
        yield {pid: {n: vals[k % len(vals)] for n, vals in per.items()}
               for pid, per in samples.items()}


def sample_decisions(catalogue: Catalogue) -> list[Decision]:
    """Decisions that exercise every template branch the catalogue can reach."""
    out = [_sample(catalogue, {}, full=False)]
    out += [_sample(catalogue, params, full=True) for params in _variants(catalogue)]
    return out


def _sample(catalogue: Catalogue, params: dict[str, dict[str, Any]], *, full: bool
            ) -> Decision:

    policies = []
    for p in catalogue if full else ():
        values = params[p.id]
        grants = ()
        if values:
            grants = (GrantOutcome(rule_id="sample-a", table="sample", file="rules/sample.yaml",
                                   line=1, params=p.defaults()),
                      GrantOutcome(rule_id="sample-b", table="sample", file="rules/sample.yaml",
                                   line=2, params=values))
        policies.append(PolicyOutcome(policy_id=p.id, params=values, rule_id="sample-a",
                                      table="sample", file="rules/sample.yaml", line=1,
                                      source="sample", description="A sample rule.",
                                      grants=grants))
    events = tuple(EventOutcome(kind=k, rule_id=f"sample-{k}", reason="A sample event rule.",
                                event_ids=("E1", "E2"), valid_from="2026-01-01T00:00:00Z",
                                valid_until="2027-01-01T00:00:00Z", amount=12.5, grade="C")
                   for k in OUTCOMES) if full else ()
    reasons = (Reason(indicator="overdue_ratio", group="payment behaviour", value=0.5,
                      contribution=0.8 if full else -0.2, description="A sample indicator."),)
    return Decision(
        decision_id="sample", customer_id="SAMPLE", customer_class="commercial",
        as_of="2026-11-30", inputs={"customer_id": "SAMPLE"},
        score=ScoreOutcome(model_id="sample", model_sha256="0" * 64, z=1.0, pd=0.2,
                           reasons=reasons),
        grade=GradeOutcome(grade="C", band_grade="A" if full else "C",
                           rule_id="sample-override" if full else "sample-band",
                           override="sample-override" if full else None,
                           file="rules/sample.yaml", line=1, description="A sample rule.",
                           source="sample" if full else None),
        segments=_SEGMENTS if full else dict.fromkeys(_SEGMENTS),
        policies=tuple(policies),
        trace=(RuleFired(table="sample", rule_id="sample-a", file="rules/sample.yaml", line=1,
                         description="A sample rule.", source=None, sets={"grade": "C"}),),
        tables=TableVersions(version="sample", versions={"sample": "1"},
                             content_hash="0" * 64),
        timings_ms={}, engine_version="sample", digest="0" * 64, events=events,
    )
