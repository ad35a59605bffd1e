"""Serving registered models: predictions on raw rows from a model version in the registry.

`ModelServer` resolves a name (and alias, by default "champion") to a registered
version, loads that version's `TrainedModel` once and keeps it (a few versions, least
recently used out first), so a stream of predictions costs one load per version. When
the alias moves to a new version, the next prediction loads the new one.
"""

from __future__ import annotations

import tempfile
import threading
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

import mlflow
import numpy as np
import pandas as pd
from mlflow.exceptions import MlflowException

from .encoding import RawRows
from .input_schema import InputColumn, input_columns, rows_columns
from .predictor import TrainedModel
from .scores import scores_to_predictions
from .tracking import Tracker

#: Where the TrainedModel lives inside a pyfunc model logged by `Tracker.log_model`.
_TRAINED_MODEL_PATH = "artifacts/trained_model"


class ModelNotFound(LookupError):
    """No registered model (or no version with that alias) of that name."""


@dataclass(frozen=True)
class Prediction:
    """Predictions for some rows, and the model version that made them."""

    name: str
    version: str
    predictions: list[Any]
    probabilities: list[list[float]] | None
    classes: list[Any] | None


class ModelServer:
    """Loads registered model versions on demand and predicts with them.

    Args:
        tracker: the installation's tracker (its client reads the registry).
        capacity: how many loaded versions to keep in memory.
    """

    def __init__(self, tracker: Tracker, capacity: int = 8):
        self.tracker = tracker
        self.capacity = capacity
        self._loaded: OrderedDict[tuple[str, str], TrainedModel] = OrderedDict()
        self._columns: dict[tuple[str, str], list[InputColumn]] = {}
        self._lock = threading.Lock()
        self._loading: dict[tuple[str, str], threading.Lock] = {}

    def resolve(self, name: str, alias: str = "champion") -> str:
        """The version number the alias points at; ModelNotFound if none."""
        try:
            return str(self.tracker.client.get_model_version_by_alias(name, alias).version)
        except MlflowException:
            raise ModelNotFound(f"model {name!r} has no version with alias {alias!r}: "
                                "see GET /models") from None

    def model(self, name: str, version: str) -> TrainedModel:
        """The loaded model of one version (loaded on first use, then kept)."""
        key = (name, str(version))
        with self._lock:
            if key in self._loaded:
                self._loaded.move_to_end(key)
                return self._loaded[key]
            loading = self._loading.setdefault(key, threading.Lock())
        with loading:  # one load per version, even when many requests ask at once
            with self._lock:
                if key in self._loaded:
                    return self._loaded[key]
            model = self._load(name, str(version))
            columns = input_columns(model)  # once per load, not per request
            with self._lock:
                self._loaded[key] = model
                self._columns[key] = columns
                while len(self._loaded) > self.capacity:
                    self._columns.pop(self._loaded.popitem(last=False)[0], None)
                self._loading.pop(key, None)
        return model

    def columns(self, name: str, version: str) -> list[InputColumn]:
        """The raw columns a version reads (`input_schema.input_columns`), loading it first
        if needed."""
        found = self._columns.get((name, str(version)))
        if found is None:
            model = self.model(name, version)
            # (evicted again at once only with a tiny capacity: then read it directly)
            found = self._columns.get((name, str(version))) or input_columns(model)
        return found

    def loaded(self, name: str, version: str) -> bool:
        """Whether a version is in memory (a prediction with it loads nothing)."""
        with self._lock:
            return (name, str(version)) in self._loaded

    def predict(self, name: str, rows: list[dict[str, Any]], alias: str = "champion", *,
                allow_missing: bool = False) -> Prediction:
        """Predict on raw rows (column -> value) with the version the alias points at.

        Each row must carry every column the model reads, with values of the training
        data's types; a missing value is allowed only in columns where training had
        missing values, or everywhere with `allow_missing` (see `input_schema.rows_columns`).
        Extra columns are ignored. One prediction per row, in order; raises `RowError`.
        """
        return self.predict_version(name, self.resolve(name, alias), rows,
                                    allow_missing=allow_missing)

    def predict_version(self, name: str, version: str, rows: list[dict[str, Any]], *,
                        allow_missing: bool = False) -> Prediction:
        """`predict` with one version, named by its number."""
        checked = rows_columns(rows, self.columns(name, version), allow_missing=allow_missing)
        return self.predict_frame(name, version, checked)

    def predict_frame(self, name: str, version: str, frame: pd.DataFrame | RawRows
                      ) -> Prediction:
        """Predictions of one version for rows `input_schema.rows_columns` checked (or a
        frame of them), one per row."""
        model = self.model(name, version)
        # One pass: the labels are the scores' argmax (TrainedModel and EnsembleModel both
        # predict that way), so scoring twice for labels and probabilities would double it.
        scores = model.predict_scores(frame)
        predictions = scores_to_predictions(scores, model.classes)
        proba = scores if model.task.is_classification else None
        if len(predictions) != len(frame):  # the contract callers rely on: row i -> prediction i
            raise RuntimeError(f"{len(frame)} rows gave {len(predictions)} predictions")
        return Prediction(
            name=name, version=str(version), predictions=_plain(predictions),
            probabilities=None if proba is None else np.asarray(proba, dtype=float).round(6).tolist(),
            classes=None if model.classes is None else _plain(np.asarray(model.classes)))

    def versions(self, name: str) -> list[str]:
        """The model's registered version numbers, oldest first; ModelNotFound if none."""
        try:
            found = self.tracker.client.search_model_versions(f"name = '{_filter_text(name)}'")
        except MlflowException:
            found = []
        if not found:
            raise ModelNotFound(f"no registered model {name!r}: see GET /models")
        return sorted((str(v.version) for v in found), key=int)

    def set_alias(self, name: str, alias: str, version: str) -> None:
        """Point `alias` at a version in the registry."""
        self.tracker.client.set_registered_model_alias(name, alias, str(version))

    def drop_alias(self, name: str, alias: str) -> None:
        """Remove an alias (nothing happens if it is not set)."""
        try:
            self.tracker.client.delete_registered_model_alias(name, alias)
        except MlflowException:
            pass

    def _load(self, name: str, version: str) -> TrainedModel:
        try:
            source = self.tracker.client.get_model_version(name, version).source
        except MlflowException:
            raise ModelNotFound(f"model {name!r} has no version {version}") from None
        parsed = urlparse(source)
        if parsed.scheme in ("", "file"):
            return TrainedModel.load(Path(unquote(parsed.path)) / _TRAINED_MODEL_PATH)
        with tempfile.TemporaryDirectory(prefix="mlpilot-serve-") as tmp:
            local = mlflow.artifacts.download_artifacts(
                artifact_uri=f"{source.rstrip('/')}/{_TRAINED_MODEL_PATH}", dst_path=tmp,
                tracking_uri=self.tracker.tracking_uri)
            return TrainedModel.load(local)


def _filter_text(name: str) -> str:
    """A name inside MLflow's single-quoted filter strings (which have no escapes)."""
    if "'" in name:
        raise ModelNotFound(f"no registered model {name!r}: see GET /models")
    return name


def _plain(values: np.ndarray) -> list[Any]:
    """NumPy values as plain JSON-able Python values."""
    return [v.item() if isinstance(v, np.generic) else v for v in np.asarray(values).tolist()]
