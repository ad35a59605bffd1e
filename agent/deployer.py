"""Deployer: makes the job's best model the registry's champion (after approval).

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


def deploy(state: JobState, runtime: Runtime[JobContext]) -> Command[Literal["report"]]:
    """Deployer node: log the best model to MLflow and register it with the alias 'champion'."""
    from mlpilot.agent.trainer import tracker_for  # lazy: keeps MLflow, Optuna out of `plan`
    from mlpilot.tools.training import register_model

    ctx = runtime.context
    request = TaskRequest.model_validate(state["request"])
    name = model_name(request, state["task"]["target"])
    info = register_model(state["best"]["model_dir"], name=name, job_id=state["job_id"],
                          tracker=tracker_for(ctx), run_id=state["mlflow_run_id"])
    model = {"name": info.name, "version": str(info.version), "alias": info.alias,
             "uri": f"models:/{info.name}@{info.alias}"}
    ctx.emit("deployer", f"registered {info.name} version {info.version} as {info.alias}")
    return Command(goto="report", update={
        "model": model,
        "decisions": [decision("deployer", f"registered {info.name} v{info.version} as champion",
                               "approved for the registry")],
    })


def model_name(request: TaskRequest, target: str) -> str:
    """The registry name: the request's `model_name`, else `<data file>-<target>`."""
    if request.model_name:
        return request.model_name
    raw = f"{request.data.stem}-{target}"
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", raw).strip("-").lower()
