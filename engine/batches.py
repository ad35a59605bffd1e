"""Where a fit keeps its training rows, and how a batch of them reaches the model.

Tabular data is small next to a GPU's memory, so by default a fit copies all of it to the
training device once (`DeviceBatches`) and a batch is an index into it. On CUDA, data that
would take more than `DEVICE_DATA_SHARE` of the free GPU memory stays in page-locked
(pinned) host memory instead (`PinnedBatches`): each batch is gathered into one of two
pinned staging buffers and copied to the GPU asynchronously, so that gathering the next
batch on the CPU overlaps the GPU's work on this one.

Precision: `autocast_dtype` says whether a fit trains in bf16 mixed precision. "auto"
does on CUDA devices that support bf16 when a step is big enough to be bound by arithmetic
(`BF16_MIN_WORK`); a small tabular net's step is bound by kernel launches, and autocast's
casts only add launches. Never on the CPU, where bf16 products are slower than fp32 on
most processors.
"""

from __future__ import annotations

import math
from typing import Literal

import numpy as np
import torch

Placement = Literal["auto", "device", "pinned"]
Precision = Literal["auto", "fp32", "bf16"]
#: "auto" placement keeps the data on the GPU while it takes at most this share of the
#: GPU memory that is free when the fit starts.
DEVICE_DATA_SHARE = 0.5
#: "auto" precision trains in bf16 from this many multiply-adds per step (batch size x
#: parameters). Measured on an H100 (benchmarks/gpu.sh, 2026-11-26): an MLP [4096, 4096]
#: with batches of 8192 (1.4e11) trained 4.3x faster in bf16; [1024, 1024] with batches of
#: 4096 (4.4e9) and [256, 128] with batches of 256 (1e7) were launch-bound and 10-20% slower.
BF16_MIN_WORK = 2**34


def autocast_dtype(precision: Precision, device: torch.device,
                   work: float = math.inf) -> torch.dtype | None:
    """The autocast dtype for training on `device` (None: plain fp32); `work` is the
    multiply-adds of one step, which "auto" compares with `BF16_MIN_WORK`."""
    if precision == "fp32":
        return None
    if precision == "bf16":
        if device.type == "cuda" and not torch.cuda.is_bf16_supported():
            raise ValueError(f"precision 'bf16' was requested but {device} does not support "
                             "bf16: use 'fp32' or 'auto'")
        return torch.bfloat16
    if device.type == "cuda" and work >= BF16_MIN_WORK and torch.cuda.is_bf16_supported():
        return torch.bfloat16
    return None


def resolve_placement(placement: Placement, device: torch.device, nbytes: int) -> Placement:
    """"device" or "pinned" for `nbytes` of training data on `device` (see the module doc)."""
    if placement == "pinned" and device.type != "cuda":
        raise ValueError(f"placement 'pinned' needs a CUDA device, not {device}: use 'auto'")
    if placement != "auto":
        return placement
    if device.type != "cuda":
        return "device"
    free, _total = torch.cuda.mem_get_info(device)
    return "device" if nbytes <= DEVICE_DATA_SHARE * free else "pinned"


class DeviceBatches:
    """All rows on the training device; a batch is an index into them."""

    placement: Placement = "device"

    def __init__(self, X: np.ndarray, y: np.ndarray, device: torch.device):
        self.device = device
        self.X, self.y = _as_tensor(X).to(device), _as_tensor(y).to(device)

    def __len__(self) -> int:
        return len(self.X)

    def indices(self, order: torch.Tensor) -> torch.Tensor:
        """An epoch's row order, where `batch` wants it (on the device)."""
        return order.to(self.device)

    def batch(self, index: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The rows `index` selects, inputs and targets, on the device."""
        return self.X[index], self.y[index]


class PinnedBatches:
    """All rows in pinned host memory; each batch is staged and copied to the GPU
    asynchronously through one of two pinned buffers (double buffering)."""

    placement: Placement = "pinned"
    SLOTS = 2

    def __init__(self, X: np.ndarray, y: np.ndarray, device: torch.device):
        self.device = device
        self.X, self.y = _as_tensor(X).pin_memory(), _as_tensor(y).pin_memory()
        self._buffers: list[tuple[torch.Tensor, torch.Tensor]] = []
        self._copied: list[torch.cuda.Event | None] = [None] * self.SLOTS
        self._slot = 0

    def __len__(self) -> int:
        return len(self.X)

    def indices(self, order: torch.Tensor) -> torch.Tensor:
        """An epoch's row order, where `batch` wants it (on the host)."""
        return order

    def batch(self, index: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Gather the rows `index` selects into a staging buffer, start their copy to the
        GPU, and return the device tensors (valid for work queued on the current stream)."""
        n = len(index)
        slot, self._slot = self._slot, (self._slot + 1) % self.SLOTS
        if self._copied[slot] is not None:
            self._copied[slot].synchronize()  # the copy out of this buffer two batches ago
        bx, by = self._buffer(slot, n)
        torch.index_select(self.X, 0, index, out=bx)
        torch.index_select(self.y, 0, index, out=by)
        X = bx.to(self.device, non_blocking=True)
        y = by.to(self.device, non_blocking=True)
        event = torch.cuda.Event()
        event.record()
        self._copied[slot] = event
        return X, y

    def _buffer(self, slot: int, n: int) -> tuple[torch.Tensor, torch.Tensor]:
        if len(self._buffers) <= slot or len(self._buffers[slot][0]) < n:
            pair = (torch.empty((n, *self.X.shape[1:]), dtype=self.X.dtype, pin_memory=True),
                    torch.empty((n, *self.y.shape[1:]), dtype=self.y.dtype, pin_memory=True))
            if len(self._buffers) <= slot:
                self._buffers.append(pair)
            else:
                self._buffers[slot] = pair
        bx, by = self._buffers[slot]
        return bx[:n], by[:n]


def make_batches(X: np.ndarray, y: np.ndarray, device: torch.device,
                 placement: Placement = "auto") -> DeviceBatches | PinnedBatches:
    """The batch source for training rows `X`, `y` on `device` (see `resolve_placement`)."""
    chosen = resolve_placement(placement, device, X.nbytes + y.nbytes)
    return (PinnedBatches if chosen == "pinned" else DeviceBatches)(X, y, device)


def _as_tensor(array: np.ndarray) -> torch.Tensor:
    return torch.as_tensor(np.require(array, None, ["C", "W"]))
