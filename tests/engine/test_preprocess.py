"""prepare_data picks features, splits (stratified) and encodes; Preprocessor handles new rows."""

from __future__ import annotations

import pickle

import numpy as np
import pandas as pd
import pytest

from mlpilot.engine.config import PreprocessingConfig, TaskSpec, TrainingConfig
from mlpilot.engine.data import DataError
from mlpilot.engine.preprocess import Preprocessor, prepare_data


def _task(target="label", task_type="binary", **kwargs) -> TaskSpec:
    metric = "r2" if task_type == "regression" else "accuracy"
    return TaskSpec(target=target, task_type=task_type, metric=metric, budget_s=60, **kwargs)


def _frame(n=200, minority=10, seed=0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame({
        "x": rng.normal(size=n),
        "color": rng.choice(["red", "blue"], size=n),
        "label": ["no"] * (n - minority) + ["yes"] * minority,
    })


def test_penguins_prepared(penguins_df, penguins_task):
    data = prepare_data(penguins_df, penguins_task, TrainingConfig())
    sizes = [len(data.y_train), len(data.y_valid), len(data.y_test)]
    assert sum(sizes) == 344 and sizes[2] == pytest.approx(0.2 * 344, abs=1)
    assert sizes[1] == pytest.approx(0.15 * 344, abs=1)
    assert data.X_train.dtype == np.float32 and data.y_train.dtype == np.int64
    assert not np.isnan(data.X_train).any() and not np.isnan(data.X_test).any()
    assert data.preprocessor.classes == ["Adelie", "Chinstrap", "Gentoo"]
    assert data.n_outputs == 3 and data.X_train.shape[1] == data.n_features
    assert data.feature_columns == [c for c in penguins_df.columns if c != "species"]


def test_useless_columns_are_dropped_with_notes():
    df = _frame(60, minority=20)
    df["empty"] = np.nan
    df["same"] = 7
    df["note"] = [f"free text remark number {i} about this row" for i in range(60)]
    df["user_id"] = [f"u{i}" for i in range(60)]
    df["leak"] = df["label"]
    data = prepare_data(df, _task(drop_columns=["leak", "absent"]), TrainingConfig())
    assert data.feature_columns == ["x", "color"]
    assert "dropped column 'empty': all values missing" in data.notes
    assert "dropped column 'same': constant value '7'" in data.notes
    assert any(n.startswith("dropped column 'note': free text") for n in data.notes)
    assert any(n.startswith("dropped column 'user_id': identifier-like") for n in data.notes)
    assert "drop column 'absent' is not in the data: nothing to drop" in data.notes


def test_rows_without_target_are_dropped_with_note():
    df = _frame(60, minority=20)
    df.loc[:4, "label"] = None
    data = prepare_data(df, _task(), TrainingConfig())
    assert len(data.y_train) + len(data.y_valid) + len(data.y_test) == 55
    assert "dropped 5 rows with a missing target 'label'" in data.notes


@pytest.mark.parametrize(
    ("df", "task", "message"),
    [
        (pd.DataFrame({"x": range(20), "label": ["a"] * 20}), _task(),
         ("target 'label' has only one class ('a'): a classifier needs at least two; "
          "pick another target")),
        (pd.DataFrame({"x": range(20), "y": range(20)}), _task(),
         "target column 'label' is not in the data: pick one of 'x', 'y'"),
        (pd.DataFrame({"x": range(9), "label": list("ab") * 4 + ["a"]}), _task(),
         "only 9 rows have a target value: at least 10 are needed, add rows"),
        (pd.DataFrame({"x": range(30), "label": list("abc") * 10}), _task(),
         "target 'label' has 3 classes but the task is binary: use task_type 'multiclass'"),
        (pd.DataFrame({"x": range(20), "label": list("ab") * 10}), _task(task_type="regression"),
         ("target 'label' is not numeric (e.g. 'a') so it cannot be regressed: "
          "use a classification task_type or another target")),
        (pd.DataFrame({"label": list("ab") * 10, "c": [1] * 20}), _task(),
         ("no usable feature columns are left besides target 'label': "
          "add feature columns or drop fewer")),
    ],
    ids=["one-class", "no-target", "too-few-rows", "binary-with-3", "text-regression",
         "no-features"],
)
def test_data_errors(df, task, message):
    with pytest.raises(DataError) as info:
        prepare_data(df, task, TrainingConfig())
    assert str(info.value) == message


@pytest.mark.parametrize("seed", range(5))
def test_split_is_stratified(seed):
    data = prepare_data(_frame(200, minority=10, seed=seed), _task(), TrainingConfig(seed=seed))
    # 5% minority: a random 40-row test split would often hold 0, 1, 3 or more of them.
    assert int(data.y_test.sum()) == 2
    assert 1 <= int(data.y_valid.sum()) <= 2
    assert not any("random split" in n for n in data.notes)


def test_stratification_falls_back_to_random_with_a_note():
    df = _frame(50, minority=1)
    data = prepare_data(df, _task(), TrainingConfig())
    note = "used a random split instead of a stratified one (class 'yes' has only 1 row)"
    assert note in data.notes
    assert len(data.y_train) + len(data.y_valid) + len(data.y_test) == 50


def test_given_test_frame_is_the_test_set():
    df, test_df = _frame(100, minority=30), _frame(17, minority=5, seed=9)
    data = prepare_data(df, _task(), TrainingConfig(), test_df=test_df)
    assert len(data.y_test) == 17 and len(data.y_train) + len(data.y_valid) == 100
    assert data.y_test.tolist() == [0] * 12 + [1] * 5


def test_float_coded_classes_become_integers():
    df = pd.DataFrame({"x": range(30), "label": [1.0, 2.0, np.nan] * 10})
    data = prepare_data(df, _task(), TrainingConfig())
    assert data.preprocessor.classes == [1, 2]
    assert data.preprocessor.decode_target(np.array([1, 0])).tolist() == [2, 1]


def test_unseen_categories_and_missing_values_at_predict_time():
    train = pd.DataFrame({"color": ["red", "blue", None, "red"], "size": [1.0, np.nan, 3.0, 5.0]})
    pre = Preprocessor(PreprocessingConfig(scaling="none"), "binary").fit(train)
    assert pre.feature_names == ["size", "size.missing", "color=red", "color=blue",
                                 "color=<other>", "color=<missing>"]
    new = pd.DataFrame({"color": ["green", None, "blue"], "size": [np.nan, 2.0, np.inf],
                        "extra": [1, 2, 3]})
    X = pre.transform(new)
    assert X.dtype == np.float32 and not np.isnan(X).any()
    assert X.tolist() == [
        [3.0, 1.0, 0.0, 0.0, 1.0, 0.0],  # unseen level -> other; missing size -> median 3
        [2.0, 0.0, 0.0, 0.0, 0.0, 1.0],  # missing color -> its own level
        [3.0, 1.0, 0.0, 1.0, 0.0, 0.0],  # inf counts as missing
    ]
    only_size = pre.transform(pd.DataFrame({"size": [4.0]}))  # absent column = missing
    assert only_size.tolist() == [[4.0, 0.0, 0.0, 0.0, 0.0, 1.0]]


def test_rare_levels_share_the_other_slot():
    train = pd.DataFrame({"c": list("aaabbbccd")})
    pre = Preprocessor(PreprocessingConfig(max_categories=2), "binary").fit(train)
    X = pre.transform(pd.DataFrame({"c": ["a", "b", "c", "d"]}))
    assert pre.feature_names == ["c=a", "c=b", "c=<other>"]
    assert X.tolist() == [[1, 0, 0], [0, 1, 0], [0, 0, 1], [0, 0, 1]]


def test_standard_scaling_uses_train_statistics():
    train = pd.DataFrame({"v": [1.0, 2.0, 3.0, 4.0]})
    pre = Preprocessor(PreprocessingConfig(), "regression").fit(train)
    X = pre.transform(train)
    assert X.mean() == pytest.approx(0.0, abs=1e-6) and X.std() == pytest.approx(1.0, abs=1e-6)


def test_datetime_columns_become_numbers():
    train = pd.DataFrame({"when": ["2021-03-01", "2022-07-15", None, "2020-01-31"]})
    pre = Preprocessor(PreprocessingConfig(scaling="none"), "regression").fit(train)
    X = pre.transform(pd.DataFrame({"when": ["2021-03-01"]}))
    assert pre.feature_names[:4] == ["when.year", "when.month", "when.dayofweek", "when.days"]
    assert X[0, :4].tolist() == [2021.0, 3.0, 0.0, 18687.0]


def test_preprocessor_pickles(penguins_df, penguins_task):
    data = prepare_data(penguins_df, penguins_task, TrainingConfig())
    again = pickle.loads(pickle.dumps(data.preprocessor))
    np.testing.assert_array_equal(again.transform(penguins_df),
                                  data.preprocessor.transform(penguins_df))
    assert again.encode_target(penguins_df["species"]).tolist()[:3] == [0, 0, 0]


@pytest.mark.parametrize("log_target", [False, True])
def test_regression_target_roundtrip(log_target):
    y = pd.Series([10.0, 200.0, 3000.0, 0.0], name="price")
    pre = Preprocessor(PreprocessingConfig(log_target=log_target), "regression")
    pre.fit_target(y)
    encoded = pre.encode_target(y)
    assert encoded.dtype == np.float32 and encoded.mean() == pytest.approx(0.0, abs=1e-6)
    np.testing.assert_allclose(pre.decode_target(encoded), y.to_numpy(), rtol=1e-5, atol=1e-4)


def test_log_target_refuses_negative_values():
    pre = Preprocessor(PreprocessingConfig(log_target=True), "regression")
    with pytest.raises(DataError, match="target 'y' has negative values so log_target cannot"):
        pre.fit_target(pd.Series([1.0, -2.0], name="y"))


def test_unknown_target_label_is_data_error():
    pre = Preprocessor(PreprocessingConfig(), "binary")
    pre.fit_target(pd.Series(["a", "b"]))
    with pytest.raises(DataError, match="target label 'c' was not among the training classes"):
        pre.encode_target(pd.Series(["a", "c"]))


@pytest.mark.parametrize("scaling", ["robust", "quantile"])
def test_outlier_proof_scalings(scaling):
    values = np.r_[np.arange(99, dtype=float), 1e6]  # one wild outlier
    pre = Preprocessor(PreprocessingConfig(scaling=scaling), "regression")
    X = pre.fit(pd.DataFrame({"x": values})).transform(pd.DataFrame({"x": values}))[:, 0]
    assert np.all(np.isfinite(X))
    if scaling == "robust":  # centred on the median, scaled by the interquartile range
        assert X[49] == pytest.approx(0.0, abs=0.02) and X[74] - X[24] == pytest.approx(1.0, abs=0.02)
    else:  # ranks mapped to a normal: the outlier is just the top rank
        assert abs(X[50]) < 0.1 and X[-1] < 6 and np.all(np.diff(X) > 0)


# -- time split and deduplication -------------------------------------------------------------

def _dated(n: int = 100) -> pd.DataFrame:
    """`n` daily rows, shuffled; y is the day's number, so each split's days show in y."""
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"when": pd.date_range("2024-01-01", periods=n).strftime("%Y-%m-%d"),
                          "x": rng.normal(size=n), "y": np.arange(n, dtype=float)})
    return frame.sample(frac=1, random_state=1)


def _days(data, split: str) -> np.ndarray:
    return np.sort(np.rint(data.preprocessor.decode_target(getattr(data, f"y_{split}"))))


REGRESSION = TaskSpec(target="y", task_type="regression", metric="r2", budget_s=10)


def test_a_time_split_holds_out_the_latest_rows():
    config = TrainingConfig(split="time", time_column="when")
    data = prepare_data(_dated(), REGRESSION, config)
    train, valid, test = (_days(data, s) for s in ("train", "valid", "test"))
    assert list(test) == list(range(80, 100))
    assert list(valid) == list(range(65, 80))
    assert list(train) == list(range(65))
    assert "split by time (by 'when')" in data.notes[-1]


def test_a_time_split_without_a_column_keeps_the_file_order():
    frame = _dated().sort_values("y", ascending=False)  # a log written newest first
    data = prepare_data(frame, REGRESSION, TrainingConfig(split="time"))
    assert list(_days(data, "test")) == list(range(20))


def test_a_time_split_with_a_test_file_holds_out_the_latest_training_rows():
    frame = _dated()
    config = TrainingConfig(split="time", time_column="when", validation_fraction=0.2)
    data = prepare_data(frame[frame.y < 80], REGRESSION, config, test_df=frame[frame.y >= 80])
    assert list(_days(data, "valid")) == list(range(64, 80))
    assert list(_days(data, "test")) == list(range(80, 100))


@pytest.mark.parametrize(("column", "message"), [("nope", "not a column"), ("x", None)])
def test_a_time_split_needs_a_time_column(column, message):
    frame = _dated().assign(x=lambda f: f.x.map(lambda v: f"level {v:.0f}"))
    config = TrainingConfig(split="time", time_column=column)
    with pytest.raises(DataError, match=message or "holds no dates or numbers"):
        prepare_data(frame, REGRESSION, config)


def test_deduplicate_drops_copies_before_the_split():
    frame = _dated(60)
    copies = pd.concat([frame, frame.head(30)], ignore_index=True)
    data = prepare_data(copies, REGRESSION, TrainingConfig(deduplicate=True))
    days = np.concatenate([_days(data, s) for s in ("train", "valid", "test")])
    assert sorted(days) == list(range(60))
    assert "dropped 30 duplicate rows before splitting" in data.notes
