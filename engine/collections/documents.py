"""The documents of the steps that fall due: reminder, default liability notice, cut warning.

Each document speaks to the customer ("you"/"您") in zh-CN or en, with the dates
and amounts of the case on the step's own date: what the bill was, what is
still owed, the penalty accrued and its daily rate, the rebate a full payment
would still earn, the next step and its date, and for a cut warning the
earliest cut and the call before it. An important user's documents say that
the regulator is copied. Templates are ``engine/collections/templates/*.j2``
(``{% trans %}`` blocks: one catalogue, ``policies/locale``, serves them all).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from jinja2 import FileSystemLoader, StrictUndefined
from jinja2.sandbox import SandboxedEnvironment

from engine.collections.cases import Case, CustomerCollections
from engine.collections.schedule import ScheduledStep
from engine.language import Language, Languages

__all__ = ["DOCUMENTED", "Documents"]

TEMPLATES = Path(__file__).resolve().parent / "templates"
DOCUMENTED = ("reminder", "default_liability_notice", "supply_cut_warning")


class Documents:
    """Renders step documents in every language of a project."""

    def __init__(self, languages: Languages) -> None:
        self.languages = languages
        self._envs = {tag: self._environment(languages.get(tag)) for tag in languages.tags}

    @staticmethod
    def _environment(lang: Language) -> SandboxedEnvironment:
        env = SandboxedEnvironment(loader=FileSystemLoader(str(TEMPLATES)), autoescape=False,
                                   undefined=StrictUndefined, trim_blocks=True,
                                   lstrip_blocks=True)
        lang.install(env)
        env.filters["pct"] = lambda v, digits=2: lang.share(v, digits)
        return env

    def render(self, found: CustomerCollections, case: Case, step: ScheduledStep,
               params: Mapping[str, Mapping[str, Any]], lang: str | None = None) -> str | None:
        """The document of ``step`` (None for a step that has none)."""
        if step.action not in DOCUMENTED:
            return None
        tag = self.languages.get(lang).tag
        template = self._envs[tag].get_template(f"{step.action}.txt.j2")
        return template.render(**_context(found, case, step, params)).strip() + "\n"


def _context(found: CustomerCollections, case: Case, step: ScheduledStep,
             params: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    later = [s for s in case.steps if s.date > step.date and s.status in ("scheduled", "due")]
    order = next((s for s in case.steps if s.action == "supply_cut_order"), None)
    penalty = params["late_payment_penalty"]
    klass = found.profile.customer_class
    if klass == "residential":
        rate = penalty["daily_rate_residential"]
    elif step.date.year == (case.due + dt.timedelta(days=1)).year:
        rate = penalty["daily_rate_current_year"]
    else:
        rate = penalty["daily_rate_earlier_years"]
    rebate_terms = params["overdue_rebate"]
    by = case.due + dt.timedelta(days=int(rebate_terms["window_days"]))
    rebate = None
    if step.date <= by and case.penalty.amount > 0 and float(rebate_terms["rebate_share"]) > 0:
        rebate = {"by": by, "share": float(rebate_terms["rebate_share"]),
                  "cap": float(rebate_terms["cap_amount"])}
    return {"case": case.to_json() | {"due": case.due}, "as_of": step.date,
            "next": later[0].to_json() if later else None,
            "order": order.to_json() if order and order.status in ("scheduled", "due") else None,
            "order_gap": (order.date - step.date).days if order else 0,
            "rate": float(rate), "minimum": float(penalty["minimum_charge"]), "rebate": rebate,
            "copy": bool((step.extra or {}).get("copy_to"))}
