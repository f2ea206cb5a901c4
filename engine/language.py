"""The languages gridcredit speaks, and the words and numbers it writes in each.

Translations are gettext catalogues that policy staff own and edit with any
PO editor: ``policies/locale/<ll_CC>/LC_MESSAGES/gridcredit.po``. English is
the source language (the ``msgid`` of every message), so it needs no file;
every other supported language needs one, and a missing or empty entry is a
missing translation (``tests/test_languages.py`` walks every message).

Catalogues are read with Babel and compiled in memory at load, so no
generated ``.mo`` file is kept in the repository. Loading checks every entry's
placeholders: a ``msgstr`` that names a placeholder its ``msgid`` lacks, or
holds a ``%`` that is not ``%(name)s`` or ``%%``, would fail when a customer's
explanation is rendered, so the catalogue is refused at load with its
``file:line`` instead (``gridcredit rules check`` loads it too).

A message with a ``%(name)s`` placeholder is a ``%``-format string filled
from a mapping (the convention of Jinja2's i18n extension), in which a
literal per cent sign is written ``%%``; a message without one is plain text.

A ``Language`` is one locale bound to one catalogue and one currency: it
translates (``gettext``, ``ngettext``, ``pgettext``) and formats amounts,
durations, counts, shares and dates the way that locale reads them (Babel).
"""

from __future__ import annotations

import datetime as dt
import io
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from babel import Locale, UnknownLocaleError
from babel.dates import format_date
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.numbers import format_currency, format_decimal, format_percent, list_currencies
from babel.support import NullTranslations, Translations
from babel.units import format_unit

from engine.errors import ConfigError, LanguageError

__all__ = [
    "DEFAULT_CURRENCY",
    "DEFAULT_LANGUAGE",
    "DOMAIN",
    "ENGLISH",
    "LANGUAGES",
    "Language",
    "Languages",
    "check_placeholders",
    "load_languages",
    "negotiate",
    "normalise",
    "parse_language",
]

LANGUAGES = ("zh-CN", "en")
DEFAULT_LANGUAGE = "en"
DEFAULT_CURRENCY = "CNY"
DOMAIN = "gridcredit"
_PERCENT = re.compile(r"%(?:\((?P<name>[A-Za-z_][A-Za-z0-9_]*)\))?"
                      r"(?P<conv>[-#0 +]*\d*(?:\.\d+)?[sdif%r])?")
_NAMED = re.compile(r"%\([A-Za-z_][A-Za-z0-9_]*\)[sdif]")
_UNITS = {"hours": "duration-hour", "days": "duration-day", "months": "duration-month",
          "minutes": "duration-minute", "years": "duration-year"}


def normalise(text: str) -> str:
    """Runs of white space as one space: the key a folded YAML text is translated by."""
    return " ".join(str(text).split())


def parse_language(tag: str | None, default: str = DEFAULT_LANGUAGE) -> str:
    """The supported language a tag names (``zh-CN``, ``zh_cn``, ``EN``); refuse any other."""
    if tag is None or not str(tag).strip():
        return default
    wanted = str(tag).strip().replace("_", "-").lower()
    for lang in LANGUAGES:
        if wanted == lang.lower():
            return lang
    raise LanguageError(str(tag), LANGUAGES)


def negotiate(header: str | None, default: str = DEFAULT_LANGUAGE) -> str:
    """The best supported language for an ``Accept-Language`` header; ``default`` when none fits.

    Quality weights are honoured; ``zh``, ``zh-Hans`` and ``zh-CN`` all mean
    Simplified Chinese, ``en-GB`` means English.
    """
    if not header:
        return default
    offers: list[tuple[float, int, str]] = []
    for i, part in enumerate(header.split(",")):
        tag, _, params = part.strip().partition(";")
        quality = 1.0
        for param in params.split(";"):
            key, _, value = param.strip().partition("=")
            if key == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        offers.append((-quality, i, tag.strip().lower()))
    for quality, _, tag in sorted(offers):
        if quality >= 0:
            continue
        if tag == "*":
            return default
        primary = tag.split("-")[0]
        if primary == "zh" and tag not in ("zh-tw", "zh-hk", "zh-hant", "zh-mo"):
            return "zh-CN"
        if primary == "en":
            return "en"
    return default


def check_placeholders(source: str, translated: str) -> str | None:
    """Why ``translated`` cannot stand for ``source``, or None when it can.

    A source with ``%(name)s`` placeholders is a %-format: each ``%`` of the
    translation must be one of its placeholders or ``%%``. A source without
    any is plain text, whose translation must not invent placeholders.
    """
    wanted = {m.group("name") for m in _PERCENT.finditer(source) if m.group("name")}
    if not wanted:
        invented = _NAMED.search(translated)
        return (None if invented is None else
                f"placeholder {invented.group(0)} is not in the source text (it has none)")
    for match in _PERCENT.finditer(translated):
        if match.group("conv") is None:
            return (f"'{translated[match.start():match.start() + 12]}' is not a placeholder: "
                    "write %(name)s, or %% for a per cent sign")
        name = match.group("name")
        if name is None and match.group("conv") != "%":
            return "positional placeholder: name it as %(name)s like the source text"
        if name is not None and name not in wanted:
            known = ", ".join(f"%({n})s" for n in sorted(wanted)) or "none"
            return f"placeholder %({name})s is not in the source text (it has {known})"
    return None


@dataclass(frozen=True)
class Language:
    """One language: its translations, its locale's number and date formats, its currency."""

    tag: str
    translations: NullTranslations
    currency: str = DEFAULT_CURRENCY

    @cached_property
    def locale(self) -> Locale:
        return Locale.parse(self.tag.replace("-", "_"))

    @property
    def is_source(self) -> bool:
        return self.tag == "en"

    # ---------------------------------------------------------------- words

    def gettext(self, message: str, **values: Any) -> str:
        return _fill(self.translations.gettext(message), values)

    def ngettext(self, singular: str, plural: str, n: int, **values: Any) -> str:
        return _fill(self.translations.ngettext(singular, plural, n), {"num": n, **values})

    def pgettext(self, context: str, message: str, **values: Any) -> str:
        return _fill(self.translations.pgettext(context, message), values)

    def text(self, message: str | None) -> str:
        """A text from the knowledge files (rule descriptions, titles), translated when known."""
        if not message:
            return ""
        return self.translations.gettext(normalise(message))

    def has(self, message: str, context: str | None = None) -> bool:
        """Whether the catalogue translates ``message`` (always true for the source language)."""
        if self.is_source:
            return True
        key = normalise(message) if context is None else message
        found = (self.translations.gettext(key) if context is None
                 else self.translations.pgettext(context, key))
        return found != key

    # ---------------------------------------------------------------- numbers

    def money(self, amount: float) -> str:
        return format_currency(float(amount), self.currency, locale=self.locale)

    def number(self, value: float, digits: int = 2) -> str:
        pattern = "#,##0" + ("." + "#" * digits if digits else "")
        return format_decimal(float(value), format=pattern, locale=self.locale)

    def count(self, n: int) -> str:
        return format_decimal(int(n), format="#,##0", locale=self.locale)

    def share(self, value: float, digits: int = 1) -> str:
        pattern = "#,##0" + ("." + "#" * digits if digits else "") + "%"
        return format_percent(float(value), format=pattern, locale=self.locale)

    def duration(self, value: float, unit: str) -> str:
        """``1 hour``, ``1.5 hours``, ``30 days``; ``1小时``, ``30天`` in Chinese."""
        return format_unit(float(value) if float(value) % 1 else int(value), _UNITS[unit],
                           format="#,##0.##", locale=self.locale)

    def date(self, value: str | dt.date | None) -> str:
        if value is None or value == "":
            return ""
        day = dt.date.fromisoformat(str(value)[:10]) if not isinstance(value, dt.date) else value
        return format_date(day, format="long", locale=self.locale)

    def yesno(self, value: bool) -> str:
        return self.gettext("yes") if value else self.gettext("no")

    @property
    def colon(self) -> str:
        """What joins a heading to its text: ``": "``, or a full-width ``"："`` in Chinese."""
        return "：" if self.tag == "zh-CN" else ": "

    @property
    def gap(self) -> str:
        """What joins two sentences: a space, or nothing after Chinese full-width punctuation."""
        return "" if self.tag == "zh-CN" else " "

    def listing(self, items: Iterable[str]) -> str:
        items = list(items)
        sep = "、" if self.tag == "zh-CN" else ", "
        return sep.join(items)

    # ---------------------------------------------------------------- templates and pages

    def install(self, env: Any) -> Any:
        """Teach a Jinja2 environment this language: ``{% trans %}`` blocks, ``_()``, and
        the filters ``money``, ``count``, ``share``, ``date``, ``yesno``, ``days``,
        ``hours`` and ``months``. Returns ``env``.

        Every page that shows words (explanations, the report, the workbench)
        goes through here, so one catalogue serves them all. Messages found by
        ``engine.translations`` (any ``*.j2`` under ``policies/templates`` or
        ``engine/``) are checked for a translation by the tests.
        """
        env.add_extension("jinja2.ext.i18n")
        env.policies["ext.i18n.trimmed"] = True
        env.install_gettext_translations(self.translations, newstyle=False)
        env.filters.update(
            money=self.money, count=self.count, share=self.share, date=self.date,
            yesno=self.yesno, days=lambda v: self.duration(v, "days"),
            hours=lambda v: self.duration(v, "hours"),
            months=lambda v: self.duration(v, "months"))
        return env

    def labels(self, messages: Iterable[str]) -> dict[str, str]:
        """``{message: translation}`` for ``messages``: the table a browser page looks its
        labels up in (the workbench's script reads it as JSON)."""
        return {m: self.translations.gettext(m) for m in messages}


ENGLISH = Language("en", NullTranslations())


@dataclass(frozen=True)
class Languages:
    """Every supported language of one project, with its default and its currency."""

    by_tag: Mapping[str, Language]
    default: str = DEFAULT_LANGUAGE
    files: Mapping[str, str] = field(default_factory=dict)

    def get(self, tag: str | None = None) -> Language:
        """The language a tag names (``None``: the project default); refuse unknown tags."""
        return self.by_tag[parse_language(tag, self.default)]

    @property
    def tags(self) -> tuple[str, ...]:
        return tuple(self.by_tag)


def locale_dir(home: str | Path) -> Path:
    return Path(home) / "policies" / "locale"


def po_path(folder: str | Path, tag: str) -> Path:
    return Path(folder) / tag.replace("-", "_") / "LC_MESSAGES" / f"{DOMAIN}.po"


def load_languages(folder: str | Path, *, default: str = DEFAULT_LANGUAGE,
                   currency: str = DEFAULT_CURRENCY) -> Languages:
    """Read and check every supported language's catalogue under ``folder`` (policies/locale)."""
    default = parse_language(default)
    _check_currency(currency)
    by_tag: dict[str, Language] = {}
    files: dict[str, str] = {}
    for tag in LANGUAGES:
        if tag == "en":
            by_tag[tag] = Language(tag, NullTranslations(), currency)
            continue
        path = po_path(folder, tag)
        if not path.is_file():
            raise ConfigError(f"no translations for {tag}: every supported language "
                              f"({', '.join(LANGUAGES)}) except en needs a catalogue",
                              file=str(path))
        by_tag[tag] = Language(tag, _compile(path), currency)
        files[tag] = str(path)
    return Languages(by_tag=by_tag, default=default, files=files)


def _check_currency(currency: str) -> None:
    if currency not in list_currencies():
        raise ConfigError(f"unknown currency '{currency}': use an ISO 4217 code such as "
                          "CNY (yuan), HKD or USD")


def _compile(path: Path) -> Translations:
    """Parse a .po file, check each entry's placeholders, compile it to an in-memory .mo."""
    try:
        with path.open("rb") as fh:
            catalog = read_po(fh, abort_invalid=True)
    except (OSError, UnknownLocaleError) as exc:
        raise ConfigError(f"cannot read translations ({exc})", file=str(path)) from None
    except Exception as exc:  # Babel's PoFileError carries the line
        raise ConfigError(f"not a valid PO file: {exc}", file=str(path),
                          line=getattr(exc, "lineno", None)) from None
    for message in catalog:
        if not message.id:
            continue
        sources = message.id if isinstance(message.id, tuple | list) else (message.id,)
        strings = message.string if isinstance(message.string, tuple | list) else (
            message.string,)
        for text in strings:
            if not text:
                continue
            problem = check_placeholders(" ".join(sources), text)
            if problem:
                shown = sources[0] if len(sources[0]) <= 50 else sources[0][:47] + "..."
                raise ConfigError(f"translation of \"{shown}\": {problem}", file=str(path),
                                  line=_line_of(path, message))
    buffer = io.BytesIO()
    write_mo(buffer, catalog)
    buffer.seek(0)
    return Translations(fp=buffer, domain=DOMAIN)


def _line_of(path: Path, message: Any) -> int | None:
    """The line of a message's ``msgstr`` (Babel keeps the ``msgid`` line)."""
    start = getattr(message, "lineno", None)
    if start is None:
        return None
    lines = path.read_text(encoding="utf-8").splitlines()
    for i in range(start - 1, min(len(lines), start + 40)):
        if lines[i].startswith("msgstr"):
            return i + 1
    return start


def _fill(text: str, values: Mapping[str, Any]) -> str:
    return text % values if values else text
