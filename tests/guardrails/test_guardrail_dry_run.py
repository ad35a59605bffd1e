"""The dry-run layer: a few real optimiser steps on a sample of the data."""

from __future__ import annotations

import time

import pandas as pd
from guardrail_data import frame

from mlpilot.engine.config import TaskSpec, TrainingConfig
from mlpilot.engine.data import profile_table
from mlpilot.guardrails.dry_run import dry_run, sample_rows
from mlpilot.guardrails.validators import validate

BODY_MASS = TaskSpec(target="body_mass_g", task_type="regression", metric="rmse", budget_s=60)


def test_dry_run_passes_on_penguins(penguins, species_task, good_config):
    report = validate(species_task, good_config, profile_table(penguins, "species"), penguins)
    assert report.layers_run == ["schema", "checks", "resources", "dry_run"]
    assert report.passed, report.to_retry_message()
    assert report.findings == []


def test_dry_run_is_fast(penguins, species_task, good_config):
    dry_run(species_task, good_config, penguins)  # warm up imports and kernels
    started = time.monotonic()
    assert dry_run(species_task, good_config, penguins) == []
    assert time.monotonic() - started < 2.0


def test_absurd_learning_rate_makes_a_fault_finding(penguins):
    config = TrainingConfig(optimizer={"name": "sgd", "learning_rate": 10.0})
    [finding] = dry_run(BODY_MASS, config, penguins)
    assert (finding.check_id, finding.severity) == ("dry_run_fault", "error")
    assert finding.field == "optimizer.learning_rate"
    assert "nan_loss" in finding.message or "exploding" in finding.message
    assert "learning_rate" in finding.hint and "grad_clip_norm" in finding.hint


def test_a_config_the_engine_rejects_makes_a_finding_with_the_error(penguins, species_task):
    config = TrainingConfig(model={"hidden_sizes": [-3]})
    [finding] = dry_run(species_task, config, penguins)
    assert (finding.check_id, finding.field, finding.severity) == ("dry_run", "config", "error")
    assert "RuntimeError" in finding.message or "Error" in finding.message


def test_data_the_engine_rejects_makes_a_finding(species_task, good_config):
    one_class = frame("penguins").query("species == 'Adelie'")
    [finding] = dry_run(species_task, good_config, one_class)
    assert finding.check_id == "dry_run"
    assert "one class" in finding.message


def test_sample_keeps_every_class():
    big = pd.concat([frame("penguins")] * 4, ignore_index=True)  # 1332 rows
    rare = big.head(6).assign(species="Emperor")
    df = pd.concat([big, rare], ignore_index=True)
    task = TaskSpec(target="species", task_type="multiclass", metric="accuracy", budget_s=60)
    sample = sample_rows(df, task, max_rows=512)
    assert len(sample) <= 512
    assert set(sample["species"]) == set(df["species"])
    assert (sample["species"] == "Emperor").sum() >= 5
