"""Profiles of many numeric columns at once, for wide tables.

`profile_column` costs about a millisecond a column in pandas calls, which makes a table of
20,000 columns take half a minute. Numeric columns of one dtype form a 2-D block, and
numpy answers the same questions for all of them in a few array passes: missing values
and distinct values (one sort down the columns), integer values, order, range and mean.
The profiles are those `profile_column` gives (`tests/engine/test_wide_profile.py`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from pandas.api import types as ptypes

if TYPE_CHECKING:
    from .data import ColumnProfile

#: Below this many columns of a dtype, the column-by-column path is as fast.
MIN_BLOCK_COLUMNS = 32
#: Cells in one block: its temporary arrays (a sorted copy, masks) stay near 64 MiB each.
BLOCK_CELLS = 2**23


def block_columns(df: pd.DataFrame) -> list[list[str]]:
    """Groups of the numeric (not boolean) columns of `df` that share a numpy dtype, each
    large enough to be worth profiling as one block and small enough to fit in memory."""
    if not df.columns.is_unique:
        return []
    groups: dict[str, list[str]] = {}
    for name, dtype in df.dtypes.items():
        if isinstance(dtype, np.dtype) and dtype.kind in "iuf":
            groups.setdefault(dtype.str, []).append(name)
    width = max(MIN_BLOCK_COLUMNS, BLOCK_CELLS // max(1, len(df)))
    return [names[i:i + width] for names in groups.values() if len(names) >= MIN_BLOCK_COLUMNS
            for i in range(0, len(names), width)]


def profile_block(df: pd.DataFrame, make: type[ColumnProfile]) -> list[ColumnProfile]:
    """`make` (ColumnProfile) for each column of `df`, whose columns share one numeric dtype."""
    values = df.to_numpy()
    n = values.shape[0]
    floats = values.astype(float, copy=False)
    missing = np.isnan(floats)
    n_missing = missing.sum(axis=0)
    ordered = np.sort(values, axis=0)  # NaN sorts last, so present values come first
    present_rows = n - n_missing
    # A new distinct value starts wherever the sorted column changes, among present values.
    rows = np.arange(1, n)[:, None]
    changes = (ordered[1:] != ordered[:-1]) & (rows < present_rows[None, :])
    n_unique = np.where(present_rows > 0, 1 + changes.sum(axis=0), 0)
    with np.errstate(invalid="ignore"):  # inf: not integral, and equal infinities in order
        integral = np.all((np.mod(np.where(missing, 0.0, floats), 1) == 0), axis=0)
        steps = np.diff(floats, axis=0)
        rising = np.all((steps >= 0) | np.isnan(steps), axis=0)
        falling = np.all((steps <= 0) | np.isnan(steps), axis=0)
    is_integer = integral | ptypes.is_integer_dtype(values.dtype)
    any_missing = n_missing > 0
    complete = ~any_missing
    low, high, mean = (np.full(floats.shape[1], np.nan) for _ in range(3))
    if n and complete.any():  # the range and mean of columns with no gaps, at once
        whole = floats[:, complete]
        low[complete], high[complete] = whole.min(axis=0), whole.max(axis=0)
        with np.errstate(invalid="ignore", over="ignore"):
            mean[complete] = whole.mean(axis=0)
    dtype = str(values.dtype)
    label = str if values.dtype.kind in "iu" else _label
    profiles = []
    for j, name in enumerate(df.columns):
        column = floats[:, j]
        present = column[~missing[:, j]] if any_missing[j] else column
        if any_missing[j]:  # order among the present values only: diffs across a gap differ
            steps_j = np.diff(present)
            monotonic = bool(np.all(steps_j >= 0) or np.all(steps_j <= 0))
        else:
            monotonic = bool(rising[j] or falling[j])
        count = int(n_unique[j])
        raw = values[:, j] if not any_missing[j] else values[:, j][~missing[:, j]]
        firsts = list(dict.fromkeys(raw[:64].tolist()))[:5]  # distinct, in order of appearance
        if len(firsts) < 5 and count > len(firsts):
            firsts = list(dict.fromkeys(raw.tolist()))[:5]
        examples = [label(v) for v in firsts]
        stats = {}
        if complete[j] and n:
            stats = {"min": float(low[j]), "max": float(high[j]), "mean": float(mean[j])}
        elif len(present):
            stats = {"min": float(present.min()), "max": float(present.max()),
                     "mean": float(present.mean())}
        profiles.append(make(
            name=str(name), kind="numeric", dtype=dtype,
            n_missing=int(n_missing[j]), missing_fraction=int(n_missing[j]) / n if n else 0.0,
            n_unique=count, unique_fraction=count / len(present) if len(present) else 0.0,
            is_constant=count <= 1, is_integer=bool(is_integer[j]),
            is_monotonic=count > 1 and monotonic, examples=examples, **stats))
    return profiles


def _label(value: object) -> str:
    """A value as a user would write it: 2.0 -> "2" (as `data._label_str`)."""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)
