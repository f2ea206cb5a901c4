"""Small, valid objects that tests build on: a sealed decision, customer records and a
project of its own.

Tests take them from here, never from another test module.
"""

from __future__ import annotations

import hashlib
import json
import math
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from engine import synth
from engine.decision import (
    Decision,
    GradeOutcome,
    PolicyOutcome,
    Reason,
    ScoreOutcome,
    TableVersions,
)

__all__ = ["ROOT", "SEVEN_BANDS", "artifact_sha256", "good", "make_decision", "plain_record",
           "project_copy", "seven_band_project", "synth_records"]

ROOT = Path(__file__).resolve().parent.parent


def artifact_sha256(path: str | Path) -> str:
    """A model artifact file's SHA-256, computed here by the documented formula: over its
    JSON with sorted keys and no spaces (``docs/scorer.md``), independently of the engine."""
    doc = json.loads(Path(path).read_text(encoding="utf-8"))
    text = json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def project_copy(folder: Path, *, copied: tuple[str, ...] = ("rules", "policies", "models"),
                 linked: tuple[str, ...] = ()) -> Path:
    """A project of its own in ``folder``: the ``copied`` parts of the checkout copied, so
    they can be edited, and the ``linked`` ones symlinked."""
    folder.mkdir(parents=True, exist_ok=True)
    for name in copied:
        shutil.copytree(ROOT / name, folder / name)
    for name in linked:
        (folder / name).symlink_to(ROOT / name)
    return folder


# A seven-band master scale: (grade, lower PD edge), best first.
SEVEN_BANDS = (("AAA", 0.0), ("AA", 0.01), ("A", 0.02), ("BBB", 0.04), ("BB", 0.06),
               ("B", 0.1), ("C", 0.15))


def seven_band_project(folder: Path) -> Path:
    """A project whose grade table draws the seven bands of ``SEVEN_BANDS``.

    The overrides keep their meaning: each cap tests pd below the lower edge
    of the band it caps at.
    """
    root = project_copy(folder, copied=("rules", "policies"), linked=("models",))
    path = root / "rules" / "grades.yaml"
    text = path.read_text(encoding="utf-8")
    start, end = text.index("  - id: band-aaa"), text.index("examples:")
    body = []
    for k, (grade, lo) in enumerate(SEVEN_BANDS):
        hi = SEVEN_BANDS[k + 1][1] if k + 1 < len(SEVEN_BANDS) else None
        test = (f"{{lt: {hi}}}" if not k else f"{{ge: {lo}}}" if hi is None
                else f"{{ge: {lo}, lt: {hi}}}")
        body.append(f"  - id: band-{grade.lower()}\n    description: Band {grade}.\n"
                    f"    source: master scale\n    when: {{pd: {test}}}\n"
                    f"    then: {{grade: {grade}}}\n")
    text = text[:start] + "".join(body) + text[end:]
    edges = dict(SEVEN_BANDS)
    for cap, old in (("B", 0.06), ("A", 0.03), ("AA", 0.015)):
        text = text.replace(f"pd: {{lt: {old}}}}}\n    then: {{grade: {cap}}}",
                            f"pd: {{lt: {edges[cap]}}}}}\n    then: {{grade: {cap}}}")
    path.write_text(text, encoding="utf-8")
    po = root / "policies" / "locale" / "zh_CN" / "LC_MESSAGES" / "gridcredit.po"
    with po.open("a", encoding="utf-8") as out:
        for grade, _ in SEVEN_BANDS:
            out.write(f'\nmsgid "Band {grade}."\nmsgstr "{grade}级档位。"\n')
    return root


def plain_record(row: dict[str, Any]) -> dict[str, Any]:
    """A frame row as a service system sends it: absent fields left out, numpy scalars as
    Python values and timestamps as ISO dates."""
    out = {}
    for key, value in row.items():
        if value is None or value is pd.NaT or (isinstance(value, float) and math.isnan(value)):
            continue
        if isinstance(value, pd.Timestamp):
            value = value.date().isoformat()
        out[key] = value.item() if isinstance(value, np.generic) else value
    return out


def synth_records(n: int, seed: int) -> list[dict[str, Any]]:
    """``n`` synthetic customers without their label, as plain records."""
    frame = synth.generate(n, seed=seed).drop(columns=["default_12m"])
    return [plain_record(row) for row in frame.to_dict(orient="records")]


def make_decision(i: int, customer_id: str | None = None, *, policies: bool = False) -> Decision:
    """A small, sealed decision, distinct for each ``i``."""
    return Decision(
        decision_id=f"d-{i:05d}",
        customer_id=customer_id or f"C{i % 7:04d}",
        customer_class="commercial",
        as_of="2026-06-30",
        inputs={"monthly_kwh": 1000.0 + i, "overdue_bills_12m": i % 3},
        score=ScoreOutcome(
            model_id="lda-commercial-2026.1",
            model_sha256="ab" * 32,
            z=-1.25 + i / 100,
            pd=0.031,
            reasons=(
                Reason(indicator="overdue_bills", group="payment behaviour", value=i % 3,
                       contribution=0.42, description="Overdue bills in the last 12 months"),
            ),
        ),
        grade=GradeOutcome(grade="A", band_grade="A", rule_id="band-A", override=None,
                           file="rules/grades.yaml", line=12, description="PD band of A",
                           source="paper 3.1"),
        segments={"consumption_class": "average", "outage_sensitivity": "normal"},
        policies=(
            PolicyOutcome(policy_id="personalised_service", params={}, rule_id="avg-personal",
                          table="service-policies", file="rules/service-policies.yaml", line=30,
                          source=None, description="Average consumers get personalised service."),
        ) if policies else (),
        trace=(),
        tables=TableVersions(version="2026.12.0", versions={"grades": "2026.12.0"},
                             content_hash="cd" * 32),
        timings_ms={"total": 1.5},
        engine_version="0.1.0",
    ).sealed()


def good(**changes):
    record = {
        "customer_id": "C001",
        "customer_class": "commercial",
        "as_of": "2026-10-31",
        "months_connected": 40,
        "asset_liability_ratio": 0.6,
        "current_ratio": 1.3,
        "return_on_net_assets": 0.05,
        "loan_repayment_on_schedule_rate": 0.97,
        "monthly_kwh": 5200.0,
        "contracted_capacity_kva": 30.0,
        "overdue_bills_12m": 1,
        "overdue_amount": 0.0,
        "max_days_overdue_12m": 12,
        "theft_incidents_36m": 0,
        "has_repayment_agreement": False,
        "has_reactive_compensation": True,
        "calibration_on_schedule": True,
        "grid_accidents_36m": 0,
        "social_credit_rating": "B",
        "expected_service_quality": 4.0,
        "perceived_service_quality": 3.5,
        "critical_load": False,
    }
    record.update(changes)
    return {k: v for k, v in record.items() if v is not ...}
