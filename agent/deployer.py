"""Deployer: makes the job's best model the registry's champion (after approval), and
records the change in the model's deployment (`agent/deployments.py`), so serving follows
it and a rollback can put the previous champion back.

Registration is keyed by the job id in the tracker, so a node that runs again after a
crash finds the version it already created instead of registering a second one.
"""

from __future__ import annotations

import re
from typing import Literal

from langgraph.runtime import Runtime
from langgraph.types import Command

from mlpilot.agent.context import JobContext
from mlpilot.agent.state import JobState, TaskRequest, decision
from mlpilot.agent.store import Store


def deploy(state: JobState, runtime: Runtime[JobContext]) -> Command[Literal["report"]]:
    """Deployer node: log the best model to MLflow and register it with the alias 'champion'."""
    from mlpilot.agent.trainer import tracker_for  # lazy: keeps MLflow, Optuna out of `plan`
    from mlpilot.tools.training import register_model

    ctx = runtime.context
    request = TaskRequest.model_validate(state["request"])
    name = model_name(request, state["task"]["target"])
    tracker = tracker_for(ctx)
    previous = _champion(tracker, name)
    info = register_model(state["best"]["model_dir"], name=name, job_id=state["job_id"],
                          tracker=tracker, run_id=state["mlflow_run_id"])
    # The deployment follows the registry (keyed by job: a re-run records it once), so
    # predictions answer from the new champion and `mlpilot rollback` can put `previous` back.
    Store(ctx.settings.state_db).change_deployment(
        info.name, "register", by=f"deployer ({state['job_id']})", key=f"register:{state['job_id']}",
        champion=str(info.version), known_champion=previous,
        reason="the job's best model, registration approved")
    model = {"name": info.name, "version": str(info.version), "alias": info.alias,
             "uri": f"models:/{info.name}@{info.alias}"}
    ctx.emit("deployer", f"registered {info.name} version {info.version} as {info.alias}")
    return Command(goto="report", update={
        "model": model,
        "decisions": [decision("deployer", f"registered {info.name} v{info.version} as champion",
                               "approved for the registry")],
    })


def _champion(tracker, name: str) -> str | None:
    """The version the registry's champion alias points at before this job's registration."""
    try:
        return str(tracker.client.get_model_version_by_alias(name, "champion").version)
    except Exception:  # noqa: BLE001 - no such model or alias yet (MlflowException)
        return None


def model_name(request: TaskRequest, target: str) -> str:
    """The registry name: the request's `model_name`, else `<data file>-<target>`."""
    if request.model_name:
        return request.model_name
    raw = f"{request.data.stem}-{target}"
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", raw).strip("-").lower()
