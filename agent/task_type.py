"""Task type by intent: what the request's words and metric say, weighed with the data.

The words of the request ("classify", "as categories", "as a number", "how many ...?") and
the metric it names vote for classes or a quantity; so does the target column's shape
(text is classes, a few integer codes with gaps look like classes, a contiguous scale or
many values look like a quantity). A statement or a named metric outweighs the data's
shape; a question's form only tips a close call. Then the answer must fit the data: a
binary task has exactly two classes, a regression needs numbers, and classes need few
enough distinct values.
"""

from __future__ import annotations

from mlpilot.agent.understanding import RequestError, TaskIntent
from mlpilot.engine.config import CLASSIFICATION_METRICS, REGRESSION_METRICS
from mlpilot.engine.data import ColumnProfile

#: Words in a target's name that say its integer codes are classes, not quantities.
CLASS_WORDS = ("type", "class", "category", "label", "kind", "species", "group", "grade")
#: A statement or a named metric; a question's form; the data's shape (strong, weak).
STATED, ASKED, SHAPE_STRONG, SHAPE_WEAK = 3, 1, 2, 1
#: With no words for it, integer codes are classes only up to this many values.
MAX_CODES_BY_SHAPE = 20
#: With words for it, integer codes are classes up to this many values, if each class has
#: a few rows on average (distinct values at most this fraction of the rows).
MAX_CODES, MAX_CODE_FRACTION = 100, 0.2
#: Integer codes are classes only if each class has two rows on average at least.
MAX_CLASS_FRACTION = 0.5
TEXT_KINDS = ("categorical", "boolean", "text")


def can_be_classes(column: ColumnProfile) -> bool:
    """Whether a column's values could be class labels: text, or not too many integer codes."""
    if column.kind in TEXT_KINDS or column.n_unique <= 2:
        return True
    # a class has rows: values that hardly repeat (16 rows, 16 values) are quantities
    return column.is_integer and column.unique_fraction <= MAX_CLASS_FRACTION and (
        column.n_unique <= MAX_CODES_BY_SHAPE or (
        column.n_unique <= MAX_CODES and column.unique_fraction <= MAX_CODE_FRACTION))


def _shape(column: ColumnProfile) -> tuple[str, int, str]:
    """The data's own vote: (side, weight, why)."""
    n, name = column.n_unique, column.name
    if column.kind in TEXT_KINDS:
        return "classification", SHAPE_STRONG, f"{name!r} holds text"
    if n <= 2:
        return "classification", SHAPE_STRONG, f"{name!r} has 2 values"
    if not can_be_classes(column):
        what = "integer" if column.is_integer else "numeric"
        return "regression", SHAPE_STRONG, f"{name!r} has {n} distinct {what} values"
    span = f"{column.min:g}-{column.max:g}"
    if n > MAX_CODES_BY_SHAPE:
        return "regression", SHAPE_STRONG, f"{name!r} has {n} distinct integer values ({span})"
    if any(w in name.lower() for w in CLASS_WORDS):
        return "classification", SHAPE_STRONG, f"{name!r} holds {n} integer codes and its name says class"
    if column.max - column.min + 1 != n:
        return "classification", SHAPE_STRONG, f"{name!r} holds {n} integer codes with gaps ({span})"
    return "regression", SHAPE_WEAK, f"{name!r} holds {n} integer values in a row ({span}), like a scale"


def decide_task_type(column: ColumnProfile, intent: TaskIntent, metric: str | None,
                     hint: str | None = None) -> tuple[str, str]:
    """binary, multiclass or regression for a target, with the evidence that decided.

    Args:
        column: the target's profile.
        intent: what the request's words say (`understanding.read_task_intent`).
        metric: a metric the user named outright (option or request), or None.
        hint: "binary"/"multiclass" when the words say how many classes, for the reason.

    Raises:
        RequestError: the words or the metric state a regression on a text target.
    """
    votes: list[tuple[str, int, str]] = []
    if intent.kind:
        votes.append((intent.kind, STATED if intent.stated else ASKED,
                      f"the request says '{intent.evidence}'"))
    if metric:
        side = "classification" if metric in CLASSIFICATION_METRICS else "regression"
        votes.append((side, STATED, f"the metric {metric} is a {side} metric"))
    shape = _shape(column)
    weight = {"classification": 0, "regression": 0}
    for side, w, _ in [*votes, shape]:
        weight[side] += w
    side = shape[0] if weight["classification"] == weight["regression"] else max(
        weight, key=weight.get)
    said = [why for s, w, why in votes if s == side]
    if side == "regression" and column.kind in TEXT_KINDS:
        stated = [why for s, w, why in votes if s == "regression" and w >= STATED]
        if stated:
            raise RequestError(_text_regression(column, stated[0]))
        side, said = "classification", []
    if side == "classification" and not can_be_classes(column):
        return "regression", f"{'; '.join(said)}, but {shape[2]}: too many to be classes"
    reasons = [*said, shape[2]] if shape[0] == side else [*said, f"although {shape[2]}"]
    task_type = side if side == "regression" else _classes(column.n_unique)
    if hint in ("binary", "multiclass") and task_type not in (hint, "regression"):
        reasons.append(f"the request says {hint}, but {column.name!r} has {column.n_unique} classes")
    return task_type, "; ".join(reasons)


def settled_by_evidence(column: ColumnProfile, intent: TaskIntent, metric: str | None) -> bool:
    """Whether `decide_task_type` rests on firm evidence: words or a metric vote, or the
    data's shape leaves no doubt. Only integer values in a row with nothing said about them
    (a scale or codes?) leave the call open, for an LLM to judge."""
    return bool(intent.kind or metric) or _shape(column)[1] >= SHAPE_STRONG


def fit_task_type(task_type: str, column: ColumnProfile, metric: str | None,
                  source: str = "the task") -> tuple[str, str | None]:
    """A task type someone gave (the user's field, an LLM) made to fit the target's data,
    with a note when it changed.

    Classes are binary with exactly two values and multiclass with more, whatever was
    said; a classification metric makes integer codes classes, a regression metric makes
    numbers a quantity.

    Raises:
        RequestError: a regression on a text target.
    """
    fitted = task_type
    if task_type == "regression" and metric in CLASSIFICATION_METRICS and can_be_classes(column):
        fitted = _classes(column.n_unique)
    elif (task_type != "regression" and metric in REGRESSION_METRICS
          and column.kind not in TEXT_KINDS):
        fitted = "regression"
    if fitted == "regression" and column.kind in TEXT_KINDS:
        raise RequestError(_text_regression(column, f"{source} says regression"))
    if fitted != "regression":
        fitted = _classes(column.n_unique)
    if fitted == task_type:
        return fitted, None
    return fitted, (f"{source} says {task_type}, but {column.name!r} has {column.n_unique} "
                    f"distinct values and the metric is {metric}: {fitted}")


def _classes(n_unique: int) -> str:
    return "binary" if n_unique <= 2 else "multiclass"


def _text_regression(column: ColumnProfile, why: str) -> str:
    examples = ", ".join(repr(e) for e in column.examples[:3])
    return (f"target {column.name!r} holds text ({examples}) and {why}: a regression needs "
            "numbers; ask for a classification, or pick a numeric target")
