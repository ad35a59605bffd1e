"""Drift statistics: PSI over training-quantile bins, total variation and chi-squared for
categoricals, missing-value rates, and whether a challenger is worse beyond noise."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mlpilot.engine.config import TaskSpec
from mlpilot.engine.drift import (
    categorical_drift,
    numeric_drift,
    performance_drift,
    prediction_drift,
    quantile_edges,
)
from mlpilot.engine.live_metrics import compare, feedback_scores, row_loss

RNG = np.random.default_rng(0)


def test_psi_is_near_zero_without_shift_and_large_with_one():
    train = pd.Series(RNG.normal(0, 1, 5000))
    same = numeric_drift("x", train, pd.Series(RNG.normal(0, 1, 2000)))
    moved = numeric_drift("x", train, pd.Series(RNG.normal(1, 1, 2000)))
    assert same.value < 0.05 and not same.drifted
    assert moved.value > 0.5 and moved.drifted
    # each training bin holds a tenth of training (the bins are its quantiles)
    assert len(quantile_edges(train.to_numpy())) == 9
    assert all(abs(share - 0.1) < 0.01 for share in same.train_hist[:10])


def test_missing_values_are_a_bin_and_a_rate():
    train = pd.Series(RNG.normal(0, 1, 1000))
    live = pd.Series(np.where(RNG.random(1000) < 0.4, np.nan, RNG.normal(0, 1, 1000)))
    found = numeric_drift("x", train, live)
    assert found.missing_train == 0.0 and 0.35 < found.missing_live < 0.45
    assert found.drifted and found.bins[-1] == "(missing)"


def test_categorical_shift_unseen_levels_and_the_chi2_test():
    train = pd.Series(RNG.choice(["a", "b", "c"], 3000, p=[0.5, 0.3, 0.2]))
    same = categorical_drift("c", train, pd.Series(RNG.choice(["a", "b", "c"], 1000,
                                                              p=[0.5, 0.3, 0.2])))
    moved = categorical_drift("c", train, pd.Series(RNG.choice(["a", "z"], 1000, p=[0.4, 0.6])))
    assert same.value < 0.05 and same.p_value > 0.01 and not same.drifted
    assert moved.value > 0.5 and moved.p_value < 1e-6 and moved.drifted
    assert moved.live_hist[moved.bins.index("(new)")] > 0.5


def test_prediction_drift_for_classes_and_values():
    assert prediction_drift(["a"] * 50 + ["b"] * 50, ["a"] * 95 + ["b"] * 5,
                            numeric=False).drifted
    assert not prediction_drift(list(RNG.normal(0, 1, 800)), list(RNG.normal(0, 1, 800)),
                                numeric=True).drifted


def test_not_worse_beyond_noise_needs_the_minimum_count():
    champion = {str(i): float(i % 10 == 0) for i in range(200)}  # 10% wrong
    same = {str(i): float(i % 10 == 1) for i in range(200)}  # 10% wrong, other rows
    worse = {str(i): float(i % 3 == 0) for i in range(200)}  # 34% wrong
    assert compare(champion, same, min_count=100).not_worse
    verdict = compare(champion, worse, min_count=100)
    assert verdict.ready and verdict.paired and not verdict.not_worse
    early = compare(champion, same, min_count=500)
    assert not early.ready and "200 labelled predictions of the 500 needed" in early.reason
    assert row_loss("a", "a", True) == 0.0 and row_loss(2.0, 3.5, False) == 1.5
    assert row_loss("x", 3.5, False) is None


def test_performance_drift_is_relative_degradation_in_the_metrics_direction():
    fell = performance_drift("accuracy", 0.9, 0.72, 200, threshold=0.1, min_count=50)
    assert fell.value == 0.2 and fell.drifted and fell.p_value < 0.001
    rose = performance_drift("accuracy", 0.9, 0.95, 200, threshold=0.1, min_count=50)
    assert rose.value < 0 and not rose.drifted
    mae = performance_drift("mae", 2.0, 2.5, 200, threshold=0.1, min_count=50)
    assert mae.value == 0.25 and mae.drifted and mae.p_value is None
    assert not performance_drift("mae", 2.0, 2.5, 49, threshold=0.1, min_count=50).drifted


def test_feedback_scores_in_the_tasks_metrics_with_labels_as_text():
    binary = TaskSpec(target="y", task_type="binary", metric="f1", budget_s=10)
    # the model's classes are ints; feedback came back as text for two rows
    scores = feedback_scores(binary, [1, 1, 0, 0, 1], ["1", 0, 0, "0", 1], classes=[0, 1])
    assert scores["accuracy"] == 0.8 and scores["recall"] == 1.0  # positive class: 1
    assert scores["precision"] == pytest.approx(2 / 3) and "roc_auc" not in scores
    regression = TaskSpec(target="y", task_type="regression", metric="rmse", budget_s=10)
    scores = feedback_scores(regression, [1.0, 2.0, 3.0, 4.0], [1.0, 2.0, 5.0, "n/a"])
    assert scores["mae"] == pytest.approx(2 / 3) and scores["rmse"] == pytest.approx(
        (4 / 3) ** 0.5)  # the truth that is not a number is left out
    assert feedback_scores(binary, [], []) == {}
