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
from mlpilot.agent.store import Store, StoreError

#: Share of ids a retrained model answers as a canary.
CANARY_SHARE = 0.1


def deploy(state: JobState, runtime: Runtime[JobContext]) -> Command[Literal["report"]]:
    """Deployer node: log the best model to MLflow and register it: as the champion, or,
    for a retrain job (job option `deploy_as`: "canary"), as a canary challenger beside it."""
    from mlpilot.agent.trainer import tracker_for  # lazy: keeps MLflow, Optuna out of `plan`
    from mlpilot.tools.training import register_model

    ctx = runtime.context
    job_id = state["job_id"]
    request = TaskRequest.model_validate(state["request"])
    name = model_name(request, state["task"]["target"])
    tracker = tracker_for(ctx)
    previous = _champion(tracker, name)
    store = Store(ctx.settings.state_db)
    canary = as_canary(store, job_id, previous)
    info = register_model(state["best"]["model_dir"], name=name, job_id=job_id,
                          tracker=tracker, run_id=state["mlflow_run_id"],
                          alias=None if canary else "champion")
    version, by = str(info.version), f"deployer ({job_id})"
    if canary:  # a retrain's model earns the champion's place on live feedback first
        from mlpilot.agent.deployments import CHALLENGER_ALIAS, Deployments

        Deployments(ctx.settings, store=store).deploy(
            name, version, by=by, mode="canary", share=CANARY_SHARE, key=f"register:{job_id}",
            reason=f"retrained after drift ({_option(store, job_id, 'retrain_of')})")
        alias, role = CHALLENGER_ALIAS, f"canary challenger ({CANARY_SHARE:.0%} of ids)"
    else:
        # The deployment follows the registry (keyed by job: a re-run records it once), so
        # predictions answer from the new champion and a rollback can put `previous` back.
        store.change_deployment(info.name, "register", by=by, key=f"register:{job_id}",
                                champion=version, known_champion=previous,
                                reason="the job's best model, registration approved")
        alias, role = "champion", "champion"
    model = {"name": info.name, "version": version, "alias": alias,
             "uri": f"models:/{info.name}@{alias}"}
    ctx.emit("deployer", f"registered {info.name} version {version} as {role}")
    return Command(goto="report", update={
        "model": model,
        "decisions": [decision("deployer", f"registered {info.name} v{version} as {role}",
                               "approved for the registry")],
    })


def canary_champion(state: JobState, ctx: JobContext) -> str | None:
    """The champion a job's model would join as a canary challenger (None: the model would
    become the champion). The registration gate asks this before it asks a human."""
    from mlpilot.agent.trainer import tracker_for  # lazy: keeps MLflow out of `plan`

    request = TaskRequest.model_validate(state["request"])
    previous = _champion(tracker_for(ctx), model_name(request, state["task"]["target"]))
    store = Store(ctx.settings.state_db)
    return previous if as_canary(store, state["job_id"], previous) else None


def as_canary(store: Store, job_id: str, champion: str | None) -> bool:
    """Whether the job registers a canary challenger: a retrain job (job option
    `deploy_as`: "canary") of a model that has a champion."""
    return _option(store, job_id, "deploy_as") == "canary" and champion is not None


def _option(store: Store, job_id: str, key: str) -> object:
    """One of the options the job was submitted with (None for a job without a record)."""
    try:
        return store.job(job_id).options.get(key)
    except StoreError:
        return None


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
