"""Scores: the common output of every model, the space ensembles average.

Classification scores are class probabilities (rows x classes, columns in the
preprocessor's `classes` order); regression scores are values on the target's original
scale (rows,).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from . import metrics
from .config import TaskSpec


def scores_to_predictions(scores: np.ndarray, classes: Sequence | None) -> np.ndarray:
    """Labels (the most probable class) from probabilities, or the values themselves."""
    if classes is None:
        return np.asarray(scores)
    return np.asarray(classes)[np.asarray(scores).argmax(axis=1)]


class PredictsFromScores:
    """`predict` and `predict_proba` for a model that has `predict_scores(rows)`, `classes`
    and `task`: the ensemble, the stack and the featured model answer alike."""

    def predict(self, df) -> np.ndarray:
        """Class labels or original-scale values for raw rows."""
        return scores_to_predictions(self.predict_scores(df), self.classes)

    def predict_proba(self, df) -> np.ndarray | None:
        """Class probabilities (rows x classes, in `classes` order); None for regression."""
        return self.predict_scores(df) if self.task.is_classification else None


def score_predictions(task: TaskSpec, y_true, scores: np.ndarray,
                      classes: Sequence | None) -> float:
    """`task.metric` of `scores` against original labels or values `y_true`."""
    predictions = scores_to_predictions(scores, classes)
    proba = scores if task.is_classification else None
    return metrics.score(task.metric, task.task_type, y_true, predictions, proba,
                         classes=None if classes is None else list(classes))
