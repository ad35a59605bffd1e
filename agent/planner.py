"""Planner: turns the request and a profile of the data into a `TaskSpec`.

Offline, the expert reads the request with `agent.understanding` and decides from the
profile; with an LLM it calls `submit_task_spec` (or `ask_user`). Either way explicit
request fields win, and the answer is checked against the data. When the target cannot
be determined the job stops with a question instead of guessing.
"""

from __future__ import annotations

from typing import Literal

import pandas as pd
from langchain_core.messages import HumanMessage
from langgraph.graph import END
from langgraph.runtime import Runtime
from langgraph.types import Command
from pydantic import ValidationError

from mlpilot.agent.context import JobContext, load_request_data
from mlpilot.agent.llm import call_until_submitted
from mlpilot.agent.state import JobState, TaskRequest, decision
from mlpilot.agent.submission import check_task
from mlpilot.agent.understanding import RequestError, Understanding, understand
from mlpilot.engine.config import CLASSIFICATION_METRICS, REGRESSION_METRICS, TaskSpec
from mlpilot.engine.data import DataError, DataProfile, TargetProfile, profile_table
from mlpilot.prompts import render
from mlpilot.tools.agent_tools import ask_user, describe_column_tool, submit_task_spec

PROMPT = "planner"
#: Words in a target's name that say its integer codes are classes, not quantities.
CLASS_WORDS = ("type", "class", "category", "label", "kind", "species", "group", "grade")


class NeedsInput(Exception):
    """The request does not say enough to plan; carries the question for the user."""


def plan(state: JobState, runtime: Runtime[JobContext]) -> Command[Literal["config_generator", "__end__"]]:
    """Planner node: request + data profile -> TaskSpec, or a question for the user."""
    ctx = runtime.context
    request = TaskRequest.model_validate(state["request"])
    df = load_request_data(request)
    columns = [str(c) for c in df.columns]
    understood = understand(request.request, columns)  # raises for "forever", "-5 minutes"
    profile = profile_table(df)
    try:
        if ctx.chat_model is None:
            task, why = expert_task(request, understood, df, profile,
                                    ctx.settings.default_budget_s)
        else:
            task, why = llm_task(request, understood, df, profile, ctx)
    except NeedsInput as question:
        ctx.emit("planner", str(question))
        return Command(goto=END, update={"status": "needs_input", "question": str(question)})
    task = _check_against_data(task, df, request)
    profile = with_target(profile, df, task.target)
    missing = _all_missing(profile, task.drop_columns)
    task = task.model_copy(update={"drop_columns": task.drop_columns + missing})
    check_task(task, request, columns, ctx.settings)  # before a job is queued or trains
    notes = [decision("planner", f"drop column {c!r}", "all values are missing") for c in missing]
    ctx.emit("planner", f"predict {task.target!r} ({task.task_type}), {task.metric}, "
                        f"budget {task.budget_s:.0f}s", target=task.target, metric=task.metric,
             budget_s=task.budget_s)
    return Command(
        goto="config_generator",
        update={
            "task": task.model_dump(),
            "profile": profile.model_dump(mode="json"),
            "decisions": [decision("planner", d, w) for d, w in why] + notes,
            "repair_round": 0,
            "critic_round": 0,
        },
    )


def expert_task(request: TaskRequest, understood: Understanding, df: pd.DataFrame,
                profile: DataProfile, default_budget_s: float
                ) -> tuple[TaskSpec, list[tuple[str, str]]]:
    """The offline expert's TaskSpec, with the reasons for each choice."""
    why: list[tuple[str, str]] = []
    target = request.target or (understood.target.column if understood.target else None)
    if target is None:
        if not understood.has_intent and not request.request.strip() == "":
            raise RequestError(
                f"no recognisable task in {request.request!r}: say what to predict, "
                "e.g. 'predict species, at least 95% accuracy, 2 minutes'"
            )
        candidates = ", ".join(c.name for c in profile.columns[-5:])
        raise NeedsInput(f"Which column should I predict? Name it in the request or pass "
                         f"--target (last columns: {candidates}).")
    if target not in [c.name for c in profile.columns]:
        raise DataError(f"target {target!r} is not a column of {request.data.name}: "
                        f"columns are {', '.join([c.name for c in profile.columns])}")
    why.append((f"target {target!r}", "named in the request" if not request.target
                else "given explicitly"))
    column = profile.column(target)
    task_type = request.task_type or infer_task_type(column, understood.task_type_hint)
    why.append((f"task type {task_type}",
                f"target has {column.n_unique} distinct {column.kind} values"))
    metric = request.metric or understood.metric
    if metric is None:
        metric, reason = default_metric(task_type, with_target(profile, df, target).target)
        why.append((f"metric {metric}", reason))
    else:
        why.append((f"metric {metric}", "stated by the user"))
    budget = request.budget_s or understood.budget_s or default_budget_s
    why.append((f"budget {budget:.0f}s", "stated by the user" if (request.budget_s or
                understood.budget_s) else "no budget stated: the default"))
    drop = list(dict.fromkeys(request.drop_columns + understood.drop_columns))
    for c in drop:
        why.append((f"drop column {c!r}", "asked by the user"))
    goal = request.goal if request.goal is not None else understood.goal
    try:
        return TaskSpec(target=target, task_type=task_type, metric=metric, goal=goal,
                        budget_s=budget, drop_columns=drop), why
    except ValidationError as err:  # e.g. "within 30 days": over the longest budget
        first = err.errors()[0]
        raise RequestError(f"{'.'.join(map(str, first['loc']))}: {first['msg']} "
                           f"(read from {request.request!r})") from None


def llm_task(request: TaskRequest, understood: Understanding, df: pd.DataFrame,
             profile: DataProfile, ctx: JobContext) -> tuple[TaskSpec, list[tuple[str, str]]]:
    """Ask the configured LLM for the TaskSpec through tool calls, then apply explicit fields."""
    prompt = render(PROMPT, request=request.request, data_name=request.data.name,
                    profile=profile.model_dump_json(indent=1),
                    default_budget_s=ctx.settings.default_budget_s)
    columns = {c.name for c in profile.columns}

    def accept(args: dict) -> TaskSpec:
        try:
            task = TaskSpec.model_validate(
                {**args, "drop_columns": args.get("drop_columns") or []})
        except ValidationError as err:
            raise ValueError("; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}"
                                       for e in err.errors())) from None
        if task.target not in columns:
            raise ValueError(f"target: {task.target!r} is not a column; columns are {sorted(columns)}")
        return task

    def question(args: dict) -> None:
        raise NeedsInput(str(args.get("question") or "Which column should I predict?"))

    name, task = call_until_submitted(
        ctx.chat_model, [HumanMessage(prompt)],
        tools=[describe_column_tool(df), submit_task_spec, ask_user],
        finish={"submit_task_spec": accept, "ask_user": question},
    )
    overrides = {k: v for k, v in {
        "target": request.target, "task_type": request.task_type, "metric": request.metric,
        "goal": request.goal, "budget_s": request.budget_s or understood.budget_s,
    }.items() if v is not None}
    if request.drop_columns:
        overrides["drop_columns"] = sorted(set(task.drop_columns) | set(request.drop_columns))
    task = task.model_copy(update=overrides)
    return task, [(f"task {task.target!r} ({task.task_type}, {task.metric})",
                   f"proposed by the LLM via {name}")]


def with_target(profile: DataProfile, df: pd.DataFrame, target: str) -> DataProfile:
    """`profile` with the target's class counts and imbalance (profiles only that column)."""
    return profile.model_copy(update={"target": profile_table(df[[target]], target=target).target})


def infer_task_type(column, hint: str | None) -> str:
    """binary / multiclass / regression from the target column and any hint in the request.

    Strings and booleans are classes. Numbers are a quantity (regression) unless there are
    two values, or few integer codes that are not a contiguous range (glass types 1,2,3,5,6,7),
    or the column's name says it is a class, or the request says "classify".
    """
    n = column.n_unique
    if hint == "regression":
        return "regression"
    if column.kind in ("categorical", "boolean", "text") or n <= 2:
        return "binary" if n <= 2 else "multiclass"
    if hint in ("binary", "multiclass", "classification"):
        return "binary" if n <= 2 else "multiclass"
    if column.is_integer and n <= 20:
        contiguous = column.min is not None and column.max is not None and (
            column.max - column.min + 1 == n)
        named_as_class = any(w in column.name.lower() for w in CLASS_WORDS)
        if named_as_class or not contiguous:
            return "multiclass"
    return "regression"


def default_metric(task_type: str, target: TargetProfile | None) -> tuple[str, str]:
    """A sensible metric when the user names none, with the reason."""
    if task_type == "regression":
        return "r2", "regression with no metric stated: R² is scale-free and easy to read"
    counts = list(target.class_counts.values()) if target and target.class_counts else []
    ratio = min(counts) / max(counts) if len(counts) >= 2 else 1.0
    if ratio < 0.5:
        metric = "f1" if task_type == "binary" else "balanced_accuracy"
        return metric, f"classes are imbalanced (minority/majority = {ratio:.2f}): accuracy would flatter"
    return "accuracy", f"classes are balanced enough (minority/majority = {ratio:.2f})"


def _check_against_data(task: TaskSpec, df, request: TaskRequest) -> TaskSpec:
    columns = [str(c) for c in df.columns]
    if task.target not in columns:
        raise DataError(f"target {task.target!r} is not a column of {request.data.name}: "
                        f"columns are {', '.join(columns)}")
    unknown = [c for c in task.drop_columns if c not in columns]
    if unknown:
        raise DataError(f"cannot drop {', '.join(map(repr, unknown))}: not columns of "
                        f"{request.data.name}")
    if task.target in task.drop_columns:
        raise RequestError(f"the target {task.target!r} cannot also be dropped")
    allowed = CLASSIFICATION_METRICS if task.is_classification else REGRESSION_METRICS
    if task.metric not in allowed:
        raise RequestError(f"metric {task.metric!r} does not fit a {task.task_type} target "
                           f"{task.target!r}: use one of {', '.join(sorted(allowed))}")
    n_classes = df[task.target].nunique(dropna=True)
    if task.is_classification and n_classes < 2:
        only = df[task.target].dropna().unique()[:1]
        raise DataError(f"target {task.target!r} has only one class ({only[0] if len(only) else 'none'!r}): "
                        "a classifier needs at least two; pick another target")
    return task


def _all_missing(profile: DataProfile, already: list[str] = ()) -> list[str]:
    return [c.name for c in profile.columns if c.missing_fraction >= 1.0 and c.name not in already]
