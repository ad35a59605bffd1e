"""Promotion: live metrics per version from feedback, the challenger's case, and the
approval it waits in.

    metrics = live_metrics(deployments, "churn")          # per version, from POST /feedback
    approval = propose_promotion(deployments, "churn", by="olivia")   # Conflict if not ready
    ...  a human approves it (web page, Slack, CLI, REST): `apply_decision` promotes

Deployment approvals sit in the same queue as the jobs' (`agent/store/approvals.py`),
under the job id `deployment:<name>`; every driver's decision goes through
`apply_decision`, which changes the deployment once per approval (keyed by its id).
"""

from __future__ import annotations

import uuid
from typing import Any

from mlpilot.agent.deployments import Deployments, DeployResult
from mlpilot.agent.store import Approval, Conflict
from mlpilot.agent.store.deployments import (
    PROMOTE,
    RETRAIN,
    approval_job_id,
)
from mlpilot.engine.live_metrics import (
    Comparison,
    VersionMetrics,
    compare,
    feedback_scores,
    row_loss,
    version_metrics,
    with_scores,
)
from mlpilot.guardrails.policy import RiskPolicy


def losses_by_version(deployments: Deployments, name: str, since: float | None = None
                      ) -> dict[str, dict[str, float]]:
    """version -> {prediction id: loss} over the labelled predictions (answers and shadows)."""
    found: dict[str, dict[str, float]] = {}
    classification: dict[str, bool] = {}
    for row in deployments.log.labelled(name, since=since):
        if row.version not in classification:
            model = deployments.server.model(name, row.version)
            classification[row.version] = model.classes is not None
        loss = row_loss(row.output, row.truth, classification[row.version])
        if loss is not None:
            found.setdefault(row.version, {})[row.id] = loss
    return found


def live_metrics(deployments: Deployments, name: str, since: float | None = None
                 ) -> list[VersionMetrics]:
    """Feedback metrics of every version that has labelled predictions, by version: the
    loss promotion compares, and every metric of the version's task (its job's metric too)
    on those predictions."""
    labelled = deployments.log.labelled(name, since=since)
    losses = losses_by_version(deployments, name, since)
    found = []
    for version in sorted(losses, key=int):
        model = deployments.server.model(name, version)
        rows = [r for r in labelled if r.version == version and r.id in losses[version]]
        scores = feedback_scores(model.task, [r.output for r in rows], [r.truth for r in rows],
                                 model.classes)
        found.append(with_scores(version_metrics(version, list(losses[version].values()),
                                                 model.classes is not None), scores))
    return found


def evaluate(deployments: Deployments, name: str) -> tuple[str, str, Comparison]:
    """(champion, challenger, how the challenger compares); Conflict without a challenger."""
    deployment = deployments.status(name)
    if deployment.challenger is None or deployment.champion is None:
        raise Conflict(f"model {name!r} has no challenger: deploy one with "
                       f"`mlpilot deploy {name}@VERSION --mode shadow` (or canary)")
    losses = losses_by_version(deployments, name)
    settings = deployments.settings
    verdict = compare(losses.get(deployment.champion, {}), losses.get(deployment.challenger, {}),
                      min_count=settings.promotion_min_feedback, z=settings.promotion_z)
    return deployment.champion, deployment.challenger, verdict


def propose_promotion(deployments: Deployments, name: str, *, by: str) -> Approval:
    """Queue the challenger's promotion for a human, when feedback shows it is not worse
    beyond noise over the minimum count; Conflict (with the reason) when it does not."""
    champion, challenger, verdict = evaluate(deployments, name)
    if not verdict.ready or not verdict.not_worse:
        raise Conflict(f"v{challenger} of {name!r} cannot be proposed yet: {verdict.reason}")
    reason = RiskPolicy().decide(PROMOTE, "high").reason
    payload: dict[str, Any] = {"model": name, "champion": champion, "challenger": challenger,
                               "comparison": verdict.__dict__, "proposed_by": by,
                               "metrics": [m.__dict__ for m in live_metrics(deployments, name)]}
    store = deployments.store
    for pending in store.approvals(status="pending", job_id=approval_job_id(name)):
        if pending.action == PROMOTE and (pending.payload.get("champion"),
                                          pending.payload.get("challenger")) == (champion, challenger):
            return pending  # asked already: one pending proposal per pair
    return store.request_approval(approval_job_id(name),
                                  f"promote:{champion}->{challenger}:{uuid.uuid4().hex[:8]}",
                                  PROMOTE, reason, payload,
                                  ttl_s=deployments.settings.approval_ttl_s)


def apply_decision(deployments: Deployments, approval: Approval) -> DeployResult | None:
    """Carry out a decided deployment approval (once per approval; a rejection only ends it).

    A promotion whose champion or challenger changed since it was proposed is not applied:
    a person approved that pair, not whatever runs now."""
    if approval.status != "approved":
        return None
    name = approval.payload["model"]
    if approval.action == PROMOTE:
        deployment = deployments.status(name)
        wanted = (approval.payload["champion"], approval.payload["challenger"])
        if (deployment.champion, deployment.challenger) != wanted:
            raise Conflict(f"{name!r} changed since the promotion was proposed (champion "
                           f"v{deployment.champion}, challenger v{deployment.challenger}): "
                           "propose it again")
        # The challenger becoming champion ends its run as challenger (in the same change).
        return deployments.deploy(name, wanted[1], by=approval.decided_by or "approval",
                                  reason=f"promotion {approval.id} approved", key=approval.id)
    if approval.action == RETRAIN:
        from mlpilot.agent.retrain import start_retrain  # lazy: the job service is heavy

        start_retrain(deployments, approval)
    return None


def describe(approval: Approval) -> dict[str, Any]:
    """What a reviewer sees of a deployment approval (as `JobService.describe` gives jobs')."""
    payload = approval.payload
    name = payload.get("model")
    if approval.action == PROMOTE:
        comparison = payload.get("comparison") or {}
        what = (f"promote {name} v{payload.get('challenger')} to champion in place of "
                f"v{payload.get('champion')} ({comparison.get('reason', '')})")
        cost = {"compute_s": 0.0, "effect": "the challenger answers every prediction at once; "
                "`mlpilot rollback` puts the champion back"}
    else:
        rows = payload.get("drifted", [])
        drifted = ", ".join(f["column"] for f in rows if f["column"] != "(performance)")
        fell = [f"{f['statistic']} {f['value']:.4f}" for f in rows
                if f["column"] == "(performance)"]
        reasons = [f"live data drifted from training ({drifted})"] if drifted else []
        reasons += [f"performance on labelled feedback fell ({fell[0]})"] if fell else []
        what = f"retrain {name}: {'; '.join(reasons) or 'drift (see payload)'}"
        cost = {"compute_s": payload.get("budget_s"), "effect": "a training job; its model "
                "becomes a challenger, not the champion"}
    return {**approval.model_dump(), "what": what, "why": approval.reason, "model": name,
            "target": payload.get("target"), "config": None, "config_diff": [],
            "estimated_cost": cost, "request": None}
