"""Experiment tracking and the model registry, on MLflow.

A `Tracker` records one job as a parent run and each tuning trial as a nested run with
its parameters and per-epoch metrics; it logs the final model as an MLflow pyfunc model
and registers it under a name with an alias ("champion").

Everything goes through an explicit `mlflow.MlflowClient` bound to one tracking URI, never
MLflow's global "active run" state, so several jobs (or threads) in one process cannot
write into each other's runs. Local by default: `local_tracking_uri(data_dir)` gives a
SQLite store with artifacts under `<data_dir>/mlartifacts`.

Side effects a crashed job may repeat are idempotent, keyed by job id: `start_job` reuses
the job's run and `register` returns the version already registered for the job.
"""

from __future__ import annotations

import logging
import tempfile
import threading
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

import mlflow
import mlflow.pyfunc
import numpy as np
import pandas as pd
from mlflow.entities import LoggedModelOutput, Metric, Param, RunStatus, RunTag
from mlflow.exceptions import MlflowException
from mlflow.models import Model
from mlflow.protos.databricks_pb2 import RESOURCE_ALREADY_EXISTS, ErrorCode

JOB_TAG = "mlpilot.job_id"
ROLE_TAG = "mlpilot.role"
PARENT_TAG = "mlflow.parentRunId"
#: Per-epoch metrics `log_epochs` records, with the epoch as the MLflow step.
EPOCH_METRICS = ("train_loss", "valid_loss", "valid_score", "learning_rate")

# MLflow's limits for one log_batch call and for one parameter value.
_MAX_METRICS_PER_BATCH = 1000
_MAX_PARAMS_PER_BATCH = 100
_MAX_PARAM_VALUE_CHARS = 6000
_ARTIFACT_KEY = "trained_model"
# The pyfunc model is saved "from code": this file names the wrapper class by import
# instead of pickling an instance.
_MODEL_CODE = (
    "import mlflow\n"
    "from mlpilot.engine.tracking import TrainedModelPyfunc\n"
    "mlflow.models.set_model(TrainedModelPyfunc())\n"
)
# Creating the registered model and a version is check-then-act; keep it atomic per process.
_REGISTRY_LOCK = threading.Lock()


def local_tracking_uri(data_dir: str | Path) -> str:
    """The SQLite tracking URI for a local data directory (`sqlite:////abs/dir/mlflow.db`)."""
    path = Path(data_dir).expanduser().resolve()
    path.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{path / 'mlflow.db'}"


def _default_artifact_location(tracking_uri: str) -> str | None:
    """`<dir of the SQLite file>/mlartifacts` for a local SQLite store, else MLflow's default."""
    if not tracking_uri.startswith("sqlite:///"):
        return None
    return (Path(tracking_uri[len("sqlite:///"):]).parent / "mlartifacts").resolve().as_uri()


def _pip_requirements() -> list[str]:
    """Pinned requirements for the logged model, given explicitly so MLflow does not infer them."""
    pins = []
    for package in ("mlflow", "torch", "numpy", "pandas", "scikit-learn", "cloudpickle"):
        try:
            pins.append(f"{package}=={metadata.version(package)}")
        except metadata.PackageNotFoundError:
            pins.append(package)
    return pins


def _flatten(params: Mapping[str, Any], prefix: str = "") -> dict[str, str]:
    """Nested dicts become dotted keys; values become strings within MLflow's length limit."""
    flat: dict[str, str] = {}
    for key, value in params.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat.update(_flatten(value, prefix=f"{name}."))
        else:
            flat[name] = str(value)[:_MAX_PARAM_VALUE_CHARS]
    return flat


def _chunks(items: list, size: int) -> Iterable[list]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


def _quote(value: str) -> str:
    """A value for an MLflow filter string; MLflow's filter grammar has no escape for quotes."""
    if "'" in value or '"' in value:
        raise ValueError(f"id {value!r} contains a quote character: use letters, digits, - or _")
    return f"'{value}'"


def _no_signature_note(record: logging.LogRecord) -> bool:
    """Log filter for MLflow's note that it cannot infer a signature: we log none on purpose,
    so serving accepts any frame the preprocessor accepts (extra or missing columns too)."""
    return "infer model signature" not in record.getMessage()


def _save_pyfunc(trained_model: Any, directory: Path, mlflow_model: Model) -> Path:
    """Write `trained_model` as a pyfunc model (saved from code, not pickled) under `directory`."""
    weights_dir = directory / _ARTIFACT_KEY
    trained_model.save(weights_dir)
    code_path = directory / "mlpilot_model.py"
    code_path.write_text(_MODEL_CODE)
    local_path = directory / "pyfunc"
    pyfunc_logger = logging.getLogger("mlflow.pyfunc")
    pyfunc_logger.addFilter(_no_signature_note)
    try:
        mlflow.pyfunc.save_model(
            str(local_path), python_model=str(code_path), mlflow_model=mlflow_model,
            artifacts={_ARTIFACT_KEY: str(weights_dir)}, pip_requirements=_pip_requirements(),
        )
    finally:
        pyfunc_logger.removeFilter(_no_signature_note)
    return local_path


class TrainedModelPyfunc(mlflow.pyfunc.PythonModel):
    """MLflow pyfunc wrapper: loads an `engine.predictor.TrainedModel` and predicts on a frame."""

    def load_context(self, context) -> None:
        """Load the saved TrainedModel from the model's artifacts."""
        from .predictor import TrainedModel  # torch-heavy; load only when serving

        self.trained_model = TrainedModel.load(Path(context.artifacts[_ARTIFACT_KEY]))

    def predict(self, context, model_input: pd.DataFrame, params=None) -> np.ndarray:
        """Predicted labels (classification) or values (regression) for a DataFrame."""
        return self.trained_model.predict(model_input)


@dataclass(frozen=True)
class ModelVersionInfo:
    """One registered model version: `models:/<name>@<alias>` loads it."""

    name: str
    version: str
    alias: str | None

    @property
    def uri(self) -> str:
        """The registry URI of this version (by alias when it has one)."""
        return f"models:/{self.name}@{self.alias}" if self.alias else f"models:/{self.name}/{self.version}"


@dataclass(frozen=True)
class RunSummary:
    """A job or trial run, as the CLI lists it."""

    run_id: str
    name: str
    role: str
    status: str
    parent_run_id: str | None
    start_time: int
    metrics: dict[str, float] = field(default_factory=dict)
    params: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class RegisteredModelSummary:
    """A registered model with its aliases (alias -> version) and latest version."""

    name: str
    latest_version: str | None
    aliases: dict[str, str]
    description: str


class Tracker:
    """Records jobs, trials, metrics and models in one MLflow experiment.

    Args:
        tracking_uri: MLflow tracking URI, e.g. `sqlite:////abs/path/mlflow.db`
            (see `local_tracking_uri`); the model registry uses the same store.
        experiment: Experiment name; created when missing.
        artifact_location: Where the experiment stores artifacts when it is created;
            defaults to `mlartifacts/` next to a SQLite database.
    """

    def __init__(
        self, tracking_uri: str, experiment: str = "mlpilot", artifact_location: str | None = None
    ) -> None:
        self.tracking_uri = tracking_uri
        self.client = mlflow.MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)
        self.experiment_id = self._experiment_id(
            experiment, artifact_location or _default_artifact_location(tracking_uri)
        )
        self._job_of_run: dict[str, str] = {}

    def _experiment_id(self, name: str, artifact_location: str | None) -> str:
        found = self.client.get_experiment_by_name(name)
        if found is not None:
            return found.experiment_id
        try:
            return self.client.create_experiment(name, artifact_location=artifact_location)
        except MlflowException as err:  # another process created it first
            if err.error_code != ErrorCode.Name(RESOURCE_ALREADY_EXISTS):
                raise
            return self.client.get_experiment_by_name(name).experiment_id

    # ----- job and trial runs -------------------------------------------------------------

    def start_job(self, job_id: str, params: Mapping[str, Any], tags: Mapping[str, Any]) -> str:
        """The parent run for a job, created once: a job that starts again reuses its run.

        Parameters already logged keep their first value (MLflow parameters are immutable);
        new ones are added. Returns the run id.
        """
        existing = self.client.search_runs(
            [self.experiment_id],
            filter_string=f"tags.`{JOB_TAG}` = {_quote(job_id)} and tags.`{ROLE_TAG}` = 'job'",
            order_by=["attributes.start_time ASC"],
            max_results=1,
        )
        all_tags = {**{k: str(v) for k, v in tags.items()}, JOB_TAG: job_id, ROLE_TAG: "job"}
        if existing:
            run = existing[0]
            run_id = run.info.run_id
            self.client.update_run(run_id, status="RUNNING")
            new_params = {k: v for k, v in _flatten(params).items() if k not in run.data.params}
            self._log_params_and_tags(run_id, new_params, all_tags)
        else:
            run_id = self.client.create_run(
                self.experiment_id, tags=all_tags, run_name=job_id
            ).info.run_id
            self._log_params_and_tags(run_id, _flatten(params), {})
        self._job_of_run[run_id] = job_id
        return run_id

    def finish_job(self, run_id: str, status: str = "FINISHED") -> None:
        """Mark the job's run FINISHED, FAILED or KILLED."""
        self.client.set_terminated(run_id, status=RunStatus.to_string(RunStatus.from_string(status)))

    def start_trial(self, parent_run_id: str, name: str, params: Mapping[str, Any]) -> str:
        """A nested run under the job's run for one tuning trial; returns its run id."""
        job_id = self._job_of_run.get(parent_run_id)
        if job_id is None:
            job_id = self.client.get_run(parent_run_id).data.tags.get(JOB_TAG, "")
            self._job_of_run[parent_run_id] = job_id
        tags = {PARENT_TAG: parent_run_id, JOB_TAG: job_id, ROLE_TAG: "trial"}
        run_id = self.client.create_run(self.experiment_id, tags=tags, run_name=name).info.run_id
        self._log_params_and_tags(run_id, _flatten(params), {})
        return run_id

    def end_trial(self, run_id: str, status: str = "FINISHED") -> None:
        """Mark a trial run FINISHED (complete), KILLED (pruned) or FAILED."""
        self.finish_job(run_id, status)

    def running_trials(self, parent_run_id: str) -> list[str]:
        """The ids of the nested runs under a job's run still marked RUNNING."""
        runs = self.client.search_runs(
            [self.experiment_id], filter_string=f"tags.`{PARENT_TAG}` = {_quote(parent_run_id)} "
            "and attributes.status = 'RUNNING'")
        return [run.info.run_id for run in runs]

    # ----- params, metrics, artifacts -----------------------------------------------------

    def log_params(self, run_id: str, params: Mapping[str, Any]) -> None:
        """Log parameters (nested dicts become dotted keys)."""
        self._log_params_and_tags(run_id, _flatten(params), {})

    def _log_params_and_tags(self, run_id: str, params: dict[str, str], tags: dict[str, str]) -> None:
        param_items = [Param(k, v) for k, v in params.items()]
        tag_items = [RunTag(k, v) for k, v in tags.items()]
        for chunk in _chunks(param_items, _MAX_PARAMS_PER_BATCH):
            self.client.log_batch(run_id, params=chunk)
        for chunk in _chunks(tag_items, _MAX_PARAMS_PER_BATCH):
            self.client.log_batch(run_id, tags=chunk)

    def log_metrics(self, run_id: str, metrics: Mapping[str, float], step: int = 0) -> None:
        """Log scalar metrics in one batch; None values are skipped."""
        now = int(time.time() * 1000)
        items = [Metric(k, float(v), now, step) for k, v in metrics.items() if v is not None]
        self._log_metric_items(run_id, items)

    def log_epochs(self, run_id: str, history: Iterable[Any]) -> None:
        """Log per-epoch `train_loss`, `valid_loss`, `valid_score` and `learning_rate`.

        `history` holds `engine.training.EpochResult`s (or dicts with the same keys); each
        metric is logged with `step=epoch`, all in as few `log_batch` calls as MLflow allows.
        """
        now = int(time.time() * 1000)
        rows = (epoch if isinstance(epoch, Mapping) else vars(epoch) for epoch in history)
        items = [Metric(key, float(row[key]), now, int(row["epoch"]))
                 for row in rows for key in EPOCH_METRICS if row.get(key) is not None]
        self._log_metric_items(run_id, items)

    def _log_metric_items(self, run_id: str, items: list[Metric]) -> None:
        for chunk in _chunks(items, _MAX_METRICS_PER_BATCH):
            self.client.log_batch(run_id, metrics=chunk)

    def log_artifact_dir(self, run_id: str, local_dir: str | Path, artifact_path: str | None = None) -> None:
        """Copy a local directory's files into the run's artifacts under `artifact_path`."""
        self.client.log_artifacts(run_id, str(local_dir), artifact_path)

    def log_model(self, run_id: str, trained_model: Any, name: str = "model") -> str:
        """Log an `engine.predictor.TrainedModel` as an MLflow pyfunc model of the run.

        Returns the model URI (`models:/<model_id>`) to pass to `register` or to
        `mlflow.pyfunc.load_model`. Uses the client only (no active run), with explicit
        pip requirements so MLflow does not spend seconds inferring them.
        """
        run = self.client.get_run(run_id)
        logged = self.client.create_logged_model(
            run.info.experiment_id, name=name, source_run_id=run_id, model_type="mlpilot"
        )
        mlflow_model = Model(artifact_path=logged.artifact_location, model_uuid=logged.model_id,
                             run_id=run_id, model_id=logged.model_id)
        try:
            with tempfile.TemporaryDirectory(prefix="mlpilot-model-") as tmp:
                local_path = _save_pyfunc(trained_model, Path(tmp), mlflow_model)
                self.client.log_model_artifacts(logged.model_id, str(local_path))
        except Exception:
            self.client.finalize_logged_model(logged.model_id, "FAILED")
            raise
        self.client.finalize_logged_model(logged.model_id, "READY")
        self.client.log_outputs(run_id, [LoggedModelOutput(logged.model_id, step=0)])
        return f"models:/{logged.model_id}"

    # ----- registry -----------------------------------------------------------------------

    def register(
        self, model_uri: str, name: str, job_id: str, alias: str | None = "champion"
    ) -> ModelVersionInfo:
        """Register a model version for a job, once: a repeat returns the existing version.

        The version is tagged `mlpilot.job_id`; `alias` (if given) is pointed at it.
        """
        with _REGISTRY_LOCK:
            found = self.client.search_model_versions(
                f"name = {_quote(name)} and tags.`{JOB_TAG}` = {_quote(job_id)}"
            )
            if found:
                version = found[0]
            else:
                try:
                    self.client.create_registered_model(name)
                except MlflowException as err:
                    if err.error_code != ErrorCode.Name(RESOURCE_ALREADY_EXISTS):
                        raise
                version = self._create_version(model_uri, name, job_id)
            if alias:
                self.client.set_registered_model_alias(name, alias, version.version)
        return ModelVersionInfo(name=name, version=str(version.version), alias=alias)

    def _create_version(self, model_uri: str, name: str, job_id: str):
        source, run_id, model_id = model_uri, None, None
        if model_uri.startswith("models:/") and "@" not in model_uri and model_uri.count("/") == 1:
            # A logged model: register its artifact location, with the run and model ids
            # given, because MLflow resolves `models:/<id>` sources through the *global*
            # tracking URI rather than this client's.
            model_id = model_uri[len("models:/"):]
            logged = self.client.get_logged_model(model_id)
            source, run_id = logged.artifact_location, logged.source_run_id
        return self.client.create_model_version(
            name, source=source, run_id=run_id, tags={JOB_TAG: job_id}, model_id=model_id
        )

    # ----- listings for the CLI ----------------------------------------------------------

    def runs_for_job(self, job_id: str) -> list[RunSummary]:
        """The job's run and its trial runs, oldest first."""
        runs = self.client.search_runs(
            [self.experiment_id],
            filter_string=f"tags.`{JOB_TAG}` = {_quote(job_id)}",
            order_by=["attributes.start_time ASC"],
            max_results=10_000,
        )
        return [
            RunSummary(
                run_id=run.info.run_id, name=run.info.run_name or "",
                role=run.data.tags.get(ROLE_TAG, ""), status=run.info.status,
                parent_run_id=run.data.tags.get(PARENT_TAG), start_time=run.info.start_time,
                metrics=dict(run.data.metrics), params=dict(run.data.params),
            )
            for run in runs
        ]

    def list_models(self) -> list[RegisteredModelSummary]:
        """All registered models in the registry, by name."""
        summaries = []
        for model in self.client.search_registered_models(order_by=["name ASC"]):
            latest = max((int(v.version) for v in model.latest_versions or []), default=None)
            summaries.append(RegisteredModelSummary(
                name=model.name, latest_version=None if latest is None else str(latest),
                aliases={k: str(v) for k, v in (model.aliases or {}).items()},
                description=model.description or "",
            ))
        return summaries
