"""Training checkpoints: everything needed to continue a fit exactly where it stopped.

A checkpoint holds the model, optimiser and scheduler states, every random generator
(Python, NumPy, torch, CUDA, and the generator that shuffles epochs) and the caller's
own counters. Files are written atomically, so a crash never leaves half a checkpoint.
Next to a fit's checkpoint `base.ckpt` lives `base.best.ckpt`, the best epoch's.
"""

from __future__ import annotations

import os
import random
import shutil
from pathlib import Path

import numpy as np
import torch

from .config import TrainingConfig

FORMAT_VERSION = 1


def save_checkpoint(path: Path, *, model: torch.nn.Module, optimizer: torch.optim.Optimizer,
                    scheduler, order: torch.Generator, extra: dict) -> None:
    """Write a checkpoint to `path` (temp file in the same folder, then `os.replace`)."""
    payload = {
        "format": FORMAT_VERSION,
        "model": model.state_dict(),
        "optimizer": optimizer.state_dict(),
        "optimizer_type": type(optimizer).__name__,
        "scheduler": scheduler.state_dict() if scheduler is not None else None,
        "rng": {
            "torch": torch.get_rng_state(),
            "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None,
            "numpy": np.random.get_state(),
            "python": random.getstate(),
            "order": order.get_state(),
        },
        "extra": extra,
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        torch.save(payload, tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def best_checkpoint_path(path: Path) -> Path:
    """Where the copy of the best epoch's checkpoint lives: `base.ckpt` -> `base.best.ckpt`."""
    path = Path(path)
    return path.with_name(f"{path.stem}.best{path.suffix}")


def copy_checkpoint(source: Path, target: Path) -> None:
    """Copy a checkpoint file atomically (temp file in the same folder, then `os.replace`)."""
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    try:
        shutil.copyfile(source, tmp)
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)


def load_checkpoint(path: Path, *, model: torch.nn.Module, optimizer: torch.optim.Optimizer,
                    scheduler, order: torch.Generator) -> dict:
    """Restore states and random generators from `path` into the given objects; return `extra`.

    An optimiser of another type than the saved one (a fix switched it) starts fresh, and
    so does its scheduler. Only load checkpoints you wrote: they are pickles.
    """
    payload = torch.load(path, map_location="cpu", weights_only=False)
    model.load_state_dict(payload["model"])
    same_optimizer = payload.get("optimizer_type", type(optimizer).__name__) == type(optimizer).__name__
    if same_optimizer:
        optimizer.load_state_dict(payload["optimizer"])
    if same_optimizer and scheduler is not None and payload["scheduler"] is not None:
        scheduler.load_state_dict(payload["scheduler"])
    rng = payload["rng"]
    torch.set_rng_state(rng["torch"])
    if rng["cuda"] is not None and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(rng["cuda"])
    np.random.set_state(rng["numpy"])
    random.setstate(rng["python"])
    order.set_state(rng["order"])
    return payload["extra"]


def keeps_weights(old: TrainingConfig, new: TrainingConfig) -> bool:
    """Whether a checkpoint written under config `old` can continue under `new`.

    Optimiser settings, batch size, epochs, patience and dropout rates may change (the
    checkpoint loader takes the new rate, decay and schedule); the network's shape and the
    inputs may not: another preprocessing or model (turning dropout on or off included)
    means training from fresh weights.
    """
    def shape(config: TrainingConfig) -> tuple:
        model = {k: (v > 0 if "dropout" in k else v) for k, v in config.model.model_dump().items()}
        return config.preprocessing.model_dump(), model, config.model_dump().get("trees")

    return shape(old) == shape(new)
