"""Typed tools over the experience store: warm-start configs for a new job from the past
jobs whose data looks most like its own, and recording what a finished job learnt.

A past config is never enqueued as is. `adapt_config` keeps what describes *how to
learn* (the model family and its settings, tree settings, the optimiser, the batch
size, capped at the new training rows) and takes everything tied to *this job* from the
new job's validated base config:
preprocessing (the search shares one prepared dataset), the data split, epochs and
patience, class weighting, the search settings and the seed. The result then goes
through the guardrails validator chain (schema, cross-field checks, resources; no dry
run); a config with an error is skipped, and the report says why.

Only what a past run learnt is transferred: configs that scored at least as well as that
run's own starting (base) config. A config that lost to its run's base would, on similar
data, most likely lose to the new run's base too, and trying it first only delays the
search. When past trials start the sampler, the configs tried first may also take only a
share of the budget (by the seconds they trained in their run): the sampler knows the
slower ones from the past trials, and a warm search should be ahead early. For the same
reason the sampler then draws only the model families of the configs tried first, and
gradient-boosted trees (a tree trains in about a second, a network in many): TPE would
otherwise keep trying the families it knows least, at many seconds a trial. A longer
budget leaves room for slower configs, and so for their families.

The past runs' trials go to the new search's sampler as prior trials (`engine.search`):
TPE then starts from their good and bad regions instead of from random samples. They
come only from past runs scored on the new run's metric, and keep their scores: TPE only
ranks trials, and runs within the distance limit score on a comparable scale.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd
from pydantic import BaseModel, Field, ValidationError

from mlpilot.engine.config import (
    BOOSTED_FAMILIES,
    LOWER_IS_BETTER,
    ModelFamily,
    TaskSpec,
    TrainingConfig,
)
from mlpilot.engine.data import DataProfile
from mlpilot.engine.prior import PriorTrial
from mlpilot.engine.space import families
from mlpilot.guardrails.limits import Limits
from mlpilot.guardrails.validators import validate
from mlpilot.knowledge.experience import (
    Experience,
    ExperienceStore,
    MetaFeatures,
    Neighbour,
    PastTrial,
    ScoredConfig,
    meta_features,
)
from mlpilot.tools.base import declare_risk

#: The sections of a past config that carry over to a new job.
TRANSFERRED = ("model", "trees", "forest", "optimizer", "batch_size")
#: How many of a job's best configs the store keeps.
KEPT_CONFIGS = 3
#: How many of a job's trials the store keeps (the latest; a search rarely runs more).
KEPT_TRIALS = 500


class WarmStartSource(BaseModel):
    """A past run a warm start drew on."""

    run_id: str
    dataset: str
    distance: float = Field(description="Standardised meta-feature distance to this job's data.")
    metric: str
    score: float = Field(description="The past run's best validation score, on its metric.")


class WarmStart(BaseModel):
    """What the experience store suggests for a new job's search.

    `configs` are adapted, validated `TrainingConfig`s to try first, in order; `prior` the
    past runs' trials for the sampler to start from; `families` the model families the
    search samples (empty: those of the base config); `sources` the past runs they came
    from, nearest first; `reason` says in words why the search is (or is not)
    warm-started; `skipped` says why candidate configs were left out.
    """

    configs: list[TrainingConfig] = []
    prior: list[PriorTrial] = []
    families: list[ModelFamily] = []
    sources: list[WarmStartSource] = []
    skipped: list[str] = []
    reason: str

    @property
    def used(self) -> bool:
        """True when a past config will be tried or past trials start the sampler."""
        return bool(self.configs or self.prior)

    def enqueue(self, base: TrainingConfig) -> list[TrainingConfig]:
        """The configs a search around `base` tries first: the past configs, then `base`.

        With past trials for the sampler, `base` is left out unless it is one of the past
        runs' best configs (then it is in `configs`): a job has trained it already (the
        train node, before the search), and the past trials tell the sampler how configs of
        its kind did, so training it again would only delay the search.
        """
        return list(self.configs) if self.prior else [*self.configs, base]

    def search_config(self, base: TrainingConfig) -> TrainingConfig:
        """`base` with the search's families narrowed to `families` (when set)."""
        return _narrowed(base, self.families) if self.families else base

    def summary(self) -> dict[str, Any]:
        """The JSON the report shows (`search.warm_start`)."""
        return {"used": self.used, "n_configs": len(self.configs),
                "n_prior_trials": len(self.prior), "families": self.families,
                "sources": [s.model_dump() for s in self.sources], "reason": self.reason,
                "skipped": self.skipped}


def dataset_meta(df: pd.DataFrame, task: TaskSpec) -> MetaFeatures:
    """The meta-features of a job's training data (dropped columns left out)."""
    return meta_features(df, task.target, task.task_type, task.drop_columns)


def adapt_config(past: dict[str, Any] | TrainingConfig, base: TrainingConfig,
                 n_train_rows: int) -> TrainingConfig:
    """A past config made fit for a new job: `TRANSFERRED` sections from `past`, the rest
    from `base`, batch size at most `n_train_rows`. Raises `ValidationError` when the
    past config no longer parses."""
    if isinstance(past, TrainingConfig):
        past = past.model_dump(mode="json")
    fields = base.model_dump(mode="json")
    fields.update({key: past[key] for key in TRANSFERRED if key in past})
    config = TrainingConfig.model_validate(fields)
    return config.model_copy(update={"batch_size": max(1, min(config.batch_size, n_train_rows))})


@declare_risk("low")
def find_warm_start(store_path: Path, meta: MetaFeatures, task: TaskSpec, base: TrainingConfig,
                    profile: DataProfile, *, n_train_rows: int, exclude: Sequence[str] = (),
                    limits: Limits | None = None, neighbours: int = 3, max_configs: int = 3,
                    max_distance: float = 1.0, max_prior: int = 1000,
                    budget_s: float | None = None, first_share: float = 0.1) -> WarmStart:
    """Configs to try first in a new job's search, from the nearest past runs.

    Args:
        store_path: the experience store's SQLite file.
        meta: meta-features of the new job's training data (`dataset_meta`).
        task: the new job's task; only past runs of its task type are considered.
        base: the new job's validated base config (what is not transferred comes from it).
        profile: the new job's data profile, for the validator chain.
        n_train_rows: training rows after the split; batch sizes are capped to it.
        exclude: run ids to leave out (the job itself, when its node runs again).
        limits: operator limits for the validator chain's resource layer.
        neighbours: how many past runs to draw on.
        max_configs: how many configs to return at most; taken round-robin, the best
            config of each neighbour (nearest first), then the second best, ...
        max_distance: past runs further than this are not similar enough to use.
        max_prior: how many past trials to return at most (nearest runs first).
        budget_s: the new search's budget in seconds (None: no time limit on the configs).
        first_share: with past trials for the sampler, the past configs tried first may
            take this share of `budget_s` together, by the seconds they trained in their
            run (a config of unknown time is taken).
    """
    store = ExperienceStore(store_path)
    near = store.nearest(meta, task.task_type, k=neighbours, exclude=list(exclude))
    similar = [n for n in near if n.distance <= max_distance]
    if not similar:
        if not near:
            return WarmStart(reason=f"cold start: no past {task.task_type} run to learn from")
        return WarmStart(reason=f"cold start: the nearest past run ({near[0].experience.run_id}, "
                                f"{near[0].experience.dataset}) is {near[0].distance:.2f} away, "
                                f"more than the limit {max_distance:g}")
    prior = _prior(similar, task.metric, max_prior)
    room = first_share * budget_s if prior and budget_s else math.inf
    configs: list[TrainingConfig] = []
    skipped: list[str] = []
    used_runs: set[str] = set()
    seen: set[str] = set()  # the new base itself may be one of the best past configs
    depth = max(len(n.experience.configs) for n in similar)
    for rank in range(depth):
        for neighbour in similar:
            past = neighbour.experience
            if len(configs) >= max_configs or rank >= len(past.configs):
                continue
            label = f"{past.run_id} #{rank + 1}"
            seconds = past.configs[rank].seconds or 0.0
            if not _learnt(past, past.configs[rank].score):
                skipped.append(f"{label}: scored below its run's base config")
                continue
            if seconds > room:
                skipped.append(f"{label}: trained {seconds:.1f} s in its run, more than the "
                               f"{room:.1f} s left for the configs tried first; the sampler "
                               "knows it from the past trials")
                continue
            config, why = _checked(past.configs[rank].config, task, base, profile,
                                   n_train_rows, limits)
            if config is None:
                skipped.append(f"{label}: {why}")
            elif config.model_dump_json() in seen:
                skipped.append(f"{label}: same as a config already tried")
            else:
                seen.add(config.model_dump_json())
                configs.append(config)
                used_runs.add(past.run_id)
                room -= seconds
    narrowed = _sampled_families(configs, base) if prior else []
    used_runs |= {p.source for p in prior}
    if not configs and not prior:
        return WarmStart(skipped=skipped, reason=(
            f"cold start: the {len(similar)} similar past run(s) have no config worth trying "
            "before this run's base config"))
    sources = [_source(n) for n in similar if n.experience.run_id in used_runs]
    runs = ", ".join(f"{s.run_id} (distance {s.distance:.2f})" for s in sources)
    sampled = f"; sampling only {', '.join(narrowed)}" if narrowed else ""
    return WarmStart(configs=configs, prior=prior, families=narrowed, sources=sources,
                     skipped=skipped,
                     reason=f"warm start: {len(configs)} config(s) and {len(prior)} past "
                            f"trial(s) from {runs}{sampled}")


@declare_risk("low")
def champion_warm_start(store_path: Path, run_id: str, config: dict[str, Any],
                        task: TaskSpec, base: TrainingConfig, profile: DataProfile, *,
                        n_train_rows: int, limits: Limits | None = None,
                        max_prior: int = 1000) -> WarmStart:
    """Warm-start a retrain job from the champion's own run: the champion's config first,
    and that run's trials (when the experience store has them) for the sampler.

    Args:
        store_path: the experience store's SQLite file.
        run_id: the job id of the run that trained the champion.
        config: the champion's `TrainingConfig` (as JSON), read from the registered model.
        task: the retrain job's task; past trials count only when scored on its metric.
        base: the retrain job's validated base config (what is not transferred comes from it).
        profile: the retrain job's data profile, for the validator chain.
        n_train_rows: training rows after the split; batch sizes are capped to it.
        limits: operator limits for the validator chain's resource layer.
        max_prior: how many of the run's trials to return at most.
    """
    checked, why = _checked(config, task, base, profile, n_train_rows, limits)
    skipped = [] if checked is not None else [f"the champion's config: {why}"]
    past = ExperienceStore(store_path).get(run_id)
    prior: list[PriorTrial] = []
    sources: list[WarmStartSource] = []
    if past is not None:
        prior = _prior([Neighbour(experience=past, distance=0.0)], task.metric, max_prior)
        if past.configs:
            sources = [_source(Neighbour(experience=past, distance=0.0))]
    configs = [checked] if checked is not None else []
    if not configs and not prior:
        return WarmStart(skipped=skipped, reason=f"cold start: the champion's run {run_id} "
                                                 "left no config or trial worth trying")
    narrowed = _sampled_families(configs, base) if prior else []
    return WarmStart(configs=configs, prior=prior, families=narrowed, sources=sources,
                     skipped=skipped,
                     reason=f"warm start from the champion's run {run_id}: {len(configs)} "
                            f"config(s) and {len(prior)} past trial(s)")


def _checked(past: dict[str, Any], task: TaskSpec, base: TrainingConfig, profile: DataProfile,
             n_train_rows: int, limits: Limits | None) -> tuple[TrainingConfig | None, str]:
    """The adapted config once it passes the validator chain, or None and why not."""
    try:
        adapted = adapt_config(past, base, n_train_rows)
    except ValidationError as err:
        return None, f"no longer a valid TrainingConfig ({err.error_count()} error(s))"
    if adapted.model.family not in families(base):
        return None, f"model family {adapted.model.family} is not searched for this data"
    report = validate(task, adapted, profile, limits=limits, dry_run=False)
    if not report.passed:
        return None, "; ".join(f.line() for f in report.errors)
    # safe repairs may touch any field: keep them on the transferred part only
    return adapt_config(report.config, base, n_train_rows), ""


def _prior(similar: Sequence[Neighbour], metric: str, limit: int) -> list[PriorTrial]:
    """The trials of the past runs scored on `metric`: at most `limit`, nearest runs first
    to keep, but listed farthest run first: TPE weighs the later trials of a long history
    more."""
    runs: list[list[PriorTrial]] = []
    for neighbour in similar:
        past = neighbour.experience
        room = limit - sum(map(len, runs))
        if past.metric == metric and room > 0:
            runs.append([PriorTrial(params=t.params, value=t.value, source=past.run_id)
                         for t in past.trials[:room]])
    return [trial for run in reversed(runs) for trial in run]


def _sampled_families(configs: Sequence[TrainingConfig], base: TrainingConfig
                     ) -> list[ModelFamily]:
    """The searched families of the configs tried first, and trees if searched; empty when
    that leaves out no family."""
    searched = families(base)
    won = {c.model.family for c in configs} | BOOSTED_FAMILIES
    kept = [f for f in searched if f in won]
    return kept if kept and len(kept) < len(searched) else []


def _narrowed(base: TrainingConfig, kept: Sequence[ModelFamily]) -> TrainingConfig:
    space = base.search.space.model_copy(update={"families": list(kept)})
    return base.model_copy(update={"search": base.search.model_copy(update={"space": space})})


def _learnt(past: Experience, score: float) -> bool:
    """Whether a past config did at least as well as its run's base config."""
    if past.base_score is None:
        return True
    lower = past.metric in LOWER_IS_BETTER
    return score <= past.base_score if lower else score >= past.base_score


def _source(neighbour: Neighbour) -> WarmStartSource:
    past = neighbour.experience
    return WarmStartSource(run_id=past.run_id, dataset=past.dataset,
                           distance=round(neighbour.distance, 4), metric=past.metric,
                           score=past.best.score)


@declare_risk("low")
def record_experience(store_path: Path, *, run_id: str, dataset: str, task: TaskSpec,
                      meta: MetaFeatures, configs: list[dict[str, Any]],
                      base_score: float | None = None,
                      trials: Sequence[dict[str, Any]] = ()) -> Experience:
    """Store what a job learnt: its data's meta-features, its best configs and its trials.

    Args:
        store_path: the experience store's SQLite file.
        run_id: the job's run id; recording again replaces the job's earlier record.
        dataset: the data file's name, for people reading the report.
        task: the job's task (target, task type, metric).
        meta: meta-features of the job's training data (`dataset_meta`).
        configs: candidates as `{"config", "score", "source"}` (base run and search
            trials); the `KEPT_CONFIGS` best distinct ones with a finite score are kept.
        base_score: the validation score of the job's base config, if it has one.
        trials: the search's completed trials as `{"params", "value"}`, in the order they
            ran (`TuneOutcome.observations`); the last `KEPT_TRIALS` with a finite value
            are kept.
    """
    lower = task.metric in LOWER_IS_BETTER
    finite = [c for c in configs if _finite(c.get("score"))]
    finite.sort(key=lambda c: c["score"] if lower else -c["score"])
    kept, seen = [], set()
    for candidate in finite:
        key = TrainingConfig.model_validate(candidate["config"]).model_dump_json()
        if key not in seen and len(kept) < KEPT_CONFIGS:
            seen.add(key)
            kept.append(ScoredConfig.model_validate(candidate))
    observed = [PastTrial.model_validate(t) for t in trials if _finite(t.get("value"))]
    experience = Experience(run_id=run_id, dataset=dataset, target=task.target,
                            task_type=task.task_type, metric=task.metric, meta=meta, configs=kept,
                            base_score=base_score, trials=observed[-KEPT_TRIALS:])
    ExperienceStore(store_path).record(experience)
    return experience


def _finite(value: float | None) -> bool:
    return value is not None and math.isfinite(value)
