"""scorecardpy on the same stratified folds, for bench_germancredit.

Runs standalone (``python bench/peer_scorecardpy.py DATA TARGET BAD FOLDS SEED``)
and prints JSON, so that it can run in an interpreter of its own: scorecardpy
0.1.9.7 calls pandas APIs that pandas 3 removed. Binning is scorecardpy's
``woebin`` (tree method, its defaults) fitted on the training folds only, then
a logistic regression on the WoE, as its documentation shows.
"""

from __future__ import annotations

import json
import sys
import warnings


def run(data: str, target: str, bad: str, folds: int, seed: int) -> dict:
    import numpy as np
    import pandas as pd
    import scorecardpy as sc
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import StratifiedKFold

    frame = pd.read_csv(data)
    y = (frame[target].astype(str) == bad).astype(int).to_numpy()
    raw = frame.drop(columns=[target])
    aucs, briers = [], []
    split = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for tr, te in split.split(raw, y):
            fit = raw.iloc[tr].assign(_y=y[tr])
            bins = sc.woebin(fit, y="_y", print_step=0, ignore_datetime_cols=False)
            w_tr = sc.woebin_ply(raw.iloc[tr], bins, print_step=0)
            w_te = sc.woebin_ply(raw.iloc[te], bins, print_step=0)[w_tr.columns]
            p = LogisticRegression(max_iter=2000).fit(w_tr, y[tr]).predict_proba(w_te)[:, 1]
            aucs.append(float(roc_auc_score(y[te], p)))
            briers.append(float(np.mean((p - y[te]) ** 2)))
    return {"auc_folds": aucs, "brier_folds": briers, "pandas": pd.__version__,
            "scorecardpy": getattr(sc, "__version__", "")}


if __name__ == "__main__":
    data, target, bad, folds, seed = sys.argv[1:6]
    print(json.dumps(run(data, target, bad, int(folds), int(seed))))
