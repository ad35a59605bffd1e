"""Greedy ensemble selection (Caruana et al. 2004) and the ensemble as one deployable model.

`select_ensemble` picks weights for candidate models from their validation scores (see
`scores.py`: probabilities or original-scale values); `EnsembleModel` combines the
`TrainedModel`s it chose with those weights and predicts, saves and loads like one.

Candidates' validation predictions must be for the same rows in the same order: models
prepared with the same `seed`, `validation_fraction` and `test_fraction` on the same
table have the same split, whatever their preprocessing.
"""

from __future__ import annotations

import json
import math
import pickle
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from . import metrics
from .config import TaskSpec
from .predictor import ENSEMBLE_FILE, TrainedModel
from .preprocess import sorted_classes
from .scores import PredictsFromScores, score_predictions

FORMAT_VERSION = 1


@dataclass
class Ensemble:
    """Chosen candidates (`members`, indices into the candidate list) and their weights.

    `weights` are in `members` order and sum to 1; `score` is `task.metric` of the
    weighted average on the validation rows, never worse than `best_single_score`.
    """

    members: list[int]
    weights: list[float]
    score: float
    best_single: int
    best_single_score: float

    def combine(self, predictions: Sequence[np.ndarray]) -> np.ndarray:
        """The weighted average of the members' scores, given every candidate's scores."""
        return sum(w * np.asarray(predictions[m], dtype=np.float64)
                   for m, w in zip(self.members, self.weights, strict=True))


def select_ensemble(valid_predictions: Sequence[np.ndarray], y_valid, task: TaskSpec,
                    max_size: int = 20, *, classes: Sequence | None = None) -> Ensemble:
    """Caruana's greedy selection with replacement over candidates' validation scores.

    Starts from the best single candidate, then repeatedly adds (again, if it helps) the
    candidate whose addition most improves `task.metric` of the average, until nothing
    improves or the ensemble has `max_size` picks; weights are the pick counts over their sum.

    Args:
        valid_predictions: per candidate, probabilities (rows x classes) or values (rows,).
        y_valid: the validation rows' true labels or original-scale values.
        task: gives the metric and whether to average probabilities or values.
        max_size: most picks (with repeats).
        classes: labels of the probability columns; default the sorted labels of `y_valid`.

    Raises ValueError when there are no candidates, shapes differ, or no candidate has a
    finite score.
    """
    if not valid_predictions:
        raise ValueError("select_ensemble needs at least one candidate's validation predictions")
    preds = [np.asarray(p, dtype=np.float64) for p in valid_predictions]
    if any(p.shape != preds[0].shape for p in preds):
        shapes = sorted({p.shape for p in preds})
        raise ValueError(f"candidates' validation predictions differ in shape {shapes}: "
                         "predict the same validation rows with every candidate")
    classes = _classes(preds[0], y_valid, task, classes)

    def score(p: np.ndarray) -> float:
        return score_predictions(task, y_valid, p, classes)

    singles = [score(p) for p in preds]
    best = _best_index(task.metric, singles)
    if best is None:
        raise ValueError("no candidate has a finite validation score: nothing to ensemble")
    counts = np.zeros(len(preds), dtype=np.int64)
    counts[best] = 1
    total, current = preds[best].copy(), singles[best]
    while counts.sum() < max_size:
        n = counts.sum() + 1
        trials = [score((total + p) / n) for p in preds]
        pick = _best_index(task.metric, trials)
        if pick is None or not metrics.is_better(task.metric, trials[pick], current):
            break
        counts[pick] += 1
        total += preds[pick]
        current = trials[pick]
    members = [int(i) for i in np.flatnonzero(counts)]
    weights = [float(counts[i] / counts.sum()) for i in members]
    return Ensemble(members=members, weights=weights, score=float(current),
                    best_single=int(best), best_single_score=float(singles[best]))


class EnsembleModel(PredictsFromScores):
    """Trained models combined by weights; predicts, saves and loads like a `TrainedModel`.

    Classification averages the members' class probabilities; regression their values.
    A saved ensemble is a directory with `ensemble.json` (weights, member folders),
    `task.json`, and one `member_<i>/` per member written by `TrainedModel.save`;
    `TrainedModel.load` on it returns an `EnsembleModel`.
    """

    def __init__(self, models: Sequence[TrainedModel], weights: Sequence[float]):
        if not models or len(models) != len(weights):
            raise ValueError(f"an ensemble needs one weight per model: got {len(models)} models "
                             f"and {len(weights)} weights")
        if any(m.task.task_type != models[0].task.task_type or m.classes != models[0].classes
               for m in models):
            raise ValueError("ensemble members must share the task type and classes")
        total = float(sum(weights))
        if not total > 0 or any(w < 0 for w in weights):
            raise ValueError(f"ensemble weights must be >= 0 with a positive sum: got {weights}")
        self.models = list(models)
        self.weights = [float(w) / total for w in weights]
        self.task = models[0].task

    @classmethod
    def from_selection(cls, candidates: Sequence[TrainedModel], ensemble: Ensemble) -> EnsembleModel:
        """The ensemble `select_ensemble` chose, from the same candidate list."""
        return cls([candidates[i] for i in ensemble.members], ensemble.weights)

    @property
    def config(self):
        """The config of the member with the largest weight (for reports)."""
        return self.models[int(np.argmax(self.weights))].config

    @property
    def classes(self) -> list | None:
        """Class labels in the order of `predict_proba` columns; None for regression."""
        return self.models[0].classes

    def scores(self, X: np.ndarray) -> np.ndarray:
        """Like `predict_scores`, for rows encoded by the members' (shared) preprocessor."""
        return sum(w * np.asarray(m.scores(X), dtype=np.float64)
                   for m, w in zip(self.models, self.weights, strict=True))

    def predict_scores(self, df: pd.DataFrame) -> np.ndarray:
        """Weighted average of the members' probabilities (classification) or values.

        Rows are encoded once per distinct preprocessor: the fold models of a bag share one.
        """
        return self._weighted_scores(df, {})

    def _weighted_scores(self, df: pd.DataFrame, encoded: dict[int, np.ndarray]) -> np.ndarray:
        total = None
        for model, weight in zip(self.models, self.weights, strict=True):
            if isinstance(model, EnsembleModel):
                scores = model._weighted_scores(df, encoded)
            else:
                key = id(model.preprocessor)
                if key not in encoded:
                    encoded[key] = model.preprocessor.transform(df)
                scores = model.scores(encoded[key])
            part = weight * np.asarray(scores, dtype=np.float64)
            total = part if total is None else total + part
        return total

    def save(self, directory: str | Path) -> Path:
        """Write the ensemble to `directory` (created if needed) and return its path."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        names = [f"member_{i}" for i in range(len(self.models))]
        for name, model in zip(names, self.models, strict=True):
            model.save(directory / name)
        (directory / "task.json").write_text(self.task.model_dump_json(indent=2))
        spec = {"format": FORMAT_VERSION, "members": names, "weights": self.weights,
                "classes": self.classes}
        (directory / ENSEMBLE_FILE).write_text(json.dumps(spec, indent=2, default=str))
        return directory

    @classmethod
    def load(cls, directory: str | Path) -> EnsembleModel:
        """Read an ensemble written by `save` (on the CPU)."""
        directory = Path(directory)
        if not (directory / ENSEMBLE_FILE).is_file():
            raise FileNotFoundError(
                f"no saved ensemble in '{directory}': pass a directory written by "
                "EnsembleModel.save"
            )
        spec = json.loads((directory / ENSEMBLE_FILE).read_text())
        ensemble = cls([TrainedModel.load(directory / name) for name in spec["members"]],
                       spec["weights"])
        ensemble._share_preprocessors()
        return ensemble

    def _leaves(self) -> list[TrainedModel]:
        return [leaf for m in self.models
                for leaf in (m._leaves() if isinstance(m, EnsembleModel) else [m])]

    def _share_preprocessors(self) -> None:
        """Members saved with equal preprocessors (a bag's fold models) share one again, so
        `predict_scores` encodes the rows once for them."""
        shared: dict[bytes, object] = {}
        for leaf in self._leaves():
            leaf.preprocessor = shared.setdefault(pickle.dumps(leaf.preprocessor),
                                                  leaf.preprocessor)


def _classes(first: np.ndarray, y_valid, task: TaskSpec, classes: Sequence | None) -> list | None:
    if not task.is_classification:
        if first.ndim != 1:
            raise ValueError("regression candidates must predict one value per row")
        return None
    classes = list(classes) if classes is not None else sorted_classes(pd.Series(y_valid))
    if first.ndim != 2 or first.shape[1] != len(classes):
        raise ValueError(
            f"classification candidates must predict rows x {len(classes)} probabilities "
            f"(got shape {first.shape}): pass classes= with the probability columns' labels"
        )
    return classes


def _best_index(metric: str, scores: Sequence[float]) -> int | None:
    """Index of the best finite score (the first among ties); None when none is finite."""
    best = None
    for i, value in enumerate(scores):
        if math.isfinite(value) and (best is None or metrics.is_better(metric, value, scores[best])):
            best = i
    return best
