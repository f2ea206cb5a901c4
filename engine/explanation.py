"""Plain-language explanations of a decision, for auditors and customers' account staff.

Templates live under ``policies/templates/`` next to the catalogue that policy
staff own: ``decision.<fmt>.j2`` lays out the whole explanation and each
policy has a fragment ``<policy_id>.md.j2`` that says what the policy means
with its parameters. Rendering runs in Jinja2's sandbox; HTML is autoescaped,
so nothing in a record or a rule file can inject markup.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from jinja2 import FileSystemLoader, StrictUndefined, TemplateError, TemplateSyntaxError
from jinja2.sandbox import SandboxedEnvironment

from engine.decision import Decision
from engine.errors import ConfigError, InputError

__all__ = ["FORMATS", "Explainer", "template_position"]

FORMATS = ("text", "md", "html")
_SUFFIX = {"text": "txt", "md": "md", "html": "html"}


class Explainer:
    """Renders decisions with the templates of one ``policies/templates`` folder."""

    def __init__(self, templates_dir: str | Path, titles: dict[str, str] | None = None,
                 combines: dict[str, dict[str, str]] | None = None) -> None:
        self.templates_dir = Path(templates_dir)
        if not self.templates_dir.is_dir():
            raise ConfigError("template folder not found", file=str(self.templates_dir))
        self.titles = titles or {}
        self.combines = combines or {}
        self._envs = {fmt: self._environment(fmt == "html") for fmt in FORMATS}

    def _environment(self, html: bool) -> SandboxedEnvironment:
        env = SandboxedEnvironment(
            loader=FileSystemLoader(str(self.templates_dir)),
            autoescape=html,
            undefined=StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
            keep_trailing_newline=True,
        )
        env.filters["pct"] = lambda v, digits=2: f"{float(v) * 100:.{digits}f} %"
        env.filters["num"] = _number
        return env

    def environment(self, fmt: str) -> SandboxedEnvironment:
        """The sandboxed Jinja2 environment used for ``fmt`` (for checks that compile)."""
        return self._envs[fmt]

    def policy_text(self, policy_id: str, params: dict[str, Any], rule: Any = None) -> str:
        """The plain-language fragment of one policy with its parameters."""
        name = f"{policy_id}.md.j2"
        try:
            template = self._envs["text"].get_template(name)
            return template.render(params=params, rule=rule, policy_id=policy_id).strip()
        except TemplateError as exc:
            file, line = template_position(exc, self.templates_dir / name)
            raise ConfigError(f"template for policy '{policy_id}' failed: {exc}",
                              file=file, line=line) from None

    def render(self, decision: Decision, fmt: str = "text") -> str:
        """Render a decision as text, md or html."""
        if fmt not in FORMATS:
            raise InputError(f"unknown format '{fmt}': use one of {', '.join(FORMATS)}")
        policies = [
            {
                "outcome": p,
                "title": self.titles.get(p.policy_id, p.policy_id.replace("_", " ")),
                "text": self.policy_text(p.policy_id, p.params, p),
                "combined": self._combined(p),
            }
            for p in decision.policies
        ]
        name = f"decision.{_SUFFIX[fmt]}.j2"
        try:
            template = self._envs[fmt].get_template(name)
            return template.render(d=decision, policies=policies, reasons=decision.score.reasons)
        except TemplateError as exc:
            file, line = template_position(exc, self.templates_dir / name)
            raise ConfigError(f"explanation template failed: {exc}", file=file,
                              line=line) from None


    def _combined(self, outcome: Any) -> dict[str, str]:
        """How each param that the granting rules set differently was combined."""
        if not outcome.grants:
            return {}
        declared = self.combines.get(outcome.policy_id, {})
        names = dict.fromkeys(n for g in outcome.grants for n in g.params)
        return {n: declared.get(n) or "first" for n in names
                if len({repr(g.params.get(n)) for g in outcome.grants}) > 1}


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


def _number(value: Any, digits: int = 2) -> str:
    if isinstance(value, bool) or value is None:
        return {True: "yes", False: "no", None: "absent"}[value]
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:,.{digits}f}".rstrip("0").rstrip(".") if value % 1 else f"{value:,.0f}"
    return str(value)
