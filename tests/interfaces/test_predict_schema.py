"""Predictions checked against the training schema: every row carries every column, values
of the training data's types, missing values only where training had them (or when the
request allows them), and exactly one prediction per row in."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mlpilot.agent.settings import Settings
from mlpilot.engine.config import ModelConfig, TaskSpec, TrainingConfig
from mlpilot.engine.input_schema import RowError, input_columns, rows_frame
from mlpilot.engine.predictor import TrainedModel
from mlpilot.engine.preprocess import prepare_data
from mlpilot.engine.tracking import Tracker
from mlpilot.engine.training import fit
from mlpilot.interfaces.api import create_app
from tests.interfaces.api_fixtures import KEYS, OPERATOR

PROBLEM = "application/problem+json"


def _table(n: int = 120) -> pd.DataFrame:
    """`age` (numeric) and `city` (categorical) have gaps; `height`, `color`, `day` none."""
    rng = np.random.default_rng(0)
    age = rng.integers(18, 80, n).astype(float)
    age[::10] = np.nan
    city = rng.choice(["Oslo", "Lima", "Pune"], n).astype(object)
    city[::7] = None
    days = pd.date_range("2024-01-01", periods=n, freq="D").strftime("%Y-%m-%d")
    height = rng.normal(170, 10, n).round(1)
    return pd.DataFrame({"age": age, "height": height, "city": city,
                         "color": rng.choice(["red", "blue"], n), "day": days,
                         "label": np.where(height > 170, "tall", "short")})


@pytest.fixture(scope="module")
def model() -> TrainedModel:
    task = TaskSpec(target="label", task_type="binary", metric="accuracy", budget_s=10)
    config = TrainingConfig(model=ModelConfig(hidden_sizes=[8]), batch_size=32, max_epochs=2)
    data = prepare_data(_table(), task, config)
    return TrainedModel(task, config, data.preprocessor, fit(config, data, task).model)


GOOD = {"age": 40, "height": "181.5", "city": "Oslo", "color": "red", "day": "2024-03-01"}


def test_the_schema_comes_from_the_training_rows(model):
    found = {c.name: (c.kind, c.missing_in_training) for c in input_columns(model)}
    assert found == {"age": ("numeric", True), "height": ("numeric", False),
                     "day": ("datetime", False), "city": ("categorical", True),
                     "color": ("categorical", False)}


def test_gaps_outside_the_training_split_count():
    """A gap only in the test rows: the data had gaps there, so a prediction may send one."""
    table = _table()
    test = table.tail(20).copy()
    test.loc[test.index[0], "height"] = np.nan
    task = TaskSpec(target="label", task_type="binary", metric="accuracy", budget_s=10)
    data = prepare_data(table.head(100), task, TrainingConfig(), test_df=test)
    assert data.preprocessor.indicator_columns == [0]  # the training split: only age had gaps
    found = {c.name: c.missing_in_training for c in input_columns(data)}
    assert found["height"] is True and found["color"] is False


def test_a_model_saved_before_the_gap_record_allows_gaps(model):
    """A preprocessor without `columns_with_missing`: the columns whose training split had
    no gaps are unknown, so a missing value is allowed there."""
    older = pickle.loads(pickle.dumps(model.preprocessor))
    del older.columns_with_missing
    columns = input_columns(type("Old", (), {"preprocessor": older})())
    assert {c.name: c.missing_in_training for c in columns} == {
        "age": True, "height": None, "day": None, "city": True, "color": None}
    frame = rows_frame([{**GOOD, "height": None, "color": None}], columns)
    assert frame["height"].isna().all() and frame["color"].isna().all()


def test_values_are_converted_and_refused_by_row_and_column(model):
    columns = input_columns(model)
    frame = rows_frame([GOOD, {**GOOD, "age": None, "city": "", "height": 150}], columns)
    assert len(frame) == 2 and frame["height"].tolist() == [181.5, 150.0]
    assert np.isnan(frame["age"][1]) and frame["city"][1] is None

    with pytest.raises(RowError) as refused:
        rows_frame([GOOD, {**GOOD, "height": "abc"}, {**GOOD, "height": {"cm": 3}},
                    {**GOOD, "color": [1]}, {**GOOD, "day": "31/31/2024"},
                    {**GOOD, "height": True}], columns)
    where = [(p.row, p.column) for p in refused.value.problems]
    assert where == [(1, "height"), (2, "height"), (3, "color"), (4, "day"), (5, "height")]
    assert str(refused.value).startswith("row 1, column 'height': 'abc' is not a number")

    with pytest.raises(RowError, match="row 0, column 'height': a missing value, but "
                       "training had none"):
        rows_frame([{**GOOD, "height": None}], columns)
    allowed = rows_frame([{**GOOD, "height": None}], columns, allow_missing=True)
    assert np.isnan(allowed["height"][0])
    with pytest.raises(RowError, match="row 0, column 'age': the column is absent"):
        rows_frame([{}], columns)


@pytest.fixture(scope="module")
def api(model, tmp_path_factory):
    """An app whose registry holds `model` as the champion of 'people-label'."""
    from fastapi.testclient import TestClient

    settings = Settings(data_dir=tmp_path_factory.mktemp("predict"), api_keys=KEYS)
    tracker = Tracker(settings.tracking_uri, artifact_location=Path(settings.artifact_dir).as_uri())
    run = tracker.start_job("run-predict", {}, {})
    tracker.register(tracker.log_model(run, model), "people-label", "run-predict")
    with TestClient(create_app(settings, workers=0)) as client:
        yield client


def predict(api, body):
    return api.post("/models/people-label/predict", json=body, headers=OPERATOR)


def test_every_row_in_gets_one_prediction_out(api):
    rows = [GOOD, {**GOOD, "age": None, "city": None}, {**GOOD, "extra": "ignored", "label": "x"}]
    answer = predict(api, {"rows": rows})
    assert answer.status_code == 200, answer.text
    made = answer.json()
    assert len(made["predictions"]) == 3 and len(made["probabilities"]) == 3
    assert set(made["predictions"]) <= {"short", "tall"} == set(made["classes"])


def test_an_empty_row_or_a_bad_value_is_a_422_that_names_the_row_and_column(api):
    empty = predict(api, {"rows": [{}]})
    assert empty.status_code == 422 and empty.headers["content-type"] == PROBLEM
    assert empty.json()["detail"].startswith("body.rows.0.age: the column is absent")
    assert {tuple(e["loc"][3:]) for e in empty.json()["errors"]} == {
        ("age",), ("height",), ("day",), ("city",), ("color",)}

    for value in ("abc", {"a": 1}, [1, 2]):
        bad = predict(api, {"rows": [GOOD, {**GOOD, "height": value}]})
        assert bad.status_code == 422, value
        assert bad.json()["errors"][0]["loc"] == ["body", "rows", "1", "height"]
        assert "is not a number" in bad.json()["detail"]


def test_a_missing_value_needs_training_gaps_or_the_request_to_allow_it(api):
    refused = predict(api, {"rows": [{**GOOD, "color": None}]})
    assert refused.status_code == 422
    assert refused.json()["detail"] == (
        'body.rows.0.color: a missing value, but training had none in this column: send a '
        'value, or "missing": "allow" to predict anyway')
    allowed = predict(api, {"rows": [{**GOOD, "color": None}], "missing": "allow"})
    assert allowed.status_code == 200 and len(allowed.json()["predictions"]) == 1
    assert predict(api, {"rows": [GOOD], "missing": "sometimes"}).status_code == 422
