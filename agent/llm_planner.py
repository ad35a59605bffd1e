"""The planner's LLM path: the model sees the expert's evidence and decides by tool call; the
expert's checks then judge its answer against the data and the request's words.

The prompt carries the evidence, not the whole profile: the expert's top candidate columns
with their scores, kinds, distinct counts and sample values, the columns ruled out, and the
expert's readings of metric, goal, budget, drops and task words. The answer is checked
field by field (`answer_problems`): the target is a column and not ruled out, the task
type fits the number of classes, the metric fits the task and is the stated one, the goal
and budget are stated or the default. A wrong answer goes back to the model once with the
reasons; a second wrong answer is replaced by the expert's decision for each wrong field,
and the report says so.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pandas as pd
from pydantic import ValidationError

from mlpilot.agent.target_choice import TargetChoice
from mlpilot.agent.task_type import fit_task_type
from mlpilot.agent.understanding import RequestError, Understanding, goal_is_stated
from mlpilot.engine.config import CLASSIFICATION_METRICS, REGRESSION_METRICS, TaskSpec
from mlpilot.engine.data import DataProfile
from mlpilot.prompts import quote, render

if TYPE_CHECKING:
    from mlpilot.agent.state import TaskRequest

PROMPT = "planner"
#: How many candidate columns, sample values and other column names the prompt shows.
N_CANDIDATES, N_SAMPLES, N_OTHERS = 5, 4, 60
#: How much of each sample value the prompt shows (names are cut at `quote`'s default).
SAMPLE_WIDTH = 24
#: The model's turns in all (describe_column calls, the answer, its one retry).
MAX_TURNS = 5

Why = list[tuple[str, str]]


@dataclass
class Expected:
    """What the request and the data settle before the model answers, for the checks."""

    columns: list[str]
    excluded: dict[str, str]
    unusable: set[str]
    metric: str | None  # stated firmly, or None
    goal: float | None  # stated, or None
    budget_s: float  # stated, or the default
    budget_stated: bool
    text: str = ""  # the request, to tell a goal it writes from one the model invented
    #: the target the request names outright, when the expert chose it: a written name
    #: outranks any reading by meaning, so another column is a wrong answer
    named_target: str | None = None


def planner_prompt(request: TaskRequest, understood: Understanding, df: pd.DataFrame,
                   profile: DataProfile, choice: TargetChoice, default_budget_s: float) -> str:
    """The planner prompt: the request, the expert's candidate columns and its readings."""
    kinds = {c.name: c for c in profile.columns}
    top = choice.ranked[:N_CANDIDATES]
    candidates = []
    for cand in top:
        col = kinds[cand.column]
        samples = ", ".join(quote(e, SAMPLE_WIDTH) for e in col.examples[:N_SAMPLES])
        if col.kind == "numeric" and col.min is not None:
            samples = f"{col.min:g} to {col.max:g}; e.g. {samples}"
        candidates.append({"column": cand.column, "score": cand.score, "kind": col.kind,
                           "n_unique": col.n_unique, "samples": samples})
    shown = {c.column for c in top} | set(choice.excluded)
    others = [c.name for c in profile.columns if c.name not in shown]
    others_text = ", ".join(quote(c) for c in others[:N_OTHERS]) + (
        f" and {len(others) - N_OTHERS} more" if len(others) > N_OTHERS else "")
    return render(PROMPT, request=request.request, data_name=request.data.name,
                  n_rows=profile.n_rows, n_columns=len(profile.columns), candidates=candidates,
                  excluded=", ".join(quote(c) for c in choice.excluded),
                  others=others_text or "none",
                  readings=_readings(request, understood, choice, default_budget_s),
                  default_budget_s=f"{default_budget_s:g}")


def _readings(request: TaskRequest, understood: Understanding, choice: TargetChoice,
              default_budget_s: float) -> str:
    reading = understood.metric_reading
    metric = request.metric or reading.metric
    budget = request.budget_s or understood.budget_s
    goal = request.goal if request.goal is not None else understood.goal
    lines = [
        f"- target: {quote(choice.target)}" if choice.target else
        f"- target: undecided ({quote(choice.reason, 200)})",
        f"- metric: {metric} (from {quote(reading.evidence)})" if metric and reading.evidence else
        f"- metric: {metric}" if metric else "- metric: none stated (use the default)",
        f"- goal: {goal:g}" if goal is not None else "- goal: none stated (null)",
        f"- budget: {budget:g}s" if budget else f"- budget: none stated ({default_budget_s:g}s)",
        "- drop: " + ", ".join(quote(c) for c in request.drop_columns + understood.drop_columns)
        if request.drop_columns or understood.drop_columns else "- drop: none",
    ]
    intent = understood.task_intent
    if intent.kind:
        lines.append(f"- task words: {quote(intent.evidence)} say {intent.kind}")
    if request.task_type or understood.task_type_hint:
        lines.append(f"- task type stated: {request.task_type or understood.task_type_hint}")
    return "\n".join(lines)


def answer_problems(args: dict[str, Any], expected: Expected, df: pd.DataFrame,
                    profile: DataProfile) -> tuple[TaskSpec | None, dict[str, str]]:
    """The model's answer as a TaskSpec (None when it is not one) and what is wrong with it,
    by field: the reason each check failed."""
    try:
        task = TaskSpec.model_validate({**args, "drop_columns": args.get("drop_columns") or []})
    except ValidationError as err:
        return None, {"answer": "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}"
                                          for e in err.errors())}
    problems: dict[str, str] = {}
    if task.target not in expected.columns:
        problems["target"] = f"{task.target!r} is not a column of the data"
        return task, problems
    if task.target in expected.excluded:
        problems["target"] = f"{task.target!r} is ruled out: {expected.excluded[task.target]}"
    elif expected.named_target and task.target != expected.named_target:
        problems["target"] = (f"the request names the column {expected.named_target!r}; "
                              f"{task.target!r} is not named")
    elif task.target in expected.unusable:
        problems["target"] = (f"{task.target!r} cannot be a target (an identifier, constant, "
                              "free text, dates or empty)")
    column = profile.column(task.target)
    try:
        fitted, _ = fit_task_type(task.task_type, column, None)
    except RequestError as err:
        fitted, problems["task_type"] = None, str(err)
    if fitted and fitted != task.task_type:
        problems["task_type"] = (f"{task.target!r} has {column.n_unique} distinct values: "
                                 f"{fitted}, not {task.task_type}")
    task_type = fitted or task.task_type
    fits = CLASSIFICATION_METRICS if task_type != "regression" else REGRESSION_METRICS
    if expected.metric and task.metric != expected.metric:
        problems["metric"] = f"the request states {expected.metric}, not {task.metric}"
    elif task.metric not in fits:
        problems["metric"] = f"{task.metric} does not fit a {task_type} target"
    if task.goal is not None and task.goal != expected.goal and not (
            expected.goal is None and goal_is_stated(expected.text, task.goal)):
        problems["goal"] = (f"the request states no goal {task.goal:g}"
                            + (f"; it states {expected.goal:g}" if expected.goal is not None
                               else "; pass null"))
    if abs(task.budget_s - expected.budget_s) > 1e-6:
        problems["budget_s"] = (f"the request allows {expected.budget_s:g}s" if
                                expected.budget_stated else
                                f"the request states no budget: the default is "
                                f"{expected.budget_s:g}s")
    bad_drops = [c for c in task.drop_columns if c not in expected.columns or c == task.target]
    if bad_drops:
        problems["drop_columns"] = (f"{', '.join(map(repr, bad_drops))} cannot be dropped: "
                                    "not a column, or the target")
    return task, problems
