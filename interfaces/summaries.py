"""Short sentences about a job for people: the chat, Slack threads and the web pages say
the same thing the same way."""

from __future__ import annotations

from typing import Any

#: Progress stages worth a line of their own in a conversation (epochs and trials are not).
MILESTONE_STAGES = {"planner", "config_generator", "validator", "critic", "train", "tune",
                    "fault_doctor", "compress", "evaluate", "approval", "deployer",
                    "report"}


def is_milestone(event: dict[str, Any]) -> bool:
    """Whether a progress event is a milestone rather than one epoch or one trial."""
    if "epoch" in event or "trial" in event:
        return False
    return event.get("stage") in MILESTONE_STAGES


def outcome(result: dict[str, Any]) -> str:
    """One or two sentences on how a finished (or stopped) job ended."""
    run, status = result.get("run_id"), result.get("status")
    if status == "failed":
        return f"{run} failed: {result.get('error') or 'see its report'}."
    if status == "needs_input":
        return f"{run} needs an answer: {question_text(result.get('question'), result.get('choices'))}"
    if status == "cancelled":
        return f"{run} was cancelled."
    if status == "rejected":
        return f"{run} stopped before training: the training budget was rejected."
    task, metrics = result.get("task") or {}, result.get("metrics") or {}
    metric = task.get("metric")
    parts = [f"{run} {status}"]
    if metric in metrics:
        score = f"{metric} {metrics[metric]:.4f} on the test set"
        base = (result.get("baseline_metrics") or {}).get(metric)
        if base is not None:
            score += f" (baseline {base:.4f})"
        parts.append(score)
    goal_met = result.get("goal_met")
    if goal_met is not None:
        parts.append(f"goal {task.get('goal')} {'met' if goal_met else 'not met'}")
    text = ": ".join(parts[:2]) + "".join(f"; {p}" for p in parts[2:]) + "."
    model = result.get("model")
    if model:
        text += f" Registered {model['name']} v{model['version']} as {model['alias']}."
    elif status == "succeeded":
        text += " No model was registered."
    return text


#: A question shows at most this many of its choices; the rest are counted.
MAX_CHOICES_SHOWN = 30


def question_text(question: str | None, choices: list[str] | None) -> str:
    """The planner's question with its choices as a numbered list, one per line (a person
    may answer with the number or the name)."""
    shown = list(choices or [])[:MAX_CHOICES_SHOWN]
    lines = [question or "Which column should I predict?"]
    lines += [f"  {i}. {c}" for i, c in enumerate(shown, 1)]
    if choices and len(choices) > len(shown):
        lines.append(f"  ... and {len(choices) - len(shown)} more")
    return "\n".join(lines)


def chosen(answer: str, choices: list[str] | None) -> str | None:
    """The choice an answer picks, by its number ("2") or its name, or None."""
    text, options = answer.strip().strip(".").strip("`'\""), list(choices or [])
    if text.isdigit() and 1 <= int(text) <= len(options):
        return options[int(text) - 1]
    return next((c for c in options if c.lower() == text.lower()), None)


def approval_question(approval: Any) -> str:
    """What an approval asks, and why the policy calls it risky."""
    payload = approval.payload or {}
    what = {"train": f"train with a budget of {payload.get('budget_s', 0):g} s",
            "register_champion": "register the model as the champion",
            "register_challenger": "register the model as a canary challenger beside "
                                   f"champion v{payload.get('champion')}",
            "serve_feature_code": f"run {len(payload.get('steps') or [])} generated feature "
                                  "transform(s) at every prediction"}.get(
        approval.action, approval.action)
    detail = ""
    if approval.action in ("register_champion", "register_challenger") and payload.get("metrics"):
        metrics = payload["metrics"]
        detail = " (test " + ", ".join(f"{k} {v:.4f}" for k, v in list(metrics.items())[:2]) + ")"
    return f"{approval.job_id} asks to {what}{detail}: {approval.reason}"
