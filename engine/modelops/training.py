"""Training the scorer: monotone binning -> WoE -> Fisher LDA -> Platt calibration.

The pipeline is scikit-learn's (``BinningProcess`` then
``LinearDiscriminantAnalysis``); what is published is plain JSON that
``engine.scoring.model`` reproduces with numpy. Stratified k-fold cross-validation
gives honest metrics and the out-of-fold scores on which the PD calibration is
fitted; the governance check runs on those same out-of-fold PDs, so a model is
published only if it ranks customers it has not seen.
"""

from __future__ import annotations

import hashlib
import json
import platform
import shutil
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import optbinning
import pandas as pd
import sklearn
from sklearn.discriminant_analysis import LinearDiscriminantAnalysis
from sklearn.model_selection import StratifiedKFold
from sklearn.pipeline import Pipeline

from engine.errors import ConfigError, FrameError, closest
from engine.modelops.binning import AUTO_TRENDS, artifact_bins, fit_woe, make_pipeline, woe_frame
from engine.modelops.calibrator import METHODS, choose
from engine.modelops.evaluation import (
    band_table,
    check_governance,
    decile_table,
    governance_problems,
    metrics,
)
from engine.modelops.labels import labelled_rows, labels
from engine.modelops.modelcard import render
from engine.recordframe import validate_frame
from engine.scale import Band
from engine.scoring import (
    SCHEMA,
    SCHEMA_VERSION,
    Catalogue,
    canonical_sha256,
    compute,
    load_catalogue,
    read_spec,
    scale_record,
)

__all__ = [
    "TrainingConfig",
    "TrainingResult",
    "cross_validate",
    "data_sha256",
    "file_model_id",
    "fit_registry",
    "registry_model_id",
    "select_indicators",
    "train",
    "train_file",
    "train_registry",
    "write_model",
]



@dataclass(frozen=True)
class TrainingConfig:
    """Knobs of a training run; the defaults are those of the shipped models."""

    folds: int = 5
    seed: int = 42
    prior: float | None = None
    governance: bool = True
    version: str = "2026.11"
    model_id: str | None = None
    max_n_prebins: int = 20
    min_prebin_size: float = 0.01
    select: bool = True
    calibration: tuple[str, ...] = METHODS
    trend: str = "auto"
    points: dict[str, float] | None = None

    def __post_init__(self) -> None:
        if self.trend not in AUTO_TRENDS:
            raise ConfigError(f"trend '{self.trend}' for direction auto: use one of "
                              + ", ".join(AUTO_TRENDS), suggestion=closest(self.trend,
                                                                           AUTO_TRENDS))


@dataclass
class TrainingResult:
    """The published artifact plus what produced it (for tests, cards and benchmarks)."""

    artifact: dict[str, Any]
    pipeline: Pipeline
    oof_z: np.ndarray
    oof_pd: np.ndarray
    y: np.ndarray
    bands: pd.DataFrame
    deciles: pd.DataFrame
    folds: pd.DataFrame
    dropped: dict[str, str]


def select_indicators(x: pd.DataFrame, y: np.ndarray, catalogue: Catalogue,
                      config: TrainingConfig = TrainingConfig()) -> dict[str, str]:
    """Indicators to leave out of the model, with the reason for each.

    WoE is high where defaults are rare, so every LDA coefficient on WoE
    should be negative (higher z = riskier). An indicator whose binning finds
    a single bin carries no information; one whose coefficient comes out
    positive is being used against its own evidence because it overlaps with
    others, and would give customers reason codes that contradict their data.
    Both are dropped, the wrong-signed ones one at a time, largest first.
    Binning is per variable, so it is fitted once and only the LDA is refitted.
    """
    woe = fit_woe(make_pipeline(catalogue, config), x, y)
    dropped: dict[str, str] = {}
    for name in woe.columns:
        if np.ptp(woe[name].to_numpy()) == 0.0:
            dropped[name] = "a single bin: the indicator does not separate defaults here"
    while True:
        kept = [c for c in woe.columns if c not in dropped]
        if len(kept) <= 1:
            return dropped
        coef = LinearDiscriminantAnalysis(solver="lsqr").fit(woe[kept], y).coef_[0]
        worst = int(np.argmax(coef))
        if coef[worst] <= 0:
            return dropped
        dropped[kept[worst]] = (f"its coefficient ({coef[worst]:+.4f}) ran against its own "
                                "evidence, the information being carried by overlapping "
                                "indicators")


@contextmanager
def _quiet_binning() -> Iterator[None]:
    """Silence optbinning's own pandas deprecation warnings (they concern its internals)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", module=r"optbinning(\.|$)")
        yield


def cross_validate(x: pd.DataFrame, y: np.ndarray, catalogue: Catalogue,
                   config: TrainingConfig = TrainingConfig()) -> tuple[np.ndarray, pd.DataFrame]:
    """Out-of-fold discriminant scores and per-fold AUC / KS / Gini (stratified k-fold)."""
    folds = StratifiedKFold(n_splits=config.folds, shuffle=True, random_state=config.seed)
    oof = np.empty(len(y), dtype=np.float64)
    rows = []
    for k, (train_idx, test_idx) in enumerate(folds.split(np.zeros(len(y)), y), start=1):
        pipe = make_pipeline(catalogue, config).fit(x.iloc[train_idx], y[train_idx])
        oof[test_idx] = pipe.decision_function(x.iloc[test_idx])
        rows.append({"fold": k, **metrics(y[test_idx], oof[test_idx])})
    return oof, pd.DataFrame(rows)


def train(x: pd.DataFrame, y: np.ndarray, catalogue: Catalogue, *, segment: str,
          bands: list[Band] | tuple[Band, ...], target: str = "default_12m",
          config: TrainingConfig = TrainingConfig(), source: str = "",
          label: dict[str, Any] | None = None,
          extra: dict[str, Any] | None = None) -> TrainingResult:
    """Cross-validate, fit on all rows, calibrate, check governance, build the artifact.

    ``x`` holds the catalogue's indicators (as ``engine.scoring.indicators.compute``
    gives them) and ``y`` the 0/1 default label. Raises ``GovernanceError``
    when the out-of-fold default rate per band breaks the publication rule
    (unless ``config.governance`` is off).
    """
    with _quiet_binning():
        return _train(x, y, catalogue, segment=segment, bands=bands, target=target,
                      config=config, source=source, label=label, extra=extra)


def _train(x: pd.DataFrame, y: np.ndarray, catalogue: Catalogue, *, segment: str,
           bands: list[Band] | tuple[Band, ...], target: str,
           config: TrainingConfig, source: str, label: dict[str, Any] | None = None,
           extra: dict[str, Any] | None = None) -> TrainingResult:
    names = [i.name for i in catalogue]
    x = x[names]
    y = np.asarray(y, dtype=np.int64)
    counts = _label_counts(x, y, segment, config.folds)
    model_id = config.model_id or f"{segment}-{config.version}"
    dropped = select_indicators(x, y, catalogue, config) if config.select else {}
    if len(dropped) == len(names):
        raise FrameError(f"segment '{segment}': every indicator was left out, so there is no "
                         "model to train: " + "; ".join(f"{n}: {why}" for n, why in
                                                        dropped.items())
                         + ". Check the spec's sources and transforms, or add indicators")
    catalogue = catalogue.subset([n for n in names if n not in dropped])
    x = x[[i.name for i in catalogue]]
    oof_z, folds = cross_validate(x, y, catalogue, config)
    splits = StratifiedKFold(n_splits=config.folds, shuffle=True, random_state=config.seed)
    calibration, oof_pd, brier = choose(
        oof_z, y, list(splits.split(np.zeros(len(y)), y)), config.calibration)
    band_tab = band_table(oof_pd, y, bands)
    decile_tab = decile_table(oof_z, y)
    problems = governance_problems(band_tab)
    if config.governance:
        check_governance(band_tab, model_id=model_id)
    pipe = make_pipeline(catalogue, config).fit(x, y)
    woe = woe_frame(pipe, x)
    lda = pipe.named_steps["lda"]
    entries = _entries(pipe, catalogue, woe)
    oof = metrics(y, oof_z, oof_pd)
    doc: dict[str, Any] = {
        "schema": SCHEMA,
        "schema_version": SCHEMA_VERSION,
        "model_id": model_id,
        "segment": segment,
        "target": target,
        "label": label or {"target": target, "bad": ["1"], "good": ["0"],
                           "definition": f"{target} = 1 marks a default"},
        "indicators": entries,
        "dropped_indicators": dropped,
        "intercept": float(lda.intercept_[0]),
        "calibration": {
            "method": f"{calibration['kind']} on out-of-fold discriminant scores, chosen by "
                      "cross-fitted Brier score",
            **calibration, "heldout_brier": brier,
            "training_default_rate": float(y.mean()), "prior": config.prior,
        },
        "training": {
            "source": source, "rows": int(len(y)), "defaults": int(counts[1]),
            "data_sha256": data_sha256(x, y), "folds": config.folds, "seed": config.seed,
        },
        "cv_metrics": {
            **{f"{m}_mean": float(folds[m].mean()) for m in ("auc", "ks", "gini")},
            **{f"{m}_std": float(folds[m].std(ddof=1)) for m in ("auc", "ks", "gini")},
            "brier_oof": oof["brier"], "auc_oof": oof["auc"],
            "population": (f"out-of-fold predictions on the {len(y):,} training rows "
                           f"({config.folds}-fold stratified cross-validation, seed "
                           f"{config.seed}); PDs calibrated without the fold they score"),
            "folds": [{k: _num(v) for k, v in r.items()} for r in folds.to_dict("records")],
        },
        "bands": [{k: _num(v) for k, v in r.items()} for r in band_tab.to_dict("records")],
        "deciles": [{k: _num(v) for k, v in r.items()} for r in decile_tab.to_dict("records")],
        "governance": {"checked": config.governance, "passed": not problems,
                       "problems": problems},
        "versions": _versions(),
        **({"points": dict(config.points)} if config.points else {}),
        **(extra or {}),
    }
    if config.model_id is None:
        doc["model_id"] = (file_model_id(doc) if "data_spec" in doc
                           else registry_model_id(doc, config.version))
    return TrainingResult(doc, pipe, oof_z, oof_pd, y, band_tab, decile_tab, folds, dropped)


def _label_counts(x: pd.DataFrame, y: np.ndarray, segment: str, folds: int) -> np.ndarray:
    """Non-defaults and defaults, or ``FrameError`` when too few for the folds."""
    if len(y) != len(x):
        raise FrameError(f"{len(x)} indicator rows but {len(y)} labels")
    counts = np.bincount(y, minlength=2)
    if counts.min() < folds:
        raise FrameError(f"segment '{segment}': {counts[1]} defaults and {counts[0]} "
                         f"non-defaults; {folds}-fold training needs at least "
                         f"{folds} of each")
    return counts


def _entries(pipe: Any, catalogue: Catalogue, woe: pd.DataFrame) -> list[dict[str, Any]]:
    """The artifact's indicator entries: bins, mean WoE and LDA coefficient of each."""
    lda = pipe.named_steps["lda"]
    return [{
        "name": ind.name, "group": ind.group, "description": ind.description,
        "unit": ind.unit, "direction": ind.direction,
        **artifact_bins(pipe.named_steps["woe"], ind),
        "mean_woe": float(np.mean(woe.iloc[:, j].to_numpy())),
        "coefficient": float(lda.coef_[0, j]),
    } for j, ind in enumerate(catalogue)]


def registry_model_id(doc: dict[str, Any], version: str) -> str:
    """``<segment>-<version>-<10 hex>``: the id of a trained registry artifact.

    The version says which registry training it comes from; the digits come
    from the artifact's own content, so a model trained on another population
    (``make demo``'s, a retraining) never takes the id of the shipped one or
    of any other artifact, and the same inputs give the same id.
    """
    return f"{doc['segment']}-{version}-{canonical_sha256({**doc, 'model_id': ''})[:10]}"


def file_model_id(doc: dict[str, Any]) -> str:
    """``<segment>-<10 hex>``: the id of a file-trained artifact, from its own content.

    Two artifacts that differ in anything (data, settings, spec) get
    different ids, so a champion and its challenger can always be told apart;
    the same inputs give the same id. ``train --model-id`` names one instead.
    """
    return f"{doc['segment']}-{canonical_sha256({**doc, 'model_id': ''})[:10]}"


def _num(v: Any) -> Any:
    if isinstance(v, np.integer):
        return int(v)
    if isinstance(v, float | np.floating):
        return None if np.isnan(v) else round(float(v), 8)
    return v


def data_sha256(x: pd.DataFrame, y: np.ndarray) -> str:
    """Hash of the training indicators and labels (column names, values, order)."""
    h = hashlib.sha256()
    for col in x.columns:
        h.update(col.encode())
        values = x[col]
        if pd.api.types.is_numeric_dtype(values.dtype):
            h.update(np.ascontiguousarray(values.to_numpy(dtype=np.float64)).tobytes())
        else:
            h.update("\x1f".join("\x00" if v is None or v != v else str(v)
                                 for v in values.to_numpy(dtype=object)).encode())
    h.update(np.ascontiguousarray(np.asarray(y, dtype=np.int64)).tobytes())
    return h.hexdigest()


def _versions() -> dict[str, str]:
    return {"python": platform.python_version(), "numpy": np.__version__,
            "pandas": pd.__version__, "scikit-learn": sklearn.__version__,
            "optbinning": optbinning.__version__}


def write_model(result: TrainingResult, out_dir: str | Path, artifact: str) -> Path:
    """Write the JSON artifact and its markdown model card beside it."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    path = out / artifact
    path.write_text(json.dumps(result.artifact, indent=1, allow_nan=False) + "\n",
                    encoding="utf-8")
    path.with_suffix(".md").write_text(render(result.artifact), encoding="utf-8")
    return path


def fit_registry(frame: pd.DataFrame, *, models_dir: str | Path,
                 target: str = "default_12m", bands: list[Band] | tuple[Band, ...],
                 config: TrainingConfig | None = None,
                 source: str = "") -> dict[str, TrainingResult]:
    """Train every registry segment on a labelled customer frame; nothing is written."""
    spec = read_spec(models_dir)
    config = config or TrainingConfig(folds=spec.folds, seed=spec.seed, version=spec.version)
    if target not in frame.columns:
        raise FrameError(f"missing target column '{target}'", columns=[target])
    catalogue = load_catalogue(spec.catalogue_path)
    accepted, _rejects = validate_frame(frame.drop(columns=[target]))
    y = labels(frame.loc[accepted.index, target])
    values = compute(accepted, catalogue)
    klass = accepted["customer_class"].astype("string").to_numpy(dtype=object, na_value=None)
    results = {}
    for seg in spec.segments:
        mask = np.isin(klass, seg.customer_classes)
        names = catalogue.names(seg.segment)
        results[seg.segment] = train(values.loc[mask, names], y[mask], catalogue.subset(names),
                                     segment=seg.segment, bands=bands, target=target,
                                     config=config, source=source)
    return results


def train_registry(frame: pd.DataFrame, *, models_dir: str | Path,
                   out_dir: str | Path | None = None, target: str = "default_12m",
                   bands: list[Band] | tuple[Band, ...], config: TrainingConfig | None = None,
                   source: str = "") -> dict[str, TrainingResult]:
    """Train every registry segment on a labelled customer frame; publish all or none."""
    spec = read_spec(models_dir)
    results = fit_registry(frame, models_dir=models_dir, target=target, bands=bands,
                           config=config, source=source)
    out = Path(out_dir or spec.models_dir)
    for seg in spec.segments:
        write_model(results[seg.segment], out, seg.artifact)
    if out.resolve() != Path(spec.models_dir).resolve():
        shutil.copy(Path(spec.models_dir) / "registry.yaml", out / "registry.yaml")
        shutil.copy(spec.catalogue_path, out / spec.catalogue_path.name)
    return results


def train_file(frame: pd.DataFrame, *, target: str, spec: str | Path,
               bands: list[Band] | tuple[Band, ...], bad: str | None = None,
               segment: str = "model", config: TrainingConfig = TrainingConfig(),
               source: str = "") -> TrainingResult:
    """Train one model on any labelled frame described by an indicator spec.

    The spec's ``filter:`` chooses the rows (the count left out is recorded),
    its ``label:`` (or ``bad``) says what default means, and the spec itself
    is embedded in the artifact, with the master scale it was governed on, so
    the model can score and grade that kind of file alone.
    """
    catalogue = load_catalogue(spec)
    rows = labelled_rows(frame, catalogue, target=target, bad=bad, where=str(spec))
    values = compute(rows.frame, catalogue)
    extra = {"data_spec": {
        "schema": "gridcredit.indicators/1", "groups": list(catalogue.groups),
        **({"filter": catalogue.row_filter.source} if catalogue.row_filter else {}),
        "indicators": [i.spec() for i in catalogue]},
        "population": {"rows_in": rows.rows_in, "filtered_out": rows.filtered,
                       "filter": catalogue.row_filter.describe()
                       if catalogue.row_filter else None},
        "master_scale": scale_record(bands)}
    return train(values, rows.y, catalogue, segment=segment, bands=bands, target=target,
                 config=config, source=source, label=rows.label, extra=extra)
