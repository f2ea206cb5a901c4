"""The codes of the record contract and the decision, as words in each language.

Codes (``residential``, ``consumption_class``, ``large``, ``rebate_earned``)
are what service systems key on and what auditors search for; people read
words. Every code has its word here as a literal gettext message, so that
Babel's extractor finds each one and the translation test can ask for it.
A code without a word is shown as itself.

The workbench labels its grids with the same words: ``label(lang, "field",
"overdue_amount")`` for a column, ``"operator"`` and ``"hit policy"`` for the
table editor.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping

from engine.language import Language

__all__ = ["KINDS", "label", "words"]

KINDS = ("customer class", "segment", "segment value", "risk group", "event", "channel",
         "combination", "field", "operator", "hit policy", "audience")


@functools.lru_cache(maxsize=16)
def words(lang: Language) -> Mapping[str, Mapping[str, str]]:
    """Every code's word in ``lang``, by kind of code."""
    return {
        "customer class": {
            "residential": lang.pgettext("customer class", "residential"),
            "commercial": lang.pgettext("customer class", "commercial"),
            "industrial": lang.pgettext("customer class", "industrial"),
            "public": lang.pgettext("customer class", "public"),
        },
        "segment": {
            "consumption_class": lang.pgettext("segment", "consumption class"),
            "outage_sensitivity": lang.pgettext("segment", "outage sensitivity"),
            "service_sensitivity": lang.pgettext("segment", "service sensitivity"),
            "value_tier": lang.pgettext("segment", "value tier"),
        },
        "segment value": {
            "large": lang.pgettext("segment value", "large"),
            "average": lang.pgettext("segment value", "average"),
            "small": lang.pgettext("segment value", "small"),
            "high": lang.pgettext("segment value", "high"),
            "normal": lang.pgettext("segment value", "normal"),
            "low": lang.pgettext("segment value", "low"),
            "standard": lang.pgettext("segment value", "standard"),
        },
        "risk group": {
            "production": lang.pgettext("risk group", "production"),
            "management": lang.pgettext("risk group", "management"),
            "technical": lang.pgettext("risk group", "technical"),
            "market": lang.pgettext("risk group", "market"),
            "payment behaviour": lang.pgettext("risk group", "payment behaviour"),
            "social credit": lang.pgettext("risk group", "social credit"),
        },
        "event": {
            "rebate_earned": lang.pgettext("event", "rebate earned"),
            "credit_improvement": lang.pgettext("event", "credit improvement"),
            "habitual_defaulter": lang.pgettext("event", "habitual defaulter"),
            "theft_override": lang.pgettext("event", "theft override"),
            "agreement_regrade": lang.pgettext(
                "event", "re-grade after a broken repayment agreement"),
        },
        "channel": {
            "phone": lang.pgettext("channel", "phone"),
            "sms": lang.pgettext("channel", "text message"),
            "letter": lang.pgettext("channel", "letter"),
            "email": lang.pgettext("channel", "e-mail"),
        },
        "combination": {
            "first": lang.pgettext("combination", "the first granting rule's value"),
            "min": lang.pgettext("combination", "the smallest value"),
            "max": lang.pgettext("combination", "the largest value"),
            "any": lang.pgettext("combination", "yes if any rule says yes"),
            "all": lang.pgettext("combination", "yes only if every rule says yes"),
        },
        "field": _fields(lang),
        "operator": {
            "eq": lang.pgettext("operator", "equals"),
            "ne": lang.pgettext("operator", "differs from"),
            "lt": lang.pgettext("operator", "less than"),
            "le": lang.pgettext("operator", "at most"),
            "gt": lang.pgettext("operator", "more than"),
            "ge": lang.pgettext("operator", "at least"),
            "in": lang.pgettext("operator", "one of"),
            "not_in": lang.pgettext("operator", "none of"),
        },
        "hit policy": {
            "unique": lang.pgettext("hit policy", "unique: exactly one rule may match"),
            "first": lang.pgettext("hit policy", "first: the first matching rule decides"),
            "priority": lang.pgettext("hit policy", "priority: the highest priority decides"),
            "any": lang.pgettext("hit policy", "any: all matching rules must agree"),
            "collect": lang.pgettext("hit policy", "collect: every matching rule counts"),
            "rule_order": lang.pgettext("hit policy",
                                        "rule order: every matching rule, in file order"),
        },
        "audience": {
            "auditor": lang.pgettext("audience", "auditor"),
            "customer": lang.pgettext("audience", "customer"),
        },
    }


def _fields(lang: Language) -> dict[str, str]:
    """Column headings for the record contract's fields and the decision's outputs."""
    return {
        "customer_id": lang.pgettext("field", "customer id"),
        "customer_class": lang.pgettext("field", "customer class"),
        "as_of": lang.pgettext("field", "as of"),
        "months_connected": lang.pgettext("field", "months connected"),
        "asset_liability_ratio": lang.pgettext("field", "asset-liability ratio"),
        "current_ratio": lang.pgettext("field", "current ratio"),
        "return_on_net_assets": lang.pgettext("field", "return on net assets"),
        "loan_repayment_on_schedule_rate": lang.pgettext("field", "loans repaid on schedule"),
        "monthly_kwh": lang.pgettext("field", "monthly consumption (kWh)"),
        "contracted_capacity_kva": lang.pgettext("field", "contracted capacity (kVA)"),
        "overdue_bills_12m": lang.pgettext("field", "overdue bills, 12 months"),
        "overdue_amount": lang.pgettext("field", "overdue amount"),
        "max_days_overdue_12m": lang.pgettext("field", "longest delay, 12 months (days)"),
        "theft_incidents_36m": lang.pgettext("field", "theft findings, 36 months"),
        "has_repayment_agreement": lang.pgettext("field", "repayment agreement"),
        "has_reactive_compensation": lang.pgettext("field", "reactive compensation"),
        "calibration_on_schedule": lang.pgettext("field", "calibrated on schedule"),
        "grid_accidents_36m": lang.pgettext("field", "grid accidents, 36 months"),
        "social_credit_rating": lang.pgettext("field", "social credit rating"),
        "expected_service_quality": lang.pgettext("field", "expected service quality"),
        "perceived_service_quality": lang.pgettext("field", "perceived service quality"),
        "critical_load": lang.pgettext("field", "critical load"),
        "previous_grade": lang.pgettext("field", "previous grade"),
        "habitual_defaulter": lang.pgettext("field", "habitual defaulter"),
        "rebate_earned": lang.pgettext("field", "rebate earned"),
        "theft_override_until": lang.pgettext("field", "theft override until"),
        "regrade_until": lang.pgettext("field", "re-grade until"),
        "pd": lang.pgettext("field", "probability of default"),
        "grade": lang.pgettext("field", "grade"),
        "band_grade": lang.pgettext("field", "grade by probability alone"),
        "consumption_class": lang.pgettext("field", "consumption class"),
        "outage_sensitivity": lang.pgettext("field", "outage sensitivity"),
        "service_sensitivity": lang.pgettext("field", "service sensitivity"),
        "value_tier": lang.pgettext("field", "value tier"),
        "policy": lang.pgettext("field", "policy"),
        "policies": lang.pgettext("field", "policies"),
    }


def label(lang: Language, kind: str, code: object) -> str:
    """The word for ``code`` (a code of ``kind``) in ``lang``; the code itself when unknown."""
    if code is None:
        return ""
    return words(lang).get(kind, {}).get(str(code), str(code))
