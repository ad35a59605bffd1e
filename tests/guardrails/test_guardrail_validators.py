"""The validator chain end to end: schema errors, safe repairs, layers, the repair loop."""

from __future__ import annotations

import json
import math

import pytest

from mlpilot.engine.config import TaskSpec, TrainingConfig
from mlpilot.engine.data import profile_table
from mlpilot.guardrails.findings import Finding, ValidationReport
from mlpilot.guardrails.repair import apply_repair
from mlpilot.guardrails.validators import validate, validate_and_repair


@pytest.fixture
def profile(penguins):
    return profile_table(penguins, "species")


def by_field(report: ValidationReport) -> dict[str, Finding]:
    return {f.field: f for f in report.findings}


def test_schema_errors_from_a_raw_dict_name_each_field(species_task, profile):
    raw = {
        "batch_size": "lots",
        "max_epochs": 0,
        "optimizer": {"name": "rmsprop", "learning_rate": 1e-3, "momentum": 0.9},
        "model": {"dropout": 1.5},
    }
    report = validate(species_task, raw, profile)
    assert not report.passed
    assert report.layers_run == ["schema"]  # the chain stops at a schema failure
    assert report.config == raw
    found = by_field(report)
    assert set(found) == {"batch_size", "max_epochs", "optimizer.name", "optimizer.momentum",
                          "model.dropout"}
    assert all(f.check_id == "schema" and f.severity == "error" for f in report.findings)
    assert "'adamw'" in found["optimizer.name"].hint
    assert "learning_rate" in found["optimizer.momentum"].hint  # lists the allowed fields
    assert ">= 1" in found["max_epochs"].hint
    assert "got 'lots'" in found["batch_size"].message


def test_schema_errors_in_the_task_are_prefixed_with_task(profile):
    task = {"target": "species", "task_type": "multiclass", "metric": "log_loss", "budget_s": 60}
    report = validate(task, {}, profile)
    assert [f.field for f in report.errors] == ["task.metric"]


def test_config_may_be_json_text(species_task, good_config, profile):
    assert validate(species_task, good_config.model_dump_json(), profile).passed
    broken = validate(species_task, '{"batch_size": 64,', profile)
    assert [(f.check_id, f.field) for f in broken.errors] == [("schema", "config")]


def test_retry_message_names_field_and_problem(species_task, profile):
    report = validate(species_task, {"batch_size": 0, "optimizer": {"lr": 0.1}}, profile)
    message = report.to_retry_message()
    assert "2 problem(s)" in message
    assert "- batch_size: " in message and "- optimizer.lr: " in message
    assert "Hint:" in message


def test_safe_repairs_are_applied_and_logged(profile):
    task = TaskSpec(target="species", task_type="multiclass", metric="accuracy", goal=95,
                    budget_s=120)
    config = TrainingConfig(batch_size=4096, class_weighting=False,
                            optimizer={"name": "adam", "learning_rate": 0.9},
                            search={"space": {"batch_size": [64, 4096]}})
    report = validate(task, config, profile, dry_run=False)
    assert report.passed, report.to_retry_message()
    assert {f.check_id for f in report.repaired} == {
        "goal_vs_metric", "batch_size_vs_rows", "learning_rate_plausible",
        "search_batch_sizes_vs_rows"}
    assert report.task["goal"] == 0.95
    assert report.config["batch_size"] == 128
    assert report.config["optimizer"]["learning_rate"] == 1e-3
    assert report.config["search"]["space"]["batch_size"] == [64]
    assert report.findings == []
    assert report.layers_run == ["schema", "checks", "resources"]
    assert report.resources["n_parameters"] > 0
    json.loads(report.model_dump_json())  # the report is JSON-able for the agent state


def test_a_repair_that_breaks_the_schema_is_not_applied(species_task, good_config):
    assert apply_repair(species_task, good_config, {"batch_size": 0}) is None
    assert apply_repair(species_task, good_config, {"optimizer.no_such_field": 1}) is None
    task, config = apply_repair(species_task, good_config, {"task.goal": 0.5, "seed": 3})
    assert (task.goal, config.seed) == (0.5, 3)
    assert species_task.goal == 0.9  # inputs are not modified


def test_errors_without_repair_fail_and_skip_the_dry_run(penguins, profile):
    task = TaskSpec(target="species", task_type="multiclass", metric="r2", budget_s=60)
    report = validate(task, TrainingConfig(), profile, penguins)
    assert not report.passed
    assert [f.check_id for f in report.errors] == ["metric_vs_task_type"]
    assert "dry_run" not in report.layers_run


def test_repair_loop_is_bounded_when_regenerate_never_fixes(species_task, profile):
    calls = []

    def regenerate(config, errors):
        calls.append((config, errors))
        return {"batch_size": 0}

    report = validate_and_repair(species_task, {"batch_size": 0}, profile, None, None,
                                 regenerate, max_rounds=3)
    assert not report.passed
    assert [r.round for r in report.history] == [1, 2, 3]
    assert len(calls) == 2  # no regeneration after the last round
    config, errors = calls[0]
    assert config == {"batch_size": 0}  # schema failed: the raw dict goes back
    assert [e.field for e in errors] == ["batch_size"]


def test_repair_loop_stops_when_the_config_is_fixed(species_task, good_config, profile):
    seen = []

    def regenerate(config, errors):
        seen.append((type(config), [e.check_id for e in errors]))
        return good_config.model_dump()

    # a fraction the schema refuses has no safe repair: the generator is asked again
    bad = {**good_config.model_dump(), "validation_fraction": 0.7}
    report = validate_and_repair(species_task, bad, profile, None, None, regenerate,
                                 dry_run=False)
    assert report.passed
    assert [r.passed for r in report.history] == [False, True]
    assert len(seen) == 1 and seen[0][0] is dict


def test_splits_that_leave_too_few_rows_to_train_are_made_smaller(species_task, good_config,
                                                                   profile):
    """Too few training rows after the splits is repaired in place, with the largest
    fractions (no larger than asked) that leave enough; when none can, the hint says how
    many rows the data needs."""
    from mlpilot.guardrails.limits import Limits

    bad = good_config.model_copy(update={"validation_fraction": 0.45, "test_fraction": 0.45})
    report = validate_and_repair(species_task, bad, profile, None, Limits(min_train_rows=200),
                                 lambda config, errors: config, dry_run=False)
    assert report.passed and [r.passed for r in report.history] == [True]
    assert "train_rows_enough" in str(report.repaired)
    config = TrainingConfig.model_validate(report.config)
    rows = profile.n_rows
    kept = rows - math.ceil(rows * config.test_fraction) - math.ceil(rows * config.validation_fraction)
    assert kept >= 200 and config.test_fraction >= 0.1
    report = validate_and_repair(species_task, good_config, profile, None,
                                 Limits(min_train_rows=340), lambda config, errors: config,
                                 dry_run=False)
    assert not report.passed
    (finding,) = [f for f in report.errors if f.check_id == "train_rows_enough"]
    assert "use data with at least" in finding.hint


def test_task_repairs_carry_over_between_rounds(profile, good_config):
    task = {"target": "species", "task_type": "multiclass", "metric": "accuracy", "goal": 90,
            "budget_s": 120}
    report = validate_and_repair(task, {"max_epochs": 0}, profile, None, None,
                                 lambda config, errors: good_config, dry_run=False)
    assert report.passed
    assert report.task["goal"] == 0.9
    assert report.history[0].repaired == []  # the schema failed before any check ran
