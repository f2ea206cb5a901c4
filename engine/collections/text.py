"""``collections show`` as text, in the customer's language (zh-CN or en).

Every line restates a field of the statement (``engine.collections.statement``):
the strategy and the decision it came from, each case with its amounts and
steps, the protections, the deposit, the statement of account and the
documents of the steps due that day. ``step_explanation`` says why one step of
the day's work list is what it is, for its logged decision
(``engine.collections.steps``).
"""

from __future__ import annotations

from engine.collections.cases import Case, CustomerCollections
from engine.collections.schedule import ScheduledStep
from engine.collections.statement import Statement
from engine.language import Language

__all__ = ["statement_text", "step_explanation"]


def _actions(lang: Language) -> dict[str, str]:
    return {"reminder": lang.gettext("reminder"),
            "account_manager_call": lang.gettext("account manager's call"),
            "default_liability_notice": lang.gettext("notice of default liability"),
            "on_site_collection": lang.gettext("on-site collection"),
            "supply_cut_warning": lang.gettext("warning before supply is cut"),
            "supply_cut_order": lang.gettext("order to cut supply"),
            "deposit_refund": lang.gettext("deposit refund"),
            "deposit_review": lang.gettext("yearly deposit review")}


def _statuses(lang: Language) -> dict[str, str]:
    return {"done": lang.gettext("done"), "due": lang.gettext("due"),
            "scheduled": lang.gettext("scheduled"), "blocked": lang.gettext("blocked"),
            "cancelled": lang.gettext("cancelled"), "paused": lang.gettext("paused")}


def _kinds(lang: Language) -> dict[str, str]:
    return {"bill": lang.gettext("bill"), "penalty": lang.gettext("late-payment penalty"),
            "repayment": lang.gettext("repayment"), "rebate": lang.gettext("rebate")}


def statement_text(statement: Statement, lang: Language) -> str:
    """The statement as lines of text in ``lang``."""
    found = statement.collections
    actions, statuses, kinds = _actions(lang), _statuses(lang), _kinds(lang)
    out = [lang.gettext("Customer %(customer)s on %(date)s: strategy %(strategy)s, from "
                        "decision %(decision)s.", customer=found.customer_id,
                        date=lang.date(found.as_of), strategy=found.strategy,
                        decision=found.profile.decision_id or "-")]
    for case in found.cases:
        out.append("")
        out.append(lang.gettext(
            "Bill %(bill)s of %(amount)s due on %(due)s: %(outstanding)s outstanding, penalty "
            "%(penalty)s over %(days)s days.", bill=case.bill_id, amount=lang.money(case.amount),
            due=lang.date(case.due), outstanding=lang.money(case.outstanding),
            penalty=lang.money(case.penalty.amount), days=case.penalty.days))
        if case.rebate:
            out.append(lang.gettext("Rebate for prompt repayment: %(amount)s.",
                                    amount=lang.money(case.rebate)))
        for s in case.steps:
            held = f" ({s.protection})" if s.protection else ""
            out.append(f"  {s.date.isoformat()}  {actions.get(s.action, s.action)}  "
                       f"{statuses[s.status]}{held}")
    for p in found.protections:
        out.append(lang.gettext("Protection %(kind)s from %(start)s until %(until)s.",
                                kind=p.kind, start=lang.date(p.start),
                                until=lang.date(p.until) if p.until else lang.gettext("ended")))
    deposit = found.deposit
    if deposit.required or deposit.paid:
        out.append(lang.gettext("Deposit: %(required)s asked by the grade, %(paid)s paid.",
                                required=lang.money(deposit.required),
                                paid=lang.money(deposit.paid)))
    if statement.lines:
        out += ["", lang.gettext("Statement of account:")]
        for line in statement.lines:
            out.append(f"  {line['date']}  {kinds[line['kind']]} {line['bill_id']}  "
                       f"{lang.money(line['amount'])}  {lang.money(line['balance'])}")
    for key, texts in statement.documents.items():
        out += ["", f"--- {key}", texts[lang.tag].rstrip()]
    return "\n".join(out)


def step_explanation(found: CustomerCollections, case: Case | None, step: ScheduledStep,
                     lang: Language) -> str:
    """Why ``step`` is on the work list of ``found.as_of``: what it is, for which bill and
    amounts, what holds it, and the decision its strategy came from."""
    action = _actions(lang).get(step.action, step.action)
    status = _statuses(lang)[step.status]
    profile = found.profile
    if case is None and step.action == "deposit_review":
        out = _review_text(step, action, status, lang)
    elif case is None:
        extra = step.extra or {}
        out = [lang.gettext("%(action)s of %(amount)s: %(status)s on %(date)s, after %(months)s "
                            "months without an overdue bill from %(since)s.", action=action,
                            amount=lang.money(extra.get("amount", 0.0)), status=status,
                            date=lang.date(step.date), months=extra.get("months", 12),
                            since=lang.date(extra.get("since")))]
    else:
        out = [lang.gettext("%(action)s for bill %(bill)s of %(amount)s due on %(due)s: "
                            "%(status)s on %(date)s, %(days)s days after the due date "
                            "(strategy %(strategy)s).", action=action, bill=case.bill_id,
                            amount=lang.money(case.amount), due=lang.date(case.due),
                            status=status, date=lang.date(step.date),
                            days=(step.date - case.due).days, strategy=found.strategy),
               lang.gettext("Still owed: %(outstanding)s; late-payment penalty %(penalty)s "
                            "over %(days)s days.", outstanding=lang.money(case.outstanding),
                            penalty=lang.money(case.penalty.amount), days=case.penalty.days)]
    held = next((p for p in found.protections if p.kind == step.protection), None)
    if step.status == "blocked" and held is not None:
        if held.until is None:
            out.append(lang.gettext("The %(kind)s protection holds it from %(start)s until "
                                    "the protection is ended.", kind=held.kind,
                                    start=lang.date(held.start)))
        else:
            out.append(lang.gettext("The %(kind)s protection holds it from %(start)s to "
                                    "%(until)s; it is allowed from %(date)s.", kind=held.kind,
                                    start=lang.date(held.start), until=lang.date(held.until),
                                    date=lang.date(step.date)))
    if (step.extra or {}).get("copy_to"):
        out.append(lang.gettext("The regulator is copied: the customer is an important user."))
    out.append(lang.gettext("The strategy follows decision %(decision)s: grade %(grade)s, "
                            "class %(klass)s.", decision=profile.decision_id or "-",
                            grade=profile.grade, klass=lang.gettext(profile.customer_class)))
    return " ".join(out) if lang.tag == "en" else "".join(out)


def _review_text(step: ScheduledStep, action: str, status: str, lang: Language) -> list[str]:
    extra = step.extra or {}
    out = [lang.gettext("%(action)s on %(date)s (%(status)s): %(held)s held; the grade asks at "
                        "most %(required)s, %(months)s months of the average bill of "
                        "%(average)s.", action=action, date=lang.date(step.date),
                        status=status, held=lang.money(extra["held"]),
                        required=lang.money(extra["required"]),
                        months=lang.number(extra["months"], 1),
                        average=lang.money(extra["average"]))]
    amount = lang.money(extra["amount"])
    if extra["change"] < 0:
        out.append(lang.gettext("%(amount)s is returned to the customer.", amount=amount))
    elif extra["change"] > 0:
        out.append(lang.gettext("The customer is asked for %(amount)s more.", amount=amount))
    else:
        out.append(lang.gettext("The deposit stays as it is."))
    return out
