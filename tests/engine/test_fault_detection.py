"""Each fault kind is detected by the engine from a real failure, with the evidence a doctor
needs and the checkpoint to resume from; healthy runs raise nothing."""

from __future__ import annotations

import pickle
import time

import numpy as np
import pandas as pd
import pytest

from mlpilot.engine.checkpoint import best_checkpoint_path, keeps_weights
from mlpilot.engine.config import TaskSpec, TrainingConfig
from mlpilot.engine.data import load_table
from mlpilot.engine.faults import TrainingFault, estimate_step_memory_mb
from mlpilot.engine.injection import (
    AllocateTooMuch,
    KillWorker,
    PoisonWeights,
    RaiseLearningRate,
    corrupt_column,
)
from mlpilot.engine.models import build_model
from mlpilot.engine.monitor import FaultLimits, FaultMonitor
from mlpilot.engine.preprocess import prepare_data
from mlpilot.engine.search import tune
from mlpilot.engine.training import fit
from mlpilot.engine.worker import fit_in_subprocess
from tests.conftest import dataset


def config(**overrides) -> TrainingConfig:
    """The expert's config for a small table (plateau schedule), with overrides."""
    raw = {"model": {"hidden_sizes": [128, 64], "dropout": 0.1},
           "optimizer": {"learning_rate": 2e-3, "scheduler": "plateau"},
           "batch_size": 32, "max_epochs": 120, "early_stopping_patience": 30}
    for key, value in overrides.items():
        raw[key] = {**raw[key], **value} if isinstance(value, dict) and key in raw else value
    return TrainingConfig.model_validate(raw)


def fault_of(df, task, cfg, callbacks=(), limits=None, **kwargs) -> TrainingFault:
    data = prepare_data(df, task, cfg)
    with pytest.raises(TrainingFault) as info:
        fit(cfg, data, task, callbacks=[*callbacks, FaultMonitor(limits)],
            deadline=time.monotonic() + 30, **kwargs)
    return info.value


@pytest.fixture(scope="module")
def mpg():
    task = TaskSpec(target="mpg", task_type="regression", metric="r2", budget_s=60,
                    drop_columns=["name"])
    return load_table(dataset("mpg.csv")), task


@pytest.fixture(scope="module")
def tiny_noisy():
    """120 rows, 20 features, one of them weakly informative: easy to memorise."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(120, 20))
    df = pd.DataFrame(X, columns=[f"f{i}" for i in range(20)])
    df["y"] = (X[:, 0] + rng.normal(size=120) > 0).astype(int)
    return df, TaskSpec(target="y", task_type="binary", metric="accuracy", budget_s=60)


def test_a_healthy_run_raises_nothing(penguins_df, penguins_task):
    cfg = config()
    result = fit(cfg, prepare_data(penguins_df, penguins_task, cfg), penguins_task,
                 callbacks=[FaultMonitor()])
    assert result.stopped_reason == "early_stopping" and result.best_valid_score > 0.95
    assert all(0 < e.grad_norm <= e.grad_norm_max < 100 for e in result.history)


def test_nan_loss_points_at_the_last_good_checkpoint(penguins_df, penguins_task, tmp_path):
    fault = fault_of(penguins_df, penguins_task, config(), [PoisonWeights(at=3)],
                     checkpoint_path=tmp_path / "c.ckpt")
    assert (fault.kind, fault.epoch, fault.checkpoint) == ("nan_loss", 4, tmp_path / "c.ckpt")


def test_bad_values_in_a_column_are_a_bad_batch_naming_the_column(penguins_df, penguins_task):
    df = corrupt_column(penguins_df, "body_mass_g", rows=5)
    fault = fault_of(df, penguins_task, config())
    assert fault.kind == "bad_batch" and fault.epoch == 0 and fault.checkpoint is None
    assert fault.facts["columns"] == ["body_mass_g"] and fault.facts["rows"] > 5
    dropped = config(preprocessing={"drop_columns": ["body_mass_g"]})
    assert fit(dropped, prepare_data(df, penguins_task, dropped), penguins_task,
               max_steps=20).steps == 20


def test_a_memory_cap_below_one_step_is_out_of_memory_and_a_smaller_batch_fits(
        penguins_df, penguins_task):
    cfg = config(batch_size=128)
    data = prepare_data(penguins_df, penguins_task, cfg)
    model = build_model(cfg.model, data.n_features, data.n_outputs)
    full, half = (estimate_step_memory_mb(model, b, "adamw") for b in (128, 64))
    limits = FaultLimits(memory_limit_mb=(full + half) / 2)
    fault = fault_of(penguins_df, penguins_task, cfg, limits=limits)
    assert fault.kind == "out_of_memory" and fault.facts["batch_size"] == 128
    smaller = config(batch_size=64)
    fit(smaller, data, penguins_task, callbacks=[FaultMonitor(limits)], max_steps=5)


def test_a_failed_allocation_in_a_step_is_out_of_memory(penguins_df, penguins_task):
    fault = fault_of(penguins_df, penguins_task, config(), [AllocateTooMuch()])
    assert fault.kind == "out_of_memory" and fault.epoch == 1
    assert "allocate" in fault.detail and fault.facts["error"] == "RuntimeError"


def test_unscaled_large_inputs_are_exploding_gradients_until_clipped(penguins_df, penguins_task):
    df = penguins_df.assign(body_mass_g=penguins_df["body_mass_g"] * 1e4)  # grams -> 0.1 mg
    cfg = config(preprocessing={"scaling": "none"})
    fault = fault_of(df, penguins_task, cfg)
    assert fault.kind == "exploding_gradients" and fault.facts["grad_norm_max"] > 1e6
    assert "not scaled" in fault.detail
    clipped = config(preprocessing={"scaling": "none"}, optimizer={"grad_clip_norm": 1.0},
                     model={"batch_norm": True}, max_epochs=15)
    fit(clipped, prepare_data(df, penguins_task, clipped), penguins_task,
        callbacks=[FaultMonitor()])


def test_a_learning_rate_of_1e_9_is_no_learning(penguins_df, penguins_task):
    fault = fault_of(penguins_df, penguins_task, config(optimizer={"learning_rate": 1e-9}))
    assert fault.kind == "no_learning" and fault.epoch == FaultLimits().stalled_epochs
    assert fault.facts["moved"] < 0.01 and fault.facts["learning_rate"] == pytest.approx(1e-9)


def test_a_learning_rate_raised_100x_mid_run_is_divergence(penguins_df, penguins_task, tmp_path):
    path = tmp_path / "c.ckpt"
    fault = fault_of(penguins_df, penguins_task, config(), [RaiseLearningRate(at=5, factor=100)],
                     checkpoint_path=path)
    assert fault.kind == "divergence" and fault.facts["valid_loss"] > 2 * fault.facts["best_valid_loss"]
    assert fault.checkpoint == best_checkpoint_path(path) and fault.checkpoint.exists()


def test_a_high_rate_with_no_schedule_is_a_plateau(mpg):
    df, task = mpg
    fault = fault_of(df, task, config(optimizer={"learning_rate": 0.02, "scheduler": "none"}))
    assert fault.kind == "plateau" and fault.facts["epochs_without_improvement"] >= 15
    assert fault.facts["learning_rate"] == pytest.approx(0.02)


def test_a_huge_network_on_a_tiny_table_is_overfitting(tiny_noisy):
    df, task = tiny_noisy
    cfg = config(model={"hidden_sizes": [256, 256], "dropout": 0.0},
                 optimizer={"weight_decay": 0.0})
    fault = fault_of(df, task, cfg)
    assert fault.kind == "overfitting"
    assert fault.facts["valid_loss"] > 1.5 * fault.facts["best_valid_loss"]


def test_a_trial_past_its_time_slice_is_a_trial_timeout_that_keeps_its_score(
        penguins_df, penguins_task):
    # small networks (one thread, fast epochs); 1000 epochs never fit in 1.5 s
    cfg = config(max_epochs=1000, early_stopping_patience=1000,
                 search={"space": {"width": [16, 32], "batch_size": [32]}})
    data = prepare_data(penguins_df, penguins_task, cfg)
    fit(cfg, data, penguins_task, max_steps=1)  # the first optimiser in a process is slow
    result = tune(cfg, data, penguins_task, deadline=time.monotonic() + 10, trial_slice_s=1.5,
                  stop_on=["trial_timeout"])
    fault = result.fault
    assert fault is not None and fault.kind == "trial_timeout"
    assert [(t.state, t.fault) for t in result.trials] == [("complete", "trial_timeout")]
    assert result.best_fit is not None and result.best_score > 0.5
    assert 1 <= fault.facts["epochs_within_slice"] < fault.facts["epochs_run"] < 1000


def test_a_killed_worker_is_a_worker_crash_and_resumes_from_its_checkpoint(
        penguins_df, penguins_task, tmp_path):
    cfg = config(max_epochs=6)
    data = prepare_data(penguins_df, penguins_task, cfg)
    path, kill = tmp_path / "w.ckpt", KillWorker(at=2, marker=tmp_path / "killed")
    seen = []
    with pytest.raises(TrainingFault) as info:
        fit_in_subprocess(cfg, data, penguins_task, checkpoint_path=path, callbacks=[kill],
                          on_epoch=lambda e: seen.append(e.epoch))
    fault = info.value
    assert fault.kind == "worker_crash" and fault.checkpoint == path and seen == [1]
    assert "SIGKILL" in fault.detail
    result = fit_in_subprocess(cfg, data, penguins_task, checkpoint_path=path, callbacks=[kill],
                               resume=True)
    assert result.epochs_run == 6 and result.history[0].epoch == 1
    assert result.model(__import__("torch").from_numpy(data.X_valid)).shape[1] == 3


def test_faults_survive_pickling_between_processes():
    fault = TrainingFault("bad_batch", 0, 0, "detail", None, {"columns": ["a"]})
    copy = pickle.loads(pickle.dumps(fault))
    assert (copy.kind, copy.facts, str(copy)) == ("bad_batch", {"columns": ["a"]}, str(fault))


def test_a_fix_resumes_the_weights_only_while_the_network_keeps_its_shape():
    base = config()
    assert keeps_weights(base, config(optimizer={"learning_rate": 1e-4, "grad_clip_norm": 1.0},
                                      batch_size=16, early_stopping_patience=10))
    assert keeps_weights(base, config(model={"dropout": 0.3}))
    assert not keeps_weights(config(model={"dropout": 0.0}), config(model={"dropout": 0.3}))
    assert not keeps_weights(base, config(model={"batch_norm": True}))
    assert not keeps_weights(base, config(preprocessing={"drop_columns": ["sex"]}))
