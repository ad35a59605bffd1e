"""A goal the data cannot support: too fine to measure on the test set, or far beyond what a
quick model reaches on the same data.

Two pieces of evidence, both cheap (well under a second):

- **Unmeasurable.** On a test set of n rows a score moves in steps: one misclassified row
  costs 1/n of accuracy. When the goal leaves room for less than one error (99% accuracy
  on 10 test rows), a single mistake misses it and the verdict is luck; the binomial
  standard error sqrt(g(1-g)/n) at the goal says how noisy the measurement is.
- **Implausible.** A quick gradient-boosting model (boosted trees are strong on tables;
  the MLPs the engine trains rarely beat them by much) is cross-validated on the data.
  A goal that needs more than half of that model's remaining error removed, and lies more
  than three standard errors beyond its score, is out of reach.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pandas as pd
from sklearn import metrics as skm
from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor
from sklearn.model_selection import KFold, StratifiedKFold
from threadpoolctl import threadpool_limits

from mlpilot.guardrails.data_checks import CV_FOLDS, MIN_VALUES, Flag, _codes, _tree_input

#: The quick model sees at most this many rows.
GOAL_SAMPLE_ROWS = 3000
#: A goal is out of reach when it needs more than this share of the baseline's error removed.
HEADROOM_SHARE = 0.5
GOAL_Z = 3.0
LOWER_IS_BETTER = frozenset({"rmse", "mae"})


def check_goal(df: pd.DataFrame, target: str, task_type: str, metric: str, goal: float | None,
               *, n_test: int | None = None, test_fraction: float = 0.2, seed: int = 0
               ) -> list[Flag]:
    """One "goal" flag (action "ask") when the goal cannot be measured or reached; else none.

    Args:
        df: The features the model will see, and the target.
        n_test: Rows in the test set (a user's test file); default: `test_fraction` of the
            rows that have a target.
    """
    if goal is None or target not in df.columns:
        return []
    data = df[df[target].notna()]
    classification = task_type != "regression"
    if not classification and not pd.api.types.is_numeric_dtype(data[target]):
        return []  # the validators' problem
    n_test = n_test or max(1, math.ceil(len(data) * test_fraction))
    said = [s for s in (_unmeasurable(data[target], task_type, metric, goal, n_test),
                        _out_of_reach(data, target, task_type, metric, goal, seed)) if s]
    if not said:
        return []
    reasons = [s for s, _ in said]
    supported = next((v for _, v in said if v is not None), None)
    lower = f"about {supported:.3g}" if supported is not None else "what the data supports"
    return [Flag(kind="goal", column=None, evidence=f"goal {metric} {goal:g}: " + "; ".join(reasons),
                 score=round(supported, 4) if supported is not None else None, action="ask",
                 suggestion=f"lower the goal to {lower}, or bring more rows (and a larger test "
                 "set) or more informative columns")]


def _unmeasurable(y: pd.Series, task_type: str, metric: str, goal: float, n_test: int
                  ) -> tuple[str, None] | None:
    """When the goal leaves room for less than one test error; the score's first step."""
    if metric not in ("accuracy", "balanced_accuracy", "f1") or not 0 < goal <= 1:
        return None
    shares = y.value_counts(normalize=True)
    if metric == "accuracy":
        n_eff, what = n_test, f"about {n_test} test row{'s' * (n_test != 1)}"
    else:
        smallest = max(1, math.floor(n_test * shares.min()))
        k = 1 if (metric == "f1" and task_type == "binary") else len(shares)
        # one miss among the rarest class's rows moves balanced accuracy by 1/(k n) and a
        # binary F1 by about 1/(2n): count the rows that resolution is equivalent to.
        n_eff = 2 * smallest if metric == "f1" and task_type == "binary" else k * smallest
        what = f"about {smallest} test row{'s' * (smallest != 1)} of the rarest class"
    step = 1 / n_eff
    if (1 - goal) >= step - 1e-9:  # 90% on 10 rows allows exactly one error: measurable
        return None
    error = math.sqrt(goal * (1 - goal) / n_eff)
    said = (f"on {what} one test error costs {step:.3f}, more than the {1 - goal:.3f} the goal "
            f"leaves, so a single mistake misses it (binomial standard error at the goal "
            f"{error:.3f}): the goal cannot be measured")
    return said, None


def _out_of_reach(data: pd.DataFrame, target: str, task_type: str, metric: str, goal: float,
                  seed: int) -> tuple[str, float] | None:
    """A cross-validated boosted-tree baseline, and whether the goal lies far beyond it."""
    if len(data) < MIN_VALUES or data.shape[1] < 2:
        return None
    score, error, rows = quick_baseline(data, target, task_type, metric, seed)
    if not np.isfinite(score):
        return None
    # Every maximised metric here (accuracy, f1, precision, recall, roc_auc, r2) tops
    # out at 1; errors at 0.
    remaining = score if metric in LOWER_IS_BETTER else 1.0 - score
    gap = score - goal if metric in LOWER_IS_BETTER else goal - score
    if gap <= max(HEADROOM_SHARE * remaining, GOAL_Z * error):
        return None
    share = f"{gap / remaining:.0%} of" if remaining > 0 else "more than"
    said = (f"a quick cross-validated gradient-boosting model scores {metric} {score:.3f} "
            f"± {error:.3f} ({CV_FOLDS} folds, {rows} rows); reaching the goal would need "
            f"{share} its remaining error removed")
    return said, score


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
