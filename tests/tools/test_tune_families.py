"""The search over model families end to end: trees and networks in one study, the best
single model or an ensemble saved, and evaluation of whatever was saved."""

from __future__ import annotations

import time

import pytest

from mlpilot.engine.config import TaskSpec, TrainingConfig
from mlpilot.engine.data import load_table
from mlpilot.engine.ensemble import EnsembleModel
from mlpilot.engine.predictor import TrainedModel
from mlpilot.tools.training import evaluate_model, tune_model
from tests.conftest import dataset

pytestmark = pytest.mark.slow


def test_search_spans_families_and_saves_a_model_that_evaluates(tmp_path):
    df = load_table(dataset("penguins.csv"))
    task = TaskSpec(target="species", task_type="multiclass", metric="accuracy", budget_s=8)
    config = TrainingConfig.model_validate({
        "preprocessing": {"categorical_encoding": "embedding"},
        "model": {"hidden_sizes": [32]}, "batch_size": 32, "max_epochs": 60,
        "early_stopping_patience": 8,
        "search": {"max_trials": 8, "space": {"families": ["mlp", "hist_gbt"],
                                              "batch_size": [32, 64]}},
    })
    outcome = tune_model(df, task, config, model_dir=tmp_path / "model",
                         deadline=time.monotonic() + 8, storage=None, study_name="families")

    assert outcome.n_complete >= 2
    saved = TrainedModel.load(tmp_path / "model")
    if outcome.ensemble:
        assert isinstance(saved, EnsembleModel) and len(outcome.ensemble["trials"]) >= 2
        assert outcome.best_score >= outcome.ensemble["best_single_score"]
    families = {c["config"]["model"]["family"] for c in outcome.top_configs}
    assert "hist_gbt" in families  # the portfolio tried the trees' defaults
    result = evaluate_model(tmp_path / "model", df, task, config)
    assert result.metrics["accuracy"] > 0.9 > result.baseline_metrics["accuracy"]
