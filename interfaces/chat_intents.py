"""The offline chat's reading of a line: which chat action the person asks for.

Deterministic rules, in English and Chinese, in the spirit of `agent/understanding`:
"approve", "reject because the data is stale", "why did you pick balanced accuracy?",
"how is it going?", "change the goal to 0.9", "make it 2 minutes", "predict species from
penguins.csv". With an LLM configured the model chooses the action instead; these rules
still decide whether a line is the person's own approval (see `ChatSession`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Literal

from mlpilot.agent.understanding import (
    RequestError,
    has_task_intent,
    normalise,
    parse_budget,
    parse_goal,
    parse_metric,
)
from mlpilot.engine.config import LOWER_IS_BETTER
from mlpilot.interfaces.datasets import find_dataset

IntentName = Literal["quit", "help", "explain", "approve", "reject", "restart", "wait",
                     "status", "start", "change", "unknown"]

_APPROVAL_ID = re.compile(r"\bap-[0-9a-f]{8}\b")
_QUIT = re.compile(r"^(?:quit|exit|bye|goodbye|q|:q|退出|再见)[.!。！]*$")
_HELP = re.compile(r"^(?:help|\?|what can you do\??|帮助|怎么用)")
_WHY = re.compile(r"\bwhy\b|\bexplain\b|\bhow come\b|为什么|为何|原因")
_APPROVE = re.compile(r"^(?:approve[ds]?|yes|y|ok|okay|go ahead|lgtm|sure|ship it|"
                      r"批准|同意|可以|好的?)(?![a-z])")
_REJECT = re.compile(r"^(?:reject(?:ed)?|no|deny|decline|don'?t register|do not register|"
                     r"拒绝|不同意|不批准)(?![a-z])")
_REASON = re.compile(r"(?:\bbecause\b|\bsince\b|\breason:?|:|—|–|,|，|因为)\s*(.+)$")
_RESTART = re.compile(r"^(?:restart|re-?run|start (?:it )?(?:again|over)|run it again|"
                      r"try again|重新开始|重来|重新跑)")
_WAIT = re.compile(r"^(?:wait|wait for it|let me know when|tell me when)|^等")
_STATUS = re.compile(r"how(?: i|')s it going|how is (?:it|the (?:run|job|training)) going|"
                     r"\bstatus\b|\bprogress\b|how far|done yet|is it (?:done|finished)|"
                     r"进度|怎么样|状态|好了吗")
_CHANGE_WHAT = re.compile(r"\b(?:goal|target score|budget|time limit|metric|minutes?|seconds?|"
                          r"hours?)\b|目标|预算|时间|指标")
_CHANGE_VERB = re.compile(r"^(?:change|set|make|raise|lower|increase|decrease|use|give it|"
                          r"actually|instead)\b|\binstead\b|\bto\b|改|换|设")
_GOAL = re.compile(r"(?:goal|target score|目标)\D{0,20}?(\d+(?:\.\d+)?)\s*(%|％)?")


@dataclass(frozen=True)
class Intent:
    """One chat action and its arguments, as read from a line."""

    name: IntentName
    args: dict[str, Any] = field(default_factory=dict)


def read_intent(text: str, *, metric: str | None = None) -> Intent:
    """What the person asks for in `text`.

    Args:
        text: one line of the conversation.
        metric: the metric of the run in focus, so "goal 95" reads as 0.95 for accuracy.
    """
    norm = normalise(text).strip()
    approval = _APPROVAL_ID.search(norm)
    approval_id = approval.group(0) if approval else None
    if not norm:
        return Intent("unknown")
    if _QUIT.match(norm):
        return Intent("quit")
    if _HELP.match(norm):
        return Intent("help")
    if _WHY.search(norm):
        return Intent("explain", {"question": text.strip()})
    if _APPROVE.match(norm):
        return Intent("approve", {"approval_id": approval_id, "reason": _reason(text)})
    if _REJECT.match(norm):
        return Intent("reject", {"approval_id": approval_id, "reason": _reason(text)})
    if _RESTART.match(norm):
        return Intent("restart")
    if _WAIT.match(norm):
        return Intent("wait")
    if _STATUS.search(norm):
        return Intent("status")
    if has_task_intent(text) or find_dataset(text, None) is not None:
        return Intent("start", {"request": text.strip()})
    if _CHANGE_WHAT.search(norm) and _CHANGE_VERB.search(norm):
        return Intent("change", read_changes(text, metric))
    if parse_metric(text) and _CHANGE_VERB.search(norm):
        return Intent("change", read_changes(text, metric))
    return Intent("unknown")


def read_changes(text: str, metric: str | None) -> dict[str, Any]:
    """The goal, budget and metric a change request states (None where it states none)."""
    new_metric = parse_metric(text)
    goal = parse_goal(text, new_metric or metric)
    if goal is None:
        match = _GOAL.search(normalise(text))
        if match:
            goal = float(match.group(1))
            bounded = (new_metric or metric) not in LOWER_IS_BETTER
            if match.group(2) or (bounded and 1 < goal <= 100):
                goal /= 100
    try:
        budget = parse_budget(text)
    except RequestError as err:
        return {"goal": goal, "budget_s": None, "metric": new_metric, "error": str(err)}
    return {"goal": goal, "budget_s": budget, "metric": new_metric}


def _reason(text: str) -> str | None:
    rest = _APPROVAL_ID.sub("", text)
    match = _REASON.search(rest)
    if match:
        return match.group(1).strip() or None
    words = rest.strip().split(maxsplit=1)
    return words[1].strip() if len(words) > 1 and len(words[1].strip()) > 3 else None
