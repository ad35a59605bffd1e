"""Evaluate node: the chosen model on the held-out test rows, against the goal and a
trivial baseline (majority class with the class priors as probabilities, or the mean).

A model that is not strictly better than that baseline on the job's metric is never
offered for registration: the job stops with a question (`needs_input`) and says why.
"""

from __future__ import annotations

from typing import Literal

from langgraph.runtime import Runtime
from langgraph.types import Command

from mlpilot.agent.context import JobContext
from mlpilot.agent.featured_data import job_frames
from mlpilot.agent.state import JobState, TaskRequest, decision
from mlpilot.engine.config import LOWER_IS_BETTER, TaskSpec, TrainingConfig
from mlpilot.guardrails.findings import Finding


def evaluate(state: JobState, runtime: Runtime[JobContext]
             ) -> Command[Literal["approve_registration", "report"]]:
    """Evaluate node: test metrics, baseline metrics, and whether the goal is met; a model
    that does not beat the baseline ends the job with a question instead of a registration."""
    from mlpilot.tools.training import evaluate_model  # lazy: keeps MLflow, Optuna out of `plan`

    ctx = runtime.context
    task = TaskSpec.model_validate(state["task"])
    request = TaskRequest.model_validate(state["request"])
    best = state["best"]
    df, test_df = job_frames(state, request)
    result = evaluate_model(best["model_dir"], df, task,
                            TrainingConfig.model_validate(best["config"]), test_df=test_df)
    value, base = result.metrics[task.metric], result.baseline_metrics[task.metric]
    test_rows = "the user's test file" if request.test_data else "a held-out split"
    why = f"{task.metric} {value:.4f} on {result.n_test} rows of {test_rows}; baseline {base:.4f}"
    if task.goal is None:
        verdict = "no goal stated"
    else:
        verdict = f"goal {task.goal} {'met' if result.goal_met else 'NOT met'}"
    ctx.emit("evaluate", f"{why}; {verdict}")
    update = {"metrics": result.metrics, "baseline_metrics": result.baseline_metrics,
              "goal_met": result.goal_met, "decisions": [decision("evaluate", verdict, why)]}
    if result.beats_baseline:
        return Command(goto="approve_registration", update=update)
    finding = no_better_than_baseline(task.metric, value, base, result.n_test)
    ctx.emit("evaluate", finding.message)
    question = f"{finding.message} {finding.hint}"
    return Command(goto="report", update={
        **update, "status": "needs_input", "question": question,
        "findings": [*(state.get("findings") or []), finding.model_dump()],
        "decisions": [*update["decisions"],
                      decision("evaluate", "not registered: no better than the baseline", why)],
    })


def no_better_than_baseline(metric: str, value: float, base: float, n_test: int) -> Finding:
    """The finding for a model whose test score does not beat the trivial baseline's."""
    direction = "lower" if metric in LOWER_IS_BETTER else "higher"
    return Finding(
        check_id="beats_baseline", severity="error", field=f"metrics.{metric}",
        message=(f"the model's {metric} on the {n_test} test rows ({value:.4f}) is not "
                 f"{direction} than the trivial baseline's ({base:.4f}), so it was not "
                 "registered."),
        hint=("Give the job a longer budget, more rows or more informative columns, or "
              "check that the target and metric are the ones you mean."))
