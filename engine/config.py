"""The typed contract between the agents and the engine: what to learn and how to train.

`TaskSpec` says what the user wants (target, task type, metric, goal, budget).
`TrainingConfig` says how the engine trains (preprocessing, model, optimiser, search).
Field constraints live here; cross-field checks live in `guardrails/`.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

TaskType = Literal["binary", "multiclass", "regression"]
Metric = Literal["accuracy", "balanced_accuracy", "f1", "precision", "recall", "roc_auc",
                 "r2", "rmse", "mae"]

CLASSIFICATION_METRICS: frozenset[str] = frozenset(
    {"accuracy", "balanced_accuracy", "f1", "precision", "recall", "roc_auc"}
)
REGRESSION_METRICS: frozenset[str] = frozenset({"r2", "rmse", "mae"})
#: The longest budget a task may have (a week), and the largest seed (numpy's and
#: torch's generators take 32 bits).
MAX_BUDGET_S = 7 * 24 * 3600.0
MAX_SEED = 2**32 - 1
#: Metrics where a lower value is better; every other metric is maximised.
LOWER_IS_BETTER: frozenset[str] = frozenset({"rmse", "mae"})
#: Preprocessing leaves out a string column with more distinct values than this and > 50%
#: distinct (identifier-like); here so that the validators read it without the preprocessor.
MAX_LEVELS_FOR_ID_CHECK = 10


class TaskSpec(BaseModel):
    """What to predict, how success is measured, and how long the user will wait."""

    model_config = ConfigDict(extra="forbid")

    target: str = Field(description="Name of the column to predict.")
    task_type: TaskType = Field(description="binary, multiclass or regression.")
    metric: Metric = Field(description="Metric the job optimises and reports.")
    goal: float | None = Field(
        default=None, description="Score the user wants on the test set, e.g. 0.95; null if none."
    )
    budget_s: float = Field(gt=0, le=MAX_BUDGET_S, description="Training time budget in seconds.")
    drop_columns: list[str] = Field(
        default_factory=list, description="Feature columns to leave out, with reasons in the report."
    )

    @property
    def is_classification(self) -> bool:
        """True for binary and multiclass tasks."""
        return self.task_type != "regression"


class PreprocessingConfig(BaseModel):
    """How raw columns become model inputs."""

    model_config = ConfigDict(extra="forbid")

    numeric_imputation: Literal["median", "mean"] = "median"
    scaling: Literal["standard", "robust", "quantile", "none"] = "standard"
    max_categories: int = Field(
        default=30, ge=2, le=1000,
        description="One-hot encode at most this many levels per categorical column; "
        "rarer levels share one 'other' slot.",
    )
    drop_columns: list[str] = Field(
        default_factory=list,
        description="Feature columns to leave out of the inputs, e.g. a column whose values "
        "the model cannot use (the fault doctor's fix for a bad batch).",
    )
    standardize_target: bool = Field(
        default=True, description="Regression only: train on a standardised target."
    )
    log_target: bool = Field(
        default=False, description="Regression only: train on log1p(target) (target must be >= 0)."
    )
    categorical_encoding: Literal["onehot", "embedding"] = Field(
        default="onehot",
        description="onehot: one 0/1 column per kept level. embedding: one column of integer "
        "codes per categorical column, placed after all numeric columns, for models that "
        "embed them (every network, when built with the preprocessor's cardinalities) and "
        "for trees' native categorical splits.",
    )


ModelFamily = Literal["linear", "mlp", "resnet", "ft_transformer", "hist_gbt", "extra_trees",
                      "lightgbm", "xgboost", "catboost", "glm"]
#: Families that are PyTorch networks trained by `engine.training.fit`.
NEURAL_FAMILIES: frozenset[str] = frozenset({"linear", "mlp", "resnet", "ft_transformer"})
#: Boosted-tree libraries (`engine.boosters`), set up by `TrainingConfig.booster`.
BOOSTER_FAMILIES: frozenset[str] = frozenset({"lightgbm", "xgboost", "catboost"})
#: Families of boosted trees: their length (boosting rounds) grows with the rows on a refit.
BOOSTED_FAMILIES: frozenset[str] = frozenset({"hist_gbt"}) | BOOSTER_FAMILIES
#: Families that are no network: trees, forests and the penalised linear models ("glm",
#: one fit of scikit-learn, saved and served like a tree model).
TREE_FAMILIES: frozenset[str] = BOOSTED_FAMILIES | {"extra_trees", "glm"}


class ModelConfig(BaseModel):
    """The model: a linear model, an MLP, a ResNet-style MLP, an FT-Transformer,
    gradient-boosted trees ("hist_gbt", set up by `TrainingConfig.trees`), extremely
    randomised trees ("extra_trees", set up by `TrainingConfig.forest`), LightGBM,
    XGBoost and CatBoost boosted trees (set up by `TrainingConfig.booster`), or a
    penalised linear model with splines and interactions ("glm", set up by
    `TrainingConfig.glm`).

    `dropout` and `activation` apply to every network; each other field names the
    families that read it.
    """

    model_config = ConfigDict(extra="forbid")

    family: ModelFamily = "mlp"
    hidden_sizes: list[int] = Field(default_factory=lambda: [128, 64])
    dropout: float = Field(default=0.1, ge=0.0, lt=1.0)
    activation: Literal["relu", "gelu", "silu"] = "relu"
    batch_norm: bool = False
    d_embedding: int = Field(
        default=8, ge=1, le=512,
        description="mlp, linear, resnet: width of each categorical column's embedding "
        "(used when preprocessing.categorical_encoding is 'embedding').",
    )
    n_blocks: int = Field(default=2, ge=1, le=32, description="resnet: residual blocks.")
    d_block: int = Field(default=64, ge=4, le=4096, description="resnet: width of each block.")
    d_hidden_factor: float = Field(
        default=2.0, gt=0.0, le=8.0,
        description="resnet: a block's inner width is d_block x d_hidden_factor.",
    )
    residual_dropout: float = Field(
        default=0.0, ge=0.0, lt=1.0,
        description="resnet and ft_transformer: dropout on each block's output before the skip.",
    )
    d_token: int = Field(
        default=32, ge=4, le=1024,
        description="ft_transformer: width of each feature token; a multiple of n_heads.",
    )
    n_layers: int = Field(default=2, ge=1, le=16, description="ft_transformer: encoder layers.")
    n_heads: int = Field(default=4, ge=1, le=32, description="ft_transformer: attention heads.")
    attention_dropout: float = Field(
        default=0.1, ge=0.0, lt=1.0, description="ft_transformer: dropout on attention weights."
    )
    ffn_dropout: float = Field(
        default=0.1, ge=0.0, lt=1.0,
        description="ft_transformer: dropout inside each feed-forward block.",
    )
    ffn_factor: float = Field(
        default=2.0, gt=0.0, le=8.0,
        description="ft_transformer: a feed-forward block's inner width is d_token x ffn_factor.",
    )


class OptimizerConfig(BaseModel):
    """Optimiser and its schedule."""

    model_config = ConfigDict(extra="forbid")

    name: Literal["adamw", "adam", "sgd"] = "adamw"
    learning_rate: float = Field(default=1e-3, gt=0.0, le=10.0)
    weight_decay: float = Field(default=1e-4, ge=0.0, le=1.0)
    grad_clip_norm: float | None = Field(
        default=None, gt=0.0, description="Clip the global gradient norm to this value; null = off."
    )
    scheduler: Literal["none", "cosine", "plateau"] = "plateau"


class SearchSpace(BaseModel):
    """The ranges Optuna samples from when tuning around the base config."""

    model_config = ConfigDict(extra="forbid")

    learning_rate: tuple[float, float] = (1e-4, 1e-2)
    weight_decay: tuple[float, float] = (1e-6, 1e-2)
    dropout: tuple[float, float] = (0.0, 0.4)
    depth: tuple[int, int] = (1, 3)
    width: list[int] = Field(default_factory=lambda: [64, 128, 256])
    batch_size: list[int] = Field(default_factory=lambda: [64, 128, 256])
    families: list[ModelFamily] = Field(
        default_factory=list,
        description="Model families the search may pick from; empty = the base config's family.",
    )


class SearchConfig(BaseModel):
    """Optuna search settings and how the time budget is split."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool = True
    max_trials: int = Field(default=50, ge=1, le=10_000)
    sampler: Literal["tpe", "random"] = "tpe"
    pruner: Literal["median", "none"] = "median"
    space: SearchSpace = Field(default_factory=SearchSpace)
    base_fraction: float = Field(
        default=0.3, gt=0.0, le=1.0,
        description="Share of the budget for training the base config; the rest is for search.",
    )


class TreeConfig(BaseModel):
    """Gradient-boosted trees (scikit-learn HistGradientBoosting) for family "hist_gbt"."""

    model_config = ConfigDict(extra="forbid")

    learning_rate: float = Field(default=0.1, gt=0.0, le=1.0)
    max_leaf_nodes: int = Field(default=31, ge=2, le=4096)
    min_samples_leaf: int = Field(default=20, ge=1, le=100_000)
    l2_regularization: float = Field(default=0.0, ge=0.0, le=1000.0)
    max_iter: int = Field(
        default=1000, ge=1, le=100_000, description="Most boosting iterations (early stopping "
        "on the validation rows usually ends sooner)."
    )
    max_bins: int = Field(
        default=255, ge=2, le=255,
        description="Histogram bins per numeric feature; categorical columns with more "
        "levels than this are split as numbers.",
    )
    early_stopping_rounds: int = Field(
        default=20, ge=1, le=10_000,
        description="Stop when the validation loss has not improved for this many iterations.",
    )


class ForestConfig(BaseModel):
    """Extremely randomised trees (scikit-learn ExtraTrees) for family "extra_trees"."""

    model_config = ConfigDict(extra="forbid")

    n_estimators: int = Field(default=300, ge=1, le=10_000, description="Trees in the forest.")
    max_features: float = Field(
        default=1.0, gt=0.0, le=1.0, description="Share of the features tried at each split."
    )
    min_samples_leaf: int = Field(default=1, ge=1, le=100_000)


class GlmConfig(BaseModel):
    """A penalised linear model on splines, interactions and one-hot categories (family
    "glm", `engine.glm`): ridge regression, or L2-penalised logistic regression."""

    model_config = ConfigDict(extra="forbid")

    alpha: float = Field(default=1.0, gt=0.0, le=1e6,
                         description="L2 penalty on the standardised design (ridge alpha; "
                                     "logistic regression's C is 1/alpha).")
    spline_knots: int = Field(
        default=5, ge=0, le=50,
        description="Knots of each numeric column's cubic spline; 0 keeps columns linear.")
    interactions: bool = Field(
        default=True, description="Add pairwise products of the numeric columns (when at "
                                  "most 20 of them).")
    max_iter: int = Field(default=1000, ge=10, le=100_000,
                          description="Classification: most solver iterations.")


class BoosterConfig(BaseModel):
    """Boosted trees of LightGBM, XGBoost or CatBoost (families "lightgbm", "xgboost",
    "catboost"); each field names the libraries that read it. Null regularisation fields
    take the library's own default."""

    model_config = ConfigDict(extra="forbid")

    learning_rate: float = Field(default=0.1, gt=0.0, le=1.0)
    num_leaves: int = Field(default=31, ge=2, le=4096, description="lightgbm: leaves per tree.")
    max_depth: int = Field(default=6, ge=1, le=16, description="xgboost, catboost: tree depth.")
    min_child_samples: int | None = Field(
        default=None, ge=1, le=100_000,
        description="lightgbm: fewest rows in a leaf; xgboost: min_child_weight (hessian sum).")
    l2_regularization: float | None = Field(
        default=None, ge=0.0, le=1000.0,
        description="L2 penalty on leaf values (lightgbm reg_lambda, xgboost reg_lambda, "
                    "catboost l2_leaf_reg).")
    subsample: float = Field(default=1.0, gt=0.0, le=1.0, description="Share of rows per tree.")
    colsample: float = Field(default=1.0, gt=0.0, le=1.0,
                             description="Share of features per tree (catboost: per split).")
    max_rounds: int = Field(
        default=2000, ge=1, le=100_000, description="Most boosting rounds (early stopping "
        "on the validation rows usually ends sooner).")
    early_stopping_rounds: int = Field(
        default=50, ge=1, le=10_000,
        description="Stop when the validation loss has not improved for this many rounds.")


class TrainingConfig(BaseModel):
    """Everything the engine needs to train and tune one model for a TaskSpec."""

    model_config = ConfigDict(extra="forbid")

    preprocessing: PreprocessingConfig = Field(default_factory=PreprocessingConfig)
    model: ModelConfig = Field(default_factory=ModelConfig)
    optimizer: OptimizerConfig = Field(default_factory=OptimizerConfig)
    batch_size: int = Field(default=128, ge=1, le=1_000_000)
    max_epochs: int = Field(default=200, ge=1, le=100_000)
    early_stopping_patience: int = Field(default=20, ge=1)
    validation_fraction: float = Field(default=0.15, gt=0.0, lt=0.5)
    test_fraction: float = Field(default=0.2, gt=0.0, lt=0.5)
    class_weighting: bool = Field(
        default=False, description="Classification only: weight the loss by inverse class frequency."
    )
    split: Literal["random", "time"] = Field(
        default="random",
        description="How rows are held out: 'random' (stratified for classification), or "
                    "'time': the latest rows by time_column (by file order when it is null) "
                    "are the test rows, the ones before them the validation rows.",
    )
    time_column: str | None = Field(
        default=None, description="The column of dates or times that orders the rows for "
                                  "split 'time'; null: the rows are in time order already.",
    )
    deduplicate: bool = Field(
        default=False,
        description="Drop exact duplicate rows (features and target alike) before splitting, "
                    "so that no test row has a copy in the training rows.",
    )
    precision: Literal["auto", "fp32", "bf16"] = Field(
        default="auto",
        description="Networks: 'auto' trains in bf16 mixed precision on CUDA GPUs that "
                    "support it and in fp32 elsewhere; 'fp32' or 'bf16' force one.",
    )
    search: SearchConfig = Field(default_factory=SearchConfig)
    trees: TreeConfig | None = Field(
        default=None,
        description="Tree settings, read when model.family is 'hist_gbt' (null: the defaults).",
    )
    forest: ForestConfig | None = Field(
        default=None,
        description="Forest settings, read when model.family is 'extra_trees' (null: the defaults).",
    )
    booster: BoosterConfig | None = Field(
        default=None,
        description="Boosted-tree settings, read when model.family is 'lightgbm', 'xgboost' "
                    "or 'catboost' (null: the defaults).",
    )
    glm: GlmConfig | None = Field(
        default=None,
        description="Linear-model settings, read when model.family is 'glm' (null: the defaults).",
    )
    seed: int = Field(default=0, ge=0, le=MAX_SEED)
