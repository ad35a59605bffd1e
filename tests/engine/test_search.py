"""tune: Optuna search within a deadline, with pruning, failed trials, storage and tracking."""

from __future__ import annotations

import time

import numpy as np
import optuna
import pandas as pd
import pytest
import torch

from mlpilot.engine.config import ModelConfig, SearchConfig, SearchSpace, TaskSpec, TrainingConfig
from mlpilot.engine.preprocess import prepare_data
from mlpilot.engine.search import MIN_TRIAL_S, config_params, tune
from mlpilot.engine.tracking import Tracker, local_tracking_uri

optuna.logging.set_verbosity(optuna.logging.WARNING)

CLASSIFY = TaskSpec(target="y", task_type="binary", metric="accuracy", budget_s=30)
REGRESS = TaskSpec(target="y", task_type="regression", metric="rmse", budget_s=30)


def _classification_frame(n: int = 240) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(n, 5))
    signal = X[:, 0] + 0.5 * X[:, 1] ** 2 - X[:, 2] + 0.3 * rng.normal(size=n)
    df = pd.DataFrame(X, columns=[f"x{i}" for i in range(5)])
    df["y"] = np.where(signal > 0.5, "yes", "no")
    return df


def _config(max_trials: int = 50, **overrides) -> TrainingConfig:
    settings = {"max_epochs": 8, "early_stopping_patience": 3, "batch_size": 64,
                "model": ModelConfig(hidden_sizes=[32, 32]),
                "search": SearchConfig(max_trials=max_trials, space=SearchSpace(width=[16, 32]))}
    settings.update(overrides)
    return TrainingConfig(**settings)


@pytest.fixture(scope="module")
def classification():
    base = _config()
    return base, prepare_data(_classification_frame(), CLASSIFY, base)


def test_search_stops_at_the_deadline_and_beats_the_base_config(classification):
    base, data = classification
    base = base.model_copy(update={"search": base.search.model_copy(update={"max_trials": 10_000})})
    seen = []
    started = time.monotonic()
    result = tune(base, data, CLASSIFY, deadline=started + 6.0, enqueue=[base], on_trial=seen.append)
    elapsed = time.monotonic() - started
    assert 6.0 - 1.5 < elapsed < 6.0 + 2.0  # no trial starts in the last 0.5 s
    assert len(result.trials) >= 3 and seen == result.trials
    assert result.n_complete + result.n_pruned + result.n_failed == len(result.trials)
    base_trial = result.trials[0]
    assert base_trial.state == "complete"
    assert result.best_score >= base_trial.value
    # the winner's trained model comes back, no retraining needed
    best = next(t for t in result.trials if t.number == result.best_trial_number)
    assert best.value == result.best_score == result.best_fit.best_valid_score
    assert result.best_config.model.hidden_sizes == [best.params["width"]] * best.params["depth"]
    assert result.best_fit.model(torch.zeros(2, data.n_features)).shape == (2, 2)


def test_no_trial_starts_when_the_deadline_is_near(classification):
    base, data = classification
    result = tune(base, data, CLASSIFY, deadline=time.monotonic() + MIN_TRIAL_S / 2,
                  enqueue=[base])
    assert result.trials == [] and result.best_fit is None
    assert result.best_config == base and np.isnan(result.best_score)


def test_slow_learners_are_pruned(classification):
    _, data = classification
    space = SearchSpace(learning_rate=(1e-6, 1e-1), width=[16, 32])
    base = _config(max_trials=6, max_epochs=12, early_stopping_patience=12,
                   search=SearchConfig(max_trials=6, sampler="random", space=space))

    def variant(lr: float, width: int) -> TrainingConfig:
        return base.model_copy(update={
            "optimizer": base.optimizer.model_copy(update={"learning_rate": lr}),
            "model": base.model.model_copy(update={"hidden_sizes": [width, width]}),
        })

    fast = [variant(3e-2, 16), variant(3e-2, 32), variant(2e-2, 32)]
    slow = [variant(1e-6, 16), variant(1e-6, 32), variant(2e-6, 16)]
    result = tune(base, data, CLASSIFY, deadline=time.monotonic() + 20, enqueue=fast + slow)
    assert [t.state for t in result.trials] == ["complete"] * 3 + ["pruned"] * 3
    assert result.n_pruned == 3
    assert result.best_trial_number in {0, 1, 2}


def test_a_diverging_config_is_a_failed_trial_not_a_crash():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(200, 4))
    df = pd.DataFrame(X, columns=[f"x{i}" for i in range(4)])
    df["y"] = 1e6 * (X[:, 0] - X[:, 1]) + 1e5 * rng.normal(size=200)
    base = _config(max_trials=2, max_epochs=5)
    data = prepare_data(df, REGRESS, base)
    diverging = base.model_copy(update={"optimizer": base.optimizer.model_copy(
        update={"name": "sgd", "learning_rate": 10.0, "scheduler": "none"})})

    result = tune(base, data, REGRESS, deadline=time.monotonic() + 10, enqueue=[diverging, base])
    assert [t.state for t in result.trials] == ["failed", "complete"]
    assert result.trials[0].fault in {"nan_loss", "exploding_loss"}
    assert result.n_failed == 1 and result.best_trial_number == 1
    assert result.best_config.optimizer.name == "adamw"  # minimised rmse from the sane config


def test_sqlite_storage_keeps_the_study_for_a_later_call(classification, tmp_path):
    base, data = classification
    base = base.model_copy(update={"search": base.search.model_copy(update={"max_trials": 2})})
    storage = f"sqlite:///{tmp_path / 'optuna.db'}"
    tune(base, data, CLASSIFY, deadline=time.monotonic() + 10, storage=storage,
         study_name="job-7", enqueue=[base])
    study = optuna.load_study(study_name="job-7", storage=storage)
    assert len(study.trials) == 2
    assert study.trials[0].params == config_params(base, base.search.space)
    assert study.direction == optuna.study.StudyDirection.MAXIMIZE

    again = tune(base, data, CLASSIFY, deadline=time.monotonic() + 10, storage=storage,
                 study_name="job-7", enqueue=[base])
    assert [t.number for t in again.trials] == [2, 3]  # continues; base is not tried twice
    assert len(optuna.load_study(study_name="job-7", storage=storage).trials) == 4


def test_each_trial_is_a_nested_mlflow_run(classification, tmp_path):
    base, data = classification
    base = base.model_copy(update={"search": base.search.model_copy(update={"max_trials": 3})})
    tracker = Tracker(local_tracking_uri(tmp_path))
    parent = tracker.start_job("job-8", {}, {})
    result = tune(base, data, CLASSIFY, deadline=time.monotonic() + 15, enqueue=[base],
                  tracker=tracker, parent_run_id=parent)

    trials = [run for run in tracker.runs_for_job("job-8") if run.role == "trial"]
    assert len(trials) == 3 and {run.parent_run_id for run in trials} == {parent}
    status = {"complete": "FINISHED", "pruned": "KILLED", "failed": "FAILED"}
    for run, trial in zip(trials, result.trials, strict=True):
        assert run.name == f"trial-{trial.number}" and run.status == status[trial.state]
        assert run.params["optimizer.learning_rate"] == str(trial.params["learning_rate"])
        history = tracker.client.get_metric_history(run.run_id, "valid_score")
        assert len(history) >= 1 and min(m.step for m in history) == 1
    first = trials[0]
    assert first.metrics["value"] == result.trials[0].value
    artifacts = [a.path for a in tracker.client.list_artifacts(first.run_id, "trial_model")]
    assert {"trial_model/config.json", "trial_model/model.pt"} <= set(artifacts)  # a loadable model
