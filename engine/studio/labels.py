"""Every word the workbench pages show, in one place, in English and Chinese.

The pages ask for a label by key; ``label`` gives its English text, or in
zh-CN the translation from the workbench's own catalogue,
``engine/studio/locale/zh_CN/LC_MESSAGES/studio.po`` (the English text is the
``msgid``, as in the project's policy catalogue). The workbench's words are
the product's, not policy text, so they live beside the workbench, and a test
holds every label translated. ``page_language`` picks the page's language:
``?lang=`` first (and kept for the session in a cookie), then that cookie,
then the browser's ``Accept-Language``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from functools import cache
from pathlib import Path
from typing import Any

from babel.messages.pofile import read_po

from engine.errors import ConfigError, LanguageError
from engine.language import LANGUAGES, check_placeholders, negotiate, parse_language

__all__ = ["COOKIE", "LABELS", "catalogue", "label", "page_language", "script_words",
           "supported", "words"]

COOKIE = "studio_lang"
CATALOGUE = Path(__file__).resolve().parent / "locale" / "zh_CN" / "LC_MESSAGES" / "studio.po"

LABELS: dict[str, str] = {
    "title": "gridcredit workbench",
    "nav.tables": "Tables",
    "nav.simulate": "Simulator",
    "nav.impact": "Impact",
    "diff.threshold": "rule `%(rule)s`: %(field)s threshold %(old)s → %(new)s",
    "diff.condition": "rule `%(rule)s`: condition on %(field)s %(old)s → %(new)s",
    "diff.output": "rule `%(rule)s`: %(field)s %(old)s → %(new)s",
    "diff.policies": "rule `%(rule)s`: policies %(old)s → %(new)s",
    "diff.param": "rule `%(rule)s`: policy %(policy)s, %(param)s %(old)s → %(new)s",
    "diff.text": "rule `%(rule)s`: %(field)s reworded",
    "diff.added": "table %(table)s: rule `%(rule)s` added",
    "diff.removed": "table %(table)s: rule `%(rule)s` removed",
    "diff.moved": "table %(table)s: rule `%(rule)s` moved from position %(old)s to %(new)s",
    "diff.version": "table %(table)s: version %(old)s → %(new)s",
    "diff.example": "table %(table)s: example %(num)s, %(field)s %(old)s → %(new)s",
    "diff.example_added": "table %(table)s: example %(num)s added",
    "diff.example_removed": "table %(table)s: example %(num)s removed",
    "diff.table_added": "table %(table)s added",
    "diff.table_removed": "table %(table)s removed",
    "diff.none": "no change in the tables",
    "diff.first": "first release: %(num)s tables",
    "nav.history": "Releases",
    "nav.collections": "Collections",
    "collections.heading": "A customer's collections",
    "collections.customer": "Customer id",
    "collections.as_of": "As of",
    "collections.show": "Show",
    "collections.hint": ("The cases, their dated steps, the protections, the deposit and the "
                         "statement of account, read from the project's log; nothing here "
                         "changes them."),
    "collections.bad_date": "'%(value)s' is not a date: write it as YYYY-MM-DD",
    "history.heading": "Releases",
    "history.none": "No release has been published yet.",
    "history.release": "Release %(num)s",
    "history.by": "published %(at)s by %(publisher)s",
    "history.approved": "approved by %(approver)s",
    "history.restore": "Restore as a new draft",
    "history.restored": (
        "The tables of release %(num)s are your draft now: %(files)s. Check them, save, "
        "then publish."
    ),
    "history.same": "The saved tables already are release %(num)s: there is nothing to restore.",
    "history.four_eyes_on": (
        "Four-eyes review is on for this project: a release needs an approver other than "
        "its publisher."
    ),
    "history.four_eyes_off": "Four-eyes review is off for this project.",
    "nav.language": "Language",
    "tables.heading": "Decision tables",
    "tables.name": "Table",
    "tables.file": "File",
    "tables.version": "Version",
    "tables.hit_policy": "Hit policy",
    "tables.rules": "Rules",
    "tables.examples": "Examples",
    "tables.description": "Description",
    "tables.with_problems": "(%(num)s with problems)",
    "hit.first": "the first rule that matches decides",
    "hit.collect": "every rule that matches applies",
    "hit.rule_order": "every rule that matches applies, in table order",
    "hit.unique": "at most one rule may match",
    "hit.priority": "of the rules that match, the one with the highest priority decides",
    "hit.any": "the rules that match must agree",
    "punct.colon": ": ",
    "part.rule": "rule",
    "part.when": "when",
    "part.then": "then",
    "draft.none": "No draft: the tables are as saved.",
    "draft.changed": "Draft changes: %(files)s",
    "draft.loads": "the draft loads",
    "draft.problems": "problem(s) to fix before saving",
    "draft.findings": "finding(s) from the checks",
    "draft.save": "Save",
    "draft.bump": "bump the version of changed tables whose version was not edited",
    "draft.discard": "Discard draft",
    "draft.undo": "Undo",
    "draft.redo": "Redo",
    "draft.saved": "Saved",
    "draft.checking": "checking…",
    "draft.analysing": "looking for gaps and overlaps…",
    "publish.message": "Release message",
    "publish.approver": "approved by",
    "publish.button": "Publish the saved tables",
    "publish.refused": "Not published, nothing was changed:",
    "publish.need_message": "Write a release message: say what this release changes and why.",
    "publish.need_name": (
        "Say who is publishing: the page asks for your name once and remembers it."
    ),
    "publish.need_approver": (
        "Four-eyes review is on for this project: fill in “approved by” with the person "
        "who reviewed the tables."
    ),
    "publish.self_approval": (
        "Four-eyes review is on for this project: the approver (%(approver)s) must be "
        "someone other than the publisher."
    ),
    "publish.four_eyes": "four-eyes review on: an approver is needed",
    "js.publisher_name": "Your name, to record as the publisher of releases from this browser:",
    "workbook.download": "Download workbook (.xlsx)",
    "workbook.upload": "Upload workbook",
    "grid.search": "Search rules",
    "grid.problems_only": "only rules with problems or findings",
    "grid.fired_only": "only rules that fired",
    "grid.add": "Add rule",
    "grid.up": "Move up",
    "grid.down": "Move down",
    "grid.duplicate": "Duplicate",
    "grid.copy": "copy",
    "grid.delete": "Delete",
    "grid.params": "Params",
    "grid.at": "file:line",
    "grid.cell": "rule %(rule)s, %(column)s",
    "grid.fired": "Rules that fired for the simulated customer are highlighted.",
    "grid.examples": "Examples",
    "grid.pass": "pass",
    "grid.fail": "fail",
    "grid.unknown": "not run (the draft does not load)",
    "grid.rename_column": "Rename the condition column %(column)s",
    "grid.remove_column": "Remove the condition column %(column)s",
    "grid.add_column": "Add a condition column",
    "js.rename_column": (
        "Rename the condition column %(column)s to (a field of the customer record):"
    ),
    "js.remove_column": (
        "Remove the condition column %(column)s and every rule's condition on it from the"
        " draft?"
    ),
    "grid.example_cell": "example %(num)s, %(column)s",
    "grid.delete_example": "Delete example %(num)s",
    "grid.add_example": "Add example",
    "js.delete_example": "Delete example %(num)s?",
    "grid.translations": "Texts in every language",
    "grid.translations_help": (
        "Publishing needs every title, description and source in each language. English "
        "is the text in the table; write the others here: each is saved to its language's"
        " catalogue when you leave the field."
    ),
    "grid.text_of": "Text",
    "grid.english": "English",
    "grid.key.title": "title",
    "grid.key.description": "description",
    "grid.key.source": "source",
    "grid.translation_missing": "no %(lang)s text yet: publishing refuses until it is written",
    "grid.translation_saved": "Saved the %(lang)s text to %(file)s.",
    "grid.translation_of": "%(lang)s text of %(owner)s, %(part)s",
    "params.heading": "Policy parameters",
    "params.apply": "Apply",
    "params.cancel": "Cancel",
    "params.default": "default",
    "sim.heading": "Simulator",
    "sim.sample": "Fill with a sample customer",
    "sim.population": "Population file",
    "sim.customer": "Customer id",
    "sim.load": "Fill from the file",
    "sim.decide": "Decide",
    "sim.draft": "Draft tables",
    "sim.saved": "Saved tables",
    "sim.grade": "Grade",
    "sim.pd": "PD",
    "sim.segments": "Segments",
    "sim.policies": "Policies",
    "sim.fired": "Rules that fired",
    "sim.explanation": "Explanation",
    "sim.same": "The draft decides this customer as the saved tables do.",
    "sim.differs": "The draft decides this customer differently.",
    "sim.unloadable": "The draft does not load, so only the saved tables decide.",
    "group.identity": "identity",
    "group.financial": "financial",
    "group.consumption": "consumption",
    "group.payment": "payment",
    "group.equipment": "equipment",
    "group.social": "social",
    "group.service": "service",
    "group.history": "history",
    "impact.heading": "Impact of the draft",
    "impact.baseline": "Compare the draft with",
    "impact.saved": "the saved tables",
    "impact.other": "another folder or git revision",
    "impact.other_hint": "HEAD~1 or a folder",
    "impact.population": "Population file",
    "impact.run": "Run impact",
    "impact.progress": "Customers decided:",
    "impact.transitions": "Grade transitions (rows: baseline, columns: draft)",
    "impact.policies": "Policies gained and lost",
    "impact.affected": "Affected customers",
    "impact.download": "Download affected customers (CSV)",
    "impact.report": "Full report: changed rules, parameters, counts per rule, segment moves",
    "impact.none": "No population files: put CSV or Parquet files in %(folders)s.",
    "impact.sides": "baseline: %(baseline)s (sha256:%(a)s) · draft (sha256:%(b)s)",
    "js.delete_rule": "Delete rule %(num)s from the draft?",
    "js.saved": "Saved %(files)s",
    "js.published": "Published %(line)s",
    "js.publishing": "publishing…",
    "js.discard": "Discard every change of the draft?",
    "js.upload_changed": "Workbook read into the draft: %(files)s",
    "js.upload_same": "The workbook holds the tables as they are.",
    "js.default": "default %(value)s",
    "js.default_choice": "(default %(value)s)",
}


@cache
def catalogue() -> dict[str, str]:
    """The zh-CN catalogue: English text to its translation (placeholders checked at load)."""
    with CATALOGUE.open("rb") as fh:
        entries = read_po(fh, abort_invalid=True)
    out = {}
    for message in entries:
        if message.id and message.string:
            problem = check_placeholders(str(message.id), str(message.string))
            if problem:
                raise ConfigError(problem, file=str(CATALOGUE), line=message.lineno)
            out[str(message.id)] = str(message.string)
    return out


def label(key: str, tag: str = "en", **values: Any) -> str:
    """The text for ``key`` in language ``tag`` (en or zh-CN), its placeholders filled.

    A key without a label shows as itself, so a gap is visible, not fatal.
    """
    text = LABELS.get(key, key)
    if tag == "zh-CN":
        text = catalogue().get(text, text)
    return text % values if values else text


def words(tag: str) -> Callable[..., str]:
    """The templates' ``t(key, **values)`` for one language."""
    return lambda key, **values: label(key, tag, **values)


def script_words(tag: str) -> dict[str, str]:
    """The labels the page script uses (``js.*`` and a few shared ones), for one language."""
    return {key: label(key, tag) for key in LABELS
            if key.startswith(("js.", "grid.", "draft.", "params."))}


def page_language(query: str | None, cookie: str | None, accept: str | None,
                  default: str) -> str:
    """The language a page speaks: ``?lang=``, else the session's cookie, else the browser's.

    A tag the workbench does not speak is passed over, as a browser's would be.
    """
    for tag in (query, cookie):
        if tag:
            try:
                return parse_language(tag)
            except LanguageError:
                continue
    return negotiate(accept, default)


def supported() -> Mapping[str, str]:
    """The languages the switch offers, each named in itself."""
    names = {"zh-CN": "中文", "en": "English"}
    return {tag: names.get(tag, tag) for tag in LANGUAGES}
