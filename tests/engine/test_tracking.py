"""Tracker: job and trial runs, epoch metrics, pyfunc models and idempotent registration."""

from __future__ import annotations

import importlib.util
import time

import mlflow
import numpy as np
import pandas as pd
import pytest
from mlflow import MlflowClient

from mlpilot.engine.tracking import JOB_TAG, Tracker, local_tracking_uri

HAS_PREDICTOR = importlib.util.find_spec("mlpilot.engine.predictor") is not None


@pytest.fixture
def tracker(tmp_path) -> Tracker:
    return Tracker(local_tracking_uri(tmp_path / "data"))


def _epochs(n: int) -> list[dict]:
    return [
        {"epoch": i, "train_loss": 1.0 / (i + 1), "valid_loss": 1.2 / (i + 1),
         "valid_score": 0.5 + i / (2 * n), "learning_rate": 1e-3}
        for i in range(n)
    ]


def test_job_with_two_trials_is_searchable_with_mlflow(tracker, tmp_path):
    parent = tracker.start_job("job-1", {"model": {"dropout": 0.1}, "batch_size": 64}, {"user": "ann"})
    for number in range(2):
        trial = tracker.start_trial(parent, f"trial-{number}", {"learning_rate": 10.0 ** -(number + 2)})
        tracker.log_epochs(trial, _epochs(5))
        tracker.log_metrics(trial, {"value": 0.8 + number / 10})
        tracker.end_trial(trial, "FINISHED" if number == 0 else "KILLED")
    tracker.finish_job(parent)

    client = MlflowClient(tracker.tracking_uri)
    experiment = client.get_experiment_by_name("mlpilot")
    assert experiment.artifact_location.endswith("data/mlartifacts")
    children = client.search_runs(
        [experiment.experiment_id], filter_string=f"tags.`mlflow.parentRunId` = '{parent}'",
        order_by=["attributes.start_time ASC"],
    )
    assert [run.info.run_name for run in children] == ["trial-0", "trial-1"]
    assert [run.info.status for run in children] == ["FINISHED", "KILLED"]
    assert children[1].data.params["learning_rate"] == "0.001"
    history = client.get_metric_history(children[0].info.run_id, "valid_score")
    assert sorted(m.step for m in history) == [0, 1, 2, 3, 4]
    job = client.get_run(parent)
    assert job.info.status == "FINISHED"
    assert job.data.params == {"model.dropout": "0.1", "batch_size": "64"}
    assert job.data.tags[JOB_TAG] == "job-1" and job.data.tags["user"] == "ann"

    summaries = tracker.runs_for_job("job-1")
    assert [s.role for s in summaries] == ["job", "trial", "trial"]
    assert summaries[1].parent_run_id == parent and summaries[1].metrics["value"] == 0.8


def test_start_job_again_reuses_the_run(tracker):
    first = tracker.start_job("job-2", {"a": 1}, {})
    again = tracker.start_job("job-2", {"a": 2, "b": 3}, {})
    assert again == first
    params = tracker.client.get_run(first).data.params
    assert params == {"a": "1", "b": "3"}  # first value kept, new key added
    assert tracker.start_job("job-3", {}, {}) != first


def test_log_epochs_splits_batches_over_mlflow_limit(tracker):
    trial = tracker.start_trial(tracker.start_job("job-4", {}, {}), "long", {})
    tracker.log_epochs(trial, _epochs(300))  # 1200 metrics > 1000 per log_batch
    assert len(tracker.client.get_metric_history(trial, "train_loss")) == 300


def test_quotes_in_ids_are_rejected_with_a_clear_message(tracker):
    with pytest.raises(ValueError, match="quote"):
        tracker.start_job("job'; drop", {}, {})


def _tiny_trained_model():
    from mlpilot.engine.config import TaskSpec, TrainingConfig
    from mlpilot.engine.models import build_model
    from mlpilot.engine.predictor import TrainedModel
    from mlpilot.engine.preprocess import prepare_data

    rng = np.random.default_rng(0)
    df = pd.DataFrame({
        "x1": rng.normal(size=60),
        "color": rng.choice(["red", "blue"], size=60),
        "label": rng.choice(["yes", "no"], size=60),
    })
    task = TaskSpec(target="label", task_type="binary", metric="accuracy", budget_s=10)
    config = TrainingConfig()
    data = prepare_data(df, task, config)
    model = build_model(config.model, data.n_features, data.n_outputs)
    return TrainedModel(task, config, data.preprocessor, model), df.drop(columns="label")


@pytest.mark.skipif(not HAS_PREDICTOR, reason="engine/predictor.py not written yet")
def test_registered_model_loads_by_alias_and_registration_is_idempotent(tracker):
    trained, frame = _tiny_trained_model()
    parent = tracker.start_job("job-5", {}, {})
    started = time.monotonic()
    uri = tracker.log_model(parent, trained)
    assert time.monotonic() - started < 3.0

    first = tracker.register(uri, "churn", "job-5")
    second = tracker.register(uri, "churn", "job-5")
    assert first == second and first.version == "1" and first.alias == "champion"
    versions = tracker.client.search_model_versions("name = 'churn'")
    assert len(versions) == 1
    assert str(tracker.client.get_model_version_by_alias("churn", "champion").version) == "1"
    assert tracker.list_models()[0].aliases == {"champion": "1"}

    mlflow.set_tracking_uri(tracker.tracking_uri)  # load_model resolves models:/ globally
    try:
        loaded = mlflow.pyfunc.load_model("models:/churn@champion")
    finally:
        mlflow.set_tracking_uri(None)
    predictions = np.asarray(loaded.predict(frame.head(5)))
    assert predictions.shape == (5,)
    assert set(predictions) <= {"yes", "no"}
    np.testing.assert_array_equal(predictions, trained.predict(frame.head(5)))


@pytest.mark.skipif(not HAS_PREDICTOR, reason="engine/predictor.py not written yet")
def test_a_second_job_gets_a_new_version(tracker):
    trained, _ = _tiny_trained_model()
    uris = [tracker.log_model(tracker.start_job(job, {}, {}), trained) for job in ("a", "b")]
    assert tracker.register(uris[0], "m", "a").version == "1"
    assert tracker.register(uris[1], "m", "b").version == "2"
    assert str(tracker.client.get_model_version_by_alias("m", "champion").version) == "2"
