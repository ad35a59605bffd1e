"""mlpilot on a Ray cluster (`MLPILOT_RAY_ADDRESS`): job workers as Ray actors, search
trials as Ray tasks.

- `connect` joins the cluster once per process (the server, or a job worker's actor).
- `trial_executor` is where a job's search trains its trials: `engine.trial_executor`'s
  `RayTrials`, `ray_trial_workers` at once, `ray_trial_cpus` and `ray_trial_gpus` each.
- `RayJobWorkers` is the worker pool's "ray" mode: each worker (`agent/workers.py`) runs in
  an actor that the cluster places on any node; it takes queued jobs from the shared store
  as a worker process does. Actors belong to the server: they die with it, as worker
  processes do, and the next server queues their jobs again.

Without `MLPILOT_RAY_ADDRESS` none of this runs and Ray is never imported. Across
machines, the nodes need the same state (`MLPILOT_DATABASE_URL`), the same data folder
(`MLPILOT_DATA_DIR` on a shared file system) and the data files at the same paths.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable
from typing import Any

from mlpilot.agent.settings import Settings

logger = logging.getLogger(__name__)


class RayUnavailable(RuntimeError):
    """MLPILOT_RAY_ADDRESS is set but Ray is not installed or the cluster cannot be reached."""


def connect(settings: Settings) -> Any:
    """Join the cluster at `settings.ray_address` (once per process); returns the `ray` module."""
    try:
        import ray
    except ImportError as err:
        raise RayUnavailable("MLPILOT_RAY_ADDRESS is set but Ray is not installed: "
                             "pip install 'mlpilot[ray]', or unset it to run locally") from err
    if ray.is_initialized():  # a job worker's actor is connected already
        return ray
    # the server's own settings (MLPILOT_*) hold in its actors and tasks too, and a
    # checkout run with PYTHONPATH (not installed) must be importable there
    env = {k: v for k, v in os.environ.items() if k.startswith("MLPILOT_") or k == "PYTHONPATH"}
    try:
        ray.init(address=settings.ray_address, runtime_env={"env_vars": env} if env else None,
                 logging_level=logging.WARNING, log_to_driver=False,
                 namespace="mlpilot")
    except (ConnectionError, RuntimeError) as err:
        raise RayUnavailable(f"cannot reach the Ray cluster at MLPILOT_RAY_ADDRESS="
                             f"{settings.ray_address!r} ({err}); start it with `ray start "
                             "--head`, or unset the setting to run locally") from err
    return ray


def trial_executor(settings: Settings) -> Any:
    """Where a job's search trains its trials: `RayTrials` on the cluster, or None (here,
    one at a time) without a Ray address."""
    if not settings.ray_address:
        return None
    ray = connect(settings)
    from mlpilot.engine.trial_executor import RayTrials

    workers = settings.ray_trial_workers
    if workers is None:
        cpus = ray.cluster_resources().get("CPU", 1.0)
        workers = max(1, int(cpus // settings.ray_trial_cpus))
    trials = RayTrials(workers, cpus=settings.ray_trial_cpus, gpus=settings.ray_trial_gpus)
    trials.warm()  # without waiting: the search sets up meanwhile
    return trials


class JobWorkerActor:
    """A job worker in a Ray actor: drives queued jobs until told to stop (`stop` comes in
    on the actor's second thread while `run` holds the first)."""

    def __init__(self, settings: Settings, runner_factory: Callable[..., Any], threads: int):
        self.settings, self.runner_factory, self.threads = settings, runner_factory, threads
        self.stopping = threading.Event()

    def holder(self) -> tuple[str, int]:
        """The actor's node and process id: the store's `runner_node` and `runner_pid` of
        the jobs it drives."""
        from mlpilot.agent.store.leases import this_node

        return this_node(), os.getpid()

    def run(self) -> None:
        """Drive jobs (the loop of a worker process) until `stop`."""
        import torch

        from mlpilot.agent.workers import Worker

        torch.set_num_threads(self.threads)
        trial_executor(self.settings)  # warms trial workers while the first job plans
        Worker(self.settings, self.runner_factory, self.stopping.is_set).run()

    def stop(self) -> None:
        """Stop taking jobs; a running job goes back to the queue at its next event."""
        self.stopping.set()


class RayJobWorkers:
    """The worker pool's actors: started, watched, replaced and stopped by `WorkerPool`."""

    def __init__(self, settings: Settings, runner_factory: Callable[..., Any], size: int):
        self.ray = connect(settings)
        # the actors resolve the data folder where they run: send it absolute
        self.settings = settings.model_copy(update={"data_dir": settings.data_dir.resolve()})
        self.runner_factory = runner_factory
        self.actor_class = self.ray.remote(max_concurrency=2)(JobWorkerActor)
        self.actors: list[Any] = []
        self.runs: list[Any] = []
        self.holders: list[Any] = []  # object refs of each actor's (node, process id)
        for _ in range(size):
            self._start()

    def _start(self, index: int | None = None) -> None:
        actor = self.actor_class.options(num_cpus=self.settings.ray_worker_cpus).remote(
            self.settings, self.runner_factory, max(1, int(self.settings.ray_trial_cpus)))
        holder, run = actor.holder.remote(), actor.run.remote()
        if index is None:
            self.actors.append(actor)
            self.runs.append(run)
            self.holders.append(holder)
        else:
            self.actors[index], self.runs[index], self.holders[index] = actor, run, holder

    def holder(self, index: int) -> tuple[str, int] | None:
        """The node and process id of an actor (dead or alive), None if it died before
        saying them."""
        try:
            return tuple(self.ray.get(self.holders[index], timeout=0))
        except Exception:  # noqa: BLE001 - RayActorError, GetTimeoutError
            return None

    def dead(self) -> list[int]:
        """The indices of the actors whose `run` has ended (an actor that died, or a bug)."""
        done, _ = self.ray.wait(self.runs, num_returns=len(self.runs), timeout=0)
        ended = []
        for i, run in enumerate(self.runs):
            if run in done:
                try:
                    self.ray.get(run)
                    logger.error("job worker actor %d stopped on its own", i)
                except Exception as err:  # noqa: BLE001 - RayActorError, a worker's bug
                    logger.error("job worker actor %d died: %s", i, err)
                ended.append(i)
        return ended

    def replace(self, index: int) -> None:
        """Start another actor in place of a dead one."""
        self._start(index)

    def stop(self, timeout: float) -> None:
        """Ask every actor to stop, wait up to `timeout`, then kill those still busy."""
        for actor in self.actors:
            actor.stop.remote()  # a dead actor's call fails in its result, not here
        if self.runs:
            self.ray.wait(self.runs, num_returns=len(self.runs), timeout=timeout)
        for actor in self.actors:
            self.ray.kill(actor)
        self.actors, self.runs = [], []
