"""Models: the registry's models, their versions and metrics, and predictions with the champion."""

from __future__ import annotations

import threading
from typing import Annotated, Any, Literal

import anyio
from fastapi import APIRouter, Request
from fastapi import Path as PathParam
from fastapi.exceptions import RequestValidationError
from mlflow.exceptions import MlflowException
from pydantic import BaseModel, ConfigDict, Field

from mlpilot.agent.settings import Settings
from mlpilot.agent.store import StoreError
from mlpilot.engine.input_schema import RowError
from mlpilot.engine.serving import ModelNotFound, ModelServer
from mlpilot.engine.tracking import JOB_TAG, Tracker
from mlpilot.interfaces.auth import Operator, Viewer
from mlpilot.interfaces.problems import problem_responses

router = APIRouter(prefix="/models", tags=["models"], responses=problem_responses(401, 403))
Name = Annotated[str, PathParam(max_length=200)]
#: Most rows one prediction request may send.
MAX_ROWS = 10_000


class ModelSummary(BaseModel):
    """A registered model."""

    name: str
    latest_version: str | None
    champion: str | None = Field(description="The version the `champion` alias points at.")
    aliases: dict[str, str]
    description: str


class ModelVersion(BaseModel):
    """One registered version, with the scores of the run that made it."""

    name: str
    version: str
    aliases: list[str]
    run_id: str | None = Field(description="The mlpilot run that trained it.")
    mlflow_run_id: str | None
    created_at: float
    metrics: dict[str, float] | None = Field(description="Test scores of the run.")
    baseline_metrics: dict[str, float] | None
    validation_score: float | None
    goal_met: bool | None
    tracked_metrics: dict[str, float] = Field(description="Metrics on the run in MLflow.")


class PredictRequest(BaseModel):
    """Rows to predict: column -> value, as in the training data (the target may be left out).

    Every row carries every column the model was trained on. A value is null where it is
    unknown: allowed in the columns where the training data had missing values, and in
    every column with `"missing": "allow"`.
    """

    model_config = ConfigDict(extra="forbid")
    rows: list[dict[str, Any]] = Field(min_length=1, max_length=MAX_ROWS)
    missing: Literal["as_trained", "allow"] = Field(
        default="as_trained", description="`as_trained`: a missing value only in columns "
        "that had missing values in training; `allow`: in any column.")


class PredictResponse(BaseModel):
    """Predictions, one per row, and the model version that made them."""

    name: str
    version: str
    predictions: list[Any]
    probabilities: list[list[float]] | None = Field(
        description="Class probabilities per row, in `classes` order (classification).")
    classes: list[Any] | None


class Registry:
    """The installation's tracker and model server, made on first use (MLflow is slow to open)."""

    def __init__(self, settings: Settings):
        self.settings = settings
        self._lock = threading.Lock()
        self._server: ModelServer | None = None

    @property
    def empty(self) -> bool:
        """True while nothing was ever tracked here (no local MLflow store yet): nothing to
        list, and no reason to create the store just to say so."""
        return (self.settings.mlflow_tracking_uri is None and self.settings.database_url is None
                and not (self.settings.data_dir / "mlflow.db").exists())

    @property
    def server(self) -> ModelServer:
        """The model server (and its tracker)."""
        if self.empty:
            raise ModelNotFound("no model is registered yet: run a job first")
        with self._lock:
            if self._server is None:
                self._server = ModelServer(Tracker(
                    self.settings.tracking_uri, artifact_location=self.settings.artifact_location))
            return self._server

    @property
    def client(self):
        """The MLflow client bound to this installation's registry."""
        return self.server.tracker.client


def _registry(request: Request) -> Registry:
    return request.app.state.registry


@router.get("", response_model=list[ModelSummary])
def list_models(request: Request, caller: Viewer) -> list[ModelSummary]:
    """Registered models, by name."""
    if _registry(request).empty:
        return []
    summaries = _registry(request).server.tracker.list_models()
    return [ModelSummary(name=m.name, latest_version=m.latest_version,
                         champion=m.aliases.get("champion"), aliases=m.aliases,
                         description=m.description) for m in summaries]


@router.get("/{name}/versions", response_model=list[ModelVersion], responses=problem_responses(404))
def list_versions(name: Name, request: Request, caller: Viewer) -> list[ModelVersion]:
    """A model's versions, newest first, with the scores of the runs that made them."""
    client = _registry(request).client
    try:
        model = client.get_registered_model(name)
    except MlflowException:
        raise ModelNotFound(f"no registered model {name!r}: see GET /models") from None
    aliases = _aliases(model)
    versions = client.search_model_versions(f"name = '{_quoted(name)}'")
    found = [_version_view(request, v, aliases) for v in versions]
    return sorted(found, key=lambda v: int(v.version), reverse=True)


@router.get("/{name}/versions/{version}", response_model=ModelVersion,
            responses=problem_responses(404))
def get_version(name: Name, version: Annotated[str, PathParam(pattern=r"^[0-9]{1,9}$")],
                request: Request, caller: Viewer) -> ModelVersion:
    """One version and its metrics."""
    client = _registry(request).client
    try:
        found = client.get_model_version(name, version)
    except MlflowException:
        raise ModelNotFound(f"model {name!r} has no version {version}") from None
    return _version_view(request, found, _aliases(client.get_registered_model(name)))


@router.post("/{name}/predict", response_model=PredictResponse,
             responses=problem_responses(404, 413, 422))
async def predict(name: Name, body: PredictRequest, request: Request,
                  caller: Operator) -> PredictResponse:
    """Predict with the model's current champion (each version is loaded once, then kept).

    The rows are checked against the columns the model was trained on: an absent column,
    a value of the wrong type, or a missing value where training had none is a 422 whose
    `errors` name each row and column (`loc`: body, rows, row index, column). Every row
    gets exactly one prediction, in order.
    """
    server = _registry(request).server

    def run() -> PredictResponse:
        try:
            made = server.predict(name, body.rows, allow_missing=body.missing == "allow")
        except RowError as err:  # named like pydantic's errors: body.rows.<row>.<column>
            raise RequestValidationError([
                {"loc": ("body", "rows", p.row, p.column), "msg": p.message,
                 "type": "row_value"} for p in err.problems]) from None
        return PredictResponse(**made.__dict__)

    return await anyio.to_thread.run_sync(run)


def _aliases(model: Any) -> dict[str, list[str]]:
    """version -> its aliases, from a registered model."""
    found: dict[str, list[str]] = {}
    for alias, version in (model.aliases or {}).items():
        found.setdefault(str(version), []).append(alias)
    return found


def _version_view(request: Request, version: Any, aliases: dict[str, list[str]]) -> ModelVersion:
    job_id = (version.tags or {}).get(JOB_TAG)
    result: dict[str, Any] = {}
    if job_id:
        try:
            result = request.app.state.jobs.store.job(job_id).result or {}
        except StoreError:
            result = {}
    tracked: dict[str, float] = {}
    if version.run_id:
        try:
            tracked = dict(_registry(request).client.get_run(version.run_id).data.metrics)
        except MlflowException:
            tracked = {}
    return ModelVersion(
        name=version.name, version=str(version.version),
        aliases=sorted(aliases.get(str(version.version), [])),
        run_id=job_id, mlflow_run_id=version.run_id,
        created_at=(version.creation_timestamp or 0) / 1000.0, metrics=result.get("metrics"),
        baseline_metrics=result.get("baseline_metrics"),
        validation_score=result.get("validation_score"), goal_met=result.get("goal_met"),
        tracked_metrics=tracked)


def _quoted(name: str) -> str:
    """A name inside MLflow's single-quoted filter strings (which have no escapes)."""
    if "'" in name:
        raise ModelNotFound(f"no registered model {name!r}: see GET /models")
    return name
