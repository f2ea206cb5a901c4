"""One source for every term: ``rules check``'s findings on terms stated twice or misquoted.

A term is a number a customer is promised: the overdue rebate's window, share
and cap, and how long an event outcome (a theft finding, a broken agreement, a
habitual-defaulter mark) lasts. Each has one home:

- the rebate's terms are the policy catalogue's ``overdue_rebate`` params
  (``engine.events.terms.RebateTerms``); an event rule that states its own
  ``rebate:`` or a window condition (``days_after_due``, ``days_after_overdue``)
  states a term twice;
- an event outcome lasts its rule's ``lasts_days``; theft forces the lowest
  grade only through that rule (``theft_override_until``), so a grade rule that
  forces a grade on the 36-month theft count gives theft a second duration.

Texts must promise what the rules apply: every number in a rebate text (the
rebate event rule's description, the catalogue policy's title and description,
and their translations) must be one of the catalogue's terms, and every
duration in an event rule's description must match its ``lasts_days`` (or its
counting window, ``window_days``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from engine.errors import ConfigError, ConfigErrors
from engine.events.rules import load_event_rules
from engine.events.terms import RebateTerms
from engine.language import Languages
from engine.tables.analysis import Finding
from engine.tables.tableset import TableSet
from engine.yamlfile import LocatedMap, read_yaml

if TYPE_CHECKING:
    from engine.events.rules import EventRules
    from engine.events.terms import RebateTerms

__all__ = ["check_terms"]

_REBATE_POLICY = "overdue_rebate"
_WINDOW_FACTS = ("days_after_due", "days_after_overdue")
_NUMBER = re.compile(r"(?<![\w.])(\d+(?:\.\d+)?)(?![\w.])")
_HALF = re.compile(r"\bhalf\b|一半")
# A duration in a text: the number and its unit, in English and in Chinese.
_DURATION = re.compile(r"(\d+(?:\.\d+)?)\s*(years?|months?|days?|年|个月|天)")
_UNIT_DAYS = {"year": (365, 366), "years": (365, 366), "年": (365, 366),
              "month": (28, 31), "months": (28, 31), "个月": (28, 31),
              "day": (1, 1), "days": (1, 1), "天": (1, 1)}


def check_terms(table_set: TableSet, events_path: Path | None,
                languages: Languages | None = None) -> list[Finding]:
    """Every term stated twice, and every text that promises a value the rules do not apply."""

    catalogue = table_set.catalogue
    if _REBATE_POLICY not in catalogue or events_path is None or not events_path.is_file():
        return []
    try:
        rules = load_event_rules(events_path)
        raw = read_yaml(events_path)
    except (ConfigError, ConfigErrors):
        return []  # check_event_rules reports why the file does not load
    terms = RebateTerms.of(catalogue)
    file = str(events_path)
    raw_rules = {r.get("id"): r for r in (raw.get("rules") or []) if isinstance(r, LocatedMap)}
    out: list[Finding] = []
    stated = (f"policies/catalogue.yaml ({_REBATE_POLICY}: window_days = {terms.window_days:g}, "
              f"rebate_share = {terms.share:g}, cap_amount = {terms.cap:g})")
    for rule in rules.rules:
        node = raw_rules.get(rule.id)
        if node is None:
            continue
        if "rebate_earned" in rule.outcomes:
            out += _rebate_rule(file, rule.id, node, stated)
            out += _promises(file, node.line_of("description"), rule.id, rule.description,
                             terms, languages)
        else:
            out += _durations(file, node.line_of("description"), rule.id, rule.description,
                              (rule.lasts_days, rule.window_days))
    policy = catalogue[_REBATE_POLICY]
    for text in (policy.title, policy.description):
        out += _promises(catalogue.file, policy.line, _REBATE_POLICY, text, terms, languages)
    out += _theft_durations(table_set, rules, file)
    return out


def _rebate_rule(file: str, rule_id: str, node: LocatedMap, stated: str) -> list[Finding]:
    out = []
    if "rebate" in node:
        out.append(Finding(file, node.line_of("rebate"), rule_id, "term",
                           f"the rebate's share and cap are stated here and in {stated}: state "
                           "them once, in the catalogue, and remove rebate: from this rule"))
    when = node.get("when")
    for name in _WINDOW_FACTS:
        if isinstance(when, LocatedMap) and name in when:
            out.append(Finding(file, when.line_of(name), rule_id, "term",
                               f"the rebate window is stated here ({name}) and in {stated}: "
                               "the processor applies the catalogue's window_days from the due "
                               f"date; remove the {name} condition"))
    return out


def _translations(text: str, languages: Languages | None) -> Iterable[tuple[str, str]]:
    yield "en", text
    for tag in languages.tags if languages is not None else ():
        lang = languages.get(tag)
        if not lang.is_source and lang.has(text):
            yield tag, lang.text(text)


def _promises(file: str, line: int, subject: str, text: str, terms: RebateTerms,
              languages: Languages | None) -> list[Finding]:
    """Numbers in a rebate text that are not the catalogue's terms."""
    allowed = {terms.window_days, terms.share * 100, terms.share, terms.cap}
    out = []
    for tag, words in _translations(" ".join(str(text).split()), languages):
        wrong = [n for n in _NUMBER.findall(words) if float(n) not in allowed]
        if _HALF.search(words) and terms.share != 0.5:
            wrong.append("half")
        if wrong:
            out.append(Finding(file, line or 1, subject, "term",
                               f"the {tag} text promises {', '.join(wrong)}, which is not a term "
                               "the rules apply (the catalogue's overdue_rebate params: "
                               f"window_days, rebate_share, cap_amount): {words!r}"))
    return out


def _durations(file: str, line: int, subject: str, text: str,
               lasting: tuple[float, float | None]) -> list[Finding]:
    """Durations in an event rule's description that match neither lasts_days nor the window."""
    out = []
    for number, unit in _DURATION.findall(text):
        lo, hi = _UNIT_DAYS[unit]
        n = float(number)
        if not any(d is not None and n * lo <= d <= n * hi for d in lasting):
            out.append(Finding(file, line or 1, subject, "term",
                               f"the description says {number} {unit}, but the rule lasts "
                               f"{lasting[0]:g} days: make the text and lasts_days agree"))
    return out


def _theft_durations(table_set: TableSet, rules: EventRules, events_file: str
                     ) -> list[Finding]:
    """A grade rule forcing a grade on the 36-month theft count gives theft a second duration."""
    theft = next((r for r in rules.rules if "theft_override" in r.outcomes), None)
    out = []
    for table in table_set.tables:
        if "grade" not in table.outputs:
            continue
        for rule in table.rules:
            if any(c.field == "theft_incidents_36m" for c in rule.when):
                lasting = (f"rule '{theft.id}' in {events_file} forces it for "
                           f"{theft.lasts_days:g} days" if theft else "the event rules")
                out.append(Finding(rule.file, rule.line, rule.id, "term",
                                   "theft would force the grade for two durations: this rule "
                                   f"for 36 months (the count's window) and {lasting}; keep one "
                                   "(theft_override_active, which the event rule sets)"))
    return out
