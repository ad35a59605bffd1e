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
from dataclasses import dataclass, field, replace
from typing import Any

from . import metrics
from .config import TaskSpec


@dataclass(frozen=True)
class VersionMetrics:
    """Feedback-based metrics of one version: `metric` and `value` are accuracy or MAE (the
    loss promotion compares); `scores` every metric of the model's task that labels or
    values can give (`feedback_scores`: roc_auc needs probabilities, which the log does not
    keep), so the job's own metric is among them."""

    version: str
    count: int
    mean_loss: float | None
    metric: str
    value: float | None
    scores: dict[str, float] = field(default_factory=dict)


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


def feedback_scores(task: TaskSpec, predictions: Sequence[Any], truths: Sequence[Any],
                    classes: Sequence[Any] | None = None) -> dict[str, float]:
    """The task's metrics (`engine.metrics.evaluate`) of logged predictions against their
    fed-back truths. Labels are compared as text (JSON may send 1 for "1"), in the model's
    class order (`classes`: a binary task's positive class is the second); values as
    numbers, leaving out pairs that are not. Undefined (NaN) scores are left out."""
    if task.is_classification:
        y_true, y_pred = [str(t) for t in truths], [str(p) for p in predictions]
        known = [str(c) for c in classes or ()]
        labels = known + sorted(set(y_true + y_pred) - set(known))
        found = metrics.evaluate(task, y_true, y_pred, classes=labels) if y_true else {}
    else:
        pairs = [(float(t), float(p)) for p, t in zip(predictions, truths, strict=True)
                 if row_loss(p, t, False) is not None]
        found = metrics.evaluate(task, *map(list, zip(*pairs, strict=True))) if pairs else {}
    return {k: float(v) for k, v in found.items() if math.isfinite(v)}


def with_scores(version: VersionMetrics, scores: dict[str, float]) -> VersionMetrics:
    """`version` with its task's `scores` (see `feedback_scores`)."""
    return replace(version, scores=scores)


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
