"""The resource estimate agrees with what the engine builds and grows with the model."""

from __future__ import annotations

import pytest
from guardrail_data import frame
from mlpilot.engine.config import TaskSpec, TrainingConfig
from mlpilot.engine.data import profile_table
from mlpilot.engine.models import build_model, count_parameters
from mlpilot.engine.preprocess import prepare_data
from mlpilot.guardrails.resources import estimate_resources


@pytest.mark.parametrize("data", ["penguins", "penguins_raw", "constant"])
@pytest.mark.parametrize("max_categories", [2, 30])
def test_estimate_matches_the_engine(data, max_categories):
    df = frame(data)
    task = TaskSpec(target="species", task_type="multiclass", metric="accuracy", budget_s=60)
    config = TrainingConfig(preprocessing={"max_categories": max_categories},
                            model={"hidden_sizes": [32, 16], "batch_norm": True})
    prepared = prepare_data(df, task, config)
    estimate = estimate_resources(task, config, profile_table(df, "species"))
    assert estimate.n_inputs == prepared.n_features
    assert estimate.n_outputs == prepared.n_outputs
    model = build_model(config.model, prepared.n_features, prepared.n_outputs)
    assert estimate.n_parameters == count_parameters(model)
    assert abs(estimate.train_rows - len(prepared.y_train)) <= 2


def test_bigger_models_cost_more(penguins, species_task):
    profile = profile_table(penguins, "species")
    small = estimate_resources(species_task, TrainingConfig(model={"hidden_sizes": [16]}), profile)
    big = estimate_resources(species_task, TrainingConfig(model={"hidden_sizes": [1024, 1024]}),
                             profile)
    assert big.n_parameters > 100 * small.n_parameters
    assert big.memory_mb > small.memory_mb
    assert big.seconds_per_epoch > small.seconds_per_epoch
    assert small.seconds_min == pytest.approx(small.seconds_per_epoch * 21)  # patience 20 + 1
