"""The tables' own texts in every language: what a draft's texts lack, and writing one.

Every title, description and source of a table file is a message policy staff
translate (``engine.translations`` finds them the same way for ``rules
check`` and publish). ``table_texts`` lists those of one table with their
translation in each language the project supports; ``translation_findings``
is the live form of publish's translation check for a draft; and
``write_translation`` puts one translation into the language's ``.po`` file,
changing only that entry's lines (or adding one entry at the end).
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from babel.messages.pofile import normalize, unescape

from engine.errors import InputError
from engine.language import Languages, check_placeholders, normalise
from engine.tables import Finding
from engine.translations import KNOWLEDGE_KEYS

__all__ = ["TableText", "table_texts", "translation_findings", "write_translation"]

_SKIP = ("examples",)
_PO_WIDTH = 100


@dataclass(frozen=True)
class TableText:
    """One text of a table: where it is, whose it is, the English and each translation."""

    file: str
    line: int
    key: str  # title, description or source
    owner: str  # the rule id, or the table's name for the table's own text
    source: str
    translations: dict[str, str]  # language tag -> translation ("" when it has none)

    @property
    def lacking(self) -> tuple[str, ...]:
        return tuple(tag for tag, text in self.translations.items() if not text)


def _walk(node: Any, owner: str) -> Iterator[tuple[int, str, str, str]]:
    if isinstance(node, Mapping):
        owner = str(node.get("id") or node.get("table") or owner)
        for key, value in node.items():
            if key in _SKIP:
                continue
            if key in KNOWLEDGE_KEYS and isinstance(value, str) and value.strip():
                line = node.line_of(key) if hasattr(node, "line_of") else 0
                yield line, key, owner, normalise(value)
            else:
                yield from _walk(value, owner)
    elif isinstance(node, list):
        for item in node:
            yield from _walk(item, owner)


def table_texts(file: str, body: Any, languages: Languages) -> list[TableText]:
    """Every title, description and source of one table body, with its translations."""
    out = []
    for line, key, owner, source in _walk(body, ""):
        found = {}
        for tag in languages.tags:
            lang = languages.get(tag)
            if lang.is_source:
                continue
            got = lang.translations.gettext(source)
            found[tag] = "" if got == source else got
        out.append(TableText(file, line, key, owner, source, found))
    return out


def translation_findings(docs: Mapping[str, Any], languages: Languages,
                         home: Path | None = None) -> list[Finding]:
    """What publish's translation check would refuse in these table documents (catalogue
    files named from ``home``, the project folder, when they are in it)."""
    shown = {tag: _shown(Path(f), home) for tag, f in languages.files.items()}
    findings = []
    for file, doc in sorted(docs.items()):
        if doc is None:
            continue
        for text in table_texts(file, doc, languages):
            for tag in text.lacking:
                findings.append(Finding(
                    file, text.line, text.owner, "translation",
                    f"no {tag} translation of {text.source!r} in {shown[tag]}: "
                    f"write it beside the {text.key}"))
    return findings


def _shown(path: Path, home: Path | None) -> str:
    if home is not None:
        try:
            return str(path.resolve().relative_to(home.resolve()))
        except ValueError:
            pass
    return str(path)


_ENTRY = re.compile(r'^(msgctxt|msgid|msgid_plural|msgstr(?:\[\d+\])?) "(.*)"\s*$')
_MORE = re.compile(r'^"(.*)"\s*$')


def _entries(lines: list[str]) -> Iterator[tuple[str, str, int, int]]:
    """``(keyword, text, first line, end line)`` for every keyword block of a .po file."""
    i = 0
    while i < len(lines):
        match = _ENTRY.match(lines[i])
        if not match:
            i += 1
            continue
        start, parts = i, [match.group(2)]
        i += 1
        while i < len(lines) and (more := _MORE.match(lines[i])):
            parts.append(more.group(1))
            i += 1
        yield match.group(1), unescape('"' + "".join(parts) + '"'), start, i


def write_translation(po_file: Path, source: str, text: str, where: str) -> bool:
    """Make ``text`` the translation of ``source`` in ``po_file``; True when the file changed.

    Only the entry's ``msgstr`` lines change; a message the file lacks is
    added at its end, with ``where`` (``rules/x.yaml:12``) as its reference.
    """
    source, text = normalise(source), normalise(text)
    if not text:
        raise InputError(f"the translation of {source!r} is empty: write the text, or leave "
                         "the field as it was")
    problem = check_placeholders(source, text)
    if problem:
        raise InputError(f"translation of {source!r}: {problem}")
    content = po_file.read_text(encoding="utf-8")
    lines = content.split("\n")
    blocks = list(_entries(lines))
    for k, (keyword, value, _start, _end) in enumerate(blocks):
        if keyword != "msgid" or value != source:
            continue
        if k > 0 and blocks[k - 1][0] == "msgctxt" and blocks[k - 1][3] == _start:
            continue
        following = blocks[k + 1] if k + 1 < len(blocks) else None
        if following is None or following[0] != "msgstr":
            continue
        if following[1] == text:
            return False
        block = "msgstr " + normalize(text, width=_PO_WIDTH)
        lines[following[2]:following[3]] = block.split("\n")
        po_file.write_text("\n".join(lines), encoding="utf-8")
        return True
    tail = "" if content.endswith("\n") else "\n"
    entry = (f"\n#: {where}\nmsgid {normalize(source, width=_PO_WIDTH)}\n"
             f"msgstr {normalize(text, width=_PO_WIDTH)}\n")
    po_file.write_text(content + tail + entry, encoding="utf-8")
    return True
