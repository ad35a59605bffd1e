"""A TrainedModel predicts on raw frames, tolerates messy columns and survives save/load."""

from __future__ import annotations

import json

import numpy as np
import pytest

from mlpilot.engine.config import (
    ModelConfig,
    OptimizerConfig,
    PreprocessingConfig,
    TaskSpec,
    TrainingConfig,
)
from mlpilot.engine.models import build_model, embeds_categories
from mlpilot.engine.predictor import TrainedModel
from mlpilot.engine.preprocess import prepare_data
from mlpilot.engine.training import fit


@pytest.fixture(scope="module")
def penguin_model(penguins_df) -> TrainedModel:
    task = TaskSpec(target="species", task_type="multiclass", metric="accuracy", budget_s=60)
    config = TrainingConfig(model=ModelConfig(hidden_sizes=[32]), batch_size=32, max_epochs=25,
                            optimizer=OptimizerConfig(learning_rate=1e-2, scheduler="none"))
    data = prepare_data(penguins_df, task, config)
    return TrainedModel(task, config, data.preprocessor, fit(config, data, task).model)


def test_predicts_labels_and_probabilities(penguin_model, penguins_df):
    frame = penguins_df.drop(columns="species")
    labels = penguin_model.predict(frame)
    assert labels.shape == (344,) and set(labels) <= {"Adelie", "Chinstrap", "Gentoo"}
    assert (labels == penguins_df["species"].to_numpy()).mean() > 0.9
    proba = penguin_model.predict_proba(frame)
    assert proba.shape == (344, 3) and np.allclose(proba.sum(axis=1), 1.0, atol=1e-5)
    assert penguin_model.classes == ["Adelie", "Chinstrap", "Gentoo"]
    np.testing.assert_array_equal(np.asarray(penguin_model.classes)[proba.argmax(axis=1)], labels)


def test_messy_rows_are_tolerated(penguin_model, penguins_df):
    frame = penguins_df.drop(columns=["species", "sex"]).head(5).copy()  # a feature is missing
    frame["island"] = ["Atlantis", None, "Biscoe", "Dream", "Torgersen"]  # unseen and missing
    frame["unrelated"] = "x"
    frame["body_mass_g"] = frame["body_mass_g"].astype(str)  # numbers arriving as text
    assert penguin_model.predict(frame).shape == (5,)
    assert penguin_model.predict(frame.iloc[:0]).shape == (0,)


def test_save_and_load_roundtrip(penguin_model, penguins_df, tmp_path):
    saved = penguin_model.save(tmp_path / "model")
    assert {p.name for p in saved.iterdir()} == {
        "model.pt", "preprocessor.pkl", "config.json", "task.json", "meta.json"}
    assert json.loads((saved / "task.json").read_text())["target"] == "species"
    loaded = TrainedModel.load(saved)
    assert loaded.config == penguin_model.config and loaded.task == penguin_model.task
    np.testing.assert_array_equal(loaded.predict(penguins_df), penguin_model.predict(penguins_df))
    np.testing.assert_array_equal(loaded.predict_proba(penguins_df),
                                  penguin_model.predict_proba(penguins_df))


def test_load_from_a_wrong_directory_says_what_to_do(tmp_path):
    with pytest.raises(FileNotFoundError, match="no saved model in .*: pass a directory written"):
        TrainedModel.load(tmp_path)


def test_regression_predictions_are_on_the_original_scale(linear_df, linear_task, tmp_path):
    config = TrainingConfig(model=ModelConfig(family="linear"), max_epochs=40, batch_size=64,
                            optimizer=OptimizerConfig(learning_rate=0.05))
    data = prepare_data(linear_df, linear_task, config)
    model = TrainedModel(linear_task, config, data.preprocessor, fit(config, data, linear_task).model)
    loaded = TrainedModel.load(model.save(tmp_path / "reg"))
    predicted = loaded.predict(linear_df)
    assert loaded.predict_proba(linear_df) is None
    assert abs(predicted.mean() - linear_df["y"].mean()) < 0.3  # y has mean ~5.7, not ~0
    assert np.corrcoef(predicted, linear_df["y"])[0, 1] > 0.95


@pytest.mark.parametrize("family", ["resnet", "ft_transformer"])
@pytest.mark.parametrize("embedded", [True, False], ids=["embedded", "codes-as-numbers"])
def test_every_network_family_saves_and_loads(family, embedded, penguins_df, tmp_path):
    task = TaskSpec(target="species", task_type="multiclass", metric="accuracy", budget_s=60)
    config = TrainingConfig(model=ModelConfig(family=family, d_block=16, d_token=8, n_heads=2),
                            preprocessing=PreprocessingConfig(categorical_encoding="embedding"))
    data = prepare_data(penguins_df, task, config)
    cards = data.preprocessor.categorical_cardinalities if embedded else None
    network = build_model(config.model, data.n_features, data.n_outputs,
                          categorical_cardinalities=cards)
    model = TrainedModel(task, config, data.preprocessor, network)
    loaded = TrainedModel.load(model.save(tmp_path / family))
    assert embeds_categories(loaded.model) == embedded
    np.testing.assert_allclose(loaded.predict_proba(penguins_df), model.predict_proba(penguins_df),
                               rtol=1e-5, atol=1e-6)
