"""Out-of-time validation: train on the rows before a date, measure on the rows after it.

Cross-validation shuffles periods together, so it cannot show a model
losing its grip as customers and the economy move. Splitting at a date
answers the question a validator asks: would the model trained with what we
knew then have ranked and priced the customers who came later? The figures
here are measured on the later rows only, and every table says so.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from engine.errors import FrameError
from engine.modelops.calibration import grade_calibration
from engine.modelops.evaluation import band_table, markdown_table, metrics
from engine.modelops.labels import labelled_rows, labels
from engine.modelops.training import TrainingConfig, fit_registry, train_file
from engine.recordframe import validate_frame
from engine.scale import Band, assign
from engine.scoring import ScoreModel, compute, load_catalogue, read_spec

__all__ = ["OutOfTime", "oot_file", "oot_registry", "oot_report", "split_at"]


@dataclass(frozen=True)
class OutOfTime:
    """One model trained before ``date`` and measured on the rows from ``date`` on."""

    model_id: str
    date: str
    train_rows: int
    test_rows: int
    metrics: dict[str, float]
    bands: pd.DataFrame
    calibration: pd.DataFrame

    def population(self) -> str:
        return (f"measured on {self.test_rows:,} rows dated from {self.date} (out of time), "
                f"trained on {self.train_rows:,} earlier rows")


def split_at(frame: pd.DataFrame, column: str, date: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Rows dated before ``date`` and rows dated on or after it; refuses unusable dates."""
    try:
        cut = pd.Timestamp(dt.date.fromisoformat(date))
    except ValueError:
        raise FrameError(f"--oot-date {date!r} is not a date; use YYYY-MM-DD") from None
    if column not in frame.columns:
        raise FrameError(f"no date column '{column}' to split at {date}; name it with "
                         "--date-column", columns=[column])
    when = pd.to_datetime(frame[column], errors="coerce")
    bad = when.isna()
    if bad.any():
        first = frame.loc[bad, column].iloc[0]
        raise FrameError(f"date column '{column}': {int(bad.sum())} rows are not dates "
                         f"(first: {first!r})", columns=[column])
    before, after = frame[when < cut], frame[when >= cut]
    for name, part in (("before", before), ("from", after)):
        if part.empty:
            raise FrameError(f"no rows dated {name} {date} in '{column}' (dates run from "
                             f"{when.min().date()} to {when.max().date()})", columns=[column])
    return before, after


def _measure(model: ScoreModel, values: pd.DataFrame, y: np.ndarray, bands, *, date: str,
             train_rows: int) -> OutOfTime:
    scored = model.score_frame(values)
    if y.min() == y.max():
        raise FrameError(f"model '{model.model_id}': the rows from {date} hold no "
                         "defaults or no non-defaults; choose an earlier --oot-date")
    grades = np.array([b.grade for b in bands], dtype=object)[assign(scored.pd, bands)]
    return OutOfTime(model.model_id, date, train_rows, len(y),
                     metrics(y, scored.z, scored.pd), band_table(scored.pd, y, bands),
                     grade_calibration(grades, scored.pd, y, [b.grade for b in bands]))


def oot_file(frame: pd.DataFrame, *, target: str, spec: str | Path,
             bands: list[Band] | tuple[Band, ...], date: str, column: str,
             bad: str | None = None, config=None, segment: str = "model") -> OutOfTime:
    """Train one spec'd model on the earlier rows, measure it on the later ones.

    Both sides read the file through the spec's filter and label, so the
    later rows are the population the model was trained for.
    """
    before, after = split_at(frame, column, date)
    config = config or TrainingConfig(governance=False)
    result = train_file(before, target=target, spec=spec, bands=bands, bad=bad,
                        segment=segment, config=config)
    model = ScoreModel(result.artifact)
    catalogue = load_catalogue(spec)
    later = labelled_rows(after, catalogue, target=target, bad=bad, where=str(spec))
    values = compute(later.frame, catalogue, list(model.indicators))
    return _measure(model, values, later.y, bands, date=date,
                    train_rows=result.artifact["training"]["rows"])


def oot_registry(frame: pd.DataFrame, *, models_dir: str | Path, target: str,
                 bands: list[Band] | tuple[Band, ...], date: str, column: str = "as_of",
                 config=None) -> list[OutOfTime]:
    """Train every registry segment on the earlier records, measure each on the later ones."""
    before, after = split_at(frame, column, date)
    config = config or TrainingConfig(governance=False)
    results = fit_registry(before, models_dir=models_dir, target=target, bands=bands,
                           config=config)
    if target not in after.columns:
        raise FrameError(f"missing target column '{target}'", columns=[target])
    accepted, _ = validate_frame(after.drop(columns=[target]))
    y_all = labels(after.loc[accepted.index, target])
    klass = accepted["customer_class"].astype("string").to_numpy(dtype=object, na_value=None)
    spec = read_spec(models_dir)
    catalogue = load_catalogue(spec.catalogue_path)
    values = compute(accepted, catalogue)
    out = []
    for seg in spec.segments:
        mask = np.isin(klass, seg.customer_classes)
        model = ScoreModel(results[seg.segment].artifact)
        trained = results[seg.segment].artifact["training"]["rows"]
        out.append(_measure(model, values.loc[mask], y_all[mask], bands, date=date,
                            train_rows=trained))
    return out


def oot_report(runs: list[OutOfTime]) -> str:
    """Markdown of out-of-time runs, each headed with the population it was measured on."""
    sections = []
    for run in runs:
        m = run.metrics
        sections += [f"## {run.model_id}: out of time, {run.population()}",
                     f"AUC {m['auc']:.4f}, KS {m['ks']:.4f}, Gini {m['gini']:.4f}, "
                     f"Brier {m['brier']:.4f}",
                     markdown_table(run.bands), markdown_table(run.calibration)]
    return "\n\n".join(sections)
