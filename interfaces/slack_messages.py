"""What the Slack bot says: plain thread replies and Block Kit approval messages.

Pure functions from jobs and approvals to Slack message payloads, so the bot's logic
(`slack.py`) stays about events and decisions.
"""

from __future__ import annotations

import html
import re
from typing import Any

APPROVE_ACTION = "mlpilot_approve"
REJECT_ACTION = "mlpilot_reject"
REJECT_VIEW = "mlpilot_reject_reason"
REASON_BLOCK, REASON_INPUT = "reason", "reason_text"

_LABELS = {"config_generator": "Config", "validator": "Checks", "critic": "Critic",
           "features": "Features", "train": "Training", "tune": "Search",
           "fault_doctor": "Fault doctor", "compress": "Compression", "evaluate": "Evaluation",
           "deployer": "Registry", "report": "Report"}


def plain_text(text: str) -> str:
    """A message's text without mentions and with Slack's link markup and escapes undone."""
    text = re.sub(r"<@[A-Z0-9]+(?:\|[^>]*)?>", " ", text)
    text = re.sub(r"<(?:mailto:|https?://)?[^>|]*\|([^>]*)>", r"\1", text)
    text = re.sub(r"<(?:https?://)?([^>]*)>", r"\1", text)
    return " ".join(html.unescape(text).split())


def plan_text(job_id: str, task: dict[str, Any]) -> str:
    """The first reply in a thread: what the bot understood, and the run's id."""
    goal = f", goal {task['goal']:g}" if task.get("goal") is not None else ""
    return (f"On it: predict *{task['target']}* ({task['task_type']}) with "
            f"{task['metric']}{goal}, budget {task['budget_s']:g} s. Run `{job_id}` is queued.")


def milestone_text(stage: str, message: str) -> str:
    """One progress milestone as a thread reply."""
    return f"*{_LABELS.get(stage, stage)}:* {message}"


def approval_blocks(described: dict[str, Any]) -> list[dict[str, Any]]:
    """Block Kit for an approval request: what is asked, why, the config diff, and buttons."""
    lines = [f"*Approval needed* for `{described['job_id']}`", described["what"],
             f"_Why it waits:_ {described['why']}"]
    diff = described.get("config_diff") or []
    if diff:
        lines.append("Config vs defaults: " + ", ".join(
            f"`{d['field']}` {d['value']}" for d in diff[:6]) + (" …" if len(diff) > 6 else ""))
    code = [{"type": "section", "text": {"type": "mrkdwn", "text": _code_text(step)}}
            for step in (described.get("code") or [])[:MAX_CODE_BLOCKS]]
    return [
        {"type": "section", "text": {"type": "mrkdwn", "text": "\n".join(lines)}},
        *code,
        {"type": "context", "elements": [{"type": "mrkdwn", "text": f"approval `{described['id']}`"
                                          " · only approvers can decide"}]},
        {"type": "actions", "block_id": "decision", "elements": [
            {"type": "button", "action_id": APPROVE_ACTION, "style": "primary",
             "text": {"type": "plain_text", "text": "Approve"}, "value": described["id"]},
            {"type": "button", "action_id": REJECT_ACTION, "style": "danger",
             "text": {"type": "plain_text", "text": "Reject"}, "value": described["id"]},
        ]},
    ]


#: Slack's limit on a section's text, and how many transforms a message shows in full.
SECTION_CHARS = 3000
MAX_CODE_BLOCKS = 8


def _code_text(step: dict[str, Any]) -> str:
    """One feature transform as a section: its name and origin, then its code (cut to fit
    Slack's section limit, and said so)."""
    head = f"*{step.get('name')}* ({step.get('origin')}): {step.get('evidence') or ''}"[:400]
    code = str(step.get("code") or "").replace("```", "` ` `")
    room = SECTION_CHARS - len(head) - 60
    if len(code) > room:
        code = code[:room] + "\n# ... cut here: the approval page shows it whole"
    return f"{head}\n```{code}```"


def decided_blocks(described: dict[str, Any], status: str, by: str | None,
                   reason: str | None) -> list[dict[str, Any]]:
    """The approval message once decided: the buttons give way to who decided and why."""
    icon = {"approved": ":white_check_mark:", "rejected": ":x:"}.get(status, ":hourglass:")
    who = f"<@{by.removeprefix('slack:')}>" if by and by.startswith("slack:") else (by or "policy")
    line = f"{icon} *{status.capitalize()}* by {who}" + (f": {reason}" if reason else "")
    return [approval_blocks(described)[0],
            {"type": "context", "elements": [{"type": "mrkdwn", "text": line}]}]


def reject_view(approval_id: str) -> dict[str, Any]:
    """The modal that asks an approver why they reject."""
    return {
        "type": "modal", "callback_id": REJECT_VIEW, "private_metadata": approval_id,
        "title": {"type": "plain_text", "text": "Reject"},
        "submit": {"type": "plain_text", "text": "Reject"},
        "close": {"type": "plain_text", "text": "Cancel"},
        "blocks": [{"type": "input", "block_id": REASON_BLOCK,
                    "label": {"type": "plain_text", "text": "Why? (kept in the audit log)"},
                    "element": {"type": "plain_text_input", "action_id": REASON_INPUT,
                                "multiline": True}}],
    }
