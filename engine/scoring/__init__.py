"""The credit scorer at run time: indicators, the model artifact, its bins, the registry.

The public surface::

    catalogue = load_catalogue("models/indicators.yaml")   # or a data spec; ConfigError
    values = compute(frame, catalogue)          # one column per indicator, index kept
    model = ScoreModel.load("models/x.json")    # checked JSON artifact, or ModelError
    model.score_frame(values)                   # z, PD and reason codes per row
    registry = load_registry("models/")         # the model per customer segment
    score_file(model, frame, bands)             # a spec-trained model on its own kind of file

Scoring is bin lookup and a dot product, numpy only. Fitting, evaluating
and governing models are workflows: they live in ``engine.modelops`` and
this package never imports them. See ``docs/scorer.md``.
"""

from engine.scoring.dataspec import (
    Label,
    RowFilter,
    apply_filter,
    label_filter_note,
    read_filter,
    read_label,
)
from engine.scoring.files import (
    ScoredFile,
    describe_scale,
    file_rows,
    model_catalogue,
    model_scale,
    scale_for,
    scale_record,
    score_file,
    unseen_note,
)
from engine.scoring.indicators import (
    DIRECTIONS,
    RISK_GROUPS,
    TRANSFORMS,
    Catalogue,
    Indicator,
    catalogue_from_doc,
    compute,
    compute_one,
    load_catalogue,
)
from engine.scoring.model import (
    SCHEMA,
    SCHEMA_VERSION,
    TOP_REASONS,
    ReasonCode,
    Score,
    ScoredFrame,
    ScoreModel,
    bin_index,
    canonical_sha256,
)
from engine.scoring.onerecord import RecordScorer
from engine.scoring.registry import Registry, RegistrySpec, SegmentSpec, load_registry, read_spec
from engine.scoring.values import canonical

__all__ = [
    "DIRECTIONS",
    "RISK_GROUPS",
    "SCHEMA",
    "SCHEMA_VERSION",
    "TOP_REASONS",
    "TRANSFORMS",
    "Catalogue",
    "Indicator",
    "Label",
    "ReasonCode",
    "RecordScorer",
    "Registry",
    "RegistrySpec",
    "RowFilter",
    "Score",
    "ScoreModel",
    "ScoredFile",
    "ScoredFrame",
    "SegmentSpec",
    "apply_filter",
    "bin_index",
    "canonical",
    "canonical_sha256",
    "catalogue_from_doc",
    "compute",
    "compute_one",
    "describe_scale",
    "file_rows",
    "load_catalogue",
    "label_filter_note",
    "load_registry",
    "model_catalogue",
    "model_scale",
    "read_filter",
    "read_label",
    "read_spec",
    "scale_for",
    "scale_record",
    "score_file",
    "unseen_note",
]
