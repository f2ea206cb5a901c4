"""The policy-staff workbench and the Excel form of the decision tables.

Library parts, with no HTTP in them: ``notation`` (the plain condition
notation of grid and workbook), ``locate`` (which cell a loader error belongs
to), ``workbook`` (Excel export and import, lossless). See docs/studio.md.
"""
