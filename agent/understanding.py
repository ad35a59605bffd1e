"""The offline expert's reading of a plain-language ML request, in English or Chinese.

Where an LLM would read "predict species, at least 95% accuracy, within 2 minutes", the
offline expert calls `understand`: deterministic, pure functions that pull out the target
column, metric, goal, time budget, columns to leave out and any task-type hint. Each field
has its reader: `budget_reading` (time), `metric_reading` (metric and goal),
`column_mentions` (target and drops); the task-type words are read here. The word lists
live in `understanding_lexicon`; positions index `request_text.normalise(text)`. The
readers' public names stay importable from this module.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Literal

from mlpilot.agent import understanding_lexicon as lex
from mlpilot.agent.budget_reading import parse_budget
from mlpilot.agent.column_mentions import (
    ColumnMention,
    TargetMatch,
    column_mentions,
    find_drop_columns,
    find_target,
)
from mlpilot.agent.metric_reading import (
    MetricReading,
    goal_is_stated,
    parse_goal,
    parse_metric,
    read_metric,
)
from mlpilot.agent.request_text import RequestError, normalise
from mlpilot.engine.config import Metric, TaskType

#: The readers' public names, importable from here as before the split.
__all__ = ["ColumnMention", "MetricReading", "RequestError", "TargetMatch", "TaskIntent",
           "Understanding", "column_mentions", "find_drop_columns", "find_target",
           "find_task_type_hint", "goal_is_stated", "has_task_intent", "normalise",
           "parse_budget", "parse_goal", "parse_metric", "read_metric", "read_task_intent",
           "understand"]



@dataclass(frozen=True)
class TaskIntent:
    """What the words of a request say the target is: classes or a quantity.

    `stated` is an outright statement ("classify", "as categories", "as a number",
    "regression"), which decides over the data's shape; otherwise the words only lean
    ("how many ...?", "which kind ...?"). `evidence` quotes them.
    """

    kind: Literal["classification", "regression"] | None = None
    stated: bool = False
    evidence: str | None = field(default=None, compare=False)


@dataclass(frozen=True)
class Understanding:
    """Everything `understand` read from one request; None means the request did not say."""

    target: TargetMatch | None = None
    metric: Metric | None = None
    goal: float | None = None
    budget_s: float | None = None
    drop_columns: list[str] = field(default_factory=list)
    task_type_hint: TaskType | None = None
    has_intent: bool = False
    #: What the words say the target is, apart from how many classes (see `read_task_intent`).
    task_intent: TaskIntent = field(default_factory=lambda: TaskIntent())
    #: The words the metric was read from, and why they mean it (not compared: evidence).
    metric_reading: MetricReading = field(default_factory=lambda: MetricReading(),
                                          compare=False)


def find_task_type_hint(text: str) -> TaskType | None:
    """The task type a request states, or None: "binary"/"yes/no"/"二分类" is binary,
    "multiclass"/"多分类" multiclass, "regression"/"how much"/"回归" regression.

    Plain "classify"/"分类" says classification without saying how many classes, so it
    gives None and the data decides; "logistic regression" is a classifier, not regression.
    """
    norm = normalise(text)
    if re.search(lex.BINARY, norm):
        return "binary"
    if re.search(lex.MULTICLASS, norm):
        return "multiclass"
    norm = re.sub(lex.LOGISTIC, " classification ", norm)
    if re.search(lex.REGRESSION, norm) and not re.search(lex.CLASSIFICATION, norm):
        return "regression"
    return None


def read_task_intent(text: str) -> TaskIntent:
    """Whether the words say the target is classes or a quantity, and how firmly.

    A statement ("classify", "treat the codes as categories", "which class", "分类",
    "as a number", "regression", "回归") outweighs a question of amount or kind ("how many
    hours ...?", "多少", "which kind ...?"): "How many cylinders? It's a classification
    problem" states classes. When both kinds are stated (or, with none stated, both asked),
    the words say nothing and the data decides.
    """
    norm = normalise(text)
    for stated in (True, False):
        found = {kind: pattern.search(norm) for (kind, firm), pattern in lex.TASK_INTENT.items()
                 if firm is stated}
        if stated:  # "logistic regression" is a classifier, not a regression
            logistic = re.search(lex.LOGISTIC, norm)
            if logistic:
                found["classification"] = logistic
                rest = re.sub(lex.LOGISTIC, " ", norm)
                found["regression"] = lex.TASK_INTENT[("regression", True)].search(rest)
        said = {kind: m for kind, m in found.items() if m}
        if len(said) == 1:
            kind, m = next(iter(said.items()))
            return TaskIntent(kind, stated, m[0].strip())  # type: ignore[arg-type]
        if said:
            return TaskIntent()
    return TaskIntent()


def has_task_intent(text: str) -> bool:
    """Whether the text asks for a model or prediction at all ("hello there" does not)."""
    return bool(re.search(lex.INTENT, normalise(text)))


def understand(text: str, columns: list[str]) -> Understanding:
    """Read a whole request against the data's column names.

    A missing target is not an error (the planner asks the user); every field the request
    does not state is None (or empty).

    Raises:
        RequestError: the stated budget is zero, negative or unbounded.
    """
    reading = read_metric(text)
    metric = reading.metric
    return Understanding(
        target=find_target(text, columns),
        metric=metric,
        metric_reading=reading,
        task_intent=read_task_intent(text),
        goal=parse_goal(text, metric),
        budget_s=parse_budget(text),
        drop_columns=find_drop_columns(text, columns),
        task_type_hint=find_task_type_hint(text),
        has_intent=has_task_intent(text),
    )
