"""The REST API (FastAPI): jobs, approvals, models, knowledge; the app that `mlpilot serve` runs.

    app = create_app(Settings())            # workers start with the app (its lifespan)
    app.include_router(other_router)        # more routes (the web pages and Slack are mounted)

Every route but `GET /health` and `GET /ready` needs an API key (`interfaces/auth.py`; `/openapi.json` and
`/docs` are open with `MLPILOT_OPEN_DOCS`, `interfaces/docs.py`); errors are problem
details (`interfaces/problems.py`). Every response carries the security headers, and a
body is read only after its request showed a known key (`interfaces/security.py`).
The job service is `app.state.jobs` (`agent.jobs.JobService`), the settings
`app.state.settings`, the model registry `app.state.registry`, the deployments (what
answers predictions, the prediction log) `app.state.deployments`.
"""

from __future__ import annotations

import functools
import logging
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from importlib import metadata

from fastapi import FastAPI
from pydantic import BaseModel

from mlpilot.agent.jobs import JobService, RunnerFactory
from mlpilot.agent.settings import Settings
from mlpilot.agent.worker_pool import WorkerMode
from mlpilot.interfaces import docs, metrics, security, slack, web
from mlpilot.interfaces.fast_predict import FastPredict, predicted_model
from mlpilot.interfaces.problems import (
    BodyLimit,
    SingleQueryValues,
    document_problems,
    install_problem_handlers,
)
from mlpilot.interfaces.routes import approvals, deployments, jobs, knowledge, models

logger = logging.getLogger(__name__)
#: Room for the multipart framing around an uploaded file.
_MULTIPART_OVERHEAD = 64 * 1024


class Health(BaseModel):
    """The server is up; how many workers it runs and how many jobs wait for one."""

    status: str
    version: str
    workers: int
    queued: int


def create_app(settings: Settings | None = None, *, runner_factory: RunnerFactory | None = None,
               workers: int | None = None, worker_mode: WorkerMode | None = None,
               service: JobService | None = None) -> FastAPI:
    """The API app for one installation.

    Args:
        settings: the installation's settings (default: from the environment).
        runner_factory: builds the Runner each job is driven with (tests pass one with a
            scripted chat model; it must pickle for worker processes); default `Runner`.
        workers: job workers (default: `settings.workers`); 0 runs none.
        worker_mode: "process" or "thread" (default: `settings.worker_mode`).
        service: an existing job service to use instead of making one.
    """
    settings = settings or Settings()
    jobs_service = service or JobService(settings, runner_factory=runner_factory, workers=workers,
                                         worker_mode=worker_mode)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        security.scrub_access_log()  # here: uvicorn has configured its loggers by now
        stop_monitor = threading.Event()
        if settings.monitor_interval_s:
            from mlpilot.agent.drift_watch import watch_forever

            threading.Thread(target=watch_forever, name="drift-monitor", daemon=True, args=(
                app.state.deployments, settings.monitor_interval_s, stop_monitor)).start()
        requeued = jobs_service.start()
        if requeued:
            logger.warning("resuming %d run(s) a stopped server left running: %s",
                           len(requeued), ", ".join(requeued))
        if not settings.api_keys:
            logger.warning("no API keys are set (MLPILOT_API_KEYS): every request but "
                           "/health will be refused")
        try:
            yield
        finally:
            stop_monitor.set()
            jobs_service.stop()
            app.state.deployments.log.flush()  # the prediction log's queued rows

    app = FastAPI(title="mlpilot", version=_version(), lifespan=lifespan,
                  description="AutoML driven by agents: submit jobs, follow their progress, "
                  "answer approvals, predict with champion models.",
                  docs_url=None, redoc_url=None, openapi_url=None)  # docs.mount adds them
    app.state.settings = settings
    app.state.jobs = jobs_service
    app.state.registry = registry = models.Registry(settings)
    app.state.deployments = jobs_service.deployments = _deployments(settings, registry,
                                                                    jobs_service)
    app.state.metrics = metrics.ServingMetrics(jobs_service.store)
    install_problem_handlers(app)
    upload_limit = int(settings.max_upload_mb * 2**20) + _MULTIPART_OVERHEAD
    app.add_middleware(BodyLimit, max_bytes=settings.max_request_kb * 1024,
                       per_path={"/jobs/upload": upload_limit})
    app.add_middleware(SingleQueryValues)
    # Added last, run first: the key is checked before BodyLimit (or a route) reads a byte,
    # and every answer, a refusal too, carries the security headers.
    app.add_middleware(security.KeyBeforeBody, keys=lambda: app.state.settings.api_keys)
    app.add_middleware(security.SecurityHeaders)
    app.add_middleware(FastPredict, route=predicted_model)  # before all: the hot path

    @app.get("/health", response_model=Health, tags=["health"])
    async def health() -> Health:  # async: one indexed count, no thread hop
        """Liveness: no API key needed."""
        return Health(status="ok", version=_version(), workers=jobs_service.pool.size,
                      queued=jobs_service.store.count("queued"))

    @app.get("/ready", response_model=Health, tags=["health"],
             responses={503: {"description": "Not ready: the store cannot be read."}})
    def ready() -> Health:
        """Readiness: the store answers (no API key needed)."""
        return Health(status="ready", version=_version(), workers=jobs_service.pool.size,
                      queued=jobs_service.store.count("queued"))

    for module in (jobs, approvals, models, deployments, knowledge, metrics):
        app.include_router(module.router)
    docs.mount(app)  # /openapi.json and /docs: open, or behind a key (MLPILOT_OPEN_DOCS)
    web.mount(app)  # the pages under /ui (cookie sign-in with the same keys)
    slack.mount(app)  # /slack/events, when a Slack token and signing secret are set
    document_problems(app)
    return app


def _deployments(settings: Settings, registry: models.Registry, service: JobService):
    """The installation's deployments, on the app's registry and job store."""
    from mlpilot.agent.deployments import Deployments

    return Deployments(settings, server=lambda: registry.server, store=service.store)


@functools.cache
def _version() -> str:  # once: looking up package metadata reads the file system
    try:
        return metadata.version("mlpilot")
    except metadata.PackageNotFoundError:  # pragma: no cover - running from a checkout
        return "0"
