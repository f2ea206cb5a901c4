"""Scoring a file of its own kind with a model trained on one (``gridcredit score``).

A model trained with ``train --data --spec`` embeds its spec; the spec's
indicators and population filter are all it needs to score rows of the same
kind of file, outside the customer-record contract.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from engine.errors import FrameError
from engine.scale import assign
from engine.scoring.dataspec import apply_filter
from engine.scoring.indicators import Catalogue, catalogue_from_doc, compute
from engine.scoring.model import ScoreModel

__all__ = ["model_catalogue", "score_file"]


def model_catalogue(model: ScoreModel) -> Catalogue:
    """The indicator spec a file-trained artifact embeds, checked like a spec file."""
    spec = model.doc.get("data_spec")
    if spec is None:
        raise FrameError(f"model '{model.model_id}' ({model.path}) scores customer records, "
                         "not a file of its own kind: use 'gridcredit decide --input FILE'")
    return catalogue_from_doc(spec, f"{model.path} (data_spec)")


def score_file(model: ScoreModel, frame: pd.DataFrame, bands: Any) -> tuple[pd.DataFrame,
                                                                      pd.DataFrame]:
    """Score the rows of a file with the model trained on that kind of file.

    Returns ``(scored, rejects)``: the rows the training filter admits with
    ``z``, ``pd``, ``grade`` and the top reasons appended, and the rows it
    does not, each with the reason. Rows in = rows scored + rows rejected.
    """
    catalogue = model_catalogue(model)
    kept, _ = apply_filter(frame, catalogue.row_filter, f"{model.path} (data_spec)")
    rejects = frame.loc[~frame.index.isin(kept.index)].assign(
        reason=f"outside the model's population ({catalogue.row_filter.describe()})"
        if catalogue.row_filter else "")
    values = compute(kept, catalogue, list(model.indicators))
    scored = model.score_frame(values).to_frame()
    scored.insert(2, "grade", np.array([b.grade for b in bands], dtype=object)[
        assign(scored["pd"].to_numpy(), bands)])
    return pd.concat([kept, scored], axis=1), rejects
