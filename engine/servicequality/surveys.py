"""The service-quality survey record: every field declared once, validated per frame.

One survey is one customer's answers for one period: what the customer
expects and what it perceives on each of the five SERVQUAL dimensions, its
overall satisfaction, and the channel it was asked through. Scores are on the
same 1-5 scale as the customer record's ``expected_service_quality`` and
``perceived_service_quality``.

The fields are ``FieldSpec`` declarations like the customer record's, and
``engine.recordframe.validate_frame`` checks them column-wise, so a survey file
is held to the same rules as a customer file: every row is either accepted
(converted to the declared types) or rejected with its row, field, value and
reason, and rows in = rows accepted + rows rejected. A second survey of the
same customer for the same period is rejected too: the first one counts.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from engine.errors import FrameError
from engine.frames import read_frame, write_frame
from engine.recordframe import validate_frame
from engine.records import FieldSpec

__all__ = [
    "CHANNELS",
    "DIMENSIONS",
    "SURVEY_FIELDS",
    "SurveyFile",
    "expected_column",
    "gap_column",
    "perceived_column",
    "read_surveys",
    "survey_rejects_path",
    "validate_surveys",
]

# The five SERVQUAL dimensions (Parasuraman, Zeithaml and Berry), in their usual order.
DIMENSIONS = ("tangibles", "reliability", "responsiveness", "assurance", "empathy")
CHANNELS = ("counter", "phone", "app", "web", "account_manager", "on_site")
DUPLICATE = "a second survey of this customer for this period: the first one counts"
_SCALE = {"ge": 1.0, "le": 5.0}
_WHAT = {
    "tangibles": "offices, equipment, meters and documents",
    "reliability": "service delivered as promised, bills and supply without error",
    "responsiveness": "requests answered and problems solved quickly",
    "assurance": "competent, courteous staff the customer can trust",
    "empathy": "attention to the customer's own needs (personalised service)",
}


def expected_column(dimension: str) -> str:
    return f"expected_{dimension}"


def perceived_column(dimension: str) -> str:
    return f"perceived_{dimension}"


def gap_column(dimension: str) -> str:
    return f"gap_{dimension}"


def _score(name: str, side: str, dimension: str) -> FieldSpec:
    return FieldSpec(name, "survey", "float", "score 1-5",
                     f"Service quality the customer {side} on {dimension}: {_WHAT[dimension]}.",
                     **_SCALE)


SURVEY_FIELDS: tuple[FieldSpec, ...] = (
    FieldSpec("customer_id", "survey", "id", "-", "Account identifier of the customer."),
    FieldSpec("period", "survey", "id", "-",
              "Survey period the answers describe, e.g. 2026-Q3."),
    FieldSpec("channel", "survey", "category", "-", "Channel the survey was answered through.",
              choices=CHANNELS),
    *(_score(expected_column(d), "expects", d) for d in DIMENSIONS),
    *(_score(perceived_column(d), "perceives", d) for d in DIMENSIONS),
    FieldSpec("satisfaction", "survey", "float", "score 1-5",
              "Overall satisfaction with the power supply company's service.", **_SCALE),
)


def validate_surveys(frame: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``(accepted, rejects)`` of a survey frame; every input row lands in exactly one.

    Accepted rows carry the declared types plus ``gap_<dimension>``
    (perceived minus expected: below zero, the service falls short) and
    ``perceived_mean`` / ``expected_mean`` over the five dimensions.
    """
    accepted, rejects = validate_frame(frame, SURVEY_FIELDS)
    key = accepted[["customer_id", "period"]].astype(str)
    doubled = key.duplicated(keep="first").to_numpy()
    if doubled.any():
        rows = accepted.index[doubled]
        positions = frame.index.get_indexer(rows)
        again = pd.DataFrame({
            "row": positions.astype(np.int64),
            "customer_id": pd.array(accepted.loc[rows, "customer_id"].astype(str),
                                    dtype="string"),
            "field": pd.array(["period"] * len(rows), dtype="string"),
            "value": pd.array(accepted.loc[rows, "period"].astype(str), dtype="string"),
            "reason": pd.array([DUPLICATE] * len(rows), dtype="string"),
        })
        rejects = pd.concat([rejects, again], ignore_index=True).sort_values(
            "row", kind="mergesort", ignore_index=True)
        accepted = accepted[~doubled]
    accepted = accepted.copy()
    for d in DIMENSIONS:
        accepted[gap_column(d)] = accepted[perceived_column(d)] - accepted[expected_column(d)]
    accepted["perceived_mean"] = accepted[[perceived_column(d) for d in DIMENSIONS]].mean(axis=1)
    accepted["expected_mean"] = accepted[[expected_column(d) for d in DIMENSIONS]].mean(axis=1)
    accepted["customer_id"] = accepted["customer_id"].astype(str)
    accepted["period"] = accepted["period"].astype(str)
    return accepted, rejects


@dataclass(frozen=True)
class SurveyFile:
    """One survey file read and checked: the accepted rows and the rejects, with counts."""

    source: str
    surveys: pd.DataFrame
    rejects: pd.DataFrame
    rows_in: int

    @property
    def periods(self) -> list[str]:
        return sorted(self.surveys["period"].unique().tolist())

    def reading(self, rejects_file: str | Path) -> dict[str, object]:
        """What the report's "surveys read" table shows of this file."""
        return {"source": self.source, "rows_in": self.rows_in, "accepted": len(self.surveys),
                "rejected": self.rows_in - len(self.surveys), "rejects_file": str(rejects_file)}

    def text(self) -> str:
        return (f"{self.source}: {self.rows_in:,} rows in = {len(self.surveys):,} accepted + "
                f"{self.rows_in - len(self.surveys):,} rejected")


def survey_rejects_path(source: str | Path, out: str | Path) -> Path:
    """Where the rejects of one survey file go: beside ``out``, named after the source."""
    return Path(out).with_name(f"{Path(source).stem}.rejects.csv")


def read_surveys(path: str | Path, *, rejects_to: str | Path | None = None) -> SurveyFile:
    """Read a CSV or Parquet survey file, validate it and, if asked, write its rejects file.

    A file with no valid survey at all is refused: an evaluation of nothing
    would read as an evaluation.
    """
    frame = read_frame(path, text=True)
    try:
        surveys, rejects = validate_surveys(frame)
    except FrameError as exc:
        raise FrameError(f"{exc.message}; a survey file needs "
                         + ", ".join(f.name for f in SURVEY_FIELDS),
                         file=str(path), columns=getattr(exc, "columns", None)) from None
    if rejects_to is not None:
        write_frame(rejects, rejects_to)
    if not len(surveys):
        raise FrameError(f"no valid survey among {len(frame):,} rows"
                         + (f"; see {rejects_to}" if rejects_to is not None else ""),
                         file=str(path))
    return SurveyFile(str(path), surveys, rejects, len(frame))
