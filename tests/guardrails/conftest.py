"""Shared fixtures for the guardrails tests: the penguins table, a task and a good config."""

from __future__ import annotations

import pandas as pd
import pytest
from guardrail_data import frame

from mlpilot.engine.config import TaskSpec, TrainingConfig


@pytest.fixture
def penguins() -> pd.DataFrame:
    """Penguins without missing values (333 rows)."""
    return frame("penguins").copy()


@pytest.fixture
def species_task() -> TaskSpec:
    """Predict the species at 90% accuracy within two minutes."""
    return TaskSpec(target="species", task_type="multiclass", metric="accuracy", goal=0.9,
                    budget_s=120)


@pytest.fixture
def good_config() -> TrainingConfig:
    """The default config, with search batch sizes that fit the penguins' training rows."""
    return TrainingConfig(search={"space": {"batch_size": [32, 64, 128]}})
