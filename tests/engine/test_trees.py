"""Gradient-boosted trees learn with native categoricals, stop at the deadline and save/load."""

from __future__ import annotations

import time

import numpy as np
import pandas as pd
import pytest

from mlpilot.engine.config import (
    ModelConfig,
    PreprocessingConfig,
    TaskSpec,
    TrainingConfig,
    TreeConfig,
)
from mlpilot.engine.predictor import TrainedModel
from mlpilot.engine.preprocess import prepare_data
from mlpilot.engine.scores import score_predictions
from mlpilot.engine.trees import fit_trees


def _config(**trees) -> TrainingConfig:
    return TrainingConfig(model=ModelConfig(family="hist_gbt"),
                          preprocessing=PreprocessingConfig(categorical_encoding="embedding"),
                          trees=TreeConfig(**trees) if trees else None)


def _test_score(result, data, task) -> float:
    pre = data.preprocessor
    return score_predictions(task, pre.decode_target(data.y_test),
                             result.predict_scores(data.X_test), pre.classes)


@pytest.fixture(scope="module")
def penguin_trees(penguins_df):
    task = TaskSpec(target="species", task_type="multiclass", metric="accuracy", budget_s=60)
    config = _config()
    data = prepare_data(penguins_df, task, config)
    return fit_trees(config, data, task), data, task, config


def test_trees_learn_penguins_with_native_categoricals(penguin_trees):
    result, data, task, _ = penguin_trees
    categorical = result.model.is_categorical_
    assert categorical[-2:].all() and categorical.sum() == 2  # island and sex, the last columns
    assert result.stopped_reason == "early_stopping" and 0 < result.n_iter < 1000
    assert result.best_valid_score > 0.9 and _test_score(result, data, task) > 0.9
    proba = result.predict_scores(data.X_test)
    assert proba.shape == (len(data.y_test), 3)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)


def test_trees_regress_on_the_original_scale(linear_df, linear_task):
    config = _config()
    data = prepare_data(linear_df, linear_task, config)
    result = fit_trees(config, data, linear_task)
    values = result.predict_scores(data.X_test)
    assert values.shape == (len(data.y_test),)
    assert abs(values.mean() - linear_df["y"].mean()) < 0.5  # y has mean ~5, not ~0
    assert result.best_valid_score > 0.85 and _test_score(result, data, linear_task) > 0.85


def test_a_category_beyond_max_bins_is_split_as_a_number():
    rng = np.random.default_rng(0)
    df = pd.DataFrame({"code": rng.integers(0, 40, 400).astype(str), "x": rng.normal(size=400)})
    df["y"] = df["x"] + (df["code"].astype(int) % 3)
    task = TaskSpec(target="y", task_type="regression", metric="r2", budget_s=60)
    config = _config(max_bins=16)
    config.preprocessing.max_categories = 50
    data = prepare_data(df, task, config)
    assert data.preprocessor.categorical_cardinalities == [41]
    assert fit_trees(config, data, task).model.is_categorical_ is None


def test_class_weighting_balances_the_classes(penguins_df, penguins_task):
    config = _config().model_copy(update={"class_weighting": True})
    data = prepare_data(penguins_df, penguins_task, config)
    assert fit_trees(config, data, penguins_task).model.class_weight == "balanced"


def test_a_long_fit_is_cut_at_the_deadline():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(20_000, 10))
    df = pd.DataFrame(X, columns=[f"f{i}" for i in range(10)])
    df["y"] = np.sin(3 * X[:, 0]) + X[:, 1] * X[:, 2] + rng.normal(scale=0.1, size=len(X))
    task = TaskSpec(target="y", task_type="regression", metric="r2", budget_s=60)
    config = _config(learning_rate=0.01, max_iter=100_000, early_stopping_rounds=10_000)
    data = prepare_data(df, task, config)
    started = time.monotonic()
    result = fit_trees(config, data, task, deadline=started + 0.6)
    assert result.stopped_reason == "deadline" and result.n_iter > 1
    assert time.monotonic() - started < 0.6 + 0.5  # one small increment at most, then scoring
    late = fit_trees(config, data, task, deadline=time.monotonic() - 1)
    assert late.n_iter == 1 and late.predict_scores(data.X_valid[:3]).shape == (3,)


def test_a_tree_model_saves_and_loads(penguin_trees, penguins_df, tmp_path):
    result, data, task, config = penguin_trees
    model = TrainedModel(task, config, data.preprocessor, result.model)
    saved = model.save(tmp_path / "trees")
    assert {p.name for p in saved.iterdir()} == {
        "model.pkl", "preprocessor.pkl", "config.json", "task.json", "meta.json"}
    loaded = TrainedModel.load(saved)
    assert loaded.config.model.family == "hist_gbt"
    np.testing.assert_array_equal(loaded.predict(penguins_df), model.predict(penguins_df))
    np.testing.assert_array_equal(loaded.predict_proba(penguins_df),
                                  model.predict_proba(penguins_df))
    labels = loaded.predict(penguins_df.drop(columns="species"))
    assert (labels == penguins_df["species"].to_numpy()).mean() > 0.9
