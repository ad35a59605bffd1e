"""Compression in the job: a cross-fitted bag over the serving latency budget is distilled
before evaluation, and the report says size, latency and score before and after."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from mlpilot.agent.runner import Runner
from mlpilot.agent.settings import Settings
from mlpilot.agent.state import TaskRequest
from mlpilot.engine.compression import StudentModel, is_composite
from mlpilot.engine.config import ModelConfig, TaskSpec, TrainingConfig, TreeConfig
from mlpilot.engine.crossfit import Entry, cross_fit, fold_indices
from mlpilot.engine.ensemble import EnsembleModel
from mlpilot.engine.predictor import TrainedModel
from mlpilot.engine.refit import all_rows
from mlpilot.engine.scores import score_predictions
from mlpilot.tools.compression import compress_for_serving
from tests.conftest import dataset

pytestmark = pytest.mark.slow


def bagged_penguins() -> TaskRequest:
    """A budget far above what 3 epochs take, so the search always runs (the bag below)."""
    return TaskRequest(request="predict the species of a penguin, 30 seconds",
                       data=dataset("penguins.csv"), training={"max_epochs": 3})


@pytest.fixture(autouse=True)
def search_keeps_a_bag(monkeypatch):
    """The search ends with a cross-fitted bag of HistGradientBoosting fold models, as it
    does on small data when time allows; built here at a fixed length so that the test does
    not hang on how much time a loaded machine leaves the search."""
    from mlpilot.tools import training

    def tune_model(df, task, config, *, model_dir, test_df=None, **_):
        data = training.prepared(df, task, config, test_df)
        trees = config.model_copy(update={"model": ModelConfig(family="hist_gbt"),
                                          "trees": TreeConfig()})
        rows = all_rows(data)
        held = fold_indices(rows.y_train, task, seed=0)
        oof, models = cross_fit(Entry(-1, trees, 20, 0.01, scales=False), rows, held, task,
                                len(data.y_train), deadline=math.inf)
        EnsembleModel(models, [1.0] * len(models)).save(model_dir)
        score = score_predictions(task, data.preprocessor.decode_target(rows.y_train), oof,
                                  data.preprocessor.classes)
        return training.TuneOutcome(
            model_dir=str(model_dir), best_score=score, n_trials=0, n_complete=0, n_pruned=0,
            n_failed=0, seconds=0.0, best_config=trees.model_dump(mode="json"),
            cross_fit={"folds": len(held), "rounds": 1, "rows": len(rows.y_train),
                       "scored_rows": len(rows.y_train), "bags": [-1]})

    monkeypatch.setattr(training, "tune_model", tune_model)


def test_a_bag_over_the_latency_budget_is_distilled_before_evaluation(monkeypatch):
    monkeypatch.setenv("MLPILOT_SERVING_P95_MS", "0.001")  # no model answers in a microsecond
    outcome = Runner(Settings()).start(bagged_penguins(), auto_approve=True)

    result = outcome.result
    assert outcome.status == "succeeded", result.get("error")
    assert "cross-fitted" in result["model_source"]  # the search kept a bag
    report = result["compression"]
    teacher, metric = report["teacher"], result["task"]["metric"]
    assert report["student"] is not None and report["int8"] is not None  # both were tried
    assert report["int8"]["size_bytes"] < report["student"]["size_bytes"] < teacher["size_bytes"]
    [step] = [d for d in result["decisions"] if d["stage"] == "compress"]
    assert "over the budget 0.001 ms" in step["why"]
    assert report["kept"] in ("student", "int8"), report["reason"]
    kept = report[report["kept"]]
    assert kept["score"] >= teacher["score"] - 0.01
    # what the job evaluated and registered is the student
    assert result["metrics"][metric] == pytest.approx(kept["score"])
    assert "distilled into one" in result["model_source"]
    assert f"{metric} {teacher['score']:.4f} -> {kept['score']:.4f}" in step["decision"]
    student = TrainedModel.load(Path(result["report_path"]).parent / "compressed")
    assert isinstance(student, StudentModel) and student.quantized == (report["kept"] == "int8")
    markdown = Path(result["report_markdown_path"]).read_text()
    assert "## Compression for serving" in markdown and "distilled, int8" in markdown


def test_a_bag_within_the_budget_is_left_alone(monkeypatch):
    monkeypatch.setenv("MLPILOT_SERVING_P95_MS", "1000000")
    outcome = Runner(Settings()).start(bagged_penguins(), auto_approve=True)

    result = outcome.result
    assert "cross-fitted" in result["model_source"]
    report = result["compression"]
    assert report["kept"] == "teacher" and report["student"] is None
    assert "within the budget" in report["reason"]
    [step] = [d for d in result["decisions"] if d["stage"] == "compress"]
    assert step["decision"] == "keep the composite model as it is"
    assert "distilled" not in result["model_source"]
    assert not (Path(result["report_path"]).parent / "compressed").exists()


def test_without_a_budget_the_job_never_times_its_model():
    result = Runner(Settings()).start(bagged_penguins(), auto_approve=True).result
    assert result["compression"] is None
    assert not any(d["stage"] == "compress" for d in result["decisions"])


def test_a_single_model_is_not_distilled(penguins_model_dir, tmp_path):
    model_dir, df, task, config = penguins_model_dir
    assert not is_composite(TrainedModel.load(model_dir))
    assert compress_for_serving(model_dir, df, task, config, p95_budget_ms=0.001,
                                out_dir=tmp_path / "out", max_seconds=1.0) is None
    assert not (tmp_path / "out").exists()


@pytest.fixture
def penguins_model_dir(tmp_path):
    import pandas as pd

    from mlpilot.tools.training import train_model

    df = pd.read_csv(dataset("penguins.csv"))
    task = TaskSpec(target="species", task_type="multiclass", metric="accuracy", budget_s=5)
    config = TrainingConfig(max_epochs=2)
    outcome = train_model(df, task, config, model_dir=tmp_path / "single",
                          deadline=float("inf"))
    return Path(outcome.model_dir), df, task, config
