"""The auditor report: one self-contained HTML file with its charts.

See ``docs/report.md``. ``engine.report.html`` counts and renders,
``engine.report.charts`` draws the figures.
"""
