"""Jobs: submit (JSON, a YAML config, or an uploaded data file), list, get, cancel, and
a server-sent-events stream of progress that ends when the job ends."""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Annotated, Any, Literal

import anyio
from fastapi import APIRouter, File, Form, Header, Query, Request, Response, UploadFile
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, ConfigDict, Field

from mlpilot.agent.jobs import JobService, Queued
from mlpilot.agent.state import TaskRequest, TrainingOverrides
from mlpilot.agent.store import END_STATUSES, Job
from mlpilot.engine.data import DataError
from mlpilot.interfaces.auth import Operator, Viewer
from mlpilot.interfaces.job_config import build_request, parse_job_config
from mlpilot.interfaces.problems import problem_responses

router = APIRouter(prefix="/jobs", tags=["jobs"], responses=problem_responses(401, 403))
#: How often the event stream looks for new events, and sends a keep-alive comment.
EVENT_POLL_S, KEEPALIVE_S = 0.25, 15.0
#: The statuses a job can have (a listing of another is refused, not empty).
JobStatusName = Literal["queued", "running", "waiting_approval", "succeeded", "failed",
                        "rejected", "needs_input", "cancelled"]
#: Offsets and event ids are SQLite integers (64 bits).
MAX_INT64 = 2**63 - 1
#: An `Idempotency-Key` header: a retry with the same key and body gets the same job.
IdempotencyKey = Annotated[str | None, Header(
    min_length=1, max_length=255, pattern=r"^[\x21-\x7e]+$",
    description="Any unique string (e.g. a UUID), printable ASCII: a retry with the same key "
                "and the same body gets the job the first request made (the key is the "
                "caller's own); with another body, 422.")]


class JobSubmission(BaseModel):
    """A job as JSON: a request and a data path, or a YAML job config; fields win over both."""

    model_config = ConfigDict(extra="forbid")

    request: str = Field(default="", max_length=4000, description="The task in plain language.")
    data: str | None = Field(default=None, max_length=4096,
                             description="CSV or Parquet file inside the server's data roots: "
                             "'penguins.csv', 'datasets:penguins.csv' or an absolute path "
                             "inside a root; any other path is refused with 403.")
    test_data: str | None = Field(default=None, max_length=4096,
                                  description="Your own test file, inside the data roots too.")
    config: str | None = Field(default=None, max_length=100_000,
                               description="A YAML job, as `mlpilot run --config` reads it.")
    target: str | None = Field(default=None, max_length=500)
    metric: str | None = Field(default=None, max_length=50)
    budget: float | str | None = Field(default=None, description="Seconds, or e.g. '2 minutes'.")
    goal: float | None = None
    drop_columns: list[str] | None = None
    seed: int | None = None
    model_name: str | None = Field(default=None, max_length=200)
    training: TrainingOverrides | None = Field(
        default=None, description="Overrides merged into the generated TrainingConfig.")
    auto_approve: bool = Field(default=False, description="Pre-approve what the policy allows "
                               "(like `mlpilot run --yes`).")

    def task_request(self) -> TaskRequest:
        """The TaskRequest this submission describes (ConfigFileError / RequestError if none)."""
        fields = self.model_dump(exclude={"config", "auto_approve"}, exclude_none=True)
        if not fields.get("request"):
            fields.pop("request", None)
        if self.config is not None:
            return parse_job_config(self.config, base_dir=None, source="config", **fields)
        if self.data is None:
            from mlpilot.interfaces.job_config import ConfigFileError

            raise ConfigFileError("data: give a data file (CSV or Parquet, in the data roots), "
                                  "a YAML config, or upload a file to /jobs/upload")
        return build_request(fields)


class JobSummary(BaseModel):
    """One job in a listing."""

    run_id: str
    status: str = Field(description="queued, running, waiting_approval, succeeded, failed, "
                        "rejected, needs_input or cancelled.")
    created_at: float
    updated_at: float
    request: str | None = None
    target: str | None = None
    metric: str | None = None
    score: float | None = None
    model: str | None = None
    error: str | None = None


class Submitted(JobSummary):
    """A job the server accepted: queued, with the task the planner read from the request."""

    task: dict[str, Any]


def summary(job: Job) -> JobSummary:
    """A job's listing entry."""
    result = job.result or {}
    task = result.get("task") or {}
    metric = task.get("metric")
    model = result.get("model") or {}
    return JobSummary(run_id=job.id, status=job.status, created_at=job.created_at,
                      updated_at=job.updated_at, request=job.request.get("request"),
                      target=task.get("target") or job.request.get("target"), metric=metric,
                      score=(result.get("metrics") or {}).get(metric),
                      model=f"{model['name']} v{model['version']}" if model else None,
                      error=job.error)


def service(request: Request) -> JobService:
    """The app's job service."""
    return request.app.state.jobs


def _accepted(response: Response, queued: Queued) -> Submitted:
    response.headers["Location"] = f"/jobs/{queued.job.id}"
    if queued.replayed:
        response.headers["Idempotent-Replayed"] = "true"
    return Submitted(**summary(queued.job).model_dump(), task=queued.task)


@router.post("", status_code=202, response_model=Submitted,
             responses=problem_responses(409, 413, 422))
def submit_job(body: JobSubmission, request: Request, response: Response,
               caller: Operator, idempotency_key: IdempotencyKey = None) -> Submitted:
    """Check a job like the CLI does, then queue it; workers run it."""
    digest = hashlib.sha256(body.model_dump_json().encode()).hexdigest()
    return _accepted(response, service(request).submit_once(
        body.task_request(), auto_approve=body.auto_approve, by=caller.name,
        key=idempotency_key, digest=digest))


@router.post("/upload", status_code=202, response_model=Submitted,
             responses=problem_responses(413, 422))
def submit_upload(
    request: Request, response: Response, caller: Operator,
    file: Annotated[UploadFile, File(description="The data: a CSV or Parquet file.")],
    request_text: Annotated[str, Form(alias="request", max_length=4000)] = "",
    target: Annotated[str | None, Form(max_length=500)] = None,
    metric: Annotated[str | None, Form(max_length=50)] = None,
    budget: Annotated[str | None, Form(max_length=50)] = None,
    goal: Annotated[float | None, Form()] = None,
    model_name: Annotated[str | None, Form(max_length=200)] = None,
    auto_approve: Annotated[bool, Form()] = False,
    idempotency_key: IdempotencyKey = None,
) -> Submitted:
    """Upload a data file with the request; it is checked like a file given to the CLI."""
    jobs = service(request)
    folder = jobs.settings.upload_dir / uuid.uuid4().hex[:12]
    name = _safe_name(file.filename or "data.csv")
    folder.mkdir(parents=True)
    saved = folder / name
    try:
        digest = hashlib.sha256()
        with saved.open("wb") as out:
            while chunk := file.file.read(1 << 20):
                digest.update(chunk)
                out.write(chunk)
        fields = {"request": request_text or None, "data": saved, "target": target,
                  "metric": metric, "budget": budget, "goal": goal, "model_name": model_name}
        digest.update(json.dumps([name, {k: v for k, v in fields.items() if k != "data"},
                                  auto_approve], default=str).encode())
        task_request = build_request({k: v for k, v in fields.items() if v is not None})
        try:
            queued = jobs.submit_once(task_request, auto_approve=auto_approve, by=caller.name,
                                      key=idempotency_key, digest=digest.hexdigest())
        except DataError as err:  # name the user's file, not where the server keeps it
            raise DataError(str(err).replace(jobs.data_roots.display(saved), name)) from None
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    if queued.replayed:  # the first upload's copy is the job's data
        shutil.rmtree(folder, ignore_errors=True)
    return _accepted(response, queued)


@router.get("", response_model=list[JobSummary])
async def list_jobs(request: Request, caller: Viewer,  # async: indexed reads, no thread hop
                    status: Annotated[JobStatusName | None, Query()] = None,
                    limit: Annotated[int, Query(ge=1, le=500)] = 50,
                    offset: Annotated[int, Query(ge=0, le=MAX_INT64)] = 0) -> list[JobSummary]:
    """Jobs, newest first (of one status, when given)."""
    return [summary(j) for j in service(request).jobs(limit=limit, offset=offset, status=status)]


@router.get("/{run_id}", response_class=Response, responses={
    200: {"content": {"application/json": {"schema": {"type": "object"}}},
          "description": "The job's document (see the README's JSON output)."},
    **problem_responses(404)})
async def get_job(run_id: str, request: Request, caller: Viewer) -> Response:
    """The job's public JSON document (as `mlpilot run --json` prints it), as it stands now."""
    # Status polling is the hottest path: a few indexed reads (under a millisecond), done
    # here rather than in a thread, whose hand-over costs more while workers train.
    return Response(service(request).document_json(run_id), media_type="application/json")


@router.post("/{run_id}/cancel", response_model=JobSummary, responses=problem_responses(404, 409))
def cancel_job(run_id: str, request: Request, caller: Operator) -> JobSummary:
    """Cancel a job: at once if queued or waiting for approval, else at its next epoch."""
    return summary(service(request).cancel(run_id, by=caller.name))


@router.get("/{run_id}/events", response_class=StreamingResponse,
            responses={200: {"content": {"text/event-stream": {"schema": {"type": "string"}}},
                             "description": "Progress events, then an `end` event."},
                       **problem_responses(404)})
async def job_events(
    run_id: str, request: Request, caller: Viewer,
    after: Annotated[int, Query(ge=0, le=MAX_INT64,
                                description="Send events after this event id.")] = 0,
    last_event_id: Annotated[str | None, Header(max_length=20)] = None,
    stop_at_approval: Annotated[bool, Query(description="Also end the stream when the job "
                                            "waits for approval.")] = False,
) -> StreamingResponse:
    """Server-sent events: each progress event (`event: progress`, data: stage, message,
    and any of trial, epoch, metric, valid_score, value, eta_s, status) as it happens, then
    `event: end` with the job's status once it has ended (or waits, with stop_at_approval).
    Reconnecting with `Last-Event-ID` (or `after`) resumes after that event."""
    jobs = service(request)
    await anyio.to_thread.run_sync(jobs.job, run_id)  # 404 before the stream starts
    if last_event_id and re.fullmatch("[0-9]+", last_event_id):  # (not "²", which isdigit)
        after = max(after, min(int(last_event_id), MAX_INT64))
    stop = set(END_STATUSES) | ({"waiting_approval"} if stop_at_approval else set())
    return StreamingResponse(_stream(jobs, run_id, after, stop, request),
                             media_type="text/event-stream",
                             headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})


async def _stream(jobs: JobService, run_id: str, after: int, stop: set[str],
                  request: Request) -> AsyncIterator[str]:
    quiet, ended_seen = 0.0, False
    while True:
        job = await anyio.to_thread.run_sync(jobs.job, run_id)
        events = await anyio.to_thread.run_sync(jobs.events, run_id, after)
        for event in events:
            after = event.id
            data = {"id": event.id, "time": event.created_at, "stage": event.stage,
                    "message": event.message, **event.data}
            yield f"id: {event.id}\nevent: progress\ndata: {json.dumps(data, default=str)}\n\n"
        if events:
            quiet = 0.0
            continue
        if job.status in stop:
            if ended_seen:  # one more look: the worker logs its last event just after the end
                yield f"event: end\ndata: {json.dumps({'run_id': run_id, 'status': job.status})}\n\n"
                return
            ended_seen = True
        if await request.is_disconnected():
            return
        await anyio.sleep(EVENT_POLL_S)
        quiet += EVENT_POLL_S
        if quiet >= KEEPALIVE_S:
            quiet = 0.0
            yield ": keep-alive\n\n"


def _safe_name(filename: str) -> str:
    """A file name safe to keep on the server (no folders, no odd characters)."""
    name = re.sub(r"[^A-Za-z0-9._-]+", "_", Path(filename).name).strip("._")
    # cut, then strip again: a cut may end in a dot, which the data-roots rule refuses
    return name[:100].rstrip("._") or "data"
