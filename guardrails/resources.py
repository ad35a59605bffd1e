"""Resource estimate of a training config on the profiled data, and the checks against `Limits`.

Networks of every family are counted, not guessed: `network_cost` (guardrails/network_cost.py)
walks the layers `engine.models.build_model` makes for the encoded input width (one-hot
blocks, or code columns with their cardinalities for embeddings), counting parameters,
FLOPs and the bytes autograd saves for the backward pass, per row, without importing
PyTorch. Memory is then data + weights, gradients and optimiser state +
a batch's activations and their gradients; time is forward + backward (~3x the forward
FLOPs) at an assumed CPU throughput, plus a fixed overhead per optimiser step.
Trees (scikit-learn, LightGBM, XGBoost and CatBoost boosting; forests) cost time by
rows x features x trees. The estimate is meant to catch configs that are off by an order
of magnitude, not to schedule jobs to the second.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from pydantic import BaseModel, Field

from ..engine.config import (
    BOOSTER_FAMILIES,
    TREE_FAMILIES,
    BoosterConfig,
    ForestConfig,
    ModelConfig,
    TaskSpec,
    TrainingConfig,
    TreeConfig,
)
from .checks import CheckContext, check
from .findings import Finding
from .limits import Limits
from .network_cost import NetworkCost, network_cost

if TYPE_CHECKING:
    from ..engine.data import DataProfile

#: Effective float32 FLOP/s assumed for small-MLP training on a couple of CPU cores.
#: Small matrices reach a fraction of peak, so this is far below the hardware's peak.
ASSUMED_FLOPS_PER_S = 4e9
#: Training FLOPs per forward FLOP: the forward, and a backward pass of about twice that.
TRAIN_FLOPS_PER_FORWARD = 3
#: Seconds gradient-boosted trees take per row x feature x tree (histogram building and
#: splits; measured ~4e-9 to 1e-8 with scikit-learn on one loaded CPU core).
TREE_SECONDS_PER_CELL = 1e-8
#: Python, autograd and data-loader overhead per optimiser step, in seconds.
STEP_OVERHEAD_S = 3e-4
#: Memory of the interpreter, PyTorch and pandas before any data is loaded, in MiB.
FRAMEWORK_MB = 300.0
#: A "glm" fit (splines and interactions widen the design a few times, then one solve)
#: costs about this many trees.
GLM_TREE_EQUIVALENT = 20
#: Numeric inputs the engine derives from a datetime column (year, month, day of week, days).
DATETIME_PARTS = 4
#: Copies of the weights held while training: weights, gradients, two Adam moments, best state.
WEIGHT_COPIES = 5


__all__ = ["NetworkCost", "ResourceEstimate", "count_parameters", "encoded_columns",
           "encoded_width", "estimate_resources", "network_cost", "try_estimate"]


class ResourceEstimate(BaseModel):
    """Estimated size, memory and time of training one config on the profiled data."""

    n_inputs: int = Field(description="Encoded feature width (one-hot columns, or one code "
                          "column per categorical column for embeddings).")
    n_outputs: int = Field(description="Classes, or 1 for regression.")
    n_parameters: int = Field(description="Trainable parameters of the model.")
    train_rows: int = Field(description="Estimated training rows after the splits.")
    memory_mb: float = Field(description="Estimated peak memory of the job, MiB.")
    seconds_per_epoch: float = Field(description="Estimated seconds for one training epoch.")
    seconds_min: float = Field(
        description="Estimated seconds for the shortest sensible base training: "
        "min(max_epochs, early_stopping_patience + 1) epochs."
    )


def encoded_columns(task: TaskSpec, config: TrainingConfig,
                    profile: DataProfile) -> tuple[int, tuple[int, ...]]:
    """Estimated model inputs once features are encoded: (numeric inputs, the cardinality
    of each categorical code column).

    Mirrors `engine.preprocess`: numeric columns give one input (+1 missing indicator when
    they have gaps), datetime columns four numeric parts (each with its indicator).
    Categorical/boolean columns have up to `max_categories` levels, an "other" slot and a
    missing level when needed: one-hot, that many 0/1 inputs; with embeddings, one code
    column of that cardinality. Columns the engine drops count zero.
    """
    ctx = CheckContext(task, config, profile, Limits())
    embed = config.preprocessing.categorical_encoding == "embedding"
    numeric, cards = 0, []
    for col in ctx.features():
        has_missing = 1 if col.n_missing > 0 else 0
        if col.kind == "numeric":
            numeric += 1 + has_missing
        elif col.kind == "datetime":
            numeric += DATETIME_PARTS * (1 + has_missing)
        else:
            levels = min(col.n_unique, config.preprocessing.max_categories) + 1 + has_missing
            if embed:
                cards.append(levels)
            else:
                numeric += levels
    return numeric, tuple(cards)


def encoded_width(task: TaskSpec, config: TrainingConfig, profile: DataProfile) -> int:
    """Estimated width of the encoded feature matrix (see `encoded_columns`)."""
    numeric, cards = encoded_columns(task, config, profile)
    return numeric + len(cards)


def count_parameters(model: ModelConfig, n_inputs: int, n_outputs: int) -> int:
    """Trainable parameters of the network `build_model` makes for `n_inputs` numeric
    inputs (0 for trees, which are no network)."""
    if model.family in TREE_FAMILIES:
        return 0
    return network_cost(model, n_inputs, (), n_outputs).n_parameters


def estimate_resources(
    task: TaskSpec, config: TrainingConfig, profile: DataProfile
) -> ResourceEstimate:
    """Estimate parameters, peak memory and training time of `config` on the profiled data."""
    ctx = CheckContext(task, config, profile, Limits())
    n_numeric, cards = encoded_columns(task, config, profile)
    if n_numeric + len(cards) == 0:
        n_numeric = 1
    n_inputs = n_numeric + len(cards)
    n_classes = len(ctx.class_counts) or (ctx.target_column.n_unique if ctx.target_column else 2)
    n_outputs = max(2, n_classes) if task.is_classification else 1
    train_rows, valid_rows = max(1, ctx.train_rows), ctx.valid_rows
    data_bytes = ctx.usable_rows * n_inputs * 4 * 2 + profile.n_rows * profile.n_columns * 8 * 2

    if config.model.family in TREE_FAMILIES:
        trees = _tree_count(config)
        per_tree = TREE_SECONDS_PER_CELL * train_rows * n_inputs
        seconds = per_tree * (n_outputs if n_outputs > 2 else 1) * trees
        memory_mb = FRAMEWORK_MB + (data_bytes + ctx.usable_rows * n_inputs) / 2**20  # + bins
        return ResourceEstimate(
            n_inputs=n_inputs, n_outputs=n_outputs, n_parameters=0, train_rows=train_rows,
            memory_mb=round(memory_mb, 1), seconds_per_epoch=seconds, seconds_min=seconds)

    cost = network_cost(config.model, n_numeric, cards, n_outputs)
    params = cost.n_parameters
    activation_bytes = config.batch_size * cost.activation_bytes_per_row * 2  # + gradients
    memory_mb = FRAMEWORK_MB + (
        data_bytes + params * 4 * WEIGHT_COPIES + activation_bytes
    ) / 2**20

    steps = math.ceil(train_rows / config.batch_size)
    flops = cost.flops_per_row * (TRAIN_FLOPS_PER_FORWARD * train_rows + valid_rows)
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


def _tree_count(config: TrainingConfig) -> int:
    """The most trees (boosting rounds or forest trees) a tree config trains."""
    family = config.model.family
    if family in BOOSTER_FAMILIES:
        return (config.booster or BoosterConfig()).max_rounds
    if family == "extra_trees":
        return (config.forest or ForestConfig()).n_estimators
    if family == "glm":  # one solve on a design a few times wider: a few trees' work
        return GLM_TREE_EQUIVALENT
    return (config.trees or TreeConfig()).max_iter


def try_estimate(task: TaskSpec, config: TrainingConfig,
                 profile: DataProfile) -> ResourceEstimate | None:
    """`estimate_resources`, or None when the network cannot be built (a check of the
    "checks" layer, such as `d_token_multiple_of_heads`, says why)."""
    try:
        return estimate_resources(task, config, profile)
    except (ValueError, RuntimeError):
        return None


def _estimate(ctx: CheckContext) -> ResourceEstimate | None:
    return try_estimate(ctx.task, ctx.config, ctx.profile)


def _base_budget_s(ctx: CheckContext) -> float:
    search = ctx.config.search
    return ctx.task.budget_s * (search.base_fraction if search.enabled else 1.0)


@check("memory_vs_limit", severity="error", field="model.hidden_sizes", layer="resources")
def memory_vs_limit(ctx: CheckContext) -> Finding | None:
    """Estimated peak memory stays within limits.max_memory_mb."""
    est = _estimate(ctx)
    if est is None or est.memory_mb <= ctx.limits.max_memory_mb:
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
    if est is None or est.n_parameters <= ctx.limits.max_parameters:
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
    if est is None:
        return None
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
    est = _estimate(ctx)
    if not search.enabled or est is None:
        return None
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
