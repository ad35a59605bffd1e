"""Shared ground for reading a request: its folded form, spans of it, and the one error.

Every reader (`budget_reading`, `metric_reading`, `column_mentions`, `understanding`) works
on `normalise(text)`; positions in their spans index that folded text.
"""

from __future__ import annotations

import unicodedata
from typing import NamedTuple


class RequestError(ValueError):
    """The request itself is unusable; `str(err)` is one line: the problem and what to do."""


class Span(NamedTuple):
    """A number or duration found in the folded text, with what it is worth."""

    start: int
    end: int
    value: float  # seconds for a duration, the number itself for a goal
    unit: float = 0.0  # seconds per unit of a duration, to merge "1h30m"
    flag: bool = False  # duration: written negative; goal: written as a percentage
    bare: bool = False  # a bare 分, which is only a minute right after an hour


class Mention(NamedTuple):
    """A place the folded text names a column or a metric."""

    start: int
    end: int
    name: str  # the column, or the metric
    quoted: bool = False


_QUOTES = str.maketrans({"‘": "'", "’": "'", "“": '"', "”": '"', "「": '"', "」": '"',
                         "−": "-"})


def normalise(text: str) -> str:
    """Fold a request for matching: NFKC (full-width to ASCII, "R²" to "r2"), lower case."""
    return unicodedata.normalize("NFKC", text).translate(_QUOTES).lower()


def longest_first(found: list) -> list:
    """Drop matches that overlap a longer one, so "balanced accuracy" beats "accuracy"."""
    kept: list = []
    for item in sorted(found, key=lambda f: (f[0] - f[1], f[0])):
        if all(item[1] <= k[0] or k[1] <= item[0] for k in kept):
            kept.append(item)
    return sorted(kept, key=lambda f: f[0])

