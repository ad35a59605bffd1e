"""Operator limits that a generated config must stay within (one machine by default)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class Limits(BaseModel):
    """What one training job may use; the resource layer of the validator chain checks these."""

    model_config = ConfigDict(extra="forbid")

    max_memory_mb: float = Field(
        default=4096, gt=0, description="Estimated peak memory of one training job, in MiB."
    )
    max_budget_s: float = Field(
        default=24 * 3600, gt=0, description="Longest time budget a task may ask for, in seconds."
    )
    max_parameters: int = Field(
        default=20_000_000, gt=0, description="Largest model (trainable parameters) allowed."
    )
    max_trials: int = Field(default=1000, ge=1, description="Most search trials one job may run.")
    min_train_rows: int = Field(
        default=10, ge=1, description="Fewest training rows left after the valid/test split."
    )
