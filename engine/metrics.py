"""Scores on original labels and scale: one metric (`score`), all that fit (`evaluate`).

Binary f1, precision, recall and roc_auc treat the second of the sorted classes as
positive (1, True, 'yes', '>50K', 'malignant' after 'benign'), matching column 1 of
`predict_proba`. Multiclass f1, precision, recall and roc_auc are macro averages (roc_auc
one-vs-rest; macro recall equals balanced accuracy). Precision with no positive predicted
is 0, which is what the trivial majority baseline scores when the positive class is the
minority. A score that is undefined (roc_auc when the true labels
hold one class) is NaN, which `is_better` never prefers.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence

import numpy as np
from sklearn import metrics as skm

from .config import (
    CLASSIFICATION_METRICS,
    LOWER_IS_BETTER,
    REGRESSION_METRICS,
    TaskSpec,
    TaskType,
)


def score(metric: str, task_type: TaskType, y_true, y_pred, proba=None, *,
          classes: Sequence | None = None) -> float:
    """Compute `metric` for predictions `y_pred` (labels or values) against `y_true`.

    `proba` (n_rows x n_classes, columns in `classes` order) is needed for roc_auc.
    `classes` defaults to the sorted labels seen in `y_true` and `y_pred`.
    """
    allowed = REGRESSION_METRICS if task_type == "regression" else CLASSIFICATION_METRICS
    if metric not in allowed:
        raise ValueError(
            f"metric '{metric}' does not fit a {task_type} task: use one of {sorted(allowed)}"
        )
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    if len(y_true) == 0:
        return math.nan
    if task_type == "regression":
        return _regression(metric, y_true.astype(float), y_pred.astype(float))
    if classes is None:
        classes = sorted(set(y_true.tolist()) | set(y_pred.tolist()), key=_sort_key)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # sklearn warns on labels missing from one side
        if metric == "accuracy":
            return float(skm.accuracy_score(y_true, y_pred))
        if metric == "balanced_accuracy":
            return float(skm.balanced_accuracy_score(y_true, y_pred))
        if metric in _PER_CLASS:
            return _per_class(metric, task_type, y_true, y_pred, list(classes))
    if proba is None:
        raise ValueError("roc_auc needs predicted class probabilities (proba)")
    return _roc_auc(y_true, np.asarray(proba, dtype=float), list(classes))


def evaluate(task: TaskSpec, y_true, y_pred, proba=None, *,
             classes: Sequence | None = None) -> dict[str, float]:
    """All metrics that fit `task`: accuracy, balanced_accuracy, f1, precision, recall and
    (with proba) roc_auc for classification; r2, rmse and mae for regression."""
    if task.is_classification:
        names = ["accuracy", "balanced_accuracy", "f1", "precision", "recall"] + (
            ["roc_auc"] if proba is not None else [])
    else:
        names = ["r2", "rmse", "mae"]
    return {m: score(m, task.task_type, y_true, y_pred, proba, classes=classes) for m in names}


def baseline_prediction(task: TaskSpec, y_train, n: int) -> np.ndarray:
    """What a model that ignores the features predicts for `n` rows: majority class or mean."""
    y_train = np.asarray(y_train)
    if task.is_classification:
        values, counts = np.unique(y_train, return_counts=True)
        return np.full(n, values[int(np.argmax(counts))], dtype=y_train.dtype)
    return np.full(n, float(np.mean(y_train.astype(float))))


def baseline_proba(y_train, n: int, classes: Sequence) -> np.ndarray:
    """The class probabilities of a model that ignores the features: the training rows'
    class shares (priors), the same for each of the `n` rows, columns in `classes` order.

    Its ROC AUC is 0.5 (every row gets the same score), so a classifier's roc_auc always
    has a baseline to beat.
    """
    y_train = np.asarray(y_train)
    counts = np.array([np.sum(y_train == c) for c in classes], dtype=float)
    priors = counts / counts.sum() if counts.sum() else np.full(len(classes), 1 / len(classes))
    return np.tile(priors, (n, 1))


def baseline_evaluate(task: TaskSpec, y_train, y_true, *,
                      classes: Sequence | None = None) -> dict[str, float]:
    """`evaluate` of the trivial baseline on `y_true`: every metric a model gets, roc_auc
    included (from the class priors), so the two can always be compared."""
    y_pred = baseline_prediction(task, y_train, len(y_true))
    proba = None
    if task.is_classification:
        classes = list(classes) if classes is not None else sorted(
            set(np.asarray(y_train).tolist()) | set(np.asarray(y_true).tolist()), key=_sort_key)
        proba = baseline_proba(y_train, len(y_true), classes)
    return evaluate(task, y_true, y_pred, proba, classes=classes)


def positive_class(labels) -> object:
    """The positive class of a binary target, as f1, precision, recall and roc_auc score
    it: the second of its sorted labels (1 of 0/1, True, 'yes', '>50K', 2 of 1/2)."""
    classes = sorted(set(np.asarray(labels).tolist()), key=_sort_key)
    if len(classes) != 2:
        raise ValueError(f"a positive class needs exactly two labels, got {len(classes)}")
    return classes[1]


def is_better(metric: str, a: float, b: float) -> bool:
    """True when score `a` is strictly better than `b` for `metric` (NaN is never better)."""
    if a is None or math.isnan(a):
        return False
    if b is None or math.isnan(b):
        return True
    return a < b if metric in LOWER_IS_BETTER else a > b


def _regression(metric: str, y_true: np.ndarray, y_pred: np.ndarray) -> float:
    if not np.all(np.isfinite(y_pred)):
        return math.nan
    if metric == "r2":
        if len(y_true) < 2:
            return math.nan
        return float(skm.r2_score(y_true, y_pred))
    if metric == "rmse":
        return float(np.sqrt(np.mean((y_true - y_pred) ** 2)))
    return float(np.mean(np.abs(y_true - y_pred)))


_PER_CLASS = {"f1": skm.f1_score, "precision": skm.precision_score, "recall": skm.recall_score}


def _per_class(metric: str, task_type: str, y_true: np.ndarray, y_pred: np.ndarray,
               classes: list) -> float:
    measure = _PER_CLASS[metric]
    if task_type == "binary" and len(classes) == 2:
        return float(measure(y_true, y_pred, pos_label=classes[1], average="binary",
                             labels=classes, zero_division=0))
    return float(measure(y_true, y_pred, average="macro", zero_division=0))


def _roc_auc(y_true: np.ndarray, proba: np.ndarray, classes: list) -> float:
    if proba.ndim == 1:
        proba = np.stack([1.0 - proba, proba], axis=1)
    if not np.all(np.isfinite(proba)):
        return math.nan
    columns = range(1, 2) if len(classes) == 2 else range(len(classes))
    aucs = []
    for j in columns:
        positive = y_true == classes[j]
        if positive.all() or not positive.any():
            continue  # one-vs-rest AUC is undefined for a class absent from (or all of) y_true
        aucs.append(skm.roc_auc_score(positive, proba[:, j]))
    return float(np.mean(aucs)) if aucs else math.nan


def _sort_key(value: object) -> tuple:
    return (0, value, "") if isinstance(value, int | float | np.number) else (1, 0, str(value))
