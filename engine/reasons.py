"""Principal reasons in plain words, and what a customer can do about each.

A decision's reason codes are the indicators whose contribution to the
discriminant score was adverse, largest first (``engine.scoring.model``). Both
audiences read them here as what in the customer's record raised the risk, in
words and units ("3 overdue bills in the last 12 months", "meter not
calibrated on schedule"): at most four, ranked, each an indicator the model
actually scored. Nothing here mentions the score's internal scale.

Each phrase reads the customer's own record (``Decision.inputs``) where the
indicator is derived from it, so a consumption indicator reads as kWh a month
rather than as its logarithm, and yes/no indicators read the right way round:
``calibration_on_schedule`` false reads "meter not calibrated on schedule".
Every phrase is a gettext message, translated in ``policies/locale``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from engine.decision import Decision
from engine.errors import ConfigError
from engine.language import Language
from engine.vocabulary import label

__all__ = ["MAX_REASONS", "MIN_SHARE", "PHRASES", "PlainReason", "ReasonPolicy", "improvements",
           "principal_reasons", "reason_policy"]

MAX_REASONS = 4
#: The least share of the adverse weight a principal reason carries (catalogue default).
MIN_SHARE = 0.10


@dataclass(frozen=True)
class PlainReason:
    """One principal reason: rank, the indicator it comes from, its group and its words."""

    rank: int
    indicator: str
    group: str
    text: str
    share: float


@dataclass(frozen=True)
class ReasonPolicy:
    """Which reasons a customer reads: the catalogue's ``explanations:`` section.

    ``min_share``: the least share of the adverse weight a reason carries;
    ``service_gap``: whether a gap between the service expected and the service
    received may be a reason a customer reads (a policy choice: it is a fact
    about our service as much as about the customer).
    """

    min_share: float = MIN_SHARE
    service_gap: bool = False


def reason_policy(section: Mapping[str, Any] | None, file: str = "policies/catalogue.yaml"
                  ) -> ReasonPolicy:
    """The catalogue's ``explanations:`` section, checked; defaults where it is silent."""
    section = section or {}
    line = getattr(section, "line_of", lambda _k: None)
    for key in section:
        if key not in ("min_reason_share", "service_gap_is_customer_reason"):
            raise ConfigError(f"explanations: unknown key '{key}' (expected min_reason_share, "
                              "service_gap_is_customer_reason)", file=file, line=line(key))
    share = section.get("min_reason_share", MIN_SHARE)
    if isinstance(share, bool) or not isinstance(share, int | float) or not 0 <= share < 1:
        raise ConfigError(f"explanations: min_reason_share = {share!r} must be a share from 0 "
                          "up to (not including) 1, e.g. 0.1", file=file,
                          line=line("min_reason_share"))
    gap = section.get("service_gap_is_customer_reason", False)
    if not isinstance(gap, bool):
        raise ConfigError(f"explanations: service_gap_is_customer_reason = {gap!r} must be "
                          "true or false", file=file, line=line("service_gap_is_customer_reason"))
    return ReasonPolicy(min_share=float(share), service_gap=gap)


Phrase = Callable[[Language, Any, Mapping[str, Any]], str]


def _int(value: Any) -> int:
    return int(round(float(value or 0)))


def _flag(value: Any) -> bool:
    return bool(value) and str(value).lower() not in ("0", "false", "no")


def _overdue_bills(lang: Language, value: Any, rec: Mapping[str, Any]) -> str:
    n = _int(rec.get("overdue_bills_12m", value))
    return lang.ngettext("%(num)s overdue bill in the last 12 months",
                         "%(num)s overdue bills in the last 12 months", n, num=lang.count(n))


def _max_days(lang: Language, value: Any, rec: Mapping[str, Any]) -> str:
    days = _int(rec.get("max_days_overdue_12m", value))
    return lang.gettext("a bill paid %(days)s late in the last 12 months",
                        days=lang.duration(days, "days"))


def _overdue_to_bill(lang: Language, value: Any, rec: Mapping[str, Any]) -> str:
    # The indicator divides by a nominal bill; the record holds no bill of its own, so the
    # words give the record's own amount and no "months of bills".
    amount = float(rec.get("overdue_amount") or 0.0)
    return lang.gettext("%(amount)s of overdue charges still unpaid", amount=lang.money(amount))


def _repayment_agreement(lang: Language, value: Any, rec: Mapping[str, Any]) -> str:
    if _flag(rec.get("has_repayment_agreement", value)):
        return lang.gettext("arrears are being repaid under a repayment agreement")
    return lang.gettext("no repayment agreement for arrears")


def _theft(lang: Language, value: Any, rec: Mapping[str, Any]) -> str:
    n = _int(rec.get("theft_incidents_36m", value))
    return lang.ngettext("%(num)s confirmed electricity-theft finding in the last 36 months",
                         "%(num)s confirmed electricity-theft findings in the last 36 months",
                         n, num=lang.count(n))


def _calibration(lang: Language, value: Any, rec: Mapping[str, Any]) -> str:
    if _flag(rec.get("calibration_on_schedule", value)):
        return lang.gettext("meter calibrated on schedule")
    return lang.gettext("meter not calibrated on schedule")


def _reactive(lang: Language, value: Any, rec: Mapping[str, Any]) -> str:
    if _flag(rec.get("has_reactive_compensation", value)):
        return lang.gettext("reactive power compensation installed")
    return lang.gettext("no reactive power compensation installed")


def _grid_accidents(lang: Language, value: Any, rec: Mapping[str, Any]) -> str:
    n = _int(rec.get("grid_accidents_36m", value))
    return lang.ngettext(
        "%(num)s equipment fault that disturbed the grid in the last 36 months",
        "%(num)s equipment faults that disturbed the grid in the last 36 months",
        n, num=lang.count(n))


def _social_credit(lang: Language, value: Any, rec: Mapping[str, Any]) -> str:
    rating = str(rec.get("social_credit_rating", value) or "unrated")
    if rating == "unrated":
        return lang.gettext("no public credit rating")
    return lang.gettext("public credit rating %(rating)s (A is best, D worst)", rating=rating)


def _asset_liability(lang: Language, value: Any, rec: Mapping[str, Any]) -> str:
    return lang.gettext("liabilities of %(share)s of total assets",
                        share=lang.share(float(value or 0)))


def _current_ratio(lang: Language, value: Any, rec: Mapping[str, Any]) -> str:
    return lang.gettext("current assets %(ratio)s times current liabilities",
                        ratio=lang.number(float(value or 0)))


def _return_on_assets(lang: Language, value: Any, rec: Mapping[str, Any]) -> str:
    return lang.gettext("return on net assets of %(share)s", share=lang.share(float(value or 0)))


def _loan_repayment(lang: Language, value: Any, rec: Mapping[str, Any]) -> str:
    return lang.gettext("%(share)s of bank loan instalments repaid on schedule",
                        share=lang.share(float(value or 0)))


def _capacity(lang: Language, value: Any, rec: Mapping[str, Any]) -> str:
    return lang.gettext("%(share)s of the contracted capacity used",
                        share=lang.share(float(value or 0)))


def _consumption(lang: Language, value: Any, rec: Mapping[str, Any]) -> str:
    return lang.gettext("average consumption of %(kwh)s kWh a month",
                        kwh=lang.number(float(rec.get("monthly_kwh") or 0), 0))


def _months_connected(lang: Language, value: Any, rec: Mapping[str, Any]) -> str:
    months = _int(rec.get("months_connected", value))
    if months < 1:
        return lang.gettext("connected less than a month ago")
    return lang.gettext("connected for %(months)s", months=lang.duration(months, "months"))


def _service_gap(lang: Language, value: Any, rec: Mapping[str, Any]) -> str:
    gap = float(value or 0)
    return lang.gettext("service rated %(points)s points below what was expected (scale 1 to 5)",
                        points=lang.number(gap, 1))


PHRASES: Mapping[str, Phrase] = {
    "overdue_bills": _overdue_bills,
    "max_days_overdue": _max_days,
    "overdue_to_bill": _overdue_to_bill,
    "repayment_agreement": _repayment_agreement,
    "theft_incidents": _theft,
    "calibration_on_schedule": _calibration,
    "reactive_compensation": _reactive,
    "grid_accidents": _grid_accidents,
    "social_credit_rating": _social_credit,
    "asset_liability_ratio": _asset_liability,
    "current_ratio": _current_ratio,
    "return_on_net_assets": _return_on_assets,
    "loan_repayment_rate": _loan_repayment,
    "capacity_utilisation": _capacity,
    "log_consumption": _consumption,
    "months_connected": _months_connected,
    "service_quality_gap": _service_gap,
}


def principal_reasons(decision: Decision, lang: Language, limit: int = MAX_REASONS, *,
                      min_share: float = MIN_SHARE, service_gap: bool = True
                      ) -> list[PlainReason]:
    """The reasons that matter, largest first: at most ``limit`` (four), each adverse and
    carrying at least ``min_share`` of the adverse weight the decision records.

    The decision keeps the four most adverse contributions; a reason's share
    is its part of their sum. ``service_gap`` false leaves out a gap between
    expected and perceived service (the catalogue's ``explanations`` say
    whether it may be a reason a customer reads).
    """
    adverse = sorted((r for r in decision.score.reasons if r.contribution > 0),
                     key=lambda r: -r.contribution)
    total = sum(r.contribution for r in adverse) or 1.0
    kept = [r for r in adverse if r.contribution / total >= min_share
            and (service_gap or r.indicator != "service_quality_gap")]
    out = []
    for rank, r in enumerate(kept[:min(limit, MAX_REASONS)], start=1):
        phrase = PHRASES.get(r.indicator)
        text = (phrase(lang, r.value, decision.inputs) if phrase
                else lang.text(r.description))
        out.append(PlainReason(rank=rank, indicator=r.indicator,
                               group=label(lang, "risk group", r.group),
                               text=text, share=r.contribution / total))
    return out


_PAYMENT = frozenset({"overdue_bills", "max_days_overdue", "overdue_to_bill",
                      "repayment_agreement"})


def improvements(decision: Decision, lang: Language, reasons: list[PlainReason],
                 rebate_terms: Mapping[str, Any] | None = None) -> list[str]:
    """What the customer can do about the reasons that weigh on the grade.

    A customer with overdue charges is shown the overdue-rebate path with the
    terms of the ``overdue_rebate`` policy: the params the decision grants,
    else ``rebate_terms`` (the catalogue's defaults, the terms the event
    processor applies). Nothing here is about our service: a gap between the
    service expected and received is ours to close, never the customer's way
    to a better grade.
    """
    indicators = {r.indicator for r in reasons}
    rec = decision.inputs
    tips: list[str] = []
    if float(rec.get("overdue_amount") or 0) > 0:
        granted = next((p.params for p in decision.policies if p.policy_id == "overdue_rebate"),
                       None)
        terms = granted if granted is not None else rebate_terms
        if terms:
            tips.append(lang.gettext(
                "Repay the overdue charges within %(days)s of the due date: %(share)s of the "
                "late-payment penalty is then returned to you (up to %(cap)s), and the repayment "
                "counts in your favour at the next review.",
                days=lang.duration(int(terms["window_days"]), "days"),
                share=lang.share(float(terms["rebate_share"]), 0),
                cap=lang.money(float(terms["cap_amount"]))))
        else:
            tips.append(lang.gettext("Repay the overdue charges: unpaid arrears keep the grade "
                                     "down and add a late-payment penalty every day."))
    if indicators & _PAYMENT:
        tips.append(lang.gettext("Pay every bill by its due date: each month paid on time counts "
                                 "at the next review, and a year without overdue bills clears "
                                 "the record of late payment."))
    if "calibration_on_schedule" in indicators:
        tips.append(lang.gettext("Have the meter and protection equipment calibrated on "
                                 "schedule, and keep the certificate."))
    if "reactive_compensation" in indicators:
        tips.append(lang.gettext("Install reactive power compensation; the account manager can "
                                 "advise on sizing."))
    if "grid_accidents" in indicators:
        tips.append(lang.gettext("Maintain your electrical equipment so that faults do not "
                                 "disturb the grid."))
    return tips
