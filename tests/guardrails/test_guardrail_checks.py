"""Every registered check fires on a crafted bad case and stays quiet on good configs.

CASES must hold at least one failing case per registered check: a new check without a
case here fails `test_every_registered_check_has_a_failing_case`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache
from typing import Any

import pytest
from guardrail_data import frame

from mlpilot.agent.config_generator import deep_merge as merged
from mlpilot.engine.config import TaskSpec, TrainingConfig
from mlpilot.engine.data import DataProfile, profile_table
from mlpilot.guardrails.checks import CheckContext, registered_checks, run_checks
from mlpilot.guardrails.limits import Limits
from mlpilot.guardrails.validators import validate

GOOD_TASK: dict[str, Any] = {
    "target": "species", "task_type": "multiclass", "metric": "accuracy", "goal": 0.9,
    "budget_s": 120,
}
GOOD_CONFIG: dict[str, Any] = {"search": {"space": {"batch_size": [32, 64, 128]}}}
BODY_MASS = {"target": "body_mass_g", "task_type": "regression", "metric": "rmse", "goal": 300}
FEATURES = ["island", "bill_length_mm", "bill_depth_mm", "flipper_length_mm", "body_mass_g", "sex"]


@dataclass(frozen=True)
class Case:
    """A task/config/data combination on which `check_id` must fire."""

    check_id: str
    task: dict[str, Any] = field(default_factory=dict)
    config: dict[str, Any] = field(default_factory=dict)
    data: str = "penguins"
    limits: dict[str, Any] = field(default_factory=dict)
    severity: str = "error"
    repair: dict[str, Any] | None = None  # the exact repair expected; None = no repair


CASES = [
    Case("target_in_data", task={"target": "Species"}, repair={"task.target": "species"}),
    Case("target_in_data", task={"target": "penguin_kind"}),
    Case("target_not_dropped", task={"drop_columns": ["species", "island"]},
         repair={"task.drop_columns": ["island"]}),
    Case("drop_columns_exist", task={"drop_columns": ["island", "nope"]}, severity="warning",
         repair={"task.drop_columns": ["island"]}),
    Case("features_left", task={"drop_columns": FEATURES}),
    Case("metric_vs_task_type", task={"metric": "r2"}),
    Case("metric_vs_task_type", task={**BODY_MASS, "metric": "accuracy"}),
    Case("roc_auc_multiclass", task={"metric": "roc_auc"}, severity="info"),
    Case("task_type_vs_target", task={"task_type": "binary"}),
    Case("task_type_vs_target", task={**BODY_MASS, "target": "island"}),
    Case("task_type_vs_target", task={"target": "sex"}, severity="info"),
    Case("goal_vs_metric", task={"goal": 95}, repair={"task.goal": 0.95}),
    Case("goal_vs_metric", task={"goal": 150}),
    Case("goal_vs_metric", task={**BODY_MASS, "goal": -1}),
    Case("goal_vs_metric", task={**BODY_MASS, "goal": 0}, severity="warning"),
    Case("tiny_classes", data="rare_class", severity="warning"),
    Case("split_fits_classes", data="many_classes", task={"target": "label"}, severity="warning",
         repair={"test_fraction": 0.33}),
    Case("class_imbalance", data="imbalanced", severity="info",
         task={"target": "label", "task_type": "binary"}),
    Case("id_like_features", data="row_id", severity="warning"),
    Case("columns_dropped_by_engine", data="constant", severity="info"),
    Case("target_missing_values", data="penguins_raw", task=BODY_MASS, severity="info"),
    Case("batch_size_vs_rows", config={"batch_size": 1024}, repair={"batch_size": 128}),
    Case("batch_norm_batch_size", config={"batch_size": 1, "model": {"batch_norm": True}},
         repair={"batch_size": 32}),
    Case("train_rows_enough", data="tiny"),
    Case("patience_vs_epochs", config={"max_epochs": 50, "early_stopping_patience": 50},
         severity="warning"),
    Case("learning_rate_plausible", config={"optimizer": {"name": "adam", "learning_rate": 0.5}},
         severity="warning", repair={"optimizer.learning_rate": 1e-3}),
    Case("learning_rate_plausible", config={"optimizer": {"name": "sgd", "learning_rate": 5}},
         severity="warning", repair={"optimizer.learning_rate": 1e-2}),
    Case("learning_rate_plausible", config={"optimizer": {"learning_rate": 1e-8}},
         severity="warning"),
    Case("log_target_needs_nonnegative", data="signed",
         task={"target": "y", "task_type": "regression", "metric": "rmse", "goal": None},
         config={"preprocessing": {"log_target": True}},
         repair={"preprocessing.log_target": False}),
    Case("target_transform_classification", config={"preprocessing": {"log_target": True}},
         severity="info", repair={"preprocessing.log_target": False}),
    Case("class_weighting_regression", task=BODY_MASS, config={"class_weighting": True},
         severity="info", repair={"class_weighting": False}),
    Case("hidden_sizes_valid", config={"model": {"hidden_sizes": [64, 0]}},
         repair={"model.hidden_sizes": [64]}),
    Case("hidden_sizes_valid", config={"model": {"hidden_sizes": []}}, severity="info",
         repair={"model.family": "linear"}),
    Case("hidden_sizes_vs_rows", config={"model": {"hidden_sizes": [2048, 2048]}},
         severity="warning"),
    Case("d_token_multiple_of_heads",
         config={"model": {"family": "ft_transformer", "d_token": 30, "n_heads": 4}},
         repair={"model.d_token": 32}),
    Case("d_token_multiple_of_heads",
         config={"model": {"family": "ft_transformer", "d_token": 1024, "n_heads": 3}}),
    Case("time_column_known", config={"split": "time", "time_column": "date"}),
    Case("time_column_known", config={"time_column": "island"}, severity="warning"),
    Case("linear_ignores_hidden", config={"model": {"family": "linear"}}, severity="info"),
    Case("search_range_order", config={"search": {"space": {"learning_rate": [0.01, 0.0001]}}},
         repair={"search.space.learning_rate": [0.0001, 0.01]}),
    Case("search_range_bounds", config={"search": {"space": {"weight_decay": [0, 0.01]}}},
         repair={"search.space.weight_decay": [1e-6, 0.01]}),
    Case("search_range_bounds", config={"search": {"space": {"learning_rate": [0, 0.01]}}}),
    Case("search_range_bounds", config={"search": {"space": {"dropout": [0.1, 1.5]}}},
         repair={"search.space.dropout": [0.1, 0.5]}),
    Case("search_range_bounds", config={"search": {"space": {"depth": [0, 3]}}},
         repair={"search.space.depth": [1, 3]}),
    Case("search_choices", config={"search": {"space": {"width": []}}},
         repair={"search.space.width": [64, 128, 256]}),
    Case("search_choices", config={"search": {"space": {"batch_size": [-1, 64]}}},
         repair={"search.space.batch_size": [64]}),
    Case("search_batch_sizes_vs_rows", config={"search": {"space": {"batch_size": [64, 512]}}},
         severity="warning", repair={"search.space.batch_size": [64]}),
    Case("memory_vs_limit", limits={"max_memory_mb": 100}),
    Case("parameters_vs_limit", limits={"max_parameters": 1000}),
    Case("budget_vs_limit", task={"budget_s": 7200}, limits={"max_budget_s": 3600}),
    Case("budget_vs_data_size", task={"budget_s": 1.0}, severity="warning",
         config={"max_epochs": 5000, "early_stopping_patience": 1000}),
    Case("budget_vs_data_size", task={"budget_s": 0.001}),
    Case("max_trials_vs_limit", limits={"max_trials": 10}, repair={"search.max_trials": 10}),
    Case("max_trials_vs_budget", task={"budget_s": 1.0}, config={"search": {"max_trials": 500}},
         severity="info"),
    Case("max_trials_vs_budget", config={"search": {"base_fraction": 1.0}}, severity="warning"),
]

GOOD = {
    "multiclass": ({}, {}),
    "binary": ({"target": "sex", "task_type": "binary", "metric": "f1", "goal": 0.85}, {}),
    "regression": (BODY_MASS, {"preprocessing": {"log_target": True}}),
    "no_search": ({}, {"search": {"enabled": False, "space": {"width": []}}}),
}
CHECK_IDS = [c.id for c in registered_checks()]
LAYER = {c.id: c.layer for c in registered_checks()}




@cache
def profile_of(data: str, target: str) -> DataProfile:
    df = frame(data)
    return profile_table(df, target if target in df.columns else None)


def inputs(task: dict[str, Any], config: dict[str, Any], data: str = "penguins"):
    """(TaskSpec, TrainingConfig, DataProfile) for overrides of the good task and config."""
    task_spec = TaskSpec(**{**GOOD_TASK, **task})
    training = TrainingConfig.model_validate(merged(GOOD_CONFIG, config))
    return task_spec, training, profile_of(data, task_spec.target)


def findings_of(case: Case):
    task, config, profile = inputs(case.task, case.config, case.data)
    ctx = CheckContext(task, config, profile, Limits(**case.limits))
    return [f for f in run_checks(ctx, LAYER[case.check_id]) if f.check_id == case.check_id]


def test_every_registered_check_has_a_failing_case():
    assert len(CHECK_IDS) >= 15
    untested = set(CHECK_IDS) - {c.check_id for c in CASES}
    assert not untested, f"add a failing case to CASES for: {sorted(untested)}"


@pytest.mark.parametrize("case", CASES, ids=[f"{c.check_id}-{i}" for i, c in enumerate(CASES)])
def test_check_fires_on_bad_case(case: Case):
    found = findings_of(case)
    assert found, f"{case.check_id} did not fire"
    first = found[0]
    assert (first.severity, first.repair) == (case.severity, case.repair)
    assert first.message and first.hint and first.field


@pytest.mark.parametrize("good", list(GOOD))
def test_good_configs_have_no_findings(good: str):
    task, config, profile = inputs(*GOOD[good])
    ctx = CheckContext(task, config, profile, Limits())
    found = run_checks(ctx, "checks") + run_checks(ctx, "resources")
    assert found == []


@pytest.mark.parametrize("case", [c for c in CASES if c.repair],
                         ids=lambda c: c.check_id)
def test_repair_is_applied_and_clears_the_finding(case: Case):
    task, config, profile = inputs(case.task, case.config, case.data)
    report = validate(task, config, profile, limits=Limits(**case.limits), dry_run=False)
    assert case.repair in [f.repair for f in report.repaired if f.check_id == case.check_id]
    assert case.repair not in [f.repair for f in report.findings]
    for path, value in case.repair.items():
        node: Any = report.task if path.startswith("task.") else report.config
        for part in path.removeprefix("task.").split("."):
            node = node[part]
        assert node == value
