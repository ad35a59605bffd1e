"""Where a search's trials train: here, one at a time (the default), or as Ray tasks on a
cluster, several at once.

`tune` (search.py) keeps Optuna's study, sampler and pruner in its own process either way:
each trial is asked for there, its config sampled there, and its value told there
(Optuna's ask-and-tell inside `study.optimize`, one thread per trial in flight). Only the
training itself moves: `RayTrials.fit` sends the config to a Ray task that asks the
cluster for `cpus` CPUs and `gpus` of a GPU (a fraction shares one), reads the prepared
data from Ray's object store (put there once per search) and returns the trained model.

A network trial on Ray is pruned where it trains, by the median rule the local pruner
applies (`MedianStop`), against the epochs of the trials completed when it started; its
epochs are then reported to the study, so that later trials are judged against it too.

Ray is imported only when a `RayTrials` is made (`MLPILOT_RAY_ADDRESS` set).
"""

from __future__ import annotations

import math
import statistics
import time
from dataclasses import dataclass
from typing import Any, Protocol

import optuna

from .boosters import fit_booster
from .config import BOOSTER_FAMILIES, LOWER_IS_BETTER, TaskSpec, TrainingConfig
from .faults import TrainingFault
from .forests import fit_forest
from .glm import fit_glm
from .preprocess import PreparedData
from .training import Callback, EpochResult, FitResult, TrainingRun, fit
from .trees import TreeFitResult, fit_trees

TrialFit = FitResult | TreeFitResult
#: A trial's Ray task may end this long after its deadline (a cold worker imports torch
#: first) before the search gives up on it.
RAY_GRACE_S = 60.0


def fit_trial(config: TrainingConfig, data: PreparedData, task: TaskSpec, *, deadline: float,
              callbacks: list[Callback]) -> TrialFit:
    """Train one trial's config by its family until `deadline` (a `time.monotonic()` value)."""
    family = config.model.family
    if family == "hist_gbt":  # boosting has no epochs to prune on
        return fit_trees(config, data, task, deadline=deadline)
    if family in BOOSTER_FAMILIES:
        return fit_booster(config, data, task, deadline=deadline)
    if family == "extra_trees":
        return fit_forest(config, data, task, deadline=deadline)
    if family == "glm":
        return fit_glm(config, data, task, deadline=deadline)
    return fit(config, data, task, deadline=deadline, callbacks=callbacks)


class TrialExecutor(Protocol):
    """Trains trials for `tune`; `workers` is how many it trains at once."""

    workers: int

    def fit(self, config: TrainingConfig, data: PreparedData, task: TaskSpec, *,
            deadline: float, pruning: Any) -> TrialFit:
        """Train one trial; `pruning` is the trial's `search.PruningCallback`."""
        ...


class LocalTrials:
    """Trials train in this process, one at a time (no Ray)."""

    workers = 1

    def fit(self, config: TrainingConfig, data: PreparedData, task: TaskSpec, *,
            deadline: float, pruning: Any) -> TrialFit:
        """Train here, with the pruning callback reporting each epoch to the study."""
        return fit_trial(config, data, task, deadline=deadline, callbacks=[pruning])


@dataclass
class MedianStop(Callback):
    """The local pruner's median rule, carried to where a trial trains: stop when the best
    score so far is worse than the median at this epoch of the trials completed earlier.

    `medians` maps an epoch to that median (only epochs that enough trials reached).
    """

    medians: dict[int, float]
    warmup: int
    lower_is_better: bool

    def on_epoch_end(self, run: TrainingRun, epoch: EpochResult) -> None:
        """Raise `optuna.TrialPruned` when this trial is below the median at this epoch."""
        if epoch.epoch < self.warmup or epoch.epoch not in self.medians:
            return
        scores = [e.valid_score for e in [*run.history, epoch] if not math.isnan(e.valid_score)]
        if not scores:
            return
        best = min(scores) if self.lower_is_better else max(scores)
        median = self.medians[epoch.epoch]
        if (best > median) if self.lower_is_better else (best < median):
            raise optuna.TrialPruned(f"pruned at epoch {epoch.epoch}")


def median_stop(study: optuna.Study, metric: str) -> MedianStop | None:
    """The median rule of `search._make_pruner`'s MedianPruner, as of now, for a trial that
    trains elsewhere; None when that pruner would not prune yet (too few trials)."""
    pruner = study.pruner
    if not isinstance(pruner, optuna.pruners.MedianPruner):
        return None
    done = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
    if len(done) < pruner._n_startup_trials:
        return None
    steps: dict[int, list[float]] = {}
    for trial in done:
        for step, value in trial.intermediate_values.items():
            if not math.isnan(value):
                steps.setdefault(step, []).append(value)
    medians = {s: statistics.median(v) for s, v in steps.items() if len(v) >= pruner._n_min_trials}
    if not medians:
        return None
    return MedianStop(medians, pruner._n_warmup_steps, metric in LOWER_IS_BETTER)


class RayTrials:
    """Trials train as Ray tasks, `workers` at once, each asking for `cpus` CPUs and
    `gpus` GPUs (a fraction shares a GPU between trials).

    Args:
        workers: trials in flight at once.
        cpus, gpus: the resources one trial's task asks the cluster for.
    """

    def __init__(self, workers: int = 2, cpus: float = 1.0, gpus: float = 0.0):
        import ray  # only here: without a Ray address nothing imports it

        if not ray.is_initialized():
            raise RuntimeError("Ray is not connected: call mlpilot.agent.ray_cluster.connect "
                               "(or ray.init) before making RayTrials")
        self.ray = ray
        self.workers, self.cpus, self.gpus = max(1, workers), cpus, gpus
        self._remote = ray.remote(_fit_remote)
        self._shared: tuple[int, Any] | None = None  # (id of the data, its object ref)

    def warm(self, wait: bool = False) -> list[Any]:
        """Start `workers` Ray workers with the engine imported (seconds each on a CPU),
        so that the first trials do not spend their time slices on it."""
        refs = [self.ray.remote(_warm).options(num_cpus=self.cpus, num_gpus=self.gpus).remote()
                for _ in range(self.workers)]
        if wait:
            self.ray.get(refs)
        return refs

    def share(self, data: PreparedData) -> Any:
        """The data's object-store reference, put there once per search's data."""
        if self._shared is None or self._shared[0] != id(data):
            self._shared = (id(data), self.ray.put(data))
        return self._shared[1]

    def fit(self, config: TrainingConfig, data: PreparedData, task: TaskSpec, *,
            deadline: float, pruning: Any) -> TrialFit:
        """Train on the cluster; the trial's epochs are reported to its study afterwards."""
        rule = median_stop(pruning.trial.study, task.metric) if pruning is not None else None
        # monotonic clocks differ between machines: the deadline travels as wall time
        wall_deadline = time.time() + (deadline - time.monotonic())
        ref = self._remote.options(num_cpus=self.cpus, num_gpus=self.gpus).remote(
            config, self.share(data), task, wall_deadline, rule, max(1, int(self.cpus)))
        try:
            kind, value, history, node = self.ray.get(
                ref, timeout=max(deadline - time.monotonic(), 0.0) + RAY_GRACE_S)
        except self.ray.exceptions.GetTimeoutError:
            self.ray.cancel(ref, force=True)
            raise optuna.TrialPruned("no Ray worker had room for the trial before its "
                                     "deadline") from None
        except (self.ray.exceptions.WorkerCrashedError, self.ray.exceptions.NodeDiedError,
                self.ray.exceptions.ObjectLostError, self.ray.exceptions.OutOfMemoryError
                ) as lost:  # Ray retried it already: the search goes on without it
            raise optuna.TrialPruned(f"its Ray worker was lost: {type(lost).__name__}") from None
        if pruning is not None:
            pruning.trial.set_user_attr("ray_node", node)  # where it trained
            for epoch in history:  # the pruner judges later trials against these epochs
                pruning.history.append(epoch)
                pruning.trial.report(epoch.valid_score, step=epoch.epoch)
        if kind == "pruned":
            raise optuna.TrialPruned(value)
        if kind == "fault":
            raise TrainingFault(**value)
        return value


def _warm() -> None:
    """Import what a trial needs, in a Ray worker that will run trials: torch, the models,
    and torch._dynamo (a network's first optimiser imports it: seconds on a CPU)."""
    import torch._dynamo  # noqa: F401

    from . import training  # noqa: F401


class _History(Callback):
    """Keeps the epochs a remote trial trained (they go back with its result)."""

    def __init__(self) -> None:
        self.epochs: list[EpochResult] = []

    def on_epoch_end(self, run: TrainingRun, epoch: EpochResult) -> None:
        """Keep the epoch."""
        self.epochs.append(epoch)


def _fit_remote(config: TrainingConfig, data: PreparedData, task: TaskSpec,
                wall_deadline: float, rule: MedianStop | None, threads: int
                ) -> tuple[str, Any, list, str]:
    """One trial in a Ray task: ("ok", result), ("pruned", why) or ("fault", its fields),
    with the epochs it trained and the node it ran on (an exception's own pickling would
    lose a fault's fields)."""
    import ray
    import torch

    torch.set_num_threads(threads)  # the CPUs its task asked for, not the whole node
    history, node = _History(), ray.get_runtime_context().get_node_id()
    deadline = time.monotonic() + (wall_deadline - time.time())
    callbacks: list[Callback] = [history, *([rule] if rule is not None else [])]
    try:
        result = fit_trial(config, data, task, deadline=deadline, callbacks=callbacks)
    except optuna.TrialPruned as pruned:
        return "pruned", str(pruned), history.epochs, node
    except TrainingFault as fault:
        return "fault", {"kind": fault.kind, "epoch": fault.epoch, "step": fault.step,
                         "detail": fault.detail, "checkpoint": fault.checkpoint,
                         "facts": fault.facts}, history.epochs, node
    return "ok", result, history.epochs, node
