"""``collections show`` as text, in the customer's language (zh-CN or en).

Every line restates a field of the statement (``engine.collections.statement``):
the strategy and the decision it came from, each case with its amounts and
steps, the protections, the deposit, the statement of account and the
documents of the steps due that day.
"""

from __future__ import annotations

from engine.collections.statement import Statement
from engine.language import Language

__all__ = ["statement_text"]


def _actions(lang: Language) -> dict[str, str]:
    return {"reminder": lang.gettext("reminder"),
            "account_manager_call": lang.gettext("account manager's call"),
            "default_liability_notice": lang.gettext("notice of default liability"),
            "on_site_collection": lang.gettext("on-site collection"),
            "supply_cut_warning": lang.gettext("warning before supply is cut"),
            "supply_cut_order": lang.gettext("order to cut supply"),
            "deposit_refund": lang.gettext("deposit refund")}


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
