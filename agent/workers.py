"""The server's job workers: threads that take queued jobs and drive them with `Runner`.

Each job a worker takes gets a progress log (its events go to the store, where the
SSE stream reads them) and a stop check, called at every progress event and after
every training epoch: a cancel request ends the job as "cancelled"; a server that
stops puts it back in the queue. A sweeper thread queues again the jobs whose
approvals were decided (or expired) elsewhere. On start, jobs left "running" by a
server that died are queued again and go on from their last checkpoint.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from mlpilot.agent.runner import INPUT_ERRORS, JobInterrupted
from mlpilot.agent.store import Job, Store, StoreError
from mlpilot.engine.training import Callback, EpochResult, TrainingRun

if TYPE_CHECKING:
    from mlpilot.agent.jobs import JobService

logger = logging.getLogger(__name__)

#: A decision made less than this long ago is left to the process that made it (the CLI
#: resumes a job itself right after deciding); after that a worker takes the job.
DECISION_GRACE_S = 2.0
#: The stop check reads the store's cancel flag at most this often.
CANCEL_POLL_S = 0.5
#: Stages whose events say how far training has got (the ETA counts from the first).
TRAINING_STAGES = ("train", "tune", "fault_doctor")
#: What a job takes after training (evaluate, register, report), for the ETA.
AFTER_TRAINING_S = 2.0


class StopCheck:
    """Raises `JobInterrupted` when the job was cancelled or the server is stopping."""

    def __init__(self, store: Store, job_id: str, cancelled: threading.Event,
                 stopping: threading.Event):
        self.store, self.job_id = store, job_id
        self.cancelled, self.stopping = cancelled, stopping
        self._next_poll = 0.0

    def __call__(self) -> None:
        """Check now (cheap: the store is read at most every CANCEL_POLL_S)."""
        if self.stopping.is_set():
            raise JobInterrupted("the server is stopping; the run goes on when it starts again",
                                 status="queued")
        now = time.monotonic()
        if not self.cancelled.is_set() and now >= self._next_poll:
            self._next_poll = now + CANCEL_POLL_S
            if self.store.cancel_requested(self.job_id):
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

    def __init__(self, store: Store, job: Job, check: StopCheck,
                 listeners: list[Callable[[str, dict[str, Any]], None]]):
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


class WorkerPool:
    """N threads driving queued jobs, and a sweeper that requeues decided ones."""

    def __init__(self, service: JobService, size: int):
        self.service, self.size = service, size
        self.store = service.store
        self.stopping = threading.Event()
        self._wake = threading.Condition()
        self._threads: list[threading.Thread] = []
        self._active: dict[str, threading.Event] = {}
        self._lock = threading.Lock()

    def start(self) -> list[str]:
        """Requeue jobs orphaned by a dead server, then start the threads; returns the
        ids of the jobs that were requeued."""
        if self.size <= 0 or self._threads:
            return []
        self.stopping.clear()
        orphans = self.store.requeue_orphans()
        for job_id in orphans:
            self.store.add_event(job_id, "job", "the server restarted; the run goes on from its "
                                 "last checkpoint", status="queued")
        for i in range(self.size):
            self._threads.append(threading.Thread(target=self._work, name=f"mlpilot-worker-{i}",
                                                  daemon=True))
        self._threads.append(threading.Thread(target=self._sweep, name="mlpilot-sweeper",
                                              daemon=True))
        for thread in self._threads:
            thread.start()
        return orphans

    def stop(self, timeout: float = 10.0) -> None:
        """Stop taking jobs; running ones go back to the queue at their next progress event.
        Threads still busy after `timeout` are left (daemons): their jobs count as orphans
        and are requeued when the server starts again."""
        self.stopping.set()
        self.wake()
        deadline = time.monotonic() + timeout
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        self._threads = []

    def wake(self) -> None:
        """Tell idle workers to look at the queue now."""
        with self._wake:
            self._wake.notify_all()

    def cancel(self, job_id: str) -> None:
        """Tell the worker driving this job (if it is in this process) to stop it."""
        with self._lock:
            event = self._active.get(job_id)
        if event is not None:
            event.set()

    def busy(self) -> list[str]:
        """Ids of the jobs workers of this process are driving now."""
        with self._lock:
            return list(self._active)

    # -- threads ------------------------------------------------------------------------

    def _work(self) -> None:
        while not self.stopping.is_set():
            try:
                job = self.store.take_queued()
            except Exception:
                logger.exception("could not take a job from the queue")
                job = None
            if job is None:
                with self._wake:
                    self._wake.wait(self.service.settings.worker_poll_s)
                continue
            self._drive(job)

    def _sweep(self) -> None:
        while not self.stopping.wait(self.service.settings.worker_poll_s):
            try:
                if self.store.requeue_decided(grace_s=DECISION_GRACE_S):
                    self.wake()
            except Exception:
                logger.exception("could not requeue decided jobs")

    def _drive(self, job: Job) -> None:
        cancelled = threading.Event()
        with self._lock:
            self._active[job.id] = cancelled
        check = StopCheck(self.store, job.id, cancelled, self.stopping)
        try:
            if job.cancel_requested:
                raise JobInterrupted("cancelled on request")
            started_before = any(e.data.get("status") == "running" for e in self.store.events(job.id))
            self.store.add_event(job.id, "job", "resumed" if started_before else "started",
                                 status="running")
            runner = self.service.runner_factory(
                self.service.settings,
                progress=ProgressLog(self.store, job, check, self.service.listeners),
                training_callbacks=[StopAtEpoch(check)])
            outcome = runner.proceed(job.id)
            status, message = outcome.status, f"run {outcome.status}"
        except JobInterrupted as stop:  # before the graph started
            self.store.update_job(job.id, status=stop.status)
            status, message = stop.status, str(stop)
        except INPUT_ERRORS as err:
            status, message = "failed", str(err)
        except StoreError as err:  # e.g. another process drives it now
            status, message = self.store.job(job.id).status, str(err)
        except Exception as err:
            logger.exception("run %s failed", job.id)
            if not self.store.job(job.id).ended:
                self.store.update_job(job.id, status="failed", error=f"{type(err).__name__}: {err}")
            status, message = "failed", f"{type(err).__name__}: {err}"
        finally:
            with self._lock:
                self._active.pop(job.id, None)
        if status == "cancelled":
            message = "run cancelled"
        elif status == "queued":
            message = "the server is stopping; the run goes on when it starts again"
        self.store.add_event(job.id, "job", message, status=status)
        for listener in self.service.listeners:
            try:
                listener(job.id, {"stage": "job", "message": message, "status": status})
            except Exception:
                logger.exception("progress listener failed")
