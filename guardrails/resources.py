"""Resource estimate of a training config on the profiled data, and the checks against `Limits`.

The estimate is deliberately simple and conservative: it counts model parameters from the
encoded input width, memory from data + model + optimiser state + activations, and time
from a FLOP count (forward + backward ~ 6 FLOPs per parameter per row) at an assumed CPU
throughput, plus a fixed overhead per optimiser step. It is meant to catch configs that
are off by an order of magnitude, not to schedule jobs to the second.
"""

from __future__ import annotations

import itertools
import math
from typing import TYPE_CHECKING

from pydantic import BaseModel, Field

from ..engine.config import ModelConfig, TaskSpec, TrainingConfig
from .checks import CheckContext, check
from .findings import Finding
from .limits import Limits

if TYPE_CHECKING:
    from ..engine.data import DataProfile

#: Effective float32 FLOP/s assumed for small-MLP training on a couple of CPU cores.
#: Small matrices reach a fraction of peak, so this is far below the hardware's peak.
ASSUMED_FLOPS_PER_S = 4e9
#: Training FLOPs per parameter per row: ~2 forward + ~4 backward (the usual 6·N·D rule).
TRAIN_FLOPS_PER_PARAM_ROW = 6
#: Python, autograd and data-loader overhead per optimiser step, in seconds.
STEP_OVERHEAD_S = 3e-4
#: Memory of the interpreter, PyTorch and pandas before any data is loaded, in MiB.
FRAMEWORK_MB = 300.0
#: Numeric inputs the engine derives from a datetime column (year, month, day of week, days).
DATETIME_PARTS = 4
#: Copies of the weights held while training: weights, gradients, two Adam moments, best state.
WEIGHT_COPIES = 5


class ResourceEstimate(BaseModel):
    """Estimated size, memory and time of training one config on the profiled data."""

    n_inputs: int = Field(description="Encoded feature width (after one-hot encoding).")
    n_outputs: int = Field(description="Classes, or 1 for regression.")
    n_parameters: int = Field(description="Trainable parameters of the model.")
    train_rows: int = Field(description="Estimated training rows after the splits.")
    memory_mb: float = Field(description="Estimated peak memory of the job, MiB.")
    seconds_per_epoch: float = Field(description="Estimated seconds for one training epoch.")
    seconds_min: float = Field(
        description="Estimated seconds for the shortest sensible base training: "
        "min(max_epochs, early_stopping_patience + 1) epochs."
    )


def encoded_width(task: TaskSpec, config: TrainingConfig, profile: DataProfile) -> int:
    """Estimated number of model inputs once features are imputed and one-hot encoded.

    Mirrors `engine.preprocess`: numeric columns give one input (+1 missing indicator when
    they have gaps), datetime columns four numeric parts (each with its indicator), and
    categorical/boolean columns a one-hot block: up to `max_categories` levels, an "other"
    slot and a missing level when needed. Columns the engine drops count zero.
    """
    ctx = CheckContext(task, config, profile, Limits())
    width = 0
    for col in ctx.features():
        has_missing = 1 if col.n_missing > 0 else 0
        if col.kind == "numeric":
            width += 1 + has_missing
        elif col.kind == "datetime":
            width += DATETIME_PARTS * (1 + has_missing)
        else:
            width += min(col.n_unique, config.preprocessing.max_categories) + 1 + has_missing
    return width


def count_parameters(model: ModelConfig, n_inputs: int, n_outputs: int) -> int:
    """Trainable parameters of the linear model or MLP `build_model` makes for these sizes."""
    hidden = [h for h in model.hidden_sizes if h > 0] if model.family == "mlp" else []
    sizes = [n_inputs, *hidden, n_outputs]
    params = sum(a * b + b for a, b in itertools.pairwise(sizes))
    if model.batch_norm:
        params += 2 * sum(hidden)
    return params


def estimate_resources(
    task: TaskSpec, config: TrainingConfig, profile: DataProfile
) -> ResourceEstimate:
    """Estimate parameters, peak memory and training time of `config` on the profiled data."""
    ctx = CheckContext(task, config, profile, Limits())
    n_inputs = max(1, encoded_width(task, config, profile))
    n_classes = len(ctx.class_counts) or (ctx.target_column.n_unique if ctx.target_column else 2)
    n_outputs = max(2, n_classes) if task.is_classification else 1
    params = count_parameters(config.model, n_inputs, n_outputs)
    train_rows, valid_rows = max(1, ctx.train_rows), ctx.valid_rows

    data_bytes = ctx.usable_rows * n_inputs * 4 * 2 + profile.n_rows * profile.n_columns * 8 * 2
    hidden = config.model.hidden_sizes if config.model.family == "mlp" else []
    activation_bytes = config.batch_size * (n_inputs + sum(h for h in hidden if h > 0)) * 4 * 3
    memory_mb = FRAMEWORK_MB + (
        data_bytes + params * 4 * WEIGHT_COPIES + activation_bytes
    ) / 2**20

    steps = math.ceil(train_rows / config.batch_size)
    flops = TRAIN_FLOPS_PER_PARAM_ROW * params * train_rows + 2 * params * valid_rows
    seconds_per_epoch = flops / ASSUMED_FLOPS_PER_S + steps * STEP_OVERHEAD_S
    epochs_min = min(config.max_epochs, config.early_stopping_patience + 1)
    return ResourceEstimate(
        n_inputs=n_inputs,
        n_outputs=n_outputs,
        n_parameters=params,
        train_rows=train_rows,
        memory_mb=round(memory_mb, 1),
        seconds_per_epoch=seconds_per_epoch,
        seconds_min=seconds_per_epoch * epochs_min,
    )


def _estimate(ctx: CheckContext) -> ResourceEstimate:
    return estimate_resources(ctx.task, ctx.config, ctx.profile)


def _base_budget_s(ctx: CheckContext) -> float:
    search = ctx.config.search
    return ctx.task.budget_s * (search.base_fraction if search.enabled else 1.0)


@check("memory_vs_limit", severity="error", field="model.hidden_sizes", layer="resources")
def memory_vs_limit(ctx: CheckContext) -> Finding | None:
    """Estimated peak memory stays within limits.max_memory_mb."""
    est = _estimate(ctx)
    if est.memory_mb <= ctx.limits.max_memory_mb:
        return None
    return ctx.finding(
        f"training needs ~{est.memory_mb:,.0f} MiB, over the {ctx.limits.max_memory_mb:,.0f} MiB "
        f"limit ({est.n_inputs} encoded inputs, {est.n_parameters:,} parameters).",
        "use smaller model.hidden_sizes, a lower preprocessing.max_categories, "
        "or a smaller batch_size.",
    )


@check("parameters_vs_limit", severity="error", field="model.hidden_sizes", layer="resources")
def parameters_vs_limit(ctx: CheckContext) -> Finding | None:
    """The model has no more parameters than limits.max_parameters."""
    est = _estimate(ctx)
    if est.n_parameters <= ctx.limits.max_parameters:
        return None
    return ctx.finding(
        f"the model has ~{est.n_parameters:,} parameters, over the limit of "
        f"{ctx.limits.max_parameters:,}.",
        "use fewer or narrower layers in model.hidden_sizes.",
    )


@check("budget_vs_limit", severity="error", field="task.budget_s", layer="resources")
def budget_vs_limit(ctx: CheckContext) -> Finding | None:
    """The time budget is within limits.max_budget_s."""
    if ctx.task.budget_s <= ctx.limits.max_budget_s:
        return None
    return ctx.finding(
        f"budget {ctx.task.budget_s:,.0f} s is over the limit of {ctx.limits.max_budget_s:,.0f} s.",
        f"set task.budget_s to at most {ctx.limits.max_budget_s:,.0f}.",
    )


@check("budget_vs_data_size", severity="warning", field="task.budget_s", layer="resources")
def budget_vs_data_size(ctx: CheckContext) -> Finding | None:
    """The budget leaves time for a sensible base training on this much data."""
    est, base_s = _estimate(ctx), _base_budget_s(ctx)
    if est.seconds_per_epoch > ctx.task.budget_s:
        return ctx.finding(
            f"one epoch takes ~{est.seconds_per_epoch:,.0f} s, longer than the whole budget "
            f"of {ctx.task.budget_s:,.0f} s ({est.train_rows:,} rows x {est.n_inputs} inputs).",
            "raise task.budget_s, or use a smaller model (model.hidden_sizes) or family 'linear'.",
            severity="error",
        )
    if est.seconds_min <= base_s:
        return None
    return ctx.finding(
        f"the base training needs ~{est.seconds_min:,.0f} s for a few epochs but gets "
        f"~{base_s:,.0f} s of the budget.",
        "raise task.budget_s or search.base_fraction, or use smaller model.hidden_sizes.",
    )


@check("max_trials_vs_limit", severity="error", field="search.max_trials", layer="resources")
def max_trials_vs_limit(ctx: CheckContext) -> Finding | None:
    """search.max_trials is within limits.max_trials."""
    search = ctx.config.search
    if not search.enabled or search.max_trials <= ctx.limits.max_trials:
        return None
    return ctx.finding(
        f"max_trials {search.max_trials} is over the limit of {ctx.limits.max_trials}.",
        f"set search.max_trials to at most {ctx.limits.max_trials}.",
        repair={"search.max_trials": ctx.limits.max_trials},
    )


@check("max_trials_vs_budget", severity="info", field="search.max_trials", layer="resources")
def max_trials_vs_budget(ctx: CheckContext) -> Finding | None:
    """The search budget has room for the trials asked for (the search stops at the deadline)."""
    search = ctx.config.search
    if not search.enabled:
        return None
    est = _estimate(ctx)
    search_s = ctx.task.budget_s - _base_budget_s(ctx)
    fitting = int(search_s / max(est.seconds_min, 1e-9))
    if fitting < 1:
        return ctx.finding(
            f"no search trial fits: a trial needs ~{est.seconds_min:,.0f} s and the search "
            f"gets ~{search_s:,.0f} s.",
            "set search.enabled false, or raise task.budget_s.",
            severity="warning",
        )
    if search.max_trials <= fitting:
        return None
    return ctx.finding(
        f"only about {fitting} of the {search.max_trials} trials fit in ~{search_s:,.0f} s "
        "of search time; the search stops at the deadline.",
        f"fine as it is; set search.max_trials to about {fitting} to say so explicitly.",
    )
