"""Extremely randomised trees ("extra_trees"): scikit-learn's ExtraTrees on the engine's data.

`fit_forest` trains on `PreparedData` like `trees.fit_trees` does for boosting, and returns
the same `TreeFitResult` (`n_iter` is the number of trees), so the search, the refit and
saved models treat both alike. A forest does not overfit as it grows, so there is no early
stopping: trees are added in warm-start increments until `config.forest.n_estimators` or
the deadline (checked between increments; each is sized by the pace so far).
"""

from __future__ import annotations

import time

from sklearn.ensemble import ExtraTreesClassifier, ExtraTreesRegressor

from .config import ForestConfig, TaskSpec, TrainingConfig
from .preprocess import PreparedData
from .scores import score_predictions
from .trees import TreeFitResult, threads_for, tree_scores

#: With a deadline, the first increment: few enough trees to learn the pace cheaply.
FIRST_TREES = 10


def fit_forest(config: TrainingConfig, data: PreparedData, task: TaskSpec, *,
               deadline: float | None = None, trees: int | None = None) -> TreeFitResult:
    """Grow `trees` (default `config.forest.n_estimators`) extremely randomised trees on
    `data`'s training rows, until that many or the `time.monotonic()` `deadline`; score
    the forest on the validation rows. At least one increment is grown."""
    started = time.monotonic()
    if len(data.y_train) == 0 or len(data.y_valid) == 0:
        raise ValueError("fit_forest needs training and validation rows: y_train or y_valid is empty")
    forest = config.forest or ForestConfig()
    target = trees or forest.n_estimators
    common = {"max_features": forest.max_features, "min_samples_leaf": forest.min_samples_leaf,
              "warm_start": True, "random_state": config.seed, "n_jobs": 1}
    if task.is_classification:
        estimator = ExtraTreesClassifier(
            class_weight="balanced" if config.class_weighting else None, **common)
    else:
        estimator = ExtraTreesRegressor(**common)
    reason, grown = "max_iter", 0
    with threads_for(data.X_train):
        while grown < target:
            remaining = None if deadline is None else deadline - time.monotonic()
            if grown and remaining is not None and remaining <= 0:
                reason = "deadline"
                break
            step = target - grown
            if remaining is not None:
                pace = (time.monotonic() - started) / grown if grown else None
                step = min(step, FIRST_TREES if pace is None else max(1, int(remaining / pace)))
            estimator.set_params(n_estimators=grown + step)
            estimator.fit(data.X_train, data.y_train)
            grown = len(estimator.estimators_)
    pre = data.preprocessor
    valid_scores = tree_scores(estimator, data.X_valid, pre)
    score = score_predictions(task, pre.decode_target(data.y_valid), valid_scores, pre.classes)
    return TreeFitResult(model=estimator, preprocessor=pre, best_valid_score=score, n_iter=grown,
                         stopped_reason=reason, seconds=time.monotonic() - started)
