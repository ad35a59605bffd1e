"""Approvals: the queue of risky actions waiting for a human, and the decisions.

A decision is recorded once, with who (the API key's name) and when; a second one, or
one on an expired approval (expired counts as rejected), is refused with 409.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, field_validator

from mlpilot.agent.jobs import JobService
from mlpilot.interfaces.auth import Approver, Viewer
from mlpilot.interfaces.problems import problem_responses

router = APIRouter(prefix="/approvals", tags=["approvals"], responses=problem_responses(401, 403))


class ConfigChange(BaseModel):
    """A config field that differs from the default."""

    field: str
    default: Any = None
    value: Any = None


class ApprovalView(BaseModel):
    """An approval as a person reviews it."""

    id: str
    job_id: str
    action: str = Field(description="train, serve_feature_code, register_champion, "
                        "register_challenger, promote_challenger or retrain.")
    model: str | None = Field(default=None, description="The model, for a deployment's "
                              "approval (promote_challenger, retrain).")
    status: Literal["pending", "approved", "rejected", "expired"]
    what: str = Field(description="What is asked, in words.")
    why: str = Field(description="Why the risk policy asks a human.")
    request: str | None = Field(default=None, description="The job's request.")
    target: str | None = None
    config: dict[str, Any] | None = Field(default=None, description="The TrainingConfig.")
    config_diff: list[ConfigChange] = Field(description="Where the config differs from defaults.")
    estimated_cost: dict[str, Any]
    code: list[dict[str, Any]] | None = Field(
        default=None, description="serve_feature_code: each transform's name, origin, why, "
        "evidence, cross-validated gain and code, which would run at every prediction.")
    payload: dict[str, Any]
    created_at: float
    expires_at: float | None = None
    decided_by: str | None = None
    decided_at: float | None = None
    decision_reason: str | None = None


class Approve(BaseModel):
    """An approval, optionally with a reason for the audit log."""

    model_config = ConfigDict(extra="forbid")
    reason: str | None = Field(default=None, max_length=2000)


class Reject(BaseModel):
    """A rejection: the reason is required."""

    model_config = ConfigDict(extra="forbid")
    reason: str = Field(min_length=1, max_length=2000, description="Why, for the audit log "
                        "(not only spaces).")

    @field_validator("reason")
    @classmethod
    def _not_blank(cls, reason: str) -> str:
        if not reason.strip():
            raise ValueError("a rejection needs a reason, not only spaces")
        return reason.strip()


def _jobs(request: Request) -> JobService:
    return request.app.state.jobs


_LISTING = TypeAdapter(list[ApprovalView])


def _listing_json(described: list[dict[str, Any]]) -> bytes:
    """A listing as JSON, checked against `ApprovalView` as a `response_model` would be."""
    return _LISTING.dump_json(_LISTING.validate_python(described))


@router.get("", response_model=list[ApprovalView])
async def list_approvals(  # async: a few indexed reads, no thread hop
    request: Request, caller: Viewer,
    status: Annotated[Literal["pending", "approved", "rejected", "expired", "all"],
                      Query(description="Which ones; pending by default.")] = "pending",
    job_id: Annotated[str | None, Query(max_length=100)] = None,
) -> Response:
    """Approvals, oldest first: pending ones by default."""
    # Dashboards poll this: the JSON is kept until an approval or its job changes.
    listing = _jobs(request).approvals_listing(
        _listing_json, status=None if status == "all" else status, job_id=job_id)
    return Response(listing, media_type="application/json")


@router.get("/{approval_id}", response_model=ApprovalView, responses=problem_responses(404))
async def get_approval(approval_id: str, request: Request, caller: Viewer) -> dict[str, Any]:
    """One approval, decided or not."""
    jobs = _jobs(request)
    return jobs.describe(jobs.approval(approval_id))


@router.post("/{approval_id}/approve", response_model=ApprovalView,
             responses=problem_responses(404, 409, 422))
def approve(approval_id: str, request: Request, caller: Approver,
            body: Approve | None = None) -> dict[str, Any]:
    """Approve a pending action; the job goes on in a worker."""
    jobs = _jobs(request)
    reason = body.reason if body else None
    return jobs.describe(jobs.approve(approval_id, by=caller.name, reason=reason))


@router.post("/{approval_id}/reject", response_model=ApprovalView,
             responses=problem_responses(404, 409, 422))
def reject(approval_id: str, body: Reject, request: Request, caller: Approver) -> dict[str, Any]:
    """Reject a pending action with a reason; the job goes on without it, or stops."""
    jobs = _jobs(request)
    return jobs.describe(jobs.reject(approval_id, by=caller.name, reason=body.reason))
