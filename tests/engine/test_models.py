"""Every network family builds, maps rows to outputs, embeds categorical codes and learns penguins."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn

from mlpilot.engine import training
from mlpilot.engine.config import (
    ModelConfig,
    OptimizerConfig,
    PreprocessingConfig,
    TrainingConfig,
)
from mlpilot.engine.models import FTTransformer, ResNet, build_model, embeds_categories
from mlpilot.engine.predictor import TrainedModel
from mlpilot.engine.preprocess import Preprocessor, prepare_data
from mlpilot.engine.scores import score_predictions

NETWORKS = ["linear", "mlp", "resnet", "ft_transformer"]


def _rows(n_numeric: int, cards: list[int], n: int = 16) -> torch.Tensor:
    numeric = torch.randn(n, n_numeric)
    codes = [torch.randint(0, c, (n, 1)).float() for c in cards]
    return torch.cat([numeric, *codes], dim=1)


@pytest.mark.parametrize("family", NETWORKS)
@pytest.mark.parametrize("cards", [[], [3, 5]], ids=["numeric", "embedded"])
def test_each_family_maps_rows_to_outputs(family, cards):
    model = build_model(ModelConfig(family=family), 4 + len(cards), 3,
                        categorical_cardinalities=cards)
    x = _rows(4, cards)
    model.train()
    assert model(x).shape == (16, 3)
    model.eval()
    assert model(x[:1]).shape == (1, 3)  # one row: no BatchNorm/attention shape trouble
    assert embeds_categories(model) == bool(cards)


def test_families_are_what_they_say():
    assert isinstance(build_model(ModelConfig(family="resnet", n_blocks=3), 5, 2), ResNet)
    assert len(build_model(ModelConfig(family="resnet", n_blocks=3), 5, 2).blocks) == 3
    ft = build_model(ModelConfig(family="ft_transformer", n_layers=3, d_token=16, n_heads=2), 5, 1)
    assert isinstance(ft, FTTransformer) and len(ft.layers) == 3
    assert all(layer.norm_first and layer.self_attn.batch_first for layer in ft.layers)
    # without cardinalities an MLP is still the plain nn.Sequential older models saved
    mlp = build_model(ModelConfig(hidden_sizes=[8]), 5, 2)
    assert [type(m) for m in mlp] == [nn.Linear, nn.ReLU, nn.Dropout, nn.Linear]


def test_codes_change_the_output_through_their_embedding():
    torch.manual_seed(0)
    model = build_model(ModelConfig(family="mlp", hidden_sizes=[8], dropout=0.0), 3, 2,
                        categorical_cardinalities=[4]).eval()
    x = torch.zeros(4, 3)
    x[:, 2] = torch.arange(4).float()
    out = model(x)
    assert len({tuple(row.tolist()) for row in out}) == 4  # four codes, four outputs


def test_bad_family_settings_are_refused():
    with pytest.raises(ValueError, match="hist_gbt.*fit_trees"):
        build_model(ModelConfig(family="hist_gbt"), 5, 2)
    with pytest.raises(ValueError, match="multiple of model.n_heads"):
        build_model(ModelConfig(family="ft_transformer", d_token=30, n_heads=4), 5, 2)
    with pytest.raises(ValueError, match="3 categorical cardinalities for 2 input columns"):
        build_model(ModelConfig(), 2, 2, categorical_cardinalities=[2, 2, 2])


def test_embedding_encoding_emits_trailing_integer_codes():
    train = pd.DataFrame({"x": [1.0, 2.0, 3.0, 4.0, 5.0, 6.0],
                          "color": ["red", "red", "red", "blue", "blue", None],
                          "size": ["S", "M", "S", "M", "S", "L"]})
    pre = Preprocessor(PreprocessingConfig(categorical_encoding="embedding", max_categories=2),
                       "regression").fit(train)
    # color: red, blue, <other>, <missing>; size: S, M, <other> (L is beyond max_categories)
    assert pre.categorical_cardinalities == [4, 3]
    X = pre.transform(pd.DataFrame({"x": [1.0, 2.0, 3.0], "color": ["blue", "green", None],
                                    "size": ["M", "L", "S"]}))
    assert X.dtype == np.float32 and X.shape == (3, pre.n_features) == (3, 3)
    np.testing.assert_array_equal(X[:, 1:], [[1, 1], [2, 2], [3, 0]])
    one_hot = Preprocessor(PreprocessingConfig(max_categories=2), "regression").fit(train)
    assert one_hot.categorical_cardinalities == []
    assert one_hot.transform(train).shape == (6, one_hot.n_features) == (6, 1 + 4 + 3)


@pytest.mark.parametrize("family", NETWORKS)
@pytest.mark.parametrize("encoding", ["onehot", "embedding"])
def test_each_family_learns_penguins(family, encoding, penguins_df, penguins_task, monkeypatch):
    config = TrainingConfig(
        model=ModelConfig(family=family, hidden_sizes=[32]),
        preprocessing=PreprocessingConfig(categorical_encoding=encoding),
        optimizer=OptimizerConfig(learning_rate=1e-2 if family in ("linear", "mlp") else 3e-3,
                                  scheduler="none"),
        batch_size=64, max_epochs=30, early_stopping_patience=6,
    )
    data = prepare_data(penguins_df, penguins_task, config)
    cards = data.preprocessor.categorical_cardinalities
    assert len(cards) == (2 if encoding == "embedding" else 0)  # island, sex
    # fit calls build_model(config.model, n_features, n_outputs); the integration passes
    # categorical_cardinalities=data.preprocessor.categorical_cardinalities, as here
    monkeypatch.setattr(training, "build_model", lambda c, i, o, **kw: build_model(
        c, i, o, **{"categorical_cardinalities": cards, **kw}))
    result = training.fit(config, data, penguins_task)
    model = TrainedModel(penguins_task, config, data.preprocessor, result.model)
    pre = data.preprocessor
    accuracy = score_predictions(penguins_task, pre.decode_target(data.y_test),
                                 model.scores(data.X_test), pre.classes)
    assert accuracy > 0.85
    assert embeds_categories(result.model) == (encoding == "embedding")
