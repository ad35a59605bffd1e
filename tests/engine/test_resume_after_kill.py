"""Deterministic resume: training killed mid-run (SIGKILL to a real process) and resumed
from its checkpoint ends with parameters equal to an uninterrupted run's."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import torch

from mlpilot.engine.config import ModelConfig, OptimizerConfig, TaskSpec, TrainingConfig
from mlpilot.engine.data import load_table
from mlpilot.engine.preprocess import prepare_data
from mlpilot.engine.training import fit
from tests.conftest import dataset

TASK = TaskSpec(target="species", task_type="multiclass", metric="accuracy", budget_s=60)
CONFIG = TrainingConfig(
    model=ModelConfig(hidden_sizes=[32, 16], dropout=0.2),
    optimizer=OptimizerConfig(learning_rate=5e-3, scheduler="cosine", grad_clip_norm=1.0),
    batch_size=32, max_epochs=12, early_stopping_patience=100,
)

# The child trains slowly (a pause after each epoch) so the parent can kill it mid-run.
CHILD = """
import sys, time
from mlpilot.engine.config import TaskSpec, TrainingConfig
from mlpilot.engine.data import load_table
from mlpilot.engine.preprocess import prepare_data
from mlpilot.engine.training import Callback, fit

class Slow(Callback):
    def on_epoch_end(self, run, epoch):
        print(epoch.epoch, flush=True)
        time.sleep(0.3)

task = TaskSpec.model_validate_json(sys.argv[1])
config = TrainingConfig.model_validate_json(sys.argv[2])
data = prepare_data(load_table(sys.argv[3]), task, config)
fit(config, data, task, checkpoint_path=sys.argv[4], callbacks=[Slow()])
"""


def test_killed_training_resumes_to_identical_parameters(tmp_path: Path):
    checkpoint = tmp_path / "fit.ckpt"
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, TASK.model_dump_json(), CONFIG.model_dump_json(),
         str(dataset("penguins.csv")), str(checkpoint)],
        stdout=subprocess.PIPE, text=True)
    try:
        while int(child.stdout.readline() or 0) < 4:  # let it finish 4 epochs
            assert child.poll() is None, "the child stopped before it was killed"
        os.kill(child.pid, signal.SIGKILL)
    finally:
        child.wait(timeout=30)
    assert child.returncode == -signal.SIGKILL and checkpoint.exists()

    data = prepare_data(load_table(dataset("penguins.csv")), TASK, CONFIG)
    resumed = fit(CONFIG, data, TASK, checkpoint_path=checkpoint, resume=True)
    straight = fit(CONFIG, data, TASK)

    assert resumed.history[0].epoch == 1 and resumed.epochs_run == 12
    a, b = straight.model.state_dict(), resumed.model.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
