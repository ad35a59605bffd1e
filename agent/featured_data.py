"""The job's data and model folders once feature transforms are approved: the train,
tune and evaluate nodes read the transformed rows (`features/train.parquet`, written by
`agent/feature_engineer.py`), and each saved model gets the transforms beside it, so the
model applies them (in the sandbox) to the raw rows it is given at prediction time.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import pandas as pd

from mlpilot.agent.context import load_request_data, load_request_test_data
from mlpilot.agent.state import JobState, TaskRequest


def uses_features(state: JobState) -> bool:
    """Whether the job trains with approved feature transforms."""
    features = state.get("features") or {}
    return bool(features.get("approved"))


def job_frames(state: JobState, request: TaskRequest) -> tuple[pd.DataFrame, pd.DataFrame | None]:
    """The job's training data and test file: with the transforms' columns when approved."""
    if not uses_features(state):
        return load_request_data(request), load_request_test_data(request)
    features = state["features"]
    test = features.get("test_data")
    return _parquet(*_stamp(features["train_data"])).copy(), (
        _parquet(*_stamp(test)).copy() if test else None)


def model_home(folder: Path, state: JobState) -> Path:
    """Where training saves the model: `folder`, or its `model/` when the transforms will
    be saved beside it (`finish_model`)."""
    return folder / "model" if uses_features(state) else folder


def finish_model(folder: Path, state: JobState) -> str:
    """The folder a saved model is loaded from: with approved transforms, `folder` becomes
    a featured model's (the transforms and `model/`)."""
    if uses_features(state):
        from mlpilot.tools.features import serve_feature_code  # approved by approve_features

        serve_feature_code(folder, Path(state["features"]["dir"]))
    return str(folder)


def _stamp(path: str) -> tuple[str, float]:
    return path, Path(path).stat().st_mtime


@lru_cache(maxsize=4)
def _parquet(path: str, mtime: float) -> pd.DataFrame:
    return pd.read_parquet(path)
