"""Final refit on all rows and cross-fitting on small data: what they train on, how long,
and what they do when the time is short."""

from __future__ import annotations

import math
import time

import numpy as np
import pandas as pd
import pytest

from mlpilot.engine import crossfit, refit
from mlpilot.engine.config import (
    ForestConfig,
    ModelConfig,
    OptimizerConfig,
    PreprocessingConfig,
    TaskSpec,
    TrainingConfig,
    TreeConfig,
)
from mlpilot.engine.ensemble import EnsembleModel
from mlpilot.engine.forests import fit_forest
from mlpilot.engine.predictor import TrainedModel
from mlpilot.engine.preprocess import prepare_data
from mlpilot.engine.search import Candidate
from mlpilot.engine.training import fit
from mlpilot.engine.trees import fit_trees

TASK = TaskSpec(target="y", task_type="binary", metric="accuracy", budget_s=30)
ENCODING = PreprocessingConfig(categorical_encoding="embedding")
TREES = TrainingConfig(preprocessing=ENCODING, model=ModelConfig(family="hist_gbt"),
                       trees=TreeConfig(early_stopping_rounds=5))
NET = TrainingConfig(preprocessing=ENCODING, model=ModelConfig(hidden_sizes=[16]),
                     optimizer=OptimizerConfig(learning_rate=1e-2, scheduler="plateau"),
                     batch_size=32, max_epochs=30, early_stopping_patience=6)


def _frame(n: int) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(n, 4))
    signal = X[:, 0] - X[:, 1] ** 2 + 0.5 * rng.normal(size=n)
    df = pd.DataFrame(X, columns=["a", "b", "c", "d"])
    df["y"] = np.where(signal > -0.5, "yes", "no")
    return df


@pytest.fixture(scope="module")
def data():
    return prepare_data(_frame(400), TASK, TREES)


def _candidate(config: TrainingConfig, data, number: int = 0) -> Candidate:
    result = (fit_trees(config, data, TASK) if config.model.family == "hist_gbt"
              else fit(config, data, TASK, device="cpu"))
    model = TrainedModel(TASK, config, data.preprocessor, result.model)
    return Candidate(number, result.best_valid_score, model, model.scores(data.X_valid), result)


class _Spy:
    """Wraps a training function and records how many rows each call trained on."""

    def __init__(self, target):
        self.target, self.rows, self.results = target, [], []

    def __call__(self, config, rows, task, **kwargs):
        self.rows.append(len(rows.y_train))
        result = self.target(config, rows, task, **kwargs)
        self.results.append(result)
        return result


def test_a_tree_refit_trains_on_all_rows_for_the_scaled_iterations(data, monkeypatch):
    candidate = _candidate(TREES, data)
    spy = _Spy(refit.fit_trees)
    monkeypatch.setattr(refit, "fit_trees", spy)
    n_train, n_all = len(data.y_train), len(data.y_train) + len(data.y_valid)

    model, report = refit.refit_chosen(candidate.model, {0: (candidate.model, candidate.fit)},
                                       data, TASK, deadline=time.monotonic() + 30)

    assert report.refitted == [0] and report.complete and report.rows == n_all
    assert spy.rows == [n_all]
    assert model is not candidate.model
    assert model.model.n_iter_ == math.ceil(candidate.fit.n_iter * n_all / n_train)


def test_a_network_refit_repeats_the_best_epochs_and_the_learning_rates(data, monkeypatch):
    candidate = _candidate(NET, data)
    spy = _Spy(refit.fit)
    monkeypatch.setattr(refit, "fit", spy)
    n_all = len(data.y_train) + len(data.y_valid)

    model, report = refit.refit_chosen(candidate.model, {3: (candidate.model, candidate.fit)},
                                       data, TASK, deadline=time.monotonic() + 30)

    assert report.refitted == [3] and spy.rows == [n_all]
    ran = spy.results[0]
    best = candidate.fit.best_epoch
    assert ran.epochs_run == best
    assert [e.learning_rate for e in ran.history] == [
        e.learning_rate for e in candidate.fit.history[:best]]
    assert model.config == candidate.model.config


def test_the_refit_is_skipped_when_it_would_not_fit_the_time_left(data):
    candidate = _candidate(TREES, data)
    model, report = refit.refit_chosen(candidate.model, {0: (candidate.model, candidate.fit)},
                                       data, TASK, deadline=time.monotonic())
    assert model is candidate.model
    assert not report.refitted and "left" in report.skipped[0]
    assert report.as_dict()["complete"] is False


def test_a_refit_stopped_by_its_deadline_keeps_the_searched_model(data):
    candidate = _candidate(NET, data)
    plan = refit.plan_refit(candidate.fit, len(data.y_train), len(data.y_train) + len(data.y_valid))
    assert refit.refit(candidate.model, candidate.fit, data, TASK, plan,
                       deadline=time.monotonic()) is None


def test_an_ensemble_keeps_its_weights_and_refits_its_members(data):
    trees, net = _candidate(TREES, data, 0), _candidate(NET, data, 1)
    chosen = EnsembleModel([trees.model, net.model], [0.75, 0.25])
    fits = {0: (trees.model, trees.fit), 1: (net.model, net.fit)}

    model, report = refit.refit_chosen(chosen, fits, data, TASK, deadline=time.monotonic() + 30)

    assert isinstance(model, EnsembleModel) and model.weights == [0.75, 0.25]
    assert report.refitted == [0, 1]  # largest weight first
    assert all(new is not old for new, old in zip(model.models, chosen.models, strict=True))


def test_cross_fitting_scores_every_row_out_of_fold_and_includes_the_tree_defaults(data):
    candidates = [_candidate(TREES, data, 0), _candidate(NET, data, 1)]
    n_all = len(data.y_train) + len(data.y_valid)
    started = time.monotonic()

    chosen = crossfit.cross_fit_chosen(candidates, NET, data, TASK, deadline=started + 60)

    assert chosen is not None
    tried = {b.entry.number: b for b in chosen.tried}
    assert set(tried) == {0, 1, -1}  # -1: HistGradientBoosting defaults
    assert tried[-1].entry.config.trees == TreeConfig() and tried[-1].entry.rounds == 100
    assert chosen.rounds == crossfit.MAX_ROUNDS  # a minute buys every round
    for bag in chosen.tried:
        assert len(bag.rounds) == chosen.rounds
        assert len(bag.model.models) == crossfit.FOLDS * chosen.rounds
        for oof in bag.rounds:  # every row predicted once per round, out of fold
            assert oof.shape[0] == n_all and np.allclose(oof.sum(axis=1), 1.0)
        assert not np.allclose(bag.rounds[0], bag.rounds[1])  # new folds, new models
    frame = _frame(400)
    assert len(chosen.model.predict(frame.drop(columns="y"))) == 400
    assert chosen.summary()["rows"] == n_all and chosen.summary()["rounds"] == chosen.rounds
    assert sum(chosen.weights) == pytest.approx(1.0)
    assert chosen.weights == sorted(chosen.weights, reverse=True)  # the largest weight first


class _StepClock:
    """`time.monotonic` for `crossfit` that moves only when a config is cross-fitted, by
    `step` seconds a call: a round's length no longer depends on the machine's load. It
    starts far ahead of the real clock, so the training code's own deadline checks (on the
    real clock) never cut a fold."""

    def __init__(self, step: float):
        self.now, self.step = time.monotonic() + 1e6, step

    def monotonic(self) -> float:
        return self.now


def test_no_second_round_starts_when_it_would_not_fit(data, monkeypatch):
    monkeypatch.setattr(crossfit, "REPEATED_CV_ROWS", 0)  # no repeats that small data needs
    clock = _StepClock(step=10.0)
    real_cross_fit = crossfit.cross_fit

    def timed_cross_fit(*args, **kwargs):
        clock.now += clock.step
        return real_cross_fit(*args, **kwargs)

    monkeypatch.setattr(crossfit, "time", clock)
    monkeypatch.setattr(crossfit, "cross_fit", timed_cross_fit)
    candidates = [_candidate(TREES, data, 0)]
    roomy = crossfit.cross_fit_chosen(candidates, NET, data, TASK, deadline=clock.now + 1e4)
    assert roomy.rounds == crossfit.MAX_ROUNDS
    once = sum(b.seconds for b in roomy.tried)
    # a deadline that holds the first round, not a second one at its measured pace
    # (times the safety factor)
    tight = crossfit.cross_fit_chosen(candidates, NET, data, TASK,
                                      deadline=clock.now + once * (1 + 0.95 * refit.SAFETY))
    assert tight is not None and tight.rounds == 1
    assert all(len(b.models) == crossfit.FOLDS for b in tight.tried)
    # and one that holds both rounds gets the second
    both = crossfit.cross_fit_chosen(candidates, NET, data, TASK,
                                     deadline=clock.now + once * (1 + 1.05 * refit.SAFETY))
    assert both.rounds == 2


def test_below_a_thousand_rows_the_choice_rests_on_repeated_cross_validation(data, monkeypatch):
    assert crossfit.min_rounds(999) == crossfit.SMALL_DATA_ROUNDS >= 2
    assert crossfit.min_rounds(1000) == 1
    clock = _StepClock(step=10.0)
    real_cross_fit = crossfit.cross_fit

    def timed_cross_fit(*args, **kwargs):
        clock.now += clock.step
        return real_cross_fit(*args, **kwargs)

    monkeypatch.setattr(crossfit, "time", clock)
    monkeypatch.setattr(crossfit, "cross_fit", timed_cross_fit)
    candidates = [_candidate(TREES, data, 0)]
    # a deadline that holds one round and most of a second: the time rule alone makes one,
    # the 400 rows need two (each bag averages both rounds' fold models)
    tight = crossfit.cross_fit_chosen(candidates, NET, data, TASK, deadline=clock.now + 35.0)
    assert tight.min_rounds == 2 and tight.rounds == 2
    assert all(len(b.rounds) == 2 and len(b.models) == 2 * crossfit.FOLDS for b in tight.tried)
    assert tight.summary()["min_rounds"] == 2
    # where the rows are many enough, the same deadline makes one round
    monkeypatch.setattr(crossfit, "REPEATED_CV_ROWS", 0)
    once = crossfit.cross_fit_chosen(candidates, NET, data, TASK, deadline=clock.now + 35.0)
    assert once.min_rounds == 1 and once.rounds == 1


def test_cross_fitting_skips_what_does_not_fit_and_returns_none_without_time(data):
    candidates = [_candidate(TREES, data, 0)]
    assert crossfit.cross_fit_chosen(candidates, NET, data, TASK,
                                     deadline=time.monotonic()) is None


def test_the_folds_hold_out_every_row_once():
    y = np.array([0] * 30 + [1] * 12 + [2] * 3)
    held = crossfit.fold_indices(y, TASK.model_copy(update={"task_type": "multiclass"}), seed=0)
    assert sorted(np.concatenate(held).tolist()) == list(range(len(y)))
    assert len(held) == crossfit.FOLDS


def test_a_forest_scores_on_validation_and_its_refit_grows_as_many_trees_on_all_rows(data):
    config = TREES.model_copy(update={"model": ModelConfig(family="extra_trees"),
                                      "forest": ForestConfig(n_estimators=40)})
    result = fit_forest(config, data, TASK, deadline=time.monotonic() + 30)
    assert result.n_iter == 40 and result.stopped_reason == "max_iter"
    assert 0.5 < result.best_valid_score <= 1.0
    model = TrainedModel(TASK, config, data.preprocessor, result.model)

    again, report = refit.refit_chosen(model, {5: (model, result)}, data, TASK,
                                       deadline=time.monotonic() + 30)

    assert report.refitted == [5]
    assert len(again.model.estimators_) == 40  # a forest's size is not a stopping point
    assert again.model.estimators_[0].tree_.n_node_samples[0] == len(data.y_train) + len(data.y_valid)


def test_a_forest_stops_growing_at_its_deadline(data):
    config = TREES.model_copy(update={"model": ModelConfig(family="extra_trees"),
                                      "forest": ForestConfig(n_estimators=5000)})
    started = time.monotonic()
    result = fit_forest(config, data, TASK, deadline=started + 1.0)
    assert result.stopped_reason == "deadline" and 1 <= result.n_iter < 5000
    assert time.monotonic() - started < 3.0
