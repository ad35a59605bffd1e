"""Real fault injection, for tests and `benchmarks/faults.py`: each helper makes training
really fail the way it does in the wild, so that what detects and repairs the fault is
exercised end to end (nothing here fakes an outcome).

Callbacks fire a limited number of times in all (a fixed run must not be sabotaged
again); `KillWorker` remembers that it fired in a marker file, because each worker process
gets a fresh copy of it.
"""

from __future__ import annotations

import math
import os
import signal
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from .training import Callback, EpochResult, TrainingRun


class RaiseLearningRate(Callback):
    """Multiplies the optimiser's learning rate by `factor` after epoch `at` (once): a rate
    that really explodes mid-run, as a bad schedule or a wrong warm-up would make it."""

    def __init__(self, at: int, factor: float, times: int = 1):
        self.at, self.factor, self.left = at, factor, times

    def on_epoch_end(self, run: TrainingRun, epoch: EpochResult) -> None:
        """Raise the rate once epoch `at` is done."""
        if self.left and epoch.epoch >= self.at and run.optimizer is not None:
            self.left -= 1
            for group in run.optimizer.param_groups:
                group["lr"] *= self.factor


class PoisonWeights(Callback):
    """Sets every weight to NaN after epoch `at`, `times` times in all (a NaN loss follows)."""

    def __init__(self, at: int, times: int = 1):
        self.at, self.left = at, times

    def on_epoch_end(self, run: TrainingRun, epoch: EpochResult) -> None:
        """Poison the weights once epoch `at` is done."""
        if self.left and epoch.epoch >= self.at:
            self.left -= 1
            with torch.no_grad():
                for p in run.model.parameters():
                    p.fill_(math.nan)


class AllocateTooMuch(Callback):
    """Makes the model's next forward pass allocate 4 EiB, which no machine grants: a real
    failed allocation (PyTorch's "can't allocate memory") inside a training step."""

    def __init__(self, times: int = 1):
        self.left = times

    def on_train_begin(self, run: TrainingRun) -> None:
        """Hook the model's forward pass (once per remaining shot)."""
        if not self.left:
            return
        self.left -= 1

        def allocate(module, inputs):
            handle.remove()
            torch.empty(2**60)  # raises before anything is touched

        handle = run.model.register_forward_pre_hook(allocate)


class KillWorker(Callback):
    """Kills its own (worker) process with SIGKILL after epoch `at`, once per `marker` file."""

    def __init__(self, at: int, marker: Path | str):
        self.at, self.marker = at, str(marker)

    def on_epoch_end(self, run: TrainingRun, epoch: EpochResult) -> None:
        """Die once epoch `at` is done, unless the marker says this already happened."""
        if epoch.epoch >= self.at and not os.path.exists(self.marker):
            Path(self.marker).touch()
            os.kill(os.getpid(), signal.SIGKILL)


def corrupt_column(df: pd.DataFrame, column: str, rows: int = 5, value: float = 1e300,
                   avoid: pd.Index | None = None, seed: int = 0) -> pd.DataFrame:
    """A copy of `df` where `rows` rows of numeric `column` hold `value` (a sensor glitch or
    a unit mix-up: finite in float64, but too large for the scaler or for float32).

    Args:
        avoid: row labels to leave intact (e.g. the rows a dry run samples).
    """
    out = df.copy()
    candidates = out.index if avoid is None else out.index.difference(avoid)
    chosen = np.random.default_rng(seed).choice(np.asarray(candidates), size=rows, replace=False)
    out[column] = out[column].astype(np.float64)
    out.loc[chosen, column] = value
    return out


def sales_frame(n: int = 1200, seed: int = 0) -> pd.DataFrame:
    """A binary task whose `price` column matters (a target for `corrupt_column`)."""
    rng = np.random.default_rng(seed)
    df = pd.DataFrame(rng.normal(size=(n, 3)), columns=["a", "b", "c"])
    df["price"] = rng.lognormal(3, 1, n)
    noise = rng.normal(scale=0.5, size=n)
    df["y"] = (df.a + df.b + np.log(df.price) / 3 + noise > 1).astype(int)
    return df


def memorisable_frame(seed: int = 0) -> pd.DataFrame:
    """120 rows, 20 features, one weakly informative: a big network memorises it (overfits)."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(120, 20))
    df = pd.DataFrame(X, columns=[f"f{i}" for i in range(20)])
    df["y"] = (X[:, 0] + rng.normal(size=120) > 0).astype(int)
    return df


def memory_cap_between_batches(high: int = 128, low: int = 64) -> float:
    """A memory limit (MiB) between what one step of the penguin MLP ([128, 64], 10 inputs,
    3 classes) needs at batch `high` and at batch `low`: halving the batch fits it."""
    from .config import ModelConfig
    from .faults import estimate_step_memory_mb
    from .models import build_model

    model = build_model(ModelConfig(hidden_sizes=[128, 64]), 10, 3)
    return sum(estimate_step_memory_mb(model, b, "adamw") for b in (high, low)) / 2
