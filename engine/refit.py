"""Final refit: the model a search chose, trained again on its training and validation rows.

A search picks its model on validation rows it never trained on. Once the choice is made,
those rows are worth more as training data: `refit` trains the same config again on all
rows, for a fixed length taken from the search (nothing is left to early-stop on):

- boosted trees boost the search trial's iterations, scaled by the rows' ratio (more
  rows carry more boosting before it overfits); a forest grows as many trees as before;
- networks train the trial's best epoch count (each epoch now has more rows, hence more
  steps) and replay the trial's learning-rate schedule epoch by epoch, keeping the last
  weights.

Time: `plan_refit` estimates a refit's seconds from the trial's measured time; `refit`
stops at its deadline and then returns None, and the caller keeps the searched model.
`refit_chosen` refits a single model or an ensemble's members (largest weight first,
each only when its estimate fits the time left; the validation-chosen weights stay).
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import torch

from .boosters import fit_booster
from .config import BOOSTED_FAMILIES, BOOSTER_FAMILIES, TREE_FAMILIES, TaskSpec, TrainingConfig
from .ensemble import EnsembleModel
from .forests import fit_forest
from .glm import fit_glm
from .predictor import TrainedModel
from .preprocess import PreparedData
from .training import Callback, EpochResult, FitResult, TrainingRun, fit
from .trees import TreeFitResult, fit_trees

#: A refit is started only when its estimate times this fits the time left. The search
#: keeps back the final stage's estimate times `final_stage.MARGIN` (for a machine whose
#: load varies); once it has ended, time that no refit uses is lost, and a refit the
#: deadline cuts costs no more than skipping it: one that is expected to fit is started.
SAFETY = 1.0


@dataclass(frozen=True)
class RefitPlan:
    """How to refit one trial: `rounds` (boosting iterations or epochs), estimated seconds."""

    rounds: int
    seconds: float


@dataclass
class RefitReport:
    """What `refit_chosen` did: models refitted and skipped (with why), rows, seconds."""

    rows: int
    refitted: list[int] = field(default_factory=list)
    skipped: dict[int, str] = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def complete(self) -> bool:
        """True when every chosen model was refitted."""
        return bool(self.refitted) and not self.skipped

    def as_dict(self) -> dict:
        """A JSON-able summary (the job state keeps it)."""
        return {"rows": self.rows, "refitted": self.refitted,
                "skipped": {str(k): v for k, v in self.skipped.items()},
                "seconds": round(self.seconds, 3), "complete": self.complete}


def all_rows(data: PreparedData) -> PreparedData:
    """`data` with its validation rows added to the training rows (the validation rows
    stay as they are, so fits that need some can run; they are no longer held out)."""
    return PreparedData(
        X_train=np.concatenate([data.X_train, data.X_valid]),
        y_train=np.concatenate([data.y_train, data.y_valid]),
        X_valid=data.X_valid, y_valid=data.y_valid, X_test=data.X_test, y_test=data.y_test,
        preprocessor=data.preprocessor, feature_columns=data.feature_columns,
        notes=data.notes, n_outputs=data.n_outputs)


def plan_refit(result: FitResult | TreeFitResult, n_train: int, n_all: int, *,
               scale: bool = True) -> RefitPlan | None:
    """The refit's length and estimated seconds for a trial trained on `n_train` rows, to be
    trained again on `n_all`; None when the trial has nothing to repeat. `scale=False`
    keeps a tree model's count as it was (a forest's trees, unlike boosting's, are not
    a stopping point)."""
    ratio = n_all / max(n_train, 1)
    if isinstance(result, TreeFitResult):
        if result.n_iter < 1:
            return None
        rounds = max(1, math.ceil(result.n_iter * (ratio if scale else 1.0)))
        return RefitPlan(rounds, result.pace_s * rounds * ratio)
    if result.best_epoch < 1 or not result.history:
        return None
    ran = result.history[:result.best_epoch]
    return RefitPlan(result.best_epoch, sum(e.elapsed_s for e in ran) * ratio)


def refit(model: TrainedModel, result: FitResult | TreeFitResult, data: PreparedData,
          task: TaskSpec, plan: RefitPlan, *, deadline: float) -> TrainedModel | None:
    """`model`'s config trained on `data`'s training and validation rows per `plan`; None
    when the `time.monotonic()` `deadline` stopped it first."""
    rates = [e.learning_rate for e in result.history] if isinstance(result, FitResult) else []
    return train_fixed(model.config, rates, all_rows(data), task, plan.rounds,
                       deadline=deadline)


def train_fixed(config: TrainingConfig, rates: Sequence[float], rows: PreparedData,
                task: TaskSpec, rounds: int, *, deadline: float) -> TrainedModel | None:
    """`config` trained on `rows.X_train` for exactly `rounds` boosting iterations, forest
    trees, GLM fits (one) or epochs (networks at the learning rates `rates`, one per epoch, the last one
    kept after they run out); None when the `time.monotonic()` `deadline` stopped it first.

    Nothing is selected on `rows.X_valid` (networks score it each epoch, and that is all).
    """
    family = config.model.family
    if family in TREE_FAMILIES:
        if family == "hist_gbt":
            trees = fit_trees(config, rows, task, deadline=deadline, rounds=rounds)
        elif family in BOOSTER_FAMILIES:
            trees = fit_booster(config, rows, task, deadline=deadline, rounds=rounds)
        elif family == "glm":
            trees = fit_glm(config, rows, task, deadline=deadline)
        else:
            trees = fit_forest(config, rows, task, deadline=deadline, trees=rounds)
        if trees.stopped_reason == "deadline" or trees.n_iter < rounds:
            return None
        return TrainedModel(task, config, rows.preprocessor, trees.model)
    fixed = config.model_copy(update={
        "max_epochs": rounds, "early_stopping_patience": rounds + 1,
        "optimizer": config.optimizer.model_copy(update={"scheduler": "none"})})
    replay = _ReplaySchedule(list(rates) or [config.optimizer.learning_rate], rounds)
    net = fit(fixed, rows, task, deadline=deadline, callbacks=[replay])
    if net.stopped_reason != "max_epochs" or net.epochs_run < rounds:
        return None
    return TrainedModel(task, config, rows.preprocessor, net.model)


def refit_chosen(chosen: TrainedModel | EnsembleModel,
                 fits: dict[int, tuple[TrainedModel, FitResult | TreeFitResult | None]],
                 data: PreparedData, task: TaskSpec, *, deadline: float
                 ) -> tuple[TrainedModel | EnsembleModel, RefitReport]:
    """Refit the chosen single model, or the chosen ensemble's members, on all rows.

    Args:
        chosen: the validation-chosen model, or an ensemble of some of `fits`' models.
        fits: trial number -> (its model, its training record); a model of `chosen` is
            refitted when one of these holds the same network or estimator.
        deadline: a `time.monotonic()` value no refit runs past; a model whose estimate
            (times `SAFETY`) does not fit the time left is skipped and kept as it was.

    Returns the model to save (refitted where done) and a report of what was done.
    """
    started = time.monotonic()
    n_train, n_all = len(data.y_train), len(data.y_train) + len(data.y_valid)
    report = RefitReport(rows=n_all)
    members = chosen.models if isinstance(chosen, EnsembleModel) else [chosen]
    weights = chosen.weights if isinstance(chosen, EnsembleModel) else [1.0]
    number_of = {id(m.model): n for n, (m, _) in fits.items()}
    final = list(members)
    for i in sorted(range(len(members)), key=lambda i: -weights[i]):
        number = number_of.get(id(members[i].model), -1)
        result = fits.get(number, (None, None))[1]
        scale = members[i].config.model.family in BOOSTED_FAMILIES
        plan = plan_refit(result, n_train, n_all, scale=scale) if result is not None else None
        left = deadline - time.monotonic()
        if plan is None:
            report.skipped[number] = "no training record to repeat"
        elif plan.seconds * SAFETY > left:
            report.skipped[number] = (f"needs about {plan.seconds:.1f}s, "
                                      f"{max(left, 0.0):.1f}s left")
        else:
            again = refit(members[i], result, data, task, plan, deadline=deadline)
            if again is None:
                report.skipped[number] = "stopped at the deadline"
            else:
                final[i] = again
                report.refitted.append(number)
    report.seconds = time.monotonic() - started
    if isinstance(chosen, EnsembleModel):
        return EnsembleModel(final, weights), report
    return final[0], report


class _ReplaySchedule(Callback):
    """Sets each epoch's learning rate to the searched trial's, and keeps the weights of
    epoch `last` (the fit would otherwise keep those that scored best on rows it trained on)."""

    def __init__(self, rates: list[float], last: int):
        self.rates = rates
        self.last = last
        self.weights: dict[str, torch.Tensor] | None = None

    def on_train_begin(self, run: TrainingRun) -> None:
        """Start at the trial's first rate."""
        self._set_rate(run, 0)

    def on_epoch_end(self, run: TrainingRun, epoch: EpochResult) -> None:
        """Keep the last epoch's weights; set the next epoch's rate."""
        if epoch.epoch == self.last:
            self.weights = {k: v.detach().clone() for k, v in run.model.state_dict().items()}
        self._set_rate(run, epoch.epoch)

    def on_train_end(self, run: TrainingRun, result: FitResult) -> None:
        """Put the last epoch's weights back."""
        if self.weights is not None:
            run.model.load_state_dict(self.weights)

    def _set_rate(self, run: TrainingRun, index: int) -> None:
        if run.optimizer is not None:
            for group in run.optimizer.param_groups:
                group["lr"] = self.rates[min(index, len(self.rates) - 1)]
