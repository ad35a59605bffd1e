"""Stacking on small data: a second layer on the cross-fit's out-of-fold predictions.

AutoGluon's multi-layer stacking trains a second layer of models on the first layer's
out-of-fold predictions together with the original features. The cross-fit
(`crossfit.py`) already holds out-of-fold predictions of every bag on every row, so
`stack_bags` trains such a layer there: HistGradientBoosting on the encoded features plus
the best `MAX_MEMBERS` bags' out-of-fold scores (class probabilities or values). Its own
out-of-fold score comes from cross-validating it on new folds; it is kept only when that
beats both the best single bag and the greedy (Caruana) ensemble on the same rows (the
search's training rows, as the cross-fit scores its bags). Then it is trained on all rows.

At prediction time the members are the bags (each fold model averaged), as in every
stacked ensemble: the layer sees their predictions for rows none of them trained on.
A `StackModel` predicts, saves and loads like a `TrainedModel` (`TrainedModel.load` on
its directory returns it).
"""

from __future__ import annotations

import json
import pickle
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor

from . import metrics
from .config import LOWER_IS_BETTER, TaskSpec
from .crossfit import CrossFitResult, fold_indices
from .ensemble import EnsembleModel
from .predictor import STACK_FILE, TrainedModel
from .preprocess import PreparedData, Preprocessor
from .refit import SAFETY, all_rows
from .scores import PredictsFromScores, score_predictions
from .trees import threads_for, tree_scores

#: The second layer sees the out-of-fold scores of at most this many bags, best first.
MAX_MEMBERS = 4
#: Folds of the second layer's own cross-validation (new folds, not the bags').
FOLDS = 5
FORMAT_VERSION = 1


class StackModel(PredictsFromScores):
    """First-layer models and a second layer fitted on their scores plus the features.

    `members` predict scores from encoded rows (bags of fold models); `layer` is a fitted
    scikit-learn estimator on the encoded rows followed by the members' scores; the
    preprocessor encodes raw rows for both and decodes the layer's output.
    """

    def __init__(self, task: TaskSpec, preprocessor: Preprocessor,
                 members: Sequence[EnsembleModel | TrainedModel], layer):
        self.task, self.preprocessor = task, preprocessor
        self.members, self.layer = list(members), layer

    @property
    def models(self) -> list:
        """The first layer's models: what makes a stack a composite to compress."""
        return self.members

    @property
    def config(self):
        """The best member's config (for reports)."""
        return self.members[0].config

    @property
    def classes(self) -> list | None:
        """Class labels in the order of `predict_proba` columns; None for regression."""
        return self.preprocessor.classes

    def scores(self, X: np.ndarray) -> np.ndarray:
        """Probabilities or original-scale values for rows encoded by the preprocessor."""
        inputs = layer_inputs(X, [m.scores(X) for m in self.members])
        return tree_scores(self.layer, inputs, self.preprocessor)

    def predict_scores(self, df: pd.DataFrame) -> np.ndarray:
        """Probabilities (classification) or original-scale values for raw rows."""
        return self.scores(self.preprocessor.transform(df))

    def save(self, directory: str | Path) -> Path:
        """Write the members (`member_<i>/`), the layer and `stack.json` to `directory`."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        names = [f"member_{i}" for i in range(len(self.members))]
        for name, member in zip(names, self.members, strict=True):
            member.save(directory / name)
        with open(directory / "layer.pkl", "wb") as fh:
            pickle.dump(self.layer, fh)
        with open(directory / "preprocessor.pkl", "wb") as fh:
            pickle.dump(self.preprocessor, fh)
        (directory / "task.json").write_text(self.task.model_dump_json(indent=2))
        spec = {"format": FORMAT_VERSION, "members": names, "classes": self.classes,
                "layer": type(self.layer).__name__}
        (directory / STACK_FILE).write_text(json.dumps(spec, indent=2, default=str))
        return directory

    @classmethod
    def load(cls, directory: str | Path) -> StackModel:
        """Read a stack written by `save` (pickles run code: load only your own runs)."""
        directory = Path(directory)
        if not (directory / STACK_FILE).is_file():
            raise FileNotFoundError(f"no saved stack in '{directory}': pass a directory "
                                    "written by StackModel.save")
        spec = json.loads((directory / STACK_FILE).read_text())
        task = TaskSpec.model_validate_json((directory / "task.json").read_text())
        with open(directory / "layer.pkl", "rb") as fh:
            layer = pickle.load(fh)
        with open(directory / "preprocessor.pkl", "rb") as fh:
            preprocessor = pickle.load(fh)
        members = [TrainedModel.load(directory / name) for name in spec["members"]]
        return cls(task, preprocessor, members, layer)


@dataclass
class StackResult:
    """A kept stack, its out-of-fold score and what it was compared with."""

    model: StackModel
    score: float
    ensemble_score: float
    best_single_score: float
    members: list[int]
    seconds: float

    def summary(self) -> dict:
        """A JSON-able account (kept in the cross-fit's summary)."""
        return {"members": self.members, "score": self.score,
                "ensemble_score": self.ensemble_score,
                "best_single_score": self.best_single_score, "seconds": round(self.seconds, 3)}


def layer_inputs(X: np.ndarray, member_scores: Sequence[np.ndarray]) -> np.ndarray:
    """The encoded rows followed by each member's scores (a column per class, or one)."""
    parts = [np.asarray(X, dtype=np.float64)]
    parts += [np.asarray(s, dtype=np.float64).reshape(len(X), -1) for s in member_scores]
    return np.hstack(parts)


def stack_bags(chosen: CrossFitResult, data: PreparedData, task: TaskSpec, *, deadline: float,
               seed: int = 0) -> StackResult | None:
    """A second layer over the cross-fit's best bags, when its out-of-fold score beats the
    best single bag and the cross-fit's choice; None otherwise, or when it would not fit
    before the `time.monotonic()` `deadline` (estimated from the defaults bag's time)."""
    started = time.monotonic()
    bags = sorted((b for b in chosen.tried if np.isfinite(b.score)),
                  key=lambda b: b.score, reverse=task.metric not in LOWER_IS_BETTER)
    bags = bags[:MAX_MEMBERS]
    anchor = next((b for b in chosen.tried if b.entry.number < 0), None)
    if len(bags) < 2 or anchor is None:
        return None
    # the layer's cross-validation and final fit: about one bag of boosted trees more
    if anchor.seconds * (1 + 1 / FOLDS) * SAFETY > deadline - time.monotonic():
        return None
    rows = all_rows(data)
    pre = rows.preprocessor
    inputs = layer_inputs(rows.X_train, [b.oof for b in bags])
    oof = _cross_validated(inputs, rows.y_train, pre, task, seed, deadline)
    if oof is None:
        return None
    n_train = chosen.scored_rows
    y_scored = pre.decode_target(rows.y_train[:n_train])
    score = score_predictions(task, y_scored, oof[:n_train], pre.classes)
    if not (metrics.is_better(task.metric, score, chosen.score)
            and metrics.is_better(task.metric, score, chosen.best_single_score)):
        return None
    layer = _layer(pre, task, seed)
    with threads_for(inputs):
        layer.fit(inputs, rows.y_train)
    model = StackModel(task, pre, [b.model for b in bags], layer)
    return StackResult(model, score, chosen.score, chosen.best_single_score,
                       [b.entry.number for b in bags], time.monotonic() - started)


def _layer(pre: Preprocessor, task: TaskSpec, seed: int):
    """The second layer: HistGradientBoosting defaults, code columns split natively."""
    mask = np.zeros(pre.n_features, dtype=bool)
    cards = pre.categorical_cardinalities
    if cards:
        mask[pre.n_features - len(cards):] = np.asarray(cards) <= 255
    common = {"random_state": seed, "early_stopping": False,
              "categorical_features": np.flatnonzero(mask) if mask.any() else None}
    if task.is_classification:
        return HistGradientBoostingClassifier(**common)
    return HistGradientBoostingRegressor(**common)


def _cross_validated(inputs: np.ndarray, y: np.ndarray, pre: Preprocessor, task: TaskSpec,
                     seed: int, deadline: float) -> np.ndarray | None:
    """The layer's out-of-fold scores on every row (new folds); None past the deadline."""
    out = None
    for fold in fold_indices(y, task, seed + 101, FOLDS):
        if time.monotonic() > deadline:
            return None
        keep = np.ones(len(y), dtype=bool)
        keep[fold] = False
        layer = _layer(pre, task, seed)
        with threads_for(inputs):
            layer.fit(inputs[keep], y[keep])
        scores = tree_scores(layer, inputs[fold], pre)
        if out is None:
            out = np.zeros((len(y), *scores.shape[1:]))
        out[fold] = scores
    return out
