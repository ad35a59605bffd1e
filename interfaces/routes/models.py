"""Models: the registry's models, their versions and metrics, and predictions with the champion."""

from __future__ import annotations

import threading
import time
import uuid
from typing import Annotated, Any, Literal

import anyio
import orjson
from fastapi import APIRouter, Query, Request, Response
from fastapi import Path as PathParam
from fastapi.exceptions import RequestValidationError
from mlflow.exceptions import MlflowException
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from mlpilot.agent.batch_scoring import SchemaError, table_from_bytes, table_rows
from mlpilot.agent.deployments import Deployments, NotLoaded
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
#: A JSON body up to this size is predicted on the event loop itself when its versions are
#: loaded: a few rows take well under a millisecond, less than handing them to a worker
#: thread and back, and worker threads contending for the GIL add whole switch intervals
#: (5 ms) to the latency under concurrent load. Larger bodies, tables and first loads go
#: to a thread, so the loop never waits on them.
INLINE_MAX_BYTES = 16 * 1024


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
    ids: list[Annotated[str, Field(max_length=200)]] | None = Field(
        default=None, max_length=MAX_ROWS, description="One entity id per row (e.g. a "
        "customer id): canary routing and feedback use it; default: the request id.")

    @model_validator(mode="after")
    def _one_id_per_row(self) -> PredictRequest:
        if self.ids is not None and len(self.ids) != len(self.rows):
            raise ValueError(f"{len(self.ids)} ids for {len(self.rows)} rows: send one id per row")
        return self


#: The JSON body documented (a CSV or Parquet body is read by content type).
_PREDICT_BODY = {"requestBody": {"required": True, "content": {"application/json": {
    "schema": PredictRequest.model_json_schema()}}}}


class PredictResponse(BaseModel):
    """Predictions, one per row, and the model version that made them."""

    name: str
    version: str = Field(description="The version that answered (several, comma-separated, "
                         "when a canary answered some rows).")
    versions: list[str] = Field(description="The version that answered each row.")
    request_id: str
    ids: list[str] = Field(description="Each row's prediction id: send feedback with it.")
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
             responses=problem_responses(404, 413, 422), openapi_extra=_PREDICT_BODY)
async def predict(name: Name, request: Request, response: Response, caller: Operator,
                  missing: Annotated[Literal["as_trained", "allow"] | None, Query(
                      description="For a CSV or Parquet body: as `missing` in JSON.")] = None,
                  id_column: Annotated[str | None, Query(
                      max_length=200, description="For a CSV or Parquet body: the column "
                      "holding each row's entity id (canary routing, feedback).")] = None,
                  ) -> Response:
    """Predict with the model's deployment: its champion, or a canary challenger for its
    share of ids (a shadow challenger scores too, and is logged, not returned).

    The body is JSON (`rows`), or a table: `Content-Type: text/csv` or
    `application/vnd.apache.parquet`. Rows are checked against the columns the model was
    trained on: an absent column, a value of the wrong type, or a missing value where
    training had none is a 422 whose `errors` name each row and column (`loc`: body, rows,
    row index, column). Every row gets exactly one prediction, in order, and a line in the
    prediction log. The answer's `X-Model-Version` header names the version(s) that
    answered, `X-Request-Id` the request (send one to choose it).
    """
    deployments: Deployments = request.app.state.deployments
    kind = table_kind(request.headers.get("content-type"))
    raw = await request.body()
    request_id = request_id_of(request.headers.get("x-request-id"))

    def run(load: bool = True) -> dict[str, Any]:
        if kind is None:
            body = _json_body(raw)
            rows, ids, allow = body.rows, body.ids, body.missing == "allow"
        else:
            try:
                rows, ids = table_rows(deployments, name, table_from_bytes(raw, kind), id_column)
            except SchemaError as err:
                raise RequestValidationError([{"loc": _problem_loc(p), "msg": p,
                                               "type": "table_schema"} for p in err.problems]
                                             ) from None
            if not rows or len(rows) > MAX_ROWS:
                raise RequestValidationError([{"loc": ("body",), "type": "table_rows",
                                               "msg": f"send 1 to {MAX_ROWS} rows"}])
            allow = missing == "allow"
        try:
            made = deployments.predict(name, rows, request_id=request_id, entity_ids=ids,
                                       allow_missing=allow, load=load)
        except RowError as err:  # named like pydantic's errors: body.rows.<row>.<column>
            raise RequestValidationError([
                {"loc": ("body", "rows", p.row, p.column), "msg": p.message,
                 "type": "row_value"} for p in err.problems]) from None
        return {"name": made.name, "version": made.version, "versions": made.versions,
                "request_id": made.request_id, "ids": made.ids,
                "predictions": made.predictions, "probabilities": made.probabilities,
                "classes": made.classes}  # a PredictResponse

    counters = getattr(request.app.state, "metrics", None)
    started = time.perf_counter()
    try:
        made = None
        if kind is None and len(raw) <= INLINE_MAX_BYTES:
            try:
                made = run(load=False)
            except NotLoaded:
                pass
        if made is None:
            made = await anyio.to_thread.run_sync(run)
    except (RequestValidationError, ModelNotFound):
        if counters is not None:
            counters.refused(name)
        raise
    if counters is not None:
        counters.predicted(name, made["versions"], time.perf_counter() - started)
    # orjson straight to bytes: FastAPI's validation and encoding of the response model
    # cost more than the prediction for a large batch (the model documents the shape)
    return Response(orjson.dumps(made, option=orjson.OPT_SERIALIZE_NUMPY),
                    media_type="application/json",
                    headers={"X-Model-Version": made["version"],
                             "X-Request-Id": made["request_id"]})


def table_kind(content_type: str | None) -> str | None:
    """"csv" or "parquet" for a table body, None for JSON."""
    media = (content_type or "").split(";")[0].strip().lower()
    if media in ("text/csv", "application/csv"):
        return "csv"
    if media in ("application/vnd.apache.parquet", "application/x-parquet"):
        return "parquet"
    return None


def _problem_loc(problem: str) -> tuple[str, ...]:
    """Where a table's problem is: ("body", column) for a column's, else ("body",)."""
    if problem.startswith("column '"):
        return ("body", problem.split("'")[1])
    return ("body",)


def _json_body(raw: bytes) -> PredictRequest:
    try:
        return PredictRequest.model_validate_json(raw or b"null")
    except ValidationError as err:
        raise RequestValidationError([{**e, "loc": ("body", *e["loc"])}
                                      for e in err.errors(include_url=False)]) from None


def request_id_of(given: str | None) -> str:
    """The caller's request id when it is a short plain token, else a new one."""
    if given and len(given) <= 100 and all(c.isalnum() or c in "-_.:" for c in given):
        return given
    return uuid.uuid4().hex


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
