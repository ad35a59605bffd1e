"""Two tiny registered versions of one model, for the deployment tests (trained in ~1 s)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from mlpilot.agent.settings import Settings
from mlpilot.engine.config import ModelConfig, TaskSpec, TrainingConfig
from mlpilot.engine.predictor import TrainedModel
from mlpilot.engine.preprocess import prepare_data
from mlpilot.engine.tracking import Tracker
from mlpilot.engine.training import fit

NAME = "people-label"


def table(n: int = 200, seed: int = 0, shift: float = 0.0) -> pd.DataFrame:
    """`height` mostly decides `label` (about 9 rows in 10: an exact rule would be a leak
    the critic drops); `city` is noise. `shift` moves heights (covariate drift)."""
    rng = np.random.default_rng(seed)
    height = (rng.normal(170, 10, n) + shift).round(1)
    frame = pd.DataFrame({"height": height, "age": rng.integers(18, 80, n).astype(float),
                          "city": rng.choice(["Oslo", "Lima", "Pune"], n)})
    frame["label"] = np.where(height + rng.normal(0, 4, n) > 170, "tall", "short")
    return frame


def train(seed: int, epochs: int = 3, inverted: bool = False) -> TrainedModel:
    """A small network on `table()` (`inverted`: taught the opposite labels, a bad model)."""
    task = TaskSpec(target="label", task_type="binary", metric="accuracy", budget_s=10)
    config = TrainingConfig(model=ModelConfig(hidden_sizes=[8]), batch_size=32,
                            max_epochs=epochs, seed=seed)
    frame = table()
    if inverted:
        frame["label"] = np.where(frame["label"] == "tall", "short", "tall")
    data = prepare_data(frame, task, config)
    return TrainedModel(task, config, data.preprocessor, fit(config, data, task).model)


def register(settings: Settings, models: list[TrainedModel], name: str = NAME) -> Tracker:
    """Register the models as versions 1, 2, ... of `name` (the first as champion)."""
    tracker = Tracker(settings.tracking_uri, artifact_location=Path(settings.artifact_dir).as_uri())
    for i, model in enumerate(models, start=1):
        run = tracker.start_job(f"run-{name}-{i}", {}, {})
        tracker.register(tracker.log_model(run, model), name, f"run-{name}-{i}",
                         alias="champion" if i == 1 else None)
    return tracker


def rows(frame: pd.DataFrame) -> list[dict]:
    """The frame's rows without the target, as JSON would send them."""
    return frame.drop(columns=["label"]).to_dict(orient="records")


def fresh_server(settings: Settings, name: str = NAME):
    """A model server on the settings' registry, with version 1 the champion again and no
    challenger alias (tests share one registry and move its aliases)."""
    from mlpilot.engine.serving import ModelServer

    server = ModelServer(Tracker(settings.tracking_uri,
                                 artifact_location=Path(settings.artifact_dir).as_uri()))
    server.set_alias(name, "champion", "1")
    server.drop_alias(name, "challenger")
    return server
