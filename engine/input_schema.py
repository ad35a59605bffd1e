"""What a trained model reads, and rows for a prediction checked against it.

A model's input schema comes from the preprocessor it was saved with (see `encoding.py`):
its raw feature columns, the kind of each (numeric, datetime, categorical), and whether
the training data had missing values in it. `prepare_data` records the columns with gaps
in any of its splits (`columns_with_missing`); the training split's own gaps (a
missing-indicator, a "missing" level) count too. A model saved before that record
existed cannot say for the columns its training split had no gaps in: those are
"unknown", and a missing value is allowed there.

`rows_frame` turns rows (column -> value, as JSON gives them) into the frame a model
predicts on, one frame row per row in, and refuses what the training data could not have
held: a missing column, a value of the wrong type (`"abc"`, an object or a list for a
number), or a missing value where training had none.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd

from .encoding import _DATETIME_PARTS, RawRows

#: How many problems a refusal lists (the first is its message).
MAX_PROBLEMS = 20
_NO_GAPS = ('a missing value, but training had none in this column: send a value, or '
            '"missing": "allow" to predict anyway')
_NUMBER_TYPES = {int, float, type(None)}  # exact types: a bool is no number here


@dataclass(frozen=True)
class InputColumn:
    """One raw column a model reads.

    `missing_in_training` is None when the saved model does not say (then gaps are allowed).
    `date_format` is the strptime format of a datetime column's text (None: any date text).
    """

    name: str
    kind: Literal["numeric", "datetime", "categorical"]
    missing_in_training: bool | None
    date_format: str | None = None


@dataclass(frozen=True)
class RowProblem:
    """Why one value of one row cannot be used."""

    row: int
    column: str
    message: str

    def __str__(self) -> str:
        return f"row {self.row}, column {self.column!r}: {self.message}"


class RowError(ValueError):
    """Rows that do not fit the model's input schema; `problems` lists them, first first."""

    def __init__(self, problems: Sequence[RowProblem]):
        self.problems = list(problems)
        more = len(self.problems) - 1
        super().__init__(str(self.problems[0]) + (f" (and {more} more)" if more else ""))


def input_columns(model: Any) -> list[InputColumn]:
    """The raw columns a `TrainedModel` or `EnsembleModel` reads, in a stable order.

    An ensemble reads every column one of its members reads; a column's gaps count as
    seen in training when one member saw them, and as unknown when one member cannot say.
    """
    own = getattr(model, "input_columns", None)
    if callable(own):  # a model with feature transforms knows its raw columns itself
        return own()
    found: dict[str, InputColumn] = {}
    for preprocessor in _preprocessors(model):
        for column in _columns_of(preprocessor):
            known = found.get(column.name)
            if known is None:
                found[column.name] = column
                continue
            seen = (None if None in (known.missing_in_training, column.missing_in_training)
                    else known.missing_in_training or column.missing_in_training)
            found[column.name] = InputColumn(known.name, known.kind, seen, known.date_format)
    return list(found.values())


def rows_frame(rows: Sequence[dict[str, Any]], columns: Sequence[InputColumn], *,
               allow_missing: bool = False) -> pd.DataFrame:
    """`rows_columns` as a DataFrame: numeric columns float64, the others objects."""
    checked = rows_columns(rows, columns, allow_missing=allow_missing)
    return pd.DataFrame({c.name: _as_series(checked.columns[c.name], c) for c in columns},
                        index=pd.RangeIndex(len(rows)))


def rows_columns(rows: Sequence[dict[str, Any]], columns: Sequence[InputColumn], *,
                 allow_missing: bool = False) -> RawRows:
    """The rows' values by input column, converted and checked: what a model encodes
    (`Preprocessor.transform` takes them as they are, without a DataFrame).

    Numeric columns become floats (numbers, or text that reads as one); categorical ones
    keep strings, numbers and booleans; datetime ones keep text that parses in the
    training data's format. null, an empty string or NaN is a missing value: allowed where
    training had missing values (or did not say), everywhere with `allow_missing`.
    Other keys of a row (the target, an ID) are ignored.
    Raises `RowError` naming each row and column that does not fit.
    """
    problems: list[RowProblem] = []
    data: dict[str, list[Any]] = {}
    for column in columns:
        values = _plain_values(rows, column)
        if values is not None:  # every value plain: checked in one pass
            if not (allow_missing or column.missing_in_training is not False):
                problems += [RowProblem(i, column.name, _NO_GAPS)
                             for i, v in enumerate(values) if v is None]
            data[column.name] = values
            continue
        values = []
        for index, row in enumerate(rows):
            if column.name not in row:
                problems.append(RowProblem(index, column.name, "the column is absent: send "
                                           "every column the model was trained on"))
                values.append(None)
                continue
            value, why = _converted(row[column.name], column)
            if why is None and value is None and not (
                    allow_missing or column.missing_in_training is not False):
                why = _NO_GAPS
            if why is not None:
                problems.append(RowProblem(index, column.name, why))
            values.append(value)
        if column.kind == "datetime":
            problems += _unparsed_dates(values, column)
        data[column.name] = values
    if problems:
        problems.sort(key=lambda p: p.row)  # the first row's problems first, in column order
        raise RowError(problems[:MAX_PROBLEMS])
    return RawRows(data, len(rows))


def _plain_values(rows: Sequence[dict[str, Any]], column: InputColumn) -> list[Any] | None:
    """A column's values in one pass when all are plain, as `_converted` would give them:
    finite numbers or nulls for a numeric column, non-empty text for a categorical one.
    None (check value by value) when one is absent or anything else (NaN, text for a
    number, an empty string, a list...)."""
    if column.kind == "datetime":
        return None
    try:
        raw = [row[column.name] for row in rows]
    except KeyError:
        return None
    # Sets, map and sum run in C: a generator per value cost more than the rest of a check.
    kinds = set(map(type, raw))
    if column.kind == "numeric":
        if not kinds <= _NUMBER_TYPES:
            return None
        try:
            values = [None if v is None else float(v) for v in raw]
        except OverflowError:  # an integer past float's range: refused value by value
            return None
        # a NaN or an infinity makes the sum non-finite (so does an overflow: then the
        # values are only checked one by one)
        present = [v for v in values if v is not None] if type(None) in kinds else values
        return values if math.isfinite(sum(present)) else None
    if kinds == {str} and all(map(str.strip, raw)):
        return raw
    return None


def _converted(value: Any, column: InputColumn) -> tuple[Any, str | None]:
    """(the value as the model reads it, None) or (None, why it cannot be read)."""
    if _is_missing(value):
        return None, None
    if isinstance(value, dict | list):
        shape = "an object" if isinstance(value, dict) else "a list"
        return None, f"{shape} is not a {_wanted(column)}"
    if column.kind == "numeric":
        return _number(value)
    if column.kind == "datetime" and not isinstance(value, str):
        return None, f"{_shown(value)} is not a date: send the date as text"
    return value, None


def _number(value: Any) -> tuple[float | None, str | None]:
    if isinstance(value, bool):  # JSON true/false: a numeric column never held them
        return None, f"{_shown(value)} is not a number"
    try:
        number = float(value.strip() if isinstance(value, str) else value)
    except (TypeError, ValueError, OverflowError):
        return None, f"{_shown(value)} is not a number"
    if math.isnan(number):
        return None, None
    if math.isinf(number):
        return None, f"{_shown(value)} is not a finite number"
    return number, None


def _unparsed_dates(values: list[Any], column: InputColumn) -> list[RowProblem]:
    """A problem for each date text that does not read in the training data's format."""
    present = [(i, v) for i, v in enumerate(values) if isinstance(v, str)]
    if not present:
        return []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        parsed = pd.to_datetime(pd.Series([v for _, v in present], dtype="string"),
                                format=column.date_format, errors="coerce", utc=True)
    like = f" like the training data's ({column.date_format})" if column.date_format else ""
    return [RowProblem(i, column.name, f"{_shown(v)} is not a date{like}")
            for (i, v), ok in zip(present, parsed.notna(), strict=True) if not ok]


def _as_series(values: list[Any], column: InputColumn) -> pd.Series:
    if column.kind == "numeric":
        return pd.Series([np.nan if v is None else v for v in values], dtype=np.float64)
    return pd.Series(values, dtype=object)


def _is_missing(value: Any) -> bool:
    if value is None:
        return True
    if isinstance(value, str):
        return not value.strip()
    return isinstance(value, float) and math.isnan(value)


def _wanted(column: InputColumn) -> str:
    return {"numeric": "number", "datetime": "date"}.get(
        column.kind, "category: send a string, number or boolean")


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _preprocessors(model: Any) -> list[Any]:
    members = getattr(model, "models", None)
    if members is None:
        return [model.preprocessor]
    found: dict[int, Any] = {}
    for member in members:
        for preprocessor in _preprocessors(member):
            found.setdefault(id(preprocessor), preprocessor)
    return list(found.values())


def _columns_of(pre: Any) -> list[InputColumn]:
    """Read a fitted `encoding.Preprocessor`: its numeric block is the numeric columns,
    then four parts per datetime column; `indicator_columns` index that block's columns
    that had gaps in the training split, `has_missing_level` the categorical ones."""
    recorded = getattr(pre, "columns_with_missing", None)  # absent: saved before the record
    gaps = set(getattr(pre, "indicator_columns", ()))
    levels = getattr(pre, "has_missing_level", {})
    in_split = {name: i in gaps for i, name in enumerate(pre.numeric)}
    start, width = len(pre.numeric), len(_DATETIME_PARTS)
    for j, name in enumerate(pre.datetime_formats):
        in_split[name] = any(p in gaps for p in range(start + width * j, start + width * (j + 1)))
    in_split.update({name: bool(levels.get(name)) for name in pre.categorical})

    def seen(name: str) -> bool | None:
        if in_split[name] or (recorded is not None and name in recorded):
            return True
        return None if recorded is None else False

    kinds = ([(n, "numeric", None) for n in pre.numeric]
             + [(n, "datetime", f) for n, f in pre.datetime_formats.items()]
             + [(n, "categorical", None) for n in pre.categorical])
    return [InputColumn(name, kind, seen(name), fmt) for name, kind, fmt in kinds]
