"""Runs jobs: starts a job's graph, parks it at approval gates, resumes it after a decision.

Any driver (CLI, REST, chat) goes through `Runner`. A job's graph state lives in the
checkpointer (`checkpoints.py`), its queue entry in `Store`, so a job that waits for approval
survives the process exiting and is resumed by whichever process records the decision.
Input errors discard a job started here entirely: no half-written run is left behind.
A job the server accepted (queued) is kept instead, as failed with the one-line error.

`proceed` drives a job from wherever its checkpoint stands: not started, stopped at a
gate, or cut off in the middle of a node when its process died (LangGraph then runs
that node again from its start).
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from langchain_core.language_models import BaseChatModel
from langgraph.types import Command
from pydantic import BaseModel

from mlpilot.agent.checkpoints import open_checkpointer
from mlpilot.agent.context import JobContext, ProgressSink
from mlpilot.agent.graph import build_graph
from mlpilot.agent.llm import build_chat_model
from mlpilot.agent.report import result_document
from mlpilot.agent.settings import Settings
from mlpilot.agent.state import TaskRequest
from mlpilot.agent.store import Approval, Store, StoreError
from mlpilot.agent.store.deployments import is_deployment_approval
from mlpilot.agent.submission import check_submission
from mlpilot.agent.understanding import RequestError
from mlpilot.engine.data import DataError
from mlpilot.engine.sql import database_unavailable

#: Errors in what the user gave us: the job is discarded and the message shown as is.
INPUT_ERRORS = (DataError, RequestError)
#: Marks "go on from the last checkpoint" (LangGraph's invoke with no input).
_CONTINUE = object()


#: A `JobInterrupted` status: another runner holds the job now (this one's lease ended);
#: the stopped runner writes nothing more to it.
TAKEN_OVER = "taken_over"


class JobInterrupted(Exception):
    """Raised from a progress sink or a training callback to stop a job cooperatively;
    the job ends with `status` ("cancelled"), or "queued" to be resumed later, or is left
    to its new runner (`TAKEN_OVER`)."""

    def __init__(self, message: str, status: str = "cancelled"):
        super().__init__(message)
        self.status = status


class JobOutcome(BaseModel):
    """Where a job stands after the runner has driven it as far as it can."""

    job_id: str
    status: str
    result: dict[str, Any]
    pending: list[Approval] = []


class Runner:
    """Drives job graphs for one installation (settings + data directory)."""

    def __init__(self, settings: Settings | None = None, *, chat_model: BaseChatModel | None = None,
                 progress: ProgressSink | None = None, training_callbacks: Sequence[Any] = ()):
        self.settings = settings or Settings()
        self.settings.ensure_dirs()
        self.store = Store(self.settings.state_db)
        model = chat_model if chat_model is not None else build_chat_model(self.settings)
        self.context = JobContext(settings=self.settings, chat_model=model, progress=progress,
                                  training_callbacks=tuple(training_callbacks))

    @contextmanager
    def graph(self) -> Iterator[Any]:
        """The compiled job graph on this installation's checkpointer."""
        with open_checkpointer(self.settings) as saver:
            yield build_graph(saver)

    def start(self, request: TaskRequest, *, auto_approve: bool = False, wait: bool = False,
              job_id: str | None = None) -> JobOutcome:
        """Start a job and drive it until it ends or waits for a human (or, with wait, until it ends)."""
        check_submission(request, self.settings)
        job = self.store.create_job(request.model_dump(mode="json"), job_id=job_id)
        return self._drive(job.id, _inputs(job.id, job.request, auto_approve), wait=wait)

    def proceed(self, job_id: str) -> JobOutcome:
        """Drive a job as far as it goes from its checkpoint: start a queued job, resume one
        whose approvals are decided, or go on with one whose process died mid-node."""
        job = self.store.job(job_id)
        with self.graph() as graph:
            snapshot = graph.get_state(_thread(job_id))
        if not snapshot.values:
            inputs = _inputs(job_id, job.request, bool(job.options.get("auto_approve")))
            return self._drive(job_id, inputs, wait=False, keep_on_input_error=True)
        if snapshot.interrupts:
            return self._drive(job_id, None, wait=False, keep_on_input_error=True)
        # `next` leaves out a task whose writes were saved: a process killed between a
        # node's writes and the checkpoint after them shows no `next` node, yet the graph
        # has not ended. Only a snapshot with no task at all is a finished graph.
        if snapshot.next or snapshot.tasks:
            return self._drive(job_id, _CONTINUE, wait=False, keep_on_input_error=True)
        return self._finish(job_id, snapshot.values)

    def resume(self, job_id: str, *, wait: bool = False) -> JobOutcome:
        """Continue a job whose pending approvals have been decided (or wait for them)."""
        with self.graph() as graph:
            snapshot = graph.get_state(_thread(job_id))
        if not snapshot.interrupts:
            job = self.store.job(job_id)
            return JobOutcome(job_id=job_id, status=job.status, result=job.result or {})
        return self._drive(job_id, None, wait=wait)

    def decide(self, approval_id: str, approved: bool, *, by: str, reason: str | None = None,
               resume: bool = True) -> tuple[Approval, JobOutcome | None]:
        """Record a decision, then resume the job here unless another live process is driving it."""
        approval = self.store.decide(approval_id, approved, by=by, reason=reason)
        if is_deployment_approval(approval):  # no graph waits on it: carry it out here
            from mlpilot.agent.deployments import Deployments  # lazy: MLflow
            from mlpilot.agent.promotion import apply_decision

            apply_decision(Deployments(self.settings, store=self.store), approval)
            return approval, None
        if not resume or self.store.runner_alive(approval.job_id):
            return approval, None
        return approval, self.resume(approval.job_id)

    # -- internals ------------------------------------------------------------------------

    def _drive(self, job_id: str, inputs: Any, *, wait: bool,
               keep_on_input_error: bool = False) -> JobOutcome:
        if not self.store.claim(job_id):
            raise StoreError(f"run {job_id} is being driven by another process; it will continue "
                             "there")
        try:
            with self.graph() as graph:
                return self._loop(graph, job_id, inputs, wait, keep_on_input_error)
        finally:
            self.store.release(job_id)

    def _loop(self, graph: Any, job_id: str, inputs: Any, wait: bool,
              keep_on_input_error: bool) -> JobOutcome:
        config = _thread(job_id)
        payload: Any = inputs
        while True:
            if payload is None:
                payload = self._answers(graph, job_id, wait)
                if payload is None:
                    return self._waiting(graph, job_id)
            self.store.update_job(job_id, status="running")
            try:
                graph.invoke(None if payload is _CONTINUE else payload, config,
                             context=self.context)
            except JobInterrupted as stop:
                if stop.status == TAKEN_OVER:  # the job's state is its new runner's now
                    return JobOutcome(job_id=job_id, status=TAKEN_OVER, result={})
                result = result_document(graph.get_state(config).values, status=stop.status,
                                         error=str(stop) if stop.status == "cancelled" else None)
                self.store.update_job(job_id, status=stop.status, result=result)
                return JobOutcome(job_id=job_id, status=stop.status, result=result)
            except INPUT_ERRORS as err:
                if keep_on_input_error:  # the job was accepted: it stays, as failed
                    self.store.update_job(job_id, status="failed", error=str(err), result=(
                        result_document(graph.get_state(config).values, status="failed",
                                        error=str(err))))
                    raise
                graph.checkpointer.delete_thread(job_id)
                self.store.delete_job(job_id)
                raise
            except Exception as err:
                if database_unavailable(err):  # a restart: the checkpoint is safe, go on later
                    self.store.update_job(job_id, status="queued")
                    return JobOutcome(job_id=job_id, status="queued", result={})
                self.store.update_job(job_id, status="failed", error=f"{type(err).__name__}: {err}",
                                      result=result_document(graph.get_state(config).values,
                                                             status="failed", error=str(err)))
                raise
            payload = None
            snapshot = graph.get_state(config)
            if snapshot.interrupts:
                for item in snapshot.interrupts:
                    value = item.value
                    self.store.request_approval(job_id, item.id, value["action"], value["reason"],
                                                value["payload"], ttl_s=self.settings.approval_ttl_s)
                continue
            return self._finish(job_id, snapshot.values)

    def _finish(self, job_id: str, values: dict[str, Any]) -> JobOutcome:
        """Record the end state of a job whose graph has finished."""
        status = values.get("status") or "succeeded"
        if status == "running":
            status = "succeeded"
        result = result_document(values, status=status)
        self.store.update_job(job_id, status=status, result=result)
        return JobOutcome(job_id=job_id, status=status, result=result)

    def _answers(self, graph: Any, job_id: str, wait: bool) -> Command | None:
        """The resume command once every open interrupt has a decision; None while any is pending."""
        interrupts = graph.get_state(_thread(job_id)).interrupts
        while True:
            decided = {}
            for item in interrupts:
                approval = self._approval_for(job_id, item.id)
                if approval.status == "pending":
                    break
                decided[item.id] = {
                    "approved": approval.status == "approved", "by": approval.decided_by,
                    "reason": approval.decision_reason, "approval_id": approval.id}
            else:
                return Command(resume=decided)
            if not wait:
                return None
            self.store.update_job(job_id, status="waiting_approval")
            time.sleep(self.settings.approval_poll_s)

    def _approval_for(self, job_id: str, interrupt_id: str) -> Approval:
        for approval in self.store.approvals(status=None, job_id=job_id):
            if approval.interrupt_id == interrupt_id:
                return approval
        raise StoreError(f"run {job_id} has no approval for interrupt {interrupt_id}")

    def _waiting(self, graph: Any, job_id: str) -> JobOutcome:
        pending = self.store.approvals(status="pending", job_id=job_id)
        values = graph.get_state(_thread(job_id)).values
        result = result_document(values, status="waiting_approval", pending=pending)
        self.store.update_job(job_id, status="waiting_approval", result=result)
        return JobOutcome(job_id=job_id, status="waiting_approval", result=result, pending=pending)


def _thread(job_id: str) -> dict[str, Any]:
    return {"configurable": {"thread_id": job_id}}


def _inputs(job_id: str, request: dict[str, Any], auto_approve: bool) -> dict[str, Any]:
    """The graph's input for a new job."""
    return {"job_id": job_id, "request": request, "auto_approve": auto_approve,
            "status": "running", "budget_used_s": 0.0}
