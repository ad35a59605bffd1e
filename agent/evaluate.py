"""Evaluate node: the chosen model on the held-out test rows, against the goal and a
trivial baseline (majority class or mean)."""

from __future__ import annotations

from typing import Literal

from langgraph.runtime import Runtime
from langgraph.types import Command

from mlpilot.agent.context import JobContext, load_request_data, load_request_test_data
from mlpilot.agent.state import JobState, TaskRequest, decision
from mlpilot.engine.config import TaskSpec, TrainingConfig
from mlpilot.tools.training import evaluate_model


def evaluate(state: JobState, runtime: Runtime[JobContext]) -> Command[Literal["approve_registration"]]:
    """Evaluate node: test metrics, baseline metrics, and whether the goal is met."""
    ctx = runtime.context
    task = TaskSpec.model_validate(state["task"])
    request = TaskRequest.model_validate(state["request"])
    best = state["best"]
    result = evaluate_model(best["model_dir"], load_request_data(request), task,
                            TrainingConfig.model_validate(best["config"]),
                            test_df=load_request_test_data(request))
    value, base = result.metrics[task.metric], result.baseline_metrics[task.metric]
    test_rows = "the user's test file" if request.test_data else "a held-out split"
    why = f"{task.metric} {value:.4f} on {result.n_test} rows of {test_rows}; baseline {base:.4f}"
    if task.goal is None:
        verdict = "no goal stated"
    else:
        verdict = f"goal {task.goal} {'met' if result.goal_met else 'NOT met'}"
    ctx.emit("evaluate", f"{why}; {verdict}")
    return Command(goto="approve_registration", update={
        "metrics": result.metrics, "baseline_metrics": result.baseline_metrics,
        "goal_met": result.goal_met,
        "decisions": [decision("evaluate", verdict, why)],
    })
