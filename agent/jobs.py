"""The job service: what the server's surfaces (REST API, web pages, Slack) call to run
jobs and answer approvals.

    service = JobService(Settings())
    service.start()                                    # worker processes + sweeper
    job = service.submit(TaskRequest(request="predict species, 30s", data="penguins.csv"))
    service.wait(job.id)                               # or read service.events(job.id)
    service.approve(approval_id, by="alice")           # the job goes on in a worker

Submitting checks the request the way the CLI does (the data loads, the task is
understood: the same `DataError` / `RequestError`) and queues the job; workers
(`agent/worker_pool.py`, `agent/workers.py`) drive it with the `Runner`. Everything lives in the store (SQLite or PostgreSQL),
so a decision made from the CLI, or a server restart, is seen by everyone.
"""

from __future__ import annotations

import functools
import hashlib
import json
import threading
import time
from collections.abc import Callable, Iterable
from contextlib import ExitStack
from typing import TYPE_CHECKING, Any, NamedTuple, Protocol

from mlpilot.agent.checkpoints import open_checkpointer
from mlpilot.agent.context import ProgressSink
from mlpilot.agent.graph import build_graph
from mlpilot.agent.planning import check_request
from mlpilot.agent.report import result_document
from mlpilot.agent.runner import Runner
from mlpilot.agent.settings import Settings
from mlpilot.agent.state import TaskRequest
from mlpilot.agent.store import (
    END_STATUSES,
    Approval,
    Event,
    Job,
    Store,
    SubmissionKey,
    finite,
    read_json,
)
from mlpilot.agent.store.deployments import is_deployment_approval
from mlpilot.agent.submission import SubmissionError, check_submission
from mlpilot.agent.understanding import RequestError
from mlpilot.agent.worker_pool import WorkerMode, WorkerPool
from mlpilot.engine.config import TrainingConfig
from mlpilot.engine.data import DataError
from mlpilot.guardrails.data_roots import DataRoots
from mlpilot.guardrails.findings import Finding

if TYPE_CHECKING:
    from mlpilot.agent.deployments import Deployments

#: How many approval descriptions, and listings, a `JobService` keeps.
MAX_KEPT = 1024
#: Called with (job_id, event) for every event of every job this process drives.
EventListener = Callable[[str, dict[str, Any]], None]


class RunnerFactory(Protocol):
    """Builds the Runner a worker drives one job with (default: `Runner` itself)."""

    def __call__(self, settings: Settings, *, progress: ProgressSink | None = None,
                 training_callbacks: Iterable[Any] = ()) -> Runner: ...


class NeedsInput(ValueError):
    """The request does not say what to predict; `question` asks for it, `choices` are the
    answers to pick from (the columns). No job was made."""

    def __init__(self, question: str, choices: list[str] | None = None):
        super().__init__(question)
        self.question = question
        self.choices = list(choices) if choices else []


class Queued(NamedTuple):
    """A submitted job, its task, and whether it was queued by an earlier submission with
    the same idempotency key."""

    job: Job
    task: dict[str, Any]
    replayed: bool = False


def request_digest(request: TaskRequest, auto_approve: bool) -> str:
    """A digest that tells two submissions apart (the same fields give the same digest)."""
    text = json.dumps([request.model_dump(mode="json"), auto_approve], sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()


def _replayed(known: tuple[str, Job, dict[str, Any] | None], digest: str, key: str) -> Queued:
    first_digest, job, task = known
    if first_digest != digest:
        raise SubmissionError([Finding(
            check_id="idempotency_key_reused", severity="error", field="Idempotency-Key",
            message=f"key {key!r} was used for another submission (run {job.id})",
            hint="use a new Idempotency-Key for a new submission")])
    return Queued(job, task or {}, replayed=True)


class JobService:
    """Submit, watch, cancel and decide jobs of one installation; owns the worker pool."""

    def __init__(self, settings: Settings | None = None, *,
                 runner_factory: RunnerFactory | None = None, workers: int | None = None,
                 worker_mode: WorkerMode | None = None):
        self.settings = settings or Settings()
        self.settings.ensure_dirs()
        self.store = Store(self.settings.state_db)
        #: Jobs read data only inside these; what the service returns shows paths by label.
        self.data_roots = DataRoots(self.settings.data_root_folders(),
                                    state_dir=self.settings.data_dir)
        self.runner_factory: RunnerFactory = runner_factory or Runner
        self.listeners: list[EventListener] = []
        self.pool = WorkerPool(self, self.settings.workers if workers is None else workers,
                               worker_mode or self.settings.worker_mode)
        self._checker: Runner | None = None
        self._graph_lock = threading.Lock()
        self._graph: Any = None
        self._closing = ExitStack()  # the checkpointer's connection, until `stop`
        self._described: dict[tuple[Any, ...], dict[str, Any]] = {}
        self._listings: dict[tuple[Any, ...], tuple[tuple[Any, ...], bytes]] = {}
        self._deployments: Deployments | None = None

    # -- lifecycle ------------------------------------------------------------------------

    def start(self) -> list[str]:
        """Start the workers; jobs a dead server left running are queued again (their ids)."""
        return self.pool.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the workers; running jobs go back to the queue."""
        self.pool.stop(timeout)
        with self._graph_lock:
            self._graph = None
            self._closing.close()

    def on_event(self, listener: EventListener) -> None:
        """Call `listener(job_id, event)` for every progress event of jobs run here."""
        self.listeners.append(listener)

    # -- jobs -----------------------------------------------------------------------------

    def check(self, request: TaskRequest) -> dict[str, Any]:
        """The task the planner reads from a request; raises DataError / RequestError for
        bad input and NeedsInput when the target is unclear."""
        check_submission(request, self.settings)  # cheap checks before the data is read
        if self._checker is None:
            self._checker = self.runner_factory(self.settings)
        checked = check_request(self._checker.context, request)
        if "question" in checked:
            raise NeedsInput(checked["question"] or "which column should be predicted?",
                             checked.get("choices"))
        return checked["task"]

    def submit(self, request: TaskRequest, *, auto_approve: bool = False,
               by: str | None = None, options: dict[str, Any] | None = None
               ) -> tuple[Job, dict[str, Any]]:
        """Check the request, then queue a job for the workers; returns it and its task.

        Its data paths must lie inside the data roots (DataRootError, before any file is
        opened); error messages name files by label, not by their server path. `options`
        are kept with the job for its nodes (e.g. `deploy_as`: "canary")."""
        queued = self.submit_once(request, auto_approve=auto_approve, by=by, options=options)
        return queued.job, queued.task

    def submit_once(self, request: TaskRequest, *, auto_approve: bool = False,
                    by: str | None = None, key: str | None = None,
                    digest: str | None = None, options: dict[str, Any] | None = None) -> Queued:
        """`submit`, idempotent under `key` (a client's Idempotency-Key, scoped to `by`):
        the same key with the same submission gives the job it made the first time, with
        another submission a SubmissionError. `digest` identifies the submission (default:
        a hash of the request and auto_approve)."""
        request = self.confined(request)
        if key is None:
            return self._queue(request, auto_approve, by, None, options)
        digest = digest or request_digest(request, auto_approve)
        known = self.store.submitted(by or "", key)
        if known is not None:  # a retry: answer at once, without checking the data again
            return _replayed(known, digest, key)
        return self._queue(request, auto_approve, by, SubmissionKey(by or "", key, digest),
                           options)

    def _queue(self, request: TaskRequest, auto_approve: bool, by: str | None,
               key: SubmissionKey | None, extra: dict[str, Any] | None = None) -> Queued:
        try:
            task = self.check(request)
        except (DataError, RequestError, NeedsInput) as err:  # one line each
            err.args = (self.data_roots.redact(str(err)), *err.args[1:])
            raise
        options = {**(extra or {}), "auto_approve": auto_approve, "submitted_by": by}
        if key is None:
            job = self.store.create_job(request.model_dump(mode="json"), queued=True,
                                        options=options)
        else:
            job, new = self.store.create_job_once(request.model_dump(mode="json"), key,
                                                  task=task, options=options)
            if not new:  # a twin request with the same key queued it while we checked
                known = self.store.submitted(key.scope, key.key)
                return _replayed(known or (key.digest, job, task), key.digest, key.key)
        self.store.add_event(job.id, "job", f"queued by {by}" if by else "queued",
                             status="queued", target=task["target"], metric=task["metric"],
                             budget_s=task["budget_s"])
        self.pool.wake()
        return Queued(job, task)

    def confined(self, request: TaskRequest) -> TaskRequest:
        """`request` with its data and test data resolved inside the data roots."""
        paths = {key: self.data_roots.resolve(getattr(request, key), field=key)
                 for key in ("data", "test_data") if getattr(request, key) is not None}
        return request.model_copy(update=paths)

    def job(self, job_id: str) -> Job:
        """The job (StoreError if there is none), its paths shown by label."""
        return self._shown(self.store.job(job_id))

    def jobs(self, *, limit: int = 50, offset: int = 0, status: str | None = None) -> list[Job]:
        """Jobs, newest first."""
        return [self._shown(job, brief=True) for job in
                self.store.jobs(limit=limit, offset=offset, status=status)]

    def document_json(self, job_id: str) -> str:
        """`document` as JSON text; a stored document that is current (an ended job's, or
        one waiting for approval) is passed on as it was stored."""
        status, text = self.store.result_text(job_id)
        if text is not None and read_json(text).get("status") == status:  # not one from before
            return self.data_roots.redact_json(text)
        return json.dumps(finite(self.document(job_id)), default=str)

    def document(self, job_id: str) -> dict[str, Any]:
        """The job's public JSON document (`agent.report.result_document`), as it stands now:
        the final one once the job has ended, else built from its latest checkpoint."""
        job = self.store.job(job_id)
        if job.result is not None and job.result.get("status") == job.status:
            return self._redacted(job.result)
        values = self._checkpoint(job_id) or {"job_id": job.id, "request": job.request}
        pending = self.store.approvals(status="pending", job_id=job_id)
        return self._redacted(result_document(values, status=job.status, error=job.error,
                                              pending=pending))

    def cancel(self, job_id: str, *, by: str) -> Job:
        """Cancel a job: at once if queued or waiting, else at its next epoch or event.
        Conflict if it has already ended."""
        job = self.store.request_cancel(job_id, by=by)
        if job.status == "cancelled":
            self.store.add_event(job_id, "job", f"run cancelled by {by}", status="cancelled")
        else:
            self.store.add_event(job_id, "job", f"cancel requested by {by}", status=job.status)
            self.pool.cancel(job_id)
        return self._shown(job)

    def events(self, job_id: str, after: int = 0, limit: int = 1000) -> list[Event]:
        """The job's progress events after event id `after`, oldest first."""
        return [event.model_copy(update=self._redacted(
                    {"message": event.message, "data": event.data}))
                for event in self.store.events(job_id, after=after, limit=limit)]

    def wait(self, job_id: str, *, timeout: float = 600.0, poll_s: float = 0.2,
             until: Iterable[str] = END_STATUSES) -> Job:
        """Wait until the job's status is one of `until` (default: it has ended), or timeout."""
        wanted, deadline = set(until), time.monotonic() + timeout
        while True:
            job = self.store.job(job_id)
            if job.status in wanted or time.monotonic() >= deadline:
                return self._shown(job)
            time.sleep(poll_s)

    # -- approvals ------------------------------------------------------------------------

    def approvals(self, *, status: str | None = "pending", job_id: str | None = None
                  ) -> list[Approval]:
        """Approvals, pending ones by default, oldest first (expired ones count as decided)."""
        return self.store.approvals(status=status, job_id=job_id)

    def approvals_listing(self, render: Callable[[list[dict[str, Any]]], bytes], *,
                          status: str | None = "pending", job_id: str | None = None) -> bytes:
        """The approvals, described, made into one document by `render` (the API's JSON):
        kept while none of them is decided and none of their jobs changes, as the queue is
        listed far more often than it changes."""
        version = self.store.approvals_version(status=status, job_id=job_id)
        key = (render, status, job_id)
        kept = self._listings.get(key)
        if kept is None or kept[0] != version:
            if len(self._listings) >= MAX_KEPT:
                self._listings.clear()
            described = [self.describe(a) for a in self.approvals(status=status, job_id=job_id)]
            kept = self._listings[key] = (version, render(described))
        return kept[1]

    def approval(self, approval_id: str) -> Approval:
        """One approval (StoreError if there is none)."""
        return self.store.approval(approval_id)

    def decide(self, approval_id: str, approved: bool, *, by: str,
               reason: str | None = None) -> Approval:
        """Record a decision once (Conflict for a second one or an expired approval); the
        job then goes on in a worker."""
        approval = self.store.decide(approval_id, approved, by=by, reason=reason)
        self.store.add_event(approval.job_id, "approval",
                             f"{approval.action}: {approval.status} by {by}"
                             + (f" ({reason})" if reason else ""),
                             approval_id=approval.id, decision=approval.status)
        if is_deployment_approval(approval):  # no graph waits on it: carry it out here
            from mlpilot.agent.promotion import apply_decision  # lazy: MLflow

            apply_decision(self.deployments, approval)
            return approval
        if self.store.requeue_decided(approval.job_id):
            self.pool.wake()
        return approval

    def approve(self, approval_id: str, *, by: str, reason: str | None = None) -> Approval:
        """Approve a pending action."""
        return self.decide(approval_id, True, by=by, reason=reason)

    def reject(self, approval_id: str, *, by: str, reason: str) -> Approval:
        """Reject a pending action, with a reason for the audit log."""
        return self.decide(approval_id, False, by=by, reason=reason)

    def describe(self, approval: Approval) -> dict[str, Any]:
        """An approval as a person reviews it: what is asked, why the policy calls it risky,
        the config and how it differs from the defaults, and the estimated cost.

        Kept until the approval is decided or its job changes: the queue is listed (by
        pages, dashboards, the API) far more often than it changes."""
        key = (approval.id, approval.status, approval.decided_at,
               self.store.updated_at(approval.job_id))
        described = self._described.get(key)
        if described is None:
            if len(self._described) >= MAX_KEPT:
                self._described.clear()
            described = self._described[key] = self._describe(approval)
        return dict(described)

    @property
    def deployments(self) -> Deployments:
        """The deployments of this installation (made on first use; the API sets its own)."""
        if self._deployments is None:
            from mlpilot.agent.deployments import Deployments  # lazy: MLflow


            self._deployments = Deployments(self.settings, store=self.store)
        return self._deployments

    @deployments.setter
    def deployments(self, deployments: Deployments) -> None:
        self._deployments = deployments

    def _describe(self, approval: Approval) -> dict[str, Any]:
        if is_deployment_approval(approval):
            from mlpilot.agent.promotion import describe

            return describe(approval)
        payload = approval.payload
        job = self.store.job_brief(approval.job_id)
        config = payload.get("config") or job["config"]
        task = job["task"] or {}
        if approval.action == "train":
            what = (f"train for up to {payload.get('budget_s', 0):.0f} s to predict "
                    f"{payload.get('target')!r} ({payload.get('metric')})")
            cost = {"compute_s": payload.get("budget_s"), "effect": "CPU time on this server"}
        elif approval.action == "register_champion":
            metrics = payload.get("metrics") or {}
            scores = ", ".join(f"{k} {v:.4f}" for k, v in metrics.items())
            what = f"make this run's model the registry's champion ({scores or 'no scores'})"
            cost = {"compute_s": 0.0, "effect": "the current champion is replaced; "
                    "predictions change at once"}
        elif approval.action == "register_challenger":
            metrics = payload.get("metrics") or {}
            scores = ", ".join(f"{k} {v:.4f}" for k, v in metrics.items())
            what = (f"register this run's model as a canary challenger beside champion "
                    f"v{payload.get('champion')} ({scores or 'no scores'})")
            cost = {"compute_s": 0.0, "effect": f"it answers {payload.get('share', 0):.0%} "
                    "of ids; the champion answers the rest and stays champion until a "
                    "promotion is approved"}
        elif approval.action == "serve_feature_code":
            steps = payload.get("steps") or []
            what = (f"save {len(steps)} feature transform(s) with the model: "
                    + ", ".join(f"{s.get('name')} ({s.get('origin')})" for s in steps)
                    + "; their code runs in the sandbox at every prediction")
            cost = {"compute_s": 0.0, "effect": "the code below runs (sandboxed) on every "
                    "prediction of this model; rejected, the job trains without it"}
        else:
            what, cost = approval.action, {}
        code = payload.get("steps") if approval.action == "serve_feature_code" else None
        return {**approval.model_dump(), "what": what, "why": approval.reason, "code": code,
                "target": payload.get("target") or task.get("target"),
                "config": config, "config_diff": config_diff(config),
                "estimated_cost": cost, "request": job["request"].get("request")}

    # -- internals ------------------------------------------------------------------------

    def _shown(self, job: Job, *, brief: bool = False) -> Job:
        """`job` as callers see it: data paths by label, no absolute server paths. `brief`
        (listings) redacts only the result's request and top-level texts (report paths,
        error): walking whole documents of many jobs would slow listings down."""
        result = job.result
        if brief and result is not None:
            result = {**result, **self._redacted(
                {k: v for k, v in result.items() if k == "request" or isinstance(v, str)})}
        else:
            result = self._redacted(result)
        return job.model_copy(update={**self._redacted(
            {"request": job.request, "error": job.error}), "result": result})

    def _redacted(self, value: Any) -> Any:
        """`value` (JSON-like) with every absolute path under a root shown by label."""
        if isinstance(value, str):
            return self.data_roots.redact(value)
        if isinstance(value, dict):
            return {k: self._redacted(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self._redacted(v) for v in value]
        return value

    def _checkpoint(self, job_id: str) -> dict[str, Any]:
        """The job's latest checkpointed graph state (empty if it has not started)."""
        with self._graph_lock:
            if self._graph is None:  # the saver serialises use of its connection itself
                saver = self._closing.enter_context(open_checkpointer(self.settings))
                self._graph = build_graph(saver)
        return dict(self._graph.get_state({"configurable": {"thread_id": job_id}}).values)


def config_diff(config: dict[str, Any] | None) -> list[dict[str, Any]]:
    """Where a TrainingConfig differs from the defaults, as dotted fields."""
    default = _default_config()
    if not config or default is None:
        return []
    changes: list[dict[str, Any]] = []
    _diff(default, config, "", changes)
    return changes


@functools.cache
def _default_config() -> dict[str, Any] | None:
    """The default TrainingConfig as JSON (made once: every approval listed is diffed to it)."""
    try:
        return TrainingConfig().model_dump(mode="json")
    except Exception:  # noqa: BLE001 - a config model that needs arguments has no defaults
        return None


def _diff(old: Any, new: Any, prefix: str, out: list[dict[str, Any]]) -> None:
    if old == new:  # most sections are left at their defaults: skip them whole
        return
    if isinstance(old, dict) and isinstance(new, dict):
        for key in sorted(set(old) | set(new)):
            _diff(old.get(key), new.get(key), f"{prefix}{key}.", out)
    elif old != new:
        out.append({"field": prefix.rstrip("."), "default": old, "value": new})
