"""Planner: turns the request and a profile of the data into a `TaskSpec`.

Offline, the expert reads the request with `agent.understanding` and decides from the
profile; with an LLM it calls `submit_task_spec` (or `ask_user`). Either way explicit
request fields win, and the answer is checked against the data. When the target cannot
be determined the job stops with a question instead of guessing.
"""

from __future__ import annotations

from typing import Literal

import pandas as pd
from pydantic import ValidationError

from mlpilot.agent.context import JobContext, load_request_data, load_request_test_data
from mlpilot.agent.state import JobState, Step, TaskRequest, decision
from mlpilot.agent.submission import check_task
from mlpilot.agent.target_choice import choose_target, column_facts
from mlpilot.agent.task_type import decide_task_type, fit_task_type
from mlpilot.agent.understanding import RequestError, Understanding, understand
from mlpilot.engine.config import CLASSIFICATION_METRICS, REGRESSION_METRICS, TaskSpec
from mlpilot.engine.data import (
    DataError,
    DataProfile,
    TargetProfile,
    name_list,
    profile_table,
    quoted,
)


class NeedsInput(Exception):
    """The request does not say enough to plan; carries the question for the user and the
    answers to choose from (`choices`, e.g. the columns that could be the target)."""

    def __init__(self, question: str, choices: list[str] | None = None):
        super().__init__(question)
        self.question = question
        self.choices = list(choices) if choices else []


def plan(state: JobState, ctx: JobContext) -> Step[Literal["config_generator", "__end__"]]:
    """Planner node: request + data profile -> TaskSpec, or a question for the user."""
    request = TaskRequest.model_validate(state["request"])
    df = load_request_data(request)
    columns = [str(c) for c in df.columns]
    understood = understand(request.request, columns)  # raises for "forever", "-5 minutes"
    profile = profile_table(df)
    config_choice = None  # the LLM's pick among the expert's configs, made with the task
    try:
        if ctx.chat_model is None:
            task, why = expert_task(request, understood, df, profile,
                                    ctx.settings.default_budget_s)
        else:
            from mlpilot.agent.llm_planner import llm_plan  # LangChain: with a chat model only

            task, why, config_choice = llm_plan(request, understood, df, profile, ctx)
    except NeedsInput as asked:
        # every field read on its own: what the request stated stays in the job's task
        stated, why = stated_fields(request, understood, ctx.settings.default_budget_s)
        ctx.emit("planner", str(asked), choices=asked.choices)
        return Step("__end__", {
            "status": "needs_input", "question": asked.question, "choices": asked.choices,
            "task": {"target": None, "task_type": request.task_type or understood.task_type_hint,
                     **stated},
            "decisions": [decision("planner", d, w) for d, w in why]})
    task, fitted = _check_against_data(task, df, request)
    why += fitted
    _check_test_data(task, df, request)
    profile = with_target(profile, df, task.target)
    missing = _all_missing(profile, task.drop_columns)
    task = task.model_copy(update={"drop_columns": task.drop_columns + missing})
    check_task(task, request, columns, ctx.settings)  # before a job is queued or trains
    notes = [decision("planner", f"drop column {c!r}", "all values are missing") for c in missing]
    ctx.emit("planner", f"predict {task.target!r} ({task.task_type}), {task.metric}, "
                        f"budget {task.budget_s:.0f}s", target=task.target, metric=task.metric,
             budget_s=task.budget_s)
    return Step("config_generator", {
        "task": task.model_dump(),
        "profile": profile.model_dump(mode="json"),
        "decisions": [decision("planner", d, w) for d, w in why] + notes,
        "repair_round": 0,
        "critic_round": 0,
        **({"config_choice": config_choice} if config_choice else {}),
    })


def stated_fields(request: TaskRequest, understood: Understanding, default_budget_s: float
                  ) -> tuple[dict, list[tuple[str, str]]]:
    """Metric, goal, budget and columns to drop as the request and its explicit fields state
    them, each read on its own (none needs the target), with the reasons. The metric is
    None when none is stated; the budget falls back to the default."""
    why: list[tuple[str, str]] = []
    reading = understood.metric_reading
    metric = request.metric or understood.metric
    if request.metric:
        why.append((f"metric {metric}", "given explicitly"))
    elif metric:
        note = f": {reading.note}" if reading.note else ""
        why.append((f"metric {metric}", f"stated by the user as '{reading.evidence}'{note}"))
    budget = request.budget_s or understood.budget_s or default_budget_s
    why.append((f"budget {budget:.0f}s", "stated by the user" if (request.budget_s or
                understood.budget_s) else "no budget stated: the default"))
    drop = list(dict.fromkeys(request.drop_columns + understood.drop_columns))
    why += [(f"drop column {c!r}", "asked by the user") for c in drop]
    goal = request.goal if request.goal is not None else understood.goal
    return {"metric": metric, "goal": goal, "budget_s": budget, "drop_columns": drop}, why


def expert_task(request: TaskRequest, understood: Understanding, df: pd.DataFrame,
                profile: DataProfile, default_budget_s: float
                ) -> tuple[TaskSpec, list[tuple[str, str]]]:
    """The offline expert's TaskSpec, with the reasons for each choice."""
    why: list[tuple[str, str]] = []
    columns = [c.name for c in profile.columns]
    target, reason = request.target, "given explicitly"
    if target is None:
        # loose words ("errors", "accurately") may mean a metric, too loosely to say
        # what kind of column is asked for
        loose = understood.metric_reading.loose
        choice = choose_target(request.request, column_facts(df, profile),
                               metric=request.metric or (None if loose else understood.metric),
                               task_hint=request.task_type or understood.task_type_hint)
        if choice.target is None:
            if not understood.has_intent and not choice.related and request.request.strip():
                raise NeedsInput(f"I could not tell what to predict from {request.request!r}: "
                                 "which column should I predict?", choices=columns)
            raise NeedsInput(choice.question or "Which column should I predict?",
                             choice.choices or columns)
        target, reason = choice.target, choice.reason
    if target not in columns:
        raise DataError(f"target {quoted(target)} is not a column of {request.data.name}: "
                        f"columns are {name_list(columns)}")
    why.append((f"target {target!r}", reason))
    column = profile.column(target)
    stated, stated_why = stated_fields(request, understood, default_budget_s)
    metric, reading = stated["metric"], understood.metric_reading
    firm_metric = request.metric or (None if reading.loose else metric)
    if request.task_type:
        task_type, note = fit_task_type(request.task_type, column, firm_metric, "the request")
        reason = note or "given explicitly"
    else:
        task_type, reason = decide_task_type(column, understood.task_intent, firm_metric,
                                             understood.task_type_hint)
    why.append((f"task type {task_type}", reason))
    if metric and not request.metric and reading.loose and not metric_fits(metric, task_type):
        stated_why = [w for w in stated_why if not w[0].startswith("metric ")]
        aside = f"'{reading.evidence}' may mean it, but it does not fit a {task_type} target"
        why.append((f"metric {metric} set aside", aside))
        metric = None
    why += stated_why
    if metric is None:
        metric, reason = default_metric(task_type, target_class_counts(profile, df, target, task_type))
        why.append((f"metric {metric}", reason))
    try:
        return TaskSpec(target=target, task_type=task_type, metric=metric, goal=stated["goal"],
                        budget_s=stated["budget_s"], drop_columns=stated["drop_columns"]), why
    except ValidationError as err:  # e.g. "within 30 days": over the longest budget
        first = err.errors()[0]
        raise RequestError(f"{'.'.join(map(str, first['loc']))}: {first['msg']} "
                           f"(read from {request.request!r})") from None


def metric_fits(metric: str, task_type: str) -> bool:
    """Whether `metric` measures a `task_type` task."""
    return metric in (REGRESSION_METRICS if task_type == "regression" else CLASSIFICATION_METRICS)


def target_class_counts(profile: DataProfile, df: pd.DataFrame, target: str, task_type: str
                  ) -> TargetProfile | None:
    """The target's profile, with its class counts even for codes the profiler took for a
    quantity (more than 20 integer values) when the task says they are classes."""
    target_profile = with_target(profile, df, target).target
    if task_type != "regression" and target_profile and not target_profile.class_counts:
        counts = df[target].dropna().value_counts()
        target_profile = target_profile.model_copy(
            update={"class_counts": {str(k): int(v) for k, v in counts.items()}})
    return target_profile


def with_target(profile: DataProfile, df: pd.DataFrame, target: str) -> DataProfile:
    """`profile` with the target's class counts and imbalance (profiles only that column)."""
    return profile.model_copy(update={"target": profile_table(df[[target]], target=target).target})


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


def _check_against_data(task: TaskSpec, df, request: TaskRequest
                        ) -> tuple[TaskSpec, list[tuple[str, str]]]:
    """The task checked against the data, whoever proposed it; its task type made to fit
    the target (two classes are binary, more multiclass), with a reason when it changed."""
    columns = [str(c) for c in df.columns]
    if task.target not in columns:
        raise DataError(f"target {quoted(task.target)} is not a column of {request.data.name}: "
                        f"columns are {name_list(columns)}")
    column = profile_table(df[[task.target]]).columns[0]
    fitted, note = fit_task_type(task.task_type, column, task.metric,
                                 "the request" if request.task_type else "the plan")
    why = [(f"task type {fitted}", note)] if note else []
    task = task.model_copy(update={"task_type": fitted})
    unknown = [c for c in task.drop_columns if c not in columns]
    if unknown:
        raise DataError(f"cannot drop {name_list(unknown)}: not columns of "
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
        raise DataError(f"target {quoted(task.target)} has only one class "
                        f"({quoted(only[0]) if len(only) else 'none'}): "
                        "a classifier needs at least two; pick another target")
    if task.task_type == "binary" and task.metric in POSITIVE_CLASS_METRICS:
        why.append(_positive_class(task, df[task.target].dropna()))
    return task, why


#: Binary metrics about one class, the positive one: the report names it.
POSITIVE_CLASS_METRICS = ("f1", "precision", "recall")


def _positive_class(task: TaskSpec, labels: pd.Series) -> tuple[str, str]:
    """Which class a binary f1, precision or recall is about, and what a trivial model
    scores on it: when the positive class is the majority, predicting it for every row
    already has recall 1.0, so no model can beat that baseline."""
    from mlpilot.engine.metrics import positive_class  # sklearn: only when it is needed

    labels = labels.loc[labels.astype(str) != ""]
    positive = positive_class(labels)
    share = float((labels == positive).mean())
    why = (f"the second of the sorted labels, {share:.0%} of the rows, as the engine scores "
           f"{task.metric} (name a coding with the class of interest second to change it)")
    if share > 0.5:  # the majority baseline predicts it for every row: recall 1, precision share
        trivial = {"recall": 1.0, "precision": share, "f1": 2 * share / (1 + share)}[task.metric]
        why += (f"; it is the majority, so predicting it for every row already scores "
                f"{task.metric} {trivial:.2f}, a baseline hard or impossible to beat: "
                "balanced_accuracy weighs both classes")
    return f"positive class {positive!r} for {task.metric}", why


def _check_test_data(task: TaskSpec, df: pd.DataFrame, request: TaskRequest) -> None:
    """The user's own test file reads and holds the target and every training column."""
    test_df = load_request_test_data(request)
    if test_df is None:
        return
    have = {str(c) for c in test_df.columns}
    name = request.test_data.name
    if task.target not in have:
        raise DataError(f"test data {name} has no target column {quoted(task.target)}: give a "
                        "test file with the training data's columns")
    missing = [c for c in map(str, df.columns) if c not in have and c not in task.drop_columns]
    if missing:
        raise DataError(f"test data {name} lacks {len(missing)} column(s) of the training data "
                        f"({name_list(missing)}): give a test file with the same columns")


def _all_missing(profile: DataProfile, already: list[str] = ()) -> list[str]:
    return [c.name for c in profile.columns if c.missing_fraction >= 1.0 and c.name not in already]
