"""Loading a user's table and describing it: column kinds, missing values, the target.

`load_table` turns a CSV or Parquet file into a DataFrame or raises `DataError` with one
line that says what is wrong and what to do. `profile_table` summarises every column
(`DataProfile`, JSON-able) so planners and validators can reason about the data.
"""

from __future__ import annotations

import csv
import re
import warnings
from collections import Counter
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd
from pandas.api import types as ptypes
from pandas.tseries.api import guess_datetime_format
from pydantic import BaseModel

from .wide_profile import block_columns, profile_block

ColumnKind = Literal["numeric", "categorical", "boolean", "datetime", "text"]

#: A string column is "text" when most values are distinct and this long on average.
TEXT_MIN_MEAN_LENGTH = 20
#: An integer target with at most this many distinct values is classification-like.
MAX_CLASSES_FOR_INTEGER_TARGET = 20
_DATETIME_SAMPLE = 200
_DATETIME_MIN_PARSED = 0.9
_PARQUET_SUFFIXES = {".parquet", ".pq"}
_SNIFF_BYTES = 64 * 1024
#: Error messages quote at most this many column names, each cut to this many characters.
QUOTED_NAMES, QUOTED_CHARS = 20, 60


class DataError(ValueError):
    """A problem with the user's data; `str(err)` is one line: the problem, then what to do."""


class ColumnProfile(BaseModel):
    """What one column looks like: its kind, missing values, distinct values and range."""

    name: str
    kind: ColumnKind
    dtype: str
    n_missing: int
    missing_fraction: float
    n_unique: int
    unique_fraction: float
    is_constant: bool
    is_integer: bool
    is_monotonic: bool
    examples: list[str]
    min: float | None = None
    max: float | None = None
    mean: float | None = None


class TargetProfile(BaseModel):
    """The target column: its kind and, when it looks like classes, how they are spread."""

    name: str
    kind: ColumnKind
    n_unique: int
    class_counts: dict[str, int]
    imbalance_ratio: float | None = None


class DataProfile(BaseModel):
    """A JSON-able summary of a table and, optionally, of its target column."""

    n_rows: int
    n_columns: int
    columns: list[ColumnProfile]
    target: TargetProfile | None = None

    def column(self, name: str) -> ColumnProfile | None:
        """Return the profile of column `name`, or None when the table has no such column."""
        return next((c for c in self.columns if c.name == name), None)


# --------------------------------------------------------------------------- loading

#: Tables wider than this are consolidated after reading (see `load_table`).
_CONSOLIDATE_COLUMNS = 256


def load_table(path: str | Path, na_values: list[str] | None = None) -> pd.DataFrame:
    """Read a CSV (any common delimiter; .csv/.tsv/.txt) or Parquet file into a DataFrame.

    `na_values` are extra strings to read as missing (e.g. ["?"]). Column names are
    stripped of surrounding whitespace. Raises `DataError` for a missing path, a
    directory, an empty or header-only file, and a file that is neither CSV nor Parquet.
    """
    path = Path(path)
    if not path.exists():
        raise DataError(f"data file '{path}' does not exist: check the path and file name")
    if path.is_dir():
        raise DataError(f"data path '{path}' is a directory: pass a CSV or Parquet file inside it")
    with path.open("rb") as fh:
        head = fh.read(_SNIFF_BYTES)
    if not head.strip():
        raise DataError(f"data file '{path}' is empty: add a header and rows or pick another file")
    if path.suffix.lower() in _PARQUET_SUFFIXES or head.startswith(b"PAR1"):
        df = _read_parquet(path, na_values)
    else:
        df = _read_csv(path, head, na_values)
    df.columns = [str(c).strip() for c in df.columns]
    # Counted in one pass: counting each name's copies was quadratic in the columns.
    duplicated = sorted(c for c, n in Counter(df.columns).items() if n > 1)
    if duplicated:
        raise DataError(
            f"data file '{path}' has duplicate column names {duplicated}: rename the columns"
        )
    if len(df) == 0:
        raise DataError(
            f"data file '{path}' has a header but no rows: add rows or pick another file"
        )
    # pandas keeps a block per parsed column: on a wide file each copy and selection then
    # costs a Python call per column; one block per dtype makes them array copies.
    return df._consolidate() if df.shape[1] > _CONSOLIDATE_COLUMNS else df


def _read_parquet(path: Path, na_values: list[str] | None) -> pd.DataFrame:
    try:
        df = pd.read_parquet(path)
    except (OSError, ValueError) as exc:  # pyarrow's errors subclass one of these
        raise DataError(
            f"data file '{path}' could not be read as Parquet ({type(exc).__name__}): "
            "check the file or export it again as CSV or Parquet"
        ) from None
    if na_values:
        df = df.replace(list(na_values), np.nan)
    return df


def _read_csv(path: Path, head: bytes, na_values: list[str] | None) -> pd.DataFrame:
    if b"\x00" in head:
        raise DataError(
            f"data file '{path}' is not a CSV or Parquet file (it looks binary): "
            "export the data as CSV or Parquet"
        )
    sample = head.decode("utf-8", errors="replace")
    sep = "\t" if path.suffix.lower() == ".tsv" else ","
    df = _parse_csv(path, sep, na_values)
    if df.shape[1] == 1:
        sniffed = _sniff_delimiter(sample)
        if sniffed and sniffed != sep:
            df = _parse_csv(path, sniffed, na_values)
    return df


def _parse_csv(path: Path, sep: str, na_values: list[str] | None) -> pd.DataFrame:
    try:
        try:
            return pd.read_csv(path, sep=sep, na_values=na_values, low_memory=False)
        except UnicodeDecodeError:  # not utf-8: latin-1 decodes any byte sequence
            return pd.read_csv(path, sep=sep, na_values=na_values, low_memory=False,
                               encoding="latin-1")
    except pd.errors.EmptyDataError:
        raise DataError(
            f"data file '{path}' is empty: add a header and rows or pick another file"
        ) from None
    except (pd.errors.ParserError, ValueError) as exc:
        first = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else type(exc).__name__
        raise DataError(
            f"data file '{path}' could not be parsed as CSV ({first}): "
            "check the delimiter and quoting, or export it as CSV or Parquet"
        ) from None


def _sniff_delimiter(sample: str) -> str | None:
    try:
        return csv.Sniffer().sniff(sample, delimiters=",;\t|").delimiter
    except csv.Error:
        return None


# --------------------------------------------------------------------------- profiling


def profile_table(df: pd.DataFrame, target: str | None = None) -> DataProfile:
    """Describe every column of `df` (and the `target` column, if named).

    Raises `DataError` when `target` is given but is not a column of `df`.
    """
    if target is not None and target not in df.columns:
        raise DataError(
            f"target column '{target}' is not in the data: pick one of {_names(df.columns)}"
        )
    columns = _profile_columns(df)
    profile = DataProfile(n_rows=len(df), n_columns=df.shape[1], columns=columns)
    if target is not None:
        profile.target = _profile_target(df[target], profile.column(target))
    return profile


def _profile_columns(df: pd.DataFrame) -> list[ColumnProfile]:
    """Every column's profile, in order: numeric columns of a wide table in blocks (one
    numpy pass for many columns), the others one by one."""
    done: dict[str, ColumnProfile] = {}
    for names in block_columns(df):
        done.update(zip(names, profile_block(df[names], ColumnProfile), strict=True))
    return [done.get(name) or profile_column(df[name]) for name in df.columns]


def profile_column(series: pd.Series) -> ColumnProfile:
    """Describe one column: kind (see `infer_kind`), missing values, distinct values, range."""
    n = len(series)
    present = series.dropna()
    n_missing = n - len(present)
    try:
        n_unique = int(present.nunique())
    except TypeError:  # unhashable cells such as lists from Parquet
        present = present.astype(str)
        n_unique = int(present.nunique())
    kind = infer_kind(series, n_unique=n_unique)
    numeric = kind == "numeric"
    is_integer = numeric and bool(np.all(np.mod(present.to_numpy(dtype=float), 1) == 0))
    is_integer = is_integer or ptypes.is_integer_dtype(series.dtype)
    monotonic = False
    if n_unique > 1 and kind in ("numeric", "datetime") and not ptypes.is_object_dtype(present):
        monotonic = bool(present.is_monotonic_increasing or present.is_monotonic_decreasing)
    examples = [_label_str(v) for v in present.drop_duplicates().head(5).tolist()]
    stats = {}
    if numeric and len(present):
        values = present.to_numpy(dtype=float)
        stats = {"min": float(values.min()), "max": float(values.max()),
                 "mean": float(values.mean())}
    return ColumnProfile(
        name=str(series.name), kind=kind, dtype=str(series.dtype), n_missing=int(n_missing),
        missing_fraction=n_missing / n if n else 0.0, n_unique=n_unique,
        unique_fraction=n_unique / len(present) if len(present) else 0.0,
        is_constant=n_unique <= 1, is_integer=bool(is_integer), is_monotonic=monotonic,
        examples=examples, **stats,
    )


def infer_kind(series: pd.Series, *, n_unique: int | None = None) -> ColumnKind:
    """Classify a column as boolean, numeric, datetime, text or categorical.

    Only a real bool dtype is "boolean" (yes/no strings are categorical). A string
    column is "datetime" when a single inferred format parses > 90% of a sample, and
    "text" when most values are distinct and long (>= 20 characters on average).
    """
    dtype = series.dtype
    if ptypes.is_bool_dtype(dtype):
        return "boolean"
    if ptypes.is_numeric_dtype(dtype):
        return "numeric"
    if ptypes.is_datetime64_any_dtype(dtype):
        return "datetime"
    present = series.dropna()
    if len(present) == 0:
        return "categorical"
    if not present.map(lambda v: isinstance(v, str)).all():
        return "categorical"
    if datetime_format(present) is not None:
        return "datetime"
    n_unique = present.nunique() if n_unique is None else n_unique
    if n_unique / len(present) > 0.5 and present.str.len().mean() >= TEXT_MIN_MEAN_LENGTH:
        return "text"
    return "categorical"


def datetime_format(strings: pd.Series) -> str | None:
    """Return the date format that parses > 90% of a sample of `strings`, else None."""
    sample = strings.dropna().astype(str).head(_DATETIME_SAMPLE)
    if len(sample) == 0:
        return None
    for dayfirst in (False, True):
        fmt = guess_datetime_format(sample.iloc[0], dayfirst=dayfirst)
        if fmt is None or not re.search("%[Yy]", fmt) or not re.search("%[mbB]", fmt):
            continue
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            parsed = pd.to_datetime(sample, format=fmt, errors="coerce")
        if parsed.notna().mean() > _DATETIME_MIN_PARSED:
            return fmt
    return None


def _profile_target(series: pd.Series, column: ColumnProfile) -> TargetProfile:
    class_like = column.kind in ("categorical", "boolean", "text") or (
        column.is_integer and column.n_unique <= MAX_CLASSES_FOR_INTEGER_TARGET
    )
    counts: dict[str, int] = {}
    imbalance = None
    if class_like:
        value_counts = series.dropna().map(_label_str).value_counts()
        counts = {str(k): int(v) for k, v in value_counts.head(50).items()}
        if len(value_counts):
            imbalance = float(value_counts.min() / value_counts.max())
    return TargetProfile(name=column.name, kind=column.kind, n_unique=column.n_unique,
                         class_counts=counts, imbalance_ratio=imbalance)


def _label_str(value: object) -> str:
    """A value as a user would write it: 2.0 -> "2", True -> "True"."""
    if isinstance(value, float | np.floating) and float(value).is_integer():
        return str(int(value))
    return str(value)


def quoted(value: object, limit: int = QUOTED_CHARS) -> str:
    """`value` (a column name or a cell read from a file) quoted for a one-line message,
    cut to about `limit` characters: an error quotes a file's contents only this far."""
    text = repr(str(value))
    return text if len(text) <= limit else f"{text[:limit - 4]}...{text[0]}"


def name_list(names: object, limit: int = QUOTED_NAMES) -> str:
    """The first `limit` names, each `quoted`, and how many more there are."""
    names = [str(n) for n in names]  # type: ignore[attr-defined]
    shown = ", ".join(quoted(n) for n in names[:limit])
    return shown + (f", ... ({len(names) - limit} more)" if len(names) > limit else "")


def _names(columns: pd.Index, limit: int = 10) -> str:
    return name_list(columns, limit)
