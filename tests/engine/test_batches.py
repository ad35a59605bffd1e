"""Precision and data placement: what `batches.py` chooses, and bf16 training on the CPU."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from mlpilot.engine.batches import DeviceBatches, autocast_dtype, make_batches, resolve_placement
from mlpilot.engine.preprocess import prepare_data
from mlpilot.engine.training import Callback, fit

CPU = torch.device("cpu")


@pytest.mark.parametrize(("precision", "expected"), [
    ("fp32", None), ("auto", None), ("bf16", torch.bfloat16)])
def test_precision_on_the_cpu(precision, expected):
    assert autocast_dtype(precision, CPU) is expected


def test_auto_precision_never_uses_bf16_on_the_cpu():
    assert autocast_dtype("auto", CPU, 10**15) is None


def test_pinned_placement_needs_cuda():
    with pytest.raises(ValueError, match="needs a CUDA device"):
        resolve_placement("pinned", CPU, 10)
    assert resolve_placement("auto", CPU, 10**12) == "device"


def test_device_batches_index_rows_and_targets_together():
    X = np.arange(12, dtype=np.float32).reshape(6, 2)
    y = np.arange(6, dtype=np.int64)
    rows = make_batches(X, y, CPU)
    assert isinstance(rows, DeviceBatches) and len(rows) == 6
    bx, by = rows.batch(rows.indices(torch.tensor([4, 1])))
    assert bx.tolist() == [[8.0, 9.0], [2.0, 3.0]] and by.tolist() == [4, 1]


class OutputDtypes:
    """Forward hook: the dtypes of the model's outputs while training."""

    def __init__(self, model):
        self.seen = set()
        model.register_forward_hook(self)

    def __call__(self, module, inputs, output):
        if module.training:
            self.seen.add(output.dtype)


class WatchOutputs(Callback):
    """Hooks `OutputDtypes` onto the model when training begins."""

    def on_train_begin(self, run):
        self.dtypes = OutputDtypes(run.model)


@pytest.mark.parametrize(("precision", "dtype"), [("bf16", torch.bfloat16), ("fp32", torch.float32)])
def test_fit_trains_in_the_precision_it_is_given(penguins_df, penguins_task, fast_config,
                                                precision, dtype):
    config = fast_config.model_copy(update={"precision": precision})
    data = prepare_data(penguins_df, penguins_task, config)
    hook = WatchOutputs()
    result = fit(config, data, penguins_task, callbacks=[hook], device="cpu")
    assert hook.dtypes.seen == {dtype}
    assert all(p.dtype == torch.float32 for p in result.model.parameters())  # master weights
    assert result.best_valid_score > 0.9  # bf16 loses little on a small net
