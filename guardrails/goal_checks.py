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

import numpy as np
import pandas as pd

from mlpilot.guardrails.data_checks import CV_FOLDS, MIN_VALUES, Flag

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
    # scikit-learn loads here, when a goal is stated: its import costs more than planning
    from mlpilot.guardrails.quick_baseline import quick_baseline

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
