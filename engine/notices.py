"""The words of a decision's statements, said to the customer.

``engine.statements`` says what is true of a decision; this module says it to
the customer, in the second person, in every language the project speaks:
what set the grade and until when (``lead``), what the customer can do about
it, why each measure applies (``why``), the habitual-defaulter mark
(``marks``) and the legal documents (``legal_document``: the default-liability
notice and the cut warning, each with its own dates). Every value in a
sentence is a statement's value; nothing here reads the decision for a fact a
statement does not hold. Every phrase is a gettext message, translated in
``policies/locale``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from engine.language import Language
from engine.statements import Decisive, Ground, LegalNotice, Mark, Measure
from engine.vocabulary import label

__all__ = ["can_do", "grounds", "lead", "legal_document", "marks", "why"]


def _next(day: dt.date) -> dt.date:
    return day + dt.timedelta(days=1)


def lead(s: Decisive, lang: Language) -> list[str]:
    """What set the grade, in plain words: the override with its dates, or the PD band."""
    v = s.values
    if s.cause == "band":
        return [lang.gettext("Your grade follows from your payment and usage record: it puts "
                             "the probability that you fall behind on your bills within the "
                             "next 12 months at %(pd)s.", pd=lang.share(v["pd"], 2))]
    out: list[str] = []
    until = v.get("until")
    if s.cause == "theft":
        if "since" in v:
            out.append(lang.gettext("On %(since)s electricity theft was found at your supply.",
                                    since=lang.date(v["since"])))
        out.append(lang.gettext("A finding of electricity theft sets your credit grade to "
                                "%(grade)s, whatever your payment record, until %(until)s "
                                "(inclusive). From %(next)s on, this finding no longer sets "
                                "your grade.", grade=v["grade"], until=lang.date(until),
                                next=lang.date(_next(until))))
    elif s.cause == "broken_agreement":
        if "since" in v:
            out.append(lang.gettext("On %(since)s the repayment agreement for your arrears "
                                    "was broken.", since=lang.date(v["since"])))
        out.append(lang.gettext("A broken repayment agreement sets your credit grade to "
                                "%(grade)s until %(until)s (inclusive). From %(next)s on, it "
                                "no longer sets your grade.", grade=v["grade"],
                                until=lang.date(until), next=lang.date(_next(until))))
    elif s.cause == "new_connection":
        out.extend(_new_connection(v, lang))
    elif s.cause == "rises_one_step":
        out.append(lang.gettext("Your previous grade was %(previous)s. A customer graded "
                                "%(previous)s rises at most one step at a time: your grade is "
                                "%(grade)s.", previous=v["previous_grade"], grade=v["grade"]))
    elif s.cause == "arrears":
        out.append(lang.gettext("You have %(amount)s of overdue charges and no repayment "
                                "agreement for them. While they stay unpaid the top grade is "
                                "out of reach: your grade is %(grade)s.",
                                amount=lang.money(v["amount"]), grade=v["grade"]))
    if v.get("band_grade") and v["band_grade"] != v["grade"]:
        out.append(lang.gettext("Your payment and usage record alone would give %(band)s.",
                                band=v["band_grade"]))
    return out


def _new_connection(v: Mapping[str, Any], lang: Language) -> list[str]:
    months = int(v["months"])
    age = (lang.gettext("less than a month ago") if months < 1 else
           lang.gettext("%(months)s ago", months=lang.duration(months, "months")))
    if "limit" not in v:
        return [lang.gettext("Your supply was connected %(age)s. A new connection is graded "
                             "at most %(grade)s.", age=age, grade=v["grade"])]
    limit = int(v["limit"])
    return [lang.gettext("Your supply was connected %(age)s. A connection younger than "
                         "%(limit)s is graded at most %(grade)s; this limit ends once your "
                         "connection is %(limit)s old, in %(remaining)s.", age=age,
                         limit=lang.duration(limit, "months"), grade=v["grade"],
                         remaining=lang.duration(max(limit - months, 1), "months"))]


def can_do(s: Decisive, lang: Language) -> list[str]:
    """What the customer can do about the override that set the grade."""
    v = s.values
    if s.cause == "theft":
        return [lang.gettext("If you believe the finding is wrong, ask for a human review "
                             "(below). Paying every bill on time keeps the rest of your record "
                             "clean for when the period ends.")]
    if s.cause == "broken_agreement":
        return [lang.gettext("Repay the arrears, or agree a new repayment plan with us and "
                             "keep to it. The grade %(grade)s still holds until %(until)s, but "
                             "what you repay counts at every review after that.",
                             grade=v["grade"], until=lang.date(v["until"]))]
    if s.cause == "new_connection":
        return [lang.gettext("Nothing is needed from you: the limit lifts by itself as the "
                             "connection ages, and bills paid on time count at every review.")]
    if s.cause == "rises_one_step":
        return [lang.gettext("Pay every bill on time: each review can raise the grade by one "
                             "more step.")]
    if s.cause == "arrears":
        return [lang.gettext("Repay the overdue charges, or agree a repayment plan with us.")]
    return []


def _ground(g: Ground, lang: Language) -> str:
    value = g.values["value"]
    name = g.field
    if name == "grade":
        return lang.gettext("your credit grade is %(grade)s", grade=value)
    if name == "habitual_defaulter":
        return lang.gettext("you are marked as a habitual defaulter")
    if name == "theft_incidents_36m":
        return lang.ngettext("a finding of electricity theft in the last 36 months",
                             "%(num)s findings of electricity theft in the last 36 months",
                             int(value), num=lang.count(int(value)))
    if name == "theft_override_active":
        return lang.gettext("the finding of electricity theft that sets your grade")
    if name == "regrade_active":
        return lang.gettext("the broken repayment agreement that sets your grade")
    if name == "overdue_amount":
        return lang.gettext("you have %(amount)s of overdue charges", amount=lang.money(value))
    if name == "max_days_overdue_12m":
        return lang.gettext("a bill was %(days)s overdue in the last 12 months",
                            days=lang.duration(int(value), "days"))
    if name == "overdue_bills_12m":
        return lang.ngettext("%(num)s overdue bill in the last 12 months",
                             "%(num)s overdue bills in the last 12 months", int(value),
                             num=lang.count(int(value)))
    if name == "rebate_earned":
        return lang.gettext("you repaid overdue charges within the rebate window")
    if name == "critical_load":
        return lang.gettext("your site supplies a critical load")
    return lang.gettext("%(field)s: %(value)s", field=label(lang, "field", name),
                        value=label(lang, "segment value", value))


def grounds(m: Measure, lang: Language) -> list[str]:
    return [_ground(g, lang) for g in m.grounds]


def why(m: Measure, lang: Language) -> str:
    """``Why: ...`` for a measure, from its grounds; empty when the rule tested nothing true."""
    found = grounds(m, lang)
    if not found:
        return ""
    return lang.gettext("Why: %(grounds)s.", grounds=lang.listing(found))


def marks(items: tuple[Mark, ...], lang: Language) -> list[str]:
    out = []
    for mark in items:
        if mark.from_events:
            out.append(lang.ngettext(
                "You are marked as a habitual defaulter because %(num)s bill fell overdue "
                "within 12 months. Unless another bill falls overdue, the mark ends after "
                "%(until)s.",
                "You are marked as a habitual defaulter because %(num)s bills fell overdue "
                "within 12 months. Unless another bill falls overdue, the mark ends after "
                "%(until)s.", int(mark.values["count"]), num=lang.count(mark.values["count"]),
                until=lang.date(mark.values["until"])))
        else:
            out.append(lang.gettext("Your record marks you as a habitual defaulter: bills "
                                    "fell overdue again and again."))
    return out


def pointer(n: LegalNotice, lang: Language) -> str:
    """The grade notice's line about a legal document sent separately."""
    if n.audience == "cut-warning":
        return lang.gettext("A separate written warning before supply is cut is sent to you; "
                            "it gives the earliest date of a cut.")
    return lang.gettext("A separate written notice of default liability is sent to you.")


def legal_document(n: LegalNotice, lang: Language, *, customer: str, reference: str,
                   contact: str, penalty: str | None, protected: str | None) -> list[str]:
    """The paragraphs of a legal document: the liability notice or the cut warning."""
    v = n.values
    amount = lang.money(v["amount"] or 0.0)
    issued = lang.date(v["issued"])
    out = [lang.gettext("Customer %(customer)s. Date of this warning: %(date)s.",
                        customer=customer, date=issued) if n.audience == "cut-warning" else
           lang.gettext("Customer %(customer)s. Date of this notice: %(date)s.",
                        customer=customer, date=issued)]
    if n.audience == "cut-warning":
        out.append(lang.gettext("Your electricity charges of %(amount)s are long overdue.",
                                amount=amount))
        days = (v["earliest_cut"] - v["issued"]).days
        cut = {"cut": lang.date(v["earliest_cut"]), "days": lang.duration(days, "days")}
        if v.get("call_hours"):
            out.append(lang.gettext("If they stay unpaid, your supply may be cut on %(cut)s at "
                                    "the earliest, %(days)s after this warning, and we call you "
                                    "%(call)s before the cut.",
                                    call=lang.duration(v["call_hours"], "hours"), **cut))
        else:
            out.append(lang.gettext("If they stay unpaid, your supply may be cut on %(cut)s at "
                                    "the earliest, %(days)s after this warning.", **cut))
    else:
        out.append(lang.gettext("Your electricity charges of %(amount)s are overdue.",
                                amount=amount))
        if penalty:
            out.append(penalty)
        out.append(protected or lang.gettext(
            "If the charges stay unpaid, supply may be cut, but only after a separate written "
            "warning that gives the earliest date of a cut."))
    out.append(lang.gettext("Pay the overdue charges, or contact %(contact)s to agree a "
                            "repayment plan, quoting reference %(reference)s.",
                            contact=contact, reference=reference))
    return out
