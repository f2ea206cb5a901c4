"""Every message gridcredit writes, found where it is written, and what a language lacks.

Messages come from three places, and Babel's extractors read all three
(``babel.cfg`` maps them, so ``pybabel extract -F babel.cfg`` builds the
template a translator starts from):

- the code: ``gettext``/``ngettext``/``pgettext`` calls in ``engine/`` (Python,
  and the workbench's ``*.js``);
- the templates: ``{% trans %}`` blocks in ``policies/templates/*.j2`` and in
  any ``*.j2`` under ``engine/`` (the workbench's pages);
- the knowledge files policy staff write: titles, descriptions and sources in
  ``policies/catalogue.yaml``, ``models/indicators.yaml`` and ``rules/*.yaml``
  (:func:`extract_knowledge`, an extractor Babel calls like its own).

:func:`missing` lists every message a language's catalogue does not
translate, each with the file and line it was found at; ``rules check``
reports them and a test fails on any.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir

from engine.errors import YamlFileError
from engine.language import Languages, normalise
from engine.yamlfile import parse_yaml

__all__ = ["KNOWLEDGE_KEYS", "MAPPING", "Message", "extract_knowledge", "messages", "missing"]

KNOWLEDGE_KEYS = ("title", "description", "source")
_SKIP = ("examples",)
MAPPING = [
    ("engine/**.py", "python"),
    ("engine/**.j2", "jinja2.ext.babel_extract"),
    ("engine/**.js", "javascript"),
    ("policies/templates/**.j2", "jinja2.ext.babel_extract"),
    ("policies/*.yaml", "engine.translations.extract_knowledge"),
    ("models/indicators.yaml", "engine.translations.extract_knowledge"),
    ("rules/**.yaml", "engine.translations.extract_knowledge"),
]
_JINJA = {"extensions": "jinja2.ext.i18n", "trimmed": "true"}
_OPTIONS = {"policies/templates/**.j2": _JINJA, "engine/**.j2": _JINJA}


@dataclass(frozen=True)
class Message:
    """One message as found: where, the text (``plural`` for ngettext) and its context."""

    file: str
    line: int
    id: str
    plural: str | None = None
    context: str | None = None

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: " + (f"[{self.context}] " if self.context else "") \
            + repr(self.id)


def extract_knowledge(fileobj: IO[bytes], keywords: Any, comment_tags: Any,
                      options: Any) -> Iterator[tuple[int, None, str, list[str]]]:
    """Babel extractor for the YAML knowledge files: every title, description and source."""
    try:
        doc = parse_yaml(fileobj.read().decode("utf-8"))
    except (YamlFileError, UnicodeDecodeError):
        return
    yield from _walk(doc)


def _walk(node: Any) -> Iterator[tuple[int, None, str, list[str]]]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key in _SKIP:
                continue
            if key in KNOWLEDGE_KEYS and isinstance(value, str) and value.strip():
                line = node.line_of(key) if hasattr(node, "line_of") else 0
                yield line, None, normalise(value), [f"{key}"]
            else:
                yield from _walk(value)
    elif isinstance(node, list):
        for item in node:
            yield from _walk(item)


def messages(home: str | Path, rules_dir: str | Path | None = None) -> list[Message]:
    """Every message of the project at ``home``: code, templates and knowledge files.

    ``rules_dir``, a table folder outside the project's ``rules/``, has its
    titles, descriptions and sources read too (named by their path).
    """
    home = Path(home)
    found: dict[tuple[str | None, str], Message] = {}
    keywords = DEFAULT_KEYWORDS
    roots: list[tuple[Path, list[tuple[str, str]], str]] = [
        (Path(__file__).resolve().parent.parent,
         [m for m in MAPPING if m[0].startswith("engine")], ""),
        (home, [m for m in MAPPING if not m[0].startswith("engine")], ""),
    ]
    if rules_dir is not None and Path(rules_dir).resolve() != (home / "rules").resolve():
        roots.append((Path(rules_dir), [("**.yaml", MAPPING[-1][1])], f"{rules_dir}/"))
    for root, mapping, prefix in roots:
        options = {pattern: _OPTIONS.get(pattern, {}) for pattern, _ in mapping}
        for name, line, text, _comments, context in extract_from_dir(
                str(root), method_map=mapping, options_map=options, keywords=keywords):
            ident, plural = (text[0], text[1]) if isinstance(text, tuple) else (text, None)
            if not ident:
                continue
            key = (context, ident)
            if key not in found:
                found[key] = Message(file=prefix + name, line=line, id=ident, plural=plural,
                                     context=context)
    return list(found.values())


def missing(languages: Languages, home: str | Path,
            rules_dir: str | Path | None = None) -> dict[str, list[Message]]:
    """Per language, every message its catalogue does not translate (empty lists when complete)."""
    found = messages(home, rules_dir)
    out: dict[str, list[Message]] = {}
    for tag in languages.tags:
        lang = languages.get(tag)
        if lang.is_source:
            out[tag] = []
            continue
        t = lang.translations
        lacking = []
        for m in found:
            if m.plural is not None:
                got = (t.npgettext(m.context, m.id, m.plural, 1) if m.context
                       else t.ngettext(m.id, m.plural, 1))
            else:
                got = t.pgettext(m.context, m.id) if m.context else t.gettext(m.id)
            if got in (m.id, m.plural):
                lacking.append(m)
        out[tag] = lacking
    return out
