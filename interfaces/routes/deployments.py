"""Deployments: serve a registered version, run a challenger beside it, roll back, send
feedback, propose a promotion, read the drift monitor.

Deploying and rolling back change what answers every prediction: they need the approver
role and are audited (who, when, why). A promotion is proposed by an operator and waits
in the approval queue (`/approvals`, the web page, Slack, the CLI) for an approver.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

import anyio
from fastapi import APIRouter, Request
from fastapi import Path as PathParam
from pydantic import BaseModel, ConfigDict, Field, model_validator

from mlpilot.agent.deployments import Deployments
from mlpilot.agent.store import Deployment, DeploymentChange
from mlpilot.interfaces.auth import Approver, Operator, Viewer
from mlpilot.interfaces.problems import problem_responses

router = APIRouter(tags=["deployments"], responses=problem_responses(401, 403))
Name = Annotated[str, PathParam(max_length=200)]
Text = Annotated[str, Field(max_length=2000)]


class DeployRequest(BaseModel):
    """What to deploy: a version (number) or an alias (default: the newest version)."""

    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=200)
    version: str | None = Field(default=None, pattern=r"^[0-9]{1,9}$")
    alias: str | None = Field(default=None, min_length=1, max_length=100,
                              pattern=r"^[A-Za-z0-9_-]+$")
    mode: Literal["champion", "shadow", "canary"] = Field(
        default="champion", description="champion: it answers every request; shadow: it "
        "scores every request beside the champion, unseen; canary: it answers `share`.")
    share: float = Field(default=0.1, gt=0, lt=1, description="Canary share of ids.")
    reason: Text | None = None

    @model_validator(mode="after")
    def _one_reference(self) -> DeployRequest:
        if self.version is not None and self.alias is not None:
            raise ValueError("give a version or an alias, not both")
        return self


class Reason(BaseModel):
    """Why, for the audit log."""

    model_config = ConfigDict(extra="forbid")
    reason: Text | None = None


class VersionMetricsView(BaseModel):
    """Feedback metrics of one version."""

    version: str
    count: int
    mean_loss: float | None
    metric: str
    value: float | None
    scores: dict[str, float] = Field(default_factory=dict, description="Every metric of the "
                                     "model's task on its labelled predictions (not roc_auc: "
                                     "the log keeps labels, not probabilities).")


class DeploymentView(BaseModel):
    """A deployment, its recent changes and its live metrics."""

    name: str
    champion: str | None
    lineage: list[str] = Field(description="Versions that were champion, oldest first.")
    challenger: str | None
    mode: Literal["shadow", "canary"] | None
    share: float | None
    updated_at: float
    history: list[DeploymentChange]
    live_metrics: list[VersionMetricsView]


class DeployResponse(DeploymentView):
    """A deployment after a change, and how long the change took."""

    version: str
    previous: str | None
    seconds: float


class FeedbackItem(BaseModel):
    """The true value of one prediction, by its id (`ids` of the prediction's answer)."""

    model_config = ConfigDict(extra="forbid")
    id: str = Field(min_length=1, max_length=200)
    value: str | float | int | bool


class FeedbackRequest(BaseModel):
    """Labelled feedback: true values by prediction id."""

    model_config = ConfigDict(extra="forbid")
    feedback: list[FeedbackItem] = Field(min_length=1, max_length=10_000)


class FeedbackResponse(BaseModel):
    """How many true values were recorded, and how many matched a logged prediction."""

    received: int
    matched: int


class ProposalView(BaseModel):
    """A promotion waiting in the approval queue."""

    approval_id: str
    status: str
    what: str


class DriftRow(BaseModel):
    """How one feature (or the predictions, or the performance on feedback) moved from
    training to live rows."""

    column: str
    kind: str
    statistic: str
    value: float
    p_value: float | None
    missing_train: float
    missing_live: float
    drifted: bool


class DriftView(BaseModel):
    """The drift monitor's table over the latest live rows."""

    name: str
    version: str
    live_rows: int
    enough_rows: bool
    features: list[DriftRow]
    drifted: list[str]
    proposal: str | None = Field(description="The retrain proposal's approval id, if one "
                                 "was opened.")


def _deployments(request: Request) -> Deployments:
    return request.app.state.deployments


def _view(deployments: Deployments, deployment: Deployment) -> dict[str, Any]:
    from mlpilot.agent.promotion import live_metrics

    metrics = [m.__dict__ for m in live_metrics(deployments, deployment.name)]
    return {**deployment.model_dump(), "history": deployments.store.history(deployment.name, 20),
            "live_metrics": metrics}


@router.get("/deployments", response_model=list[DeploymentView])
def list_deployments(request: Request, caller: Viewer) -> list[dict[str, Any]]:
    """Every model deployed here, by name."""
    deployments = _deployments(request)
    return [_view(deployments, d) for d in deployments.store.deployment_list()]


@router.post("/deployments", response_model=DeployResponse, status_code=201,
             responses=problem_responses(404, 409, 422))
def deploy(body: DeployRequest, request: Request, caller: Approver) -> dict[str, Any]:
    """Serve a registered version as champion, or beside it as a shadow or canary
    challenger. The version is loaded before it takes traffic."""
    deployments = _deployments(request)
    made = deployments.deploy(body.name, body.version or body.alias, by=caller.name,
                              mode=body.mode, share=body.share, reason=body.reason)
    return {**_view(deployments, made.deployment), "version": made.version,
            "previous": made.previous, "seconds": round(made.seconds, 4)}


@router.get("/deployments/{name}", response_model=DeploymentView, responses=problem_responses(404))
def get_deployment(name: Name, request: Request, caller: Viewer) -> dict[str, Any]:
    """A deployment, its last changes and live metrics per version from feedback."""
    deployments = _deployments(request)
    return _view(deployments, deployments.status(name))


@router.post("/deployments/{name}/rollback", response_model=DeployResponse,
             responses=problem_responses(404, 409, 422))
def rollback(name: Name, request: Request, caller: Approver,
             body: Reason | None = None) -> dict[str, Any]:
    """Put the previous champion back (audited); 409 when there is none."""
    deployments = _deployments(request)
    made = deployments.rollback(name, by=caller.name, reason=body.reason if body else None)
    return {**_view(deployments, made.deployment), "version": made.version,
            "previous": made.previous, "seconds": round(made.seconds, 4)}


@router.post("/deployments/{name}/promotion", response_model=ProposalView, status_code=202,
             responses=problem_responses(404, 409))
def propose(name: Name, request: Request, caller: Operator) -> dict[str, Any]:
    """Propose the challenger's promotion: queued for an approver when feedback shows it
    is not worse than the champion beyond noise, over the minimum count; else 409 saying
    what is missing."""
    from mlpilot.agent.promotion import describe, propose_promotion

    approval = propose_promotion(_deployments(request), name, by=caller.name)
    return {"approval_id": approval.id, "status": approval.status,
            "what": describe(approval)["what"]}


@router.get("/deployments/{name}/drift", response_model=DriftView,
            responses=problem_responses(404, 409))
def drift(name: Name, request: Request, caller: Viewer) -> dict[str, Any]:
    """The drift table of the champion over the latest live rows (no proposal is opened
    here: `mlpilot monitor NAME --propose` or the server's monitor does that)."""
    from mlpilot.agent.drift_watch import monitor

    report = monitor(_deployments(request), name, propose=False)
    counters = getattr(request.app.state, "metrics", None)
    if counters is not None and report.enough_rows:
        counters.drift.set(name, report.features)
    return report.view()


@router.post("/feedback", response_model=FeedbackResponse, responses=problem_responses(422))
async def feedback(body: FeedbackRequest, request: Request, caller: Operator) -> dict[str, int]:
    """Record true values by prediction id: live metrics per version come from them."""
    truths = {item.id: item.value for item in body.feedback}
    matched = await anyio.to_thread.run_sync(
        lambda: _deployments(request).feedback(truths, by=caller.name))
    return {"received": len(body.feedback), "matched": matched}
