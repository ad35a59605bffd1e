"""Gradient-boosted trees ("hist_gbt"): scikit-learn's HistGradientBoosting on the engine's data.

`fit_trees` trains on `PreparedData` like `training.fit` does for networks. Prepare the
data with `preprocessing.categorical_encoding="embedding"` so categorical columns arrive
as integer codes that the trees split natively; with one-hot data every column is numeric.

Early stopping uses the engine's own validation rows (passed as `X_val`, so nothing is
split off the training rows): it ends when the validation loss has not improved for
`trees.early_stopping_rounds` iterations (scikit-learn keeps those last iterations). The
deadline is checked between warm-start increments of at most `increment` boosting
iterations; the first has `FIRST_STEP`, later ones as many as the pace so far says fit
in the time left, so a fit ends at most one increment past its deadline.
"""

from __future__ import annotations

import time
from contextlib import nullcontext
from dataclasses import dataclass
from typing import Literal

import numpy as np
from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor
from threadpoolctl import threadpool_limits

from .config import TaskSpec, TrainingConfig, TreeConfig
from .preprocess import PreparedData, Preprocessor
from .scores import score_predictions

TreeStopReason = Literal["early_stopping", "max_iter", "deadline"]
TreeEstimator = HistGradientBoostingClassifier | HistGradientBoostingRegressor
#: Most boosting iterations between two deadline checks.
INCREMENT = 25
#: With a deadline, the first increment: few enough to learn the pace cheaply.
FIRST_STEP = 5
#: Below this many matrix cells (rows x columns) trees fit and predict on one thread: for
#: small data OpenMP hand-offs cost more than they save, and on a busy machine spinning
#: workers can make a fit forty times slower.
SINGLE_THREAD_CELLS = 2**22


@dataclass
class TreeFitResult:
    """A fitted tree ensemble: `model` is the scikit-learn estimator (a `TrainedModel` takes it).

    `best_valid_score` is `task.metric` on the validation rows for the final model.
    `n_iter` is the rounds (or trees) the model keeps; `n_trained` those trained, when more
    (a library that keeps the best round trains `early_stopping_rounds` past it).
    """

    model: TreeEstimator
    preprocessor: Preprocessor
    best_valid_score: float
    n_iter: int
    stopped_reason: TreeStopReason
    seconds: float
    n_trained: int | None = None

    @property
    def pace_s(self) -> float:
        """Seconds per trained round (or tree)."""
        return self.seconds / max(self.n_trained or self.n_iter, 1)

    def predict_scores(self, X: np.ndarray) -> np.ndarray:
        """Class probabilities (rows x classes) or original-scale values for an encoded matrix."""
        return tree_scores(self.model, X, self.preprocessor)


def fit_trees(config: TrainingConfig, data: PreparedData, task: TaskSpec, *,
              deadline: float | None = None, increment: int = INCREMENT,
              rounds: int | None = None) -> TreeFitResult:
    """Boost trees with `config.trees` (defaults when null) on `data` until early stopping,
    `max_iter` or the `time.monotonic()` `deadline`.

    With `rounds`, boost exactly that many iterations without early stopping (a final
    refit, whose validation rows are among the training rows: nothing is left to stop on).
    With the deadline already past, one iteration is fitted so the result can predict.
    """
    started = time.monotonic()
    if len(data.y_train) == 0 or len(data.y_valid) == 0:
        raise ValueError("fit_trees needs training and validation rows: y_train or y_valid is empty")
    tree = config.trees or TreeConfig()
    estimator = make_estimator(config, data.preprocessor, task)
    X_val, y_val = _validation_rows(data, task)
    if rounds is not None:
        estimator.set_params(early_stopping=False)
        X_val = y_val = None
    with threads_for(data.X_train):
        reason = _boost(estimator, data, X_val, y_val, rounds or tree.max_iter, deadline,
                        increment)
    pre = data.preprocessor
    valid_scores = tree_scores(estimator, data.X_valid, pre)
    score = score_predictions(task, pre.decode_target(data.y_valid), valid_scores, pre.classes)
    return TreeFitResult(model=estimator, preprocessor=pre, best_valid_score=score,
                         n_iter=int(estimator.n_iter_), stopped_reason=reason,
                         seconds=time.monotonic() - started)


def tree_scores(estimator: TreeEstimator, X: np.ndarray, preprocessor: Preprocessor) -> np.ndarray:
    """Class probabilities in the preprocessor's class columns, or original-scale values."""
    X = np.asarray(X, dtype=np.float32)
    classes = preprocessor.classes
    if classes is None:
        if not len(X):
            return np.zeros(0)
        with threads_for(X):
            return preprocessor.decode_target(estimator.predict(X))
    proba = np.zeros((len(X), len(classes)))
    if len(X):  # the estimator's columns are the class ids it saw in training
        with threads_for(X):
            proba[:, np.asarray(estimator.classes_, dtype=np.int64)] = estimator.predict_proba(X)
    return proba


def _boost(estimator: TreeEstimator, data: PreparedData, X_val: np.ndarray | None,
           y_val: np.ndarray | None, max_iter: int, deadline: float | None, increment: int) -> TreeStopReason:
    """Warm-start `estimator` in increments until early stopping, `max_iter` or `deadline`."""
    started = time.monotonic()
    done, seconds_per_iter = 0, None
    while True:
        remaining = None if deadline is None else deadline - time.monotonic()
        if done and remaining is not None and remaining <= 0:
            return "deadline"
        step = increment
        if remaining is not None:  # first a few iterations to learn the pace, then what fits
            pace = seconds_per_iter or remaining / FIRST_STEP if remaining > 0 else None
            step = int(min(increment, max(1, remaining / pace))) if pace else 1
        target = min(max_iter, done + step)
        estimator.set_params(max_iter=target)
        estimator.fit(data.X_train, data.y_train, X_val=X_val, y_val=y_val)
        if estimator.n_iter_ < target:
            return "early_stopping"
        done = estimator.n_iter_
        seconds_per_iter = (time.monotonic() - started) / done
        if done >= max_iter:
            return "max_iter"


def make_estimator(config: TrainingConfig, preprocessor: Preprocessor,
                   task: TaskSpec) -> TreeEstimator:
    """The unfitted warm-start estimator for `config.trees`, with native categorical columns.

    Code columns (the preprocessor's "embedding" encoding) with at most `max_bins` levels
    are categorical; wider ones are split as numbers. Class weighting is "balanced".
    """
    tree = config.trees or TreeConfig()
    cards = preprocessor.categorical_cardinalities
    mask = np.zeros(preprocessor.n_features, dtype=bool)
    if cards:
        mask[-len(cards):] = np.asarray(cards) <= tree.max_bins
    common = {
        "learning_rate": tree.learning_rate, "max_leaf_nodes": tree.max_leaf_nodes,
        "min_samples_leaf": tree.min_samples_leaf, "l2_regularization": tree.l2_regularization,
        "max_bins": tree.max_bins, "categorical_features": mask if mask.any() else None,
        "warm_start": True, "early_stopping": True, "validation_fraction": None,
        "scoring": "loss", "n_iter_no_change": tree.early_stopping_rounds,
        "random_state": config.seed,
    }
    if task.is_classification:
        weights = "balanced" if config.class_weighting else None
        return HistGradientBoostingClassifier(class_weight=weights, **common)
    return HistGradientBoostingRegressor(**common)


def _validation_rows(data: PreparedData, task: TaskSpec) -> tuple[np.ndarray, np.ndarray]:
    """Validation rows for early stopping, without classes the training rows lack
    (the classifier cannot score a class it never saw)."""
    if not task.is_classification:
        return data.X_valid, data.y_valid
    known = np.isin(data.y_valid, np.unique(data.y_train))
    return data.X_valid[known], data.y_valid[known]


def threads_for(X: np.ndarray):
    """A context: one OpenMP thread for small matrices (see SINGLE_THREAD_CELLS), else no limit."""
    return threadpool_limits(1) if X.size < SINGLE_THREAD_CELLS else nullcontext()
