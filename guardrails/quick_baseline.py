"""A quick boosted-tree baseline, cross-validated: what the data supports at a glance.

The critic compares a stated goal with it (`goal_checks`), and a near-perfect single
column with what all the others score together (`data_checks`). It is the only part of the
critic that needs scikit-learn, so it lives apart: `mlpilot plan` loads scikit-learn only
when a check gets this far.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
from sklearn import metrics as skm
from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor
from sklearn.model_selection import KFold, StratifiedKFold
from threadpoolctl import threadpool_limits

from mlpilot.guardrails.data_checks import CV_FOLDS, _codes, _tree_input

#: The quick model sees at most this many rows.
GOAL_SAMPLE_ROWS = 3000


def quick_baseline(data: pd.DataFrame, target: str, task_type: str, metric: str, seed: int = 0
                   ) -> tuple[float, float, int]:
    """(score, standard error across folds, rows used) of boosted trees, cross-validated."""
    if len(data) > GOAL_SAMPLE_ROWS:
        data = data.sample(GOAL_SAMPLE_ROWS, random_state=seed)
    x = np.hstack([_tree_input(data[c]) for c in data.columns if c != target])
    classification = task_type != "regression"
    # Small tables need small leaves, or the trees barely split (33 rows, default leaf 20).
    shape = {"max_iter": 40, "learning_rate": 0.2, "random_state": seed,
             "min_samples_leaf": int(np.clip(len(data) // 100, 2, 20))}
    if classification:
        y = _codes(data[target])
        model = HistGradientBoostingClassifier(**shape)
        stratify = np.bincount(y).min() >= CV_FOLDS
        folds = (StratifiedKFold if stratify else KFold)(CV_FOLDS, shuffle=True, random_state=seed)
    else:
        y = data[target].to_numpy(dtype=float)
        model = HistGradientBoostingRegressor(**shape)
        folds = KFold(CV_FOLDS, shuffle=True, random_state=seed)
    scores = []
    # One thread: on a busy machine OpenMP's spinning threads make it 100x slower.
    with warnings.catch_warnings(), threadpool_limits(limits=1, user_api="openmp"):
        warnings.simplefilter("ignore")
        for train, test in folds.split(x, y):
            try:
                model.fit(x[train], y[train])
                proba = model.predict_proba(x[test]) if classification else None
                scores.append(_score(metric, task_type, y[test], model.predict(x[test]), proba,
                                     model.classes_ if classification else None))
            except (ValueError, IndexError):  # a fold with one class: no score from it
                continue
    scores = np.array([s for s in scores if np.isfinite(s)])
    if len(scores) == 0:
        return float("nan"), 0.0, len(data)
    error = float(scores.std(ddof=1) / np.sqrt(len(scores))) if len(scores) > 1 else 0.0
    return float(scores.mean()), error, len(data)


def _score(metric: str, task_type: str, y, pred, proba, classes) -> float:
    if metric == "accuracy":
        return skm.accuracy_score(y, pred)
    if metric == "balanced_accuracy":
        return skm.balanced_accuracy_score(y, pred)
    if metric in ("f1", "precision", "recall"):
        measure = {"f1": skm.f1_score, "precision": skm.precision_score,
                   "recall": skm.recall_score}[metric]
        if task_type == "binary":  # the second sorted class is positive, as in the engine
            return measure(y, pred, pos_label=1, zero_division=0)
        return measure(y, pred, average="macro", zero_division=0)
    if metric == "roc_auc":
        if len(np.unique(y)) < 2:
            return float("nan")
        if task_type == "binary":
            return skm.roc_auc_score(y, proba[:, 1])
        full = np.zeros((len(y), int(max(classes.max(), y.max())) + 1))
        full[:, classes] = proba
        present = np.unique(y)
        return float(np.mean([skm.roc_auc_score(y == c, full[:, c]) for c in present]))
    if metric == "r2":
        return skm.r2_score(y, pred)
    if metric == "rmse":
        return float(np.sqrt(skm.mean_squared_error(y, pred)))
    if metric == "mae":
        return skm.mean_absolute_error(y, pred)
    raise ValueError(f"unknown metric {metric!r}")
