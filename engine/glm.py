"""Regularised linear models with splines and interactions ("glm"): scikit-learn on the
engine's data.

On a few hundred rows a flexible model mostly fits noise, and a linear model is often
the one to beat: a plain one lost to no AutoML system by much on a 201-row regression.
`fit_glm` fits a penalised linear model (ridge regression; L2-penalised logistic
regression, multinomial for several classes) on a richer design than the raw columns:

- each numeric column with more distinct values than knots becomes a cubic B-spline basis
  (`glm.spline_knots` knots; 0 keeps the columns as they are), so a smooth non-linear
  effect costs a few coefficients; the spline extrapolates linearly past the training range;
- pairwise products of the numeric columns (`glm.interactions`), when there are at most
  `MAX_INTERACTION_COLUMNS` of them (their count grows with the square of the columns);
- categorical code columns (the preprocessor's "embedding" encoding) one-hot encoded.

Everything is standardised, then penalised by `glm.alpha`. One fit, no iterations to stop
early: the result is a `TreeFitResult` with one round, so the search, the refit, the
cross-fit and saved models treat it like a tree model.
"""

from __future__ import annotations

import time

import numpy as np
from sklearn.compose import ColumnTransformer
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import (
    OneHotEncoder,
    PolynomialFeatures,
    SplineTransformer,
    StandardScaler,
)

from .config import GlmConfig, TaskSpec, TrainingConfig
from .preprocess import PreparedData
from .scores import score_predictions
from .trees import TreeFitResult, tree_scores

#: Pairwise interactions only among at most this many numeric columns (190 products).
MAX_INTERACTION_COLUMNS = 20


def make_glm(config: TrainingConfig, X: np.ndarray, n_codes: int, task: TaskSpec) -> Pipeline:
    """The unfitted pipeline for `config.glm` over an encoded matrix like `X` whose last
    `n_codes` columns are categorical codes."""
    glm = config.glm or GlmConfig()
    n_numeric = X.shape[1] - n_codes
    numeric = list(range(n_numeric))
    distinct = [len(np.unique(X[:, j])) for j in numeric]
    curved = [j for j, d in zip(numeric, distinct, strict=True)
              if glm.spline_knots and d > glm.spline_knots]
    straight = [j for j in numeric if j not in curved]
    parts = []
    if curved:
        parts.append(("splines", SplineTransformer(n_knots=glm.spline_knots, degree=3,
                                                   extrapolation="linear"), curved))
    if straight:
        parts.append(("linear", "passthrough", straight))
    if glm.interactions and 2 <= n_numeric <= MAX_INTERACTION_COLUMNS:
        parts.append(("interactions", PolynomialFeatures(2, interaction_only=True,
                                                         include_bias=False), numeric))
    if n_codes:
        parts.append(("categories", OneHotEncoder(handle_unknown="ignore", sparse_output=False),
                      list(range(n_numeric, X.shape[1]))))
    design = ColumnTransformer(parts, remainder="drop", sparse_threshold=0.0)
    if task.is_classification:
        model = LogisticRegression(C=1.0 / glm.alpha, max_iter=glm.max_iter,
                                   class_weight="balanced" if config.class_weighting else None)
    else:
        model = Ridge(alpha=glm.alpha)
    return make_pipeline(design, StandardScaler(), model)


def fit_glm(config: TrainingConfig, data: PreparedData, task: TaskSpec, *,
            deadline: float | None = None) -> TreeFitResult:
    """Fit `config.glm` (defaults when null) on `data`'s training rows and score it on the
    validation rows. One fit: it runs even when the `time.monotonic()` `deadline` has
    passed (as every family trains at least one round), and its time is measured."""
    started = time.monotonic()
    if len(data.y_train) == 0 or len(data.y_valid) == 0:
        raise ValueError("fit_glm needs training and validation rows: y_train or y_valid is empty")
    pre = data.preprocessor
    X = np.asarray(data.X_train, dtype=np.float64)
    pipeline = make_glm(config, X, len(pre.categorical_cardinalities), task)
    pipeline.fit(X, data.y_train)
    valid_scores = tree_scores(pipeline, data.X_valid, pre)
    score = score_predictions(task, pre.decode_target(data.y_valid), valid_scores, pre.classes)
    return TreeFitResult(model=pipeline, preprocessor=pre, best_valid_score=score, n_iter=1,
                         stopped_reason="max_iter", seconds=time.monotonic() - started)
