"""What ``gridcredit report`` and the demo open for the report's further sections.

The decision log is opened read-only here, its releases read with
``engine.governance.releases.history``, and everything else is left to
``engine.report.auditinputs``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from engine.audit.log import open_log
from engine.governance.releases import history
from engine.report.auditinputs import audit_inputs

__all__ = ["report_inputs"]


def report_inputs(engine: Any, decisions: pd.DataFrame, *, source: Path | None = None,
                  customers: Path | pd.DataFrame | None = None,
                  training: Path | pd.DataFrame | None = None, db: str | None = None,
                  surveys: Path | pd.DataFrame | None = None,
                  survey_baseline: Path | pd.DataFrame | None = None) -> dict[str, Any]:
    """``build_report`` keywords for the sections these inputs fill (see ``audit_inputs``)."""
    common = {"source": source, "customers": customers, "training": training,
              "surveys": surveys, "survey_baseline": survey_baseline}
    if db is None:
        return audit_inputs(engine, decisions, **common)
    with open_log(db, create=False) as log:
        return audit_inputs(engine, decisions, log=log, releases=history(log.engine), **common)
