"""MLPILOT_RAY_ADDRESS: a search's trials as Ray tasks, job workers as Ray actors, on a
private two-node cluster (`tests/ray_cluster.py`: two `ray start` on this machine, one
CPU each). Without the setting nothing imports Ray.

The cluster starts once for the module (tens of seconds on two cores): the tests here are
few on purpose.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from mlpilot.agent.settings import Settings
from tests.conftest import dataset
from tests.ray_cluster import ENV, RayCluster, ray_bin


def test_without_a_ray_address_nothing_imports_ray():
    code = """
import sys, json
from mlpilot.agent.ray_cluster import trial_executor
from mlpilot.agent.settings import Settings
from mlpilot.agent.worker_pool import WorkerPool
from mlpilot.engine.search import tune
print(json.dumps([trial_executor(Settings()) is None, "ray" in sys.modules]))
"""
    env = {k: v for k, v in os.environ.items() if k != "MLPILOT_RAY_ADDRESS"}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env=env, timeout=300, check=True)
    assert json.loads(done.stdout.splitlines()[-1]) == [True, False]


@pytest.fixture(scope="module")
def cluster():
    if ray_bin() is None:
        pytest.skip("Ray is not installed (pip install 'mlpilot[ray]'): no cluster to test on")
    started = RayCluster(nodes=2, cpus=1).start()
    saved = {k: os.environ.get(k) for k in ENV}
    os.environ.update(ENV)
    try:
        yield started
    finally:
        import ray

        ray.shutdown()
        started.stop()
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        assert started.processes() == []  # nothing of the cluster is left running


@pytest.mark.slow
def test_a_search_trains_its_trials_on_both_nodes(cluster, monkeypatch):
    import optuna

    from mlpilot.agent.ray_cluster import trial_executor
    from mlpilot.engine.config import ModelConfig, SearchConfig, TaskSpec, TrainingConfig
    from mlpilot.engine.data import load_table
    from mlpilot.engine.preprocess import prepare_data
    from mlpilot.engine.search import tune

    monkeypatch.setenv("MLPILOT_RAY_ADDRESS", cluster.address)
    trials = trial_executor(Settings())
    assert trials.workers == 2  # the cluster's two CPUs, one per trial
    trials.warm(wait=True)
    task = TaskSpec(target="species", task_type="multiclass", metric="accuracy", budget_s=60)
    base = TrainingConfig(max_epochs=15, batch_size=32, model=ModelConfig(hidden_sizes=[32]),
                          search=SearchConfig(max_trials=6))
    data = prepare_data(load_table(dataset("penguins.csv")), task, base)
    storage = optuna.storages.InMemoryStorage()
    result = tune(base, data, task, deadline=time.monotonic() + 60, trials=trials,
                  storage=storage, study_name="ray")

    assert len(result.trials) == 6 and result.n_complete >= 2
    assert result.best_fit is not None and result.best_score > 0.9
    assert len(result.candidates) == result.n_complete  # the models came back from the nodes
    done = optuna.load_study(study_name="ray", storage=storage).get_trials(deepcopy=False)
    assert len({t.user_attrs["ray_node"] for t in done}) == 2  # each node trained some


@pytest.mark.slow
def test_a_job_runs_in_a_ray_actor_that_is_replaced_when_killed(cluster, monkeypatch):
    from mlpilot.agent.jobs import JobService
    from mlpilot.agent.state import TaskRequest
    from mlpilot.agent.store import END_STATUSES

    monkeypatch.setenv("MLPILOT_RAY_ADDRESS", cluster.address)
    service = JobService(Settings(), workers=1)
    assert service.pool.mode == "ray"
    service.start()
    try:
        job, _ = service.submit(TaskRequest(request="predict the species of a penguin, "
                                            "6 seconds", data=dataset("penguins.csv")),
                                auto_approve=True)
        actor = _started(service, job.id, timeout=300)
        assert actor != os.getpid()  # driven by the actor's process, not here
        os.kill(actor, signal.SIGKILL)
        done = service.wait(job.id, until=END_STATUSES, timeout=400)
    finally:
        service.stop()
    events = service.store.events(job.id)
    assert done.status == "succeeded", (done.error, (done.result or {}).get("question"),
                                        [e.message for e in events])
    assert done.result["model"]["version"] == "1"
    assert any(e.data.get("worker_died") for e in events)  # the supervisor queued it again
    resumed = [e for e in events if e.message == "resumed"]
    assert resumed and resumed[-1].data["pid"] not in (actor, os.getpid())  # a new actor


def _started(service, job_id: str, timeout: float) -> int:
    """The process id of the worker that started the job, once it has."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for event in service.store.events(job_id):
            if event.message == "started":
                return event.data["pid"]
        time.sleep(0.1)
    raise AssertionError(f"run {job_id} did not start within {timeout} s")
