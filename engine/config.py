"""The typed contract between the agents and the engine: what to learn and how to train.

`TaskSpec` says what the user wants (target, task type, metric, goal, budget).
`TrainingConfig` says how the engine trains (preprocessing, model, optimiser, search).
Field constraints live here; cross-field checks live in `guardrails/`.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

TaskType = Literal["binary", "multiclass", "regression"]
Metric = Literal["accuracy", "balanced_accuracy", "f1", "roc_auc", "r2", "rmse", "mae"]

CLASSIFICATION_METRICS: frozenset[str] = frozenset(
    {"accuracy", "balanced_accuracy", "f1", "roc_auc"}
)
REGRESSION_METRICS: frozenset[str] = frozenset({"r2", "rmse", "mae"})
#: Metrics where a lower value is better; every other metric is maximised.
LOWER_IS_BETTER: frozenset[str] = frozenset({"rmse", "mae"})


class TaskSpec(BaseModel):
    """What to predict, how success is measured, and how long the user will wait."""

    model_config = ConfigDict(extra="forbid")

    target: str = Field(description="Name of the column to predict.")
    task_type: TaskType = Field(description="binary, multiclass or regression.")
    metric: Metric = Field(description="Metric the job optimises and reports.")
    goal: float | None = Field(
        default=None, description="Score the user wants on the test set, e.g. 0.95; null if none."
    )
    budget_s: float = Field(gt=0, le=7 * 24 * 3600, description="Training time budget in seconds.")
    drop_columns: list[str] = Field(
        default_factory=list, description="Feature columns to leave out, with reasons in the report."
    )

    @property
    def is_classification(self) -> bool:
        """True for binary and multiclass tasks."""
        return self.task_type != "regression"


class PreprocessingConfig(BaseModel):
    """How raw columns become model inputs."""

    model_config = ConfigDict(extra="forbid")

    numeric_imputation: Literal["median", "mean"] = "median"
    scaling: Literal["standard", "robust", "quantile", "none"] = "standard"
    max_categories: int = Field(
        default=30, ge=2, le=1000,
        description="One-hot encode at most this many levels per categorical column; "
        "rarer levels share one 'other' slot.",
    )
    standardize_target: bool = Field(
        default=True, description="Regression only: train on a standardised target."
    )
    log_target: bool = Field(
        default=False, description="Regression only: train on log1p(target) (target must be >= 0)."
    )


class ModelConfig(BaseModel):
    """The network: a linear model (no hidden layers) or an MLP."""

    model_config = ConfigDict(extra="forbid")

    family: Literal["linear", "mlp"] = "mlp"
    hidden_sizes: list[int] = Field(default_factory=lambda: [128, 64])
    dropout: float = Field(default=0.1, ge=0.0, lt=1.0)
    activation: Literal["relu", "gelu", "silu"] = "relu"
    batch_norm: bool = False


class OptimizerConfig(BaseModel):
    """Optimiser and its schedule."""

    model_config = ConfigDict(extra="forbid")

    name: Literal["adamw", "adam", "sgd"] = "adamw"
    learning_rate: float = Field(default=1e-3, gt=0.0, le=10.0)
    weight_decay: float = Field(default=1e-4, ge=0.0, le=1.0)
    grad_clip_norm: float | None = Field(
        default=None, gt=0.0, description="Clip the global gradient norm to this value; null = off."
    )
    scheduler: Literal["none", "cosine", "plateau"] = "plateau"


class SearchSpace(BaseModel):
    """The ranges Optuna samples from when tuning around the base config."""

    model_config = ConfigDict(extra="forbid")

    learning_rate: tuple[float, float] = (1e-4, 1e-2)
    weight_decay: tuple[float, float] = (1e-6, 1e-2)
    dropout: tuple[float, float] = (0.0, 0.4)
    depth: tuple[int, int] = (1, 3)
    width: list[int] = Field(default_factory=lambda: [64, 128, 256])
    batch_size: list[int] = Field(default_factory=lambda: [64, 128, 256])


class SearchConfig(BaseModel):
    """Optuna search settings and how the time budget is split."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool = True
    max_trials: int = Field(default=50, ge=1, le=10_000)
    sampler: Literal["tpe", "random"] = "tpe"
    pruner: Literal["median", "none"] = "median"
    space: SearchSpace = Field(default_factory=SearchSpace)
    base_fraction: float = Field(
        default=0.3, gt=0.0, le=1.0,
        description="Share of the budget for training the base config; the rest is for search.",
    )


class TrainingConfig(BaseModel):
    """Everything the engine needs to train and tune one model for a TaskSpec."""

    model_config = ConfigDict(extra="forbid")

    preprocessing: PreprocessingConfig = Field(default_factory=PreprocessingConfig)
    model: ModelConfig = Field(default_factory=ModelConfig)
    optimizer: OptimizerConfig = Field(default_factory=OptimizerConfig)
    batch_size: int = Field(default=128, ge=1, le=1_000_000)
    max_epochs: int = Field(default=200, ge=1, le=100_000)
    early_stopping_patience: int = Field(default=20, ge=1)
    validation_fraction: float = Field(default=0.15, gt=0.0, lt=0.5)
    test_fraction: float = Field(default=0.2, gt=0.0, lt=0.5)
    class_weighting: bool = Field(
        default=False, description="Classification only: weight the loss by inverse class frequency."
    )
    search: SearchConfig = Field(default_factory=SearchConfig)
    seed: int = 0
