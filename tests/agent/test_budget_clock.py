"""A node cut off by a crash leaves the time it spent on disk; run again, it gets only what
is left of the budget, and `budget_used_s` counts the time spent before the crash."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from mlpilot.agent.budget_clock import BudgetClock
from mlpilot.agent.runner import Runner
from mlpilot.agent.settings import Settings
from mlpilot.agent.state import TaskRequest
from mlpilot.agent.store import new_job_id
from tests.conftest import dataset

CHILD = """
import sys, time
from mlpilot.agent.budget_clock import BudgetClock
with BudgetClock(sys.argv[1], every_s=0.1).running(before=float(sys.argv[2])):
    print("running", flush=True)
    time.sleep(60)
"""


def test_a_killed_node_leaves_the_time_it_spent(tmp_path: Path):
    path = tmp_path / "tune.clock"
    child = subprocess.Popen([sys.executable, "-c", CHILD, str(path), "5"],
                             stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout.readline().strip() == "running"
        time.sleep(1.5)
        os.kill(child.pid, signal.SIGKILL)
    finally:
        child.wait(timeout=30)
    spent = BudgetClock(path).spent()
    assert 5 + 1.2 <= spent <= 5 + 3.0  # what it spent before, and until the kill
    BudgetClock(path).clear()
    assert BudgetClock(path).spent() == 0.0


def test_a_block_that_ends_writes_its_time_and_clear_forgets_it(tmp_path: Path):
    clock = BudgetClock(tmp_path / "train.clock")
    with pytest.raises(RuntimeError), clock.running(before=2.0):
        time.sleep(0.2)
        raise RuntimeError("the server stops: the node will run again")
    assert 2.2 <= clock.spent() < 3.0
    (tmp_path / "train.clock").write_text("not json")
    assert clock.spent() == 0.0


@pytest.mark.slow
def test_a_search_resumed_after_a_crash_gets_only_what_is_left():
    settings = Settings()
    job_id = new_job_id()
    # The tune node of this job searched for 2 s before its process was killed: the graph
    # state checkpointed before the node knows nothing of that; the job's clock does.
    BudgetClock(settings.job_dir(job_id) / "tune.clock")._write(2.0)
    # A small base share, so the search's share (about 7.5 s of 8) is known.
    request = TaskRequest(request="predict the species of a penguin, 8 seconds",
                          data=dataset("penguins.csv"),
                          training={"search": {"base_fraction": 0.05}})
    said: list[str] = []
    runner = Runner(settings, progress=lambda e: said.append(e["message"]))
    outcome = runner.start(request, auto_approve=True, job_id=job_id)
    assert outcome.status == "succeeded"
    [searching] = [m for m in said if m.startswith("searching for ")]
    remaining = float(searching.removeprefix("searching for ").split("s;")[0])
    assert remaining <= 8 - 2 + 0.5, searching  # its share, less the 2 s spent before
    used = outcome.result["budget_used_s"]
    assert used >= 2.0 + outcome.result["search"]["seconds"] and used <= 8 * 1.1, used
    assert not (settings.job_dir(job_id) / "tune.clock").exists()
