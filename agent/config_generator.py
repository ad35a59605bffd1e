"""Config generator: writes the `TrainingConfig` for a TaskSpec and a data profile.

Offline, the expert applies sizing rules (below) and, on a repair round, the fixes the
validator chain's findings name. With an LLM, the model picks among the expert's candidate
configs and may adjust a few fields (`agent.llm_config`); it never writes a whole config,
and the validator node checks the result like any other.
"""

from __future__ import annotations

from importlib.util import find_spec
from typing import Any, Literal

from mlpilot.agent.context import JobContext
from mlpilot.agent.state import JobState, Step, TaskRequest, decision
from mlpilot.engine.config import TaskSpec, TrainingConfig
from mlpilot.engine.data import DataProfile
from mlpilot.knowledge.patches import apply_patch


def generate_config(state: JobState, ctx: JobContext) -> Step[Literal["validator"]]:
    """Config generator node: draft (or repair) the TrainingConfig, then hand it to the validator."""
    task = TaskSpec.model_validate(state["task"])
    profile = DataProfile.model_validate(state["profile"])
    request = TaskRequest.model_validate(state["request"])
    errors = [f for f in state.get("findings") or [] if f.get("severity") == "error"]
    repairing = bool(errors) and state.get("config") is not None
    draft = expert_config(task, profile, seed=request.seed).model_dump(mode="json")
    choice = None
    if repairing:
        # whoever chose it, the config came from the expert's candidates: the expert's
        # repairs fix it, and another LLM call would not know more than the findings say
        config, how = repair_config(state["config"], errors), "repaired from the validator's findings"
    elif ctx.chat_model is not None:
        from mlpilot.agent.llm_config import llm_choose_config, reapply_choice  # LangChain

        if state.get("config_choice"):
            # made with the task by the planner's call, or before a critic round changed
            # the task: the same pick from this draft, no new call
            config, how = reapply_choice(draft, state["config_choice"],
                                         again=state.get("config") is not None)
        else:
            config, how, choice = llm_choose_config(task, profile, draft, ctx.chat_model)
    else:
        config, how = draft, "the offline expert's sizing rules"
    if request.training and not repairing:
        config = deep_merge(config, request.training)
        how += ", with the user's overrides"
    summary = describe(config)
    ctx.emit("config_generator", f"config: {summary}")
    return Step("validator", {
        "config": config, **({"config_choice": choice} if choice else {}),
        "decisions": [decision("config_generator", summary, how)],
    })


#: The search explores penalised linear models with splines ("glm") up to this many
#: training rows.
GLM_MAX_ROWS = 20_000

#: Below this budget the base run gets half of it (a search of a few seconds finds little).
SHORT_BUDGET_S = 30.0


def expert_config(task: TaskSpec, profile: DataProfile, seed: int = 0) -> TrainingConfig:
    """The offline expert's config: sized by rows and features, tuned by the data's shape.

    - width grows with the training rows (small data overfits big nets);
    - batch size ~ 1/10 of the training rows, between 16 and 512 (enough steps per epoch);
    - heavy-tailed numeric features get a quantile transform, others standard scaling;
    - skewed non-negative regression targets are learnt in log space;
    - imbalanced classes with a balance-aware metric get class weights;
    - the search spans MLP, ResNet-MLP, gradient-boosted trees (scikit-learn's, and
      LightGBM, XGBoost, CatBoost where installed) and extremely randomised trees (plus
      an FT-Transformer, and linear models with splines and interactions, on smaller
      data), starting from the learned portfolio and each family's defaults.
    """
    n_train = int(profile.n_rows * 0.8 * 0.85)
    if n_train < 1_000:
        hidden, widths, patience = [128, 64], [32, 64, 128], 30
    elif n_train < 20_000:
        hidden, widths, patience = [256, 128], [64, 128, 256], 20
    else:
        hidden, widths, patience = [256, 256, 128], [128, 256, 512], 12
    batch = _power_of_two(min(512, max(16, n_train // 10)))
    # Trees often win on tabular data; a transformer only pays off where rows are few.
    # The boosted-tree libraries join when installed (each is an optional wheel).
    # Penalised linear models with splines (one solve, no deadline checks inside) join
    # where rows are few enough for that solve to take well under a second.
    families = (["mlp", "resnet", "hist_gbt", "extra_trees"]
                + [f for f in ("lightgbm", "xgboost", "catboost") if find_spec(f) is not None]
                + (["ft_transformer"] if n_train <= 5_000 else [])
                + (["glm"] if n_train <= GLM_MAX_ROWS else []))
    numeric = [c for c in profile.columns if c.kind == "numeric" and c.name != task.target]
    heavy_tails = any(_skewed(c) for c in numeric)
    target = profile.column(task.target)
    log_target = (task.task_type == "regression" and target is not None and target.min is not None
                  and target.min >= 0 and _skewed(target))
    imbalance = profile.target.imbalance_ratio if profile.target else None
    config = {
        "preprocessing": {
            "scaling": "quantile" if heavy_tails and profile.n_rows >= 1_000 else "standard",
            "log_target": bool(log_target),
            "standardize_target": task.task_type == "regression",
            # integer codes: networks embed them, trees split on them natively
            "categorical_encoding": "embedding",
        },
        "model": {"family": "mlp", "hidden_sizes": hidden,
                  "dropout": 0.1 if n_train < 20_000 else 0.05},
        "optimizer": {"name": "adamw", "learning_rate": 2e-3, "weight_decay": 1e-4,
                      "scheduler": "plateau"},
        "batch_size": batch,
        "max_epochs": 400,
        "early_stopping_patience": patience,
        "class_weighting": bool(task.is_classification and imbalance is not None
                                and imbalance < 0.5 and task.metric != "accuracy"),
        "search": {
            "max_trials": 200,  # the budget ends the search first, but for tiny data
            # the base run checks the config for faults; the search trains it again. On a
            # budget too short for a real search, the base model is likely the result.
            "base_fraction": 0.15 if task.budget_s >= SHORT_BUDGET_S else 0.5,
            "space": {"families": families,
                      "width": widths,
                      "batch_size": sorted({_power_of_two(max(16, batch // 2)), batch,
                                            _power_of_two(min(1024, batch * 2))})},
        },
        "seed": seed,
    }
    return TrainingConfig.model_validate(config)


def repair_config(config: dict[str, Any], errors: list[dict[str, Any]]) -> dict[str, Any]:
    """Apply the safe repairs the error findings carry (task fields are the validator's to fix)."""
    repaired = dict(config)
    for finding in errors:
        patch = {k: v for k, v in (finding.get("repair") or {}).items() if not k.startswith("task.")}
        if patch:
            repaired = apply_patch(repaired, patch)
    return repaired


def deep_merge(base: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    """`base` with `overrides` merged in, recursively for nested sections."""
    merged = dict(base)
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def describe(config: dict[str, Any]) -> str:
    """A one-line summary of a config for logs and the report."""
    try:  # an LLM's config may leave fields to their defaults
        config = TrainingConfig.model_validate(config).model_dump()
    except ValueError:
        pass
    model = config.get("model") or {}
    opt = config.get("optimizer") or {}
    return (f"{model.get('family', '?')} {model.get('hidden_sizes', '')}, "
            f"{opt.get('name', '?')} lr={opt.get('learning_rate', '?')}, "
            f"batch {config.get('batch_size', '?')}, up to {config.get('max_epochs', '?')} epochs")


def _power_of_two(n: int) -> int:
    return 1 << max(0, int(n).bit_length() - 1)


def _skewed(column, factor: float = 5.0) -> bool:
    """A long right tail: the max lies `factor` times further above the mean than the min below it."""
    if column.min is None or column.max is None or column.mean is None:
        return False
    below = column.mean - column.min
    return below > 0 and (column.max - column.mean) > factor * below
