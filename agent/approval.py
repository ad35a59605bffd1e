"""Approval gates: one node per risky action (a training budget, feature code that will
run at serving time, a registration), each an `interrupt()` with no side effects
before it (LangGraph re-runs a node from its start on resume).

The risk policy decides: auto, log, or approve. With `--yes` the job pre-approves what
the policy allows to be pre-approved; otherwise the graph pauses and the runner puts
the question in the approval queue, where a human answers from the CLI (or any other
driver), in this process or another one.
"""

from __future__ import annotations

from typing import Any, Literal

from langgraph.graph import END
from langgraph.runtime import Runtime
from langgraph.types import Command, interrupt

from mlpilot.agent.context import JobContext
from mlpilot.agent.state import JobState, decision
from mlpilot.guardrails.policy import RiskPolicy
from mlpilot.tools.base import risk_of


def approve_training(state: JobState, runtime: Runtime[JobContext]
                     ) -> Command[Literal["engineer_features", "__end__"]]:
    """Gate before training: large compute budgets wait for a human."""
    from mlpilot.tools.training import train_model  # lazy: keeps MLflow, Optuna out of `plan`

    task = state["task"]
    payload = {"budget_s": task["budget_s"], "target": task["target"], "metric": task["metric"],
               "config": state.get("config")}
    approved, update = _gate(state, runtime.context, "train", risk_of(train_model),
                             budget_s=task["budget_s"], payload=payload)
    if approved:
        return Command(goto="engineer_features", update=update)
    return Command(goto=END, update={**update, "status": "rejected"})


def approve_features(state: JobState, runtime: Runtime[JobContext]) -> Command[Literal["train"]]:
    """Gate before feature transforms become part of the model: saved with it, their code
    runs at every prediction. Code a model wrote is "critical" (asked each time); the
    templates' may be approved in advance. Rejected: the job trains on the raw columns."""
    from mlpilot.tools.features import serve_feature_code

    features = state["features"]
    by_model = any(s["origin"] == "llm" for s in features["steps"])
    payload = {"steps": [{k: s.get(k) for k in ("name", "origin", "why", "evidence", "gain",
                                                 "code", "sha256")} for s in features["steps"]],
               "columns": features.get("columns")}
    approved, update = _gate(state, runtime.context, "serve_feature_code",
                             "critical" if by_model else risk_of(serve_feature_code),
                             payload=payload)
    update["features"] = {**features, "approved": approved}
    if not approved:
        update["decisions"].append(decision("features", "trained without feature transforms",
                                            "serving their code was not approved"))
    return Command(goto="train", update=update)


def approve_registration(state: JobState, runtime: Runtime[JobContext]
                         ) -> Command[Literal["deployer", "report"]]:
    """Gate before the model is registered: as the registry's champion, or, for a retrain
    job, as a canary challenger beside it (action `register_challenger`)."""
    from mlpilot.agent.deployer import CANARY_SHARE, canary_champion
    from mlpilot.tools.training import register_model  # lazy: keeps MLflow, Optuna out of `plan`

    payload = {"metrics": state.get("metrics"), "goal_met": state.get("goal_met"),
               "model_dir": (state.get("best") or {}).get("model_dir")}
    champion = canary_champion(state, runtime.context)
    action = "register_champion"
    if champion is not None:
        action = "register_challenger"
        payload.update(champion=champion, mode="canary", share=CANARY_SHARE)
    approved, update = _gate(state, runtime.context, action, risk_of(register_model),
                             payload=payload)
    return Command(goto="deployer" if approved else "report", update=update)


def _gate(state: JobState, ctx: JobContext, action: str, risk: str, *,
          payload: dict[str, Any], budget_s: float | None = None) -> tuple[bool, dict[str, Any]]:
    """Ask the policy, then pre-approve, pass, or interrupt for a human; returns (approved, update)."""
    settings = ctx.settings
    policy = RiskPolicy(approval_budget_s=settings.approval_budget_s,
                        hard_budget_s=settings.hard_budget_s)
    verdict = policy.decide(action, risk, budget_s=budget_s)
    if verdict.decision != "approve":
        return True, {"decisions": [decision("approval", f"{action}: {verdict.decision}",
                                             verdict.reason)]}
    if state.get("auto_approve") and verdict.pre_approvable:
        record = {"action": action, "status": "approved", "by": "--yes (pre-approved)",
                  "reason": verdict.reason}
        return True, {"approvals": [record],
                      "decisions": [decision("approval", f"{action}: pre-approved", verdict.reason)]}
    ctx.emit("approval", f"waiting for approval: {action} ({verdict.reason})")
    answer = interrupt({"action": action, "reason": verdict.reason, "risk": risk,
                        "pre_approvable": verdict.pre_approvable, "payload": payload})
    approved = bool(answer.get("approved"))
    record = {"action": action, "status": "approved" if approved else "rejected",
              "by": answer.get("by"), "reason": answer.get("reason") or verdict.reason,
              "approval_id": answer.get("approval_id")}
    why = answer.get("reason") or ("approved" if approved else "rejected")
    return approved, {"approvals": [record],
                      "decisions": [decision("approval", f"{action}: {record['status']} by "
                                                         f"{answer.get('by')}", why)]}
