"""Model operations: train, evaluate, calibrate, monitor, stress and govern the scorer.

These are workflows over the run-time scorer (``engine.scoring``): they fit
artifacts with optbinning and scikit-learn, measure them on held-out, later
or current data, and write the cards and reports a reviewer reads. The
public surface::

    result = train_file(frame, target="y", spec="spec.yaml", bands=scale)   # TrainingResult
    write_model(result, "out/models", "mine.json")    # JSON artifact + model card
    train_registry(frame, models_dir="models/", bands=scale)   # every registry segment
    evaluate_registry(registry, frame, target="default_12m", bands=scale)
    monitor_model(model, scale, baseline, current)    # PSI, CSI, AUC/KS drift
    oot_file(frame, target="y", spec=..., bands=scale, date="2025-01-01", column="as_of")
    analyse_portfolio(frame, registry, scale)          # adverse shocks per risk group
    compare_models(champion, challenger, frame)   # DeLong-tested, logged, gated
    compare(registry, frame, y, scale); promote(models_dir, segment, database)
    init_spec(frame, target)                           # a starter spec for a new file
"""

from engine.modelops.binning import artifact_bins, fit_woe, make_pipeline, woe_frame
from engine.modelops.calibration import (
    CONFIDENCE,
    band_calibration,
    calibration_problems,
    grade_calibration,
)
from engine.modelops.challenger import compare, promote
from engine.modelops.comparison import (
    GATE,
    ModelComparison,
    compare_models,
    promote_file,
    promotion_basis,
    record_comparison,
    record_promotion,
)
from engine.modelops.evaluation import (
    RegistryEvaluation,
    SegmentEvaluation,
    band_table,
    check_governance,
    cross_validation_report,
    cv_summary,
    decile_table,
    delong,
    evaluate_registry,
    governance_problems,
    markdown_table,
    metrics,
)
from engine.modelops.labels import label_definition, labels
from engine.modelops.modelcard import render
from engine.modelops.monitoring import (
    BREACH,
    WATCH,
    Drift,
    MonitorResult,
    drift,
    level,
    monitor_frames,
    monitor_model,
    monitor_registry,
    outcomes,
    psi_table,
)
from engine.modelops.outoftime import OutOfTime, oot_file, oot_registry, oot_report, split_at
from engine.modelops.sensitivity import (
    SHOCKS,
    SensitivityResult,
    Shock,
    analyse,
    analyse_portfolio,
    shock_indicator,
    write_sensitivity,
)
from engine.modelops.specinit import init_spec
from engine.modelops.training import (
    TrainingConfig,
    TrainingResult,
    cross_validate,
    data_sha256,
    fit_registry,
    select_indicators,
    train,
    train_file,
    train_registry,
    write_model,
)

__all__ = [
    "BREACH",
    "CONFIDENCE",
    "GATE",
    "SHOCKS",
    "WATCH",
    "Drift",
    "ModelComparison",
    "MonitorResult",
    "OutOfTime",
    "RegistryEvaluation",
    "SegmentEvaluation",
    "SensitivityResult",
    "Shock",
    "TrainingConfig",
    "TrainingResult",
    "analyse",
    "analyse_portfolio",
    "artifact_bins",
    "band_calibration",
    "band_table",
    "calibration_problems",
    "check_governance",
    "compare",
    "compare_models",
    "cross_validate",
    "cross_validation_report",
    "cv_summary",
    "data_sha256",
    "decile_table",
    "delong",
    "drift",
    "evaluate_registry",
    "fit_registry",
    "fit_woe",
    "governance_problems",
    "grade_calibration",
    "init_spec",
    "label_definition",
    "labels",
    "level",
    "make_pipeline",
    "markdown_table",
    "metrics",
    "monitor_frames",
    "monitor_model",
    "monitor_registry",
    "oot_file",
    "oot_registry",
    "oot_report",
    "outcomes",
    "promote",
    "promote_file",
    "promotion_basis",
    "psi_table",
    "record_comparison",
    "record_promotion",
    "render",
    "select_indicators",
    "shock_indicator",
    "split_at",
    "train",
    "train_file",
    "train_registry",
    "woe_frame",
    "write_sensitivity",
    "write_model",
]
