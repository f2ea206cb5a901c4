"""Plain-language explanations of a decision, for auditors and for the customer.

Two audiences, each in every supported language and in text, markdown and HTML:

- ``auditor``: the grade and the rule that set it, the principal reasons, each
  segment with the rule that set it, each policy with the rule behind it
  (``file:line``), the payment events that fed the decision, and the versions
  and hashes of the tables and the model (``decision.<fmt>.j2``);
- ``customer``: a notice with the grade, the principal reasons, the services
  and measures that follow, what the customer can do to improve the grade and
  how to ask for a human review; it never shows an internal rule id, file or
  hash (``notice.<fmt>.j2``).

Templates live under ``policies/templates/`` next to the catalogue that policy
staff own: one layout per audience and format, and one fragment
``<policy_id>.md.j2`` per policy that says what the policy means with its
parameters. Their sentences are gettext messages (Jinja2's i18n extension,
``{% trans %}``), translated in ``policies/locale`` (``engine.language``).
This module turns a decision into words, numbers with units and
currency (``engine.reasons``, ``engine.vocabulary``) and hands them to the
templates. Rendering runs in Jinja2's sandbox; HTML is autoescaped, so
nothing in a record, a rule file or a translation can inject markup.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from jinja2 import FileSystemLoader, StrictUndefined, TemplateError, TemplateSyntaxError
from jinja2.sandbox import SandboxedEnvironment
from markupsafe import Markup

from engine import notices
from engine.decision import Decision, RuleFired
from engine.errors import ConfigError, InputError, LanguageError
from engine.language import Language, Languages, load_languages
from engine.policies import Catalogue, ParamSpec
from engine.reasons import improvements, principal_reasons, reason_policy
from engine.statements import LEGAL_NOTICES, Statements, build, last_day
from engine.vocabulary import label

__all__ = ["AUDIENCES", "FORMATS", "Explainer", "parse_audience", "template_position"]

FORMATS = ("text", "md", "html")
AUDIENCES = ("auditor", "customer", *LEGAL_NOTICES)
# Categories of policies that serve the customer; every other policy (a measure, a price,
# an incentive) says why it applies.
_SERVICES = frozenset({"service", "outage"})
_SUFFIX = {"text": "txt", "md": "md", "html": "html"}
_LAYOUT = {"auditor": "decision", "customer": "notice", **dict.fromkeys(LEGAL_NOTICES, "legal")}
# How a sentence marks a value in each format, so one message serves all three:
# ``strong`` stresses it, ``ident`` is a rule or decision id, ``path`` a file:line or hash.
_MARKS: dict[str, dict[str, Any]] = {
    "text": {"strong": str, "ident": lambda v: f"'{v}'", "path": str, "grade": str},
    "md": {"strong": lambda v: f"**{v}**", "ident": lambda v: f"`{v}`",
           "path": lambda v: f"`{v}`", "grade": str},
    "html": {"strong": lambda v: Markup("<strong>%s</strong>") % v,
             "ident": lambda v: Markup("<code>%s</code>") % v,
             "path": lambda v: Markup("<code>%s</code>") % v,
             "grade": lambda v: Markup('<span class="grade">%s</span>') % v},
}


def parse_audience(value: str | None) -> str:
    """``auditor`` (the default) or ``customer``; any other value is refused with the choices."""
    if value is None or not str(value).strip():
        return "auditor"
    wanted = str(value).strip().lower()
    if wanted not in AUDIENCES:
        raise LanguageError(str(value), AUDIENCES, what="audience")
    return wanted


class Explainer:
    """Renders decisions with the templates of one ``policies/templates`` folder."""

    def __init__(self, templates_dir: str | Path, catalogue: Catalogue | None = None,
                 languages: Languages | None = None, *, review_contact: str = "95598",
                 tables: Any = None) -> None:
        self.templates_dir = Path(templates_dir)
        if not self.templates_dir.is_dir():
            raise ConfigError("template folder not found", file=str(self.templates_dir))
        self.catalogue = catalogue
        self.tables = tables
        self.reason_policy = reason_policy(
            catalogue.explanations if catalogue is not None else None,
            catalogue.file if catalogue is not None else "policies/catalogue.yaml")
        self.languages = languages or load_languages(self.templates_dir.parent / "locale")
        self.review_contact = review_contact
        self._envs = {(tag, fmt): self._environment(self.languages.get(tag), fmt)
                      for tag in self.languages.tags for fmt in FORMATS}

    def _environment(self, lang: Language, fmt: str) -> SandboxedEnvironment:
        env = SandboxedEnvironment(
            loader=FileSystemLoader(str(self.templates_dir)),
            autoescape=fmt == "html",
            undefined=StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
            keep_trailing_newline=True,
        )
        lang.install(env)
        env.filters.update(
            pct=lambda v, digits=2: lang.share(v, digits),
            num=lambda v, digits=2: _number(lang, v, digits),
            word=lambda code, kind: label(lang, kind, code),
            **_MARKS[fmt],
        )
        return env

    def environment(self, fmt: str, lang: str | None = None) -> SandboxedEnvironment:
        """The sandboxed Jinja2 environment used for ``fmt`` (for checks that compile)."""
        return self._envs[(self.language(lang).tag, fmt)]

    def language(self, lang: str | None = None) -> Language:
        return self.languages.get(lang)

    def policy_text(self, policy_id: str, params: Mapping[str, Any], rule: Any = None, *,
                    lang: str | None = None) -> str:
        """The plain-language fragment of one policy with its parameters."""
        tag = self.language(lang).tag
        name = f"{policy_id}.md.j2"
        try:
            template = self._envs[(tag, "text")].get_template(name)
            return template.render(params=dict(params), policy_id=policy_id).strip()
        except TemplateError as exc:
            file, line = template_position(exc, self.templates_dir / name)
            raise ConfigError(f"template for policy '{policy_id}' failed: {exc}",
                              file=file, line=line) from None

    def statements(self, decision: Decision, tables: Any = None) -> Statements:
        """The typed statements of a decision (``engine.statements``), read with the rules of
        ``tables`` (else the explainer's own) for the grounds of each measure."""
        categories = ({p.id: p.category for p in self.catalogue}
                      if self.catalogue is not None else {})
        return build(decision, tables if tables is not None else self.tables, categories)

    def render(self, decision: Decision, fmt: str = "text", *, lang: str | None = None,
               audience: str | None = None, tables: Any = None) -> str:
        """Render a decision as text, md or html, for the auditor or the customer, or one of
        the legal documents it calls for (``liability-notice``, ``cut-warning``)."""
        if fmt not in FORMATS:
            raise InputError(f"unknown format '{fmt}': use one of {', '.join(FORMATS)}")
        language = self.language(lang)
        audience = parse_audience(audience)
        name = f"{_LAYOUT[audience]}.{_SUFFIX[fmt]}.j2"
        context = self.context(decision, language, audience, self.statements(decision, tables))
        try:
            return self._envs[(language.tag, fmt)].get_template(name).render(**context)
        except TemplateError as exc:
            file, line = template_position(exc, self.templates_dir / name)
            raise ConfigError(f"explanation template failed: {exc}",
                              file=file, line=line) from None

    # ---------------------------------------------------------------- the words

    def context(self, decision: Decision, lang: Language, audience: str,
                statements: Statements | None = None) -> dict[str, Any]:
        """What the templates see: the decision and its statements already put into words."""
        statements = statements or self.statements(decision)
        context: dict[str, Any] = {
            "d": decision,
            "lang": lang.tag,
            "customer_class": label(lang, "customer class", decision.customer_class),
            "as_of": lang.date(decision.as_of),
            "colon": lang.colon, "gap": lang.gap,
            "policies": [self._policy(p, lang) for p in decision.policies],
        }
        if audience in LEGAL_NOTICES:
            return {**context, **self._legal(decision, lang, audience, statements)}
        if audience == "customer":
            return {**context, **self._notice(decision, lang, statements)}
        context["reasons"] = principal_reasons(decision, lang,
                                               min_share=self.reason_policy.min_share)
        grade = decision.grade
        context.update(
            grade_description=lang.text(grade.description),
            grade_source=lang.text(grade.source),
            segments=_segments(decision, lang),
            events=[_event(e, lang) for e in decision.events],
        )
        return context

    def _notice(self, decision: Decision, lang: Language, st: Statements) -> dict[str, Any]:
        """The customer notice: the decisive statement first, then the PD's reasons, each
        measure with why it applies, the marks, the legal documents sent separately."""
        policy = self.reason_policy
        reasons = principal_reasons(decision, lang, min_share=policy.min_share,
                                    service_gap=policy.service_gap)
        rebate = (self.catalogue.policies.get("overdue_rebate")
                  if self.catalogue is not None else None)
        legal = {n.policy_id: notices.pointer(n, lang) for n in st.notices}
        measures = []
        for m, p in zip(st.measures, decision.policies, strict=True):
            entry = self._policy(p, lang)
            entry["text"] = legal.get(p.policy_id, entry["text"])
            entry["why"] = notices.why(m, lang) if m.category not in _SERVICES else ""
            measures.append(entry)
        return {
            "decisive": {"cause": st.decisive.cause, "override": st.decisive.cause != "band",
                         "lead": notices.lead(st.decisive, lang),
                         "can_do": notices.can_do(st.decisive, lang)},
            "reasons": reasons,
            "policies": measures,
            "marks": notices.marks(st.marks, lang),
            # While a dated override holds the grade, nothing in the record can improve it
            # before the end date: what the customer can do is the override's own advice.
            "improvements": [] if st.decisive.values.get("until") else improvements(
                decision, lang, reasons, rebate.defaults() if rebate is not None else None),
            "review": {"contact": self.review_contact, "reference": decision.decision_id},
        }

    def _legal(self, decision: Decision, lang: Language, audience: str,
               st: Statements) -> dict[str, Any]:
        notice = st.notice(audience)
        if notice is None:
            raise InputError(f"decision {decision.decision_id} carries no "
                             f"{LEGAL_NOTICES[audience]}, so there is no {audience} to render: "
                             "use --audience customer or auditor")
        by_id = {p.policy_id: p for p in decision.policies}
        penalty = by_id.get("late_payment_penalty")
        protected = by_id.get("protected_supply")
        title = (self.catalogue.policies[notice.policy_id].title
                 if self.catalogue is not None and notice.policy_id in self.catalogue
                 else notice.policy_id)
        return {"title": lang.text(title), "paragraphs": notices.legal_document(
            notice, lang, customer=decision.customer_id, reference=decision.decision_id,
            contact=self.review_contact,
            penalty=None if penalty is None else self.policy_text(
                penalty.policy_id, penalty.params, lang=lang.tag),
            protected=None if protected is None else self.policy_text(
                protected.policy_id, protected.params, lang=lang.tag))}

    def _policy(self, outcome: Any, lang: Language) -> dict[str, Any]:
        policy = (self.catalogue.policies.get(outcome.policy_id)
                  if self.catalogue is not None else None)
        title = policy.title if policy else outcome.policy_id.replace("_", " ")
        specs = policy.params if policy else {}
        return {
            "outcome": outcome,
            "title": lang.text(title),
            "text": self.policy_text(outcome.policy_id, outcome.params, lang=lang.tag),
            "description": lang.text(outcome.description),
            "source": lang.text(outcome.source),
            "params": [{"name": k, "value": param_value(lang, specs.get(k), v)}
                       for k, v in sorted(outcome.params.items())],
            "grants": [{"outcome": g, "params": [
                {"name": k, "value": param_value(lang, specs.get(k), v)}
                for k, v in sorted(g.params.items())]} for g in outcome.grants],
            "combined": {name: label(lang, "combination", how)
                         for name, how in self._combined(outcome).items()},
        }

    def _combined(self, outcome: Any) -> dict[str, str]:
        """How each param that the granting rules set differently was combined."""
        if not outcome.grants:
            return {}
        declared = (self.catalogue.combinations().get(outcome.policy_id, {})
                    if self.catalogue is not None else {})
        names = dict.fromkeys(n for g in outcome.grants for n in g.params)
        return {n: declared.get(n) or "first" for n in names
                if len({repr(g.params.get(n)) for g in outcome.grants}) > 1}


def param_value(lang: Language, spec: ParamSpec | None, value: Any) -> str:
    """A policy parameter in words: its unit decides how the number reads."""
    if isinstance(value, bool):
        return lang.yesno(value)
    unit = spec.unit if spec is not None else ""
    if isinstance(value, str):
        return label(lang, "channel", value)
    if not isinstance(value, int | float):
        return str(value)
    if unit in ("days", "hours", "months"):
        return lang.duration(value, unit)
    if unit == "currency":
        return lang.money(value)
    if unit == "share per day":
        return lang.gettext("%(share)s a day", share=lang.share(value, 2))
    if unit.startswith("share"):
        return lang.share(value, 1)
    if unit == "visits/year":
        return lang.ngettext("%(num)s visit a year", "%(num)s visits a year", int(value),
                             num=lang.count(int(value)))
    return _number(lang, value, 4)


def _segments(decision: Decision, lang: Language) -> list[dict[str, Any]]:
    """Each segment with its word, its value's word and the rule that set it."""
    setters: dict[str, RuleFired] = {}
    for hit in decision.trace:
        for name in hit.sets:
            setters[name] = hit
    return [{"field": name, "name": label(lang, "segment", name), "code": value,
             "value": label(lang, "segment value", value), "rule": setters.get(name),
             "description": lang.text(setters[name].description) if name in setters else ""}
            for name, value in sorted(decision.segments.items())]


def _event(event: Any, lang: Language) -> dict[str, Any]:
    return {"outcome": event, "kind": label(lang, "event", event.kind),
            "amount": None if event.amount is None else lang.money(event.amount),
            "valid_from": lang.date(event.valid_from),
            "valid_until": lang.date(last_day(event.valid_until)),
            "reason": lang.text(event.reason)}


def template_position(exc: BaseException, default: Path) -> tuple[str, int | None]:
    """The template file and line an error was raised at.

    Syntax errors carry them; errors while rendering (an undefined name under
    StrictUndefined) are found in the traceback, where Jinja2 maps each frame
    of compiled template code back to its template's file and line.
    """
    if isinstance(exc, TemplateSyntaxError):
        return exc.filename or str(default), exc.lineno
    tb = exc.__traceback__
    found: tuple[str, int | None] = (str(default), None)
    while tb is not None:
        name = tb.tb_frame.f_code.co_filename
        if name.endswith(".j2"):
            found = (name, tb.tb_lineno)
        tb = tb.tb_next
    return found


def _number(lang: Language, value: Any, digits: int = 2) -> str:
    if isinstance(value, bool) or value is None:
        return lang.gettext("absent") if value is None else lang.yesno(value)
    if isinstance(value, int | float):
        return lang.number(value, digits)
    return str(value)
