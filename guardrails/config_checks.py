"""Checks of the training config: batches, splits, optimiser, model shape, search space."""

from __future__ import annotations

import math

from ..engine.config import ModelConfig, SearchSpace
from .checks import CheckContext, check
from .findings import Finding
from .resources import count_parameters, try_estimate

#: Above this learning rate Adam/AdamW almost always diverges on standardised tabular data.
MAX_ADAM_LR = 0.1
#: Above this learning rate plain SGD almost always diverges.
MAX_SGD_LR = 1.0
#: Below this learning rate training barely moves within any sensible budget.
MIN_LR = 1e-6
#: Parameters per training row above which an MLP is oversized for the data.
MAX_PARAMS_PER_ROW = 200
#: The widest feature token a ModelConfig accepts.
MAX_D_TOKEN = ModelConfig.model_fields["d_token"].metadata[-1].le
#: Models smaller than this never count as oversized.
SMALL_MODEL_PARAMS = 10_000

RANGES = ("learning_rate", "weight_decay", "dropout", "depth")
CHOICES = ("width", "batch_size")


def _pow2_at_most(n: int) -> int:
    """The largest power of two <= n (at least 1)."""
    return 1 << (max(1, n).bit_length() - 1)


@check("batch_size_vs_rows", severity="error", field="batch_size")
def batch_size_vs_rows(ctx: CheckContext) -> Finding | None:
    """The batch size is not larger than the estimated training rows."""
    rows = ctx.train_rows
    if rows < 1 or ctx.config.batch_size <= rows:
        return None
    new = _pow2_at_most(rows)
    return ctx.finding(
        f"batch_size {ctx.config.batch_size} is larger than the ~{rows} training rows.",
        f"use batch_size {new} or smaller.",
        repair={"batch_size": new},
    )


@check("batch_norm_batch_size", severity="error", field="batch_size")
def batch_norm_batch_size(ctx: CheckContext) -> Finding | None:
    """Batch normalisation gets batches of at least two rows."""
    model = ctx.config.model
    if not (model.batch_norm and model.family == "mlp") or ctx.config.batch_size >= 2:
        return None
    new = min(32, _pow2_at_most(max(2, ctx.train_rows)))
    return ctx.finding(
        "batch_norm cannot train on batches of one row.",
        f"use batch_size {new}, or set model.batch_norm false.",
        repair={"batch_size": new},
    )


@check("train_rows_enough", severity="error", field="validation_fraction")
def train_rows_enough(ctx: CheckContext) -> Finding | None:
    """The validation and test fractions leave enough rows to train on."""
    rows, needed = ctx.train_rows, ctx.limits.min_train_rows
    if rows >= needed:
        return None
    said = (f"only ~{rows} of {ctx.usable_rows} rows are left for training after "
            f"validation_fraction {ctx.config.validation_fraction:g} and test_fraction "
            f"{ctx.config.test_fraction:g}; at least {needed} are needed.")
    smaller = _smaller_splits(ctx.usable_rows, needed, ctx.config.validation_fraction,
                              ctx.config.test_fraction)
    if smaller is None:
        return ctx.finding(said, f"use data with at least {_rows_for(needed)} rows that have "
                                 "a target: too few are left to train, validate and test on.")
    valid, test = smaller
    return ctx.finding(said, f"use validation_fraction {valid:g} and test_fraction {test:g}.",
                       repair={"validation_fraction": valid, "test_fraction": test})


#: The smallest splits a small table gets: enough to score on, and a row or two each.
MIN_SPLITS = (0.05, 0.1)
#: ... and at least this many rows in each of them.
MIN_SPLIT_ROWS = 2


def _rows_for(needed: int) -> int:
    """The fewest usable rows that leave `needed` to train on with the smallest splits."""
    n = needed
    while _smaller_splits(n, needed, 0.5, 0.5) is None:
        n += 1
    return n


def _smaller_splits(rows: int, needed: int, valid: float, test: float
                    ) -> tuple[float, float] | None:
    """The largest validation and test fractions, no larger than now, that leave `needed`
    rows to train on and at least MIN_SPLIT_ROWS in each split; None if none do."""
    steps = [round(0.5 - 0.01 * i, 2) for i in range(50)]  # plain floats: state is stored
    for t in (f for f in steps if MIN_SPLITS[1] <= f <= test):
        for v in (f for f in steps if MIN_SPLITS[0] <= f <= valid):
            n_test, n_valid = math.ceil(rows * t), math.ceil(rows * v)
            if min(n_test, n_valid) >= MIN_SPLIT_ROWS and rows - n_test - n_valid >= needed:
                return v, t
    return None


@check("patience_vs_epochs", severity="warning", field="early_stopping_patience")
def patience_vs_epochs(ctx: CheckContext) -> Finding | None:
    """Early stopping patience is below max_epochs, so early stopping can trigger."""
    cfg = ctx.config
    if cfg.early_stopping_patience < cfg.max_epochs:
        return None
    return ctx.finding(
        f"early_stopping_patience {cfg.early_stopping_patience} is not below max_epochs "
        f"{cfg.max_epochs}, so early stopping never triggers.",
        f"set early_stopping_patience below max_epochs, e.g. {max(1, cfg.max_epochs // 5)}.",
    )


@check("learning_rate_plausible", severity="warning", field="optimizer.learning_rate")
def learning_rate_plausible(ctx: CheckContext) -> Finding | None:
    """The learning rate is in the range where the chosen optimiser usually trains."""
    opt = ctx.config.optimizer
    lr = opt.learning_rate
    if opt.name in ("adam", "adamw") and lr > MAX_ADAM_LR:
        return ctx.finding(
            f"learning_rate {lr:g} is far too high for {opt.name} (usually 1e-4 to 1e-2).",
            "use learning_rate 0.001.",
            repair={"optimizer.learning_rate": 1e-3},
        )
    if opt.name == "sgd" and lr > MAX_SGD_LR:
        return ctx.finding(
            f"learning_rate {lr:g} is far too high for sgd (usually 1e-3 to 1e-1).",
            "use learning_rate 0.01.",
            repair={"optimizer.learning_rate": 1e-2},
        )
    if lr < MIN_LR:
        return ctx.finding(
            f"learning_rate {lr:g} is so low that the model will barely train.",
            "use a learning_rate between 1e-4 and 1e-2.",
        )
    return None


@check("log_target_needs_nonnegative", severity="error", field="preprocessing.log_target")
def log_target_needs_nonnegative(ctx: CheckContext) -> Finding | None:
    """log_target is only used on a regression target with no negative values."""
    col = ctx.target_column
    if not (ctx.config.preprocessing.log_target and ctx.task.task_type == "regression"):
        return None
    if col is None or col.kind != "numeric" or col.min is None or col.min >= 0:
        return None
    return ctx.finding(
        f"log_target needs a target >= 0, but {col.name!r} goes down to {col.min:g}.",
        "set preprocessing.log_target false.",
        repair={"preprocessing.log_target": False},
    )


@check("target_transform_classification", severity="info", field="preprocessing.log_target")
def target_transform_classification(ctx: CheckContext) -> Finding | None:
    """log_target is a regression option; on classification it is switched off.

    standardize_target is also regression-only, but as it defaults to true it is simply
    ignored for classification rather than reported on every classification config.
    """
    if not (ctx.task.is_classification and ctx.config.preprocessing.log_target):
        return None
    return ctx.finding(
        "log_target only applies to regression; class labels are not transformed.",
        "set preprocessing.log_target false.",
        repair={"preprocessing.log_target": False},
    )


@check("class_weighting_regression", severity="info", field="class_weighting")
def class_weighting_regression(ctx: CheckContext) -> Finding | None:
    """class_weighting is a classification option; on regression it is switched off."""
    if ctx.task.is_classification or not ctx.config.class_weighting:
        return None
    return ctx.finding(
        "class_weighting only applies to classification; a regression target has no classes.",
        "set class_weighting false.",
        repair={"class_weighting": False},
    )


@check("hidden_sizes_valid", severity="error", field="model.hidden_sizes")
def hidden_sizes_valid(ctx: CheckContext) -> Finding | None:
    """An MLP's hidden layers all have at least one unit."""
    model = ctx.config.model
    if model.family != "mlp":
        return None
    if not model.hidden_sizes:
        return ctx.finding(
            "an MLP without hidden layers is a linear model.",
            "give model.hidden_sizes at least one layer, e.g. [64], or use family 'linear'.",
            repair={"model.family": "linear"},
            severity="info",
        )
    bad = [h for h in model.hidden_sizes if h < 1]
    if not bad:
        return None
    kept = [h for h in model.hidden_sizes if h >= 1]
    return ctx.finding(
        f"hidden layer sizes must be at least 1, got {bad}.",
        "use positive sizes in model.hidden_sizes, e.g. [128, 64].",
        repair={"model.hidden_sizes": kept} if kept else None,
    )


@check("hidden_sizes_vs_rows", severity="warning", field="model.hidden_sizes")
def hidden_sizes_vs_rows(ctx: CheckContext) -> Finding | None:
    """The MLP is not vastly larger than the training data (parameters >> rows)."""
    if ctx.config.model.family != "mlp" or ctx.train_rows < 1:
        return None
    est = try_estimate(ctx.task, ctx.config, ctx.profile)
    if est is None or est.n_parameters <= max(SMALL_MODEL_PARAMS,
                                               MAX_PARAMS_PER_ROW * ctx.train_rows):
        return None
    small = count_parameters(
        ctx.config.model.model_copy(update={"hidden_sizes": [64]}), est.n_inputs, est.n_outputs
    )
    return ctx.finding(
        f"the MLP has ~{est.n_parameters:,} parameters for ~{ctx.train_rows} training rows; "
        "it will memorise rather than learn.",
        f"use smaller model.hidden_sizes, e.g. [64] (~{small:,} parameters), or family 'linear'.",
    )


@check("d_token_multiple_of_heads", severity="error", field="model.d_token")
def d_token_multiple_of_heads(ctx: CheckContext) -> Finding | None:
    """An FT-Transformer's token width splits evenly across its attention heads."""
    model = ctx.config.model
    if model.family != "ft_transformer" or model.d_token % model.n_heads == 0:
        return None
    rounded = -(-model.d_token // model.n_heads) * model.n_heads
    return ctx.finding(
        f"model.d_token {model.d_token} is not a multiple of model.n_heads {model.n_heads}: "
        "attention splits each token into n_heads equal parts.",
        f"use model.d_token {rounded} (the next multiple of n_heads), or fewer heads.",
        repair={"model.d_token": rounded} if rounded <= MAX_D_TOKEN else None,
    )


@check("time_column_known", severity="error", field="time_column")
def time_column_known(ctx: CheckContext) -> Finding | None:
    """The time column a time split orders rows by is a column of the data, and is read."""
    config = ctx.config
    if config.time_column is None:
        return None
    names = [c.name for c in ctx.profile.columns]
    if config.time_column not in names:
        return ctx.finding(
            f"time_column {config.time_column!r} is not a column of the data.",
            f"name one of: {', '.join(names[:10])}; or set time_column null to split in "
            "file order.",
        )
    if config.split != "time":
        return ctx.finding(
            f"time_column {config.time_column!r} is only read when split is 'time'; this "
            "config splits at random.",
            "set split 'time' to hold out the latest rows, or drop time_column.",
            severity="warning",
        )
    return None


@check("linear_ignores_hidden", severity="info", field="model.hidden_sizes")
def linear_ignores_hidden(ctx: CheckContext) -> Finding | None:
    """A linear model has no hidden layers: hidden_sizes is ignored."""
    model = ctx.config.model
    if model.family != "linear" or not model.hidden_sizes:
        return None
    return ctx.finding(
        f"model.family is 'linear', so hidden_sizes {model.hidden_sizes} are ignored.",
        "use family 'mlp' to get hidden layers, or leave hidden_sizes empty.",
    )


@check("search_range_order", severity="error", field="search.space")
def search_range_order(ctx: CheckContext) -> list[Finding]:
    """Each search range is written (low, high) with low <= high."""
    space = ctx.config.search.space
    out: list[Finding] = []
    if not ctx.config.search.enabled:
        return out
    for name in RANGES:
        low, high = getattr(space, name)
        if low > high:
            out.append(ctx.finding(
                f"search range {name} is ({low:g}, {high:g}): low is above high.",
                f"write it as ({high:g}, {low:g}).",
                repair={f"search.space.{name}": [high, low]},
                field=f"search.space.{name}",
            ))
    return out


@check("search_range_bounds", severity="error", field="search.space")
def search_range_bounds(ctx: CheckContext) -> list[Finding]:
    """Search ranges stay where the values make sense (positive rates, dropout < 1, depth >= 1)."""
    space = ctx.config.search.space
    out: list[Finding] = []
    if not ctx.config.search.enabled:
        return out
    lr_low, lr_high = sorted(space.learning_rate)
    if lr_low <= 0 or lr_high > 10:
        out.append(ctx.finding(
            f"search range learning_rate ({lr_low:g}, {lr_high:g}) must lie in (0, 10].",
            "use e.g. (0.0001, 0.01); it is sampled on a log scale.",
            field="search.space.learning_rate",
        ))
    wd_low, wd_high = sorted(space.weight_decay)
    if wd_low <= 0 or wd_high > 1:
        fixed = [1e-6, wd_high] if 1e-6 < wd_high <= 1 else None
        out.append(ctx.finding(
            f"search range weight_decay ({wd_low:g}, {wd_high:g}) must lie in (0, 1] "
            "(it is sampled on a log scale).",
            "use e.g. (1e-6, 0.01).",
            repair={"search.space.weight_decay": fixed} if fixed else None,
            field="search.space.weight_decay",
        ))
    do_low, do_high = sorted(space.dropout)
    if do_low < 0 or do_high >= 1:
        low, high = max(0.0, do_low), (0.5 if do_high >= 1 else do_high)
        out.append(ctx.finding(
            f"search range dropout ({do_low:g}, {do_high:g}) must lie in [0, 1).",
            "use e.g. (0.0, 0.4).",
            repair={"search.space.dropout": [low, high]} if low <= high else None,
            field="search.space.dropout",
        ))
    d_low, d_high = sorted(space.depth)
    if d_low < 1:
        out.append(ctx.finding(
            f"search range depth ({d_low}, {d_high}) must start at 1 or more hidden layers.",
            "use e.g. (1, 3); a linear model is its own family.",
            repair={"search.space.depth": [1, max(1, d_high)]},
            field="search.space.depth",
        ))
    return out


@check("search_choices", severity="error", field="search.space")
def search_choices(ctx: CheckContext) -> list[Finding]:
    """The width and batch_size choice lists are non-empty and hold positive values."""
    space = ctx.config.search.space
    out: list[Finding] = []
    if not ctx.config.search.enabled:
        return out
    defaults = SearchSpace()
    for name in CHOICES:
        values: list[int] = getattr(space, name)
        good = [v for v in values if v >= 1]
        if values and len(good) == len(values):
            continue
        problem = "is empty" if not values else f"has values below 1: {values}"
        out.append(ctx.finding(
            f"search choice list {name} {problem}.",
            f"give positive values, e.g. {getattr(defaults, name)}.",
            repair={f"search.space.{name}": good or getattr(defaults, name)},
            field=f"search.space.{name}",
        ))
    return out


@check("search_batch_sizes_vs_rows", severity="warning", field="search.space.batch_size")
def search_batch_sizes_vs_rows(ctx: CheckContext) -> Finding | None:
    """Batch sizes the search may pick fit in the training rows."""
    rows, sizes = ctx.train_rows, ctx.config.search.space.batch_size
    if not ctx.config.search.enabled or rows < 1 or not sizes:
        return None
    too_big = [b for b in sizes if b > rows]
    if not too_big:
        return None
    kept = [b for b in sizes if b <= rows] or [_pow2_at_most(rows)]
    return ctx.finding(
        f"search batch sizes {too_big} are larger than the ~{rows} training rows.",
        f"search over batch sizes {kept}.",
        repair={"search.space.batch_size": kept},
    )
