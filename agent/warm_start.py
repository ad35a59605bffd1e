"""The tune node's memory: warm-start the search from similar past runs, and remember
this run's best configs and trials for the runs to come.

Both sides go through `tools/experience.py` and the experience store
(`<data_dir>/experience.sqlite`). `MLPILOT_WARM_START=false` turns the warm start off;
runs are remembered either way. Remembering is keyed by the job id, so a node that runs
again replaces its record instead of adding a second one.

A retrain job (job option `warm_start_from`, set by `agent/retrain.py`) is warm-started
from the champion's own run instead of from similar runs: the champion's config is tried
first, and that run's trials start the sampler.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from mlpilot.agent.context import JobContext
from mlpilot.agent.state import JobState, TaskRequest, decision
from mlpilot.engine.config import TaskSpec, TrainingConfig
from mlpilot.engine.data import DataProfile
from mlpilot.guardrails.limits import Limits
from mlpilot.knowledge.experience import MetaFeatures
from mlpilot.tools.experience import (
    WarmStart,
    champion_warm_start,
    find_warm_start,
    record_experience,
)
from mlpilot.tools.training import TuneOutcome, prepared


def plan_warm_start(state: JobState, ctx: JobContext, meta: MetaFeatures, df: pd.DataFrame,
                    test_df: pd.DataFrame | None) -> tuple[WarmStart, dict[str, str]]:
    """The past configs this job's search should try first, and the decision to log."""
    settings = ctx.settings
    if not settings.warm_start:
        warm = WarmStart(reason="cold start: warm starts are off (MLPILOT_WARM_START=false)")
        return warm, decision("tune", "cold start", warm.reason)
    task = TaskSpec.model_validate(state["task"])
    config = TrainingConfig.model_validate(state["config"])
    n_train = len(prepared(df, task, config, test_df).y_train)
    limits = Limits(max_memory_mb=settings.max_memory_mb, max_budget_s=settings.hard_budget_s)
    profile = DataProfile.model_validate(state["profile"])
    champion = _option(settings, state["job_id"], "warm_start_from")
    if isinstance(champion, dict) and champion.get("config"):
        warm = champion_warm_start(settings.experience_db, champion["run"], champion["config"],
                                   task, config, profile, n_train_rows=n_train, limits=limits)
        what = (f"warm start from the champion's run {champion['run']} "
                f"(v{champion.get('version')}): try its config first"
                + (f", the sampler starting from {len(warm.prior)} of its trials"
                   if warm.prior else ""))
        if not warm.used:
            return warm, decision("tune", "cold start", warm.reason)
        why = "a retrain after drift starts where the champion left off"
        if warm.skipped:
            why += "; " + "; ".join(warm.skipped)
        return warm, decision("tune", what, why)
    warm = find_warm_start(
        settings.experience_db, meta, task, config, profile,
        n_train_rows=n_train, exclude=[state["job_id"]], limits=limits,
        max_distance=settings.warm_start_max_distance,
        budget_s=task.budget_s - state.get("budget_used_s", 0.0))
    if not warm.used:
        return warm, decision("tune", "cold start", warm.reason)
    runs = "; ".join(f"run {s.run_id} on {s.dataset} (distance {s.distance:.2f}, "
                     f"validation {s.metric} {s.score:.4f})" for s in warm.sources)
    what = (f"warm start: try {len(warm.configs)} config(s) of similar past runs first, "
            f"the sampler starting from {len(warm.prior)} of their trials")
    if warm.families:
        what += f" and drawing only {', '.join(warm.families)}"
    return warm, decision("tune", what, f"nearest past runs: {runs}")


def _option(settings: Any, job_id: str, key: str) -> Any:
    """One of the options the job was submitted with (None for a job without a record)."""
    from mlpilot.agent.store import Store, StoreError

    try:
        return Store(settings.state_db).job(job_id).options.get(key)
    except StoreError:
        return None


def remember(state: JobState, ctx: JobContext, meta: MetaFeatures,
             outcome: TuneOutcome | None = None) -> None:
    """Record this job's data and best configs (the base run's and the search's)."""
    task = TaskSpec.model_validate(state["task"])
    request = TaskRequest.model_validate(state["request"])
    candidates: list[dict[str, Any]] = []
    base = state.get("base") or {}
    if base.get("config") is not None:
        candidates.append({"config": base["config"], "score": base["score"], "source": "base",
                           "seconds": base.get("seconds")})
    if outcome is not None:
        candidates += outcome.top_configs
    record_experience(ctx.settings.experience_db, run_id=state["job_id"],
                      dataset=request.data.name, task=task, meta=meta, configs=candidates,
                      base_score=base.get("score"),
                      trials=outcome.observations if outcome is not None else ())
