"""The report pages: the auditor report, the service-quality report and their parts.

See ``docs/report.md`` and ``docs/servicequality.md``. ``engine.report.html``
assembles the auditor report from ``inputs`` (checks), ``measures`` (the
numbers), ``sections`` and ``auditsections`` (what each section shows, with
``rulehits``, ``provenance`` and ``auditinputs`` for the inputs they need);
``servicequality`` draws the service-quality page; ``charts`` draws the
figures and ``environment`` is the one template environment of every page.
"""
