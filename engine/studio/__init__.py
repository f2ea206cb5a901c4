"""The policy-staff workbench and the Excel form of the decision tables.

Library parts, with no HTTP in them: ``notation`` (the plain condition
notation of grid and workbook), ``locate`` (which cell a loader error belongs
to), ``rows`` (rules and examples as cells), ``workbook`` (the workbook
layout and export), ``workbookread`` (import: nothing lost, or a refusal at
``sheet!cell``), ``tableyaml`` (a file's YAML), ``edits`` (text edits that
keep every untouched line), ``drafts`` (drafts checked live, saved safely),
``grid`` (a table as the page shows it), ``simulate``, ``jobs`` (impact runs
with progress) and ``labels``. The HTTP layer, built one way only:
``workbench`` (the studio a request works on, keys and guards), ``routes``
(pages and requests) and ``app`` (the applications that include the routes).
See docs/studio.md.
"""
