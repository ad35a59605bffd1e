"""Live metrics from labelled feedback, and whether a challenger is not worse than the champion.

Each labelled prediction has a loss: 0 or 1 (wrong class) for classification, the
absolute error for regression. A challenger is "not worse beyond noise" when its mean
loss exceeds the champion's by at most `z` standard errors of the difference: paired on
the ids both scored (shadow mode: every request scored by both), else two independent
samples (canary mode: each request answered by one). Both need `min_count` labelled rows.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class VersionMetrics:
    """Feedback-based metrics of one version."""

    version: str
    count: int
    mean_loss: float | None
    metric: str
    value: float | None


@dataclass(frozen=True)
class Comparison:
    """The challenger against the champion on feedback."""

    not_worse: bool
    ready: bool  # both have at least min_count labelled rows
    paired: bool
    difference: float | None  # challenger's mean loss minus the champion's
    noise: float | None  # z standard errors of that difference
    reason: str


def row_loss(prediction: Any, truth: Any, classification: bool) -> float | None:
    """The loss of one prediction (None when the truth cannot be compared to it)."""
    if classification:
        return 0.0 if str(prediction) == str(truth) else 1.0
    try:
        value = abs(float(prediction) - float(truth))
    except (TypeError, ValueError):
        return None
    return value if math.isfinite(value) else None


def version_metrics(version: str, losses: Sequence[float], classification: bool) -> VersionMetrics:
    """Accuracy (classification) or MAE (regression) from the losses."""
    count = len(losses)
    mean = sum(losses) / count if count else None
    if classification:
        return VersionMetrics(version, count, mean, "accuracy", None if mean is None else 1 - mean)
    return VersionMetrics(version, count, mean, "mae", mean)


def compare(champion: dict[str, float], challenger: dict[str, float], *, min_count: int,
            z: float = 1.645) -> Comparison:
    """Whether the challenger (losses by id) is not worse than the champion beyond noise."""
    n_a, n_b = len(champion), len(challenger)
    if min(n_a, n_b) < min_count:
        return Comparison(False, False, False, None, None,
                          f"{min(n_a, n_b)} labelled predictions of the {min_count} needed "
                          f"(champion {n_a}, challenger {n_b}): send more feedback")
    both = sorted(set(champion) & set(challenger))
    if len(both) >= min_count:
        diffs = [challenger[i] - champion[i] for i in both]
        difference, se, paired = _mean(diffs), _sd(diffs) / math.sqrt(len(diffs)), True
    else:
        a, b = list(champion.values()), list(challenger.values())
        difference = _mean(b) - _mean(a)
        se = math.sqrt(_sd(a) ** 2 / len(a) + _sd(b) ** 2 / len(b))
        paired = False
    noise = z * se
    not_worse = difference <= noise
    how = "paired on the same rows" if paired else "on separate rows"
    verdict = "not worse" if not_worse else "worse"
    return Comparison(not_worse, True, paired, round(difference, 6), round(noise, 6),
                      f"challenger {verdict}: mean loss {difference:+.4f} vs the champion "
                      f"({how}), noise {noise:.4f}")


def _mean(values: Sequence[float]) -> float:
    return sum(values) / len(values)


def _sd(values: Sequence[float]) -> float:
    if len(values) < 2:
        return 0.0
    mean = _mean(values)
    return math.sqrt(sum((v - mean) ** 2 for v in values) / (len(values) - 1))
