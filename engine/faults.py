"""Training faults: the error the engine raises when training goes wrong, and its own checks.

`fit` always checks for these, because they make training impossible or meaningless:

| kind | when |
| --- | --- |
| `bad_batch` | a training or validation row reaches the model with a NaN/inf feature |
| `nan_loss` | the training or validation loss is NaN or infinite |
| `exploding_loss` | the training loss is over 1e4 x the first epoch's |
| `out_of_memory` | a step runs out of memory (CUDA OOM, `MemoryError`, a failed CPU allocation) |

The checks that need judgement (divergence, exploding or vanishing gradients, plateau,
overfitting, a memory cap) live in `monitor.FaultMonitor`, a callback a caller opts into.
`search.tune` adds `trial_timeout` and `worker.fit_in_subprocess` adds `worker_crash`.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

import torch
from torch import nn

FaultKind = Literal[
    "nan_loss", "exploding_loss", "divergence", "exploding_gradients", "no_learning",
    "plateau", "overfitting", "out_of_memory", "bad_batch", "trial_timeout", "worker_crash",
]
#: A training loss this many times the first epoch's loss counts as exploding.
EXPLODING_FACTOR = 1e4
#: Error texts of failed CPU (and older CUDA) allocations, which PyTorch raises as RuntimeError.
_OOM_TEXTS = ("out of memory", "can't allocate memory", "cannot allocate memory")


class TrainingFault(RuntimeError):
    """Training went wrong in a way a changed config may fix; `kind` says how (`FaultKind`).

    `checkpoint` is the checkpoint to resume from with a fixed config (the last good
    epoch's), or None when there is none. `facts` holds the evidence as JSON-able values
    (e.g. {"columns": ["price"]} for a bad batch, {"grad_norm": 3e6} for exploding gradients).
    """

    def __init__(self, kind: str, epoch: int, step: int, detail: str,
                 checkpoint: Path | None = None, facts: dict[str, Any] | None = None):
        super().__init__(f"{kind} at epoch {epoch} (step {step}): {detail}")
        self.kind, self.epoch, self.step = kind, epoch, step
        self.detail, self.checkpoint = detail, checkpoint
        self.facts = dict(facts or {})

    def __reduce__(self):  # pickles across processes (see worker.py)
        return (type(self), (self.kind, self.epoch, self.step, self.detail, self.checkpoint,
                             self.facts))


def check_loss(train_loss: float, valid_loss: float, first_train_loss: float | None, *,
               epoch: int, step: int, checkpoint: Path | None) -> None:
    """Raise `nan_loss` for a non-finite loss, `exploding_loss` for one far above the first."""
    for name, loss in (("train", train_loss), ("validation", valid_loss)):
        if not math.isfinite(loss):
            raise TrainingFault(
                "nan_loss", epoch, step,
                f"{name} loss became {loss}: lower the learning rate, clip gradients "
                "or scale the inputs and target", checkpoint, {"loss": str(loss)})
    if first_train_loss is not None and train_loss > EXPLODING_FACTOR * max(first_train_loss, 1e-4):
        raise TrainingFault(
            "exploding_loss", epoch, step,
            f"train loss {train_loss:.4g} is over {EXPLODING_FACTOR:.0e} x the first epoch's "
            f"{first_train_loss:.4g}: lower the learning rate or clip gradients", checkpoint,
            {"loss": train_loss, "first_loss": first_train_loss})


def check_inputs(X: torch.Tensor, preprocessor: Any, which: str) -> None:
    """Raise `bad_batch` when any row of `X` has a non-finite feature.

    Args:
        X: the encoded feature matrix (rows x features).
        preprocessor: the `Preprocessor` that encoded it (names the culprit columns).
        which: "training" or "validation", for the message.
    """
    bad = ~torch.isfinite(X)
    if not bool(bad.any()):
        return
    rows = int(bad.any(dim=1).sum())
    sources = _source_columns(preprocessor)
    per_feature = bad.any(dim=0).nonzero().flatten().tolist()
    columns = sorted({sources[i] if i < len(sources) else f"feature {i}" for i in per_feature})
    raise TrainingFault(
        "bad_batch", 0, 0,
        f"{rows} of {len(X)} {which} rows have non-finite (NaN/inf) inputs after "
        f"preprocessing, in column(s) {', '.join(map(repr, columns))}: values too large for "
        "float32 or for the scaler; drop or impute those columns or rows",
        None, {"columns": columns, "rows": rows})


def _source_columns(preprocessor: Any) -> list[str]:
    """The raw column each encoded feature comes from ("sex=male" -> "sex")."""
    columns = sorted(preprocessor.columns, key=len, reverse=True)
    return [next((c for c in columns if name == c or name.startswith((f"{c}=", f"{c}."))), name)
            for name in preprocessor.feature_names]


def trial_timeout(number: int, max_epochs: int, history: Sequence[Any], steps: int,
                  slice_s: float) -> TrainingFault:
    """The fault of search trial `number`, which its time slice stopped after the epochs in
    `history` (`EpochResult`s). `facts["epochs_within_slice"]` is how many epochs fit in
    a quarter of the slice left after the trial's set-up (its time outside epochs): the
    rest is room for later trials' configs, which may be several times slower."""
    epochs = len(history)
    # the median: a first epoch that waits for threads to spin up says little
    epoch_s = statistics.median(e.elapsed_s for e in history) if epochs else slice_s
    set_up = max(0.0, slice_s - sum(e.elapsed_s for e in history))
    usable = max(slice_s - set_up, 0.2 * slice_s)
    fits = max(1, math.floor(0.25 * usable / max(epoch_s, 1e-6)))
    return TrainingFault(
        "trial_timeout", history[-1].epoch if epochs else 0, steps,
        f"trial {number} ran past its {slice_s:.3g}s time slice after {epochs} of at most "
        f"{max_epochs} epochs ({epoch_s:.3g}s each, {set_up:.2g}s of set-up) and was stopped "
        f"(it keeps its best score so far); about {fits} epochs fit in a slice",
        None, {"trial": number, "slice_s": slice_s, "epochs_run": epochs, "epoch_s": epoch_s,
               "set_up_s": set_up, "max_epochs": max_epochs, "epochs_within_slice": fits})


def is_out_of_memory(error: BaseException) -> bool:
    """True for CUDA OOM, `MemoryError`, and PyTorch's failed CPU allocations."""
    if isinstance(error, (MemoryError, torch.cuda.OutOfMemoryError)):
        return True
    return isinstance(error, RuntimeError) and any(t in str(error).lower() for t in _OOM_TEXTS)


def out_of_memory_fault(error: BaseException, *, epoch: int, step: int, batch_size: int,
                        checkpoint: Path | None) -> TrainingFault:
    """The `out_of_memory` fault for a caught allocation error (frees the CUDA cache)."""
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
    text = " ".join(str(error).split())[:300]
    return TrainingFault(
        "out_of_memory", epoch, step,
        f"{type(error).__name__}: {text}; a batch of {batch_size} rows does not fit in memory",
        checkpoint, {"batch_size": batch_size, "error": type(error).__name__})


def estimate_step_memory_mb(model: nn.Module, batch_size: int, optimizer: str) -> float:
    """Estimated memory of one training step in MiB: weights, gradients, optimiser state
    (two moments for Adam/AdamW, one for SGD with momentum) and one batch's activations
    (the input and every layer's output, kept for the backward pass and matched by their
    gradients)."""
    n_params = sum(p.numel() for p in model.parameters())
    states = 1 if optimizer == "sgd" else 2
    width, values = 0, 0
    for module in model.modules():
        if list(module.children()):
            continue
        if isinstance(module, nn.Linear):
            values += module.in_features if width == 0 else 0
            width = module.out_features
        values += width
    return 4 * (n_params * (2 + states) + 2 * batch_size * values) / 2**20
