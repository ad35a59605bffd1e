"""Planning without training: the roles of a job's first half (planner, config generator,
validator chain, critic), run in the order the job graph runs them, up to the training gate,
and not persisted.

The roles run here directly, not in the compiled LangGraph graph: `mlpilot plan` then loads
no LangGraph, PyTorch or scikit-learn (a plan takes a second or two instead of eight). The
state evolves as in the graph (`JobState`'s reducers); the one difference is the validator's
dry run, a few training steps that need PyTorch, which a plan leaves to the job.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from typing import Any, get_args, get_origin, get_type_hints

from mlpilot.agent.config_generator import generate_config
from mlpilot.agent.context import JobContext, ProgressSink
from mlpilot.agent.critic import critique
from mlpilot.agent.planner import plan
from mlpilot.agent.report import result_document
from mlpilot.agent.settings import Settings, resolve_provider
from mlpilot.agent.state import JobState, Step, TaskRequest
from mlpilot.agent.submission import check_submission
from mlpilot.agent.validator import validate_config

#: The roles a plan runs, by their node names in `graph.py`; a step that leads anywhere else
#: (the training gate) ends the plan. A new role between the critic and training belongs here.
PLAN_ROLES: dict[str, Callable[[JobState, JobContext], Step]] = {
    "planner": plan, "config_generator": generate_config, "validator": validate_config,
    "critic": critique}


def planning_context(settings: Settings | None = None, *, progress: ProgressSink | None = None,
                     chat_model: Any = None) -> JobContext:
    """The context a plan runs in: no dry run; the configured chat model (built only for an
    LLM provider, so the offline expert loads no LangChain)."""
    settings = settings or Settings()
    if chat_model is None and resolve_provider(settings) != "offline":
        from mlpilot.agent.llm import build_chat_model  # LangChain: an LLM provider only

        chat_model = build_chat_model(settings)
    return JobContext(settings=settings, chat_model=chat_model, progress=progress,
                      dry_run=False)


def plan_only(context: JobContext, request: TaskRequest) -> dict[str, Any]:
    """The TaskSpec, the validated TrainingConfig and the findings for a request.

    Raises what a job's first steps raise for bad input (`DataError`, `RequestError`,
    `ConfigRejected`, `SubmissionError`)."""
    check_submission(request, context.settings)  # what a job would refuse, `plan` refuses
    values = run_roles(context, request, until=None)
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


def check_request(context: JobContext, request: TaskRequest) -> dict[str, Any]:
    """Check a request the way a job's first step will, without starting a job: the data
    loads, the task is understood and fits the data (the planner alone).

    Raises the same `DataError` / `RequestError` a job would. Returns the planner's
    task (`{"task": ...}`), or `{"question": ..., "choices": [...]}` when the target is
    unclear.
    """
    values = run_roles(context, request, until="planner")
    if values.get("status") == "needs_input":
        return {"question": values.get("question"), "choices": values.get("choices") or []}
    return {"task": values.get("task")}


def run_roles(context: JobContext, request: TaskRequest, *, until: str | None
              ) -> dict[str, Any]:
    """The job's state after its plan roles have run from the planner on, as the graph
    would leave it at the training gate (or right after the role `until`)."""
    values: dict[str, Any] = {"request": request.model_dump(mode="json"),
                              "auto_approve": False, "status": "running", "budget_used_s": 0.0}
    node = "planner"
    while node in PLAN_ROLES:
        step = PLAN_ROLES[node](values, context)
        for key, value in step.update.items():
            if key in _reducers():  # a key several roles append to, as the graph's channel
                reducer, empty = _reducers()[key]
                value = reducer(values[key] if key in values else empty(), value)
            values[key] = value
        if node == until:
            break
        node = step.goto
    return values


@cache
def _reducers() -> dict[str, tuple[Callable[[Any, Any], Any], type]]:
    """Each `JobState` key that has a reducer: (the reducer, the type of its empty value),
    as LangGraph reads them from `Annotated[list[...], operator.add]`."""
    found = {}
    for key, hint in get_type_hints(JobState, include_extras=True).items():
        reducer = next((m for m in getattr(hint, "__metadata__", ()) if callable(m)), None)
        if reducer is not None:
            base = get_args(hint)[0]
            found[key] = (reducer, get_origin(base) or base)
    return found
