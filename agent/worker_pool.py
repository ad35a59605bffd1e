"""The server's workers: N job workers (`agent/workers.py`) in worker processes (the
default) or in threads of the server, a sweeper, and on start the recovery of jobs a dead
server left running.

Worker processes keep training off the server's interpreter, so API calls stay quick
while jobs train; threads start at once and share the server's memory (tests, small
machines). With `MLPILOT_RAY_ADDRESS` the worker processes are Ray actors instead, on any
node of the cluster (`agent/ray_cluster.py`). Either way the store (SQLite or
PostgreSQL) is the only thing they share with the server: the queue, the events, the
cancel flags. The sweeper queues again the jobs whose
approvals were decided (or expired) elsewhere; with processes, a tail thread passes
their progress events to the listeners of this process.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import threading
import time
from typing import TYPE_CHECKING, Any, Literal

from mlpilot.agent.workers import Worker, run_worker_process

if TYPE_CHECKING:
    from mlpilot.agent.jobs import JobService

logger = logging.getLogger(__name__)
WorkerMode = Literal["process", "thread", "ray"]
#: A decision made less than this long ago is left to the process that made it (the CLI
#: resumes a job itself right after deciding); after that a worker takes the job.
DECISION_GRACE_S = 2.0
#: A job whose worker process dies this many times is failed rather than tried again.
MAX_WORKER_DEATHS = 2
#: How often the tail thread passes new events of worker processes to listeners.
TAIL_POLL_S = 0.25


class WorkerPool:
    """Starts and stops the workers of one server."""

    def __init__(self, service: JobService, size: int, mode: WorkerMode = "process"):
        if mode == "process" and service.settings.ray_address:
            mode = "ray"  # the workers' processes are Ray actors, on any node of the cluster
        self.service, self.size, self.mode = service, size, mode
        self.store = service.store
        self.stopping = threading.Event()
        self._wake = threading.Condition()
        self._threads: list[threading.Thread] = []
        self._workers: list[Worker] = []
        self._processes: list[Any] = []
        self._stop_processes: Any = None
        self._actors: Any = None  # RayJobWorkers in "ray" mode
        self._supervisor_done = threading.Event()

    def start(self) -> list[str]:
        """Queue again the jobs a dead server left running, then start the workers; returns
        the ids of the jobs queued again."""
        if self.size <= 0 or self._threads:
            return []
        self.stopping.clear()
        orphans = self.store.requeue_orphans()
        for job_id in orphans:
            self.store.add_event(job_id, "job", "the server restarted; the run goes on from its "
                                 "last checkpoint", status="queued")
        self._supervisor_done.clear()
        if self.mode in ("process", "ray"):
            self._spawn(self._tail, "mlpilot-events")
        else:
            for i in range(self.size):
                worker = Worker(self.service.settings, self.service.runner_factory,
                                self.stopping.is_set, self.service.listeners, idle=self._idle)
                self._workers.append(worker)
                self._spawn(worker.run, f"mlpilot-worker-{i}")
        # The supervisor starts the worker processes (in the background: the API answers
        # meanwhile) and lives as long as they do: a worker process is told to die with the
        # thread that started it (PR_SET_PDEATHSIG), so that it dies with a killed server.
        self._spawn(self._supervise, "mlpilot-supervisor")
        return orphans

    def stop(self, timeout: float = 10.0) -> None:
        """Stop taking jobs; running ones go back to the queue at their next epoch or event.
        Workers still busy after `timeout` are left behind (threads) or killed (processes):
        their jobs count as orphans and are queued again when the server starts again."""
        self.stopping.set()
        if self._stop_processes is not None:
            self._stop_processes.set()
        self.wake()
        deadline = time.monotonic() + timeout
        for process in self._processes:
            process.join(max(0.0, deadline - time.monotonic()))
            if process.is_alive():
                process.kill()
                process.join(5)
        if self._actors is not None:
            self._actors.stop(max(0.0, deadline - time.monotonic()))
            self._actors = None
        self._supervisor_done.set()
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        self._threads, self._workers, self._processes = [], [], []

    def wake(self) -> None:
        """Tell idle worker threads to look at the queue now (processes poll it)."""
        with self._wake:
            self._wake.notify_all()

    def cancel(self, job_id: str) -> None:
        """Stop a job now if a worker thread of this process drives it (worker processes
        see the store's cancel flag within half a second)."""
        for worker in self._workers:
            event = worker.active.get(job_id)
            if event is not None:
                event.set()

    # -- internals ------------------------------------------------------------------------

    def _spawn(self, target: Any, name: str) -> None:
        thread = threading.Thread(target=target, name=name, daemon=True)
        self._threads.append(thread)
        thread.start()

    def _idle(self, seconds: float) -> None:
        with self._wake:
            self._wake.wait(seconds)

    def _start_processes(self) -> None:
        prepare_shared_stores(self.service.settings)
        if self.stopping.is_set():
            return
        context = multiprocessing.get_context("spawn")  # no fork of a threaded server
        self._stop_processes = context.Event()
        threads = max(1, (os.cpu_count() or 1) // self.size)
        for i in range(self.size):
            process = context.Process(
                target=run_worker_process, name=f"mlpilot-worker-{i}", daemon=True,
                args=(self.service.settings, self.service.runner_factory, self._stop_processes,
                      threads))
            process.start()
            self._processes.append(process)

    def _start_actors(self) -> None:
        from mlpilot.agent.ray_cluster import RayJobWorkers  # lazy: only with a Ray address

        prepare_shared_stores(self.service.settings)
        if not self.stopping.is_set():
            self._actors = RayJobWorkers(self.service.settings, self.service.runner_factory,
                                         self.size)

    def _supervise(self) -> None:
        """Start the worker processes, then sweep until the pool has stopped them."""
        if self.mode == "process":
            self._start_processes()
        elif self.mode == "ray":
            self._start_actors()
        while not self._supervisor_done.wait(self.service.settings.worker_poll_s):
            if self.stopping.is_set():
                continue
            try:
                if self.store.requeue_decided(grace_s=DECISION_GRACE_S):
                    self.wake()
                for i, process in enumerate(self._processes):
                    if not process.is_alive() and not self.stopping.is_set():
                        logger.error("worker process %s died (exit code %s); starting another",
                                     process.pid, process.exitcode)
                        self._replace(i)
                for i in self._actors.dead() if self._actors is not None else []:
                    if not self.stopping.is_set():
                        self._replace(i)
                # last: a death seen above is counted there; this finds the jobs of a
                # holder on another node (or server) that stopped renewing its lease
                for job_id in self.store.requeue_expired():
                    self.store.add_event(job_id, "job", "its runner's lease ended; the run "
                                         "goes on from its last checkpoint", status="queued")
                    self.wake()
            except Exception:
                logger.exception("the sweeper failed; it goes on")

    def _replace(self, i: int) -> None:
        if self.mode == "ray":  # only the dead actor's jobs: the others may run elsewhere
            holder = self._actors.holder(i)
            orphans = self.store.requeue_held_by(holder[1], holder[0]) if holder else []
        else:
            orphans = self.store.requeue_orphans()
        for job_id in orphans:
            deaths = sum(1 for e in self.store.events(job_id) if e.data.get("worker_died"))
            if deaths >= MAX_WORKER_DEATHS - 1:  # it takes its worker down: stop retrying
                error = f"its worker process died {MAX_WORKER_DEATHS} times"
                self.store.update_job(job_id, status="failed", error=error)
                self.store.add_event(job_id, "job", f"run failed: {error}", status="failed")
                continue
            self.store.add_event(job_id, "job", "its worker process died; the run goes on "
                                 "from its last checkpoint", status="queued", worker_died=True)
        if self.mode == "ray":
            self._actors.replace(i)
            return
        context = multiprocessing.get_context("spawn")
        old = self._processes[i]
        process = context.Process(target=run_worker_process, name=old.name, daemon=True,
                                  args=(self.service.settings, self.service.runner_factory,
                                        self._stop_processes, 1))
        process.start()
        self._processes[i] = process

    def _tail(self) -> None:
        """Pass the events worker processes write to this process's listeners."""
        last = self.store.last_event_id()
        while not self.stopping.wait(TAIL_POLL_S):
            if not self.service.listeners:
                last = self.store.last_event_id()
                continue
            try:
                for event in self.store.events_after(last):
                    last = event.id
                    for listener in list(self.service.listeners):
                        try:
                            listener(event.job_id, {"stage": event.stage,
                                                    "message": event.message, **event.data})
                        except Exception:
                            logger.exception("progress listener failed")
            except Exception:
                logger.exception("could not read new events")


def prepare_shared_stores(settings: Any) -> None:
    """Create the MLflow and Optuna stores before several processes open them: their schema
    migrations are not safe to run from two processes at once on a fresh database."""
    import optuna

    from mlpilot.engine.tracking import Tracker

    try:
        Tracker(settings.tracking_uri, artifact_location=settings.artifact_location)
        optuna.storages.RDBStorage(settings.optuna_storage)
    except Exception:
        logger.exception("could not prepare the tracking stores")
