"""Metrics on original labels: which class is positive, macro averages, NaN handling, direction."""

from __future__ import annotations

import math

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from mlpilot.engine.config import TaskSpec
from mlpilot.engine.metrics import (
    baseline_evaluate,
    baseline_prediction,
    baseline_proba,
    evaluate,
    is_better,
    positive_class,
    score,
)


def _task(task_type: str, metric: str) -> TaskSpec:
    return TaskSpec(target="y", task_type=task_type, metric=metric, budget_s=10)


def test_accuracy_and_balanced_accuracy():
    y_true = ["a", "a", "a", "b"]
    y_pred = ["a", "a", "a", "a"]
    assert score("accuracy", "binary", y_true, y_pred) == 0.75
    assert score("balanced_accuracy", "binary", y_true, y_pred) == 0.5


def test_binary_f1_uses_the_second_sorted_class_as_positive():
    y_true = ["no", "no", "no", "yes", "yes"]
    y_pred = ["no", "no", "yes", "yes", "no"]
    # positive 'yes': precision 1/2, recall 1/2 -> 0.5 (with 'no' positive it would be 2/3)
    assert score("f1", "binary", y_true, y_pred) == pytest.approx(0.5)
    assert score("f1", "binary", [1, 1, 2], [1, 2, 2]) == pytest.approx(2 / 3)


def test_binary_precision_and_recall_use_the_positive_class_f1_uses():
    y_true = ["no", "no", "no", "yes", "yes"]
    y_pred = ["no", "yes", "yes", "yes", "no"]
    # positive 'yes': predicted yes 3 times, right once -> precision 1/3; found 1 of 2 -> 1/2
    assert score("precision", "binary", y_true, y_pred) == pytest.approx(1 / 3)
    assert score("recall", "binary", y_true, y_pred) == pytest.approx(0.5)
    assert score("recall", "binary", [0, 0, 1, 1], [0, 0, 0, 1]) == pytest.approx(0.5)
    # no positive predicted: precision is 0, not an error
    assert score("precision", "binary", [0, 1, 1], [0, 0, 0]) == 0.0


def test_the_positive_class_is_the_second_sorted_label():
    assert positive_class(["yes", "no", "yes"]) == "yes"
    assert positive_class([2, 1, 1]) == 2 and positive_class([True, False]) is True
    assert positive_class(["benign", "malignant"]) == "malignant"
    with pytest.raises(ValueError, match="exactly two labels"):
        positive_class([1, 2, 3])


def test_multiclass_precision_and_recall_are_macro():
    y_true = [0, 0, 1, 1, 2, 2]
    y_pred = [0, 0, 1, 0, 2, 1]
    # per class precision 2/3, 1/2, 1; recall 1, 1/2, 1/2 (macro recall = balanced accuracy)
    assert score("precision", "multiclass", y_true, y_pred) == pytest.approx((2 / 3 + 0.5 + 1) / 3)
    assert score("recall", "multiclass", y_true, y_pred) == pytest.approx(2 / 3)
    assert score("recall", "multiclass", y_true, y_pred) == pytest.approx(
        score("balanced_accuracy", "multiclass", y_true, y_pred))


def test_multiclass_f1_is_macro():
    y_true = [0, 0, 1, 1, 2, 2]
    y_pred = [0, 0, 1, 0, 2, 1]
    # per-class f1: 0.8, 0.5, 2/3
    assert score("f1", "multiclass", y_true, y_pred) == pytest.approx((0.8 + 0.5 + 2 / 3) / 3)


def test_roc_auc_binary_and_multiclass():
    y_true = np.array(["n", "y", "n", "y", "y"])
    p1 = np.array([0.1, 0.8, 0.4, 0.35, 0.9])
    proba = np.stack([1 - p1, p1], axis=1)
    expected = roc_auc_score(y_true == "y", p1)
    assert score("roc_auc", "binary", y_true, y_true, proba) == pytest.approx(expected)
    rng = np.random.default_rng(0)
    y3 = rng.integers(0, 3, size=60)
    p3 = rng.dirichlet([1, 1, 1], size=60)
    expected3 = roc_auc_score(y3, p3, multi_class="ovr", average="macro")
    assert score("roc_auc", "multiclass", y3, y3, p3, classes=[0, 1, 2]) == pytest.approx(expected3)


def test_undefined_scores_are_nan_and_never_better():
    assert math.isnan(score("roc_auc", "binary", ["a", "a"], ["a", "a"], [[0.6, 0.4], [0.3, 0.7]],
                            classes=["a", "b"]))
    assert math.isnan(score("r2", "regression", [1.0], [1.0]))
    assert not is_better("accuracy", math.nan, 0.1)
    assert is_better("accuracy", 0.1, math.nan)


def test_regression_metrics():
    y_true, y_pred = np.array([1.0, 2.0, 3.0, 4.0]), np.array([1.0, 2.0, 3.0, 6.0])
    assert score("rmse", "regression", y_true, y_pred) == pytest.approx(1.0)
    assert score("mae", "regression", y_true, y_pred) == pytest.approx(0.5)
    assert score("r2", "regression", y_true, y_pred) == pytest.approx(1 - 4 / 5)


def test_direction():
    assert is_better("rmse", 1.0, 2.0) and not is_better("rmse", 2.0, 1.0)
    assert is_better("recall", 0.9, 0.5) and is_better("precision", 0.6, 0.0)
    assert is_better("r2", 0.9, 0.5) and not is_better("accuracy", 0.5, 0.5)


def test_metric_must_fit_the_task():
    with pytest.raises(ValueError, match="metric 'r2' does not fit a binary task"):
        score("r2", "binary", [0, 1], [0, 1])
    with pytest.raises(ValueError, match="roc_auc needs predicted class probabilities"):
        score("roc_auc", "binary", [0, 1], [0, 1])


def test_evaluate_reports_all_fitting_metrics():
    task = _task("binary", "accuracy")
    assert set(evaluate(task, [0, 1, 1], [0, 1, 0])) == {"accuracy", "balanced_accuracy", "f1",
                                                          "precision", "recall"}
    with_proba = evaluate(task, [0, 1, 1], [0, 1, 0], [[0.9, 0.1], [0.2, 0.8], [0.6, 0.4]])
    assert with_proba["roc_auc"] == 1.0
    reg = evaluate(_task("regression", "r2"), [1.0, 2.0, 3.0], [1.0, 2.0, 3.0])
    assert reg == {"r2": 1.0, "rmse": 0.0, "mae": 0.0}


def test_baseline_prediction():
    assert baseline_prediction(_task("binary", "f1"), ["b", "a", "b"], 2).tolist() == ["b", "b"]
    mean = baseline_prediction(_task("regression", "r2"), [1.0, 2.0, 6.0], 3)
    assert mean.tolist() == [3.0, 3.0, 3.0]


def test_the_baseline_gives_the_class_priors_as_probabilities():
    proba = baseline_proba([True, False, True, True], 2, [False, True])
    assert proba.tolist() == [[0.25, 0.75], [0.25, 0.75]]
    # a class the training rows lack gets probability 0, in its column
    assert baseline_proba([2, 2, 3], 1, [1, 2, 3]).tolist() == [[0.0, 2 / 3, 1 / 3]]


@pytest.mark.parametrize(("task_type", "y_train", "y_true"), [
    ("binary", ["no", "yes", "yes"], ["yes", "no", "yes", "no"]),
    ("binary", [False, True, True], [True, False, False]),
    ("multiclass", [1, 2, 3, 3], [3, 1, 2, 2, 1]),
])
def test_the_baseline_has_every_metric_a_model_has_roc_auc_included(task_type, y_train, y_true):
    base = baseline_evaluate(_task(task_type, "roc_auc"), y_train, y_true)
    assert set(base) == {"accuracy", "balanced_accuracy", "f1", "precision", "recall", "roc_auc"}
    assert base["roc_auc"] == 0.5  # one score for every row ranks none above another
    regression = baseline_evaluate(_task("regression", "mae"), [1.0, 3.0], [2.0, 4.0])
    assert regression == pytest.approx({"r2": -1.0, "rmse": math.sqrt(2), "mae": 1.0})
