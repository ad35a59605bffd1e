"""Checks of the task (target, task type, metric, goal, dropped columns) against the data."""

from __future__ import annotations

import difflib
import math

from ..engine.config import CLASSIFICATION_METRICS, REGRESSION_METRICS
from .checks import CheckContext, check, engine_drop_reason
from .findings import Finding

#: Metrics whose scores lie in [0, 1]; a goal above 1 there is almost surely a percentage.
UNIT_INTERVAL_METRICS = frozenset({"accuracy", "balanced_accuracy", "f1", "precision",
                                   "recall", "roc_auc"})
#: A class needs this many rows to appear in the train, validation and test splits.
MIN_ROWS_PER_CLASS = 3
#: Minority/majority class ratio under which the data counts as imbalanced.
IMBALANCE_RATIO = 0.2


def _n_classes(ctx: CheckContext) -> int:
    if ctx.class_counts:
        return len(ctx.class_counts)
    col = ctx.target_column
    return col.n_unique if col is not None else 0


@check("target_in_data", severity="error", field="task.target")
def target_in_data(ctx: CheckContext) -> Finding | None:
    """The target column exists in the data."""
    if ctx.target_column is not None:
        return None
    names = [c.name for c in ctx.profile.columns]
    same_but_case = [n for n in names if n.lower() == ctx.task.target.lower()]
    if len(same_but_case) == 1:
        return ctx.finding(
            f"target {ctx.task.target!r} is not a column; "
            f"{same_but_case[0]!r} differs only in case.",
            f"set task.target to {same_but_case[0]!r}.",
            repair={"task.target": same_but_case[0]},
        )
    close = difflib.get_close_matches(ctx.task.target, names, n=3)
    suggestion = f"did you mean {', '.join(map(repr, close))}?" if close else ""
    return ctx.finding(
        f"target {ctx.task.target!r} is not a column of the data.",
        f"set task.target to one of the data's columns {suggestion}".strip(),
    )


@check("target_not_dropped", severity="error", field="task.drop_columns")
def target_not_dropped(ctx: CheckContext) -> Finding | None:
    """The target is not listed in drop_columns."""
    if ctx.task.target not in ctx.task.drop_columns:
        return None
    kept = [c for c in ctx.task.drop_columns if c != ctx.task.target]
    return ctx.finding(
        f"the target {ctx.task.target!r} is listed in drop_columns.",
        "remove the target from task.drop_columns; it is never used as a feature anyway.",
        repair={"task.drop_columns": kept},
    )


@check("drop_columns_exist", severity="warning", field="task.drop_columns")
def drop_columns_exist(ctx: CheckContext) -> Finding | None:
    """Every column in drop_columns exists in the data."""
    unknown = [c for c in ctx.task.drop_columns if ctx.profile.column(c) is None]
    if not unknown:
        return None
    kept = [c for c in ctx.task.drop_columns if c not in unknown]
    return ctx.finding(
        f"drop_columns names columns the data does not have: {', '.join(map(repr, unknown))}.",
        "list only existing columns in task.drop_columns.",
        repair={"task.drop_columns": kept},
    )


@check("features_left", severity="error", field="task.drop_columns")
def features_left(ctx: CheckContext) -> Finding | None:
    """At least one usable feature is left after dropping columns."""
    if ctx.features():
        return None
    return ctx.finding(
        "no feature is left once the target, drop_columns and constant or empty columns go.",
        "drop fewer columns, or use data with more columns.",
    )


@check("metric_vs_task_type", severity="error", field="task.metric")
def metric_vs_task_type(ctx: CheckContext) -> Finding | None:
    """The metric fits the task type (no r2 for classification, no accuracy for regression)."""
    allowed = CLASSIFICATION_METRICS if ctx.task.is_classification else REGRESSION_METRICS
    if ctx.task.metric in allowed:
        return None
    return ctx.finding(
        f"metric {ctx.task.metric!r} does not fit a {ctx.task.task_type} task.",
        f"use one of {', '.join(sorted(allowed))} for task.metric.",
    )


@check("roc_auc_multiclass", severity="info", field="task.metric")
def roc_auc_multiclass(ctx: CheckContext) -> Finding | None:
    """roc_auc on a multiclass task is allowed, scored one-vs-rest (macro average)."""
    if ctx.task.metric != "roc_auc" or ctx.task.task_type != "multiclass":
        return None
    return ctx.finding(
        "roc_auc on a multiclass task is scored one-vs-rest and averaged over classes.",
        "keep it if ranking quality per class is what matters; use accuracy or "
        "balanced_accuracy for a score of hard predictions.",
    )


@check("task_type_vs_target", severity="error", field="task.task_type")
def task_type_vs_target(ctx: CheckContext) -> Finding | None:
    """The task type fits the target column (classes for classification, numbers for regression)."""
    col = ctx.target_column
    if col is None:
        return None
    n = _n_classes(ctx)
    if ctx.task.task_type == "binary" and n > 2:
        return ctx.finding(
            f"task is binary but target {col.name!r} has {n} distinct values.",
            "use task_type 'multiclass', or a target with two values.",
        )
    if ctx.task.task_type == "multiclass" and n == 2:
        return ctx.finding(
            f"task is multiclass but target {col.name!r} has only two values.",
            "use task_type 'binary' (it also allows f1 and roc_auc on the positive class).",
            severity="info",
        )
    if ctx.task.task_type == "regression":
        if col.kind not in ("numeric", "boolean"):
            return ctx.finding(
                f"task is regression but target {col.name!r} is {col.kind}, not numeric.",
                "use task_type 'binary' or 'multiclass', or a numeric target.",
            )
        if n == 2:
            return ctx.finding(
                f"target {col.name!r} has only two values; regression on it is unusual.",
                "use task_type 'binary' unless the two values are measurements.",
                severity="warning",
            )
    return None


@check("goal_vs_metric", severity="error", field="task.goal")
def goal_vs_metric(ctx: CheckContext) -> Finding | None:
    """The goal is a reachable score on the metric's scale (0.95, not 95)."""
    goal, metric = ctx.task.goal, ctx.task.metric
    if goal is None:
        return None
    if not math.isfinite(goal):
        return ctx.finding(
            f"goal {goal} is not a finite number.", "set task.goal to a score or null."
        )
    bounded = metric in UNIT_INTERVAL_METRICS or metric == "r2"
    if bounded and 1.0 < goal <= 100.0:
        return ctx.finding(
            f"goal {goal:g} is above 1, the best possible {metric}; it looks like a percentage.",
            f"write the goal as a fraction: {goal / 100:g}.",
            repair={"task.goal": goal / 100},
        )
    if bounded and goal > 100.0:
        return ctx.finding(
            f"goal {goal:g} is far above 1, the best possible {metric}.",
            "set task.goal to a value between 0 and 1, or null.",
        )
    if metric in UNIT_INTERVAL_METRICS and goal < 0:
        return ctx.finding(
            f"goal {goal:g} is below 0, the worst possible {metric}.",
            "set task.goal to a value between 0 and 1, or null.",
        )
    if not bounded and goal < 0:
        return ctx.finding(
            f"goal {goal:g} is below 0, the best possible {metric}.",
            f"set task.goal to a positive {metric} in the target's units, or null.",
        )
    if not bounded and goal == 0:
        return ctx.finding(
            f"a {metric} of exactly 0 (a perfect fit) is practically never reached.",
            f"set task.goal to a positive {metric} in the target's units, or null.",
            severity="warning",
        )
    return None


@check("tiny_classes", severity="warning", field="task.target")
def tiny_classes(ctx: CheckContext) -> Finding | None:
    """Every class has enough rows for a stratified train/validation/test split.

    A warning, not an error: the engine then falls back to a random split, which works but
    may leave a tiny class out of the training rows, and no config field can fix the data.
    """
    tiny = {k: v for k, v in ctx.class_counts.items() if v < MIN_ROWS_PER_CLASS}
    if not tiny:
        return None
    shown = ", ".join(f"{k!r} ({v})" for k, v in list(tiny.items())[:5])
    more = f" and {len(tiny) - 5} more" if len(tiny) > 5 else ""
    return ctx.finding(
        f"{len(tiny)} class(es) have fewer than {MIN_ROWS_PER_CLASS} rows: {shown}{more}; the "
        "split cannot be stratified, so such a class may be missing from the training rows.",
        "drop the rows of these classes or merge them into a larger class in the data, "
        "or pick another target.",
    )


@check("split_fits_classes", severity="warning", field="test_fraction")
def split_fits_classes(ctx: CheckContext) -> list[Finding]:
    """The validation and test splits hold at least one row of every class (stratified split).

    Otherwise the engine falls back to a random split; raising the fraction keeps it stratified.
    """
    n_classes = len(ctx.class_counts)
    out: list[Finding] = []
    if n_classes < 2 or ctx.usable_rows == 0:
        return out
    for name, rows in (("test_fraction", ctx.test_rows), ("validation_fraction", ctx.valid_rows)):
        if rows >= n_classes:
            continue
        needed = math.ceil(100 * (n_classes + 1) / ctx.usable_rows) / 100
        repair = {name: needed} if needed < 0.5 else None
        out.append(ctx.finding(
            f"{name} gives ~{rows} rows, fewer than the {n_classes} classes, so the split "
            "cannot be stratified.",
            f"raise {name} to {needed:g}." if repair else "use more data or fewer classes.",
            repair=repair,
            field=name,
        ))
    return out


@check("class_imbalance", severity="info", field="class_weighting")
def class_imbalance(ctx: CheckContext) -> Finding | None:
    """Under strong class imbalance, class weighting or a balanced metric is advisable."""
    target = ctx.profile.target
    if not ctx.class_counts or target is None or target.imbalance_ratio is None:
        return None
    if target.imbalance_ratio >= IMBALANCE_RATIO or ctx.config.class_weighting:
        return None
    return ctx.finding(
        f"classes are imbalanced (smallest/largest = {target.imbalance_ratio:.2f}).",
        "consider class_weighting true, or balanced_accuracy or f1 as the metric.",
    )


@check("id_like_features", severity="warning", field="task.drop_columns")
def id_like_features(ctx: CheckContext) -> list[Finding]:
    """Numeric row ids (a distinct, steadily rising integer per row) are not used as features.

    Identifier-like text columns are dropped by the engine itself (see
    `columns_dropped_by_engine`); a numeric counter would be kept and memorised.
    """
    out: list[Finding] = []
    if ctx.profile.n_rows < 20:
        return out
    for c in ctx.features():
        if c.kind == "numeric" and c.is_integer and c.is_monotonic and c.unique_fraction >= 0.99:
            out.append(ctx.finding(
                f"column {c.name!r} looks like a row id (a distinct, steadily changing integer "
                "per row); a model would learn the row order instead of the task.",
                f"add {c.name!r} to task.drop_columns unless it carries real information.",
            ))
    return out


@check("columns_dropped_by_engine", severity="info", field="task.drop_columns")
def columns_dropped_by_engine(ctx: CheckContext) -> Finding | None:
    """Columns the engine leaves out by itself (empty, constant, free text, identifier-like)."""
    listed = set(ctx.task.drop_columns) | {ctx.task.target}
    reasons = [
        f"{c.name!r} ({why})"
        for c in ctx.profile.columns
        if c.name not in listed and (why := engine_drop_reason(c, ctx.profile.n_rows))
    ]
    if not reasons:
        return None
    return ctx.finding(
        f"these columns will not be used as features: {', '.join(reasons)}.",
        "nothing to change; list them in task.drop_columns to make that explicit.",
    )


@check("target_missing_values", severity="info", field="task.target")
def target_missing_values(ctx: CheckContext) -> Finding | None:
    """Rows without a target value are dropped before training."""
    col = ctx.target_column
    if col is None or col.n_missing == 0:
        return None
    return ctx.finding(
        f"{col.n_missing} row(s) have no {col.name!r} value and will be dropped.",
        "nothing to change unless those rows matter; fill the target in the data to keep them.",
    )
