"""The median rule a trial on Ray is pruned by: the local MedianPruner's, carried along."""

from __future__ import annotations

import optuna
import pytest

from mlpilot.engine.training import EpochResult
from mlpilot.engine.trial_executor import MedianStop, median_stop


def _study(curves: list[list[float]], direction: str = "maximize") -> optuna.Study:
    study = optuna.create_study(direction=direction, pruner=optuna.pruners.MedianPruner(
        n_startup_trials=3, n_warmup_steps=2, n_min_trials=3))
    for curve in curves:
        trial = study.ask()
        for step, value in enumerate(curve, start=1):
            trial.report(value, step)
        study.tell(trial, max(curve) if direction == "maximize" else min(curve))
    return study


class _Run:
    def __init__(self, scores: list[float]):
        self.history = [_epoch(i, s) for i, s in enumerate(scores, start=1)]


def _epoch(number: int, score: float) -> EpochResult:
    return EpochResult(epoch=number, train_loss=0.0, valid_loss=0.0, valid_score=score,
                       learning_rate=1e-3, elapsed_s=0.0)


def test_the_rule_waits_for_enough_completed_trials():
    assert median_stop(_study([[0.5, 0.6, 0.7], [0.4, 0.5, 0.6]]), "accuracy") is None
    assert median_stop(_study([[0.5, 0.6, 0.7]] * 3), "accuracy") is not None


def test_a_trial_below_the_median_is_pruned_after_the_warmup():
    rule = median_stop(_study([[0.5, 0.6, 0.7], [0.4, 0.5, 0.6], [0.3, 0.4, 0.9]]), "accuracy")
    assert rule.medians == {1: 0.4, 2: 0.5, 3: 0.7}
    rule.on_epoch_end(_Run([0.1]), _epoch(1, 0.1))  # the warm-up: never pruned
    rule.on_epoch_end(_Run([0.1, 0.55]), _epoch(2, 0.55))  # above the median
    with pytest.raises(optuna.TrialPruned):
        rule.on_epoch_end(_Run([0.1, 0.55, 0.6]), _epoch(3, 0.6))


def test_lower_is_better_for_an_error_metric():
    rule = median_stop(_study([[3.0, 2.0, 1.0]] * 3, direction="minimize"), "rmse")
    assert isinstance(rule, MedianStop) and rule.lower_is_better
    rule.on_epoch_end(_Run([2.5, 1.5]), _epoch(2, 1.5))
    with pytest.raises(optuna.TrialPruned):
        rule.on_epoch_end(_Run([2.5, 2.5, 2.5]), _epoch(3, 2.5))
