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

from mlpilot.agent.context import JobContext, load_request_data, load_request_test_data
from mlpilot.agent.llm import LLMError, call_until_submitted
from mlpilot.agent.llm_planner import MAX_TURNS, Expected, answer_problems, planner_prompt
from mlpilot.agent.state import JobState, TaskRequest, decision
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
from mlpilot.tools.agent_tools import ask_user, describe_column_tool, submit_task_spec


class NeedsInput(Exception):
    """The request does not say enough to plan; carries the question for the user and the
    answers to choose from (`choices`, e.g. the columns that could be the target)."""

    def __init__(self, question: str, choices: list[str] | None = None):
        super().__init__(question)
        self.question = question
        self.choices = list(choices) if choices else []


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
    except NeedsInput as asked:
        # every field read on its own: what the request stated stays in the job's task
        stated, why = stated_fields(request, understood, ctx.settings.default_budget_s)
        ctx.emit("planner", str(asked), choices=asked.choices)
        return Command(goto=END, update={
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
    if metric and not request.metric and reading.loose and not _fits(metric, task_type):
        stated_why = [w for w in stated_why if not w[0].startswith("metric ")]
        aside = f"'{reading.evidence}' may mean it, but it does not fit a {task_type} target"
        why.append((f"metric {metric} set aside", aside))
        metric = None
    why += stated_why
    if metric is None:
        metric, reason = default_metric(task_type, _class_counts(profile, df, target, task_type))
        why.append((f"metric {metric}", reason))
    try:
        return TaskSpec(target=target, task_type=task_type, metric=metric, goal=stated["goal"],
                        budget_s=stated["budget_s"], drop_columns=stated["drop_columns"]), why
    except ValidationError as err:  # e.g. "within 30 days": over the longest budget
        first = err.errors()[0]
        raise RequestError(f"{'.'.join(map(str, first['loc']))}: {first['msg']} "
                           f"(read from {request.request!r})") from None


def _fits(metric: str, task_type: str) -> bool:
    return metric in (REGRESSION_METRICS if task_type == "regression" else CLASSIFICATION_METRICS)


def _class_counts(profile: DataProfile, df: pd.DataFrame, target: str, task_type: str
                  ) -> TargetProfile | None:
    """The target's profile, with its class counts even for codes the profiler took for a
    quantity (more than 20 integer values) when the task says they are classes."""
    target_profile = with_target(profile, df, target).target
    if task_type != "regression" and target_profile and not target_profile.class_counts:
        counts = df[target].dropna().value_counts()
        target_profile = target_profile.model_copy(
            update={"class_counts": {str(k): int(v) for k, v in counts.items()}})
    return target_profile


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
        if metric is None and reading.metric and _fits(reading.metric, task_type):
            # as the expert reads it: loose words ("how accurate") name a metric that fits
            metric, reason = reading.metric, f"the request says '{reading.evidence}'"
        if metric is None:
            metric, reason = default_metric(task_type,
                                            _class_counts(profile, df, task.target, task_type))
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
