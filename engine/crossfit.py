"""Cross-fitting for small data: the search's best configs judged on out-of-fold predictions.

With a few hundred rows, the validation rows number a few dozen: one row is a point or
more of accuracy, and a search that picks its best trial there mostly picks noise.
`cross_fit_chosen` takes the search's best candidates, plus scikit-learn's
HistGradientBoosting defaults (a strong, untuned anchor), and for each trains `FOLDS`
models of fixed length (the trial's, see `refit.py`) on the training and validation
rows less one fold, each predicting the fold it did not see. Those out-of-fold
predictions cover every row; configs are compared on those of the search's training
rows (the search chose its candidates on the validation rows, which would flatter them),
and greedy ensemble selection (`ensemble.py`) runs on them.

Time left after the first round buys more rounds on new folds (at most `MAX_ROUNDS`, and
only whole rounds, by the first round's measured time): each bag then averages more
models, and each row's out-of-fold prediction is the mean of one per round, so the
choice rests on less noise. Below `REPEATED_CV_ROWS` rows the choice always rests on
repeated cross-validation (`min_rounds`): a candidate is cross-fitted only when that many
rounds of it fit the time left, and the repeats run unless the deadline cuts them. The
final model is a bag (the fold models averaged) or a weighted ensemble of bags.

Anchoring the choice on the defaults' bag (giving it half of the weight) was tried, and
measured with `benchmarks/small_data.py` on 2026-11-26: over 60 runs (five data sets,
several 80/20 splits) it changed the test score by -0.0022 on average (standard error
0.0019), so the greedy choice stands as it is.
"""

from __future__ import annotations

import math
import statistics
import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from sklearn.model_selection import KFold, StratifiedKFold

from . import metrics
from .config import BOOSTED_FAMILIES, TaskSpec, TrainingConfig, TreeConfig
from .ensemble import EnsembleModel, select_ensemble
from .predictor import TrainedModel
from .preprocess import PreparedData
from .refit import SAFETY, all_rows, train_fixed
from .scores import score_predictions
from .search import Candidate
from .training import FitResult
from .trees import TreeFitResult

#: Folds of a round of cross-fitting.
FOLDS = 5
#: Most rounds of cross-fitting, each on new folds.
MAX_ROUNDS = 3
#: Searches over at most this many training + validation rows are cross-fitted.
MAX_ROWS = 2000
#: Below this many training + validation rows, one round's out-of-fold score is too
#: noisy to choose by: the choice rests on `SMALL_DATA_ROUNDS` rounds at least.
REPEATED_CV_ROWS = 1000
SMALL_DATA_ROUNDS = 2
#: scikit-learn's HistGradientBoosting default `max_iter` (no early stopping below 10k rows).
DEFAULTS_ROUNDS = 100
#: Seconds per boosting iteration assumed for the defaults when no tree trial ran.
DEFAULT_TREE_PACE_S = 0.01
#: Bounds of the correction of a candidate's estimated time by the bags made before it
#: (measured over estimated seconds).
PACE_CORRECTION = (0.5, 2.0)


@dataclass(frozen=True)
class Entry:
    """A config to cross-fit: its trial (-1 for the defaults), length, rates and pace.

    `rounds` and `pace_s` (seconds per round) are on the search's training rows.
    """

    number: int
    config: TrainingConfig
    rounds: int
    pace_s: float
    rates: tuple[float, ...] = ()
    scales: bool = True  # trees' rounds grow with the rows; the defaults' fixed 100 do not


@dataclass
class Bag:
    """One config's fold models of every round, averaged.

    `rounds` holds each round's out-of-fold scores on all rows; `score` is the metric of
    their mean on the search's training rows; `seconds` the first round's training time.
    """

    entry: Entry
    models: list[TrainedModel]
    rounds: list[np.ndarray]
    seconds: float
    score: float = math.nan

    @property
    def oof(self) -> np.ndarray:
        """Every row's out-of-fold scores, the mean over the rounds."""
        return self.rounds[0] if len(self.rounds) == 1 else np.mean(self.rounds, axis=0)

    @property
    def model(self) -> EnsembleModel:
        """The fold models averaged."""
        return EnsembleModel(self.models, [1.0] * len(self.models))


def use_cross_fit(data: PreparedData, config: TrainingConfig) -> bool:
    """True when the search's data is small enough to cross-fit its best configs, and
    its split is random: folds drawn at random across a time split would train on the
    future of the rows they score."""
    return config.split == "random" and len(data.y_train) + len(data.y_valid) <= MAX_ROWS


def min_rounds(n_rows: int) -> int:
    """Rounds of cross-fitting a choice over `n_rows` training + validation rows rests on
    at least: `SMALL_DATA_ROUNDS` (repeated cross-validation) below `REPEATED_CV_ROWS`."""
    return SMALL_DATA_ROUNDS if n_rows < REPEATED_CV_ROWS else 1


def entries(candidates: Sequence[Candidate], base: TrainingConfig) -> list[Entry]:
    """HistGradientBoosting defaults (the anchor: cheap, and what the final choice must
    beat out of fold), then the candidates, best first."""
    found = [e for e in map(_entry, candidates) if e is not None]
    paces = [e.pace_s for e in found if e.config.model.family == "hist_gbt"]
    trees = base.model_copy(update={"model": base.model.model_copy(update={"family": "hist_gbt"}),
                                    "trees": TreeConfig()})
    defaults = Entry(-1, trees, DEFAULTS_ROUNDS,
                     statistics.median(paces) if paces else DEFAULT_TREE_PACE_S, scales=False)
    return [defaults, *found]


def entry_seconds(entry: Entry, n_train: int, n_all: int, folds: int = FOLDS) -> float:
    """Estimated seconds of one round of `entry` (`folds` fits on the other folds' rows of
    `n_all`), from its pace on the search's `n_train` rows: a fit's time grows with its
    rows, and a boosted model's rounds grow with them too."""
    factor = n_all * (folds - 1) / folds / max(n_train, 1)  # a fold's rows over the search's
    scaled = entry.scales and entry.config.model.family in BOOSTED_FAMILIES
    return folds * entry.pace_s * entry.rounds * factor ** (2 if scaled else 1)


def fold_indices(y: np.ndarray, task: TaskSpec, seed: int, folds: int = FOLDS) -> list[np.ndarray]:
    """Held-out row indices of each fold; stratified when every class has `folds` rows."""
    counts = np.bincount(y.astype(np.int64)) if task.is_classification else np.zeros(1)
    stratify = task.is_classification and counts[counts > 0].min() >= folds
    splitter = (StratifiedKFold if stratify else KFold)(folds, shuffle=True, random_state=seed)
    return [held for _, held in splitter.split(np.zeros(len(y)), y)]


def cross_fit(entry: Entry, rows: PreparedData, held: Sequence[np.ndarray], task: TaskSpec,
              n_train: int, *, deadline: float) -> tuple[np.ndarray, list[TrainedModel]] | None:
    """One round: `entry` trained once per fold on the other folds' rows; its out-of-fold
    scores on all rows and its fold models, or None when the deadline stopped a fold first."""
    oof: np.ndarray | None = None
    models = []
    for fold in held:
        keep = np.ones(len(rows.y_train), dtype=bool)
        keep[fold] = False
        part = PreparedData(
            X_train=rows.X_train[keep], y_train=rows.y_train[keep], X_valid=rows.X_train[fold],
            y_valid=rows.y_train[fold], X_test=rows.X_test, y_test=rows.y_test,
            preprocessor=rows.preprocessor, feature_columns=rows.feature_columns,
            n_outputs=rows.n_outputs)
        scaled = entry.scales and entry.config.model.family in BOOSTED_FAMILIES
        rounds = max(1, math.ceil(entry.rounds * keep.sum() / n_train)) if scaled else entry.rounds
        model = train_fixed(entry.config, entry.rates, part, task, rounds, deadline=deadline)
        if model is None:
            return None
        scores = np.asarray(model.scores(part.X_valid), dtype=np.float64)
        if oof is None:
            oof = np.zeros((len(rows.y_train), *scores.shape[1:]))
        oof[fold] = scores
        models.append(model)
    return oof, models


@dataclass
class CrossFitResult:
    """The chosen bag or ensemble of bags, its out-of-fold score, and what was done.

    `bags` are the final model's (largest weight first); `best_single_score` is the best
    bag's out-of-fold score, `tried` every bag made, `skipped` why others were not,
    `rounds` how many rounds of `folds` every bag had.
    """

    model: EnsembleModel
    score: float
    bags: list[Bag]
    weights: list[float]
    best_single_score: float
    tried: list[Bag]
    skipped: dict[int, str]
    seconds: float = 0.0
    scored_rows: int = 0
    folds: int = FOLDS
    rounds: int = 1
    min_rounds: int = 1

    def summary(self) -> dict:
        """A JSON-able account (the job state keeps it)."""
        return {"folds": self.folds, "rounds": self.rounds, "min_rounds": self.min_rounds,
                "rows": len(self.bags[0].oof),
                "scored_rows": self.scored_rows, "score": self.score,
                "chosen": [b.entry.number for b in self.bags], "weights": self.weights,
                "bags": [{"trial": b.entry.number, "family": b.entry.config.model.family,
                          "score": b.score} for b in self.tried],
                "skipped": {str(k): v for k, v in self.skipped.items()},
                "seconds": round(self.seconds, 3)}


def cross_fit_chosen(candidates: Sequence[Candidate], base: TrainingConfig, data: PreparedData,
                     task: TaskSpec, *, deadline: float, seed: int = 0,
                     folds: int = FOLDS) -> CrossFitResult | None:
    """Cross-fit the search's candidates (see `entries`) until the `time.monotonic()`
    `deadline`, then choose by greedy ensemble selection on the out-of-fold predictions.

    The defaults always run (until the deadline); a candidate whose estimated time (from
    its trial's pace, times `refit.SAFETY`) does not fit the time left is skipped. The
    estimates are corrected by how the bags made so far compared with theirs (between
    `PACE_CORRECTION` bounds): a trial's pace holds overheads that a fold's fit repeats
    differently. Below `REPEATED_CV_ROWS` rows, `min_rounds` rounds are needed: a
    candidate is skipped unless that many rounds of it fit the time left; the repeats run
    unless the deadline cuts them (counting the repeats of the bags before a candidate
    too left fewer candidates and no more repeats at 15 s on a loaded machine). More
    rounds on new folds follow while a whole one fits (`MAX_ROUNDS`). Returns None when
    no bag finished.
    """
    started = time.monotonic()
    rows = all_rows(data)
    n_train, n_all = len(data.y_train), len(rows.y_train)
    needed = min_rounds(n_all)
    held = fold_indices(rows.y_train, task, seed, folds)
    bags, skipped = [], {}
    predicted = measured = 0.0
    for entry in entries(candidates, base):
        estimate = entry_seconds(entry, n_train, n_all, folds)
        low, high = PACE_CORRECTION
        need = estimate * (min(max(measured / predicted, low), high) if predicted else 1.0)
        left = deadline - time.monotonic()
        if entry.number >= 0 and need * SAFETY * needed > left:
            skipped[entry.number] = f"needs about {need:.1f}s, {max(left, 0.0):.1f}s left"
            continue
        began = time.monotonic()
        made = cross_fit(entry, rows, held, task, n_train, deadline=deadline)
        if made is None:
            skipped[entry.number] = "stopped at the deadline"
        else:
            oof, models = made
            bags.append(Bag(entry, models, [oof], time.monotonic() - began))
            predicted, measured = predicted + estimate, measured + bags[-1].seconds
    if not bags:
        return None
    rounds = 1
    while rounds < needed and _add_round(bags, rows, task, n_train, deadline=deadline,
                                         seed=seed + rounds, folds=folds):
        rounds += 1
    rounds += _more_rounds(bags, rows, task, n_train, deadline=deadline, seed=seed,
                           folds=folds, done=rounds)
    pre = rows.preprocessor
    # scored on the search's training rows only: the search picked its candidates (and
    # their epochs or iterations) on the validation rows, so those would flatter them
    y_scored = pre.decode_target(rows.y_train[:n_train])
    for bag in bags:
        bag.score = score_predictions(task, y_scored, bag.oof[:n_train], pre.classes)
    chosen = select_ensemble([b.oof[:n_train] for b in bags], y_scored, task, classes=pre.classes)
    order = sorted(range(len(chosen.members)), key=lambda i: -chosen.weights[i])
    picked = [bags[chosen.members[i]] for i in order]
    weights = [chosen.weights[i] for i in order]
    if len(picked) < 2 or not metrics.is_better(task.metric, chosen.score,
                                                chosen.best_single_score):
        picked, weights = [bags[chosen.best_single]], [1.0]
    model = picked[0].model if len(picked) == 1 else EnsembleModel(
        [b.model for b in picked], weights)
    score = chosen.score if len(picked) > 1 else picked[0].score
    return CrossFitResult(model, score, picked, weights, chosen.best_single_score, bags, skipped,
                          time.monotonic() - started, scored_rows=n_train, folds=folds,
                          rounds=rounds, min_rounds=needed)


def _more_rounds(bags: list[Bag], rows: PreparedData, task: TaskSpec, n_train: int, *,
                 deadline: float, seed: int, folds: int, done: int = 1) -> int:
    """Cross-fit every bag again on new folds while a whole round fits the time left (by
    the first round's measured time, times `refit.SAFETY`), up to `MAX_ROUNDS` with the
    `done` ones; a round the deadline cuts is dropped. Returns how many rounds were added."""
    round_s = sum(b.seconds for b in bags)
    added = 0
    while (done + added < MAX_ROUNDS and round_s * SAFETY <= deadline - time.monotonic()
           and _add_round(bags, rows, task, n_train, deadline=deadline,
                          seed=seed + done + added, folds=folds)):
        added += 1
    return added


def _add_round(bags: list[Bag], rows: PreparedData, task: TaskSpec, n_train: int, *,
               deadline: float, seed: int, folds: int) -> bool:
    """Cross-fit every bag once more on the folds of `seed`; False (nothing added) when the
    deadline cut the round."""
    held = fold_indices(rows.y_train, task, seed, folds)
    made = []
    for bag in bags:
        result = cross_fit(bag.entry, rows, held, task, n_train, deadline=deadline)
        if result is None:
            return False
        made.append(result)
    for bag, (oof, models) in zip(bags, made, strict=True):
        bag.rounds.append(oof)
        bag.models.extend(models)
    return True


def _entry(candidate: Candidate) -> Entry | None:
    """A candidate's config with its trial's length and pace; None without a record."""
    result = candidate.fit
    config = candidate.model.config
    if isinstance(result, TreeFitResult) and result.n_iter >= 1:
        return Entry(candidate.number, config, result.n_iter, result.pace_s)
    if isinstance(result, FitResult) and result.best_epoch >= 1 and result.history:
        pace = statistics.mean(e.elapsed_s for e in result.history)
        rates = tuple(e.learning_rate for e in result.history)
        return Entry(candidate.number, config, result.best_epoch, pace, rates)
    return None
