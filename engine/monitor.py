"""`FaultMonitor`: a callback that watches a fit's epochs for faults that need judgement.

`fit` itself raises the faults that make training impossible (`faults.py`). The monitor
raises the ones where training still runs but goes nowhere, each as a `TrainingFault`
whose checkpoint is the best epoch's (what a fix should resume from):

| kind | when (defaults in `FaultLimits`) |
| --- | --- |
| `out_of_memory` | before training: a step's estimated memory is over `memory_limit_mb` |
| `exploding_gradients` | the global gradient norm passed `max_grad_norm` with no clipping below it |
| `no_learning` | after `stalled_epochs`, the training loss has not moved 1% from its start, or the gradients vanished (norm below `vanishing_grad_norm`) |
| `divergence` | for `divergence_epochs`, the validation loss averaged over `divergence_factor` x its best and the training loss over that factor x its lowest |
| `overfitting` | for `overfitting_epochs`, the validation loss stayed `overfitting_margin` above its best while the training loss kept falling |
| `plateau` | no better validation loss for `plateau_epochs` (half the early-stopping patience) while the learning rate is still where it started (no schedule lowered it) |

The checks read only the run's history, so a resumed fit is judged like a fresh one.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Collection
from dataclasses import dataclass
from typing import Any

from .config import TrainingConfig
from .faults import TrainingFault, estimate_step_memory_mb
from .training import Callback, EpochResult, TrainingRun

Finding = tuple[str, dict[str, Any]] | None
#: A validation loss must rise at least this much to count (cross-entropy at chance is
#: ~0.7-1.1, MSE on a standardised target ~1): a loss near 0 that doubles is noise.
LOSS_FLOOR = 0.05


@dataclass(frozen=True)
class FaultLimits:
    """Thresholds of `FaultMonitor`; the defaults stay quiet on healthy runs."""

    max_grad_norm: float = 1e4
    stalled_epochs: int = 5
    stalled_change: float = 0.01
    vanishing_grad_norm: float = 1e-6
    divergence_epochs: int = 3
    divergence_factor: float = 2.0
    overfitting_epochs: int = 5
    overfitting_margin: float = 0.5
    plateau_epochs: int | None = None
    memory_limit_mb: float | None = None


class FaultMonitor(Callback):
    """Raises a `TrainingFault` when a fit's epochs show one of the faults above.

    Args:
        limits: the thresholds; default `FaultLimits()`.
        kinds: the fault kinds to watch for; default all of them.
    """

    def __init__(self, limits: FaultLimits | None = None, kinds: Collection[str] | None = None):
        self.limits = limits or FaultLimits()
        self.kinds = set(kinds) if kinds is not None else set(CHECKS) | {"out_of_memory"}

    def on_train_begin(self, run: TrainingRun) -> None:
        """Refuse to start when one step would not fit in `limits.memory_limit_mb`."""
        limit = self.limits.memory_limit_mb
        if limit is None or "out_of_memory" not in self.kinds:
            return
        config = run.config
        needed = estimate_step_memory_mb(run.model, config.batch_size, config.optimizer.name)
        if needed > limit:
            raise TrainingFault(
                "out_of_memory", run.epoch, run.steps,
                f"a training step needs about {needed:.1f} MiB (batch of {config.batch_size} "
                f"rows) but training may use {limit:g} MiB: make the batch smaller",
                run.best_checkpoint,
                {"estimated_mb": round(needed, 2), "limit_mb": limit,
                 "batch_size": config.batch_size})

    def on_epoch_end(self, run: TrainingRun, epoch: EpochResult) -> None:
        """Run each check on the history so far; raise the first fault found."""
        for kind, check in CHECKS.items():
            if kind not in self.kinds:
                continue
            found = check(run.history, run.config, self.limits)
            if found is not None:
                detail, facts = found
                raise TrainingFault(kind, epoch.epoch, run.steps, detail, run.best_checkpoint,
                                    facts)


def _best(history: list[EpochResult]) -> int:
    """Index of the epoch with the lowest validation loss."""
    return min(range(len(history)), key=lambda i: history[i].valid_loss)


def exploding_gradients(history: list[EpochResult], config: TrainingConfig,
                        limits: FaultLimits) -> Finding:
    """The gradient norm passed the limit, and no clipping bounds the steps below it."""
    last, clip = history[-1], config.optimizer.grad_clip_norm
    if clip is not None and clip <= limits.max_grad_norm:
        return None
    if not (math.isfinite(last.grad_norm_max) and last.grad_norm_max > limits.max_grad_norm):
        return None
    unscaled = config.preprocessing.scaling == "none"
    detail = (f"the global gradient norm reached {last.grad_norm_max:.3g} (mean {last.grad_norm:.3g})"
              f" in epoch {last.epoch}, over {limits.max_grad_norm:g}: steps that large wreck the "
              "weights; clip the gradient norm or normalise the layers"
              + ("; the inputs are not scaled (preprocessing scaling none)" if unscaled else ""))
    return detail, {"grad_norm_max": last.grad_norm_max, "grad_norm": last.grad_norm,
                    "scaling": config.preprocessing.scaling}


def no_learning(history: list[EpochResult], config: TrainingConfig,
                limits: FaultLimits) -> Finding:
    """The training loss has not moved from its start, or the gradients vanished."""
    window = limits.stalled_epochs
    if len(history) < window:
        return None
    first = history[0].train_loss
    moved = (first - min(e.train_loss for e in history)) / max(abs(first), 1e-12)
    norms = [e.grad_norm for e in history[-window:] if math.isfinite(e.grad_norm)]
    vanished = bool(norms) and max(norms) < limits.vanishing_grad_norm
    if moved >= limits.stalled_change and not (vanished and moved < 10 * limits.stalled_change):
        return None
    last = history[-1]
    why = (f"the gradients vanished (norm {max(norms):.2g})" if vanished else
           f"the learning rate is {last.learning_rate:.2g} and the gradient norm {last.grad_norm:.2g}")
    detail = (f"no learning: after {len(history)} epochs the training loss moved {moved:.2%} from "
              f"its start ({first:.4g} -> {last.train_loss:.4g}); {why}")
    return detail, {"moved": moved, "learning_rate": last.learning_rate, "grad_norm": last.grad_norm,
                    "vanished": vanished}


def divergence(history: list[EpochResult], config: TrainingConfig,
               limits: FaultLimits) -> Finding:
    """For the last epochs, the validation loss stayed far above its best, and the training
    loss far above its lowest: the steps are too large (unlike overfitting, where the
    training loss keeps falling). Means over the window, because a run that diverges
    jumps about rather than rising smoothly."""
    span = limits.divergence_epochs
    best = _best(history)
    if len(history) - 1 - best < span:
        return None
    recent = history[-span:]
    valid = sum(e.valid_loss for e in recent) / span
    train = sum(e.train_loss for e in recent) / span
    valid_best = history[best].valid_loss
    train_low = min(e.train_loss for e in history)
    factor = limits.divergence_factor
    if valid <= max(factor * valid_best, valid_best + LOSS_FLOOR) or \
            train <= max(factor * train_low, train_low + LOSS_FLOOR):
        return None
    last = history[-1]
    detail = (f"divergence: over the last {span} epochs the validation loss averaged {valid:.4g}, "
              f"{valid / max(valid_best, 1e-12):.1f}x its best {valid_best:.4g} at epoch "
              f"{history[best].epoch}, and the training loss {train:.4g}, "
              f"{train / max(train_low, 1e-12):.1f}x its lowest; learning rate "
              f"{last.learning_rate:.2g}")
    return detail, {"valid_loss": valid, "best_valid_loss": valid_best, "train_loss": train,
                    "lowest_train_loss": train_low, "best_epoch": history[best].epoch,
                    "learning_rate": last.learning_rate}


def overfitting(history: list[EpochResult], config: TrainingConfig,
                limits: FaultLimits) -> Finding:
    """The validation loss stays well above its best while the training loss keeps falling."""
    span = limits.overfitting_epochs
    best = _best(history)
    if len(history) - 1 - best < span:
        return None
    valid_best, train_best = history[best].valid_loss, history[best].train_loss
    # a margin relative to the best, and to how far the loss came down: tiny losses that
    # double are noise, not memorisation
    bar = max(valid_best * (1 + limits.overfitting_margin),
              valid_best + 0.2 * (history[0].valid_loss - valid_best), valid_best + LOSS_FLOOR)
    recent = history[-span:]
    if not (all(e.valid_loss > bar for e in recent) and recent[-1].train_loss < train_best):
        return None
    last = history[-1]
    detail = (f"overfitting: the training loss fell from {train_best:.4g} to {last.train_loss:.4g} "
              f"since epoch {history[best].epoch} while the validation loss rose from "
              f"{valid_best:.4g} to {last.valid_loss:.4g}; the model memorises the training rows")
    return detail, {"best_epoch": history[best].epoch, "best_valid_loss": valid_best,
                    "valid_loss": last.valid_loss, "train_loss": last.train_loss}


def plateau(history: list[EpochResult], config: TrainingConfig, limits: FaultLimits) -> Finding:
    """No better validation loss for a long stretch, while the learning rate is still high."""
    span = limits.plateau_epochs or max(5, config.early_stopping_patience // 2)
    best = _best(history)
    since = len(history) - 1 - best
    start_lr, last = config.optimizer.learning_rate, history[-1]
    if since < span or last.learning_rate < 0.99 * start_lr:  # a schedule is lowering it
        return None
    detail = (f"plateau: no better validation loss for {since} epochs (best {history[best].valid_loss:.4g}"
              f" at epoch {history[best].epoch}) while the learning rate is still "
              f"{last.learning_rate:.2g}; nothing lowers it")
    return detail, {"epochs_without_improvement": since, "learning_rate": last.learning_rate,
                    "best_epoch": history[best].epoch}


Check = Callable[[list[EpochResult], TrainingConfig, FaultLimits], Finding]
#: The epoch checks, in the order they are tried (the most specific first).
CHECKS: dict[str, Check] = {
    "exploding_gradients": exploding_gradients,
    "no_learning": no_learning,
    "divergence": divergence,
    "overfitting": overfitting,
    "plateau": plateau,
}
