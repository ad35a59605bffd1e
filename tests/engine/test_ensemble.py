"""Greedy ensemble selection never loses to the best single model; an ensemble deploys as one."""

from __future__ import annotations

import numpy as np
import pytest

from mlpilot.engine.config import (
    ModelConfig,
    OptimizerConfig,
    PreprocessingConfig,
    TaskSpec,
    TrainingConfig,
)
from mlpilot.engine.ensemble import EnsembleModel, select_ensemble
from mlpilot.engine.predictor import TrainedModel
from mlpilot.engine.preprocess import prepare_data
from mlpilot.engine.scores import score_predictions
from mlpilot.engine.training import fit
from mlpilot.engine.trees import fit_trees


def _regression_task(metric: str) -> TaskSpec:
    return TaskSpec(target="y", task_type="regression", metric=metric, budget_s=60)


def test_averaging_independent_errors_beats_every_single_model():
    rng = np.random.default_rng(0)
    y = rng.normal(size=500)
    candidates = [y + rng.normal(scale=1.0, size=500) for _ in range(4)]
    candidates.append(y + 3.0)  # biased: adding it never helps
    task = _regression_task("rmse")
    ensemble = select_ensemble(candidates, y, task)
    assert ensemble.score < ensemble.best_single_score  # rmse: lower is better
    assert 4 not in ensemble.members and len(ensemble.members) >= 3
    assert sum(ensemble.weights) == pytest.approx(1.0)
    combined = ensemble.combine(candidates)
    assert score_predictions(task, y, combined, None) == pytest.approx(ensemble.score)


def test_the_best_single_model_is_kept_when_nothing_helps():
    rng = np.random.default_rng(1)
    y = rng.normal(size=200)
    candidates = [y + 0.01 * rng.normal(size=200), y + 2.0, -y]
    ensemble = select_ensemble(candidates, y, _regression_task("r2"))
    assert ensemble.members == [0] and ensemble.weights == [1.0]
    assert ensemble.score == ensemble.best_single_score


def test_classification_averages_probabilities():
    y = np.array(["a", "b", "c", "a", "b", "c"])
    one_hot = np.eye(3)[[0, 1, 2, 0, 1, 2]]
    # each candidate is right on the rows the others get wrong, with less confidence
    first = np.where(np.arange(6)[:, None] < 4, one_hot, np.roll(one_hot, 1, axis=1) * 0.6)
    second = np.where(np.arange(6)[:, None] >= 2, one_hot, np.roll(one_hot, 1, axis=1) * 0.6)
    task = TaskSpec(target="t", task_type="multiclass", metric="accuracy", budget_s=60)
    ensemble = select_ensemble([first, second], y, task)
    assert ensemble.best_single_score == pytest.approx(4 / 6)
    assert ensemble.score == 1.0 and ensemble.members == [0, 1]
    with pytest.raises(ValueError, match="rows x 3 probabilities"):
        select_ensemble([first[:, :2]], y, task)
    with pytest.raises(ValueError, match="differ in shape"):
        select_ensemble([first, second[:3]], y, task)


@pytest.fixture(scope="module")
def penguin_candidates(penguins_df):
    task = TaskSpec(target="species", task_type="multiclass", metric="accuracy", budget_s=60)
    networks = TrainingConfig(model=ModelConfig(family="linear"), batch_size=32, max_epochs=10,
                              optimizer=OptimizerConfig(learning_rate=1e-2, scheduler="none"))
    small = networks.model_copy(update={"model": ModelConfig(hidden_sizes=[16]), "max_epochs": 15})
    trees = TrainingConfig(model=ModelConfig(family="hist_gbt"),
                           preprocessing=PreprocessingConfig(categorical_encoding="embedding"))
    models, valid = [], []
    for config in (networks, small, trees):
        data = prepare_data(penguins_df, task, config)  # same seed and fractions: same rows
        if config.model.family == "hist_gbt":
            model = fit_trees(config, data, task).model
        else:
            model = fit(config, data, task).model
        trained = TrainedModel(task, config, data.preprocessor, model)
        models.append(trained)
        valid.append(trained.scores(data.X_valid))
    y_valid = data.preprocessor.decode_target(data.y_valid)
    return models, valid, y_valid, task


def test_an_ensemble_of_penguin_models_deploys_as_one(penguin_candidates, penguins_df, tmp_path):
    models, valid, y_valid, task = penguin_candidates
    ensemble = select_ensemble(valid, y_valid, task, classes=models[0].classes)
    singles = [score_predictions(task, y_valid, p, models[0].classes) for p in valid]
    assert ensemble.score >= max(singles) and sum(ensemble.weights) == pytest.approx(1.0)
    model = EnsembleModel.from_selection(models, ensemble)
    frame = penguins_df.drop(columns="species")
    proba = model.predict_proba(frame)
    assert proba.shape == (344, 3) and np.allclose(proba.sum(axis=1), 1.0)
    assert (model.predict(frame) == penguins_df["species"].to_numpy()).mean() > 0.9

    loaded = TrainedModel.load(model.save(tmp_path / "ensemble"))  # what serving calls
    assert isinstance(loaded, EnsembleModel) and loaded.weights == pytest.approx(model.weights)
    np.testing.assert_allclose(loaded.predict_proba(frame), proba)
    np.testing.assert_array_equal(loaded.predict(frame), model.predict(frame))


def test_ensemble_weights_are_checked(penguin_candidates):
    models = penguin_candidates[0]
    with pytest.raises(ValueError, match="one weight per model"):
        EnsembleModel(models, [1.0])
    with pytest.raises(ValueError, match="positive sum"):
        EnsembleModel(models[:2], [0.0, 0.0])
    assert EnsembleModel(models[:2], [3, 1]).weights == [0.75, 0.25]


def test_a_saved_bag_encodes_the_rows_once_per_preprocessor(penguin_candidates, penguins_df,
                                                             tmp_path, monkeypatch):
    models, _, _, _ = penguin_candidates
    linear, mlp, trees = models  # the two networks' preprocessors are fitted alike
    bag = EnsembleModel([linear, mlp], [1.0, 1.0])
    model = EnsembleModel([bag, trees], [0.5, 0.5])
    frame = penguins_df.drop(columns="species")
    expected = model.predict_proba(frame)

    loaded = TrainedModel.load(model.save(tmp_path / "nested"))
    leaves = loaded._leaves()
    assert leaves[0].preprocessor is leaves[1].preprocessor  # one object again after loading
    assert leaves[2].preprocessor is not leaves[0].preprocessor  # trees encode differently
    calls = []
    encode = type(linear.preprocessor).transform
    monkeypatch.setattr(type(linear.preprocessor), "transform",
                        lambda self, df: calls.append(id(self)) or encode(self, df))
    np.testing.assert_allclose(loaded.predict_proba(frame), expected)
    assert len(calls) == 2  # the bag's rows once, the trees' once
