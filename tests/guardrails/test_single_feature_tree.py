"""The critic's one-feature tree gives scikit-learn's out-of-fold predictions, split for split:
its scores (printed in the critic's evidence) must not move when planning drops scikit-learn.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from sklearn.model_selection import KFold, StratifiedKFold
from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor

from mlpilot.guardrails.single_feature_tree import (
    cross_validated_predictions,
    kfold_test_folds,
    stratified_test_folds,
)


def _sklearn(x: np.ndarray, y: np.ndarray, classification: bool, seed: int) -> np.ndarray:
    """What `data_checks` computed with scikit-learn before it had its own tree."""
    if classification:
        model = DecisionTreeClassifier(max_depth=8, random_state=seed)
        enough = np.bincount(y).min() >= 3
        folds = (StratifiedKFold if enough else KFold)(3, shuffle=True, random_state=seed)
    else:
        model = DecisionTreeRegressor(max_depth=8, random_state=seed)
        folds = KFold(3, shuffle=True, random_state=seed)
    pred = np.empty_like(y)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for train, test in folds.split(x, y):
            pred[test] = model.fit(x[train], y[train]).predict(x[test])
    return pred


def _feature(rng: np.random.Generator, n: int, case: int) -> np.ndarray:
    """Continuous, few integer levels, rounded (ties), wide range; some with missing values,
    one all missing and one constant."""
    x = [rng.normal(size=n), rng.integers(0, 6, size=n).astype(float),
         np.round(rng.normal(size=n), 1), rng.exponential(size=n) * 1e3][case % 4]
    if case % 3 == 0:
        x[rng.random(n) < rng.uniform(0.05, 0.5)] = np.nan
    if case % 11 == 0:
        x[:] = np.nan if case % 22 == 0 else 1.0
    return x


@pytest.mark.parametrize("classification", [True, False])
def test_out_of_fold_predictions_equal_scikit_learns(classification):
    rng = np.random.default_rng(7 if classification else 8)
    for case in range(60):
        n = int(rng.integers(20, 300))
        x = _feature(rng, n, case)
        seed = int(rng.integers(0, 4))
        if classification:
            k = int(rng.integers(2, 7))
            y = ((rng.integers(0, k, size=n) + (np.nan_to_num(x) > 0.3)) % k).astype(np.int64)
        else:
            y = np.nan_to_num(x) * 2 + rng.normal(size=n)
            y = np.round(y) if case % 5 == 0 else y
        ours = cross_validated_predictions(x.reshape(-1, 1), y, classification=classification,
                                           max_depth=8, n_splits=3, seed=seed)
        theirs = _sklearn(x.reshape(-1, 1), y, classification, seed)
        if classification:
            assert np.array_equal(ours, theirs), f"case {case}"
        else:
            np.testing.assert_allclose(ours, theirs, rtol=1e-12, atol=1e-12, err_msg=f"case {case}")


def test_a_near_perfect_predictor_and_a_rare_class_as_scikit_learn_sees_them():
    x = np.arange(60, dtype=float).reshape(-1, 1)
    y = (np.arange(60) >= 30).astype(np.int64)
    ours = cross_validated_predictions(x, y, classification=True, max_depth=8, n_splits=3,
                                       seed=0)
    assert np.array_equal(ours, _sklearn(x, y, True, 0))
    assert (ours == y).mean() >= 0.95  # out of fold, a row at the cut may fall either side
    rare = y.copy()
    rare[:2] = 2  # two rows of a class: too few for three stratified folds
    ours = cross_validated_predictions(x, rare, classification=True, max_depth=8, n_splits=3,
                                       seed=1)
    assert np.array_equal(ours, _sklearn(x, rare, True, 1))


def test_folds_are_scikit_learns():
    rng = np.random.default_rng(0)
    for n, seed in ((20, 0), (101, 3), (500, 42)):
        y = rng.integers(0, 4, size=n)
        for fold, (_, test) in enumerate(KFold(3, shuffle=True, random_state=seed).split(y)):
            assert np.array_equal(np.flatnonzero(kfold_test_folds(n, 3, seed) == fold), test)
        splits = StratifiedKFold(3, shuffle=True, random_state=seed).split(y, y)
        for fold, (_, test) in enumerate(splits):
            assert np.array_equal(np.flatnonzero(stratified_test_folds(y, 3, seed) == fold), test)
