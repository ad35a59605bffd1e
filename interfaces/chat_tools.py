"""The typed tools the LLM chooses among in `mlpilot chat`.

Each is bound to one `ChatSession` (state stays out of the schema the model sees) and
calls the session's action of the same name, so the LLM path and the offline rules do
exactly the same things. Approving and rejecting are high risk: the policy has a human
approve them, and the person's own words on this line are that approval (`chat_gate`).
When the model decides without them, the tool layer refuses the call, audits it, and the
model is told to ask the person to confirm.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from langchain_core.tools import BaseTool

from mlpilot.interfaces.chat_intents import Intent
from mlpilot.tools.base import typed_tool
from mlpilot.tools.gate import ToolGate

if TYPE_CHECKING:
    from mlpilot.interfaces.chat import ChatSession


#: The chat actions a person decides by saying so; the LLM may carry them out, never decide them.
DECISIONS = ("approve", "reject")


def chat_gate(said: Intent) -> ToolGate:
    """The tool gate of one chat turn: only the decision the person's own line states
    (read by the offline rules, not by the model) counts as a human's approval."""
    return ToolGate(where="chat", approved={said.name} & set(DECISIONS))


def chat_tools(session: ChatSession) -> list[BaseTool]:
    """The chat tools for one session (its gate, `chat_gate`, decides what they may do)."""

    @typed_tool(risk="medium")
    def start_job(request: str, data: str | None = None) -> str:
        """Start a training job from the person's description of what to predict.

        Args:
            request: The task in the person's words, e.g. "predict species, at least 95% accuracy, 2 minutes".
            data: The CSV or Parquet file to learn from, as the person named it; null if they named none.
        """
        return session.start_job(request, data)

    @typed_tool(risk="low")
    def job_status(job_id: str | None = None, wait: bool = False) -> str:
        """Say how a run is going: its stage, latest score, or how it ended.

        Args:
            job_id: The run id; null for the run in focus.
            wait: Wait until the run finishes or needs a decision (only when the person asks to wait).
        """
        return session.job_status(job_id, wait)

    @typed_tool(risk="medium")
    def change_goal(goal: float | None = None, budget_s: float | None = None,
                    metric: str | None = None) -> str:
        """Change the goal, time budget or metric of the run in focus.

        Args:
            goal: New score to reach as a fraction (0.9 for 90%), or null to leave it.
            budget_s: New training budget in seconds, or null to leave it.
            metric: New metric (accuracy, balanced_accuracy, f1, precision, recall, roc_auc, r2, rmse, mae), or null.
        """
        return session.change_goal(goal, budget_s, metric)

    @typed_tool(risk="high")
    def approve(approval_id: str | None = None, reason: str | None = None) -> str:
        """Approve what waits for a human decision, as the person asked.

        Args:
            approval_id: The approval id (ap-...); null for the only pending one.
            reason: Why, for the audit log, if the person gave a reason.
        """
        return session.approve(approval_id, reason)

    @typed_tool(risk="high")
    def reject(reason: str, approval_id: str | None = None) -> str:
        """Reject what waits for a human decision, as the person asked.

        Args:
            reason: The person's reason, for the audit log.
            approval_id: The approval id (ap-...); null for the only pending one.
        """
        return session.reject(reason, approval_id)

    @typed_tool(risk="low")
    def explain_decision(question: str, job_id: str | None = None) -> str:
        """Answer why a decision was made, from the run's decision log.

        Args:
            question: The person's question, e.g. "why balanced accuracy?".
            job_id: The run id; null for the run in focus.
        """
        return session.explain_decision(question, job_id)

    return [start_job, job_status, change_goal, approve, reject, explain_decision]
