"""The search space over model families and their hyperparameters, and the portfolio of
default configs tried before the sampler takes over.

One Optuna study searches every family in `search.space.families` (NAS-lite: depth,
width, dropout, blocks, layers; learning rate and regularisation; tree shape). Parameter
names are per family where their meaning differs, so a conditional space stays
consistent across trials; TPE is run with `group=True` to model it.
"""

from __future__ import annotations

import warnings
from collections.abc import Collection, Sequence
from typing import Any

import optuna
from optuna.distributions import BaseDistribution, CategoricalDistribution, IntDistribution

from .config import (
    BOOSTER_FAMILIES,
    NEURAL_FAMILIES,
    BoosterConfig,
    ForestConfig,
    GlmConfig,
    ModelFamily,
    SearchSpace,
    TrainingConfig,
    TreeConfig,
)

#: FT-Transformer costs about 10x an MLP per row on a CPU; beyond this many training rows
#: it is left out of the portfolio (the sampler can still pick it).
FT_TRANSFORMER_MAX_ROWS = 20_000

#: Each boosted-tree library's searched `BoosterConfig` fields: field -> (parameter name,
#: low, high, kind), kind "log" (float, log scale), "int" (log scale) or "float".
BOOSTER_SPACE: dict[str, dict[str, tuple[str, float, float, str]]] = {
    "lightgbm": {"learning_rate": ("lgb_learning_rate", 0.01, 0.3, "log"),
                 "num_leaves": ("lgb_leaves", 4, 256, "int"),
                 "min_child_samples": ("lgb_min_child", 2, 100, "int"),
                 "l2_regularization": ("lgb_l2", 1e-6, 10.0, "log"),
                 "colsample": ("lgb_colsample", 0.4, 1.0, "float"),
                 "subsample": ("lgb_subsample", 0.5, 1.0, "float")},
    "xgboost": {"learning_rate": ("xgb_learning_rate", 0.01, 0.3, "log"),
                "max_depth": ("xgb_depth", 2, 10, "int"),
                "min_child_samples": ("xgb_min_child", 1, 100, "int"),
                "l2_regularization": ("xgb_l2", 1e-3, 10.0, "log"),
                "colsample": ("xgb_colsample", 0.4, 1.0, "float"),
                "subsample": ("xgb_subsample", 0.5, 1.0, "float")},
    "catboost": {"learning_rate": ("cb_learning_rate", 0.02, 0.3, "log"),
                 "max_depth": ("cb_depth", 4, 8, "int"),
                 "l2_regularization": ("cb_l2", 1.0, 10.0, "log"),
                 "colsample": ("cb_colsample", 0.5, 1.0, "float")},
}
#: Knots of a "glm"'s splines the search picks from (0: no splines, numeric columns linear).
GLM_KNOTS = (0, 4, 6, 8)

#: The libraries' own defaults of the fields `BoosterConfig` leaves null (for enqueueing).
BOOSTER_DEFAULTS: dict[str, dict[str, float]] = {
    "lightgbm": {"min_child_samples": 20, "l2_regularization": 0.0},
    "xgboost": {"min_child_samples": 1, "l2_regularization": 1.0},
    "catboost": {"l2_regularization": 3.0},
}


def families(base: TrainingConfig) -> list[ModelFamily]:
    """The families a search over `base` explores (the base's own family when none are set)."""
    return list(base.search.space.families) or [base.model.family]


def sample_config(trial: optuna.Trial, base: TrainingConfig, n_train_rows: int) -> TrainingConfig:
    """The base config with the trial's sampled family and hyperparameters."""
    space = base.search.space
    choices = families(base)
    family = trial.suggest_categorical("family", choices) if len(choices) > 1 else choices[0]
    if family == "hist_gbt":
        return _with_trees(base, TreeConfig(
            learning_rate=trial.suggest_float("tree_learning_rate", 0.01, 0.3, log=True),
            max_leaf_nodes=trial.suggest_int("tree_leaves", 8, 128, log=True),
            min_samples_leaf=trial.suggest_int("tree_min_leaf", 2, 100, log=True),
            l2_regularization=trial.suggest_float("tree_l2", 1e-6, 10.0, log=True),
        ))
    if family == "extra_trees":
        return _with_forest(base, ForestConfig(
            max_features=trial.suggest_float("forest_max_features", 0.2, 1.0),
            min_samples_leaf=trial.suggest_int("forest_min_leaf", 1, 20, log=True),
        ))
    if family == "glm":
        return _with_glm(base, GlmConfig(
            alpha=trial.suggest_float("glm_alpha", 1e-2, 1e3, log=True),
            spline_knots=trial.suggest_categorical("glm_knots", list(GLM_KNOTS)),
            interactions=trial.suggest_categorical("glm_interactions", [False, True]),
        ))
    if family in BOOSTER_FAMILIES:
        values = {}
        for key, (name, low, high, kind) in BOOSTER_SPACE[family].items():
            values[key] = (trial.suggest_int(name, int(low), int(high), log=True) if kind == "int"
                           else trial.suggest_float(name, low, high, log=kind == "log"))
        return _with_booster(base, family, BoosterConfig(**values))
    lr = trial.suggest_float("learning_rate", *space.learning_rate, log=True)
    wd = trial.suggest_float("weight_decay", *space.weight_decay, log=True)
    batch = trial.suggest_categorical("batch_size", list(space.batch_size))
    model = base.model.model_copy(update={"family": family})
    if family == "mlp":
        depth = trial.suggest_int("depth", *space.depth)
        width = trial.suggest_categorical("width", list(space.width))
        dropout = trial.suggest_float("dropout", *space.dropout)
        model = model.model_copy(update={"hidden_sizes": [width] * depth, "dropout": dropout})
    elif family == "resnet":
        model = model.model_copy(update={
            "n_blocks": trial.suggest_int("resnet_blocks", 1, 4),
            "d_block": trial.suggest_categorical("resnet_width", list(space.width)),
            "residual_dropout": trial.suggest_float("resnet_dropout", *space.dropout),
        })
    elif family == "ft_transformer":
        model = model.model_copy(update={
            "n_layers": trial.suggest_int("ft_layers", 1, 3),
            "d_token": trial.suggest_categorical("ft_token", [16, 32, 64]),
            "ffn_dropout": trial.suggest_float("ft_dropout", *space.dropout),
        })
    optimizer = base.optimizer.model_copy(update={"learning_rate": lr, "weight_decay": wd})
    return base.model_copy(update={
        "model": model, "optimizer": optimizer, "batch_size": max(1, min(batch, n_train_rows)),
    })


def config_params(config: TrainingConfig, space: SearchSpace) -> dict[str, Any]:
    """The search-space parameters that best describe `config`, clipped into `space`.

    Used to enqueue a known config: the sampler learns from these values, while the trial
    itself trains the exact config (kept in the trial's user attributes).
    """
    def clip(value: float, bounds: tuple[float, float]) -> float:
        return min(max(value, bounds[0]), bounds[1])

    def nearest(value: int, choices: Sequence[int]) -> int:
        return min(choices, key=lambda choice: (abs(choice - value), choice))

    family = config.model.family
    params: dict[str, Any] = {"family": family} if len(space.families) > 1 else {}
    if family == "hist_gbt":
        trees = config.trees or TreeConfig()
        return {**params,
                "tree_learning_rate": clip(trees.learning_rate, (0.01, 0.3)),
                "tree_leaves": int(clip(trees.max_leaf_nodes, (8, 128))),
                "tree_min_leaf": int(clip(trees.min_samples_leaf, (2, 100))),
                "tree_l2": clip(max(trees.l2_regularization, 1e-6), (1e-6, 10.0))}
    if family == "extra_trees":
        forest = config.forest or ForestConfig()
        return {**params, "forest_max_features": clip(forest.max_features, (0.2, 1.0)),
                "forest_min_leaf": int(clip(forest.min_samples_leaf, (1, 20)))}
    if family == "glm":
        glm = config.glm or GlmConfig()
        return {**params, "glm_alpha": clip(glm.alpha, (1e-2, 1e3)),
                "glm_knots": nearest(glm.spline_knots, GLM_KNOTS),
                "glm_interactions": glm.interactions}
    if family in BOOSTER_FAMILIES:
        booster = config.booster or BoosterConfig()
        for key, (name, low, high, kind) in BOOSTER_SPACE[family].items():
            value = getattr(booster, key)
            value = BOOSTER_DEFAULTS[family].get(key, 0.0) if value is None else value
            value = clip(value, (low, high))
            params[name] = round(value) if kind == "int" else value
        return params
    params.update({
        "learning_rate": clip(config.optimizer.learning_rate, space.learning_rate),
        "weight_decay": clip(config.optimizer.weight_decay, space.weight_decay),
        "batch_size": nearest(config.batch_size, space.batch_size),
    })
    model = config.model
    if family == "mlp":
        hidden = model.hidden_sizes
        params["depth"] = int(clip(len(hidden), space.depth))
        params["width"] = nearest(hidden[0] if hidden else min(space.width), space.width)
        params["dropout"] = clip(model.dropout, space.dropout)
    elif family == "resnet":
        params.update(resnet_blocks=int(clip(model.n_blocks, (1, 4))),
                      resnet_width=nearest(model.d_block, space.width),
                      resnet_dropout=clip(model.residual_dropout, space.dropout))
    elif family == "ft_transformer":
        params.update(ft_layers=int(clip(model.n_layers, (1, 3))),
                      ft_token=nearest(model.d_token, [16, 32, 64]),
                      ft_dropout=clip(model.ffn_dropout, space.dropout))
    return params


def fit_params(params: dict[str, Any], base: TrainingConfig, n_train_rows: int
               ) -> tuple[dict[str, Any], dict[str, BaseDistribution]] | None:
    """Parameters drawn by another search (a past run's trial), as `sample_config` over
    `base` would draw them, with their distributions; None when they do not fit its space.

    Numeric values outside this space are clipped into it; a family this space does not
    search, a choice it does not offer, or a parameter it needs and `params` lacks makes
    them not fit. Parameters this space does not use are left out.
    """
    trial = optuna.trial.FixedTrial(params)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # out-of-range values: clipped below
            sample_config(trial, base, n_train_rows)
    except (ValueError, TypeError):
        return None
    fitted = {}
    for name, distribution in trial.distributions.items():
        value = trial.params[name]
        if not isinstance(distribution, CategoricalDistribution):
            value = min(max(value, distribution.low), distribution.high)
        fitted[name] = round(value) if isinstance(distribution, IntDistribution) else value
    return fitted, trial.distributions


def portfolio(base: TrainingConfig, n_train_rows: int, known: Collection[str] = (),
              covered: Collection[str] = ()) -> list[TrainingConfig]:
    """Default configs of each searched family other than the base's, tried first.

    The strongest AutoML systems start from a few proven defaults before searching; tree
    models with defaults (scikit-learn's HistGradientBoosting defaults, early-stopped on
    the validation rows, then ExtraTrees) are often the best single models on tabular
    data, and the cheapest: they come first. Network families in `known` are left out:
    the search already knows how they do on such data (a warm start's past trials, which
    tried these defaults, tell the sampler), and a network's default trains for many
    seconds. The tree defaults stay: they train in about a second, and on a new sample of
    data they often beat the past runs' best.
    """
    configs = []
    order = ("hist_gbt", "lightgbm", "extra_trees", "xgboost", "catboost", "glm")
    for family in sorted(families(base), key=lambda f: order.index(f) if f in order else 99):
        if (family == base.model.family or family in covered
                or (family in known and family in NEURAL_FAMILIES)):
            continue
        if family == "ft_transformer" and n_train_rows > FT_TRANSFORMER_MAX_ROWS:
            continue
        if family == "hist_gbt":
            configs.append(_with_trees(base, TreeConfig()))
        elif family == "extra_trees":
            configs.append(_with_forest(base, ForestConfig()))
        elif family in BOOSTER_FAMILIES:
            configs.append(_with_booster(base, family, BoosterConfig()))
        elif family == "glm":
            configs.append(_with_glm(base, GlmConfig()))
        elif family in NEURAL_FAMILIES:
            model = base.model.model_copy(update={"family": family})
            configs.append(base.model_copy(update={"model": model}))
    return configs


def _with_trees(base: TrainingConfig, trees: TreeConfig) -> TrainingConfig:
    model = base.model.model_copy(update={"family": "hist_gbt"})
    return base.model_copy(update={"model": model, "trees": trees})


def _with_booster(base: TrainingConfig, family: str, booster: BoosterConfig) -> TrainingConfig:
    model = base.model.model_copy(update={"family": family})
    return base.model_copy(update={"model": model, "booster": booster})


def _with_glm(base: TrainingConfig, glm: GlmConfig) -> TrainingConfig:
    model = base.model.model_copy(update={"family": "glm"})
    return base.model_copy(update={"model": model, "glm": glm})


def _with_forest(base: TrainingConfig, forest: ForestConfig) -> TrainingConfig:
    model = base.model.model_copy(update={"family": "extra_trees"})
    return base.model_copy(update={"model": model, "forest": forest})
