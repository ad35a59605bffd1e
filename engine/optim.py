"""What a fit minimises and how: the loss, the optimiser and the learning-rate schedule."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
from torch import nn

from .config import TaskSpec, TrainingConfig

LossFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def make_loss(config: TrainingConfig, task: TaskSpec, y_train: np.ndarray, n_outputs: int,
              device: torch.device) -> LossFn:
    """Cross-entropy (weighted by inverse class frequency when `class_weighting`) or MSE."""
    if not task.is_classification:
        mse = nn.MSELoss()
        return lambda out, y: mse(out.squeeze(-1), y)
    weight = None
    if config.class_weighting:
        counts = np.bincount(y_train, minlength=n_outputs).astype(np.float64)
        weight = torch.tensor(len(y_train) / (n_outputs * np.maximum(counts, 1.0)),
                              dtype=torch.float32, device=device)
    return nn.CrossEntropyLoss(weight=weight)


def make_optimizer(config: TrainingConfig, model: nn.Module) -> torch.optim.Optimizer:
    """AdamW, Adam or SGD with momentum 0.9, with the configured rate and weight decay.

    On CUDA the update is fused (a few kernels for all parameters instead of several per
    parameter): a small tabular net's step is bound by kernel launches, not arithmetic.
    On the CPU the default per-parameter loop measured faster than multi-tensor (foreach).
    """
    opt = config.optimizer
    params = list(model.parameters())
    on_cuda = bool(params) and all(p.is_cuda for p in params)
    speed = {"fused": True} if on_cuda else {}
    if opt.name == "adamw":
        return torch.optim.AdamW(params, lr=opt.learning_rate, weight_decay=opt.weight_decay,
                                 **speed)
    if opt.name == "adam":
        return torch.optim.Adam(params, lr=opt.learning_rate, weight_decay=opt.weight_decay,
                                **speed)
    return torch.optim.SGD(params, lr=opt.learning_rate, momentum=0.9,
                           weight_decay=opt.weight_decay, **speed)


def make_scheduler(config: TrainingConfig, optimizer: torch.optim.Optimizer):
    """None, cosine annealing over `max_epochs`, or halving the rate on a validation-loss
    plateau of `early_stopping_patience // 3` epochs (at least 1)."""
    name = config.optimizer.scheduler
    if name == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=config.max_epochs)
    if name == "plateau":
        return torch.optim.lr_scheduler.ReduceLROnPlateau(
            optimizer, mode="min", factor=0.5, patience=max(1, config.early_stopping_patience // 3))
    return None


def step_scheduler(scheduler, valid_loss: float) -> None:
    """Advance `scheduler` by one epoch (a plateau scheduler reads the validation loss)."""
    if isinstance(scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau):
        scheduler.step(valid_loss)
    elif scheduler is not None:
        scheduler.step()
