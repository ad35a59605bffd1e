"""The checks a submission passes before a job exists, the same for every driver (REST,
YAML, upload, chat, Slack, the CLI, Python).

Field constraints (finite numbers, seed range, nesting depth, registry names) live on
`TaskRequest`. The checks here need more than one field, the operator's settings or the
planner's task, and are registered like the validator chain's
(`guardrails/checks.py`)::

    @submission_check("budget_within_hard_limit", field="budget_s")
    def budget_within_hard_limit(ctx: Submission) -> Finding | None: ...

They run twice: on the request as given (`check_submission`, before any data is read),
and on the planner's task (`check_task`, in the planner, once the target, metric and
columns are known). `JobService.submit` runs both before it queues a job; `Runner.start`
runs the first before it records one, and the planner discards the job on the second.
A refused submission raises `SubmissionError` (a `RequestError`: HTTP 422 with each
finding in the problem document's `errors`).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from pydantic import ValidationError

from mlpilot.agent.config_generator import deep_merge
from mlpilot.agent.settings import Settings
from mlpilot.agent.state import TaskRequest
from mlpilot.agent.understanding import RequestError
from mlpilot.engine.config import (
    CLASSIFICATION_METRICS,
    LOWER_IS_BETTER,
    TaskSpec,
    TrainingConfig,
)
from mlpilot.guardrails.findings import Finding

#: The range of goals each metric can reach: scores of classifiers are shares in [0, 1];
#: R² is at most 1 and may be negative; errors are at least 0.
GOAL_RANGES: dict[str, tuple[float, float]] = {
    **{m: (0.0, 1.0) for m in CLASSIFICATION_METRICS},
    "r2": (-math.inf, 1.0),
    **{m: (0.0, math.inf) for m in LOWER_IS_BETTER},
}


@dataclass(frozen=True)
class Submission:
    """What a check sees: the request, the operator's settings and, once the planner has
    read the data, the task and the data's column names."""

    request: TaskRequest
    settings: Settings
    task: TaskSpec | None = None
    columns: Sequence[str] | None = None


#: What a check returns: None when fine, else the problem, and optionally the fix and the
#: exact field (e.g. "training.optimizer.learning_rate" for the check's "training").
CheckResult = str | tuple[str, str] | tuple[str, str, str] | None


@dataclass(frozen=True)
class SubmissionCheck:
    """A registered check: its id, the field it is about, and its function."""

    id: str
    field: str
    run: Callable[[Submission], CheckResult]


CHECKS: list[SubmissionCheck] = []


def submission_check(check_id: str, *, field: str):
    """Register a check; it returns None, or the problem (and optionally the fix) as text."""

    def register(fn: Callable[[Submission], CheckResult]):
        CHECKS.append(SubmissionCheck(check_id, field, fn))
        return fn

    return register


class SubmissionError(RequestError):
    """A submission some check refused; `findings` names each field and rule broken."""

    def __init__(self, findings: list[Finding]):
        self.findings = findings
        first = findings[0]
        super().__init__(f"{first.field}: {first.message}; {first.hint}")


def run_checks(submission: Submission) -> list[Finding]:
    """Every registered check's finding on this submission (errors all; empty when fine)."""
    findings = []
    for check in CHECKS:
        said = check.run(submission)
        if said is None:
            continue
        message, hint, field = (*said, check.field)[:3] if isinstance(said, tuple) else (
            said, "fix it and submit again", check.field)
        findings.append(Finding(check_id=check.id, severity="error", field=field,
                                message=message, hint=hint))
    return findings


def check_submission(request: TaskRequest, settings: Settings) -> None:
    """Refuse a request (SubmissionError) that no job could carry out, before reading data."""
    findings = run_checks(Submission(request, settings))
    if findings:
        raise SubmissionError(findings)


def check_task(task: TaskSpec, request: TaskRequest, columns: Sequence[str],
               settings: Settings) -> None:
    """Refuse the planner's task (SubmissionError) when it cannot be carried out: a goal
    the metric cannot reach, a budget over the limit, no feature left."""
    findings = run_checks(Submission(request, settings, task=task, columns=list(columns)))
    if findings:
        raise SubmissionError(findings)


# -- the checks ---------------------------------------------------------------------------


@submission_check("budget_within_hard_limit", field="budget_s")
def budget_within_hard_limit(ctx: Submission) -> tuple[str, str] | None:
    """A budget over the operator's hard limit (MLPILOT_HARD_BUDGET_S) is refused."""
    budget = ctx.task.budget_s if ctx.task else ctx.request.budget_s
    limit = ctx.settings.hard_budget_s
    if budget is None or budget <= limit:
        return None
    return (f"a budget of {budget:g} s is over this server's limit of {limit:g} s",
            f"ask for at most {limit:g} seconds (MLPILOT_HARD_BUDGET_S)")


@submission_check("goal_within_metric_range", field="goal")
def goal_within_metric_range(ctx: Submission) -> tuple[str, str] | None:
    """A goal the metric cannot reach (accuracy 5.0, rmse -1) is refused."""
    metric = ctx.task.metric if ctx.task else ctx.request.metric
    goal = ctx.task.goal if ctx.task else ctx.request.goal
    if metric is None or goal is None:
        return None
    low, high = GOAL_RANGES[metric]
    if low <= goal <= high:
        return None
    if metric in CLASSIFICATION_METRICS and 1.0 < goal <= 100.0:  # a percentage
        hint = f"give it as a fraction, e.g. {goal / 100:g} for {goal:g}%"
    elif high == 1.0:
        hint = f"a {metric} goal is at most 1" + (f" and at least {low:g}" if low > -math.inf else "")
    else:
        hint = f"a {metric} goal is an error, at least {low:g}"
    return f"{metric} cannot reach a goal of {goal:g}", hint


@submission_check("training_overrides_fit_config", field="training")
def training_overrides_fit_config(ctx: Submission) -> tuple[str, str, str] | None:
    """`training` overrides must make a valid TrainingConfig (known keys, values in range)."""
    if ctx.task is not None or not ctx.request.training:
        return None  # checked once, on the request
    merged = deep_merge(TrainingConfig().model_dump(mode="json"), ctx.request.training)
    try:
        TrainingConfig.model_validate(merged)
    except ValidationError as err:
        first = err.errors()[0]
        where = ".".join(["training", *map(str, first["loc"])])
        rule = ("not a TrainingConfig setting" if first["type"] == "extra_forbidden"
                else first["msg"].removeprefix("Value error, "))
        return (f"{rule} (got {first['input']!r:.60})",
                "the settings and their ranges are TrainingConfig's (engine/config.py)", where)
    return None


@submission_check("features_left", field="drop_columns")
def features_left(ctx: Submission) -> tuple[str, str] | None:
    """Dropping columns must leave at least one feature besides the target."""
    if ctx.task is None or ctx.columns is None:
        return None
    dropped = set(ctx.task.drop_columns) | {ctx.task.target}
    if any(c not in dropped for c in ctx.columns):
        return None
    problem = (f"no feature is left: the data's columns are the target {ctx.task.target!r} "
               "and the dropped ones")
    return problem, "drop fewer columns"
