"""The final stage's cost, predicted from the search's measured trials, so that the search
can use every second the final stage does not need.

After a search comes its final stage: a refit of the chosen model (or the chosen
ensemble's members) on all rows (`refit.py`), or on small data a cross-fit of the best
configs (`crossfit.py`). Setting aside a fixed share of the budget for it left jobs 7-23%
of their budget early. `FinalStage.reserve_s` predicts it instead, after each trial, from
what the search measured:

- refit: the members of the ensemble the candidates would form now (greedy selection on
  at most `ENSEMBLE_ROWS` validation rows, to keep it cheap), largest weight first, each
  at its trial's measured pace scaled to all rows (`refit.plan_refit`); plus the ensemble
  selection on all validation rows, timed on the sample and scaled by the rows;
- cross-fit: one round of the entries `crossfit.entries` makes (the defaults, then the
  candidates best first, each from its trial's pace, `crossfit.entry_seconds`), times the
  rounds planned: as many as fit in `cap_s`, at most `crossfit.MAX_ROUNDS`, at least
  those that small data needs (`crossfit.min_rounds`).

`cap_s` is the most the final stage may take. As the final stage itself does, a member
or candidate whose cost would pass it is left out (`refit_chosen` keeps such a model as
searched; `cross_fit_chosen` skips such a candidate), so no time is kept back for work
that will not run. The sum is multiplied by `MARGIN` (paces come from one earlier fit on
a machine whose load varies). Before any trial has a record the reserve is `cap_s`.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

import numpy as np

from .config import BOOSTED_FAMILIES, TaskSpec, TrainingConfig
from .crossfit import FOLDS, MAX_ROUNDS, entries, entry_seconds, min_rounds
from .ensemble import select_ensemble
from .preprocess import PreparedData
from .refit import plan_refit
from .search import Candidate

#: The reserve is the prediction times this (paces measured once, on a shared machine).
MARGIN = 1.2
#: The ensemble a refit will have is guessed on at most this many validation rows.
ENSEMBLE_ROWS = 1000


class FinalStage:
    """Predicts the final stage's seconds from a search's candidates (see the module doc).

    Args:
        base: the search's base config (its seed, and the defaults' config for a cross-fit).
        data: the search's data (training rows, validation rows).
        task: the task; its metric guides the ensemble selection.
        cross_fit: True when the final stage cross-fits (`crossfit.use_cross_fit`).
        cap_s: the most seconds to keep back for the final stage.
        folds: folds of a cross-fit round.
    """

    def __init__(self, base: TrainingConfig, data: PreparedData, task: TaskSpec, *,
                 cross_fit: bool, cap_s: float, folds: int = FOLDS):
        self.base, self.task, self.cross_fit = base, task, cross_fit
        self.cap_s, self.folds = max(cap_s, 0.0), folds
        self.n_train = len(data.y_train)
        self.n_all = self.n_train + len(data.y_valid)
        pre = data.preprocessor
        rows = np.random.default_rng(base.seed).permutation(len(data.y_valid))[:ENSEMBLE_ROWS]
        self.sample = np.sort(rows)
        self.y_sample = pre.decode_target(data.y_valid[self.sample])
        self.classes = pre.classes
        self.valid_ratio = len(data.y_valid) / max(len(self.sample), 1)
        self.predicted_s: float | None = None  # the last prediction, before MARGIN and cap

    def reserve_s(self, candidates: Sequence[Candidate]) -> float:
        """Seconds to keep back before the deadline for the final stage of `candidates`."""
        seconds = (self.cross_fit_seconds(candidates) if self.cross_fit
                   else self.refit_seconds(candidates))
        self.predicted_s = seconds
        return self.cap_s if seconds is None else min(seconds * MARGIN, self.cap_s)

    def _fitting(self, costs: Sequence[float], *, first_always: bool = False) -> float:
        """The sum of `costs`, in order, leaving out each that would take the sum past
        `cap_s / MARGIN` (the first is kept regardless with `first_always`)."""
        room, total = self.cap_s / MARGIN, 0.0
        for i, cost in enumerate(costs):
            if total + cost <= room or (first_always and i == 0):
                total += cost
        return total

    def refit_seconds(self, candidates: Sequence[Candidate]) -> float | None:
        """Predicted seconds to choose an ensemble and refit its members; None without a
        candidate that has a training record."""
        known = [c for c in candidates if c.fit is not None]
        if not known:
            return None
        members, selection_s = [known[0]], 0.0
        if len(known) > 1:
            began = time.monotonic()
            try:
                chosen = select_ensemble([c.valid_scores[self.sample] for c in known],
                                         self.y_sample, self.task, classes=self.classes)
                order = sorted(range(len(chosen.members)), key=lambda i: -chosen.weights[i])
                members = [known[chosen.members[i]] for i in order]
            except ValueError:  # no finite score on the sample: the best alone
                pass
            selection_s = (time.monotonic() - began) * self.valid_ratio
        costs = []
        for member in members:  # largest weight first, as `refit_chosen` goes
            scale = member.model.config.model.family in BOOSTED_FAMILIES
            plan = plan_refit(member.fit, self.n_train, self.n_all, scale=scale)
            costs.append(plan.seconds if plan is not None else 0.0)
        return selection_s + self._fitting(costs)

    def cross_fit_seconds(self, candidates: Sequence[Candidate]) -> float | None:
        """Predicted seconds of the rounds of cross-fitting planned for `candidates`; None
        without a candidate that has a training record."""
        listed = entries(candidates, self.base)
        if len(listed) < 2:  # only the defaults: nothing measured yet
            return None
        round_s = self._fitting([entry_seconds(e, self.n_train, self.n_all, self.folds)
                                 for e in listed], first_always=True)
        return round_s * self.planned_rounds(round_s)

    def planned_rounds(self, round_s: float) -> int:
        """Rounds of cross-fitting to plan for: as many as fit in `cap_s`, at least the
        rounds the rows need (`crossfit.min_rounds`)."""
        fitting = int(self.cap_s // max(round_s * MARGIN, 1e-9))
        return max(min_rounds(self.n_all), min(MAX_ROUNDS, fitting))
