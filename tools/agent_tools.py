"""The tools the LLM agents see. Each is built for one job, so job state (the data, the
settings) is bound in and stays out of the schema the model sees.

Finishing tools (`submit_task_spec`, `choose_config`, `submit_training_config`, `ask_user`,
`apply_fix`, `submit_transforms`) only carry the model's answer; the calling agent validates it and sends back a retry
message naming the field when it is wrong.
"""

from __future__ import annotations

from typing import Any, Literal

import pandas as pd
from langchain_core.tools import BaseTool
from pydantic import BaseModel, Field

from mlpilot.engine.config import Metric, TaskType, TrainingConfig
from mlpilot.prompts import quote
from mlpilot.tools.base import typed_tool

#: The families the first model may have: it is a network, which checks the config; the
#: search may still pick trees.
NetworkFamily = Literal["linear", "mlp", "resnet", "ft_transformer"]


def describe_column_tool(df: pd.DataFrame) -> BaseTool:
    """A tool that describes one column of this job's data."""

    @typed_tool(risk="low")
    def describe_column(name: str) -> str:
        """Describe one column of the data: type, missing values, distinct values, examples.

        Args:
            name: Exact column name, as in the data profile.
        """
        # names and values are the data's own words: quoted and cut, never instructions
        if name not in df.columns:
            return f"No column {quote(name)}. Columns: {', '.join(map(quote, df.columns))}"
        col = df[name]
        counts = col.value_counts(dropna=True).head(10)
        values = ", ".join(f"{quote(v, 40)}: {n}" for v, n in counts.items())
        return (
            f"{quote(name)}: dtype={col.dtype}, missing={int(col.isna().sum())}/{len(col)}, "
            f"distinct={col.nunique(dropna=True)}, top values (quoted data)={{{values}}}"
        )

    return describe_column


@typed_tool(risk="low")
def submit_task_spec(
    target: str,
    task_type: TaskType,
    metric: Metric,
    budget_s: float,
    goal: float | None = None,
    drop_columns: list[str] | None = None,
    config_candidate: int | None = None,
) -> str:
    """Submit the task specification for this request.

    Args:
        target: Column to predict; must be a column of the data.
        task_type: binary, multiclass or regression.
        metric: Metric to optimise and report.
        budget_s: Training time budget in seconds.
        goal: Score the user asks for as a fraction (0.95 for 95%), or null.
        drop_columns: Columns the user wants left out.
        config_candidate: Number of the training config to start from, as listed.
    """
    return "submitted"


@typed_tool(risk="low")
def ask_user(question: str) -> str:
    """Ask the user one question when the request cannot be turned into a task without guessing.

    Args:
        question: One short question, e.g. which column to predict.
    """
    return "asked"


@typed_tool(risk="low")
def submit_training_config(config: TrainingConfig) -> str:
    """Submit the TrainingConfig for this job; the validator chain checks it.

    Args:
        config: The complete training configuration.
    """
    return "submitted"


@typed_tool(risk="low")
def choose_config(
    candidate: int,
    reason: str,
    family: NetworkFamily | None = None,
    max_epochs: int | None = None,
    learning_rate: float | None = None,
) -> str:
    """Choose one of the expert's candidate training configs, optionally adjusted.

    Args:
        candidate: Number of the candidate config to use.
        reason: One sentence on why it suits this data.
        family: Another network family for the first model, or null to keep the candidate's.
        max_epochs: Another epoch limit, or null to keep the candidate's.
        learning_rate: Another learning rate, or null to keep the candidate's.
    """
    return "chosen"


@typed_tool(risk="medium")
def apply_fix(patch: dict[str, Any], diagnosis: str) -> str:
    """Apply a fix for the training fault as a config patch, then resume training.

    Args:
        patch: Dotted TrainingConfig paths to new values, e.g. {"optimizer.learning_rate": "x0.1"}.
        diagnosis: One sentence on what went wrong.
    """
    return "applied"


class TransformCode(BaseModel):
    """One feature transform the LLM writes."""

    name: str = Field(description="Short name, letters and underscores.")
    code: str = Field(description="Python source defining transform(df) -> df, or fit(df) -> "
                      "state table and transform(df, state) -> df.")
    why: str = Field(description="One sentence on the signal it should add.")


@typed_tool(risk="low")
def submit_transforms(transforms: list[TransformCode]) -> str:
    """Submit feature transforms as Python code; each runs isolated and is kept only if it
    raises the cross-validated score.

    Args:
        transforms: Up to 4 transforms. Each returns the rows it is given, in order, with new
            columns added; the target is never in df; statistics over rows go in fit(df),
            which sees training rows only.
    """
    return "submitted"
