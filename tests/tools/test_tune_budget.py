"""The search's final stage within the budget: a refit on all rows, or on small data
cross-fitted bags; either way the saved model is there before the deadline."""

from __future__ import annotations

import time

import numpy as np
import pandas as pd
import pytest

from mlpilot.engine.config import TaskSpec, TrainingConfig
from mlpilot.engine.crossfit import MAX_ROWS
from mlpilot.engine.data import load_table
from mlpilot.engine.final_stage import MARGIN, FinalStage
from mlpilot.engine.predictor import TrainedModel
from mlpilot.tools.training import prepared, tune_model
from tests.conftest import dataset

pytestmark = pytest.mark.slow

CONFIG = TrainingConfig.model_validate({
    "preprocessing": {"categorical_encoding": "embedding"},
    "model": {"hidden_sizes": [32]}, "batch_size": 64, "max_epochs": 40,
    "early_stopping_patience": 6,
    "search": {"max_trials": 20, "space": {"families": ["mlp", "hist_gbt"], "batch_size": [64]}},
})


def _frame(n: int) -> pd.DataFrame:
    rng = np.random.default_rng(1)
    X = rng.normal(size=(n, 5))
    df = pd.DataFrame(X, columns=[f"x{i}" for i in range(5)])
    df["y"] = X[:, 0] * 2 - X[:, 1] * X[:, 2] + rng.normal(scale=0.3, size=n)
    return df


def test_the_chosen_model_is_refit_on_all_rows_before_the_deadline(tmp_path):
    df, budget = _frame(3000), 10.0
    task = TaskSpec(target="y", task_type="regression", metric="r2", budget_s=budget)
    data = prepared(df, task, CONFIG)
    assert len(data.y_train) + len(data.y_valid) > MAX_ROWS  # the holdout path

    started = time.monotonic()
    outcome = tune_model(df, task, CONFIG, model_dir=tmp_path / "model",
                         deadline=started + budget, storage=None, study_name="refit")
    elapsed = time.monotonic() - started

    assert elapsed <= budget * 1.05 + 1.0  # generous: a loaded CI machine overruns a little
    assert outcome.cross_fit is None
    assert outcome.refit["rows"] == len(data.y_train) + len(data.y_valid)
    assert outcome.refit["refitted"] or outcome.refit["skipped"]  # done, or said why not
    assert TrainedModel.load(tmp_path / "model").predict(df.head(3)).shape == (3,)


def test_small_data_is_cross_fitted_before_the_deadline(tmp_path):
    df, budget = load_table(dataset("penguins.csv")), 8.0
    task = TaskSpec(target="species", task_type="multiclass", metric="accuracy", budget_s=budget)

    started = time.monotonic()
    outcome = tune_model(df, task, CONFIG, model_dir=tmp_path / "model",
                         deadline=started + budget, storage=None, study_name="small")
    elapsed = time.monotonic() - started

    assert elapsed <= budget * 1.05 + 1.0  # generous: a loaded CI machine overruns a little
    assert outcome.cross_fit is not None and outcome.refit is None
    tried = {bag["trial"] for bag in outcome.cross_fit["bags"]}
    assert -1 in tried  # HistGradientBoosting defaults are always weighed
    assert set(outcome.cross_fit["chosen"]) <= tried
    saved = TrainedModel.load(tmp_path / "model")
    assert set(saved.predict(df.head(5))) <= {"Adelie", "Chinstrap", "Gentoo"}


def test_the_search_keeps_back_the_final_stages_predicted_cost(tmp_path, monkeypatch):
    # what the search ends before is FinalStage's estimate from the measured trials, at
    # most the refit share, not the share itself
    seen = []
    real = FinalStage.reserve_s

    def spy(self, candidates):
        seen.append((real(self, candidates), self.predicted_s, self.cap_s))
        return seen[-1][0]

    monkeypatch.setattr(FinalStage, "reserve_s", spy)
    df, budget = _frame(3000), 30.0
    task = TaskSpec(target="y", task_type="regression", metric="r2", budget_s=budget)
    config = CONFIG.model_copy(update={"search": CONFIG.search.model_copy(update={
        "max_trials": 2, "space": CONFIG.search.space.model_copy(update={
            "families": ["hist_gbt", "extra_trees"]})})})
    outcome = tune_model(df, task, config, model_dir=tmp_path / "model",
                         deadline=time.monotonic() + budget, storage=None, study_name="reserve")
    assert outcome.model_dir is not None
    first, *later = seen
    assert first[1] is None and first[0] == first[2]  # nothing measured: the cap
    assert later and all(p is not None and r == pytest.approx(min(p * MARGIN, cap))
                         for r, p, cap in later)
