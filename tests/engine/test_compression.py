"""A bag distilled into one small network keeps its score; a weak student leaves the teacher."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from sklearn.model_selection import train_test_split

from mlpilot.engine.compression import (
    StudentModel,
    compress,
    distil,
    p95_latency_ms,
    saved_bytes,
)
from mlpilot.engine.config import ModelConfig, PreprocessingConfig, TrainingConfig, TreeConfig
from mlpilot.engine.crossfit import Entry, cross_fit, fold_indices
from mlpilot.engine.ensemble import EnsembleModel
from mlpilot.engine.predictor import TrainedModel
from mlpilot.engine.preprocess import prepare_data
from mlpilot.engine.refit import all_rows


def make_bag(train_df, test_df, task, rounds: int = 20) -> EnsembleModel:
    """A cross-fitted bag of five HistGradientBoosting fold models, as the search keeps one."""
    config = TrainingConfig(model=ModelConfig(family="hist_gbt"), trees=TreeConfig(),
                            preprocessing=PreprocessingConfig(categorical_encoding="embedding"))
    rows = all_rows(prepare_data(train_df, task, config, test_df=test_df))
    held = fold_indices(rows.y_train, task, seed=0)
    entry = Entry(-1, config, rounds, 0.01, scales=False)
    _, models = cross_fit(entry, rows, held, task, len(rows.y_train), deadline=math.inf)
    return EnsembleModel(models, [1.0] * len(models))


@pytest.fixture(scope="module")
def penguin_bag(penguins_df):
    from mlpilot.engine.config import TaskSpec

    task = TaskSpec(target="species", task_type="multiclass", metric="accuracy", budget_s=60)
    df = penguins_df.dropna(subset=["species"])
    train_df, test_df = train_test_split(df, test_size=0.25, random_state=0,
                                         stratify=df["species"])
    return make_bag(train_df, test_df, task), train_df, test_df, task


def test_a_bag_distils_into_a_smaller_student_within_the_tolerance(penguin_bag, tmp_path):
    teacher, train_df, test_df, task = penguin_bag
    ticks = itertools.count()
    report = compress(teacher, train_df, test_df, task, p95_budget_ms=5.0, hidden_sizes=(32, 32),
                      epochs=80, requests=2, clock=lambda: next(ticks) * 0.010)  # 10 ms each
    assert report.kept in ("int8", "student"), report.reason
    assert "still over the budget 5 ms" in report.reason  # the fake clock says 10 ms
    assert isinstance(report.model, StudentModel)
    assert report.kept_stats.score >= report.teacher.score - 0.01
    assert report.student.size_bytes < report.teacher.size_bytes / 2
    assert report.int8.size_bytes < report.student.size_bytes
    summary = report.as_dict()
    assert summary["size_ratio"] < 0.5 and summary["teacher"]["score"] == report.teacher.score


def test_a_too_weak_student_leaves_the_teacher_and_says_why(penguin_bag):
    teacher, train_df, test_df, task = penguin_bag
    report = compress(teacher, train_df, test_df, task, hidden_sizes=(1,), epochs=1,
                      requests=2)
    assert report.kept == "teacher" and report.model is teacher
    assert report.student.score < report.teacher.score - 0.01
    assert "kept the teacher" in report.reason and "accuracy" in report.reason


def test_a_teacher_within_the_latency_budget_is_left_alone(penguin_bag):
    teacher, train_df, test_df, task = penguin_bag
    ticks = itertools.count()
    clock = lambda: next(ticks) * 0.002  # every request takes 2 ms
    report = compress(teacher, train_df, test_df, task, p95_budget_ms=5.0, requests=4,
                      clock=clock)
    assert report.kept == "teacher" and report.student is None
    assert report.teacher.p95_ms == pytest.approx(2.0) and "within the budget" in report.reason


def test_latency_is_the_95th_percentile_of_one_row_requests(penguin_bag):
    teacher, _, test_df, _ = penguin_bag
    times = iter([0.0, 0.001] * 19 + [0.0, 0.1])  # 19 fast requests and one slow one
    p95 = p95_latency_ms(teacher, test_df.drop(columns="species"), requests=20,
                         clock=lambda: next(times))
    assert p95 == pytest.approx(np.percentile([1.0] * 19 + [100.0], 95))


def test_the_int8_student_saves_loads_and_predicts_the_same_labels(penguin_bag, tmp_path):
    teacher, train_df, test_df, task = penguin_bag
    student = distil(teacher, train_df.drop(columns="species"), task, hidden_sizes=(32, 32),
                     epochs=40)
    quantized = student.quantize()
    assert quantized.quantized and not student.quantized
    loaded = TrainedModel.load(quantized.save(tmp_path / "int8"))  # what serving calls
    assert isinstance(loaded, StudentModel) and loaded.quantized
    frame = test_df.drop(columns="species")
    np.testing.assert_array_equal(loaded.predict(frame), quantized.predict(frame))
    np.testing.assert_allclose(loaded.predict_proba(frame), quantized.predict_proba(frame),
                               atol=1e-6)
    # int8 weights: the same labels as the float student on nearly every row, in fewer bytes
    assert (quantized.predict(frame) == student.predict(frame)).mean() >= 0.95
    assert saved_bytes(quantized) < saved_bytes(student)


def test_a_regression_bag_distils_to_values_on_the_original_scale(linear_df, linear_task,
                                                                  tmp_path):
    train_df, test_df = train_test_split(linear_df, test_size=0.25, random_state=0)
    teacher = make_bag(train_df, test_df, linear_task, rounds=60)
    report = compress(teacher, train_df, test_df, linear_task, hidden_sizes=(32, 32),
                      epochs=60, requests=2)
    assert report.kept in ("int8", "student"), report.reason
    assert report.kept_stats.score >= report.teacher.score - 0.01
    loaded = TrainedModel.load(report.model.save(tmp_path / "student"))
    frame = test_df.drop(columns="y")
    np.testing.assert_allclose(loaded.predict(frame), report.model.predict(frame), rtol=1e-5)
    assert abs(float(np.mean(loaded.predict(frame))) - float(test_df["y"].mean())) < 0.5
