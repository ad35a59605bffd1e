"""fit learns, stops when it should, detects divergence and resumes bit-for-bit from checkpoints."""

from __future__ import annotations

import time

import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn

from mlpilot.engine.config import (
    ModelConfig,
    OptimizerConfig,
    PreprocessingConfig,
    TaskSpec,
    TrainingConfig,
)
from mlpilot.engine.metrics import score
from mlpilot.engine.models import build_model
from mlpilot.engine.preprocess import prepare_data
from mlpilot.engine.training import Callback, TrainingFault, fit


class StopAt(Callback):
    """Asks fit to stop after epoch `n` and records what it was shown."""

    def __init__(self, n: int):
        self.n, self.seen, self.began, self.ended = n, [], 0, None

    def on_train_begin(self, run):
        self.began += 1

    def on_epoch_end(self, run, epoch):
        self.seen.append(epoch.epoch)
        run.should_stop = epoch.epoch >= self.n

    def on_train_end(self, run, result):
        self.ended = result


class Corrupt(Callback):
    """Multiplies every weight by `factor` after epoch `at` (NaN to poison them)."""

    def __init__(self, at: int, factor: float):
        self.at, self.factor = at, factor

    def on_epoch_end(self, run, epoch):
        if epoch.epoch == self.at:
            with torch.no_grad():
                for p in run.model.parameters():
                    p.mul_(self.factor)


@pytest.fixture
def penguins(penguins_df, penguins_task, fast_config):
    return prepare_data(penguins_df, penguins_task, fast_config), penguins_task, fast_config


def _test_accuracy(result, data, task) -> float:
    with torch.no_grad():
        ids = result.model(torch.from_numpy(data.X_test)).argmax(dim=1).numpy()
    pre = data.preprocessor
    return score("accuracy", task.task_type, pre.decode_target(data.y_test), pre.decode_target(ids))


def test_build_model_shapes():
    linear = build_model(ModelConfig(family="linear"), 7, 3)
    assert isinstance(linear, nn.Linear) and linear.weight.shape == (3, 7)
    mlp = build_model(ModelConfig(hidden_sizes=[16, 8], batch_norm=True, activation="gelu"), 7, 2)
    kinds = [type(m).__name__ for m in mlp]
    assert kinds == ["Linear", "BatchNorm1d", "GELU", "Dropout"] * 2 + ["Linear"]
    assert mlp(torch.zeros(4, 7)).shape == (4, 2)


def test_penguins_quick_fit_is_accurate(penguins):
    data, task, config = penguins
    started = time.monotonic()
    result = fit(config, data, task)
    assert time.monotonic() - started < 5.0
    assert _test_accuracy(result, data, task) > 0.9
    assert result.best_valid_score == max(h.valid_score for h in result.history)
    assert result.history[result.best_epoch - 1].valid_score == result.best_valid_score


def test_linear_regression_reaches_high_r2(linear_df, linear_task):
    config = TrainingConfig(model=ModelConfig(family="linear"), batch_size=64, max_epochs=60,
                            optimizer=OptimizerConfig(learning_rate=0.05, scheduler="cosine"))
    data = prepare_data(linear_df, linear_task, config)
    result = fit(config, data, linear_task)
    with torch.no_grad():
        out = result.model(torch.from_numpy(data.X_test)).squeeze(-1).numpy()
    pre = data.preprocessor
    assert score("r2", "regression", pre.decode_target(data.y_test), pre.decode_target(out)) > 0.9
    assert result.stopped_reason in ("max_epochs", "early_stopping")


def test_early_stopping_restores_the_best_weights(penguins):
    data, task, config = penguins
    config = config.model_copy(update={"early_stopping_patience": 2, "max_epochs": 500})
    result = fit(config, data, task)
    assert result.stopped_reason == "early_stopping"
    assert result.epochs_run == result.best_epoch + 2 < 500
    with torch.no_grad():
        ids = result.model(torch.from_numpy(data.X_valid)).argmax(dim=1).numpy()
    pre = data.preprocessor
    valid = score("accuracy", task.task_type, pre.decode_target(data.y_valid),
                  pre.decode_target(ids))
    assert valid == result.best_valid_score


def test_max_steps_counts_optimizer_steps(penguins):
    data, task, config = penguins
    result = fit(config, data, task, max_steps=5)
    assert result.steps == 5 and result.stopped_reason == "max_steps"
    assert result.epochs_run == 1 and np.isfinite(result.history[0].train_loss)


def test_deadline_is_respected(penguins):
    data, task, config = penguins
    config = config.model_copy(update={"max_epochs": 100_000, "early_stopping_patience": 100_000,
                                       "batch_size": 8})
    started = time.monotonic()
    result = fit(config, data, task, deadline=started + 0.5)
    assert result.stopped_reason == "deadline"
    assert time.monotonic() - started < 1.5  # one batch and one validation pass late at most
    past = fit(config, data, task, deadline=time.monotonic() - 1)
    assert past.stopped_reason == "deadline" and past.epochs_run == 0 and past.steps == 0


def test_callbacks_stop_and_see_every_epoch(penguins):
    data, task, config = penguins
    stopper = StopAt(3)
    result = fit(config, data, task, callbacks=[stopper])
    assert result.stopped_reason == "callback" and result.epochs_run == 3
    assert stopper.seen == [1, 2, 3] and stopper.began == 1 and stopper.ended is result


def test_callback_exceptions_propagate(penguins):
    data, task, config = penguins

    class Prune(Callback):
        def on_epoch_end(self, run, epoch):
            raise KeyboardInterrupt("pruned")

    with pytest.raises(KeyboardInterrupt, match="pruned"):
        fit(config, data, task, callbacks=[Prune()])


def test_nan_weights_raise_a_fault_pointing_at_the_last_good_checkpoint(penguins, tmp_path):
    data, task, config = penguins
    path = tmp_path / "ckpt.pt"
    with pytest.raises(TrainingFault) as info:
        fit(config, data, task, callbacks=[Corrupt(at=2, factor=float("nan"))],
            checkpoint_path=path)
    fault = info.value
    assert fault.kind == "nan_loss" and fault.epoch == 3 and fault.checkpoint == path
    assert torch.load(path, weights_only=False)["extra"]["epoch"] == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ckpt.best.pt", "ckpt.pt"]  # no temp file


def test_exploding_loss_is_a_fault(linear_df, linear_task):
    config = TrainingConfig(model=ModelConfig(family="linear"), max_epochs=10,
                            optimizer=OptimizerConfig(scheduler="none"))
    data = prepare_data(linear_df, linear_task, config)
    with pytest.raises(TrainingFault) as info:
        fit(config, data, linear_task, callbacks=[Corrupt(at=1, factor=1e4)])
    assert info.value.kind == "exploding_loss" and info.value.epoch == 2
    assert info.value.checkpoint is None  # no checkpoint path was given


def test_huge_learning_rate_on_unscaled_data_faults():
    rng = np.random.default_rng(0)
    df = pd.DataFrame({"a": rng.normal(size=200) * 1000, "b": rng.normal(size=200)})
    df["y"] = df["a"] * 1000 + 5
    task = TaskSpec(target="y", task_type="regression", metric="r2", budget_s=60)
    config = TrainingConfig(
        preprocessing=PreprocessingConfig(scaling="none", standardize_target=False),
        model=ModelConfig(family="linear"), max_epochs=5,
        optimizer=OptimizerConfig(name="sgd", learning_rate=10.0, scheduler="none"))
    with pytest.raises(TrainingFault) as info:
        fit(config, prepare_data(df, task, config), task)
    assert info.value.kind == "nan_loss" and "lower the learning rate" in str(info.value)


def test_same_seed_same_weights(penguins):
    data, task, config = penguins
    config = config.model_copy(update={"max_epochs": 3})
    first, second = fit(config, data, task), fit(config, data, task)
    for a, b in zip(first.model.parameters(), second.model.parameters(), strict=True):
        assert torch.equal(a, b)


@pytest.mark.parametrize("scheduler", ["plateau", "cosine"])
def test_resume_continues_bit_for_bit(penguins, tmp_path, scheduler):
    data, task, config = penguins
    config = config.model_copy(update={
        "max_epochs": 6, "early_stopping_patience": 100, "class_weighting": True,
        "model": ModelConfig(hidden_sizes=[32, 16], dropout=0.3, batch_norm=True),
        "optimizer": OptimizerConfig(learning_rate=5e-3, scheduler=scheduler, grad_clip_norm=1.0),
    })
    straight = fit(config, data, task)

    path = tmp_path / "run.ckpt"
    first = fit(config, data, task, checkpoint_path=path, callbacks=[StopAt(3)])
    assert first.epochs_run == 3
    torch.manual_seed(1234)  # whatever happened in between must not matter
    resumed = fit(config, data, task, checkpoint_path=path, resume=True)

    assert resumed.epochs_run == 6 and resumed.stopped_reason == "max_epochs"
    assert [h.train_loss for h in resumed.history] == [h.train_loss for h in straight.history]
    assert resumed.best_epoch == straight.best_epoch
    straight_state, resumed_state = straight.model.state_dict(), resumed.model.state_dict()
    assert all(torch.equal(straight_state[k], resumed_state[k]) for k in straight_state)


def test_resume_without_a_checkpoint_starts_fresh(penguins, tmp_path):
    data, task, config = penguins
    config = config.model_copy(update={"max_epochs": 2})
    result = fit(config, data, task, checkpoint_path=tmp_path / "none.ckpt", resume=True)
    assert result.epochs_run == 2 and (tmp_path / "none.ckpt").exists()


@pytest.mark.parametrize("name", ["adamw", "sgd"])
def test_resume_with_fixed_optimizer_settings_uses_them(penguins, tmp_path, name):
    """The fault doctor resumes with a lower rate: the resumed epochs must train with it."""
    data, task, config = penguins
    config = config.model_copy(update={"max_epochs": 5, "early_stopping_patience": 100})
    path = tmp_path / "run.ckpt"
    fit(config, data, task, checkpoint_path=path, callbacks=[StopAt(2)])

    fixed = config.model_copy(update={"optimizer": OptimizerConfig(
        name=name, learning_rate=1e-4, weight_decay=0.0, grad_clip_norm=1.0, scheduler="none")})
    resumed = fit(fixed, data, task, checkpoint_path=path, resume=True)
    assert [h.epoch for h in resumed.history] == [1, 2, 3, 4, 5]
    assert [h.learning_rate for h in resumed.history[2:]] == [1e-4] * 3
