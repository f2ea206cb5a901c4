"""Where the engine finds the knowledge it runs on: tables, catalogue, templates, models.

All paths hang off one project root, so an installation can point the engine
at a reviewed copy of the rule and model folders with a single setting
(``--home`` on the CLI, ``GRIDCREDIT_HOME`` in the environment).

``executor`` names the per-decision table executor: ``compiled`` (the
default) or ``durable`` (durable-rules, the reference), also set with
``GRIDCREDIT_EXECUTOR``, ``--executor`` on ``gridcredit decide`` and
``executor:`` in the service settings.

The project's default language (``GRIDCREDIT_LANG``: en or zh-CN), the
currency amounts are written in (``GRIDCREDIT_CURRENCY``, an ISO 4217 code,
CNY by default) and where a customer asks for a human review
(``GRIDCREDIT_REVIEW_CONTACT``) are settings of the same object; each call
may still choose its own language.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from engine.errors import ConfigError

__all__ = ["EngineConfig", "default_home"]


def default_home() -> Path:
    """``GRIDCREDIT_HOME``, else the checkout the package lives in, else the working folder."""
    env = os.environ.get("GRIDCREDIT_HOME")
    if env:
        return Path(env)
    checkout = Path(__file__).resolve().parent.parent
    if (checkout / "rules").is_dir() and (checkout / "models").is_dir():
        return checkout
    return Path.cwd()


@dataclass(frozen=True)
class EngineConfig:
    """The folders an engine loads from; each may be overridden on its own."""

    home: Path
    rules_dir: Path
    models_dir: Path
    catalogue: Path
    templates_dir: Path
    executor: str = "compiled"
    locale_dir: Path = Path("policies/locale")
    language: str = "en"
    currency: str = "CNY"
    review_contact: str = "95598"

    @classmethod
    def at(
        cls,
        home: str | Path | None = None,
        *,
        rules_dir: str | Path | None = None,
        models_dir: str | Path | None = None,
        executor: str | None = None,
        language: str | None = None,
        currency: str | None = None,
    ) -> EngineConfig:
        from engine.language import parse_language
        from engine.tables.tableset import check_executor

        root = Path(home) if home is not None else default_home()
        config = cls(
            home=root,
            rules_dir=Path(rules_dir) if rules_dir is not None else root / "rules",
            models_dir=Path(models_dir) if models_dir is not None else root / "models",
            catalogue=root / "policies" / "catalogue.yaml",
            templates_dir=root / "policies" / "templates",
            executor=check_executor(executor or os.environ.get("GRIDCREDIT_EXECUTOR")
                                    or "compiled"),
            locale_dir=root / "policies" / "locale",
            language=parse_language(language or os.environ.get("GRIDCREDIT_LANG") or "en"),
            currency=(currency or os.environ.get("GRIDCREDIT_CURRENCY") or "CNY").upper(),
            review_contact=os.environ.get("GRIDCREDIT_REVIEW_CONTACT") or "95598",
        )
        for name in ("rules_dir", "models_dir", "templates_dir"):
            path = getattr(config, name)
            if not path.is_dir():
                raise ConfigError(
                    "folder not found: set --home or GRIDCREDIT_HOME to a gridcredit project "
                    "(one with rules/, models/ and policies/)", file=str(path))
        return config

    @property
    def indicators(self) -> Path:
        return self.models_dir / "indicators.yaml"
