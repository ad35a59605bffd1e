"""Typed state of a job.

Two halves, as in open_deep_research: the structured inputs and outputs the agents
produce (pydantic models), and the graph state that flows between nodes (a TypedDict
of JSON-able values, so the SQLite checkpointer stores plain data and a job can resume
in another process). Keys that several nodes append to have reducers.
"""

from __future__ import annotations

import math
import operator
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Generic, Literal, TypeVar

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field
from typing_extensions import TypedDict

from mlpilot.engine.config import MAX_BUDGET_S, MAX_SEED, Metric, TaskType
from mlpilot.engine.model_names import model_name_problem

JobStatus = Literal[
    "running", "waiting_approval", "needs_input", "rejected", "succeeded", "failed"
]


#: How deeply `training` overrides may nest (TrainingConfig itself nests three levels);
#: deeper input is refused before anything walks it recursively.
MAX_OVERRIDE_DEPTH = 8


def bounded_overrides(value: Any) -> Any:
    """Refuse `training` overrides nested deeper than `MAX_OVERRIDE_DEPTH`, or holding a
    number that is not finite, before pydantic (or a JSON encoder) recurses into them."""
    stack = [(value, 1)]
    while stack:  # iterative: a recursive walk is what a deep input would break
        item, depth = stack.pop()
        if isinstance(item, dict | list):
            if depth > MAX_OVERRIDE_DEPTH:
                raise ValueError(f"nested more than {MAX_OVERRIDE_DEPTH} levels deep; "
                                 "overrides follow TrainingConfig, e.g. {\"optimizer\": "
                                 "{\"learning_rate\": 0.01}}")
            stack.extend((v, depth + 1) for v in (item.values() if isinstance(item, dict) else item))
        elif isinstance(item, float) and not math.isfinite(item):
            raise ValueError(f"{item} is not a finite number")
    return value


def _valid_model_name(name: str | None) -> str | None:
    problem = None if name is None else model_name_problem(name)
    if problem:
        raise ValueError(problem)
    return name


#: `training` overrides, bounded in depth (checked before validation walks them).
TrainingOverrides = Annotated[dict[str, Any], BeforeValidator(bounded_overrides)]
#: A registry name the model registry accepts.
ModelName = Annotated[str | None, AfterValidator(_valid_model_name)]


class TaskRequest(BaseModel):
    """What a user asked for, from any driver (CLI, YAML, Python, REST, chat, Slack).

    Only `data` is required besides some way to tell the task: a plain-language
    `request`, or explicit fields. Explicit fields win over what the request says.
    """

    model_config = ConfigDict(extra="forbid")

    request: str = Field(default="", description="The task in plain language.")
    data: Path = Field(description="CSV or Parquet file to learn from.")
    test_data: Path | None = Field(default=None, description="Optional held-out test file.")
    target: str | None = None
    task_type: TaskType | None = None
    metric: Metric | None = None
    goal: float | None = Field(default=None, allow_inf_nan=False,
                               description="Score wanted on the test set, in the metric's range.")
    budget_s: float | None = Field(default=None, gt=0, le=MAX_BUDGET_S, allow_inf_nan=False)
    drop_columns: list[str] = Field(default_factory=list)
    na_values: list[str] = Field(default_factory=list)
    seed: int = Field(default=0, ge=0, le=MAX_SEED)
    model_name: ModelName = Field(
        default=None, description="Registry name for the model; default: derived from the data file."
    )
    training: TrainingOverrides = Field(
        default_factory=dict, description="Overrides merged into the generated TrainingConfig."
    )


class Decision(BaseModel):
    """One decision an agent made, and why; the report lists them in order."""

    stage: str
    decision: str
    why: str


def decision(stage: str, what: str, why: str) -> dict[str, str]:
    """A `Decision` as the plain dict the graph state stores."""
    return Decision(stage=stage, decision=what, why=why).model_dump()


Goto = TypeVar("Goto", bound=str)


@dataclass(frozen=True)
class Step(Generic[Goto]):
    """What a role decided: the node to run next and its update to the job's state.

    The roles that `mlpilot plan` runs too (planner, config generator, validator, critic,
    report) return this instead of LangGraph's `Command`, so planning runs them without
    importing LangGraph; `graph.py` turns each into a node that returns
    `Command[Goto]`, with the same typed edges.
    """

    goto: Goto
    update: dict[str, Any]


class JobState(TypedDict, total=False):
    """Everything one job's graph carries between nodes (JSON-able values only)."""

    job_id: str
    request: dict[str, Any]  # TaskRequest
    auto_approve: bool
    status: JobStatus
    error: str | None
    question: str | None
    choices: list[str] | None  # the answers a `question` offers (e.g. columns to predict)

    profile: dict[str, Any]  # engine.data.DataProfile
    task: dict[str, Any]  # engine.config.TaskSpec
    config: dict[str, Any]  # engine.config.TrainingConfig, as generated / repaired
    config_choice: dict[str, Any] | None  # the LLM's pick among the expert's candidates
    findings: list[dict[str, Any]]  # the validator's findings on the current config
    critic_findings: Annotated[list[dict[str, Any]], operator.add]  # every critic flag
    validation_history: Annotated[list[dict[str, Any]], operator.add]
    repair_round: int
    critic_round: int
    first_pass_valid: bool | None
    decisions: Annotated[list[dict[str, str]], operator.add]
    approvals: Annotated[list[dict[str, Any]], operator.add]

    features: dict[str, Any] | None  # kept feature transforms (agent/feature_engineer.py)
    mlflow_run_id: str | None
    budget_used_s: float
    fault: dict[str, Any] | None  # the open TrainingFault, if any
    fault_fixes: Annotated[list[dict[str, Any]], operator.add]
    tolerated_faults: Annotated[list[str], operator.add]  # kinds no longer watched for
    resume_from: str | None  # checkpoint to resume the base run from
    base: dict[str, Any] | None  # {"model_dir", "score", "epochs", "seconds"}
    search: dict[str, Any] | None  # summary of the Optuna search
    best: dict[str, Any] | None  # {"model_dir", "score", "source", "config"}
    compression: dict[str, Any] | None  # tools.compression.CompressionOutcome, when it ran

    metrics: dict[str, float]
    baseline_metrics: dict[str, float]
    goal_met: bool | None
    model: dict[str, Any] | None  # {"name", "version", "alias", "uri"}
    report_path: str | None  # the JSON report
    report_markdown_path: str | None
