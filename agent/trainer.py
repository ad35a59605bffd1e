"""Train and tune nodes: the base config first (watched by the fault doctor), then an
Optuna search around it in the rest of the budget. The search first tries the best
configs of similar past runs (a warm start, `agent/warm_start.py`), and the tune node
records this run's best configs for the runs to come.

Budget: `task.budget_s` covers both. The base run gets `search.base_fraction` of it; the
search gets what is left. `budget_used_s` in the state is the training time actually spent,
including what a run of the node that a crash cut off spent (`agent/budget_clock.py`): a
search resumed after a kill -9 gets only what is left of the budget.

Faults: the base run is watched by the engine's `FaultMonitor` (and runs in a worker process
with `MLPILOT_TRAIN_IN_SUBPROCESS`); a search trial past `MLPILOT_TRIAL_SLICE_S` stops the
search. Either goes to the fault doctor, which comes back here with a fixed config;
finishing without the fault verifies the fix.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from langgraph.runtime import Runtime
from langgraph.types import Command

from mlpilot.agent.budget_clock import BudgetClock
from mlpilot.agent.context import JobContext
from mlpilot.agent.fault_doctor import pending_fix, settle
from mlpilot.agent.featured_data import finish_model, job_frames, model_home
from mlpilot.agent.state import JobState, TaskRequest, decision
from mlpilot.engine import metrics
from mlpilot.engine.config import NEURAL_FAMILIES, TaskSpec, TrainingConfig
from mlpilot.engine.monitor import CHECKS, FaultLimits, FaultMonitor
from mlpilot.engine.training import Callback, EpochResult, TrainingFault, TrainingRun
from mlpilot.engine.worker import prestart as prestart_worker

if TYPE_CHECKING:
    from mlpilot.engine.tracking import Tracker

#: Below this many seconds of budget left, the search is skipped ...
MIN_SEARCH_S = 2.0
#: ... unless the budget was meant for a search (at least this long): a base run that
#: overran its share (a loaded machine, a first epoch on many rows) leaves a barely trained
#: network, so the search still gets `RESCUE_SHARE` of the budget for its first trials
#: (the quick tree families' defaults, `engine.search.QUICK_FAMILIES`).
RESCUE_MIN_BUDGET_S = 30.0
RESCUE_SHARE = 0.1


def ready_to_train(config: TrainingConfig, in_subprocess: bool) -> None:
    """Do the one-off start-up of training before its budget's clock starts: the worker
    machinery, or the import of torch._dynamo that a network's first optimiser makes
    (seconds on a busy CPU, which a fresh worker's first job would take from a short base
    run, ending it before its first epoch, with no model)."""
    if in_subprocess:
        prestart_worker()
    elif config.model.family in NEURAL_FAMILIES:
        import torch._dynamo  # noqa: F401


def train(state: JobState, runtime: Runtime[JobContext]) -> Command[Literal["tune", "fault_doctor"]]:
    """Train node: train the validated config; a training fault goes to the fault doctor."""
    # lazy: the graph is built for `plan` too, which must not import MLflow, Optuna, ChromaDB
    from mlpilot.knowledge.kb import KnowledgeBase
    from mlpilot.tools.training import fault_record, train_model

    ctx = runtime.context
    settings = ctx.settings
    job_id, task = state["job_id"], TaskSpec.model_validate(state["task"])
    config = TrainingConfig.model_validate(state["config"])
    request = TaskRequest.model_validate(state["request"])
    job_dir = settings.job_dir(job_id)
    tracker = tracker_for(ctx)
    run_id = state.get("mlflow_run_id") or tracker.start_job(
        job_id, params={"task": task.model_dump(mode="json")},
        tags={"mlpilot.request": request.request[:500], "mlpilot.data": str(request.data)})
    clock = BudgetClock(job_dir / "train.clock")
    before = clock.spent()  # a run of this node that a crash cut off spent this already
    used = state.get("budget_used_s", 0.0) + before
    share = config.search.base_fraction if config.search.enabled else 1.0
    ready_to_train(config, settings.train_in_subprocess)
    started = time.monotonic()
    deadline = started + max(1.0, task.budget_s * share - used)
    resume_from = state.get("resume_from")
    how = " (resumed after a fix)" if resume_from else ""
    crashed = _crashed_checkpoint(clock, job_dir / "base.ckpt")
    if resume_from is None and crashed is not None:
        resume_from, how = str(crashed), " (resumed from its checkpoint after a crash)"
    ctx.emit("train", "training the base config" + how)
    update: dict[str, Any] = {"mlflow_run_id": run_id}
    monitor = FaultMonitor(FaultLimits(memory_limit_mb=settings.train_memory_limit_mb),
                           kinds=watched_faults(state))
    progress = EpochProgress(ctx, "train")
    df, test_df = job_frames(state, request)
    try:
        with clock.running(before):
            outcome = train_model(
                df, task, config, model_dir=model_home(job_dir / "base", state),
                deadline=deadline, test_df=test_df,
                checkpoint=job_dir / "base.ckpt",
                resume_from=Path(resume_from) if resume_from else None,
                callbacks=[*ctx.training_callbacks, monitor],
                on_epoch=lambda epoch: progress.report(task.metric, epoch),
                isolate=settings.train_in_subprocess, tracker=tracker, parent_run_id=run_id)
    except TrainingFault as fault:
        clock.clear()
        ctx.emit("train", f"training fault: {fault}")
        return Command(goto="fault_doctor", update={
            **update, "budget_used_s": used + time.monotonic() - started,
            "fault": fault_record(fault, "train")})
    clock.clear()
    used += time.monotonic() - started
    update["decisions"] = [decision("train", f"base config: {task.metric} {outcome.valid_score:.4f} "
                                             f"on validation after {outcome.epochs_run} epochs",
                                    f"stopped by {outcome.stopped_reason}")]
    if outcome.notes:  # how the rows were split and cleaned, for the report
        update["decisions"].append(decision("train", "data: " + "; ".join(outcome.notes),
                                            "what preparing the rows for training did"))
    pending = pending_fix(state)
    if pending is not None:
        with KnowledgeBase(settings.knowledge_dir) as kb:
            update["fault_fixes"] = [settle(kb, pending, worked=True)]
        update["decisions"].append(decision("fault_doctor", f"fix verified: {pending['fix']}",
                                            "training finished without the fault"))
    base = {"model_dir": finish_model(job_dir / "base", state), "score": outcome.valid_score,
            "source": "base config",
            "config": config.model_dump(mode="json"), "epochs": outcome.epochs_run,
            "seconds": outcome.seconds}
    return Command(goto="tune", update={**update, "budget_used_s": used, "fault": None,
                                        "resume_from": None, "base": base, "best": base})


def search_seconds(budget_s: float, used_s: float, searched: bool = False) -> float:
    """Seconds the search gets: what is left of the budget, or `RESCUE_SHARE` of it when
    the base run left too little of a budget meant for a search (see RESCUE_MIN_BUDGET_S)
    and no round of the search has run yet (`searched`); the job then passes its budget,
    but keeps a model worth the name."""
    remaining = budget_s - used_s
    if remaining < MIN_SEARCH_S and budget_s >= RESCUE_MIN_BUDGET_S and not searched:
        return max(MIN_SEARCH_S, RESCUE_SHARE * budget_s)
    return remaining


def _crashed_checkpoint(clock: BudgetClock, checkpoint: Path) -> Path | None:
    """The checkpoint a cut-off run of the train node wrote, to go on from where it was
    (its time is spent already); None if no run was cut off, or it wrote none of its own."""
    since = clock.cut_off_since()
    try:
        return checkpoint if since is not None and checkpoint.stat().st_mtime >= since else None
    except OSError:
        return None


def tune(state: JobState, runtime: Runtime[JobContext]
         ) -> Command[Literal["compress", "fault_doctor"]]:
    """Tune node: Optuna search (TPE + pruning) around the base config in the remaining budget.

    With `MLPILOT_TRIAL_SLICE_S`, a trial past that time slice stops the search and goes to
    the fault doctor (at most `max_fault_fixes` times); the doctor's fix applies to the
    trials of the next round.
    """
    # lazy: the graph is built for `plan` too, which must not import MLflow, Optuna, ChromaDB
    from mlpilot.agent.ray_cluster import trial_executor
    from mlpilot.agent.warm_start import plan_warm_start, remember
    from mlpilot.knowledge.kb import KnowledgeBase
    from mlpilot.tools.experience import dataset_meta
    from mlpilot.tools.training import tune_model

    ctx = runtime.context
    settings = ctx.settings
    task = TaskSpec.model_validate(state["task"])
    config = TrainingConfig.model_validate(state["config"])
    request = TaskRequest.model_validate(state["request"])
    clock = BudgetClock(settings.job_dir(state["job_id"]) / "tune.clock")
    before = clock.spent()  # a search that a crash cut off spent this already
    used = state.get("budget_used_s", 0.0) + before
    remaining = search_seconds(task.budget_s, used, searched=bool(state.get("search")))
    df, test_df = job_frames(state, request)
    meta = dataset_meta(df, task)
    if not config.search.enabled or remaining < MIN_SEARCH_S:
        why = "search disabled" if not config.search.enabled else f"only {remaining:.1f}s left"
        remember(state, ctx, meta)
        clock.clear()
        return Command(goto="compress", update={"budget_used_s": used,
                                                "decisions": [decision("tune", "skipped", why)]})
    started = time.monotonic()
    warm, warm_decision = plan_warm_start(state, ctx, meta, df, test_df)
    ctx.emit("tune", f"searching for {remaining:.0f}s; {warm.reason}")

    def on_trial(trial) -> None:
        score = f" {task.metric} {trial.value:.4f}" if trial.value is not None else ""
        ctx.emit("tune", f"trial {trial.number}: {trial.state}{score}", trial=trial.number,
                 value=trial.value)

    rounds = sum(f["status"] == "applied" and f.get("stage") == "tune"
                 for f in state.get("fault_fixes") or [])
    tuned = settings.job_dir(state["job_id"]) / ("tuned" if not rounds else f"tuned-{rounds + 1}")
    with clock.running(before):
        outcome = tune_model(
            df, task, warm.search_config(config), model_dir=model_home(tuned, state),
            deadline=started + remaining, storage=settings.optuna_storage,
            study_name=state["job_id"], test_df=test_df, enqueue=warm.enqueue(config),
            prior=warm.prior, tracker=tracker_for(ctx), parent_run_id=state.get("mlflow_run_id"),
            on_trial=on_trial, trials=trial_executor(settings),
            trial_slice_s=settings.trial_slice_s,
            # an operator's slice is a constraint; the default one (half the time left) is
            # meant to cut trials short, so a trial it stops is only noted
            stop_on=("trial_timeout",) if settings.trial_slice_s
            and rounds < settings.max_fault_fixes else ())
    clock.clear()
    used += time.monotonic() - started
    if outcome.fault is None:
        remember(state, ctx, meta, outcome)
    summary = {**outcome.model_dump(exclude={"best_config", "top_configs", "observations", "fault"}),
               "warm_start": warm.summary()}
    logged = [] if rounds else [warm_decision]  # a later round's warm configs ran already
    if rounds and state.get("search"):
        summary = _search_so_far(state["search"], summary)
    best = state.get("best")
    update: dict[str, Any] = {"budget_used_s": used, "search": summary}
    # a tie goes to the search: its model was refitted on all rows, the base run's was not;
    # a cross-fitted score (all rows, out of fold) is not comparable to the base run's, and
    # the cross-fit weighed the base config's own trial already
    crossed = outcome.cross_fit is not None
    if outcome.model_dir and (crossed or not metrics.is_better(task.metric, best["score"],
                                                               outcome.best_score)):
        ensemble = outcome.ensemble
        source = "ensemble of search trials" if ensemble else "Optuna search"
        if outcome.refit and outcome.refit["refitted"]:
            source += ", refit on all rows" if outcome.refit["complete"] else ", partly refit"
        if crossed:
            crossfit, rounds = outcome.cross_fit, outcome.cross_fit.get("rounds", 1)
            source += (f", cross-fitted ({crossfit['folds']} folds"
                       f"{f' x {rounds} rounds' if rounds > 1 else ''})")
        update["best"] = {"model_dir": finish_model(tuned, state), "score": outcome.best_score,
                          "source": source, "config": outcome.best_config}
        why = (f"validation {task.metric} {outcome.best_score:.4f} beats the base config's "
               f"{best['score']:.4f}")
        if crossed:
            why = (f"out-of-fold {task.metric} {outcome.best_score:.4f} on the search's "
                   f"{crossfit['scored_rows']} training rows ({crossfit['folds']} folds over "
                   f"{crossfit['rows']} rows, {rounds} round{'s' * (rounds > 1)}), chosen among "
                   f"{len(crossfit['bags'])} cross-fitted configs (the search's best and "
                   "HistGradientBoosting defaults)")
        what = "use the search's best trial"
        if ensemble:
            trials = ", ".join("HGB defaults" if n < 0 else str(n) for n in ensemble["trials"])
            what = (f"use a greedy ensemble of trials [{trials}] "
                    f"({', '.join(sorted(set(ensemble['families'])))})")
            why += f"; the best single one scored {ensemble['best_single_score']:.4f}"
        update["decisions"] = [*logged, decision("tune", what, why), *_refit_decision(outcome.refit)]
    else:
        update["decisions"] = [*logged, decision("tune", "keep the base config",
                                                 "no trial beat it on validation")]
    if outcome.fault is not None:
        ctx.emit("tune", f"search fault: {outcome.fault['message']}")
        update["decisions"].append(decision("tune", "pause the search for the fault doctor",
                                            outcome.fault["message"]))
        return Command(goto="fault_doctor", update={**update, "fault": outcome.fault})
    pending = pending_fix(state)
    if pending is not None and pending.get("stage") == "tune":
        with KnowledgeBase(settings.knowledge_dir) as kb:
            update["fault_fixes"] = [settle(kb, pending, worked=True)]
        update["decisions"].append(decision("fault_doctor", f"fix verified: {pending['fix']}",
                                            "the search finished without the fault"))
    return Command(goto="compress", update={**update, "fault": None})


def _refit_decision(refit: dict[str, Any] | None) -> list[dict[str, Any]]:
    """The decision that says whether the chosen model was refitted on all rows."""
    if not refit:
        return []
    if refit["complete"]:
        return [decision("tune", f"refit the chosen model on all {refit['rows']} rows",
                         f"trial(s) {refit['refitted']} trained again with the search's "
                         f"length in {refit['seconds']:.1f}s")]
    skipped = "; ".join(f"trial {n}: {why}" for n, why in refit["skipped"].items())
    done = f"refitted trial(s) {refit['refitted']} on all {refit['rows']} rows; " if refit["refitted"] else ""
    return [decision("tune", f"{done}refit skipped for the rest", skipped)]


def _search_so_far(before: dict[str, Any], now: dict[str, Any]) -> dict[str, Any]:
    """The search summary of all rounds of this job (a fault fix splits a search in rounds)."""
    merged = dict(now)
    for key in ("n_trials", "n_complete", "n_pruned", "n_failed", "seconds"):
        merged[key] = (before.get(key) or 0) + (now.get(key) or 0)
    merged["rounds"] = before.get("rounds", 1) + 1
    merged["warm_start"] = before.get("warm_start", now.get("warm_start"))  # the first round's
    return merged


def watched_faults(state: JobState) -> set[str]:
    """The fault kinds the base run watches for: all but those the doctor chose to tolerate."""
    return (set(CHECKS) | {"out_of_memory"}) - set(state.get("tolerated_faults") or [])


def tracker_for(ctx: JobContext) -> Tracker:
    """The MLflow tracker of this installation."""
    from mlpilot.engine.tracking import Tracker  # lazy: MLflow takes seconds to import

    return Tracker(ctx.settings.tracking_uri, artifact_location=ctx.settings.artifact_location)


class EpochProgress(Callback):
    """Reports epochs to the job's progress sink, at most about once a second."""

    def __init__(self, ctx: JobContext, stage: str):
        self.ctx, self.stage, self.last = ctx, stage, 0.0

    def on_epoch_end(self, run: TrainingRun, epoch: EpochResult) -> None:
        """Emit a progress line for this epoch unless one went out less than a second ago."""
        self.report(run.task.metric, epoch)

    def report(self, metric: str, epoch: EpochResult) -> None:
        """The same, for an epoch seen outside the training process (a worker's)."""
        now = time.monotonic()
        if now - self.last >= 1.0:
            self.last = now
            self.ctx.emit(self.stage, f"epoch {epoch.epoch}: valid {metric} "
                                      f"{epoch.valid_score:.4f}", epoch=epoch.epoch,
                          valid_score=epoch.valid_score, train_loss=epoch.train_loss)
