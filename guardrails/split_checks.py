"""Evidence that a random train/test split would flatter the model: duplicated rows, and
rows that are in time order.

- Exact duplicate rows (features and target alike) land on both sides of a random split,
  so the test set partly repeats the training set.
- A table with a time column, or rows recorded in time order, is usually used to predict
  later rows from earlier ones; a random split lets the model learn from its test rows'
  future. A year alone (a car's model year, a house's year built) is an attribute, not a
  time of observation, and is not flagged.

Both only advise: what to do depends on how the model will be used, which the data cannot
say. The remedies are the user's: deduplicate the file, or hold out the latest rows as the
job's own test file (`--test-data`, `test_data:` in a YAML job).
"""

from __future__ import annotations

import re
import warnings

import numpy as np
import pandas as pd

from mlpilot.guardrails.data_checks import (
    _DATE,
    MIN_VALUES,
    Flag,
    _is_text,
    _sample_strings,
    name_words,
)

#: Duplicate rows are worth a flag from this share of the table on.
DUPLICATE_FRACTION = 0.01
#: Rows count as in time order when this share of consecutive pairs never goes back in time.
ORDERED_FRACTION = 0.95
#: The default test share of the engine's random split (TrainingConfig.test_fraction).
TEST_FRACTION = 0.2

_MONTHS = {m: i for i, m in enumerate(
    ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"], 1)}
_BIRTH = re.compile(r"birth|dob|born", re.IGNORECASE)


# -- duplicated rows ---------------------------------------------------------------------------

def find_duplicate_rows(df: pd.DataFrame, target: str, *, test_fraction: float = TEST_FRACTION,
                        test_df: pd.DataFrame | None = None) -> list[Flag]:
    """Exact copies of rows (every feature and the target equal) on both sides of the split.

    With the user's own `test_df`, counts its rows that have an identical twin in `df`.
    Otherwise counts the extra copies in `df` (rows equal to an earlier row) and, for a
    random split holding out `test_fraction`, the expected number of test rows with an
    identical twin in training: sum over groups of k copies of k * p * (1 - p^(k-1)).
    Flags from 1% of the rows on (fewer are noise, not a skew). Action: advise
    deduplicating before the split.
    """
    if len(df) < MIN_VALUES or target not in df.columns:
        return []
    if test_df is not None:
        return _twins_in_test(df, test_df)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            extra = int(df.duplicated().sum())
    except TypeError:  # unhashable cells (lists, dicts): no exact copies to speak of
        return []
    fraction = extra / len(df)
    if fraction < DUPLICATE_FRACTION:
        return []
    sizes = df.groupby(list(df.columns), dropna=False, sort=False).size()
    sizes = sizes[sizes > 1].to_numpy(dtype=float)
    p = test_fraction
    twins = float((sizes * p * (1 - p ** (sizes - 1))).sum())
    evidence = (f"{extra} rows ({fraction:.1%}) repeat an earlier row exactly, target included "
                f"({len(sizes)} groups of copies); a random {p:.0%} test split would put about "
                f"{twins:.0f} test rows next to an identical twin in training, which flatters "
                "the test score")
    return [Flag(kind="duplicates", column=None, evidence=evidence, score=round(fraction, 4),
                 action="advise", suggestion="deduplicate the data before training (training "
                 "option deduplicate: true), unless the copies are distinct real cases "
                 "(people, items) that will recur when predicting")]


def _twins_in_test(df: pd.DataFrame, test_df: pd.DataFrame) -> list[Flag]:
    columns = [c for c in df.columns if c in test_df.columns]
    if not columns or len(test_df) == 0:
        return []
    # A merge matches missing values with missing values, as duplicated() does.
    joined = test_df[columns].merge(df[columns].drop_duplicates(), how="left", on=columns,
                                    indicator=True)
    twins = int((joined["_merge"] == "both").sum())
    fraction = twins / len(test_df)
    if fraction < DUPLICATE_FRACTION:
        return []
    evidence = (f"{twins} of the {len(test_df)} test rows ({fraction:.1%}) have an identical twin "
                "in the training data, target included: the test score partly measures memory")
    return [Flag(kind="duplicates", column=None, evidence=evidence, score=round(fraction, 4),
                 action="advise", suggestion="remove from the test file the rows that also "
                 "appear in the training data, unless they are distinct real cases")]


# -- time order ----------------------------------------------------------------------------------

def _as_dates(s: pd.Series) -> pd.Series | None:
    """The column as timestamps when it holds dates (datetime dtype, or >= 90% date strings)."""
    if pd.api.types.is_datetime64_any_dtype(s):
        return pd.to_datetime(s, utc=True)
    if not _is_text(s):
        return None
    values = s.dropna()
    if len(values) < MIN_VALUES or _sample_strings(values).str.match(_DATE).mean() < 0.9:
        return None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        stamps = pd.to_datetime(s, errors="coerce", utc=True, format="mixed")
    return stamps if stamps.notna().sum() >= 0.9 * len(values) else None


def _order(key: np.ndarray) -> tuple[float, int, int]:
    """How well the rows follow `key`: (share of consecutive pairs that never go back,
    pairs that go back, pairs). A descending log counts as ordered too."""
    if len(key) < 2:
        return 0.0, 0, 0
    step = np.diff(key)
    back = int(min((step < 0).sum(), (step > 0).sum()))
    return 1.0 - back / len(step), back, len(step)


def _month_numbers(s: pd.Series) -> pd.Series | None:
    if pd.api.types.is_integer_dtype(s) and s.dropna().between(1, 12).all():
        return s.astype(float)
    if _is_text(s):
        numbers = s.astype(str).str.strip().str[:3].str.lower().map(_MONTHS)
        return numbers if numbers.notna().mean() >= 0.9 else None
    return None


def _date_parts(df: pd.DataFrame) -> tuple[list[str], np.ndarray] | None:
    """Columns named year/month/day that together make a date, and that date as a number."""
    month = next((c for c in df.columns if name_words(c) in (["month"], ["mon"])), None)
    day = next((c for c in df.columns if name_words(c) in (["day"], ["day", "of", "month"])), None)
    if month is None or day is None:
        return None
    months = _month_numbers(df[month])
    days = df[day]
    if months is None or not pd.api.types.is_integer_dtype(days) or not days.between(1, 31).all():
        return None
    columns, key = [month, day], months.to_numpy() * 31 + days.to_numpy()
    year = next((c for c in df.columns if name_words(c) in (["year"], ["yr"])), None)
    if year is not None and pd.api.types.is_integer_dtype(df[year]):
        columns, key = [year, *columns], df[year].to_numpy() * 400 + key
    return columns, key


def find_time_columns(df: pd.DataFrame, target: str) -> list[Flag]:
    """Time columns, and rows in time order, that call for a temporal split.

    Flags (action "advise"):
    - a column of dates (datetime dtype, or >= 90% date strings; birth dates excepted),
      saying whether the rows follow it (>= 95% of consecutive rows never go back in time);
    - month and day columns (month names or 1-12, days 1-31, optionally a year) along which
      the rows are in order: the table is a log, even without a full date.
    Year-only columns are never flagged.
    """
    flags = []
    for column in df.columns:
        if column == target or _BIRTH.search(str(column)):
            continue
        stamps = _as_dates(df[column])
        if stamps is None or stamps.notna().sum() < MIN_VALUES:
            continue
        present = stamps.dropna()
        share, back, pairs = _order(present.astype("int64").to_numpy())
        span = f"from {present.min():%Y-%m-%d} to {present.max():%Y-%m-%d}"
        if share >= ORDERED_FRACTION:
            said = (f"{column!r} holds dates {span} and the rows follow them: only {back} of "
                    f"{pairs} consecutive rows go back in time")
            advice = (f"hold out the latest rows by {column!r} (training options split: time, "
                      f"time_column: {column}): a random split trains on the future of its "
                      "test rows")
        else:
            said = (f"{column!r} holds dates {span}; the rows are not in date order "
                    f"({back} of {pairs} consecutive rows go back in time)")
            advice = (f"if the model will predict rows later than the training data, hold out "
                      f"the latest rows by {column!r} (training options split: time, "
                      f"time_column: {column})")
        flags.append(Flag(kind="temporal", column=column, evidence=said, score=round(share, 4),
                          action="advise", suggestion=advice))
    parts = _date_parts(df.drop(columns=[target], errors="ignore"))
    if parts is not None and not flags:
        columns, key = parts
        share, back, pairs = _order(key[~np.isnan(key)])
        if share >= ORDERED_FRACTION:
            names = " + ".join(repr(c) for c in columns)
            flags.append(Flag(
                kind="temporal", column=None, score=round(share, 4), action="advise",
                evidence=(f"the rows are in date order along {names}: only {back} of {pairs} "
                          "consecutive rows go back in time (the table is a log)"),
                suggestion=("hold out the last rows of the file (training option split: time): "
                            "a random split trains on the future of its test rows")))
    return flags
