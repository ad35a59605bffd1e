"""Typed tools over the training engine: train, tune, evaluate, register.

Nodes call these; each declares its risk level, which the risk policy reads. They are
thin: data preparation is cached per process, models are saved under the job's
directory so a job can resume in another process, and every run is tracked in MLflow.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from pydantic import BaseModel

from mlpilot.engine import metrics
from mlpilot.engine.config import LOWER_IS_BETTER, TaskSpec, TrainingConfig
from mlpilot.engine.crossfit import CrossFitResult, cross_fit_chosen, use_cross_fit
from mlpilot.engine.ensemble import EnsembleModel, select_ensemble
from mlpilot.engine.final_stage import FinalStage
from mlpilot.engine.predictor import TrainedModel
from mlpilot.engine.preprocess import PreparedData, prepare_data
from mlpilot.engine.prior import PriorTrial
from mlpilot.engine.refit import refit_chosen
from mlpilot.engine.scores import scores_to_predictions
from mlpilot.engine.search import MIN_TRIAL_S, SearchResult, TrialSummary, tune
from mlpilot.engine.stacking import stack_bags
from mlpilot.engine.tracking import ModelVersionInfo, Tracker
from mlpilot.engine.training import Callback, EpochResult, TrainingFault, TrainingRun, fit
from mlpilot.engine.trial_executor import TrialExecutor
from mlpilot.engine.worker import fit_in_subprocess
from mlpilot.tools.base import declare_risk


class TrainOutcome(BaseModel):
    """A finished training run of one config."""

    model_dir: str
    valid_score: float
    best_epoch: int
    epochs_run: int
    stopped_reason: str
    seconds: float
    notes: list[str] = []


class TuneOutcome(BaseModel):
    """The Optuna search's result.

    `top_configs` are the best completed trials, best first, as
    `{"config": TrainingConfig fields, "score": validation score, "source": "trial N",
    "seconds": the trial's seconds}`; `observations` every completed trial in the order it
    ran, as `{"params": search-space parameters, "value": validation score}` (what the
    experience store keeps for warm starts). The trial counts are this search's own;
    `n_prior_trials` is how many past runs' trials its sampler started from (a warm start).
    `best_score` is the chosen model's validation score before its final refit; `refit`
    says which trials' models were trained again on all rows and which were not, and why
    (`engine.refit.RefitReport`). On small data, `cross_fit` says which configs were
    cross-fitted (`engine.crossfit`): `best_score` is then the out-of-fold score on all rows.
    """

    model_dir: str | None
    best_score: float | None
    best_config: dict[str, Any] | None
    n_trials: int
    n_complete: int
    n_pruned: int
    n_failed: int
    seconds: float
    top_configs: list[dict[str, Any]] = []
    observations: list[dict[str, Any]] = []
    n_prior_trials: int = 0
    fault: dict[str, Any] | None = None
    ensemble: dict[str, Any] | None = None
    refit: dict[str, Any] | None = None
    cross_fit: dict[str, Any] | None = None


class Evaluation(BaseModel):
    """Test-set scores of a model and of the trivial baseline (majority class with the class
    priors as probabilities, or the mean); `beats_baseline` is True when the model is
    strictly better on the task's metric (lower for rmse and mae)."""

    metrics: dict[str, float]
    baseline_metrics: dict[str, float]
    n_test: int
    goal_met: bool | None
    beats_baseline: bool


_PREPARED: dict[tuple, PreparedData] = {}
#: The most of the search's time kept back for the final refit on all rows
#: (`engine.refit`) ...
REFIT_SHARE = 0.2
#: ... or, on small data, for cross-fitting the best configs (`engine.crossfit`). What is
#: kept back is the final stage's predicted cost (`engine.final_stage`), at most these.
CROSS_FIT_SHARE = 0.35
#: Without an operator's `trial_slice_s`, a trial trains at most this share of the
#: search's time (a network on many rows would otherwise take half of it).
SLICE_SHARE = 0.25
#: Seconds kept back after the refit for saving the model.
SAVE_S = 0.3
#: How many of a search's best configs `TuneOutcome.top_configs` keeps.
TOP_CONFIGS = 3


def prepared(df: pd.DataFrame, task: TaskSpec, config: TrainingConfig,
             test_df: pd.DataFrame | None = None) -> PreparedData:
    """Model-ready data for a task and config, cached per process: the base run, the search
    and the evaluation of one job share one split and one fitted preprocessor."""
    key = (_fingerprint(df), _fingerprint(test_df), task.model_dump_json(),
           config.preprocessing.model_dump_json(), config.test_fraction,
           config.validation_fraction, config.seed)
    if key not in _PREPARED:
        if len(_PREPARED) >= 4:
            _PREPARED.pop(next(iter(_PREPARED)))
        _PREPARED[key] = prepare_data(df, task, config, test_df=test_df)
    return _PREPARED[key]


def _fingerprint(df: pd.DataFrame | None) -> tuple | None:
    if df is None:
        return None
    return tuple(map(str, df.columns)), int(pd.util.hash_pandas_object(df, index=True).sum())


@declare_risk("medium")
def train_model(df: pd.DataFrame, task: TaskSpec, config: TrainingConfig, *, model_dir: Path,
                deadline: float, test_df: pd.DataFrame | None = None,
                checkpoint: Path | None = None, resume: bool = False,
                resume_from: Path | None = None, callbacks: Sequence[Any] = (),
                on_epoch: Callable[[EpochResult], None] | None = None, isolate: bool = False,
                tracker: Tracker | None = None, parent_run_id: str | None = None) -> TrainOutcome:
    """Train one config until early stopping or the deadline; save the best model.

    `resume_from` continues from that checkpoint (a fault's last good one). With `isolate`,
    training runs in a worker process (`engine.worker`; `callbacks` must then pickle, and a
    checkpoint path is required); `on_epoch` sees each epoch here either way.

    Raises the engine's `TrainingFault` when training fails (the fault doctor's cue).
    """
    data = prepared(df, task, config, test_df)
    if isolate:
        result = fit_in_subprocess(config, data, task, deadline=deadline, callbacks=callbacks,
                                   checkpoint_path=checkpoint, resume=resume,
                                   resume_from=resume_from, on_epoch=on_epoch)
    else:
        relay = [_EpochRelay(on_epoch)] if on_epoch is not None else []
        result = fit(config, data, task, deadline=deadline, callbacks=[*callbacks, *relay],
                     checkpoint_path=checkpoint, resume=resume, resume_from=resume_from)
    TrainedModel(task=task, config=config, preprocessor=data.preprocessor,
                 model=result.model).save(model_dir)
    if tracker is not None and parent_run_id is not None:
        run_id = tracker.start_trial(parent_run_id, "base", config.model_dump(mode="json"))
        tracker.log_epochs(run_id, result.history)
        tracker.log_metrics(run_id, {"best_valid_score": result.best_valid_score})
        tracker.log_artifact_dir(run_id, str(model_dir), "model")
        tracker.end_trial(run_id, "FINISHED")
    return TrainOutcome(model_dir=str(model_dir), valid_score=result.best_valid_score,
                        best_epoch=result.best_epoch, epochs_run=result.epochs_run,
                        stopped_reason=result.stopped_reason, seconds=result.seconds,
                        notes=data.notes)


@declare_risk("medium")
def tune_model(df: pd.DataFrame, task: TaskSpec, config: TrainingConfig, *, model_dir: Path,
               deadline: float, storage: str | None, study_name: str,
               test_df: pd.DataFrame | None = None, enqueue: Sequence[TrainingConfig] = (),
               tracker: Tracker | None = None, parent_run_id: str | None = None,
               on_trial=None, trial_slice_s: float | None = None,
               stop_on: Sequence[str] = (), prior: Sequence[PriorTrial] = (),
               learned_portfolio: bool = True,
               trials: TrialExecutor | None = None) -> TuneOutcome:
    """Search around `config` with Optuna, refit the choice on all rows, save it, all
    before the deadline.

    The search ends when the final stage's cost, predicted from the trials' measured
    paces (`engine.final_stage`, at most `REFIT_SHARE` of the time), is what is left;
    the chosen model (or the chosen ensemble's members) is then trained again on the
    training and validation rows where its measured time says it fits (`engine.refit`).
    On small data (`engine.crossfit.MAX_ROWS`) the final stage cross-fits the best
    configs and HistGradientBoosting defaults instead (at most `CROSS_FIT_SHARE` of the
    time); the choice is made on their out-of-fold predictions, and a second layer on
    those (`engine.stacking`) replaces it when its own out-of-fold score is better.

    A trial gets at most `trial_slice_s` seconds (default `SLICE_SHARE` of the search's
    time); a fault of a kind in `stop_on` (e.g. "trial_timeout") ends the search early
    and comes back in `TuneOutcome.fault`. `enqueue` configs are tried first and `prior`
    trials start the sampler (a warm start, see `engine.search.tune`); the portfolio
    learned across datasets comes first unless `learned_portfolio` is False. `trials`
    trains the search's trials elsewhere (on Ray, `engine.trial_executor`); default: here,
    one at a time.
    """
    started = time.monotonic()
    data = prepared(df, task, config, test_df)
    small = use_cross_fit(data, config)
    share = CROSS_FIT_SHARE if small else REFIT_SHARE
    cap_s = share * max(deadline - SAVE_S - time.monotonic(), 0.0)
    final = FinalStage(config, data, task, cross_fit=small, cap_s=cap_s)
    # an operator's slice is kept as given; the default one is at least MIN_TRIAL_S
    slice_s = trial_slice_s or max(
        SLICE_SHARE * (deadline - SAVE_S - cap_s - time.monotonic()), MIN_TRIAL_S)
    result = tune(config, data, task, deadline=deadline - SAVE_S, storage=storage,
                  study_name=study_name, enqueue=enqueue, tracker=tracker,
                  parent_run_id=parent_run_id, on_trial=on_trial, seed=config.seed,
                  trial_slice_s=slice_s, stop_on=stop_on, prior=prior,
                  reserve=final.reserve_s, learned_portfolio=learned_portfolio,
                  trials=trials)
    saved, score, ensemble, refitted, crossed = None, result.best_score, None, None, None
    best_config = result.best_config
    if result.best_fit is not None:
        model, score, ensemble = best_model(result, data, task)
        finished = result.fault is None  # a search paused for the fault doctor goes on later
        chosen = None
        if finished and small:
            chosen = cross_fit_chosen(result.candidates, config, data, task,
                                      deadline=deadline - SAVE_S, seed=config.seed)
        if chosen is not None:
            model, score, ensemble = chosen.model, chosen.score, _bag_ensemble(chosen)
            best_config, crossed = chosen.bags[0].entry.config, chosen.summary()
            # a second layer on the bags' out-of-fold scores, kept when it beats them
            stacked = stack_bags(chosen, data, task, deadline=deadline - SAVE_S,
                                 seed=config.seed)
            if stacked is not None:
                model, score = stacked.model, stacked.score
                crossed["stack"] = stacked.summary()
        elif finished:
            fits = {c.number: (c.model, c.fit) for c in result.candidates}
            model, report = refit_chosen(model, fits, data, task, deadline=deadline - SAVE_S)
            refitted = report.as_dict()
        model.save(model_dir)
        saved = str(model_dir)
    return TuneOutcome(
        model_dir=saved, best_score=score if saved else None, ensemble=ensemble, refit=refitted,
        cross_fit=crossed, best_config=best_config.model_dump(mode="json") if saved else None,
        n_trials=len(result.trials), n_complete=result.n_complete, n_pruned=result.n_pruned,
        n_failed=result.n_failed, seconds=time.monotonic() - started,
        top_configs=_top_configs(result.trials, task.metric),
        observations=[{"params": t.params, "value": t.value} for t in result.trials
                      if t.state == "complete" and t.value is not None and np.isfinite(t.value)],
        n_prior_trials=result.n_prior,
        fault=fault_record(result.fault, "tune") if result.fault else None)


def best_model(result: SearchResult, data: PreparedData, task: TaskSpec
               ) -> tuple[TrainedModel | EnsembleModel, float, dict[str, Any] | None]:
    """The search's best single model, or a greedy (Caruana) ensemble of its best trials when
    that scores better on the validation rows; with the score and the ensemble's make-up."""
    single = TrainedModel(task=task, config=result.best_config, preprocessor=data.preprocessor,
                          model=result.best_fit.model)
    candidates = result.candidates
    if len(candidates) < 2:
        return single, result.best_score, None
    pre = data.preprocessor
    chosen = select_ensemble([c.valid_scores for c in candidates],
                             pre.decode_target(data.y_valid), task, classes=pre.classes)
    if len(chosen.members) < 2 or not metrics.is_better(task.metric, chosen.score,
                                                        chosen.best_single_score):
        return single, result.best_score, None
    members = [candidates[i] for i in chosen.members]
    summary = {"trials": [c.number for c in members], "weights": chosen.weights,
               "families": [c.model.config.model.family for c in members],
               "score": chosen.score, "best_single_score": chosen.best_single_score}
    return (EnsembleModel.from_selection([c.model for c in candidates], chosen), chosen.score,
            summary)


def _bag_ensemble(chosen: CrossFitResult) -> dict[str, Any] | None:
    """The make-up of a cross-fitted ensemble of bags, like `best_model`'s (None for one bag)."""
    if len(chosen.bags) < 2:
        return None
    return {"trials": [b.entry.number for b in chosen.bags], "weights": chosen.weights,
            "families": [b.entry.config.model.family for b in chosen.bags],
            "score": chosen.score, "best_single_score": chosen.best_single_score}


def fault_record(fault: TrainingFault, stage: str) -> dict[str, Any]:
    """A `TrainingFault` as the JSON-able dict the job state keeps; `stage` is the node that
    met it ("train" or "tune"), `detected_at` the wall-clock time."""
    return {"kind": fault.kind, "epoch": fault.epoch, "step": fault.step, "detail": fault.detail,
            "message": str(fault), "facts": json.loads(json.dumps(fault.facts, default=str)),
            "checkpoint": str(fault.checkpoint) if fault.checkpoint else None,
            "stage": stage, "detected_at": time.time()}


class _EpochRelay(Callback):
    def __init__(self, on_epoch: Callable[[EpochResult], None]):
        self.on_epoch = on_epoch

    def on_epoch_end(self, run: TrainingRun, epoch: EpochResult) -> None:
        self.on_epoch(epoch)


def _top_configs(trials: Sequence[TrialSummary], metric: str, k: int = TOP_CONFIGS
                 ) -> list[dict[str, Any]]:
    """The `k` best distinct configs of the completed trials, best first."""
    done = [t for t in trials if t.state == "complete" and t.config is not None
            and t.value is not None and np.isfinite(t.value)]
    done.sort(key=lambda t: t.value if metric in LOWER_IS_BETTER else -t.value)
    top, seen = [], set()
    for trial in done:
        key = trial.config.model_dump_json()
        if key not in seen and len(top) < k:
            seen.add(key)
            top.append({"config": trial.config.model_dump(mode="json"), "score": trial.value,
                        "source": f"trial {trial.number}", "seconds": trial.seconds})
    return top


@declare_risk("low")
def evaluate_model(model_dir: Path, df: pd.DataFrame, task: TaskSpec, config: TrainingConfig,
                   test_df: pd.DataFrame | None = None) -> Evaluation:
    """Score a saved model on the held-out test rows, next to the trivial baseline."""
    data = prepared(df, task, config, test_df)
    model = TrainedModel.load(model_dir)  # an EnsembleModel for a saved ensemble
    pre = data.preprocessor
    y_true = pre.decode_target(data.y_test)
    out = model.scores(data.X_test)
    proba = out if task.is_classification else None
    y_pred = scores_to_predictions(out, pre.classes if task.is_classification else None)
    classes = pre.classes if task.is_classification else None
    scores = metrics.evaluate(task, y_true, y_pred, proba, classes=classes)
    baseline = metrics.baseline_evaluate(task, pre.decode_target(data.y_train), y_true,
                                         classes=classes)
    value = scores[task.metric]
    goal_met = None
    if task.goal is not None:  # an undefined (NaN) score meets no goal
        goal_met = bool(value <= task.goal if task.metric in LOWER_IS_BETTER
                        else value >= task.goal)
    return Evaluation(metrics=scores, baseline_metrics=baseline, n_test=len(y_true),
                      goal_met=goal_met,
                      beats_baseline=metrics.is_better(task.metric, value,
                                                       baseline[task.metric]))


@declare_risk("high")
def register_model(model_dir: Path, *, name: str, job_id: str, tracker: Tracker,
                   run_id: str, alias: str | None = "champion") -> ModelVersionInfo:
    """Log the model to the job's MLflow run and register it (once per job), pointing
    `alias` at it: the champion by default; None registers it without an alias."""
    uri = tracker.log_model(run_id, TrainedModel.load(model_dir))
    return tracker.register(uri, name, job_id, alias=alias)


def config_summary(config: TrainingConfig) -> str:
    """Compact JSON of a config, for logs."""
    return json.dumps(config.model_dump(mode="json"), separators=(",", ":"))
