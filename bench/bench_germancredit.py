"""German credit (UCI Statlog): our WoE-LDA against logistic regression and optbinning's Scorecard.

All three are measured with the same 5 stratified folds (seed 42) on the
1,000 applicants in ``tests/data/germancredit.csv``; the figure that matters
is the AUC gap, which must stay within 0.01.
"""

from __future__ import annotations

import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
from optbinning import BinningProcess, Scorecard
from sklearn.compose import ColumnTransformer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import StratifiedKFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from engine.config import EngineConfig
from engine.decider import load_tables
from engine.scoring.indicators import compute, load_catalogue
from engine.scoring.training import TrainingConfig, labels, train

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "tests" / "data" / "germancredit.csv"
SPEC = ROOT / "tests" / "data" / "germancredit-indicators.yaml"
FOLDS, SEED = 5, 42


def _cv_auc(fit_score, x: pd.DataFrame, y: np.ndarray) -> float:
    folds = StratifiedKFold(n_splits=FOLDS, shuffle=True, random_state=SEED)
    aucs = []
    for tr, te in folds.split(x, y):
        aucs.append(roc_auc_score(y[te], fit_score(x.iloc[tr], y[tr], x.iloc[te])))
    return float(np.mean(aucs))


def _logistic(xtr, ytr, xte):
    cats = [c for c in xtr.columns if not pd.api.types.is_numeric_dtype(xtr[c])]
    nums = [c for c in xtr.columns if c not in cats]
    pre = ColumnTransformer([("num", StandardScaler(), nums),
                             ("cat", OneHotEncoder(handle_unknown="ignore"), cats)])
    model = make_pipeline(pre, LogisticRegression(max_iter=2000)).fit(xtr, ytr)
    return model.predict_proba(xte)[:, 1]


def _scorecard(xtr, ytr, xte):
    cats = [c for c in xtr.columns if not pd.api.types.is_numeric_dtype(xtr[c])]
    card = Scorecard(binning_process=BinningProcess(list(xtr.columns),
                                                    categorical_variables=cats),
                     estimator=LogisticRegression(max_iter=2000))
    card.fit(xtr, ytr)
    return card.predict_proba(xte)[:, 1]


def run(results: Path, quick: bool = False) -> dict:
    frame = pd.read_csv(DATA)
    y = labels(frame["creditability"], "bad")
    raw = frame.drop(columns=["creditability"])
    catalogue = load_catalogue(SPEC)
    scale = load_tables(EngineConfig.at(ROOT)).scale
    started = time.perf_counter()
    ours = train(compute(frame, catalogue), y, catalogue, segment="germancredit", bands=scale,
                 config=TrainingConfig(folds=FOLDS, seed=SEED, governance=False))
    ours_seconds = time.perf_counter() - started
    ours_auc = ours.artifact["cv_metrics"]["auc_mean"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        logistic_auc = _cv_auc(_logistic, raw, y)
        scorecard_auc = _cv_auc(_scorecard, raw, y)
    return {
        "rows": len(y),
        "folds": FOLDS,
        "seed": SEED,
        "auc_woe_lda": round(ours_auc, 4),
        "auc_logistic_raw": round(logistic_auc, 4),
        "auc_optbinning_scorecard": round(scorecard_auc, 4),
        "gap_vs_logistic": round(ours_auc - logistic_auc, 4),
        "gap_vs_scorecard": round(ours_auc - scorecard_auc, 4),
        "within_0_01": bool(abs(ours_auc - logistic_auc) <= 0.01
                            and abs(ours_auc - scorecard_auc) <= 0.01),
        "indicators_kept": len(ours.artifact["indicators"]),
        "indicators_dropped": sorted(ours.dropped),
        "woe_lda_train_seconds": round(ours_seconds, 2),
        "reference_auc": {"woe_lda": 0.784, "scorecard": 0.784, "logistic_raw": 0.781},
    }
