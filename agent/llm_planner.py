"""The planner's LLM path: the model sees the expert's evidence and decides by tool call; the
expert's checks then judge its answer against the data and the request's words.

The expert plans first. Where its evidence settles the target, the model is asked to
confirm (`confirm` mode: a short prompt with the expert's task and its two likeliest
columns); where the expert would ask, the model decides (`decide` mode: the top candidate
columns with their scores, kinds, distinct counts and sample values, the columns ruled
out, the rest by name). Either way the prompt carries the expert's readings of metric,
goal, budget, drops and task words, and the one answer also picks the training config to
start from (`llm_config.CANDIDATES`), so a plan takes one call, not two.

The answer is checked field by field (`answer_problems`): the target is a column and not
ruled out, and the one the evidence settles when it does; the task type fits the number
of classes, and is the one words, a metric or the data's shape settle when they do; the
metric fits the task and is the stated one; the goal, budget and drops are the stated ones
or the default. A wrong answer goes back to the model once with the reasons; a second
wrong answer is replaced by the expert's decision for each wrong field, and the report
says so.

`llm_plan` runs all this; the planner imports it only when a chat model is configured, so
the offline expert plans without LangChain.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pandas as pd
from langchain_core.messages import HumanMessage
from pydantic import ValidationError

from mlpilot.agent.llm import LLMError, call_until_submitted
from mlpilot.agent.llm_config import CANDIDATES
from mlpilot.agent.planner import (
    NeedsInput,
    default_metric,
    expert_task,
    metric_fits,
    stated_fields,
    target_class_counts,
)
from mlpilot.agent.target_choice import TargetChoice, choose_target, column_facts
from mlpilot.agent.task_type import decide_task_type, fit_task_type, settled_by_evidence
from mlpilot.agent.understanding import (
    RequestError,
    TaskIntent,
    Understanding,
    goal_is_stated,
)
from mlpilot.engine.config import CLASSIFICATION_METRICS, REGRESSION_METRICS, TaskSpec
from mlpilot.engine.data import DataProfile
from mlpilot.prompts import quote, render
from mlpilot.tools.agent_tools import ask_user, describe_column_tool, submit_task_spec

if TYPE_CHECKING:
    from mlpilot.agent.context import JobContext
    from mlpilot.agent.state import TaskRequest

PROMPT = "planner"
#: How many candidate columns, sample values and other column names the prompt shows when
#: the model decides the target ...
N_CANDIDATES, N_SAMPLES, N_OTHERS = 5, 4, 60
#: ... and when it confirms the expert's (the evidence settled it: the rest is noise).
N_CONFIRM_CANDIDATES, N_CONFIRM_SAMPLES = 2, 2
#: How much of each sample value the prompt shows (names are cut at `quote`'s default).
SAMPLE_WIDTH = 24
#: The model's turns in all (describe_column calls, the answer, its one retry).
MAX_TURNS = 5
#: The most tokens one answer may take: a tool call is about 80; more is rambling.
MAX_ANSWER_TOKENS = 200

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
    #: the expert's target when its evidence settles one (any other is refused), and why
    settled_target: str | None = None
    settled_why: str = ""
    #: the task words, for the task type the evidence settles on the model's target
    intent: TaskIntent | None = None
    #: the columns the request asks to leave out, as the expert reads them
    drops: list[str] | None = None
    #: the request states no task and points at no column: only a question answers it
    aimless: bool = False


def llm_task(request: TaskRequest, understood: Understanding, df: pd.DataFrame,
             profile: DataProfile, ctx: JobContext) -> tuple[TaskSpec, Why]:
    """The TaskSpec and its reasons by `llm_plan`, without the config choice."""
    task, why, _ = llm_plan(request, understood, df, profile, ctx)
    return task, why


def llm_plan(request: TaskRequest, understood: Understanding, df: pd.DataFrame,
             profile: DataProfile, ctx: JobContext
             ) -> tuple[TaskSpec, Why, dict[str, Any] | None]:
    """Ask the configured LLM for the TaskSpec and the config to start from, showing it the
    expert's evidence; check its answer (`answer_problems`), send a wrong one back once with
    the reasons, then replace what is still wrong by the expert's decision. Explicit fields
    win. Returns the task, the reasons, and the config choice (`choose_config`'s arguments,
    for `llm_config.reapply_choice`), None when the answer named no valid one."""
    default_budget_s = ctx.settings.default_budget_s
    columns = [c.name for c in profile.columns]
    facts = column_facts(df, profile)
    choice = choose_target(request.request, facts, metric=request.metric or understood.metric,
                           task_hint=request.task_type or understood.task_type_hint)
    try:
        expert: TaskSpec | None
        expert, expert_why = expert_task(request, understood, df, profile, default_budget_s)
        asked = None
    except NeedsInput as question_:
        expert, expert_why, asked = None, [], question_
    stated, _ = stated_fields(request, understood, default_budget_s)
    reading = understood.metric_reading
    firm_metric = request.metric or (None if reading.loose else reading.metric)
    settled = expert.target if expert is not None else None
    expected = Expected(
        columns=columns, excluded={} if request.target else choice.excluded,
        unusable={f.name for f in facts if not f.usable}, metric=firm_metric,
        goal=stated["goal"], budget_s=stated["budget_s"],
        budget_stated=bool(request.budget_s or understood.budget_s), text=request.request,
        named_target=choice.target if choice.target and choice.ranked[0].named else None,
        settled_target=settled, settled_why=next((w for d, w in expert_why
                                                  if d.startswith("target ")), ""),
        intent=understood.task_intent, drops=stated["drop_columns"],
        aimless=not (request.target or understood.has_intent or choice.related))
    explicit = {k: v for k, v in {"target": request.target, "task_type": request.task_type,
                                  "metric": request.metric, "budget_s": request.budget_s,
                                  "goal": request.goal}.items() if v is not None}
    prompt = planner_prompt(request, understood, df, profile, choice, default_budget_s,
                            expert=expert)
    refused: list[str] = []  # the reasons sent back; one round of them at most
    final: dict = {}

    def accept(args: dict) -> TaskSpec | None:
        args = dict(args)
        config = args.pop("config_candidate", None)
        task, problems = answer_problems({**args, **explicit}, expected, df, profile)
        problems = {k: v for k, v in problems.items() if k not in explicit}
        config_problem = _config_problem(config)
        if config_problem:
            problems["config_candidate"] = config_problem
        if problems and not refused:
            refused.append("; ".join(f"{k}: {v}" for k, v in problems.items()))
            raise ValueError(refused[-1])
        final.update(args=args, problems=problems,
                     config=None if config is None or config_problem else int(config))
        return task

    def question(args: dict) -> None:
        if expert is None:
            raise NeedsInput(str(args.get("question") or "Which column should I predict?"),
                             choices=columns)
        if not refused:
            refused.append(f"the evidence settles the target: {expert.target!r} "
                           f"({quote(expected.settled_why, 160)})")
            raise ValueError(refused[-1] + "; submit the task, or ask only if the request "
                             "cannot mean it")
        final.update(asked=str(args.get("question")))  # twice: the evidence decides

    tools = [describe_column_tool(df), submit_task_spec, ask_user]
    try:
        name, task = call_until_submitted(
            ctx.chat_model, [HumanMessage(prompt)], tools=tools,
            finish={"submit_task_spec": accept, "ask_user": question}, max_turns=MAX_TURNS,
            max_tokens=MAX_ANSWER_TOKENS)
    except LLMError as err:
        if expert is None:
            raise asked from None
        return expert, [("LLM gave no task", f"{err}; used the expert's decision"),
                        *expert_why], None
    if "asked" in final and expert is not None:
        return expert, [(f"LLM question {quote(final['asked'])} refused",
                         f"{refused[0]}; used the expert's decision"), *expert_why], None
    problems = final.get("problems") or {}
    answer = final.get("args") or {}
    config = final.get("config")
    mode = "confirmed by" if expert is not None and not problems and _same(answer, expert) \
        else "proposed by"
    why = [(f"task {answer.get('target')!r} ({answer.get('task_type')}, {answer.get('metric')})",
            f"{mode} the LLM via {name}" + (f" after one retry ({refused[0]})"
                                             if refused else ""))]
    if "config_candidate" in problems:
        why.append((f"LLM config {problems['config_candidate']}",
                    "refused; the config generator asks again"))
    choice_ = {"candidate": config} if config is not None else None
    if task is None or "target" in problems:
        said = problems.get("answer") or problems.get("target")
        if expert is None:
            raise asked from None
        return expert, [(f"LLM answer {answer} refused",
                         f"{said}; used the expert's decision: target {expert.target!r}"),
                        *expert_why], choice_
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
    return task.model_copy(update=update), why, choice_


def _same(answer: dict[str, Any], expert: TaskSpec) -> bool:
    """Whether the model's answer is the expert's task, field by field."""
    return all(answer.get(k) == getattr(expert, k) for k in ("target", "task_type", "metric",
                                                             "goal", "budget_s"))


def _config_problem(config: Any) -> str | None:
    """Why a `config_candidate` is not one of the candidates (None when it is, or absent)."""
    if config is None:
        return None
    try:
        index = int(config)
        whole = float(config) == index
    except (TypeError, ValueError):
        return f"{config!r} is not a number"
    if not whole or not 0 <= index < len(CANDIDATES):
        return f"{config} is not one of 0-{len(CANDIDATES) - 1}"
    return None


def planner_prompt(request: TaskRequest, understood: Understanding, df: pd.DataFrame,
                   profile: DataProfile, choice: TargetChoice, default_budget_s: float,
                   expert: TaskSpec | None = None) -> str:
    """The planner prompt: the request, the expert's candidate columns and its readings;
    with the `expert`'s task (its evidence settled the target), a shorter one that asks the
    model to confirm it."""
    kinds = {c.name: c for c in profile.columns}
    n_candidates, n_samples = ((N_CONFIRM_CANDIDATES, N_CONFIRM_SAMPLES) if expert is not None
                               else (N_CANDIDATES, N_SAMPLES))
    top = choice.ranked[:n_candidates]
    if expert is not None and all(c.column != expert.target for c in top):
        top = [c for c in choice.ranked if c.column == expert.target] + top[:-1]
    candidates = []
    for cand in top:
        col = kinds[cand.column]
        samples = ", ".join(quote(e, SAMPLE_WIDTH) for e in col.examples[:n_samples])
        if col.kind == "numeric" and col.min is not None:
            samples = f"{col.min:g} to {col.max:g}; e.g. {samples}"
        candidates.append({"column": cand.column, "score": cand.score, "kind": col.kind,
                           "n_unique": col.n_unique, "samples": samples})
    shown = {c.column for c in top} | set(choice.excluded)
    others = [c.name for c in profile.columns if c.name not in shown]
    n_others = N_OTHERS if expert is None else 0
    others_text = ", ".join(quote(c) for c in others[:n_others]) + (
        f"{' and ' if n_others else ''}{len(others) - n_others} more"
        if len(others) > n_others else "")
    return render(PROMPT, request=request.request, data_name=request.data.name,
                  n_rows=profile.n_rows, n_columns=len(profile.columns), candidates=candidates,
                  excluded=", ".join(quote(c) for c in choice.excluded),
                  others=others_text or "none",
                  readings=_readings(request, understood, choice, default_budget_s),
                  default_budget_s=f"{default_budget_s:g}", expert=_expert_text(expert),
                  configs=[re.split(r" \(|:", what)[0] for what, _ in CANDIDATES])


def _expert_text(expert: TaskSpec | None) -> str:
    """The expert's task as the confirm prompt shows it ('' when the model decides): its
    readings of the request, so the prompt needs no list of them."""
    if expert is None:
        return ""
    goal = "null" if expert.goal is None else f"{expert.goal:g}"
    drops = ", ".join(quote(c) for c in expert.drop_columns) or "none"
    return (f"target {quote(expert.target)}, task_type {expert.task_type}, metric "
            f"{expert.metric}, budget_s {expert.budget_s:g}, goal {goal}, drop_columns {drops}")


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
    if expected.aimless:
        problems["target"] = ("the request states no task and names or describes no column: "
                              "ask the user which column to predict")
    elif task.target in expected.excluded:
        problems["target"] = f"{task.target!r} is ruled out: {expected.excluded[task.target]}"
    elif expected.named_target and task.target != expected.named_target:
        problems["target"] = (f"the request names the column {expected.named_target!r}; "
                              f"{task.target!r} is not named")
    elif expected.settled_target and task.target != expected.settled_target:
        problems["target"] = (f"the evidence settles the target: {expected.settled_target!r} "
                              f"({quote(expected.settled_why, 160)})")
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
    elif fitted and expected.intent is not None and settled_by_evidence(
            column, expected.intent, expected.metric):
        # the words, a stated metric or the data's shape settle it: the model only confirms
        try:
            decided, because = decide_task_type(column, expected.intent, expected.metric)
        except RequestError:
            decided, because = fitted, ""
        if decided != fitted:
            problems["task_type"] = f"the evidence says {decided}, not {fitted}: {because}"
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
    elif expected.drops is not None and set(task.drop_columns) != set(expected.drops):
        asked = ", ".join(map(repr, expected.drops)) or "none"
        problems["drop_columns"] = f"the request asks to leave out {asked}"
    return task, problems
