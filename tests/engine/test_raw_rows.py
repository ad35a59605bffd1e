"""Serving's fast encoding: plain values by column encode to the very matrix a DataFrame of
the same rows does, for every scaling and categorical encoding, gaps and unseen levels."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mlpilot.engine.config import PreprocessingConfig, TaskSpec, TrainingConfig
from mlpilot.engine.encoding import RawRows
from mlpilot.engine.input_schema import input_columns, rows_columns, rows_frame
from mlpilot.engine.predictor import TrainedModel
from mlpilot.engine.preprocess import prepare_data


def request_rows(df: pd.DataFrame, seed: int = 0) -> list[dict]:
    """Rows as JSON sends them: None for gaps, some levels never seen in training."""
    rng = np.random.default_rng(seed)
    rows = df.sample(60, random_state=seed).astype(object)
    rows = rows.where(rows.notna(), None).to_dict("records")
    for row in rows[:10]:
        row["island"] = f"Atlantis-{rng.integers(5)}"  # unseen level: "other"
    for row in rows[10:20]:
        row["bill_length_mm"], row["sex"] = None, None
    for row in rows[20:25]:
        row["body_mass_g"] = str(row["body_mass_g"])  # a number sent as text
    return rows


@pytest.mark.parametrize("scaling", ["standard", "robust", "quantile", "none"])
@pytest.mark.parametrize("encoding", ["onehot", "embedding"])
def test_plain_values_encode_exactly_as_a_frame_does(penguins_df, scaling, encoding):
    task = TaskSpec(target="species", task_type="multiclass", metric="accuracy", budget_s=10)
    config = TrainingConfig(preprocessing=PreprocessingConfig(scaling=scaling,
                                                              categorical_encoding=encoding))
    data = prepare_data(penguins_df, task, config)
    pre = data.preprocessor
    columns = input_columns(TrainedModel(task, config, pre, model=None))
    rows = request_rows(penguins_df.drop(columns="species"))
    checked = rows_columns(rows, columns, allow_missing=True)
    fast = pre.transform(checked)
    assert fast.dtype == np.float32 and fast.shape == (len(rows), pre.n_features)
    np.testing.assert_array_equal(fast, pre.transform(rows_frame(rows, columns,
                                                                 allow_missing=True)))
    # one row at a time (serving's case), and a subset of rows, agree too
    np.testing.assert_array_equal(pre.transform(checked.take([7])), fast[[7]])
    np.testing.assert_array_equal(pre.transform(checked.take([3, 1])), fast[[3, 1]])


def test_integral_floats_read_as_the_training_levels_did():
    """A categorical column of numbers: 2.0 from JSON is the level "2" that training saw."""
    df = pd.DataFrame({"code": [1, 2, 2, 3] * 10, "x": np.arange(40.0), "y": [0, 1] * 20})
    task = TaskSpec(target="y", task_type="binary", metric="accuracy", budget_s=10)
    pre = prepare_data(df.astype({"code": "category"}), task, TrainingConfig()).preprocessor
    as_int = pre.transform(RawRows({"code": [2], "x": [1.0]}, 1))
    as_float = pre.transform(RawRows({"code": [2.0], "x": [1.0]}, 1))
    np.testing.assert_array_equal(as_int, as_float)
    assert as_int[0, pre.feature_names.index("code=<other>")] == 0


def test_a_level_cache_is_not_pickled(penguins_df):
    import pickle

    task = TaskSpec(target="species", task_type="multiclass", metric="accuracy", budget_s=10)
    pre = prepare_data(penguins_df, task, TrainingConfig()).preprocessor
    columns = input_columns(TrainedModel(task, TrainingConfig(), pre, model=None))
    pre.transform(rows_columns(request_rows(penguins_df.drop(columns="species")), columns,
                               allow_missing=True))
    assert "_level_codes" in vars(pre) and "_level_codes" not in vars(pickle.loads(
        pickle.dumps(pre)))
