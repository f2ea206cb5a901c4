"""The overdue rebate's terms: one home, the policy catalogue's ``overdue_rebate`` params.

The share of the late-payment penalty returned, the cap per repayment and the
window after the due date are promised to customers by the catalogue (its
template and the notice render them). The event processor pays by the same
numbers: ``with_rebate_terms`` puts them into every event rule that earns a
rebate before the rules are compiled, the window as a condition on the
repayment fact's ``days_after_due``. ``gridcredit rules check`` refuses a rule
file that states any of them itself (``engine.termcheck``).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

from engine.conditions import Condition
from engine.errors import ConfigError
from engine.events.rules import EventRules
from engine.policies import Catalogue, load_catalogue
from engine.yamlfile import read_yaml

__all__ = ["PROTECTIONS_FILE", "REBATE_POLICY", "WINDOW_FACT", "RebateTerms",
           "protection_kinds_beside", "with_rebate_terms"]

#: The catalogue policy whose params are the rebate's terms.
REBATE_POLICY = "overdue_rebate"
#: The repayment fact's field the window is tested on: days after the bill's due date.
WINDOW_FACT = "days_after_due"
#: The table of protection kinds, beside the event rules (``engine.collections.protections``
#: loads and checks it whole; the processor needs only the names of its kinds).
PROTECTIONS_FILE = "protections.yaml"


def protection_kinds_beside(rules: EventRules) -> frozenset[str] | None:
    """The kinds a protection event may name: those of the ``protections.yaml`` beside the
    rule file (``kinds:``), or None when there is none (a rule file on its own)."""
    path = Path(rules.file).resolve().with_name(PROTECTIONS_FILE)
    if not path.is_file():
        return None
    doc = read_yaml(path)
    kinds = doc.get("kinds") if isinstance(doc, dict) else None
    if not isinstance(kinds, dict) or not kinds:
        raise ConfigError("the protections table lists no kinds: give 'kinds:' a mapping of "
                          "kind names (gridcredit rules check names what is wrong)",
                          file=str(path), line=1)
    return frozenset(str(k) for k in kinds)


@dataclass(frozen=True)
class RebateTerms:
    """The overdue rebate's terms from the catalogue's ``overdue_rebate`` params: ``share``
    of the late-payment penalty, at most ``cap`` a repayment, for a bill repaid in full
    within ``window_days`` of its due date."""

    share: float
    cap: float
    window_days: float

    @classmethod
    def of(cls, catalogue: Catalogue) -> RebateTerms:
        if REBATE_POLICY not in catalogue:
            raise ConfigError(f"the catalogue has no policy '{REBATE_POLICY}', whose params are "
                              "the rebate's terms (window_days, rebate_share, cap_amount)",
                              file=catalogue.file)
        params = catalogue[REBATE_POLICY].defaults()
        return cls(share=float(params["rebate_share"]), cap=float(params["cap_amount"]),
                   window_days=float(params["window_days"]))

    @classmethod
    def beside(cls, rules: EventRules) -> RebateTerms | None:
        """The terms of the project whose ``rules/events.yaml`` this is (its
        ``policies/catalogue.yaml``), or None when there is no catalogue beside it."""
        path = Path(rules.file).resolve().parent.parent / "policies" / "catalogue.yaml"
        return cls.of(load_catalogue(path)) if path.is_file() else None


def with_rebate_terms(rules: EventRules, terms: RebateTerms | None) -> EventRules:
    """The rule file with the catalogue's terms in every rule that earns a rebate: its share
    and cap, and the window as a condition on the days after the bill's due date."""
    rebating = [r for r in rules.rules if "rebate_earned" in r.outcomes]
    if not rebating:
        return rules
    if terms is None:
        if all(r.rebate_share or r.rebate_cap for r in rebating):
            return rules  # a rule file on its own, with its own terms (rules check objects)
        raise ConfigError(f"rule '{rebating[0].id}' earns a rebate, but no policy catalogue "
                          f"holds its terms: put rules/ beside policies/catalogue.yaml (the "
                          f"'{REBATE_POLICY}' params)", file=rules.file, line=rebating[0].line)
    replaced = tuple(
        dataclasses.replace(r, rebate_share=terms.share, rebate_cap=terms.cap,
                            when=(*[c for c in r.when if c.field != WINDOW_FACT],
                                  Condition(WINDOW_FACT, "le", terms.window_days, r.line)))
        if "rebate_earned" in r.outcomes else r for r in rules.rules)
    return dataclasses.replace(rules, rules=replaced,
                               lookback_days=max(rules.lookback_days, terms.window_days))
