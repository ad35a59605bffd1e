"""The CUDA path: bf16 mixed precision, pinned-memory batching, a worker on the GPU, and a
real CUDA out-of-memory error turned into a fault. Skipped where there is no GPU.

Self-contained (no fixtures from conftest.py), so that it also runs on a GPU machine
with only the engine's dependencies: `pytest --noconftest tests/engine/test_gpu.py`.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from mlpilot.engine.batches import BF16_MIN_WORK, PinnedBatches, autocast_dtype, make_batches
from mlpilot.engine.config import ModelConfig, OptimizerConfig, TaskSpec, TrainingConfig
from mlpilot.engine.optim import make_optimizer
from mlpilot.engine.preprocess import prepare_data
from mlpilot.engine.training import Callback, TrainingFault, fit
from mlpilot.engine.worker import fit_in_subprocess

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")

TASK = TaskSpec(target="label", task_type="multiclass", metric="accuracy", budget_s=60)


@pytest.fixture(scope="module")
def table() -> pd.DataFrame:
    """4,000 rows, 3 classes separable by two of eight features."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(4000, 8))
    frame = pd.DataFrame(X, columns=[f"x{i}" for i in range(8)])
    frame["label"] = np.select([X[:, 0] + X[:, 1] > 0.8, X[:, 0] - X[:, 1] > 0.8],
                               ["a", "b"], "c")
    return frame


def config(**update) -> TrainingConfig:
    base = TrainingConfig(model=ModelConfig(hidden_sizes=[64, 64], dropout=0.0),
                          optimizer=OptimizerConfig(learning_rate=3e-3, scheduler="none"),
                          batch_size=128, max_epochs=15, early_stopping_patience=15)
    return base.model_copy(update=update)


class WatchOutputs(Callback):
    """Records the dtypes and devices of the model's outputs while it trains."""

    def on_train_begin(self, run):
        self.seen = set()
        run.model.register_forward_hook(
            lambda module, inputs, out: self.seen.add((out.dtype, out.device.type))
            if module.training else None)


def test_bf16_trains_on_the_gpu_with_fp32_master_weights_and_learns(table):
    cfg = config(precision="bf16")
    data = prepare_data(table, TASK, cfg)
    watch = WatchOutputs()
    result = fit(cfg, data, TASK, callbacks=[watch])
    assert watch.seen == {(torch.bfloat16, "cuda")}
    assert next(result.model.parameters()).dtype == torch.float32
    assert result.best_valid_score > 0.95


def test_auto_precision_uses_bf16_only_for_big_steps(table):
    cuda = torch.device("cuda")
    assert autocast_dtype("auto", cuda, BF16_MIN_WORK) is torch.bfloat16
    assert autocast_dtype("auto", cuda, BF16_MIN_WORK - 1) is None
    cfg = config()  # 128 rows x ~5k parameters: launch-bound, so fp32
    watch = WatchOutputs()
    fit(cfg, prepare_data(table, TASK, cfg), TASK, callbacks=[watch])
    assert watch.seen == {(torch.float32, "cuda")}


def test_the_optimizer_is_fused_on_the_gpu():
    model = torch.nn.Linear(4, 2).cuda()
    for name in ("adamw", "adam", "sgd"):
        cfg = config(optimizer=OptimizerConfig(name=name))
        assert make_optimizer(cfg, model).defaults["fused"] is True


def test_pinned_batches_give_the_same_training_as_device_batches(table):
    cfg = config(precision="fp32", max_epochs=4)
    data = prepare_data(table, TASK, cfg)
    rows = make_batches(data.X_train.astype(np.float32), data.y_train.astype(np.int64),
                        torch.device("cuda"), "pinned")
    assert isinstance(rows, PinnedBatches) and rows.X.is_pinned()
    on_device = fit(cfg, data, TASK, placement="device")
    pinned = fit(cfg, data, TASK, placement="pinned")
    assert pinned.steps == on_device.steps
    for a, b in zip(on_device.model.parameters(), pinned.model.parameters(), strict=True):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)


def test_a_worker_trains_on_the_gpu_and_returns_a_cpu_model(table, tmp_path):
    cfg = config(max_epochs=5)
    data = prepare_data(table, TASK, cfg)
    result = fit_in_subprocess(cfg, data, TASK, checkpoint_path=tmp_path / "fit.ckpt")
    assert next(result.model.parameters()).device.type == "cpu"
    assert result.best_valid_score > 0.9


@pytest.mark.parametrize("hidden", [
    [8192, 8192, 8192],  # 800 MB of weights: the model does not fit on the card
    [4096, 4096],  # 67 MB of weights fit; their gradients and Adam's moments do not
])
def test_a_cuda_out_of_memory_error_is_a_fault(table, hidden):
    cfg = config(model=ModelConfig(hidden_sizes=hidden, dropout=0.0), batch_size=1024,
                 max_epochs=1)
    data = prepare_data(table, TASK, cfg)
    torch.cuda.empty_cache()
    _, total = torch.cuda.mem_get_info()
    torch.cuda.set_per_process_memory_fraction(150e6 / total)  # a 150 MB card
    try:
        with pytest.raises(TrainingFault) as caught:
            fit(cfg, data, TASK)
    finally:
        torch.cuda.set_per_process_memory_fraction(1.0)
        torch.cuda.empty_cache()
    assert caught.value.kind == "out_of_memory"
    assert "OutOfMemoryError" in caught.value.detail
