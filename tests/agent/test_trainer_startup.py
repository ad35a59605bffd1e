"""The train node's one-off start-up happens before its budget's clock starts."""

from __future__ import annotations

import json
import subprocess
import sys


def test_a_network_s_first_optimiser_import_is_made_before_the_base_run_is_timed():
    # a fresh process, as a new job worker is: a 1 s base run on a busy machine lost its
    # whole budget to this import and ended with an untrained model
    code = """
import json, sys
from mlpilot.agent.trainer import ready_to_train
from mlpilot.engine.config import ModelConfig, TrainingConfig
ready_to_train(TrainingConfig(model=ModelConfig(family="hist_gbt")), in_subprocess=False)
trees = "torch._dynamo" in sys.modules
ready_to_train(TrainingConfig(model=ModelConfig(family="mlp")), in_subprocess=False)
print(json.dumps([trees, "torch._dynamo" in sys.modules]))
"""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=300, check=True)
    assert json.loads(done.stdout.splitlines()[-1]) == [False, True]
