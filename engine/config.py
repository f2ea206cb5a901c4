"""Where the engine finds the knowledge it runs on, and where it writes by default.

Every path hangs off one project home, so an installation points the engine
at a reviewed copy of its rule and model folders with a single setting:
``--home DIR`` on every ``gridcredit`` command that reads knowledge, and
``GRIDCREDIT_HOME`` in the environment (the service's ``home:`` setting is the
same thing). Nothing resolves against the working folder::

    HOME/
      rules/                decision tables (*.yaml) and rules/events.yaml
      policies/             catalogue.yaml, templates/ and locale/ (translations)
      models/               registry.yaml, indicators.yaml, model artifacts
      out/                  what commands write by default:
        decisions.sqlite    the decision log and event store ($GRIDCREDIT_DB overrides)
        api-keys.yaml       the service's API key hashes ($GRIDCREDIT_KEYS overrides)

Without ``--home`` or ``GRIDCREDIT_HOME`` the home is the checkout the
package is installed from (an editable install); with neither, a
``ConfigError`` says to set one.

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
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from engine.errors import ConfigError
from engine.language import parse_language

__all__ = ["DB_ENV", "HOME_ENV", "EngineConfig", "default_database", "default_home",
           "resolve_home"]

HOME_ENV = "GRIDCREDIT_HOME"
DB_ENV = "GRIDCREDIT_DB"
_FOLDERS = ("rules", "models", "policies")


def _is_project(folder: Path) -> bool:
    return all((folder / name).is_dir() for name in _FOLDERS)


def default_home(env: Mapping[str, str] | None = None) -> Path:
    """``GRIDCREDIT_HOME``, else the checkout the package lives in, else ``ConfigError``."""
    env = os.environ if env is None else env
    if env.get(HOME_ENV):
        return Path(env[HOME_ENV]).expanduser().resolve()
    checkout = Path(__file__).resolve().parent.parent
    if _is_project(checkout):
        return checkout
    raise ConfigError(f"no gridcredit project found: set --home DIR or {HOME_ENV} to the "
                      "project folder (the one with rules/, models/ and policies/)")


def resolve_home(home: str | Path | None = None) -> Path:
    """An absolute project home: ``home`` as given, else :func:`default_home`."""
    return Path(home).expanduser().resolve() if home is not None else default_home()


def _out(home: Path) -> Path:
    return home / "out"


def default_database(home: str | Path | None = None) -> str:
    """The decision log and event store: ``GRIDCREDIT_DB``, else ``HOME/out/decisions.sqlite``."""
    return os.environ.get(DB_ENV) or str(_out(resolve_home(home)) / "decisions.sqlite")


#: The per-decision table executors (``engine.tables``): compiled matchers, or durable-rules.
EXECUTORS = ("compiled", "durable")


def check_executor(name: str) -> str:
    """``name`` if it is a per-decision executor, else ``ConfigError`` listing them."""
    if name not in EXECUTORS:
        raise ConfigError(f"unknown table executor {name!r}: use one of "
                          + ", ".join(EXECUTORS))
    return name


@dataclass(frozen=True)
class EngineConfig:
    """Every path of one project; the rules and models folders may be overridden on their own."""

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
        """The configuration of the project at ``home``; refused unless its rules folder exists.

        Each other file is refused, naming its path, by the loader that reads
        it, so a command needs only the parts of a project it uses (``rules
        check`` runs without ``models/``).
        """
        root = resolve_home(home)
        config = cls(
            home=root,
            rules_dir=Path(rules_dir).resolve() if rules_dir is not None else root / "rules",
            models_dir=Path(models_dir).resolve() if models_dir is not None else root / "models",
            catalogue=root / "policies" / "catalogue.yaml",
            templates_dir=root / "policies" / "templates",
            executor=check_executor(executor or os.environ.get("GRIDCREDIT_EXECUTOR")
                                    or "compiled"),
            locale_dir=root / "policies" / "locale",
            language=parse_language(language or os.environ.get("GRIDCREDIT_LANG") or "en"),
            currency=(currency or os.environ.get("GRIDCREDIT_CURRENCY") or "CNY").upper(),
            review_contact=os.environ.get("GRIDCREDIT_REVIEW_CONTACT") or "95598",
        )
        if not config.rules_dir.is_dir():
            raise ConfigError(
                f"folder not found: set --home DIR or {HOME_ENV} to a gridcredit project "
                "(one with rules/, models/ and policies/)", file=str(config.rules_dir))
        return config

    @property
    def event_rules(self) -> Path:
        """The payment-event rules (read by durable-rules, not a decision table)."""
        return self.rules_dir / "events.yaml"

    @property
    def registry(self) -> Path:
        return self.models_dir / "registry.yaml"

    @property
    def indicators(self) -> Path:
        return self.models_dir / "indicators.yaml"

    @property
    def out_dir(self) -> Path:
        """Where commands write when no output is named."""
        return _out(self.home)

    @property
    def log_file(self) -> Path:
        """The default SQLite file of the decision log and event store."""
        return self.out_dir / "decisions.sqlite"

    @property
    def keys_file(self) -> Path:
        """The service's API key hashes, unless ``GRIDCREDIT_KEYS`` or ``--keys`` names another."""
        return self.out_dir / "api-keys.yaml"

    @property
    def database(self) -> str:
        """The decision log and event store: ``GRIDCREDIT_DB``, else :attr:`log_file`."""
        return os.environ.get(DB_ENV) or str(self.log_file)
