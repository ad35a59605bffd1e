"""Drift of live inputs and predictions against the training data (plain numpy and pandas).

    table = drift_table(training_frame, live_frame, numeric=["age"], categorical=["city"])
    [row.column for row in table if row.drifted]

Numeric columns: the population stability index (PSI) over ten bins cut at the training
data's quantiles (so each bin holds a tenth of training), with missing values a bin of
their own. Categorical columns: the total variation distance between the level shares
(half the sum of absolute differences; levels unseen in training count as one level
"(new)") and the chi-squared test's p-value. Both also report the missing-value rate
before and after. PSI below 0.1 is commonly read as stable, 0.1-0.25 as a shift, above
0.25 as a large one; `psi_threshold` and `tv_threshold` set where a row counts as drifted.
Performance (`performance_drift`): the live metric on labelled feedback against the
model's test score at training, as a relative degradation with its own threshold.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

#: Share floor in PSI's log ratio: an empty bin would otherwise make it infinite.
_EPS = 1e-4
_NEW_LEVEL = "(new)"
_MISSING = "(missing)"


@dataclass(frozen=True)
class FeatureDrift:
    """How one column moved between training and live rows."""

    column: str
    kind: str  # "numeric", "categorical" or "prediction"
    statistic: str  # "psi" or "tv"
    value: float
    p_value: float | None
    missing_train: float
    missing_live: float
    drifted: bool
    train_hist: list[float]
    live_hist: list[float]
    bins: list[str]


def quantile_edges(train: np.ndarray, bins: int = 10) -> np.ndarray:
    """Inner bin edges at the training values' quantiles (duplicates dropped)."""
    finite = train[np.isfinite(train)]
    if finite.size == 0:
        return np.array([])
    return np.unique(np.quantile(finite, np.linspace(0, 1, bins + 1)[1:-1]))


def _numeric_shares(values: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Shares per bin (values < edge 0, ..., >= last edge), then the missing values' share."""
    missing = ~np.isfinite(values)
    counts = np.bincount(np.searchsorted(edges, values[~missing], side="right"),
                         minlength=len(edges) + 1).astype(float)
    counts = np.append(counts, missing.sum())
    return counts / max(len(values), 1)


def psi(train_shares: np.ndarray, live_shares: np.ndarray) -> float:
    """Population stability index of two share vectors over the same bins."""
    p, q = np.clip(train_shares, _EPS, None), np.clip(live_shares, _EPS, None)
    return float(np.sum((q - p) * np.log(q / p)))


def numeric_drift(column: str, train: pd.Series, live: pd.Series, *, threshold: float = 0.2,
                  bins: int = 10) -> FeatureDrift:
    """PSI of a numeric column, bins from the training quantiles."""
    t = pd.to_numeric(train, errors="coerce").to_numpy(dtype=float)
    v = pd.to_numeric(live, errors="coerce").to_numpy(dtype=float)
    edges = quantile_edges(t, bins)
    p, q = _numeric_shares(t, edges), _numeric_shares(v, edges)
    value = psi(p, q)
    labels = ([f"< {edges[0]:.4g}"] if len(edges) else ["all"]) + [
        f">= {e:.4g}" for e in edges] + [_MISSING]
    return FeatureDrift(column, "numeric", "psi", round(value, 4), None,
                        _share_missing(t), _share_missing(v), value >= threshold,
                        p.round(4).tolist(), q.round(4).tolist(), labels)


def categorical_drift(column: str, train: pd.Series, live: pd.Series, *,
                      threshold: float = 0.2, kind: str = "categorical") -> FeatureDrift:
    """Total variation and chi-squared p-value of a categorical column's level shares."""
    t = train.astype(object).where(train.notna(), _MISSING).astype(str)
    v = live.astype(object).where(live.notna(), _MISSING).astype(str)
    levels = list(dict.fromkeys([*t.value_counts().index, _NEW_LEVEL]))
    known = set(levels)
    v = v.where(v.isin(known), _NEW_LEVEL)
    t_counts = t.value_counts().reindex(levels, fill_value=0).to_numpy(dtype=float)
    v_counts = v.value_counts().reindex(levels, fill_value=0).to_numpy(dtype=float)
    p, q = t_counts / max(t_counts.sum(), 1), v_counts / max(v_counts.sum(), 1)
    tv = float(0.5 * np.abs(p - q).sum())
    return FeatureDrift(column, kind, "tv", round(tv, 4), _chi2_p(t_counts, v_counts),
                        float((t == _MISSING).mean()), float((v == _MISSING).mean()),
                        tv >= threshold, p.round(4).tolist(), q.round(4).tolist(), levels)


def _chi2_p(train_counts: np.ndarray, live_counts: np.ndarray) -> float | None:
    """p-value of the chi-squared test that both samples share level frequencies."""
    used = (train_counts + live_counts) > 0
    table = np.vstack([train_counts[used], live_counts[used]])
    if table.shape[1] < 2 or (table.sum(axis=1) == 0).any():
        return None
    return round(float(stats.chi2_contingency(table)[1]), 6)


def _share_missing(values: np.ndarray) -> float:
    return float((~np.isfinite(values)).mean()) if len(values) else 0.0


def drift_table(train: pd.DataFrame, live: pd.DataFrame, *, numeric: Sequence[str],
                categorical: Sequence[str], psi_threshold: float = 0.2,
                tv_threshold: float = 0.2) -> list[FeatureDrift]:
    """One row per column present in both frames, numeric columns first."""
    rows = [numeric_drift(c, train[c], live[c], threshold=psi_threshold)
            for c in numeric if c in train and c in live]
    rows += [categorical_drift(c, train[c], live[c], threshold=tv_threshold)
             for c in categorical if c in train and c in live]
    return rows


def prediction_drift(train_predictions: Sequence, live_predictions: Sequence, *,
                     numeric: bool, psi_threshold: float = 0.2,
                     tv_threshold: float = 0.2) -> FeatureDrift:
    """Drift of the model's outputs: PSI for values (regression), TV for classes."""
    t, v = pd.Series(list(train_predictions)), pd.Series(list(live_predictions))
    if numeric:
        row = numeric_drift("(prediction)", t, v, threshold=psi_threshold)
    else:
        row = categorical_drift("(prediction)", t, v, threshold=tv_threshold)
    return FeatureDrift(**{**row.__dict__, "kind": "prediction"})


def performance_drift(metric: str, training_score: float, live_score: float | None, count: int,
                      *, threshold: float = 0.1, min_count: int = 50) -> FeatureDrift:
    """The live metric on labelled feedback against the training-time test score.

    `metric` is "accuracy" (higher is better) or "mae" (lower is better); the row's value
    is the relative degradation (0.1: a tenth worse than on the test rows), drifted at or
    above `threshold` once `count` labelled rows reach `min_count`. For accuracy the
    p-value is the one-sided binomial test that live accuracy is as high as at training.
    """
    lower_is_better = metric in ("mae", "rmse")
    value, p_value = 0.0, None
    if live_score is not None and count:
        worse = live_score - training_score if lower_is_better else training_score - live_score
        value = worse / max(abs(training_score), 1e-9)
        if not lower_is_better and 0 < training_score < 1:
            correct = round(live_score * count)
            p_value = round(float(stats.binomtest(correct, count, training_score,
                                                  alternative="less").pvalue), 6)
    return FeatureDrift("(performance)", "performance", f"{metric} degradation",
                        round(value, 4), p_value, 0.0, 0.0,
                        count >= min_count and value >= threshold,
                        [round(training_score, 4)],
                        [round(live_score, 4) if live_score is not None else 0.0],
                        [f"{metric} (test at training, live on {count} labelled)"])
