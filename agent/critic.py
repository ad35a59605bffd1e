"""Critic: reviews the task and config against the data before any compute is spent.

It looks for ID-like columns, a feature that alone predicts the target almost perfectly
(leakage), and a metric that misleads under class imbalance. Columns it flags for
dropping are dropped and the config goes back to the generator, with the evidence in
the report; otherwise the job moves on to the approval gate.
"""

from __future__ import annotations

from typing import Literal

from langgraph.runtime import Runtime
from langgraph.types import Command

from mlpilot.agent.context import JobContext, load_request_data
from mlpilot.agent.state import JobState, TaskRequest, decision
from mlpilot.agent.understanding import understand
from mlpilot.engine.config import TaskSpec
from mlpilot.guardrails.data_checks import (
    Flag,
    check_metric_vs_imbalance,
    find_id_like_columns,
    find_leaky_columns,
)

#: The critic sends a config back at most this many times.
MAX_CRITIC_ROUNDS = 2


def critique(state: JobState, runtime: Runtime[JobContext]
             ) -> Command[Literal["config_generator", "approve_training"]]:
    """Critic node: flag problems in the data and task; drop what must go, then pass or send back."""
    ctx = runtime.context
    task = TaskSpec.model_validate(state["task"])
    request = TaskRequest.model_validate(state["request"])
    df = load_request_data(request).drop(columns=task.drop_columns, errors="ignore")
    flags = review(df, task)
    findings = [as_finding(f) for f in flags]
    decisions, changes = [], {}
    drop = [f.column for f in flags if f.action == "drop" and f.column
            and f.column not in task.drop_columns and f.column != task.target]
    if drop:
        changes["drop_columns"] = task.drop_columns + list(dict.fromkeys(drop))
        decisions += [decision("critic", f"drop column {f.column!r} ({f.kind})", f.evidence)
                      for f in flags if f.column in drop]
    user_metric = request.metric or understand(request.request, list(df.columns)).metric
    switch = next((f for f in flags if f.action == "switch_metric"), None)
    if switch and not user_metric and switch.suggestion in ("balanced_accuracy", "f1"):
        changes["metric"] = switch.suggestion
        decisions.append(decision("critic", f"metric {task.metric} -> {switch.suggestion}",
                                  switch.evidence))
    for f in flags:
        ctx.emit("critic", f"{f.kind}: {f.column or task.metric}: {f.evidence}")
    update = {"critic_findings": findings, "decisions": decisions}
    round_ = state.get("critic_round", 0)
    if changes and round_ < MAX_CRITIC_ROUNDS:
        new_task = task.model_copy(update=changes).model_dump()
        return Command(goto="config_generator", update={
            **update, "task": new_task, "critic_round": round_ + 1, "repair_round": 0})
    decisions.append(decision("critic", "passed", f"{len(flags)} flag(s), nothing left to change"))
    return Command(goto="approve_training", update=update)


def review(df, task: TaskSpec) -> list[Flag]:
    """Every flag the critic raises for this data and task, with evidence."""
    flags = list(find_id_like_columns(df, task.target))
    flagged = {f.column for f in flags}
    flags += [f for f in find_leaky_columns(df, task.target, task.task_type)
              if f.column not in flagged]
    if task.is_classification:
        flags += check_metric_vs_imbalance(df, task.target, task.task_type, task.metric)
    return flags


def as_finding(flag: Flag) -> dict:
    """A critic flag in the validator chain's finding format, for the report."""
    return {
        "check_id": f"critic.{flag.kind}",
        "severity": "warning",
        "field": f"task.drop_columns" if flag.column else "task.metric",
        "message": flag.evidence,
        "hint": flag.suggestion,
        "repair": None,
    }
