"""Planning without training: the first half of the job graph (planner, config
generator, validator chain, critic), stopped before the training gate and not persisted.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from langgraph.checkpoint.memory import InMemorySaver

from mlpilot.agent.graph import build_graph
from mlpilot.agent.report import result_document
from mlpilot.agent.state import TaskRequest
from mlpilot.agent.store import new_job_id
from mlpilot.agent.submission import check_submission

if TYPE_CHECKING:
    from mlpilot.agent.runner import Runner


def plan_only(runner: Runner, request: TaskRequest) -> dict[str, Any]:
    """The TaskSpec, the validated TrainingConfig and the findings for a request."""
    check_submission(request, runner.settings)  # what a job would refuse, `plan` refuses
    graph = build_graph(InMemorySaver())
    job_id = new_job_id().replace("run-", "plan-")
    config = {"configurable": {"thread_id": job_id}}
    graph.invoke({"job_id": job_id, "request": request.model_dump(mode="json"),
                  "auto_approve": False, "status": "running", "budget_used_s": 0.0},
                 config, context=runner.context, interrupt_before=["approve_training", "train"])
    values = graph.get_state(config).values
    status = "needs_input" if values.get("status") == "needs_input" else "planned"
    return plan_view(result_document(values, status=status))


def plan_view(doc: dict[str, Any]) -> dict[str, Any]:
    """A job's document as `plan` shows it: no run, so none of a run's keys."""
    for key in ("metrics", "baseline_metrics", "goal_met", "budget_used_s", "model",
                "mlflow_run_id", "report_path", "report_markdown_path", "search", "model_source",
                "validation_score", "approvals", "fault_fixes"):
        doc.pop(key, None)
    doc["run_id"] = None
    return doc


def check_request(runner: Runner, request: TaskRequest) -> dict[str, Any]:
    """Check a request the way a job's first step will, without starting a job: the data
    loads, the task is understood and fits the data (the planner node alone).

    Raises the same `DataError` / `RequestError` a job would. Returns the planner's
    task (`{"task": ...}`), or `{"question": ..., "choices": [...]}` when the target is
    unclear.
    """
    graph = build_graph(InMemorySaver())
    job_id = new_job_id().replace("run-", "check-")
    config = {"configurable": {"thread_id": job_id}}
    graph.invoke({"job_id": job_id, "request": request.model_dump(mode="json"),
                  "auto_approve": False, "status": "running", "budget_used_s": 0.0},
                 config, context=runner.context, interrupt_after=["planner"])
    values = graph.get_state(config).values
    if values.get("status") == "needs_input":
        return {"question": values.get("question"), "choices": values.get("choices") or []}
    return {"task": values.get("task")}
