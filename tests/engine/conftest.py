"""Engine test fixtures: the real penguins table, a synthetic regression, fast configs."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mlpilot.engine.config import ModelConfig, OptimizerConfig, TaskSpec, TrainingConfig
from mlpilot.engine.data import load_table
from tests.conftest import dataset


@pytest.fixture(scope="session")
def penguins_df() -> pd.DataFrame:
    """The Palmer penguins table (344 rows, 3 species, some missing values)."""
    return load_table(dataset("penguins.csv"))


@pytest.fixture
def penguins_task() -> TaskSpec:
    """Predict penguin species, scored by accuracy."""
    return TaskSpec(target="species", task_type="multiclass", metric="accuracy", budget_s=60)


@pytest.fixture
def fast_config() -> TrainingConfig:
    """A small MLP that trains in well under a second on a few hundred rows."""
    return TrainingConfig(
        model=ModelConfig(hidden_sizes=[32], dropout=0.1),
        optimizer=OptimizerConfig(learning_rate=1e-2, scheduler="none"),
        batch_size=32, max_epochs=40, early_stopping_patience=8,
    )


@pytest.fixture(scope="session")
def linear_df() -> pd.DataFrame:
    """y = 3*a - 2*b + 5 + noise, with a category that shifts y, and a few missing values."""
    rng = np.random.default_rng(0)
    n = 600
    a, b = rng.normal(size=n), rng.normal(size=n)
    group = rng.choice(["x", "y", "z"], size=n)
    y = 3 * a - 2 * b + 5 + np.where(group == "z", 2.0, 0.0) + rng.normal(scale=0.3, size=n)
    a[rng.choice(n, 10, replace=False)] = np.nan
    return pd.DataFrame({"a": a, "b": b, "group": group, "y": y})


@pytest.fixture
def linear_task() -> TaskSpec:
    """Regress `y` of `linear_df`, scored by R²."""
    return TaskSpec(target="y", task_type="regression", metric="r2", budget_s=60)
