"""Scoring a file of its own kind with a model trained on one (``gridcredit score``).

A model trained with ``train --data --spec`` embeds its spec and the master
scale it was governed on; the spec's indicators and population filter and
that scale are all it needs to score rows of the same kind of file, outside
the customer-record contract. The spec's conditions on the label are never
applied here: outcomes arrive after the rows are scored, and a label filter
only chooses what a model learns from.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from engine.errors import FrameError
from engine.scale import Band, assign
from engine.scoring.dataspec import apply_filter, label_filter_note
from engine.scoring.indicators import Catalogue, catalogue_from_doc, compute
from engine.scoring.model import ScoreModel
from engine.scoring.points import points_of

__all__ = [
    "ScoredFile",
    "describe_scale",
    "file_rows",
    "model_catalogue",
    "model_scale",
    "scale_for",
    "scale_record",
    "score_file",
    "unseen_note",
]


@dataclass(frozen=True)
class ScoredFile:
    """Rows scored, rows outside the model's population, and what the reader should know."""

    scored: pd.DataFrame
    rejects: pd.DataFrame
    bands: tuple[Band, ...]
    notes: tuple[str, ...] = ()


def model_catalogue(model: ScoreModel) -> Catalogue:
    """The indicator spec a file-trained artifact embeds, checked like a spec file."""
    spec = model.doc.get("data_spec")
    if spec is None:
        raise FrameError(f"model '{model.model_id}' ({model.path}) scores customer records, "
                         "not a file of its own kind: use 'gridcredit decide --input FILE'")
    return catalogue_from_doc(spec, f"{model.path} (data_spec)")


def scale_record(bands: Sequence[Band]) -> dict:
    """The master scale as an artifact stores it: where it came from and its bands."""
    return {"source": bands[0].file if bands else "",
            "bands": [{"grade": b.grade, "pd_from": b.lo, "pd_to": b.hi} for b in bands]}


def model_scale(model: ScoreModel) -> tuple[Band, ...] | None:
    """The master scale the model was trained and governed on, if the artifact stores it."""
    stored = model.doc.get("master_scale")
    if not stored:
        return None
    return tuple(Band(b["grade"], float(b["pd_from"]), float(b["pd_to"]),
                      file=stored.get("source", "")) for b in stored["bands"])


def describe_scale(bands: Sequence[Band]) -> str:
    """``AAA < 0.03 %, AA < 0.1 %, ..., C`` with where the scale comes from."""
    edges = ", ".join(f"{b.grade} < {b.hi:.4g}" for b in bands[:-1])
    where = f" ({bands[0].file})" if bands and bands[0].file else ""
    return f"{len(bands)} grades: {edges}, {bands[-1].grade}{where}" if bands else "no grades"


def scale_for(model: ScoreModel, given: Sequence[Band] | None,
              given_name: str = "the home's grade table") -> tuple[tuple[Band, ...], str]:
    """The scale to grade ``model``'s PDs with, and a warning when ``given`` disagrees.

    A model stores the scale it was governed on and is graded with it; a
    model that stores none (trained before scales were stored) uses ``given``.
    """
    own = model_scale(model)
    if own is None:
        if given is None:
            raise FrameError(f"model '{model.model_id}' stores no master scale; give --rules "
                             "with the grade table it was trained on")
        return tuple(given), ""
    if given is None or [(b.grade, b.lo, b.hi) for b in given] == [
            (b.grade, b.lo, b.hi) for b in own]:
        return own, ""
    return own, (f"warning: model '{model.model_id}' was governed on the master scale "
                 f"{describe_scale(own)}; {given_name} draws another, {describe_scale(given)}."
                 " Grading with the model's own scale; retrain the model to change it")


def unseen_note(counts: dict[str, tuple[int, int]], where: str = "") -> str:
    """One line naming, per indicator, the rows scored with the neutral WoE 0 for a value
    training never saw; empty when there are none."""
    if not counts:
        return ""
    parts = []
    for name, (category, missing) in counts.items():
        said = [f"{category:,} unseen categor{'y' if category == 1 else 'ies'}"] if category \
            else []
        said += [f"{missing:,} missing (training had none)"] if missing else []
        parts.append(f"{name} {' and '.join(said)}")
    return (f"{where}values training never saw, scored with the neutral WoE 0: "
            + "; ".join(parts))


def file_rows(model: ScoreModel, frame: pd.DataFrame,
              catalogue: Catalogue | None = None) -> tuple[pd.DataFrame, int, str]:
    """The rows of a file the model's population filter admits (label conditions aside).

    Returns the rows kept, how many the filter left out, and a note on the
    conditions on the label, which are not applied (empty when there are none).
    """
    catalogue = catalogue or model_catalogue(model)
    target = (model.doc.get("label") or {}).get("target") or model.doc.get("target")
    row_filter = catalogue.row_filter.without(target) if catalogue.row_filter else None
    kept, left_out = apply_filter(frame, row_filter, f"{model.path} (data_spec)")
    return kept, left_out, label_filter_note(frame, catalogue.row_filter, target)


def score_file(model: ScoreModel, frame: pd.DataFrame, bands: Sequence[Band] | None = None,
               *, scale_from: str = "the home's grade table") -> ScoredFile:
    """Score the rows of a file with the model trained on that kind of file.

    The result holds the rows the population filter admits with ``z``,
    ``pd``, ``grade`` and the top reasons appended, and the rows it does not,
    each with the reason: rows in = rows scored + rows rejected. Grades come
    from the model's own master scale; ``bands`` (named by ``scale_from``) is
    only compared with it, or used for a model that stores none.
    """
    catalogue = model_catalogue(model)
    scale, warning = scale_for(model, bands, scale_from)
    kept, _, note = file_rows(model, frame, catalogue)
    target = (model.doc.get("label") or {}).get("target")
    used = catalogue.row_filter.without(target) if catalogue.row_filter else None
    rejects = frame.loc[~frame.index.isin(kept.index)].assign(
        reason=f"outside the model's population ({used.describe()})" if used else "")
    values = compute(kept, catalogue, list(model.indicators))
    scored = model.score_frame(values).to_frame()
    scored.insert(2, "grade", np.array([b.grade for b in scale], dtype=object)[
        assign(scored["pd"].to_numpy(), scale)])
    points = points_of(model.doc)
    if points is not None:
        scored.insert(3, "points", points.of_pd(scored["pd"].to_numpy()).astype(np.int64))
    notes = tuple(n for n in (warning, note, unseen_note(model.unseen(values))) if n)
    return ScoredFile(pd.concat([kept, scored], axis=1), rejects, scale, notes)
