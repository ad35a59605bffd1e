"""The fitted encoder a model carries: raw feature columns in, float32 matrix out.

`Preprocessor` learns imputation, scaling and one-hot levels from training rows and
the target encoding (sorted classes, or regression scaling); it is picklable, so a saved
model can encode new rows exactly as its training rows were encoded.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from pandas.api import types as ptypes
from sklearn.preprocessing import QuantileTransformer, RobustScaler, StandardScaler

from .config import PreprocessingConfig, TaskType
from .data import DataError, datetime_format, infer_kind

_DATETIME_PARTS = ("year", "month", "dayofweek", "days")


@dataclass(frozen=True)
class RawRows:
    """A few raw rows as plain Python values by column (None for a missing value), which
    `Preprocessor.transform` encodes without building a DataFrame: for one row, pandas'
    per-column overheads cost several times what the model does (serving's hot path).
    `input_schema.rows_columns` makes them from checked request rows."""

    columns: dict[str, list[Any]]
    n_rows: int

    def __len__(self) -> int:
        return self.n_rows

    def take(self, indices: Sequence[int]) -> RawRows:
        """The rows at `indices`, in that order."""
        return RawRows({c: [v[i] for i in indices] for c, v in self.columns.items()},
                       len(indices))

    @classmethod
    def concat(cls, parts: Sequence[RawRows]) -> RawRows:
        """The rows of several `RawRows` of the same columns, one after another (serving
        scores the rows of concurrent requests in one pass)."""
        if len(parts) == 1:
            return parts[0]
        columns: dict[str, list[Any]] = {c: [] for c in parts[0].columns}
        for part in parts:
            for column, values in part.columns.items():
                columns[column] += values
        return cls(columns, sum(p.n_rows for p in parts))

    def to_frame(self) -> pd.DataFrame:
        """The same rows as a DataFrame of object columns (`transform` reads numbers from
        them as it reads them from text)."""
        return pd.DataFrame({c: pd.Series(v, dtype=object) for c, v in self.columns.items()},
                            index=pd.RangeIndex(self.n_rows))


class Preprocessor:
    """Turns raw feature columns into a float32 matrix and the target into model space.

    numeric: impute (median/mean), add a missing-indicator when train had missing values,
    then scale. categorical/boolean: the `max_categories` most frequent levels plus an
    "other" slot (rare and unseen levels) and a missing slot when train had missing
    values, as one-hot columns or, with `categorical_encoding="embedding"`, as one column
    of integer codes per categorical column (see `categorical_cardinalities`).
    datetime: year, month, day of week and days since 1970, as numeric.
    Columns absent at transform time are treated as all missing. Picklable.
    """

    def __init__(self, config: PreprocessingConfig, task_type: TaskType):
        self.config = config
        self.task_type = task_type
        self.numeric: list[str] = []
        self.categorical: list[str] = []
        self.datetime_formats: dict[str, str | None] = {}
        self.fill_values: np.ndarray = np.zeros(0)
        self.indicator_columns: list[int] = []
        self.scaler = None
        self.levels: dict[str, list[str]] = {}
        self.has_missing_level: dict[str, bool] = {}
        self.classes: list | None = None
        self.target_shift = 0.0
        self.target_scale = 1.0
        self.feature_names: list[str] = []
        #: Raw columns with missing values anywhere in the data (set by `prepare_data`);
        #: None: not recorded. Serving lets a prediction send gaps only there.
        self.columns_with_missing: list[str] | None = None

    @property
    def columns(self) -> list[str]:
        """The raw feature columns this preprocessor reads, in order."""
        return self.numeric + list(self.datetime_formats) + self.categorical

    @property
    def embeds_categories(self) -> bool:
        """True when categorical columns come out as integer codes, not one-hot blocks."""
        # getattr: preprocessors pickled before the option existed encode one-hot
        return getattr(self.config, "categorical_encoding", "onehot") == "embedding"

    @property
    def categorical_cardinalities(self) -> list[int]:
        """Number of codes of each categorical code column, in column order; [] for one-hot.

        The code columns are the last `len(categorical_cardinalities)` columns of
        `transform`'s matrix; column j holds float32 integers in [0, cardinalities[j]):
        the kept levels by frequency, then "other", then "missing" (when train had gaps).
        """
        if not self.embeds_categories:
            return []
        return [self._width(col) for col in self.categorical]

    @property
    def n_features(self) -> int:
        """Width of the matrix `transform` returns."""
        return len(self.feature_names)

    def fit(self, df: pd.DataFrame, y: pd.Series | None = None,
            kinds: dict[str, str] | None = None) -> Preprocessor:
        """Learn encodings from training rows `df` (and target `y`); `kinds` overrides inference."""
        kinds = kinds or {c: infer_kind(df[c]) for c in df.columns}
        for col in df.columns:
            kind = kinds[col]
            if kind == "numeric":
                self.numeric.append(col)
            elif kind == "datetime":
                self.datetime_formats[col] = _datetime_fmt(df[col])
            else:
                self.categorical.append(col)
        self._fit_numeric(self._numeric_block(df))
        for col in self.categorical:
            keys = _as_keys(df[col])
            counts = keys.value_counts()
            ranked = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
            self.levels[col] = [k for k, _ in ranked[: self.config.max_categories]]
            self.has_missing_level[col] = bool(keys.isna().any())
            if self.embeds_categories:
                self.feature_names.append(col)
                continue
            self.feature_names += [f"{col}={lv}" for lv in self.levels[col]] + [f"{col}=<other>"]
            if self.has_missing_level[col]:
                self.feature_names.append(f"{col}=<missing>")
        if y is not None:
            self.fit_target(y)
        return self

    def transform(self, df: pd.DataFrame | RawRows) -> np.ndarray:
        """Encode raw rows into a float32 matrix; extra columns are ignored."""
        if isinstance(df, RawRows):
            return self._transform_raw(df)
        blocks = [self._transform_numeric(self._numeric_block(df))]
        for col in self.categorical:
            codes = self._codes(col, _column(df, col))
            if self.embeds_categories:
                blocks.append(codes.astype(np.float32)[:, None])
            else:
                out = np.zeros((len(codes), self._width(col)), dtype=np.float32)
                out[np.arange(len(codes)), codes] = 1.0
                blocks.append(out)
        return np.concatenate(blocks, axis=1).astype(np.float32, copy=False)

    def _transform_raw(self, rows: RawRows) -> np.ndarray:
        """`transform` for plain values: the same matrix, with Python loops over few rows
        in place of pandas' per-column machinery, written into one preallocated matrix
        (each numpy call costs microseconds, more than a row's arithmetic). Dates still
        parse through pandas."""
        if self.datetime_formats:
            return self.transform(rows.to_frame())
        n = len(rows)
        out = np.zeros((n, self.n_features), dtype=np.float32)
        numeric = self._transform_numeric(self._raw_numbers(rows), fast=True)
        out[:, :numeric.shape[1]] = numeric
        if not self.categorical:
            return out
        codes = np.empty((n, len(self.categorical)), dtype=np.int64)
        for j, col in enumerate(self.categorical):
            index, other = self._level_index(col), len(self.levels[col])
            gap = other + 1 if self.has_missing_level[col] else other
            values, get = rows.columns.get(col) or [None] * n, index.get
            # text (nearly every value) is its own key: no call per value for it
            codes[:, j] = [get(v, other) if type(v) is str and v else
                           gap if _is_gap(v) else get(key_of(v), other) for v in values]
        starts = self._block_starts(numeric.shape[1])
        if self.embeds_categories:
            out[:, starts[0]:] = codes
        else:
            out[np.arange(n)[:, None], codes + starts] = 1.0
        return out

    def _raw_numbers(self, rows: RawRows) -> np.ndarray:
        """The numeric columns of plain values as a float64 block, NaN for a gap."""
        n = len(rows)
        values = [rows.columns.get(col) or [None] * n for col in self.numeric]
        try:  # numbers and None (as NaN) at C speed; anything else value by value
            block = np.array(values, dtype=np.float64).reshape(len(self.numeric), n).T
        except (TypeError, ValueError):
            block = np.array([[_plain_number(v) for v in column] for column in values],
                             dtype=np.float64).reshape(len(self.numeric), n).T
        block[~np.isfinite(block)] = np.nan
        return block

    def _block_starts(self, width: int) -> np.ndarray:
        """Where each categorical column's block (or code column) starts in the matrix,
        after the `width` numeric columns (made once per loaded model)."""
        cache = self.__dict__.setdefault("_starts", {})
        if width not in cache:
            sizes = [1 if self.embeds_categories else self._width(c) for c in self.categorical]
            cache[width] = width + np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.int64)
        return cache[width]

    def _level_index(self, col: str) -> dict[str, int]:
        """Level -> code of a categorical column (made once per loaded model)."""
        cache = self.__dict__.setdefault("_level_codes", {})
        if col not in cache:
            cache[col] = {level: i for i, level in enumerate(self.levels[col])}
        return cache[col]

    def __getstate__(self) -> dict:
        state = dict(self.__dict__)
        state.pop("_level_codes", None)  # caches, rebuilt on use
        state.pop("_starts", None)
        return state

    # ---------------------------------------------------------------- target

    def fit_target(self, y: pd.Series, classes: list | None = None) -> None:
        """Learn the target encoding: the sorted classes, or the regression scaling."""
        if self.task_type != "regression":
            self.classes = classes if classes is not None else sorted_classes(y)
            self._class_index = {key_of(c): i for i, c in enumerate(self.classes)}
            return
        values = self._target_space(y)
        if self.config.standardize_target:
            self.target_shift = float(values.mean())
            self.target_scale = float(values.std()) or 1.0

    def encode_target(self, series: pd.Series | np.ndarray) -> np.ndarray:
        """Class ids (int64) for classification; shifted/scaled float32 values for regression."""
        series = pd.Series(series)
        if self.classes is not None:
            ids = _as_keys(series).map(self._class_index)
            if ids.isna().any():
                unknown = _as_keys(series)[ids.isna()].iloc[0]
                raise DataError(
                    f"target label '{unknown}' was not among the training classes "
                    f"{self.classes}: remove those rows or retrain with them"
                )
            return ids.to_numpy(dtype=np.int64)
        values = self._target_space(series)
        return ((values - self.target_shift) / self.target_scale).astype(np.float32)

    def decode_target(self, array: np.ndarray) -> np.ndarray:
        """Class labels from class ids, or original-scale values from model outputs."""
        array = np.asarray(array)
        if self.classes is not None:
            return np.asarray(self.classes)[array.astype(np.int64)]
        values = array.astype(np.float64).reshape(-1) * self.target_scale + self.target_shift
        return np.expm1(values) if self.config.log_target else values

    def _target_space(self, y: pd.Series) -> np.ndarray:
        values = pd.to_numeric(y, errors="coerce").to_numpy(dtype=np.float64)
        if self.config.log_target:
            if np.nanmin(values, initial=0.0) < 0:
                raise DataError(
                    f"target '{y.name}' has negative values so log_target cannot be used: "
                    "set preprocessing.log_target to false"
                )
            values = np.log1p(values)
        return values

    # ---------------------------------------------------------------- features

    def _numeric_block(self, df: pd.DataFrame) -> np.ndarray:
        parts = [pd.to_numeric(_column(df, c), errors="coerce").to_numpy(dtype=np.float64)
                 for c in self.numeric]
        for col, fmt in self.datetime_formats.items():
            parts += list(_datetime_parts(_column(df, col), fmt))
        if not parts:
            return np.zeros((len(df), 0))
        block = np.stack(parts, axis=1)
        block[~np.isfinite(block)] = np.nan
        return block

    def _fit_numeric(self, block: np.ndarray) -> None:
        names = self.numeric + [f"{c}.{p}" for c in self.datetime_formats for p in _DATETIME_PARTS]
        missing = np.isnan(block)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN columns: filled with 0
            impute = np.nanmedian if self.config.numeric_imputation == "median" else np.nanmean
            fill = impute(block, axis=0) if block.shape[1] else np.zeros(0)
        self.fill_values = np.nan_to_num(fill)
        self.indicator_columns = [i for i in range(block.shape[1]) if missing[:, i].any()]
        self.scaler = _make_scaler(self.config.scaling, len(block))
        if self.scaler is not None and block.shape[1]:
            self.scaler.fit(np.where(missing, self.fill_values, block))
        self.feature_names = names + [f"{names[i]}.missing" for i in self.indicator_columns]

    def _transform_numeric(self, block: np.ndarray, fast: bool = False) -> np.ndarray:
        missing = np.isnan(block)
        filled = np.where(missing, self.fill_values, block)
        if self.scaler is not None and block.size:
            filled = _scaled(self.scaler, filled) if fast else self.scaler.transform(filled)
        return np.concatenate([filled, missing[:, self.indicator_columns]], axis=1)

    def _codes(self, col: str, values: pd.Series) -> np.ndarray:
        """Level index per row: kept levels, then "other" (rare or unseen), then "missing"."""
        levels = self.levels[col]
        keys = _as_keys(values)
        codes = pd.Index(levels, dtype=object).get_indexer(keys).astype(np.int64)
        codes[codes < 0] = len(levels)  # rare or unseen level -> "other"
        if self.has_missing_level[col]:
            codes[keys.isna().to_numpy()] = len(levels) + 1
        return codes

    def _width(self, col: str) -> int:
        return len(self.levels[col]) + 1 + int(self.has_missing_level[col])


def sorted_classes(y: pd.Series) -> list:
    """Distinct labels of `y` as plain Python values, sorted (by text when types are mixed)."""
    values = pd.Series(y).dropna().unique().tolist()
    values = [v.item() if isinstance(v, np.generic) else v for v in values]
    try:
        return sorted(values)
    except TypeError:
        return sorted(values, key=str)


def _scaled(scaler, X: np.ndarray) -> np.ndarray:
    """`scaler.transform(X)` by the same float64 arithmetic, without scikit-learn's input
    validation (most of its time on one row) for the standard and robust scalers."""
    if type(scaler) is StandardScaler:
        if scaler.with_mean:
            X = X - scaler.mean_
        return X / scaler.scale_ if scaler.with_std else X
    if type(scaler) is RobustScaler:
        if scaler.with_centering:
            X = X - scaler.center_
        return X / scaler.scale_ if scaler.with_scaling else X
    return scaler.transform(X)


def _plain_number(value: Any) -> float:
    """A value as `pd.to_numeric(errors="coerce")` reads it: a float, else NaN."""
    if value is None or isinstance(value, bool):
        return math.nan if value is None else float(value)
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan


def _is_gap(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def _make_scaler(name: str, n_rows: int):
    if name == "standard":
        return StandardScaler()
    if name == "robust":
        return RobustScaler()
    if name == "quantile":
        n_quantiles = max(2, min(1000, n_rows))
        return QuantileTransformer(output_distribution="normal", n_quantiles=n_quantiles)
    return None


def _datetime_fmt(series: pd.Series) -> str | None:
    if ptypes.is_datetime64_any_dtype(series.dtype):
        return None
    return datetime_format(series.dropna().astype(str))


def _datetime_parts(series: pd.Series, fmt: str | None) -> tuple[np.ndarray, ...]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if ptypes.is_datetime64_any_dtype(series.dtype):
            stamps = pd.to_datetime(series, utc=True)
        else:
            stamps = pd.to_datetime(series.astype("string"), format=fmt, errors="coerce", utc=True)
    stamps = stamps.dt.tz_localize(None)
    days = (stamps - pd.Timestamp("1970-01-01")) / pd.Timedelta(days=1)
    parts = (stamps.dt.year, stamps.dt.month, stamps.dt.day_of_week, days)
    return tuple(pd.Series(p).to_numpy(dtype=np.float64, na_value=np.nan) for p in parts)


def _column(df: pd.DataFrame, col: str) -> pd.Series:
    """Column `col` of `df`, or an all-missing column when the frame lacks it."""
    if col in df.columns:
        return df[col]
    return pd.Series(np.nan, index=df.index, dtype=object, name=col)


def key_of(value: object) -> str:
    """A label or level as text that agrees across dtypes: 2.0, 2 and "2" all give "2"."""
    if isinstance(value, float | np.floating) and float(value).is_integer():
        return str(int(value))
    return str(value)


def _as_keys(series: pd.Series) -> pd.Series:
    """Values as comparable strings (2.0 and 2 and "2" agree); missing stays missing."""
    series = pd.Series(series)
    if ptypes.is_string_dtype(series.dtype) or ptypes.is_integer_dtype(series.dtype):
        keys = series.astype(str)  # fast path: no per-value Python call
    else:
        keys = series.map(key_of, na_action="ignore")
    return keys.astype(object).where(series.notna(), None)
