"""The risk policy: turns an action's risk level into auto / log / approve.

Each tool declares its risk next to its definition; the agent asks `RiskPolicy.decide`
before running it. "approve" stops for a human. A pre-approvable approval may be granted
ahead of time (e.g. "yes, train up to 2 hours" in the request); a critical one, such as a
delete, is always asked for at the moment it happens.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

Risk = Literal["low", "medium", "high", "critical"]
Decision = Literal["auto", "log", "approve"]


class PolicyDecision(BaseModel):
    """What to do before an action runs, and why."""

    decision: Decision
    reason: str
    pre_approvable: bool = Field(
        default=False, description="True when an approval given in advance may cover it."
    )


class RiskPolicy(BaseModel):
    """Maps (action, risk, budget) to a decision; the thresholds are the operator's settings."""

    model_config = ConfigDict(extra="forbid")

    approval_budget_s: float = Field(
        default=600, gt=0, description="Training budgets above this need approval."
    )
    hard_budget_s: float = Field(
        default=4 * 3600, gt=0,
        description="Training budgets above this need approval at the time, never in advance.",
    )

    def decide(self, action: str, risk: Risk, *, budget_s: float | None = None) -> PolicyDecision:
        """Decide whether `action` at `risk` runs on its own, is logged, or waits for approval.

        Training with a budget over `approval_budget_s`, registering a champion model or a
        canary challenger, promoting a challenger, retraining on drift and serving generated
        feature code (`serve_feature_code`; code a model wrote, risk "critical", is never
        pre-approved) always need approval, whatever their declared risk.
        """
        if action == "train" and budget_s is not None and budget_s > self.approval_budget_s:
            within_hard = budget_s <= self.hard_budget_s
            reason = (
                f"training budget {budget_s:g} s is over the approval threshold of "
                f"{self.approval_budget_s:g} s"
            )
            if not within_hard:
                reason += (
                    f" and over the hard limit of {self.hard_budget_s:g} s for advance approval"
                )
            return PolicyDecision(decision="approve", reason=reason, pre_approvable=within_hard)
        if action == "register_champion":
            return PolicyDecision(
                decision="approve", pre_approvable=True,
                reason="registering a champion model changes what is deployed",
            )
        if action == "register_challenger":
            return PolicyDecision(
                decision="approve", pre_approvable=True,
                reason="registering a canary challenger lets it answer a share of predictions "
                "beside the champion")
        if action == "serve_feature_code":
            by_model = risk == "critical"
            return PolicyDecision(
                decision="approve", pre_approvable=not by_model,
                reason="feature transforms would run as code (in the sandbox) on every "
                "prediction" + ("; a model wrote them, so a human reads them each time"
                                if by_model else ""))
        if action == "promote_challenger":
            return PolicyDecision(
                decision="approve", reason="promoting a challenger changes which model answers "
                "every prediction")
        if action == "retrain":
            return PolicyDecision(
                decision="approve", reason="live data drifted from training: retraining starts "
                "a job on the training data and the labelled live rows")
        if risk == "low":
            return PolicyDecision(decision="auto", reason=f"{action} is low risk")
        if risk == "medium":
            return PolicyDecision(decision="log", reason=f"{action} is medium risk: run and log it")
        if risk == "high":
            return PolicyDecision(
                decision="approve", pre_approvable=True,
                reason=f"{action} is high risk: a human approves it (may be approved in advance)",
            )
        return PolicyDecision(
            decision="approve", pre_approvable=False,
            reason=f"{action} is critical (e.g. deletes data): a human approves it each time",
        )
