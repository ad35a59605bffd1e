"""The final stage's reserve: predicted from the trials' measured paces (fixed here, no
clock), capped, leaving out work that would not fit; and the search that ends there."""

from __future__ import annotations

import time

import numpy as np
import pandas as pd
import pytest

from mlpilot.engine import crossfit
from mlpilot.engine.config import (
    ModelConfig,
    PreprocessingConfig,
    SearchConfig,
    SearchSpace,
    TaskSpec,
    TrainingConfig,
    TreeConfig,
)
from mlpilot.engine.final_stage import MARGIN, FinalStage
from mlpilot.engine.predictor import TrainedModel
from mlpilot.engine.preprocess import prepare_data
from mlpilot.engine.refit import plan_refit
from mlpilot.engine.search import Candidate, tune
from mlpilot.engine.trees import TreeFitResult

TASK = TaskSpec(target="y", task_type="binary", metric="accuracy", budget_s=30)
TREES = TrainingConfig(preprocessing=PreprocessingConfig(categorical_encoding="embedding"),
                       model=ModelConfig(family="hist_gbt"), trees=TreeConfig())


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(500, 3))
    df = pd.DataFrame(X, columns=["a", "b", "c"])
    df["y"] = np.where(X[:, 0] + 0.3 * rng.normal(size=500) > 0, "yes", "no")
    return prepare_data(df, TASK, TREES)


def _candidate(data, number: int, seconds: float, n_iter: int, scores: np.ndarray,
               family: str = "hist_gbt") -> Candidate:
    """A candidate whose trial took `seconds` for `n_iter` rounds (no model is trained)."""
    config = TREES.model_copy(update={"model": ModelConfig(family=family)})
    fit = TreeFitResult(model=None, preprocessor=data.preprocessor, best_valid_score=0.9,
                        n_iter=n_iter, stopped_reason="early_stopping", seconds=seconds)
    model = TrainedModel(TASK, config, data.preprocessor, None)
    return Candidate(number, 0.9, model, scores, fit)


def _scores(data, right: float, seed: int) -> np.ndarray:
    """Validation probabilities that get a share `right` of the rows right."""
    y = data.y_valid.astype(int)
    hit = np.random.default_rng(seed).random(len(y)) < right
    p = np.where(hit, y, 1 - y).astype(float)
    return np.column_stack([1 - p, p])


def test_the_refit_reserve_is_the_chosen_models_measured_refit_times_the_margin(data):
    best = _candidate(data, 0, seconds=2.0, n_iter=100, scores=_scores(data, 0.95, 0))
    stage = FinalStage(TREES, data, TASK, cross_fit=False, cap_s=1e6)
    n_train, n_all = len(data.y_train), len(data.y_train) + len(data.y_valid)
    expected = plan_refit(best.fit, n_train, n_all).seconds  # its pace, rounds and rows scaled
    assert stage.refit_seconds([best]) == pytest.approx(expected)
    assert stage.reserve_s([best]) == pytest.approx(expected * MARGIN)


def test_the_reserve_is_the_cap_until_a_trial_is_measured_and_never_more(data):
    stage = FinalStage(TREES, data, TASK, cross_fit=False, cap_s=5.0)
    assert stage.reserve_s([]) == 5.0
    cheap = _candidate(data, 0, seconds=0.5, n_iter=100, scores=_scores(data, 0.95, 0))
    assert stage.reserve_s([cheap]) < 5.0


def test_a_refit_that_cannot_fit_the_cap_is_not_reserved_for(data):
    # refit_chosen would skip it (and keep the searched model): keeping its time back
    # would only leave the budget unused
    slow = _candidate(data, 0, seconds=100.0, n_iter=100, scores=_scores(data, 0.95, 0))
    stage = FinalStage(TREES, data, TASK, cross_fit=False, cap_s=5.0)
    assert stage.reserve_s([slow]) < 1.0


def test_the_cross_fit_reserve_plans_whole_rounds_of_every_fitting_entry(data, monkeypatch):
    candidates = [_candidate(data, i, seconds=0.1 * (i + 1), n_iter=50,
                             scores=_scores(data, 0.9, i)) for i in range(3)]
    n_train, n_all = len(data.y_train), len(data.y_train) + len(data.y_valid)
    listed = crossfit.entries(candidates, TREES)
    one_round = sum(crossfit.entry_seconds(e, n_train, n_all) for e in listed)
    roomy = FinalStage(TREES, data, TASK, cross_fit=True, cap_s=1e6)
    assert roomy.cross_fit_seconds(candidates) == pytest.approx(one_round * crossfit.MAX_ROUNDS)
    # room for one round and a half: one round is planned (on rows above the threshold of
    # repeated cross-validation; below it, two at least)
    assert FinalStage(TREES, data, TASK, cross_fit=True, cap_s=one_round * MARGIN * 1.5
                      ).planned_rounds(one_round) == crossfit.min_rounds(n_all) == 2
    monkeypatch.setattr(crossfit, "REPEATED_CV_ROWS", 0)
    tight = FinalStage(TREES, data, TASK, cross_fit=True, cap_s=one_round * MARGIN * 1.5)
    assert tight.cross_fit_seconds(candidates) == pytest.approx(one_round)


def test_the_search_ends_where_the_reserve_begins(data):
    # a reserve of the whole budget once a trial completed: the search must stop after
    # that trial however much time is left (max_trials alone would allow 50)
    space = SearchSpace(families=["hist_gbt", "extra_trees"])
    base = TREES.model_copy(update={"search": SearchConfig(max_trials=50, space=space)})
    asked = []

    def reserve(candidates) -> float:
        asked.append(len(candidates))
        return 0.0 if not candidates else 1e6

    result = tune(base, data, TASK, deadline=time.monotonic() + 600, reserve=reserve)
    assert len(result.trials) == 1 and result.n_complete == 1
    assert asked == [0, 1] and result.reserved_s == 1e6
