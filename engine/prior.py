"""Prior trials: past searches' trials on similar data, shown to a new search's sampler.

A warm start hands `search.tune` the completed trials of past searches. They join the
study as completed trials marked with `PRIOR_ATTR`, so that TPE's model starts from their
good and bad regions instead of from random samples. They are never trained again,
counted, reported or kept as candidates.

Scale: a past run's scores are not this run's (another sample of data, another split).
TPE only ranks trials, but it ranks the prior trials together with this search's own, so
an offset between the two runs would put every prior trial above (or below) every own
one. So the prior trials join the study only once this search's enqueued configs have
run (they need no sampler), and each past run's scores are shifted so that its best
trial is level with this search's best so far; the others keep their distance to it.
Usually the first enqueued configs are that very run's best configs, adapted, so this
search's best so far is what the past best region scores here.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import optuna
from optuna.distributions import BaseDistribution

from .config import TrainingConfig
from .space import fit_params

#: Trial user attribute marking a prior trial; its value is where the trial came from.
PRIOR_ATTR = "mlpilot.prior"


@dataclass(frozen=True)
class PriorTrial:
    """A completed trial of a past search on similar data, shown to the sampler.

    `params` are search-space parameters as `space.sample_config` names them, `value` the
    trial's validation score on this search's metric (in the past run), `source` where it
    came from (a past run's id).
    """

    params: dict[str, Any]
    value: float
    source: str


@dataclass(frozen=True)
class FittedPrior:
    """A prior trial's parameters fitted into this search's space."""

    params: dict[str, Any]
    distributions: dict[str, BaseDistribution]
    value: float
    source: str


def held(study: optuna.Study) -> list[optuna.trial.FrozenTrial]:
    """The prior trials a study holds already."""
    return [t for t in study.get_trials(deepcopy=False) if PRIOR_ATTR in t.user_attrs]


def fit(prior: Sequence[PriorTrial], base: TrainingConfig, n_train_rows: int
        ) -> list[FittedPrior]:
    """The prior trials with a finite score whose parameters fit the space of `base`."""
    fitted = []
    for past in prior:
        found = fit_params(past.params, base, n_train_rows) if math.isfinite(past.value) else None
        if found is not None:
            fitted.append(FittedPrior(*found, value=past.value, source=past.source))
    return fitted


def families(params: Sequence[dict[str, Any]], base: TrainingConfig) -> set[str]:
    """The model families some of these trial parameters describe."""
    return {p.get("family", base.model.family) for p in params}


def add(study: optuna.Study, prior: Sequence[FittedPrior], best: float | None) -> int:
    """Add the prior trials to the study, each past run's scores shifted so that its best is
    level with `best` (this search's best so far; None: unshifted). Returns how many."""
    lower = study.direction == optuna.study.StudyDirection.MINIMIZE
    trials = []
    for source in dict.fromkeys(p.source for p in prior):
        own = [p for p in prior if p.source == source]
        top = min(p.value for p in own) if lower else max(p.value for p in own)
        offset = 0.0 if best is None or not math.isfinite(best) else best - top
        trials += [optuna.trial.create_trial(
            params=p.params, distributions=p.distributions, value=p.value + offset,
            user_attrs={PRIOR_ATTR: source}) for p in own]
    study.add_trials(trials)
    return len(trials)
