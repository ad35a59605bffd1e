"""Hyperparameter search: Optuna tunes a base `TrainingConfig` within a deadline.

`tune` first tries the library defaults of the quickest boosted trees (`QUICK_FAMILIES`),
then the portfolio learned across datasets for the task type (`portfolio.py`), then the
configs it is given (the base config, warm starts) and the defaults of the other families
the learned portfolio does not cover, then samples families
and their hyperparameters from `base.search.space` (see `space.py`; everything else is
kept from `base`). A warm start may also hand it prior trials (past searches' trials on
similar data, see `prior.py`) for TPE's model to start from; the defaults then leave out
the network defaults of the families they cover. Networks train with `engine.training.fit` and are pruned when their
per-epoch validation score falls below the median of earlier trials; gradient-boosted
trees train with `engine.trees`. The best trials' models stay in memory with their
validation scores, so the caller gets the winner, or an ensemble of the best, without
retraining.

Time: no trial runs past the search's deadline; each trial also gets a time slice, at
most half of the time left by default (so one slow config cannot eat the whole budget),
and no trial starts when less than `max(MIN_TRIAL_S, RESERVE_FRACTION of the budget)` is
left. With `reserve`, the search's deadline moves: it is the given deadline less the
seconds `reserve` keeps back for the candidates so far (a final stage's predicted cost,
see `final_stage.py`), asked again after each trial.

Faults: a trial whose training diverges (`TrainingFault`) is recorded as failed, with the
fault kind, and the search goes on. A trial stopped by its time slice keeps its best
score so far and is recorded with the fault "trial_timeout". With `stop_on`, the search
stops after a trial with one of those faults and returns it, so that the caller can fix
the config for later trials and continue the study.
"""

from __future__ import annotations

import logging
import math
import tempfile
import threading
import time
import warnings
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import optuna

from .config import (
    LOWER_IS_BETTER,
    NEURAL_FAMILIES,
    SearchSpace,
    TaskSpec,
    TrainingConfig,
)
from .faults import trial_timeout
from .metrics import is_better
from .portfolio import learned_configs
from .predictor import TrainedModel
from .preprocess import PreparedData
from .prior import FittedPrior, PriorTrial
from .prior import add as add_prior
from .prior import families as prior_families
from .prior import fit as fit_prior
from .prior import held as held_prior
from .space import config_params, portfolio, sample_config
from .space import families as space_families
from .tracking import Tracker
from .training import Callback, EpochResult, FitResult, TrainingFault, TrainingRun
from .trees import TreeFitResult
from .trial_executor import LocalTrials, TrialExecutor

logger = logging.getLogger(__name__)

TrialState = Literal["complete", "pruned", "failed"]
#: Trial user attribute holding the exact config of an enqueued trial (JSON).
CONFIG_ATTR = "mlpilot.config"
#: How many of the best completed trials a search keeps in memory for ensembling.
KEEP_CANDIDATES = 8
#: Never start a trial with less than this many seconds left ...
MIN_TRIAL_S = 0.5
#: ... or with less than this share of the search budget left. Each trial stops at the
#: deadline (networks check it every batch, trees between increments), so a short last
#: trial costs little, while seconds left unused are lost to the job.
RESERVE_FRACTION = 0.01

#: Families whose library defaults are the search's very first trials, before the learned
#: portfolio: boosted trees that train in about a second where a network takes a slice,
#: and score near the best on most tables (HistGradientBoosting's defaults are the
#: baseline every AutoML system is held to, LightGBM's FLAML's first learner). A search
#: that a loaded machine or a large table cuts short has them, whatever else it missed.
QUICK_FAMILIES = ("hist_gbt", "lightgbm")

#: Optuna before 4.9 warns when TPE samples a parameter on its own; 4.9 deprecated the
#: switch and no longer warns.
_QUIET_TPE = ({"warn_independent_sampling": False}
              if tuple(int(p) for p in optuna.__version__.split(".")[:2]) < (4, 9) else {})

_STATES: dict[optuna.trial.TrialState, TrialState] = {
    optuna.trial.TrialState.COMPLETE: "complete",
    optuna.trial.TrialState.PRUNED: "pruned",
    optuna.trial.TrialState.FAIL: "failed",
}
_MLFLOW_STATUS: dict[TrialState, str] = {
    "complete": "FINISHED", "pruned": "KILLED", "failed": "FAILED",
}


@dataclass(frozen=True)
class TrialSummary:
    """One finished trial: what it tried, how it ended, its validation score and time.

    `state` is "complete", "pruned" or "failed"; `fault` is the `TrainingFault` kind
    ("nan_loss", "exploding_loss", ...) of a failed trial, or "trial_timeout" for one its
    time slice stopped. `config` is the exact config the
    trial trained (None for a trial of an earlier call on a resumed study).
    """

    number: int
    state: TrialState
    params: dict[str, Any]
    value: float | None
    seconds: float
    fault: str | None = None
    config: TrainingConfig | None = None


@dataclass
class Candidate:
    """A completed trial kept for ensembling: its model and its validation scores.

    `fit` is the trial's training record (epochs or boosting iterations, seconds), which a
    final refit (`refit.py`) repeats on more rows; None when not known.
    """

    number: int
    score: float
    model: TrainedModel
    valid_scores: np.ndarray
    fit: FitResult | TreeFitResult | None = None


@dataclass
class SearchResult:
    """The outcome of `tune`: the best config and its trained model, and every trial.

    `best_fit` holds the best trial's model with its best weights (no retraining needed).
    When no trial of this call completed, `best_config` is the base config, `best_fit`
    is None and `best_score` is NaN. `fault` is the fault that stopped the search (see
    `tune`'s `stop_on`), else None. `trials` and the counts are this call's own trials;
    `n_prior` is how many prior trials the study holds (see `tune`'s `prior`).
    `reserved_s` is what `tune`'s `reserve` kept back at the end (0 without one).
    """

    best_config: TrainingConfig
    best_score: float
    best_fit: FitResult | None
    trials: list[TrialSummary] = field(default_factory=list)
    n_complete: int = 0
    n_pruned: int = 0
    n_failed: int = 0
    seconds: float = 0.0
    best_trial_number: int | None = None
    fault: TrainingFault | None = None
    candidates: list[Candidate] = field(default_factory=list)
    n_prior: int = 0
    reserved_s: float = 0.0


class PruningCallback(Callback):
    """Reports each epoch's validation score to the Optuna trial; prunes when it says so.

    Also keeps the epochs seen, so a pruned trial's history can still be tracked.
    """

    def __init__(self, trial: optuna.Trial):
        self.trial = trial
        self.history: list[EpochResult] = []

    def on_epoch_end(self, run: TrainingRun, epoch: EpochResult) -> None:
        """Report `valid_score` at step `epoch`; raise `optuna.TrialPruned` to stop the fit."""
        self.history.append(epoch)
        self.trial.report(epoch.valid_score, step=epoch.epoch)
        if self.trial.should_prune():
            raise optuna.TrialPruned(f"pruned at epoch {epoch.epoch}")


def _make_sampler(base: TrainingConfig, seed: int, parallel: bool = False
                  ) -> optuna.samplers.BaseSampler:
    if base.search.sampler == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    # group=True: TPE models each family's conditional sub-space on its own; with trials
    # in flight at once, constant_liar keeps it from sampling the same point for each.
    return optuna.samplers.TPESampler(multivariate=True, group=True, n_startup_trials=5,
                                      seed=seed, constant_liar=parallel, **_QUIET_TPE)


def _make_pruner(base: TrainingConfig) -> optuna.pruners.BasePruner:
    if base.search.pruner == "none":
        return optuna.pruners.NopPruner()
    # n_min_trials: prior trials are complete but report no epochs; only trials that did
    # (this search's own) may judge one
    return optuna.pruners.MedianPruner(n_startup_trials=3, n_warmup_steps=5, n_min_trials=3)


def _enqueue(study: optuna.Study, configs: Sequence[TrainingConfig], space: SearchSpace) -> None:
    """Enqueue each config once per study (a resumed study does not repeat them)."""
    known = {t.user_attrs.get(CONFIG_ATTR) for t in study.get_trials(deepcopy=False)}
    for config in configs:
        exact = config.model_dump_json()
        if exact not in known:
            study.enqueue_trial(config_params(config, space), user_attrs={CONFIG_ATTR: exact})
            known.add(exact)


def _tracked_params(config: TrainingConfig) -> dict[str, Any]:
    """The config as trial-run parameters (without the search section, same for all trials)."""
    return config.model_dump(exclude={"search"})


class _Search:
    """The objective and the after-trial callback for one `tune` call."""

    def __init__(self, base: TrainingConfig, data: PreparedData, task: TaskSpec, deadline: float,
                 reserve_s: float, tracker: Tracker | None, parent_run_id: str | None,
                 on_trial: Callable[[TrialSummary], None] | None,
                 slice_s: float | None = None, stop_on: Collection[str] = (),
                 reserve: Callable[[Sequence[Candidate]], float] | None = None,
                 trials: TrialExecutor | None = None):
        self.base, self.data, self.task = base, data, task
        # trials run one at a time, or `trials.workers` at once in threads of
        # `study.optimize` (trial_executor.py): the lock guards what they share here
        self.trials = trials or LocalTrials()
        self.lock = threading.Lock()
        self.deadline, self.reserve_s = deadline, reserve_s
        self.reserve = reserve
        # per family, the most a trial ran past its deadline (setup, scoring, a last
        # increment of trees)
        self.overrun_s: dict[str, float] = {}
        self.reserved_s = reserve(()) if reserve is not None else 0.0
        self.slice_s, self.stop_on = slice_s, frozenset(stop_on)
        self.fault: TrainingFault | None = None
        self.enqueued: set[str] = set()  # exact configs this call enqueued
        self.tracker = tracker if parent_run_id else None
        self.parent_run_id = parent_run_id
        self.on_trial = on_trial
        self.best: tuple[int, TrainingConfig, FitResult | TreeFitResult] | None = None
        self.candidates: list[Candidate] = []
        self.summaries: list[TrialSummary] = []
        self.run_ids: dict[int, str] = {}
        self.configs: dict[int, TrainingConfig] = {}
        self.prior: list[FittedPrior] = []  # added to the study once the enqueued configs ran
        self.n_prior = 0

    @property
    def search_deadline(self) -> float:
        """The deadline less what `reserve` keeps back for the candidates so far."""
        return self.deadline - self.reserved_s

    def add_prior_when_ready(self, study: optuna.Study) -> None:
        """Add the prior trials once no enqueued trial waits (`prior.py` says why then)."""
        waiting = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.WAITING,))
        if self.prior and not waiting:
            best = self.best[2].best_valid_score if self.best else None
            self.n_prior += add_prior(study, self.prior, best)
            self.prior = []

    def trial_config(self, trial: optuna.Trial) -> TrainingConfig:
        """The sampled config, or the exact one an enqueued trial carries.

        A trial enqueued by an earlier call that this call did not enqueue again (its base
        config has changed since, e.g. by a fault fix) takes its enqueued hyperparameters
        on this call's base instead of its stale exact config.
        """
        config = sample_config(trial, self.base, len(self.data.y_train))
        if trial.user_attrs.get(CONFIG_ATTR) in self.enqueued:
            config = TrainingConfig.model_validate_json(trial.user_attrs[CONFIG_ATTR])
        trial.set_user_attr("hidden_sizes", list(config.model.hidden_sizes))
        trial.set_user_attr("batch_size", config.batch_size)
        self.configs[trial.number] = config
        return config

    def start_run(self, trial: optuna.Trial, config: TrainingConfig) -> str | None:
        """The trial's nested MLflow run (None when not tracking)."""
        run_id = self._track(lambda t: t.start_trial(
            self.parent_run_id, f"trial-{trial.number}", _tracked_params(config)))
        if run_id:
            self.run_ids[trial.number] = run_id
            trial.set_user_attr("mlflow_run_id", run_id)
        return run_id

    def objective(self, trial: optuna.Trial) -> float:
        """Train one sampled (or enqueued) config; its best validation score is the value."""
        config = self.trial_config(trial)
        search_deadline = self.search_deadline
        remaining = search_deadline - time.monotonic()
        slice_s = self.slice_s or max(remaining / 2, MIN_TRIAL_S)
        family = config.model.family
        if self.overrun_s and family not in self.overrun_s and remaining < slice_s:
            # a family's first trial pays its start-up (a network's first fit can take
            # seconds before its first batch), unmeasured here: it needs a whole slice
            raise optuna.TrialPruned(f"no time left for a first {family} trial")
        run_id = self.start_run(trial, config)
        # the slice is training time; a trial's own overhead past its deadline (building
        # the model, scoring the validation rows) was measured on earlier trials
        overrun = self.overrun_s.get(family, max(self.overrun_s.values(), default=0.0))
        trial_deadline = min(search_deadline - overrun, time.monotonic() + slice_s)
        pruning = PruningCallback(trial)
        try:
            result = self.trials.fit(config, self.data, self.task, deadline=trial_deadline,
                                     pruning=pruning)
        except TrainingFault as fault:
            self._record_fault(trial, fault)
            logger.info("trial %d failed: %s", trial.number, fault)
            return math.nan  # Optuna records a NaN value as a failed trial
        except optuna.TrialPruned:
            raise
        except Exception:  # a bug, not a fault: Optuna re-raises it without our callback
            if run_id:
                self._track(lambda t: t.end_trial(run_id, "FAILED"))
            raise
        finally:
            self.overrun_s[family] = max(self.overrun_s.get(family, 0.0),
                                         time.monotonic() - trial_deadline)
            if run_id:
                self._track(lambda t: t.log_epochs(run_id, pruning.history))
        neural = isinstance(result, FitResult)
        if neural and result.stopped_reason == "deadline" and trial_deadline < search_deadline:
            self._record_fault(trial, trial_timeout(trial.number, config.max_epochs, result.history,
                                                    result.steps, slice_s))
        value = result.best_valid_score
        if math.isnan(value):  # no epoch finished before the deadline
            raise optuna.TrialPruned("no epoch finished before the deadline")
        trial.set_user_attr("best_epoch", result.best_epoch if neural else result.n_iter)
        trial.set_user_attr("stopped_reason", result.stopped_reason)
        model = TrainedModel(self.task, config, self.data.preprocessor, result.model)
        candidate = Candidate(trial.number, value, model, model.scores(self.data.X_valid), result)
        with self.lock:
            if self.best is None or is_better(self.task.metric, value,
                                              self.best[2].best_valid_score):
                self.best = (trial.number, config, result)
            self._keep(candidate)
        if run_id:
            self._track(lambda t: self._log_model(t, run_id, model))
        return value

    def _keep(self, candidate: Candidate) -> None:
        """Keep the best KEEP_CANDIDATES completed trials (best first)."""
        lower = self.task.metric in LOWER_IS_BETTER
        self.candidates.append(candidate)
        self.candidates.sort(key=lambda c: c.score, reverse=not lower)
        del self.candidates[KEEP_CANDIDATES:]

    def after_trial(self, study: optuna.Study, frozen: optuna.trial.FrozenTrial) -> None:
        """Record the finished trial, end its run, tell the caller, stop near the deadline."""
        with self.lock:
            self._after_trial(study, frozen)

    def _after_trial(self, study: optuna.Study, frozen: optuna.trial.FrozenTrial) -> None:
        state = _STATES.get(frozen.state, "failed")
        seconds = frozen.duration.total_seconds() if frozen.duration else 0.0
        summary = TrialSummary(
            number=frozen.number, state=state, params=dict(frozen.params),
            value=frozen.value if state == "complete" else None, seconds=seconds,
            fault=frozen.user_attrs.get("fault"), config=self.configs.get(frozen.number),
        )
        self.summaries.append(summary)
        run_id = self.run_ids.get(frozen.number)
        if run_id:
            metrics = {"value": summary.value, "seconds": seconds}
            if frozen.intermediate_values and state == "pruned":
                metrics["pruned_at_epoch"] = max(frozen.intermediate_values)
            self._track(lambda t: t.log_metrics(run_id, metrics))
            self._track(lambda t: t.end_trial(run_id, _MLFLOW_STATUS[state]))
        if self.on_trial is not None:
            self.on_trial(summary)
        self.add_prior_when_ready(study)
        if self.reserve is not None and state == "complete":
            self.reserved_s = self.reserve(self.candidates)
        # the next trial's family is not known yet: stop when even the family that overruns
        # least would have no time
        overrun = min(self.overrun_s.values(), default=0.0)
        if (self.search_deadline - time.monotonic() < self.reserve_s + overrun
                or self.fault is not None):
            study.stop()

    def _record_fault(self, trial: optuna.Trial, fault: TrainingFault) -> None:
        trial.set_user_attr("fault", fault.kind)
        trial.set_user_attr("fault_detail", str(fault))
        if fault.kind in self.stop_on and self.fault is None:
            self.fault = fault

    def _track(self, action: Callable[[Tracker], Any]) -> Any:
        """Run a tracking call; a tracking failure is logged, never fatal to the search."""
        if self.tracker is None:
            return None
        try:
            return action(self.tracker)
        except Exception as err:  # noqa: BLE001 - MLflow can raise many kinds
            logger.warning("experiment tracking failed (the search goes on): %s", err)
            return None

    @staticmethod
    def _log_model(tracker: Tracker, run_id: str, model: TrainedModel) -> None:
        """A completed trial's saved model as an artifact folder (not a full pyfunc model)."""
        with tempfile.TemporaryDirectory(prefix="mlpilot-trial-") as tmp:
            model.save(Path(tmp) / "model")
            tracker.log_artifact_dir(run_id, str(Path(tmp) / "model"), "trial_model")


def tune(
    base: TrainingConfig,
    data: PreparedData,
    task: TaskSpec,
    *,
    deadline: float,
    storage: str | None = None,
    study_name: str = "mlpilot",
    enqueue: Sequence[TrainingConfig] = (),
    tracker: Tracker | None = None,
    parent_run_id: str | None = None,
    on_trial: Callable[[TrialSummary], None] | None = None,
    seed: int = 0,
    trial_slice_s: float | None = None,
    stop_on: Collection[str] = (),
    prior: Sequence[PriorTrial] = (),
    reserve: Callable[[Sequence[Candidate]], float] | None = None,
    learned_portfolio: bool = True,
    trials: TrialExecutor | None = None,
) -> SearchResult:
    """Tune `base` on `data` until `deadline` (a `time.monotonic()` value) or `max_trials`.

    Args:
        base: the config to tune around; `base.search` holds the space, sampler, pruner
            and `max_trials`.
        data: prepared train/validation arrays; trials score on the validation rows.
        task: the task; `task.metric` is optimised (minimised for rmse/mae).
        deadline: no trial runs past it.
        storage: an Optuna RDB URL (e.g. `sqlite:////abs/optuna.db`) to persist the study
            and continue it later; None keeps it in memory.
        study_name: the study's name in `storage`.
        enqueue: configs to try early, exactly as given (e.g. the base config, or
            warm-start configs from past runs); each is tried once per study. The
            defaults of `QUICK_FAMILIES` and then the learned portfolio come before them;
            the other family defaults (`space.portfolio`) follow them, less those of the
            families the learned portfolio covers and the network defaults of the
            families that prior trials cover.
        prior: past searches' trials on similar data (a warm start), added once per study,
            after the enqueued configs ran, as completed trials marked with `PRIOR_ATTR`
            (scores shifted onto this search's scale, see `prior.py`), so that TPE starts
            from them. Those outside this search's space are left out. They take study
            trial numbers but are not this call's trials.
        tracker, parent_run_id: when both are given, each trial is a nested MLflow run
            with its config, per-epoch metrics, value and state.
        on_trial: called with a `TrialSummary` after each trial (progress reporting).
        seed: the sampler's seed.
        trial_slice_s: the most seconds one trial may train; default half the time left.
        stop_on: fault kinds (e.g. "trial_timeout") after which the search stops and
            returns the fault in `SearchResult.fault`.
        reserve: seconds to keep back before `deadline` for the candidates kept so far
            (best first; asked with none at the start, then after each completed trial):
            the search's own deadline is `deadline` less that.
        learned_portfolio: start from the portfolio learned across datasets for
            `task.task_type` (`portfolio.learned_configs`); False leaves it out.
        trials: where trials train (`trial_executor.py`): here one at a time (default),
            or on a Ray cluster, `trials.workers` at once; the study stays here.

    Returns a `SearchResult` whose `best_fit` holds the best trial's trained model.
    """
    if any(f in NEURAL_FAMILIES for f in space_families(base)):
        # a network's first optimiser imports torch._dynamo, seconds on a CPU; done inside
        # a trial, it would eat that trial's time slice and push it past its deadline
        import torch._dynamo  # noqa: F401
    started = time.monotonic()
    budget = max(deadline - started, 0.0)
    reserve_s = max(MIN_TRIAL_S, RESERVE_FRACTION * budget)
    direction = "minimize" if task.metric in LOWER_IS_BETTER else "maximize"
    parallel = trials is not None and trials.workers > 1
    study = optuna.create_study(
        storage=_serial_pops(storage) if parallel and isinstance(storage, str) else storage,
        study_name=study_name, direction=direction, load_if_exists=True,
        sampler=_make_sampler(base, seed, parallel=parallel), pruner=_make_pruner(base),
    )
    _fail_abandoned(study, tracker if parent_run_id else None, parent_run_id)
    n_train = len(data.y_train)
    held = held_prior(study)  # a resumed study has its prior trials already
    adding = [] if held else fit_prior(prior, base, n_train)
    known = prior_families([*(t.params for t in held), *(p.params for p in adding)], base)
    # --- quick defaults, the learned portfolio (portfolio.py), the given configs, defaults ---
    learned = learned_configs(base, task.task_type, n_train) if learned_portfolio else []
    covered = {config.model.family for config in learned} - set(QUICK_FAMILIES)
    defaults = portfolio(base, n_train, known=known, covered=covered)
    quick = [c for c in defaults if c.model.family in QUICK_FAMILIES]
    first = [*quick, *learned, *enqueue, *(c for c in defaults if c not in quick)]
    # --- end of the first trials ---
    _enqueue(study, first, base.search.space)
    search = _Search(base, data, task, deadline, reserve_s, tracker, parent_run_id, on_trial,
                     trial_slice_s, stop_on, reserve, trials)
    search.enqueued = {config.model_dump_json() for config in first}
    search.prior, search.n_prior = adding, len(held)
    search.add_prior_when_ready(study)
    remaining = search.search_deadline - time.monotonic()
    if remaining >= reserve_s:
        warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
        # the timeout only bounds the study: `after_trial` stops it at the moving deadline
        study.optimize(
            search.objective, n_trials=base.search.max_trials,
            timeout=deadline - time.monotonic(), callbacks=[search.after_trial],
            gc_after_trial=False, n_jobs=search.trials.workers,
        )
    return _result(base, search, time.monotonic() - started)


def _serial_pops(url: str) -> optuna.storages.RDBStorage:
    """An RDB storage on which this process's threads take enqueued trials one at a time:
    on SQLite (no SELECT ... FOR UPDATE) two trial threads could both take one trial, and
    the second to finish could not tell it."""
    storage = optuna.storages.RDBStorage(url)
    lock, take = threading.Lock(), storage.set_trial_state_values

    def set_trial_state_values(trial_id: int, state: optuna.trial.TrialState,
                               values: Sequence[float] | None = None) -> bool:
        with lock:
            return take(trial_id, state=state, values=values)

    storage.set_trial_state_values = set_trial_state_values  # type: ignore[method-assign]
    return storage


def _fail_abandoned(study: optuna.Study, tracker: Tracker | None, parent_run_id: str | None
                    ) -> None:
    """Fail the trials a dead process left running, and end their MLflow runs (a job's
    search is driven by one live process at a time: its runner's claim), so that none
    stays RUNNING for ever."""
    for trial in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,)):
        study.tell(trial.number, state=optuna.trial.TrialState.FAIL)
    if tracker is None:
        return
    try:  # also those whose trial was told but whose run was not ended yet
        for run_id in tracker.running_trials(parent_run_id):
            tracker.end_trial(run_id, "KILLED")
    except Exception as err:  # noqa: BLE001 - MLflow can raise many kinds
        logger.warning("could not end the runs of abandoned trials: %s", err)


def _result(base: TrainingConfig, search: _Search, seconds: float) -> SearchResult:
    trials = search.summaries
    counts = {state: sum(t.state == state for t in trials) for state in _MLFLOW_STATUS}
    if search.best is None:
        return SearchResult(
            best_config=base, best_score=math.nan, best_fit=None, trials=trials,
            n_complete=counts["complete"], n_pruned=counts["pruned"],
            n_failed=counts["failed"], seconds=seconds, fault=search.fault,
            n_prior=search.n_prior, reserved_s=search.reserved_s,
        )
    number, config, result = search.best
    return SearchResult(
        best_config=config, best_score=result.best_valid_score, best_fit=result, trials=trials,
        n_complete=counts["complete"], n_pruned=counts["pruned"], n_failed=counts["failed"],
        seconds=seconds, best_trial_number=number, fault=search.fault,
        candidates=search.candidates, n_prior=search.n_prior, reserved_s=search.reserved_s,
    )
