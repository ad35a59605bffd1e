"""A job worker: takes queued jobs from the store and drives them with `Runner`, in a
thread of the server or in a worker process of its own (`agent/worker_pool.py` starts them).

Each job a worker takes gets a progress log (its events go to the store, where the SSE
stream reads them) and a stop check, called at every progress event and after every
training epoch: a cancel request ends the job as "cancelled"; a server that stops (or a
worker process whose server died) puts it back in the queue.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

from mlpilot.agent.runner import INPUT_ERRORS, TAKEN_OVER, JobInterrupted
from mlpilot.agent.settings import Settings
from mlpilot.agent.store import Job, Store, StoreError
from mlpilot.engine.sql import database_unavailable
from mlpilot.engine.training import Callback, EpochResult, TrainingRun

logger = logging.getLogger(__name__)

Listener = Callable[[str, dict[str, Any]], None]
#: Worker processes run at a lower CPU priority than the server, so that on a busy
#: machine API calls get a core first and training uses what is left.
WORKER_NICENESS = 10
#: The stop check reads the store's cancel flag at most this often.
CANCEL_POLL_S = 0.5
#: Stages whose events say how far training has got (the ETA counts from the first).
TRAINING_STAGES = ("train", "tune", "fault_doctor")
#: What a job takes after training (evaluate, register, report), for the ETA.
AFTER_TRAINING_S = 2.0


class StopCheck:
    """Raises `JobInterrupted` when the job was cancelled, the server is stopping, or
    another runner took the job over (this process's lease on it ended)."""

    def __init__(self, store: Store, job_id: str, cancelled: threading.Event,
                 stopping: Callable[[], bool]):
        self.store, self.job_id = store, job_id
        self.cancelled, self.stopping = cancelled, stopping
        self._next_poll = 0.0

    def __call__(self) -> None:
        """Check now (cheap: the store is read at most every CANCEL_POLL_S)."""
        if self.stopping():
            raise JobInterrupted("the server is stopping; the run goes on when it starts again",
                                 status="queued")
        now = time.monotonic()
        if not self.cancelled.is_set() and now >= self._next_poll:
            self._next_poll = now + CANCEL_POLL_S
            cancel, mine = self.store.runner_control(self.job_id)
            if not mine:
                raise JobInterrupted("another runner took this run over (this one's lease "
                                     "had ended); it goes on there", status=TAKEN_OVER)
            if cancel:
                self.cancelled.set()
        if self.cancelled.is_set():
            raise JobInterrupted("cancelled on request")


class StopAtEpoch(Callback):
    """Engine callback: runs the stop check after every epoch of every training run."""

    def __init__(self, check: StopCheck):
        self.check = check

    def on_epoch_end(self, run: TrainingRun, epoch: EpochResult) -> None:
        """Stop training here if the job was cancelled or the server is stopping."""
        self.check()


class ProgressLog:
    """A job's progress sink: stores each event (with the metric's name and an ETA while
    training), tells the listeners, then runs the stop check."""

    def __init__(self, store: Store, job: Job, check: StopCheck, listeners: list[Listener]):
        self.store, self.job_id, self.check, self.listeners = store, job.id, check, listeners
        self.budget_s: float | None = job.request.get("budget_s")
        self.metric: str | None = job.request.get("metric")
        self.training_started: float | None = None

    def __call__(self, event: dict[str, Any]) -> None:
        """Record one event from a node of the job's graph."""
        fields = {k: v for k, v in event.items() if k not in ("stage", "message")}
        stage = event["stage"]
        if stage == "approval" and self._already_decided(event["message"]):
            return  # the gate's node runs again on resume and says it waits once more
        self.budget_s = fields.get("budget_s", self.budget_s)
        self.metric = fields.get("metric", self.metric)
        if stage in TRAINING_STAGES:
            now = time.monotonic()
            self.training_started = self.training_started or now
            if self.metric:
                fields.setdefault("metric", self.metric)
            if self.budget_s:
                left = self.budget_s - (now - self.training_started)
                fields["eta_s"] = round(max(left, 0.0) + AFTER_TRAINING_S, 1)
        self.store.add_event(self.job_id, stage, event["message"], **fields)
        for listener in self.listeners:
            try:
                listener(self.job_id, {"stage": stage, "message": event["message"], **fields})
            except Exception:
                logger.exception("progress listener failed")
        self.check()

    def _already_decided(self, message: str) -> bool:
        """Whether a "waiting for approval: ACTION" line is about an approval already decided."""
        if not message.startswith("waiting for approval: "):
            return False
        action = message.removeprefix("waiting for approval: ").split(" ", 1)[0]
        return any(a.action == action and a.status != "pending"
                   for a in self.store.approvals(status=None, job_id=self.job_id))


class Worker:
    """Takes queued jobs one at a time and drives each with a fresh Runner.

    Args:
        settings: the installation's settings.
        runner_factory: builds the Runner for one job (`Runner` by default).
        stopping: says when to stop taking jobs (and to put a running one back in the queue).
        listeners: called with every progress event (in this process).
        idle: waits a little when the queue is empty (the pool wakes threads early).
    """

    def __init__(self, settings: Settings, runner_factory: Callable[..., Any],
                 stopping: Callable[[], bool], listeners: list[Listener] | None = None,
                 idle: Callable[[float], Any] = time.sleep):
        self.settings, self.runner_factory = settings, runner_factory
        self.stopping, self.listeners, self.idle = stopping, listeners or [], idle
        self.store = Store(settings.state_db)
        #: Jobs being driven now, with the event that cancels each (for in-process cancels).
        self.active: dict[str, threading.Event] = {}

    def run(self) -> None:
        """Drive queued jobs until told to stop."""
        while not self.stopping():
            try:
                job = self.store.take_queued()
            except Exception:
                logger.exception("could not take a job from the queue")
                job = None
            if job is None:
                self.idle(self.settings.worker_poll_s)
                continue
            self.drive(job)

    def drive(self, job: Job) -> str:
        """Drive one job (already taken from the queue) as far as it goes; returns its status."""
        cancelled = self.active[job.id] = threading.Event()
        check = StopCheck(self.store, job.id, cancelled, self.stopping)
        try:
            if job.cancel_requested:
                raise JobInterrupted("cancelled on request")
            started_before = any(e.data.get("status") == "running" for e in self.store.events(job.id))
            self.store.add_event(job.id, "job", "resumed" if started_before else "started",
                                 status="running", pid=os.getpid())
            runner = self.runner_factory(
                self.settings, progress=ProgressLog(self.store, job, check, self.listeners),
                training_callbacks=[StopAtEpoch(check)])
            outcome = runner.proceed(job.id)
            status, message = outcome.status, f"run {outcome.status}"
        except JobInterrupted as stop:  # before the graph started
            if stop.status != TAKEN_OVER:
                self.store.update_job(job.id, status=stop.status)
            status, message = stop.status, str(stop)
        except INPUT_ERRORS as err:
            status, message = "failed", str(err)
        except StoreError as err:  # e.g. another process drives it now
            status, message = self.store.job(job.id).status, str(err)
        except Exception as err:
            if database_unavailable(err):  # lost between nodes: the checkpoint is safe
                logger.warning("run %s: the database went away (%s); queued again", job.id, err)
                self.store.update_job(job.id, status="queued")
                status, message = "queued", "run queued"
            else:
                logger.exception("run %s failed", job.id)
                if not self.store.job(job.id).ended:
                    self.store.update_job(job.id, status="failed",
                                          error=f"{type(err).__name__}: {err}")
                status, message = "failed", f"{type(err).__name__}: {err}"
        finally:
            self.active.pop(job.id, None)
        if status == TAKEN_OVER:  # its events and status are its new runner's to write
            logger.warning("run %s: %s", job.id, "another runner took it over (this "
                           "process's lease had ended); stopped here")
            return status
        if status == "cancelled":
            message = "run cancelled"
        elif status == "queued" and message == "run queued":  # the runner put it back
            message = "the database went away; the run goes on from its last checkpoint"
        elif status == "queued":
            message = "the server is stopping; the run goes on when it starts again"
        self.store.add_event(job.id, "job", message, status=status)
        for listener in self.listeners:
            try:
                listener(job.id, {"stage": "job", "message": message, "status": status})
            except Exception:
                logger.exception("progress listener failed")
        return status


def run_worker_process(settings: Settings, runner_factory: Callable[..., Any], stop: Any,
                       torch_threads: int) -> None:
    """Entry point of a worker process: drive jobs until `stop` (a multiprocessing Event) is
    set or the server process dies (a running job then stays "running" under this process's
    id, which is dead by then, and the next server queues it again)."""
    parent = os.getppid()
    if sys.platform.startswith("linux"):  # die with the server, even when it is SIGKILLed
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    import torch

    torch.set_num_threads(torch_threads)
    os.nice(WORKER_NICENESS)  # training yields the CPU to the server's API calls
    logging.basicConfig(level=logging.WARNING)
    Worker(settings, runner_factory, lambda: stop.is_set() or os.getppid() != parent).run()
