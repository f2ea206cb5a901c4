"""The policy-staff workbench and the Excel form of the decision tables.

Library parts, with no HTTP in them: ``notation`` (the plain condition
notation of grid and workbook), ``locate`` (which cell a loader error belongs
to), ``workbook`` (Excel export and import, lossless), ``edits`` (text edits
that keep every untouched line), ``drafts`` (drafts checked live, saved
safely), ``grid`` (a table as the page shows it), ``simulate``, ``jobs``
(impact runs with progress) and ``labels``. The HTTP layer is ``app``
(serving, keys, guards) and ``routes``. See docs/studio.md.
"""
