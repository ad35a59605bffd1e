"""Boosted trees of LightGBM, XGBoost and CatBoost ("lightgbm", "xgboost", "catboost").

`fit_booster` trains on `PreparedData` like `trees.fit_trees` does for scikit-learn's
boosting, and returns the same `TreeFitResult` (`n_iter` is the rounds kept), so the
search, the refit, the cross-fit and saved models treat every tree model alike.

- Early stopping on the engine's own validation rows: training ends when the library's
  validation loss has not improved for `booster.early_stopping_rounds` rounds, and the
  model keeps the best round.
- The deadline: a callback each library calls after every round stops training once the
  `time.monotonic()` deadline has passed (at least one round is trained), keeping the best
  round so far.
- Categorical columns: code columns (the preprocessor's "embedding" encoding) are split
  natively: LightGBM's `categorical_feature`, XGBoost's categorical feature types, and
  CatBoost's `cat_features` (with its ordered target statistics).
- With `rounds`, exactly that many rounds are trained without early stopping (a refit,
  whose validation rows are among its training rows).

The fitted model is a `BoostedModel`: it pickles with `TrainedModel.save` and predicts
through `trees.tree_scores` like a scikit-learn estimator. The libraries are imported
when a model is trained or loaded, not with the engine.
"""

from __future__ import annotations

import importlib.util
import time
from typing import Any

import numpy as np
import pandas as pd
from sklearn.utils.class_weight import compute_sample_weight

from .config import BoosterConfig, TaskSpec, TrainingConfig
from .faults import TrainingFault
from .preprocess import PreparedData, Preprocessor
from .scores import score_predictions
from .trees import SINGLE_THREAD_CELLS, TreeFitResult, TreeStopReason, tree_scores


def available(family: str) -> bool:
    """True when `family`'s library is installed (the search leaves out the others)."""
    return importlib.util.find_spec(family) is not None


class BoostedModel:
    """A fitted LightGBM, XGBoost or CatBoost model behind a scikit-learn-like interface.

    `classes_` are the class ids (the preprocessor's target codes) the model was trained
    on, in the order of `predict_proba`'s columns; None for regression. `predict` gives
    regression values on the training target's (encoded) scale.
    """

    def __init__(self, family: str, model: Any, categorical: list[int],
                 classes: np.ndarray | None, n_iter: int):
        self.family, self.model, self.categorical = family, model, categorical
        self.classes_, self.n_iter = classes, n_iter

    def predict(self, X: np.ndarray) -> np.ndarray:
        """Regression values (encoded scale) or class ids for encoded rows."""
        out = np.asarray(self.model.predict(self._inputs(X)))
        if self.classes_ is None:
            return out.reshape(-1).astype(np.float64)
        return self.classes_[np.argmax(self.predict_proba(X), axis=1)]

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        """Class probabilities, one column per `classes_` entry."""
        proba = np.asarray(self.model.predict_proba(self._inputs(X)), dtype=np.float64)
        return proba.reshape(len(X), -1)

    def _inputs(self, X: np.ndarray) -> Any:
        return _frame(X, self.categorical) if self.family == "catboost" else X


def fit_booster(config: TrainingConfig, data: PreparedData, task: TaskSpec, *,
                deadline: float | None = None, rounds: int | None = None) -> TreeFitResult:
    """Boost `config.model.family`'s trees with `config.booster` (defaults when null) until
    early stopping on the validation rows, `max_rounds` or the `time.monotonic()`
    `deadline`; with `rounds`, exactly that many (no early stopping) unless the deadline
    comes first. The result's score is `task.metric` on the validation rows."""
    started = time.monotonic()
    if len(data.y_train) == 0 or len(data.y_valid) == 0:
        raise ValueError("fit_booster needs training and validation rows: y_train or y_valid "
                         "is empty")
    family = config.model.family
    booster = config.booster or BoosterConfig()
    pre = data.preprocessor
    categorical = categorical_columns(pre)
    classes = np.unique(data.y_train).astype(np.int64) if task.is_classification else None
    y_train = _labels(data.y_train, classes)
    X_val, y_val = data.X_valid, data.y_valid
    if classes is not None:  # a class the training rows lack cannot be scored by the model
        known = np.isin(y_val, classes)
        X_val, y_val = X_val[known], _labels(y_val[known], classes)
    evaluate = rounds is None and len(y_val) > 0
    weights = (compute_sample_weight("balanced", y_train)
               if classes is not None and config.class_weighting else None)
    threads = 1 if data.X_train.size < SINGLE_THREAD_CELLS else -1
    stopper = DeadlineStop(deadline)
    if not available(family):
        raise RuntimeError(f"model family {family!r} needs the {family} package: install it "
                           f"(pip install {family}) or leave {family!r} out of the families")
    fit = {"lightgbm": _fit_lightgbm, "xgboost": _fit_xgboost, "catboost": _fit_catboost}[family]
    try:
        model, n_iter, n_trained, early = fit(booster, task, classes, categorical, data.X_train, y_train,
                                   weights, (X_val, y_val) if evaluate else None,
                                   rounds or booster.max_rounds, threads, config.seed, stopper)
    except Exception as err:
        if not _out_of_memory(err):
            raise
        raise TrainingFault(  # a fault, not a bug: the search records the trial and goes on
            "out_of_memory", 0, 0, f"{family} ran out of memory on {data.X_train.shape[0]} rows x "
            f"{data.X_train.shape[1]} columns: {' '.join(str(err).split())[:200]}", None,
            {"family": family, "error": type(err).__name__}) from err
    reason: TreeStopReason = ("deadline" if stopper.stopped else
                              "early_stopping" if early else "max_iter")
    fitted = BoostedModel(family, model, categorical, classes, n_iter)
    valid_scores = tree_scores(fitted, data.X_valid, pre)
    score = score_predictions(task, pre.decode_target(data.y_valid), valid_scores, pre.classes)
    return TreeFitResult(model=fitted, preprocessor=pre, best_valid_score=score, n_iter=n_iter,
                         stopped_reason=reason, seconds=time.monotonic() - started,
                         n_trained=n_trained)


class DeadlineStop:
    """Says to stop once the `time.monotonic()` deadline has passed (None: never); records
    that it did. Each library's callback asks it after every round."""

    def __init__(self, deadline: float | None):
        self.deadline, self.stopped = deadline, False

    def __call__(self) -> bool:
        """True when training should stop now."""
        if self.deadline is not None and time.monotonic() >= self.deadline:
            self.stopped = True
        return self.stopped


def _out_of_memory(error: BaseException) -> bool:
    """True for a failed allocation, as Python or a library's C++ code reports it."""
    text = str(error).lower()
    return isinstance(error, MemoryError) or "bad_alloc" in text or "out of memory" in text


def categorical_columns(preprocessor: Preprocessor) -> list[int]:
    """Indices of the code columns (the "embedding" encoding puts them last)."""
    n_codes = len(preprocessor.categorical_cardinalities or ())
    return list(range(preprocessor.n_features - n_codes, preprocessor.n_features))


def _labels(y: np.ndarray, classes: np.ndarray | None) -> np.ndarray:
    """Class ids as 0..k-1 positions in `classes` (XGBoost wants them so); values as given."""
    if classes is None:
        return np.asarray(y, dtype=np.float64)
    return np.searchsorted(classes, np.asarray(y, dtype=np.int64))


def _frame(X: np.ndarray, categorical: list[int]) -> pd.DataFrame:
    """CatBoost's input: code columns as integers (it refuses float categories)."""
    df = pd.DataFrame(np.asarray(X, dtype=np.float32))
    for col in categorical:
        df[col] = df[col].fillna(-1).astype(np.int64)
    df.columns = [str(c) for c in df.columns]
    return df


def _fit_lightgbm(b: BoosterConfig, task: TaskSpec, classes, categorical, X, y, weights,
                  valid, rounds: int, threads: int, seed: int, stop: DeadlineStop):
    import lightgbm as lgb

    params = {"n_estimators": rounds, "learning_rate": b.learning_rate,
              "num_leaves": b.num_leaves, "subsample": b.subsample,
              "subsample_freq": 1 if b.subsample < 1 else 0, "colsample_bytree": b.colsample,
              "n_jobs": threads, "random_state": seed, "verbose": -1}
    if b.min_child_samples is not None:
        params["min_child_samples"] = b.min_child_samples
    if b.l2_regularization is not None:
        params["reg_lambda"] = b.l2_regularization
    # a level needs as many rows as a leaf to get a side of its own in a categorical split
    # (LightGBM's default, 100, lumps every level of a small data set together)
    params["min_data_per_group"] = b.min_child_samples or 20
    model = (lgb.LGBMClassifier if classes is not None else lgb.LGBMRegressor)(**params)
    tracker = _LightGBMStop(stop, b.early_stopping_rounds if valid else None)
    evals = {"eval_X": valid[0], "eval_y": valid[1]} if valid else {}
    model.fit(X, y, sample_weight=weights, categorical_feature=categorical or "auto",
              callbacks=[tracker], **evals)
    trained = max(tracker.rounds, model.booster_.current_iteration())
    n_iter = model.best_iteration_ if model.best_iteration_ else trained
    return model, int(n_iter), int(trained), tracker.early


class _LightGBMStop:
    """Early stopping on the first validation metric, and the deadline, in one callback
    (LightGBM keeps the round an `EarlyStopException` names)."""

    order = 30

    def __init__(self, stop: DeadlineStop, patience: int | None):
        self.stop, self.patience, self.early = stop, patience, False
        self.best: tuple[int, float, list] | None = None
        self.rounds = 0  # trained so far (LightGBM truncates the model to the best round)

    def __call__(self, env) -> None:
        import lightgbm as lgb

        self.rounds = env.iteration + 1
        results = env.evaluation_result_list or []
        if results and self.patience is not None:
            _, _, value, higher_better = results[0][:4]
            value = -value if higher_better else value
            if self.best is None or value < self.best[1]:
                self.best = (env.iteration, value, results)
            elif env.iteration - self.best[0] >= self.patience:
                self.early = True
                raise lgb.callback.EarlyStopException(self.best[0], self.best[2])
        if self.stop():
            best = self.best or (env.iteration, 0.0, results)
            raise lgb.callback.EarlyStopException(best[0], best[2])


def _fit_xgboost(b: BoosterConfig, task: TaskSpec, classes, categorical, X, y, weights,
                 valid, rounds: int, threads: int, seed: int, stop: DeadlineStop):
    import xgboost as xgb

    class Deadline(xgb.callback.TrainingCallback):
        def after_iteration(self, model, epoch, evals_log) -> bool:
            return stop()

    types = ["c" if i in set(categorical) else "q" for i in range(X.shape[1])]
    params = {"n_estimators": rounds, "learning_rate": b.learning_rate,
              "max_depth": b.max_depth, "subsample": b.subsample,
              "colsample_bytree": b.colsample, "tree_method": "hist",
              "enable_categorical": bool(categorical), "feature_types": types,
              "n_jobs": None if threads < 0 else threads, "random_state": seed,
              "early_stopping_rounds": b.early_stopping_rounds if valid else None,
              "callbacks": [Deadline()]}
    if b.min_child_samples is not None:
        params["min_child_weight"] = float(b.min_child_samples)
    if b.l2_regularization is not None:
        params["reg_lambda"] = b.l2_regularization
    model = (xgb.XGBClassifier if classes is not None else xgb.XGBRegressor)(**params)
    model.fit(X, y, sample_weight=weights, eval_set=[valid] if valid else None, verbose=False)
    model.set_params(callbacks=None)  # a local class: the saved model must pickle
    done = model.get_booster().num_boosted_rounds()
    if valid:
        best = model.get_booster().attr("best_iteration")  # unset when stopped at once
        n_iter = int(best) + 1 if best is not None else int(done)
        return model, n_iter, int(done), done < rounds and not stop.stopped
    return model, int(done), int(done), False


def _fit_catboost(b: BoosterConfig, task: TaskSpec, classes, categorical, X, y, weights,
                  valid, rounds: int, threads: int, seed: int, stop: DeadlineStop):
    import catboost as cb

    class Deadline:
        rounds = 0

        def after_iteration(self, info) -> bool:
            self.rounds = info.iteration + 1
            return not stop()  # CatBoost goes on while this is True

    tracker = Deadline()

    params = {"iterations": rounds, "learning_rate": b.learning_rate, "depth": b.max_depth,
              "rsm": b.colsample, "random_seed": seed, "thread_count": threads,
              "verbose": False, "allow_writing_files": False}
    if b.subsample < 1:
        params.update(bootstrap_type="Bernoulli", subsample=b.subsample)
    if b.l2_regularization is not None:
        params["l2_leaf_reg"] = max(b.l2_regularization, 1e-6)
    if valid:
        params.update(od_type="Iter", od_wait=b.early_stopping_rounds, use_best_model=True)
    if classes is not None:
        params["loss_function"] = "MultiClass" if len(classes) > 2 else "Logloss"
        model = cb.CatBoostClassifier(**params)
    else:
        model = cb.CatBoostRegressor(loss_function="RMSE", **params)
    eval_set = (_frame(valid[0], categorical), valid[1]) if valid else None
    model.fit(_frame(X, categorical), y, cat_features=categorical or None, sample_weight=weights,
              eval_set=eval_set, callbacks=[tracker])
    n_iter = int(model.tree_count_)
    trained = tracker.rounds or n_iter
    if valid:
        return model, n_iter, trained, not stop.stopped and trained < rounds
    return model, n_iter, trained, False
