"""The codes of the record contract and the decision, as words in each language.

Codes (``residential``, ``consumption_class``, ``large``, ``rebate_earned``)
are what service systems key on and what auditors search for; people read
words. Every code has its word here as a literal gettext message, so that
Babel's extractor finds each one and the translation test can ask for it.
A code without a word is shown as itself.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping

from engine.language import Language

__all__ = ["KINDS", "label", "words"]

KINDS = ("customer class", "segment", "segment value", "risk group", "event", "channel",
         "combination", "audience")


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
        "audience": {
            "auditor": lang.pgettext("audience", "auditor"),
            "customer": lang.pgettext("audience", "customer"),
        },
    }


def label(lang: Language, kind: str, code: object) -> str:
    """The word for ``code`` (a code of ``kind``) in ``lang``; the code itself when unknown."""
    if code is None:
        return ""
    return words(lang).get(kind, {}).get(str(code), str(code))
