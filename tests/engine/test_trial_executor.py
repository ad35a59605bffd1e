"""Trials trained elsewhere, several at once: the median rule a trial on Ray is pruned by
(the local MedianPruner's, carried along), the study's storage under parallel trial
threads, and a resumed study's trials that a dead process left running."""

from __future__ import annotations

import threading
import time

import numpy as np
import optuna
import pandas as pd
import pytest

from mlpilot.engine.config import TaskSpec, TrainingConfig
from mlpilot.engine.preprocess import prepare_data
from mlpilot.engine.search import _serial_pops, tune
from mlpilot.engine.tracking import Tracker, local_tracking_uri
from mlpilot.engine.training import EpochResult
from mlpilot.engine.trial_executor import MedianStop, median_stop


def _study(curves: list[list[float]], direction: str = "maximize") -> optuna.Study:
    study = optuna.create_study(direction=direction, pruner=optuna.pruners.MedianPruner(
        n_startup_trials=3, n_warmup_steps=2, n_min_trials=3))
    for curve in curves:
        trial = study.ask()
        for step, value in enumerate(curve, start=1):
            trial.report(value, step)
        study.tell(trial, max(curve) if direction == "maximize" else min(curve))
    return study


class _Run:
    def __init__(self, scores: list[float]):
        self.history = [_epoch(i, s) for i, s in enumerate(scores, start=1)]


def _epoch(number: int, score: float) -> EpochResult:
    return EpochResult(epoch=number, train_loss=0.0, valid_loss=0.0, valid_score=score,
                       learning_rate=1e-3, elapsed_s=0.0)


def test_the_rule_waits_for_enough_completed_trials():
    assert median_stop(_study([[0.5, 0.6, 0.7], [0.4, 0.5, 0.6]]), "accuracy") is None
    assert median_stop(_study([[0.5, 0.6, 0.7]] * 3), "accuracy") is not None


def test_a_trial_below_the_median_is_pruned_after_the_warmup():
    rule = median_stop(_study([[0.5, 0.6, 0.7], [0.4, 0.5, 0.6], [0.3, 0.4, 0.9]]), "accuracy")
    assert rule.medians == {1: 0.4, 2: 0.5, 3: 0.7}
    rule.on_epoch_end(_Run([0.1]), _epoch(1, 0.1))  # the warm-up: never pruned
    rule.on_epoch_end(_Run([0.1, 0.55]), _epoch(2, 0.55))  # above the median
    with pytest.raises(optuna.TrialPruned):
        rule.on_epoch_end(_Run([0.1, 0.55, 0.6]), _epoch(3, 0.6))


def test_lower_is_better_for_an_error_metric():
    rule = median_stop(_study([[3.0, 2.0, 1.0]] * 3, direction="minimize"), "rmse")
    assert isinstance(rule, MedianStop) and rule.lower_is_better
    rule.on_epoch_end(_Run([2.5, 1.5]), _epoch(2, 1.5))
    with pytest.raises(optuna.TrialPruned):
        rule.on_epoch_end(_Run([2.5, 2.5, 2.5]), _epoch(3, 2.5))


def test_parallel_trial_threads_take_each_enqueued_trial_once(tmp_path):
    """On SQLite (no row locks) two threads asking at once could both take one enqueued
    trial; the second to finish then failed the search ("Cannot tell a COMPLETE trial")."""
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    for attempt in range(5):
        url = f"sqlite:///{tmp_path}/optuna-{attempt}.db"
        study = optuna.create_study(storage=_serial_pops(url), study_name="race")
        for x in range(4):
            study.enqueue_trial({"x": float(x)})
        taken: list[int] = []
        start = threading.Barrier(8)

        def ask(study=study, taken=taken, start=start) -> None:
            start.wait()
            taken.append(study.ask().number)

        threads = [threading.Thread(target=ask) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
        assert sorted(taken) == list(range(8))  # each trial (enqueued or new) asked once


def test_a_resumed_search_fails_the_trials_a_dead_process_left_running(tmp_path):
    url = f"sqlite:///{tmp_path}/optuna.db"
    left = optuna.create_study(storage=url, study_name="job").ask()  # its process died
    tracker = Tracker(local_tracking_uri(tmp_path))
    job_run = tracker.start_job("job", {}, {})
    told = tracker.start_trial(job_run, "trial-0", {})  # told, then killed before its end
    dead = tracker.start_trial(job_run, "trial-1", {})
    tracker.end_trial(tracker.start_trial(job_run, "trial-2", {}), "FINISHED")

    task = TaskSpec(target="y", task_type="regression", metric="rmse", budget_s=1)
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"x": rng.normal(size=60), "y": rng.normal(size=60)})
    data = prepare_data(frame, task, TrainingConfig())
    tune(TrainingConfig(), data, task, deadline=time.monotonic(), storage=url,
         study_name="job", tracker=tracker, parent_run_id=job_run)  # no time for a
    # trial: it only opens the study
    trial = optuna.load_study(study_name="job", storage=url).trials[left.number]
    assert trial.state == optuna.trial.TrialState.FAIL
    status = {run: tracker.client.get_run(run).info.status for run in (told, dead)}
    assert status == {told: "KILLED", dead: "KILLED"}  # no MLflow run left RUNNING
    assert tracker.running_trials(job_run) == []
