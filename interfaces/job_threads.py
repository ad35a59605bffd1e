"""Jobs driven in background threads of this process, for the terminal chat.

The chat must keep talking while a job trains, so each job (and each resume after a
decision) runs `Runner` in a thread of its own. Progress events are kept per job and
passed on to a listener; waiting on a job is a condition variable, not a sleep loop.
"""

from __future__ import annotations

import threading
from collections import defaultdict
from collections.abc import Callable
from typing import Any

from mlpilot.agent.checkpoints import open_checkpointer
from mlpilot.agent.graph import build_graph
from mlpilot.agent.runner import INPUT_ERRORS, JobOutcome, Runner
from mlpilot.agent.settings import Settings
from mlpilot.agent.state import TaskRequest
from mlpilot.agent.store import Approval, Store, new_job_id
from mlpilot.agent.store.deployments import is_deployment_approval

#: Called with (job_id, event) for every progress event of every job.
EventListener = Callable[[str, dict[str, Any]], None]
#: Called with (job_id, outcome, error) when a job's thread stops.
StopListener = Callable[[str, JobOutcome | None, Exception | None], None]


class JobThreads:
    """Starts, resumes and watches jobs in background threads of this process."""

    def __init__(self, settings: Settings, *, on_event: EventListener | None = None,
                 on_stop: StopListener | None = None):
        self.settings = settings
        self.store = Store(settings.state_db)
        self.on_event, self.on_stop = on_event, on_stop
        self._events: dict[str, list[dict[str, Any]]] = defaultdict(list)
        self._running: set[str] = set()
        self._recheck: set[str] = set()  # decided while its thread was stopping
        self._errors: dict[str, Exception] = {}
        self._changed = threading.Condition()

    def start(self, request: TaskRequest, *, job_id: str | None = None) -> str:
        """Start a job (without pre-approval: it stops at the gates) and return its id."""
        job_id = job_id or new_job_id()
        with self._changed:
            self._spawn(job_id, lambda runner: runner.start(request, job_id=job_id))
        return job_id

    def decide(self, approval_id: str, approved: bool, *, by: str, reason: str | None) -> Approval:
        """Record a decision once; the job resumes in the background unless a process drives it."""
        approval = self.store.decide(approval_id, approved, by=by, reason=reason)
        if is_deployment_approval(approval):  # no graph waits on it: carry it out here
            from mlpilot.agent.deployments import Deployments  # lazy: MLflow
            from mlpilot.agent.promotion import apply_decision

            apply_decision(Deployments(self.settings, store=self.store), approval)
            return approval
        job_id = approval.job_id
        with self._changed:
            if job_id in self._running:
                self._recheck.add(job_id)  # its thread resumes it before stopping
            elif not self.store.runner_alive(job_id):
                self._spawn(job_id, lambda runner: runner.resume(job_id))
        return approval

    def busy(self, job_id: str) -> bool:
        """Whether a thread of this process is driving the job now."""
        with self._changed:
            return job_id in self._running

    def events(self, job_id: str) -> list[dict[str, Any]]:
        """The job's progress events seen by this process, oldest first."""
        with self._changed:
            return list(self._events.get(job_id, ()))

    def error(self, job_id: str) -> Exception | None:
        """The input error that discarded the job, if that is how it ended."""
        return self._errors.get(job_id)

    def wait(self, job_id: str, until: Callable[[], bool] | None = None,
             timeout: float = 600.0) -> bool:
        """Wait until `until()` holds (default: the job's thread has stopped); False on timeout."""
        done = until or (lambda: job_id not in self._running)
        with self._changed:
            return self._changed.wait_for(done, timeout=timeout)

    def decisions(self, job_id: str) -> list[dict[str, str]]:
        """The job's decision log so far (from its checkpoint, so a running job has one too)."""
        with open_checkpointer(self.settings) as saver:
            values = build_graph(saver).get_state({"configurable": {"thread_id": job_id}}).values
        return list(values.get("decisions") or [])

    # -- internals ------------------------------------------------------------------------

    def _spawn(self, job_id: str, work: Callable[[Runner], JobOutcome]) -> None:
        """Drive the job in a new thread; the caller holds the lock."""
        self._running.add(job_id)

        def drive() -> None:
            step = work
            while True:
                outcome, error = None, None
                try:
                    outcome = step(Runner(self.settings, progress=lambda e: self._event(job_id, e)))
                except INPUT_ERRORS as err:
                    self._errors[job_id] = error = err
                except Exception as err:  # noqa: BLE001 -- reported to the person; the job is marked failed
                    error = err
                if self.on_stop is not None:
                    self.on_stop(job_id, outcome, error)
                with self._changed:
                    if job_id in self._recheck and outcome is not None \
                            and outcome.status == "waiting_approval":
                        self._recheck.discard(job_id)
                        step = lambda runner: runner.resume(job_id)
                        continue
                    self._recheck.discard(job_id)
                    self._running.discard(job_id)
                    self._changed.notify_all()
                    return

        threading.Thread(target=drive, name=f"mlpilot-{job_id}", daemon=True).start()

    def _event(self, job_id: str, event: dict[str, Any]) -> None:
        with self._changed:
            self._events[job_id].append(event)
            self._changed.notify_all()
        if self.on_event is not None:
            self.on_event(job_id, event)
