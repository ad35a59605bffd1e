"""The training loop: mini-batch training with early stopping, checkpoints and fault detection.

`fit` trains the network a `TrainingConfig` describes on `PreparedData`, keeps the weights
with the best validation score and returns them in a `FitResult`. It stops early, at a
deadline, after `max_steps` optimiser steps (dry runs) or when a callback asks. With a
checkpoint path it writes a checkpoint after every epoch, and `resume=True` continues from
one bit-for-bit as if the run had never stopped; it also keeps a copy of the best epoch's
checkpoint, the one a fault fix resumes from. The checks of `faults.py` raise
`TrainingFault` (non-finite inputs or loss, an exploding loss, out of memory); it measures
the global gradient norm (every step when clipping, which computes it anyway, else every
`GRAD_NORM_EVERY` steps) for `monitor.FaultMonitor`.

Devices: `select_device` picks CUDA when there is one. On CUDA a fit trains in bf16 mixed
precision when its steps are big enough to gain from it (`config.precision` "auto"), and
keeps its rows on the GPU, or in pinned host memory when they are large (`batches.py`);
validation is always scored in fp32. On the
CPU a small network trains on one thread (`SINGLE_THREAD_WORK`).
"""

from __future__ import annotations

import math
import random
import time
from contextlib import contextmanager, nullcontext
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
import torch
from torch import nn

from . import metrics
from .batches import Placement, autocast_dtype, make_batches
from .checkpoint import best_checkpoint_path, copy_checkpoint, load_checkpoint, save_checkpoint
from .config import TaskSpec, TrainingConfig
from .faults import (
    EXPLODING_FACTOR,
    TrainingFault,
    check_inputs,
    check_loss,
    is_out_of_memory,
    out_of_memory_fault,
)
from .models import build_model, count_parameters
from .optim import make_loss, make_optimizer, make_scheduler, step_scheduler
from .preprocess import PreparedData
from .validation import ValidationScorer

__all__ = ["EXPLODING_FACTOR", "Callback", "EpochResult", "FitResult", "TrainingFault",
           "TrainingRun", "fit", "seed_everything", "select_device"]

StopReason = Literal["early_stopping", "max_epochs", "deadline", "max_steps", "callback"]
#: Without clipping, the global gradient norm is measured on every this many steps.
GRAD_NORM_EVERY = 8
#: Below this many multiply-adds per batch (batch size x parameters) a CPU fit uses one
#: thread: for small tabular nets, thread hand-offs cost more than they save, and on a
#: busy machine spinning OpenMP workers can make a fit ten times slower.
SINGLE_THREAD_WORK = 2**22


@dataclass
class EpochResult:
    """What one epoch produced; `valid_score` is `task.metric` on the validation rows.

    `grad_norm` and `grad_norm_max` are the mean and largest global gradient norm (before
    clipping) of the steps measured this epoch; NaN when none was.
    """

    epoch: int
    train_loss: float
    valid_loss: float
    valid_score: float
    learning_rate: float
    elapsed_s: float
    grad_norm: float = math.nan
    grad_norm_max: float = math.nan


@dataclass
class FitResult:
    """A finished training run: the model with its best weights and how it got there.

    `best_valid_score` is NaN and `best_epoch` 0 when no epoch ran (deadline already past).
    """

    model: nn.Module
    history: list[EpochResult]
    best_epoch: int
    best_valid_score: float
    epochs_run: int
    stopped_reason: StopReason
    seconds: float
    steps: int = 0


@dataclass
class TrainingRun:
    """What callbacks see of a running fit; set `should_stop = True` to end it after this epoch.

    `best_checkpoint` is the checkpoint of the best epoch so far (None until one is written).
    """

    config: TrainingConfig
    task: TaskSpec
    model: nn.Module
    history: list[EpochResult]
    optimizer: torch.optim.Optimizer | None = None
    epoch: int = 0
    steps: int = 0
    should_stop: bool = False
    best_checkpoint: Path | None = None


class Callback:
    """Hooks into `fit`; override what you need. Exceptions raised here propagate out of `fit`."""

    def on_train_begin(self, run: TrainingRun) -> None:
        """Called once before the first epoch (also when resuming)."""

    def on_epoch_end(self, run: TrainingRun, epoch: EpochResult) -> None:
        """Called after each complete epoch, once its checkpoint is written."""

    def on_train_end(self, run: TrainingRun, result: FitResult) -> None:
        """Called once with the result, after the best weights are restored."""


def seed_everything(seed: int) -> None:
    """Seed Python's, NumPy's and PyTorch's global random generators."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def select_device(preference: str | torch.device = "auto") -> torch.device:
    """The device to train on: "auto" picks CUDA when available, else the CPU."""
    if isinstance(preference, torch.device):
        return preference
    if preference == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if preference.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError(
            f"device '{preference}' was requested but CUDA is not available: use 'cpu'"
        )
    return torch.device(preference)


@dataclass
class _State:
    """Everything besides model/optimizer/scheduler that a checkpoint must restore."""

    epoch: int = 0
    steps: int = 0
    bad_epochs: int = 0
    best_epoch: int = 0
    best_score: float = math.nan
    best_state: dict | None = None
    history: list[EpochResult] = field(default_factory=list)
    has_checkpoint: bool = False


def fit(config: TrainingConfig, data: PreparedData, task: TaskSpec, *,
        deadline: float | None = None, callbacks=(), checkpoint_path: Path | None = None,
        resume: bool = False, resume_from: Path | None = None, max_steps: int | None = None,
        device=None, placement: Placement = "auto") -> FitResult:
    """Train the network `config` describes on `data` and return it with its best weights.

    Args:
        deadline: a `time.monotonic()` value; training stops there (checked every batch).
        callbacks: `Callback` objects, called in order.
        checkpoint_path: where to write a checkpoint after every complete epoch (and a
            copy of the best epoch's, see `checkpoint.best_checkpoint_path`).
        resume: continue from `checkpoint_path` if it exists (else start fresh).
        resume_from: continue from this checkpoint instead (e.g. a fault's last good one).
        max_steps: stop after this many optimiser steps (dry runs).
        device: a torch device or name; default `select_device()`.
        placement: where the training rows live on CUDA: "device", "pinned" host memory,
            or "auto" (see `batches.resolve_placement`).

    Raises `TrainingFault` on non-finite inputs, a NaN/inf loss, one above 1e4 x the first
    epoch's loss, or a step that runs out of memory (see `faults.py`), and whatever a
    callback raises (`monitor.FaultMonitor` raises more kinds).
    """
    started = time.monotonic()
    if len(data.y_train) == 0 or len(data.y_valid) == 0:
        raise ValueError("fit needs training and validation rows: data.y_train or y_valid is empty")
    device = select_device("auto" if device is None else device)
    seed_everything(config.seed)
    try:
        trainer = _Trainer(config, data, task, device, placement,
                           Path(checkpoint_path) if checkpoint_path is not None else None)
    except Exception as err:
        if not is_out_of_memory(err):
            raise
        raise out_of_memory_fault(err, epoch=0, step=0, batch_size=config.batch_size,
                                  checkpoint=None) from err
    source = Path(resume_from) if resume_from is not None else (
        trainer.checkpoint_path if resume else None)
    if source is not None and source.exists():
        trainer.load_checkpoint(source)
    small = config.batch_size * count_parameters(trainer.model) < SINGLE_THREAD_WORK
    with _cpu_threads(1 if device.type == "cpu" and small else None):
        reason = trainer.train(callbacks, deadline, max_steps)
    return trainer.finish(callbacks, reason, time.monotonic() - started)


@contextmanager
def _cpu_threads(n: int | None):
    """Run the block with `n` intra-op CPU threads (None: leave as is), then restore."""
    before = torch.get_num_threads()
    if n is not None and n != before:
        torch.set_num_threads(n)
    try:
        yield
    finally:
        if torch.get_num_threads() != before:
            torch.set_num_threads(before)


class _Trainer:
    """One fit: the model, its optimiser and schedule, the data as tensors, and the counters."""

    def __init__(self, config: TrainingConfig, data: PreparedData, task: TaskSpec,
                 device: torch.device, placement: Placement, checkpoint_path: Path | None):
        self.config, self.task, self.checkpoint_path = config, task, checkpoint_path
        self.model = build_model(
            config.model, data.n_features, data.n_outputs,
            categorical_cardinalities=data.preprocessor.categorical_cardinalities).to(device)
        self.optimizer = make_optimizer(config, self.model)
        self.scheduler = make_scheduler(config, self.optimizer)
        self.order = torch.Generator().manual_seed(config.seed)  # epoch permutations, on the CPU
        self.state = _State()
        self.rows = make_batches(_inputs(data.X_train), _targets(data.y_train, task), device,
                                 placement)
        self.X_valid = torch.as_tensor(_inputs(data.X_valid), device=device)
        self.y_valid = torch.as_tensor(_targets(data.y_valid, task), device=device)
        self.autocast = autocast_dtype(config.precision, device,
                                       config.batch_size * count_parameters(self.model))
        self.loss_fn = make_loss(config, task, data.y_train, data.n_outputs, device)
        self.scorer = ValidationScorer(data, task)
        self.run = TrainingRun(config=config, task=task, model=self.model, history=[],
                               optimizer=self.optimizer)
        check_inputs(self.rows.X, data.preprocessor, "training")
        check_inputs(self.X_valid, data.preprocessor, "validation")

    def train(self, callbacks, deadline: float | None, max_steps: int | None) -> StopReason:
        """Run epochs until a stop condition; return why training stopped."""
        state, run = self.state, self.run
        run.history, run.epoch = state.history, state.epoch
        for callback in callbacks:
            callback.on_train_begin(run)
        reason = self._stop_reason()
        while reason is None and state.epoch < self.config.max_epochs:
            epoch, epoch_started = state.epoch + 1, time.monotonic()
            learning_rate = self.optimizer.param_groups[0]["lr"]
            try:
                train_loss, norms, n_steps, interrupted = self._train_epoch(deadline, max_steps)
                if n_steps == 0:
                    return interrupted
                valid_loss, valid_score = self.scorer(self.model, self.X_valid, self.y_valid,
                                                      self.loss_fn)
            except Exception as err:
                if not is_out_of_memory(err):
                    raise
                raise out_of_memory_fault(err, epoch=epoch, step=state.steps,
                                          batch_size=self.config.batch_size,
                                          checkpoint=self._last_checkpoint()) from err
            check_loss(train_loss, valid_loss,
                       state.history[0].train_loss if state.history else None,
                       epoch=epoch, step=state.steps, checkpoint=self._last_checkpoint())
            result = EpochResult(epoch, train_loss, valid_loss, valid_score, learning_rate,
                                 time.monotonic() - epoch_started, *norms)
            self._record(result)
            if interrupted:  # a partial epoch is scored but neither scheduled nor checkpointed
                return interrupted
            step_scheduler(self.scheduler, valid_loss)
            if self.checkpoint_path is not None:
                self.save_checkpoint()
            for callback in callbacks:
                callback.on_epoch_end(run, result)
            reason = self._stop_reason()
        return reason or "max_epochs"

    def finish(self, callbacks, reason: StopReason, seconds: float) -> FitResult:
        """Restore the best weights, build the result and tell the callbacks."""
        state = self.state
        if state.best_state is not None:
            self.model.load_state_dict(state.best_state)
        self.model.eval()
        result = FitResult(
            model=self.model, history=state.history, best_epoch=state.best_epoch,
            best_valid_score=state.best_score, epochs_run=len(state.history),
            stopped_reason=reason, seconds=seconds, steps=state.steps,
        )
        for callback in callbacks:
            callback.on_train_end(self.run, result)
        return result

    def _last_checkpoint(self) -> Path | None:
        return self.checkpoint_path if self.state.has_checkpoint else None

    def _record(self, result: EpochResult) -> None:
        state = self.state
        state.history.append(result)
        state.epoch = self.run.epoch = result.epoch
        self.run.steps = state.steps
        if state.best_state is None or metrics.is_better(
                self.task.metric, result.valid_score, state.best_score):
            state.best_epoch, state.best_score = result.epoch, result.valid_score
            state.bad_epochs = 0
            state.best_state = {k: v.detach().clone() for k, v in self.model.state_dict().items()}
        else:
            state.bad_epochs += 1

    def _stop_reason(self) -> StopReason | None:
        if self.run.should_stop:
            return "callback"
        if self.state.bad_epochs >= self.config.early_stopping_patience:
            return "early_stopping"
        return None

    def _train_epoch(self, deadline: float | None, max_steps: int | None):
        """One pass over shuffled training rows: (mean loss, (mean, max) gradient norm,
        steps taken, interruption or None)."""
        model, optimizer, loss_fn = self.model, self.optimizer, self.loss_fn
        rows, config, state = self.rows, self.config, self.state
        model.train()
        order = rows.indices(torch.randperm(len(rows), generator=self.order))
        batches = list(order.split(config.batch_size))
        if len(batches) > 1 and len(batches[-1]) < 2:  # BatchNorm cannot train on one row
            batches[-2:] = [torch.cat(batches[-2:])]
        clip = config.optimizer.grad_clip_norm
        params = [p for p in model.parameters() if p.requires_grad]
        device = self.X_valid.device
        # entering a disabled autocast costs as much as a small layer: skip it in fp32
        mixed_precision = (nullcontext() if self.autocast is None
                           else torch.autocast(device.type, dtype=self.autocast))
        total = torch.zeros((), device=device)  # summed on the device: no sync per batch
        norms: list[torch.Tensor] = []  # on the device too, read once per epoch
        seen, steps, interrupted = 0, 0, None
        for index in batches:
            if deadline is not None and time.monotonic() >= deadline:
                interrupted = "deadline"
                break
            if max_steps is not None and state.steps >= max_steps:
                interrupted = "max_steps"
                break
            optimizer.zero_grad(set_to_none=True)
            X, y = rows.batch(index)
            with mixed_precision:
                loss = loss_fn(model(X), y)
            loss.backward()
            if clip is not None:
                norms.append(nn.utils.clip_grad_norm_(params, clip))
            elif steps % GRAD_NORM_EVERY == 0:
                norms.append(nn.utils.get_total_norm([p.grad for p in params if p.grad is not None]))
            optimizer.step()
            total.add_(loss.detach(), alpha=len(index))
            seen += len(index)
            steps += 1
            state.steps += 1
        train_loss = (total / seen).item() if seen else math.nan
        grad_norms = (math.nan, math.nan)
        if norms:
            stacked = torch.stack(norms).float()
            grad_norms = tuple(torch.stack([stacked.mean(), stacked.max()]).tolist())
        return train_loss, grad_norms, steps, interrupted

    def save_checkpoint(self) -> None:
        """Write this fit's checkpoint (see `checkpoint.py`)."""
        state = self.state
        extra = {k: v for k, v in vars(state).items() if k not in ("history", "has_checkpoint")}
        extra["history"] = [asdict(h) for h in state.history]
        extra["optimizer_config"] = self.config.optimizer.model_dump(mode="json")
        save_checkpoint(self.checkpoint_path, model=self.model, optimizer=self.optimizer,
                        scheduler=self.scheduler, order=self.order, extra=extra)
        state.has_checkpoint = True
        best = best_checkpoint_path(self.checkpoint_path)
        if state.best_epoch == state.epoch:
            copy_checkpoint(self.checkpoint_path, best)
        if best.exists():
            self.run.best_checkpoint = best

    def load_checkpoint(self, path: Path) -> None:
        """Continue from checkpoint `path`, random generators included."""
        extra = load_checkpoint(path, model=self.model, optimizer=self.optimizer,
                                scheduler=self.scheduler, order=self.order)
        history = [EpochResult(**h) for h in extra.pop("history")]
        saved_optimizer = extra.pop("optimizer_config", None)
        self.state = _State(**extra, history=history, has_checkpoint=True)
        self.run.steps = self.state.steps
        if saved_optimizer not in (None, self.config.optimizer.model_dump(mode="json")):
            self._take_new_optimizer_settings()
        if self.state.best_state is not None:
            device = next(self.model.parameters()).device
            self.state.best_state = {k: v.to(device) for k, v in self.state.best_state.items()}

    def _take_new_optimizer_settings(self) -> None:
        """The config's optimiser settings changed since the checkpoint (a fault fix): keep
        the weights and the optimiser's moments, but take the new rate, decay and schedule."""
        opt = self.config.optimizer
        for group in self.optimizer.param_groups:
            group["lr"] = group["initial_lr"] = opt.learning_rate
            group["weight_decay"] = opt.weight_decay
        self.scheduler = make_scheduler(self.config, self.optimizer)


def _inputs(array: np.ndarray) -> np.ndarray:
    return np.require(array, np.float32, ["C", "W"])


def _targets(array: np.ndarray, task: TaskSpec) -> np.ndarray:
    return np.require(array, np.int64 if task.is_classification else np.float32, ["C", "W"])
