"""One model behind HTTP, no job workers: the app `mlpilot serve-model NAME` runs.

    app = create_model_app(Settings(), "churn")

`POST /predict` (and `POST /models/NAME/predict`, as on the full server) answers from the
model's deployment, which it reads from the shared store on each request, so a deploy,
promotion or rollback made elsewhere (the CLI, the full server) takes effect at once.
`POST /feedback` records true values, `GET /metrics` gives Prometheus' metrics. `GET /health` is liveness, `GET /ready` says 200
once the champion is loaded (503 before); both are open, the rest needs an API key with
the roles of the full server (`interfaces/auth.py`).
"""

from __future__ import annotations

import logging
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated, Literal

import anyio
from fastapi import FastAPI, Query, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from mlpilot.agent.deployments import Deployments
from mlpilot.agent.settings import Settings
from mlpilot.interfaces import metrics, security
from mlpilot.interfaces.auth import Operator
from mlpilot.interfaces.fast_predict import FastPredict
from mlpilot.interfaces.problems import (
    BodyLimit,
    SingleQueryValues,
    install_problem_handlers,
    problem_responses,
)
from mlpilot.interfaces.routes import deployments as deployment_routes
from mlpilot.interfaces.routes import models

logger = logging.getLogger(__name__)
#: The model `model_app_from_environment` serves (`mlpilot serve-model --workers N` sets it).
SERVED_MODEL_ENV = "MLPILOT_SERVED_MODEL"


class ModelHealth(BaseModel):
    """The model server's state: which model, and the version that answers."""

    status: Literal["ok", "ready", "loading"]
    model: str
    version: str | None


def create_model_app(settings: Settings, name: str) -> FastAPI:
    """The app serving one registered model (its deployment, else its champion alias)."""
    deployments = Deployments(settings)
    state = {"version": None}

    def load() -> None:
        version = deployments.champion(name)
        deployments.server.model(name, version)
        state["version"] = version

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        security.scrub_access_log()
        try:
            await anyio.to_thread.run_sync(load)
        except LookupError as err:  # no such model yet: /ready says 503 until one is deployed
            logger.warning("%s", err)
        try:
            yield
        finally:
            deployments.close()

    app = FastAPI(title=f"mlpilot model {name}", lifespan=lifespan, docs_url=None,
                  redoc_url=None, openapi_url=None)
    app.state.settings = settings
    app.state.deployments = deployments
    app.state.metrics = metrics.ServingMetrics()
    install_problem_handlers(app)
    app.add_middleware(BodyLimit, max_bytes=settings.max_request_kb * 1024)
    app.add_middleware(SingleQueryValues)
    app.add_middleware(security.KeyBeforeBody, keys=lambda: app.state.settings.api_keys)
    app.add_middleware(security.SecurityHeaders)
    paths = ("/predict", f"/models/{name}/predict")
    app.add_middleware(FastPredict, route=lambda path: name if path in paths else None)

    @app.get("/health", response_model=ModelHealth)
    async def health() -> ModelHealth:
        """Liveness: no API key needed."""
        return ModelHealth(status="ok", model=name, version=state["version"])

    @app.get("/ready", response_model=ModelHealth, responses={503: {"model": ModelHealth}})
    def ready() -> ModelHealth | JSONResponse:
        """Readiness: 200 once the version that answers now is loaded."""
        try:
            load()
        except LookupError:
            body = ModelHealth(status="loading", model=name, version=None)
            return JSONResponse(body.model_dump(), status_code=503)
        return ModelHealth(status="ready", model=name, version=state["version"])

    @app.post("/predict", response_model=models.PredictResponse,
              responses=problem_responses(401, 403, 404, 413, 422))
    async def predict(request: Request, response: Response, caller: Operator,
                      missing: Annotated[Literal["as_trained", "allow"] | None, Query()] = None,
                      id_column: Annotated[str | None, Query(max_length=200)] = None,
                      ) -> Response:
        """Predict with this model (the body as for `POST /models/{name}/predict`)."""
        return await models.predict(name, request, response, caller, missing, id_column)

    @app.post("/models/{model}/predict", response_model=models.PredictResponse,
              responses=problem_responses(401, 403, 404, 413, 422))
    async def predict_named(model: str, request: Request, response: Response, caller: Operator,
                            missing: Annotated[Literal["as_trained", "allow"] | None,
                                               Query()] = None,
                            id_column: Annotated[str | None, Query(max_length=200)] = None,
                            ) -> Response:
        """The full server's predict path, for this model only (404 for any other)."""
        if model != name:
            from mlpilot.engine.serving import ModelNotFound

            raise ModelNotFound(f"this server serves {name!r} only, not {model!r}")
        return await models.predict(name, request, response, caller, missing, id_column)

    app.include_router(metrics.router)
    app.add_api_route("/feedback", deployment_routes.feedback, methods=["POST"],
                      response_model=deployment_routes.FeedbackResponse,
                      responses=problem_responses(401, 403, 422))
    return app


def model_app_from_environment() -> FastAPI:
    """`create_model_app` for the model named in `MLPILOT_SERVED_MODEL`: the factory each
    worker process of `mlpilot serve-model --workers N` builds its app with."""
    name = os.environ.get(SERVED_MODEL_ENV)
    if not name:
        raise RuntimeError(f"{SERVED_MODEL_ENV} is not set: start the server with "
                           "`mlpilot serve-model NAME`")
    return create_model_app(Settings(), name)
