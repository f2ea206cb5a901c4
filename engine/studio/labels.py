"""Every word the workbench pages show, in one place, translated by the project's catalogues.

The pages ask for a label by key; ``label`` looks its English text up in the
page's language (``engine.language``: ``?lang=`` or the browser's
``Accept-Language``), and a text without a translation yet shows in English.
"""

from __future__ import annotations

from typing import Any

__all__ = ["LABELS", "label"]

LABELS: dict[str, str] = {
    "title": "gridcredit workbench",
    "nav.tables": "Tables",
    "nav.simulate": "Simulator",
    "nav.impact": "Impact",
    "tables.heading": "Decision tables",
    "tables.name": "Table",
    "tables.file": "File",
    "tables.version": "Version",
    "tables.hit_policy": "Hit policy",
    "tables.rules": "Rules",
    "tables.examples": "Examples",
    "draft.none": "No draft: the tables are as saved.",
    "draft.changed": "Draft changes",
    "draft.loads": "the draft loads",
    "draft.problems": "problem(s) to fix before saving",
    "draft.findings": "finding(s) from the checks",
    "draft.save": "Save",
    "draft.bump": "bump the version of changed tables",
    "draft.discard": "Discard draft",
    "publish.message": "Release message",
    "publish.approver": "approved by",
    "publish.button": "Publish the saved tables",
    "draft.saved": "Saved",
    "draft.checking": "checking…",
    "draft.analysing": "looking for gaps and overlaps…",
    "workbook.download": "Download workbook (.xlsx)",
    "workbook.upload": "Upload workbook",
    "grid.search": "Search rules",
    "grid.problems_only": "only rules with problems",
    "grid.fired_only": "only rules that fired",
    "grid.add": "Add rule",
    "grid.up": "Move up",
    "grid.down": "Move down",
    "grid.duplicate": "Duplicate",
    "grid.delete": "Delete",
    "grid.params": "Params",
    "grid.at": "file:line",
    "grid.fired": "Rules that fired for the simulated customer are highlighted.",
    "grid.examples": "Examples",
    "grid.pass": "pass",
    "grid.fail": "fail",
    "grid.unknown": "not run (the draft does not load)",
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
    "impact.heading": "Impact of the draft",
    "impact.baseline": "Compare the draft with",
    "impact.saved": "the saved tables",
    "impact.other": "another folder or git revision",
    "impact.population": "Population file",
    "impact.run": "Run impact",
    "impact.progress": "Customers decided",
    "impact.transitions": "Grade transitions (rows: baseline, columns: draft)",
    "impact.policies": "Policies gained and lost",
    "impact.affected": "Affected customers",
    "impact.download": "Download affected customers (CSV)",
    "impact.none": "No population files: put CSV or Parquet files in",
}


def label(key: str, language: Any = None) -> str:
    """The text for ``key`` in ``language`` (an ``engine.language.Language``; English when
    None); the key itself when missing, so a gap is visible, not fatal."""
    text = LABELS.get(key, key)
    return language.gettext(text) if language is not None else text
