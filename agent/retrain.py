"""Retraining after drift: an approved proposal becomes a job on the training data plus
the labelled live rows.

The new table is the champion's training file with the logged inputs that have feedback
appended (their true value in the target column), written to the upload folder (a data
root, so the server may read it). The job keeps the first job's request, target, metric
and seed, and registers under the same model name as a canary challenger beside the
champion (job option `deploy_as`, read by the deployer); it runs in the server's workers.
Its search is warm-started from the champion's run (job option `warm_start_from`: the
run's job id and the champion's config, read by the tune node's `agent/warm_start.py`).
"""

from __future__ import annotations

import re
from typing import Any

import pandas as pd

from mlpilot.agent.deployments import Deployments
from mlpilot.agent.drift_watch import training_job
from mlpilot.agent.state import TaskRequest
from mlpilot.agent.store import Approval, Conflict
from mlpilot.engine.data import load_table


def retrain_table(deployments: Deployments, name: str, source: dict[str, Any]) -> pd.DataFrame:
    """The source job's training data with the labelled live rows appended."""
    target = (source.get("target") or "").strip()
    data = load_table(source["data"], source.get("na_values") or None)
    if not target or target not in data.columns:
        raise Conflict(f"the job that trained {name} names no target column in its data: "
                       "retrain with `mlpilot run` and --target")
    truths = {r.id: r.truth for r in deployments.log.labelled(name) if r.role == "answer"}
    live = [{**row["inputs"], target: truths[row["id"]]}
            for row in deployments.log.rows(name, role="answer")
            if row["inputs"] is not None and row["id"] in truths]
    if not live:
        return data
    extra = pd.DataFrame(live).reindex(columns=data.columns)
    return pd.concat([data, extra], ignore_index=True)


def start_retrain(deployments: Deployments, approval: Approval) -> str:
    """Queue the retrain job of an approved proposal (once per approval); returns its id."""
    from mlpilot.agent.jobs import JobService  # lazy: the job service builds the graph

    name, version = approval.payload["model"], approval.payload["champion"]
    done = [h for h in deployments.store.history(name) if h.key == approval.id]
    if done:
        return done[0].reason or ""
    job = training_job(deployments, name, version)
    if job is None:
        raise Conflict(f"{name} v{version} was not trained by a job here, so there is no "
                       "request to repeat: train it again with `mlpilot run`")
    source = job.request
    task = source.get("target") or ((job.result or {}).get("task") or {}).get("target") or ""
    table = retrain_table(deployments, name, {**source, "target": task})
    safe = re.sub(r"[^A-Za-z0-9_.-]+", "-", name)
    path = deployments.settings.upload_dir / f"retrain-{safe}-{approval.id}.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    table.to_csv(path, index=False)
    request = TaskRequest.model_validate({**source, "data": str(path), "test_data": None,
                                          "target": task, "model_name": name,
                                          "budget_s": approval.payload.get("budget_s")})
    champion = deployments.server.model(name, version)
    warm = {"run": job.id, "version": version,
            "config": champion.config.model_dump(mode="json")}
    service = JobService(deployments.settings, workers=0)
    queued, _ = service.submit(request, auto_approve=False, by=approval.decided_by,
                               options={"deploy_as": "canary", "retrain_of": approval.id,
                                        "warm_start_from": warm})
    deployments.store.change_deployment(name, "retrain", by=approval.decided_by, key=approval.id,
                                        reason=queued.id, known_champion=version)
    return queued.id

