"""The family-aware search space: sampling, describing known configs, the portfolio."""

from __future__ import annotations

import optuna
import pytest

from mlpilot.engine.config import (
    ForestConfig,
    ModelConfig,
    SearchConfig,
    SearchSpace,
    TrainingConfig,
    TreeConfig,
)
from mlpilot.engine.space import config_params, families, portfolio, sample_config

FAMILIES = ["mlp", "resnet", "ft_transformer", "hist_gbt", "extra_trees"]
BASE = TrainingConfig(search=SearchConfig(space=SearchSpace(families=FAMILIES)))


@pytest.mark.parametrize("family", FAMILIES)
def test_each_family_samples_a_valid_config(family):
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    study.enqueue_trial({"family": family})
    config = sample_config(study.ask(), BASE, n_train_rows=1000)
    TrainingConfig.model_validate(config.model_dump())
    assert config.model.family == family
    assert (config.trees is not None) == (family == "hist_gbt")
    assert (config.forest is not None) == (family == "extra_trees")


@pytest.mark.parametrize("config", [
    BASE.model_copy(update={"model": ModelConfig(family="mlp", hidden_sizes=[128, 128],
                                                 dropout=0.2)}),
    BASE.model_copy(update={"model": ModelConfig(family="resnet", n_blocks=3, d_block=128)}),
    BASE.model_copy(update={"model": ModelConfig(family="ft_transformer", n_layers=2,
                                                 d_token=32)}),
    BASE.model_copy(update={"model": ModelConfig(family="hist_gbt"),
                            "trees": TreeConfig(learning_rate=0.05, max_leaf_nodes=64)}),
    BASE.model_copy(update={"model": ModelConfig(family="extra_trees"),
                            "forest": ForestConfig(max_features=0.5, min_samples_leaf=3)}),
], ids=lambda c: c.model.family)
def test_a_known_config_is_described_by_params_that_sample_it_back(config):
    params = config_params(config, BASE.search.space)
    again = sample_config(optuna.trial.FixedTrial(params), BASE, n_train_rows=1000)
    assert again.model.family == config.model.family
    if config.model.family == "hist_gbt":
        assert again.trees.learning_rate == pytest.approx(0.05)
        assert again.trees.max_leaf_nodes == 64
    elif config.model.family == "extra_trees":
        assert again.forest == config.forest
    else:
        assert again.model == config.model.model_copy(update={
            k: getattr(again.model, k) for k in ("dropout", "residual_dropout", "ffn_dropout")})


def test_portfolio_tries_each_other_family_once_and_skips_slow_ones_on_big_data():
    small = portfolio(BASE, n_train_rows=1000)
    assert sorted(c.model.family for c in small) == [
        "extra_trees", "ft_transformer", "hist_gbt", "resnet"]
    big = portfolio(BASE, n_train_rows=100_000)
    assert sorted(c.model.family for c in big) == ["extra_trees", "hist_gbt", "resnet"]


def test_the_portfolio_starts_with_the_tree_models_defaults():
    first, second = portfolio(BASE, n_train_rows=1000)[:2]
    assert (first.model.family, first.trees) == ("hist_gbt", TreeConfig())
    assert (second.model.family, second.forest) == ("extra_trees", ForestConfig())


def test_without_families_the_search_keeps_the_base_family():
    assert families(TrainingConfig()) == ["mlp"]
    assert portfolio(TrainingConfig(), 1000) == []
    params = config_params(TrainingConfig(), SearchSpace())
    assert "family" not in params
