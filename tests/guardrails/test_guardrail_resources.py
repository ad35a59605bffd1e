"""The resource estimate agrees with what the engine builds and grows with the model."""

from __future__ import annotations

import pytest
from guardrail_data import frame

from mlpilot.engine.config import TaskSpec, TrainingConfig
from mlpilot.engine.data import profile_table
from mlpilot.engine.models import build_model, count_parameters
from mlpilot.engine.preprocess import prepare_data
from mlpilot.guardrails.resources import estimate_resources, try_estimate
from mlpilot.guardrails.validators import validate

MODELS = {
    "linear": {"family": "linear"},
    "mlp": {"hidden_sizes": [32, 16], "batch_norm": True},
    "resnet": {"family": "resnet", "n_blocks": 2, "d_block": 32},
    "ft_transformer": {"family": "ft_transformer", "d_token": 16, "n_heads": 4, "n_layers": 2},
}


@pytest.mark.parametrize("data", ["penguins", "penguins_raw", "constant"])
@pytest.mark.parametrize("max_categories", [2, 30])
@pytest.mark.parametrize("encoding", ["onehot", "embedding"])
@pytest.mark.parametrize("family", list(MODELS))
def test_estimate_matches_the_engine(data, max_categories, encoding, family):
    df = frame(data)
    task = TaskSpec(target="species", task_type="multiclass", metric="accuracy", budget_s=60)
    config = TrainingConfig(preprocessing={"max_categories": max_categories,
                                           "categorical_encoding": encoding},
                            model=MODELS[family])
    prepared = prepare_data(df, task, config)
    estimate = estimate_resources(task, config, profile_table(df, "species"))
    assert estimate.n_inputs == prepared.n_features
    assert estimate.n_outputs == prepared.n_outputs
    model = build_model(config.model, prepared.n_features, prepared.n_outputs,
                        categorical_cardinalities=prepared.preprocessor.categorical_cardinalities)
    assert estimate.n_parameters == count_parameters(model)
    assert abs(estimate.train_rows - len(prepared.y_train)) <= 2


def test_attention_costs_more_per_parameter_than_an_mlp(penguins, species_task):
    profile = profile_table(penguins, "species")
    mlp = estimate_resources(species_task, TrainingConfig(model=MODELS["mlp"]), profile)
    ft = estimate_resources(species_task, TrainingConfig(model=MODELS["ft_transformer"]), profile)
    # a transformer applies its weights once per feature token, an MLP once per row
    assert (ft.seconds_per_epoch / ft.n_parameters) > 3 * (mlp.seconds_per_epoch / mlp.n_parameters)


def test_trees_cost_time_by_rows_features_and_iterations(penguins, species_task):
    profile = profile_table(penguins, "species")
    few = estimate_resources(species_task, TrainingConfig(
        model={"family": "hist_gbt"}, trees={"max_iter": 100}), profile)
    many = estimate_resources(species_task, TrainingConfig(
        model={"family": "hist_gbt"}, trees={"max_iter": 1000}), profile)
    assert few.n_parameters == 0
    assert many.seconds_min == pytest.approx(10 * few.seconds_min)


@pytest.mark.parametrize("family", ["lightgbm", "xgboost", "catboost"])
def test_boosted_tree_libraries_cost_time_by_their_rounds(family, penguins, species_task):
    profile = profile_table(penguins, "species")
    few = estimate_resources(species_task, TrainingConfig(
        model={"family": family}, booster={"max_rounds": 100}), profile)
    many = estimate_resources(species_task, TrainingConfig(
        model={"family": family}, booster={"max_rounds": 1000}), profile)
    assert few.n_parameters == 0 and few.memory_mb > 0
    assert many.seconds_min == pytest.approx(10 * few.seconds_min)
    # the validator chain passes a default booster config (no network to build)
    report = validate(species_task, TrainingConfig(model={"family": family}), profile)
    assert not [f for f in report.findings if f.severity == "error"], report.findings


def test_a_model_that_cannot_be_built_has_no_estimate_but_a_finding(penguins, species_task):
    profile = profile_table(penguins, "species")
    config = {"model": {"family": "ft_transformer", "d_token": 1024, "n_heads": 3}}
    assert try_estimate(species_task, TrainingConfig.model_validate(config), profile) is None
    report = validate(species_task, config, profile)
    assert not report.passed and report.resources is None
    assert [f.check_id for f in report.findings if f.severity == "error"] == [
        "d_token_multiple_of_heads"]


def test_bigger_models_cost_more(penguins, species_task):
    profile = profile_table(penguins, "species")
    small = estimate_resources(species_task, TrainingConfig(model={"hidden_sizes": [16]}), profile)
    big = estimate_resources(species_task, TrainingConfig(model={"hidden_sizes": [1024, 1024]}),
                             profile)
    assert big.n_parameters > 100 * small.n_parameters
    assert big.memory_mb > small.memory_mb
    assert big.seconds_per_epoch > small.seconds_per_epoch
    assert small.seconds_min == pytest.approx(small.seconds_per_epoch * 21)  # patience 20 + 1
