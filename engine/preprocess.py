"""From a raw table to float32 model inputs: column selection, split, and a fitted encoder.

`prepare_data` chooses the usable feature columns (each dropped column gets a note),
splits train/valid/test and fits a `Preprocessor` (see `encoding.py`) on the training
rows only. The `Preprocessor` is what a saved model carries to encode new raw rows.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from pandas.api import types as ptypes
from sklearn.model_selection import train_test_split

from .config import MAX_LEVELS_FOR_ID_CHECK, TaskSpec, TrainingConfig
from .data import DataError, name_list, profile_table, quoted
from .encoding import Preprocessor, key_of, sorted_classes

__all__ = ["MIN_ROWS", "PreparedData", "Preprocessor", "prepare_data", "sorted_classes"]

#: prepare_data refuses data with fewer usable rows than this.
MIN_ROWS = 10


@dataclass
class PreparedData:
    """Model-ready arrays and their encoder.

    Features are float32; targets are int64 class ids (classification) or float32
    standardised values (regression). `notes` say which columns and rows were dropped.
    """

    X_train: np.ndarray
    y_train: np.ndarray
    X_valid: np.ndarray
    y_valid: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray
    preprocessor: Preprocessor
    feature_columns: list[str]
    notes: list[str] = field(default_factory=list)
    n_outputs: int = 1
    #: The frame's index labels of the training rows (what a fitted feature transform
    #: may learn from: `engine.features`); None where the data was not split here.
    train_index: pd.Index | None = None

    @property
    def n_features(self) -> int:
        """Width of the encoded feature matrix (the model's input size)."""
        return int(self.X_train.shape[1])


def prepare_data(df: pd.DataFrame, task: TaskSpec, config: TrainingConfig, *,
                 test_df: pd.DataFrame | None = None) -> PreparedData:
    """Select features, split train/valid/test and encode them.

    The split is random (stratified when possible), or by time with `config.split == "time"`:
    the latest rows are the test rows and the ones before them the validation rows. With
    `config.deduplicate`, exact duplicate rows are dropped first. With `test_df`, that
    frame is the test set and `df` is split into train and valid.
    Raises `DataError` when the target is absent, has a single class, too few rows remain,
    or the time column is missing or holds no times.
    """
    notes: list[str] = []
    df = _rows_with_target(df, task, notes, "")
    if test_df is not None:
        test_df = _rows_with_target(test_df, task, notes, "test ")
    classes = None
    if task.is_classification:
        frames = [df] if test_df is None else [df, test_df]
        classes = _check_target(pd.concat([f[task.target] for f in frames]), task)
    kinds = _feature_kinds(df, task, notes, config.preprocessing.drop_columns)
    if len(df) < MIN_ROWS:
        raise DataError(
            f"only {len(df)} rows have a target value: at least {MIN_ROWS} are needed, add rows"
        )
    if config.deduplicate:
        df = _deduplicated(df, notes)
    if config.split == "time":
        train, valid, test_df = _time_split(df, test_df, config, notes)
        return _encoded(train, valid, test_df, task, config, kinds, classes, notes)
    strata = df[task.target].map(key_of) if task.is_classification else None
    if test_df is None:
        rest, test_df = _split(df, config.test_fraction, config.seed, strata, notes)
        strata = strata.loc[rest.index] if strata is not None else None
        valid_fraction = config.validation_fraction / (1.0 - config.test_fraction)
    else:
        rest, valid_fraction = df, config.validation_fraction
    train, valid = _split(rest, valid_fraction, config.seed, strata, notes)
    return _encoded(train, valid, test_df, task, config, kinds, classes, notes)


def _encoded(train: pd.DataFrame, valid: pd.DataFrame, test_df: pd.DataFrame, task: TaskSpec,
             config: TrainingConfig, kinds: dict[str, str], classes: list | None,
             notes: list[str]) -> PreparedData:
    """Fit the preprocessor on the training rows and encode all three splits."""
    columns = list(kinds)
    pre = Preprocessor(config.preprocessing, task.task_type)
    pre.fit(train[columns], kinds=kinds)
    pre.fit_target(train[task.target], classes=classes)
    # What serving checks rows against: gaps anywhere in the data (not only the training
    # split) mean the user's data has them, so a prediction may send them too.
    pre.columns_with_missing = [c for c in columns
                                if any(f[c].isna().any() for f in (train, valid, test_df))]
    return PreparedData(
        X_train=pre.transform(train), y_train=pre.encode_target(train[task.target]),
        X_valid=pre.transform(valid), y_valid=pre.encode_target(valid[task.target]),
        X_test=pre.transform(test_df), y_test=pre.encode_target(test_df[task.target]),
        preprocessor=pre, feature_columns=columns, notes=notes,
        n_outputs=len(classes) if classes is not None else 1, train_index=train.index,
    )


def _rows_with_target(df: pd.DataFrame, task: TaskSpec, notes: list[str],
                      which: str) -> pd.DataFrame:
    """`df` without rows whose target is missing (noted); float-coded class labels become ints."""
    if task.target not in df.columns:
        names = name_list(df.columns, 10)
        raise DataError(
            f"target column '{task.target}' is not in the {which}data: pick one of {names}"
        )
    missing = df[task.target].isna()
    if missing.any():
        notes.append(
            f"dropped {int(missing.sum())} {which}rows with a missing target '{task.target}'"
        )
        df = df.loc[~missing]
    target = df[task.target]
    if not task.is_classification and not ptypes.is_numeric_dtype(target.dtype):
        example = target.iloc[0] if len(target) else ""
        raise DataError(
            f"target '{task.target}' is not numeric (e.g. {quoted(example)}) so it cannot be "
            "regressed: "
            "use a classification task_type or another target"
        )
    if ptypes.is_float_dtype(target) and task.is_classification and np.all(np.mod(target, 1) == 0):
        df = df.assign(**{task.target: target.astype(np.int64)})  # 1.0/2.0 labels read as floats
    return df


def _check_target(y: pd.Series, task: TaskSpec) -> list:
    classes = sorted_classes(y)
    if len(classes) < 2:
        only = f" ({quoted(classes[0])})" if classes else ""
        raise DataError(
            f"target '{task.target}' has only one class{only}: a classifier needs at least two; "
            "pick another target"
        )
    if task.task_type == "binary" and len(classes) > 2:
        raise DataError(
            f"target '{task.target}' has {len(classes)} classes but the task is binary: "
            "use task_type 'multiclass'"
        )
    return classes


def _feature_kinds(df: pd.DataFrame, task: TaskSpec, notes: list[str],
                   config_drops: list[str] = ()) -> dict[str, str]:
    """Usable feature columns and their kinds; every dropped column gets a note.

    `config_drops` are the config's `preprocessing.drop_columns` (a fault fix), noted as such.
    """
    for name in sorted(set(config_drops) & set(df.columns) - {task.target}):
        notes.append(f"dropped column '{name}': preprocessing.drop_columns lists it")
    drop = (set(task.drop_columns) | set(config_drops)) - {task.target}
    for name in sorted(drop - set(df.columns)):
        notes.append(f"drop column '{name}' is not in the data: nothing to drop")
    if task.target in task.drop_columns:
        notes.append(f"kept target '{task.target}' although it is listed in drop_columns")
    candidates = [c for c in df.columns if c != task.target and c not in drop]
    kinds: dict[str, str] = {}
    for col in profile_table(df[candidates]).columns:
        reason = None
        if col.n_missing == len(df):
            reason = "all values missing"
        elif col.is_constant:
            reason = f"constant value {quoted(col.examples[0])}"
        elif col.kind == "text":
            reason = "free text (most values distinct)"
        elif (col.kind == "categorical" and col.unique_fraction > 0.5
              and col.n_unique > MAX_LEVELS_FOR_ID_CHECK):
            n_present = len(df) - col.n_missing
            reason = f"identifier-like ({col.n_unique} distinct values in {n_present} rows)"
        if reason:
            notes.append(f"dropped column '{col.name}': {reason}")
        else:
            kinds[col.name] = col.kind
    if not kinds:
        raise DataError(
            f"no usable feature columns are left besides target '{task.target}': "
            "add feature columns or drop fewer"
        )
    return kinds


def _deduplicated(df: pd.DataFrame, notes: list[str]) -> pd.DataFrame:
    """`df` without exact duplicate rows (the first copy stays)."""
    copies = df.duplicated()
    if copies.any():
        notes.append(f"dropped {int(copies.sum())} duplicate rows before splitting")
    return df.loc[~copies]


def _time_split(df: pd.DataFrame, test_df: pd.DataFrame | None, config: TrainingConfig,
                notes: list[str]) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Train, validation and test rows in time order: the latest rows are held out."""
    column = config.time_column
    if column is not None:
        if column not in df.columns:
            raise DataError(f"time_column {column!r} is not a column of the data: name one of "
                            f"{name_list(df.columns, 10)}")
        stamps = _times(df[column])
        if stamps.notna().sum() < len(df) / 2:
            raise DataError(f"time_column {column!r} holds no dates or numbers in most rows: "
                            "name a column of dates or times")
        # stable: rows with the same time keep their file order; rows without one go first
        df = df.iloc[np.argsort(stamps.fillna(-np.inf).to_numpy(), kind="stable")]
    by = f"by {column!r}" if column is not None else "in file order"
    if test_df is None:
        n_test = int(np.ceil(config.test_fraction * len(df)))
        df, test_df = df.iloc[:-n_test], df.iloc[-n_test:]
        n_valid = int(np.ceil(config.validation_fraction * (len(df) + n_test)))
        notes.append(f"split by time ({by}): the latest {n_test} rows are the test rows, "
                     f"the {n_valid} before them the validation rows")
    else:
        n_valid = int(np.ceil(config.validation_fraction * len(df)))
        notes.append(f"split by time ({by}): the latest {n_valid} training rows are the "
                     "validation rows")
    n_valid = min(n_valid, len(df) - 1)
    return df.iloc[:-n_valid], df.iloc[-n_valid:], test_df


def _times(column: pd.Series) -> pd.Series:
    """A column as sortable numbers: numbers as they are, dates as seconds since 1970; NaN
    where a value is neither."""
    if pd.api.types.is_numeric_dtype(column) and not pd.api.types.is_bool_dtype(column):
        return column.astype(float)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        stamps = pd.to_datetime(column, errors="coerce", utc=True, format="mixed")
    return (stamps - pd.Timestamp(0, tz="UTC")).dt.total_seconds()


def _split(df: pd.DataFrame, fraction: float, seed: int, strata: pd.Series | None,
           notes: list[str]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Hold out `fraction` of `df`, stratified by `strata` when every class can be split."""
    if strata is not None:
        counts = strata.value_counts()
        n_held = int(np.ceil(fraction * len(df)))
        if counts.min() >= 2 and len(counts) <= min(n_held, len(df) - n_held):
            return train_test_split(df, test_size=fraction, random_state=seed, stratify=strata)
        why = f"too few rows for {len(counts)} classes"
        if counts.min() < 2:
            why = f"class '{counts.idxmin()}' has only {counts.min()} row"
        note = f"used a random split instead of a stratified one ({why})"
        if note not in notes:
            notes.append(note)
    return train_test_split(df, test_size=fraction, random_state=seed)
