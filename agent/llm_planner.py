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

`llm_task` runs all this; the planner imports it only when a chat model is configured, so
the offline expert plans without LangChain.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pandas as pd
from langchain_core.messages import HumanMessage
from pydantic import ValidationError

from mlpilot.agent.llm import LLMError, call_until_submitted
from mlpilot.agent.planner import (
    NeedsInput,
    default_metric,
    expert_task,
    metric_fits,
    stated_fields,
    target_class_counts,
)
from mlpilot.agent.target_choice import TargetChoice, choose_target, column_facts
from mlpilot.agent.task_type import decide_task_type, fit_task_type
from mlpilot.agent.understanding import RequestError, Understanding, goal_is_stated
from mlpilot.engine.config import CLASSIFICATION_METRICS, REGRESSION_METRICS, TaskSpec
from mlpilot.engine.data import DataProfile
from mlpilot.prompts import quote, render
from mlpilot.tools.agent_tools import ask_user, describe_column_tool, submit_task_spec

if TYPE_CHECKING:
    from mlpilot.agent.context import JobContext
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


def llm_task(request: TaskRequest, understood: Understanding, df: pd.DataFrame,
             profile: DataProfile, ctx: JobContext) -> tuple[TaskSpec, list[tuple[str, str]]]:
    """Ask the configured LLM for the TaskSpec, showing it the expert's evidence; check its
    answer (`llm_planner.answer_problems`), send a wrong one back once with the reasons,
    then replace what is still wrong by the expert's decision. Explicit fields win."""
    default_budget_s = ctx.settings.default_budget_s
    columns = [c.name for c in profile.columns]
    facts = column_facts(df, profile)
    choice = choose_target(request.request, facts, metric=request.metric or understood.metric,
                           task_hint=request.task_type or understood.task_type_hint)
    stated, _ = stated_fields(request, understood, default_budget_s)
    reading = understood.metric_reading
    firm_metric = request.metric or (None if reading.loose else reading.metric)
    expected = Expected(
        columns=columns, excluded={} if request.target else choice.excluded,
        unusable={f.name for f in facts if not f.usable}, metric=firm_metric,
        goal=stated["goal"], budget_s=stated["budget_s"],
        budget_stated=bool(request.budget_s or understood.budget_s), text=request.request,
        named_target=choice.target if choice.target and choice.ranked[0].named else None)
    explicit = {k: v for k, v in {"target": request.target, "task_type": request.task_type,
                                  "metric": request.metric, "budget_s": request.budget_s,
                                  "goal": request.goal}.items() if v is not None}
    prompt = planner_prompt(request, understood, df, profile, choice, default_budget_s)
    refused: list[str] = []  # the reasons sent back; one round of them at most
    final: dict = {}

    def accept(args: dict) -> TaskSpec | None:
        task, problems = answer_problems({**args, **explicit}, expected, df, profile)
        problems = {k: v for k, v in problems.items() if k not in explicit}
        if problems and not refused:
            refused.append("; ".join(f"{k}: {v}" for k, v in problems.items()))
            raise ValueError(refused[-1])
        final.update(args=args, problems=problems)
        return task

    def question(args: dict) -> None:
        if choice.target is not None and not refused and not request.target:
            refused.append(f"the evidence settles the target: {choice.target!r} ({choice.reason})")
            raise ValueError(refused[-1] + "; submit the task, or ask only if the request "
                             "cannot mean it")
        raise NeedsInput(str(args.get("question") or "Which column should I predict?"),
                         choices=columns)

    try:
        name, task = call_until_submitted(
            ctx.chat_model, [HumanMessage(prompt)],
            tools=[describe_column_tool(df), submit_task_spec, ask_user],
            finish={"submit_task_spec": accept, "ask_user": question}, max_turns=MAX_TURNS)
    except LLMError as err:
        task, why = expert_task(request, understood, df, profile, default_budget_s)
        return task, [("LLM gave no task", f"{err}; used the expert's decision"), *why]
    problems = final.get("problems") or {}
    answer = final.get("args") or {}
    why = [(f"task {answer.get('target')!r} ({answer.get('task_type')}, {answer.get('metric')})",
            f"proposed by the LLM via {name}" + (f" after one retry ({refused[0]})"
                                                  if refused else ""))]
    if task is None or "target" in problems:
        said = problems.get("answer") or problems.get("target")
        task, expert_why = expert_task(request, understood, df, profile, default_budget_s)
        return task, [(f"LLM answer {answer} refused",
                       f"{said}; used the expert's decision: target {task.target!r}"),
                      *expert_why]
    task = task.model_copy(update=explicit)
    column = profile.column(task.target)
    update: dict = {}
    if "task_type" in problems:
        fitted, _ = decide_task_type(column, understood.task_intent, firm_metric,
                                     understood.task_type_hint)
        update["task_type"] = fitted
    task_type = update.get("task_type", task.task_type)
    if "metric" in problems or (firm_metric is None and "metric" not in explicit):
        metric, reason = firm_metric, "stated by the request"
        if metric is None and reading.metric and metric_fits(reading.metric, task_type):
            # as the expert reads it: loose words ("how accurate") name a metric that fits
            metric, reason = reading.metric, f"the request says '{reading.evidence}'"
        if metric is None:
            metric, reason = default_metric(task_type,
                                            target_class_counts(profile, df, task.target, task_type))
        if metric != task.metric:
            update["metric"] = metric
            problems.setdefault("metric", f"no metric stated: the default {metric}, {reason}")
    if "goal" in problems:
        update["goal"] = expected.goal
    if "budget_s" in problems:
        update["budget_s"] = expected.budget_s
    if "drop_columns" in problems:
        update["drop_columns"] = stated["drop_columns"]
    for field_, value in update.items():
        why.append((f"LLM {field_} {getattr(task, field_)} refused",
                    f"{problems[field_]}; used the expert's {value}"))
    if request.drop_columns:
        update["drop_columns"] = sorted(set(update.get("drop_columns", task.drop_columns))
                                        | set(request.drop_columns))
    return task.model_copy(update=update), why


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
