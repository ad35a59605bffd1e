"""Warm starts: past configs adapted and validated for a new job, and a second job on a
similar dataset that starts its search from the first job's best config."""

from __future__ import annotations

import json

import optuna
import pandas as pd
import pytest

from mlpilot.agent.context import JobContext
from mlpilot.agent.runner import Runner
from mlpilot.agent.settings import Settings
from mlpilot.agent.state import TaskRequest
from mlpilot.agent.warm_start import plan_warm_start
from mlpilot.engine.config import TaskSpec, TrainingConfig, TreeConfig
from mlpilot.engine.data import profile_table
from mlpilot.engine.portfolio import load as load_portfolio
from mlpilot.engine.prior import PRIOR_ATTR, PriorTrial
from mlpilot.engine.search import CONFIG_ATTR, QUICK_FAMILIES, config_params
from mlpilot.guardrails.limits import Limits
from mlpilot.knowledge.experience import ExperienceStore
from mlpilot.tools.experience import (
    adapt_config,
    champion_warm_start,
    dataset_meta,
    find_warm_start,
    record_experience,
)
from tests.conftest import dataset

TASK = TaskSpec(target="species", task_type="multiclass", metric="accuracy", budget_s=10)
#: A past run's best config, unlike the defaults in every section.
PAST = TrainingConfig.model_validate({
    "preprocessing": {"scaling": "robust"}, "model": {"hidden_sizes": [48], "dropout": 0.2},
    "optimizer": {"learning_rate": 0.004, "weight_decay": 0.001}, "batch_size": 512,
    "max_epochs": 30, "validation_fraction": 0.25, "seed": 7,
})


@pytest.fixture(scope="module")
def penguins() -> pd.DataFrame:
    return pd.read_csv(dataset("penguins.csv"))


def remember_past(penguins: pd.DataFrame, store_path, configs: list[TrainingConfig],
                  run_id: str = "past-run", df: pd.DataFrame | None = None,
                  base_score: float | None = None) -> None:
    """A past run whose configs scored 0.9, 0.8, ... in order."""
    df = penguins if df is None else df
    record_experience(store_path, run_id=run_id, dataset="penguins.csv", task=TASK,
                      meta=dataset_meta(df, TASK), base_score=base_score,
                      configs=[{"config": c.model_dump(mode="json"), "score": 0.9 - i / 10,
                                "source": f"trial {i}"} for i, c in enumerate(configs)])


def test_a_past_config_keeps_how_to_learn_and_takes_the_rest_from_the_new_job():
    base = TrainingConfig(seed=3)
    adapted = adapt_config(PAST, base, n_train_rows=200)
    assert adapted.model == PAST.model and adapted.optimizer == PAST.optimizer
    assert adapted.batch_size == 200  # capped at the new job's training rows
    assert adapted.seed == 3 and adapted.preprocessing == base.preprocessing
    assert (adapted.max_epochs, adapted.validation_fraction) == (base.max_epochs,
                                                                base.validation_fraction)
    assert adapted.search == base.search


def test_a_tree_config_carries_its_tree_settings_where_trees_are_searched(penguins, tmp_path):
    store_path = tmp_path / "experience.sqlite"
    trees = PAST.model_copy(update={"model": PAST.model.model_copy(update={"family": "hist_gbt"}),
                                    "trees": TreeConfig(max_leaf_nodes=64, learning_rate=0.05)})
    remember_past(penguins, store_path, [trees])
    args = (store_path, dataset_meta(penguins, TASK), TASK)
    profile = profile_table(penguins, "species")
    searched = TrainingConfig.model_validate({"search": {"space": {"families": ["mlp", "hist_gbt"]}}})
    [tried] = find_warm_start(*args, searched, profile, n_train_rows=233).configs
    assert tried.model.family == "hist_gbt" and tried.trees == trees.trees

    mlp_only = find_warm_start(*args, TrainingConfig(), profile, n_train_rows=233)
    assert not mlp_only.used
    assert mlp_only.skipped == ["past-run #1: model family hist_gbt is not searched for this data"]


def test_warm_start_validates_past_configs_and_skips_those_that_fail(penguins, tmp_path):
    store_path = tmp_path / "experience.sqlite"
    too_big = PAST.model_copy(update={"model": PAST.model.model_copy(
        update={"hidden_sizes": [1024, 1024, 1024]})})
    remember_past(penguins, store_path, [too_big, PAST])
    warm = find_warm_start(store_path, dataset_meta(penguins, TASK), TASK, TrainingConfig(),
                           profile_table(penguins, "species"), n_train_rows=233,
                           limits=Limits(max_parameters=100_000))
    assert warm.used and len(warm.configs) == 1
    assert warm.configs[0].model.hidden_sizes == [48]
    [skipped] = warm.skipped
    assert skipped.startswith("past-run #1:") and "parameters" in skipped
    assert [s.run_id for s in warm.sources] == ["past-run"]
    assert warm.sources[0].score == pytest.approx(0.9) and warm.sources[0].distance == 0.0


def test_only_configs_that_beat_their_runs_base_config_are_tried(penguins, tmp_path):
    store_path = tmp_path / "experience.sqlite"
    worse = PAST.model_copy(update={"batch_size": 64})
    remember_past(penguins, store_path, [PAST, worse], base_score=0.85)
    warm = find_warm_start(store_path, dataset_meta(penguins, TASK), TASK, TrainingConfig(),
                           profile_table(penguins, "species"), n_train_rows=233)
    [tried] = warm.configs  # PAST (0.9), not `worse` (0.8)
    assert tried.model == PAST.model and tried.batch_size <= 233
    assert warm.skipped == ["past-run #2: scored below its run's base config"]


def test_a_past_runs_trials_start_the_sampler_when_scored_on_the_same_metric(penguins,
                                                                           tmp_path):
    store_path = tmp_path / "experience.sqlite"
    trials = [{"params": {"learning_rate": 0.01, "depth": 2}, "value": 0.95},
              {"params": {"learning_rate": 0.3, "depth": 1}, "value": float("nan")},
              {"params": {"learning_rate": 0.001, "depth": 3}, "value": 0.7}]
    worse = PAST.model_copy(update={"batch_size": 64})
    record_experience(store_path, run_id="past-run", dataset="penguins.csv", task=TASK,
                      meta=dataset_meta(penguins, TASK), base_score=0.95, trials=trials,
                      configs=[{"config": worse.model_dump(mode="json"), "score": 0.9}])
    assert len(ExperienceStore(store_path).get("past-run").trials) == 2  # the NaN is not kept
    args = (store_path, dataset_meta(penguins, TASK))
    rest = (TrainingConfig(), profile_table(penguins, "species"))

    warm = find_warm_start(*args, TASK, *rest, n_train_rows=233)
    assert warm.configs == []  # its one config lost to its base config ...
    assert warm.used and warm.prior == [  # ... but its trials still guide the sampler
        PriorTrial(params={"learning_rate": 0.01, "depth": 2}, value=0.95, source="past-run"),
        PriorTrial(params={"learning_rate": 0.001, "depth": 3}, value=0.7, source="past-run")]
    assert "2 past trial(s)" in warm.reason and warm.summary()["n_prior_trials"] == 2
    assert [s.run_id for s in warm.sources] == ["past-run"]

    base = TrainingConfig()
    assert warm.enqueue(base) == []  # the job trained its base already; the priors cover it
    with_configs = warm.model_copy(update={"configs": [PAST]})
    assert with_configs.enqueue(base) == [PAST]
    assert with_configs.model_copy(update={"prior": []}).enqueue(base) == [PAST, base]

    other_metric = TASK.model_copy(update={"metric": "balanced_accuracy"})
    cold = find_warm_start(*args, other_metric, *rest, n_train_rows=233)
    assert not cold.used and cold.prior == []  # scores on another metric do not rank alike


def test_with_past_trials_the_configs_tried_first_take_a_share_of_the_budget(penguins,
                                                                          tmp_path):
    store_path = tmp_path / "experience.sqlite"
    slow, quick = (PAST.model_copy(update={"batch_size": b}) for b in (64, 16))
    scored = [(PAST, 0.5), (slow, 20.0), (quick, 1.0)]  # (config, seconds it trained)

    def remember(trials: list[dict]) -> None:
        record_experience(store_path, run_id="past-run", dataset="penguins.csv", task=TASK,
                          meta=dataset_meta(penguins, TASK), trials=trials,
                          configs=[{"config": c.model_dump(mode="json"), "score": 0.9 - i / 100,
                                    "seconds": s} for i, (c, s) in enumerate(scored)])

    def warm_start():
        return find_warm_start(store_path, dataset_meta(penguins, TASK), TASK, TrainingConfig(),
                               profile_table(penguins, "species"), n_train_rows=233,
                               budget_s=30)

    remember([{"params": {"learning_rate": 0.01}, "value": 0.9}])
    warm = warm_start()  # 10% of 30 s: 3 s for the configs tried first
    assert len(warm.configs) == 2 and warm.configs[1].batch_size == 16  # #1 and #3
    assert 64 not in [c.batch_size for c in warm.configs]
    [why] = warm.skipped
    assert why.startswith("past-run #2: trained 20.0 s") and "sampler" in why
    remember([])  # without past trials, the configs are all the warm start has
    assert len(warm_start().configs) == 3


def test_with_past_trials_the_sampler_draws_the_families_of_the_configs_tried_first(penguins,
                                                                                    tmp_path):
    store_path = tmp_path / "experience.sqlite"
    net = PAST.model_copy(update={"model": PAST.model.model_copy(update={"family": "resnet"})})
    searched = TrainingConfig.model_validate(
        {"search": {"space": {"families": ["mlp", "resnet", "hist_gbt", "ft_transformer"]}}})

    def warm_start(trials: list[dict], seconds: float = 1.0):
        record_experience(store_path, run_id="past-run", dataset="penguins.csv", task=TASK,
                          meta=dataset_meta(penguins, TASK), trials=trials,
                          configs=[{"config": net.model_dump(mode="json"), "score": 0.9,
                                    "seconds": seconds}])
        return find_warm_start(store_path, dataset_meta(penguins, TASK), TASK, searched,
                               profile_table(penguins, "species"), n_train_rows=233,
                               budget_s=60)

    warm = warm_start([{"params": {"family": "resnet"}, "value": 0.9}])
    assert warm.families == ["resnet", "hist_gbt"]  # the past best's family, and trees
    assert warm.search_config(searched).search.space.families == ["resnet", "hist_gbt"]
    assert warm.search_config(searched).model == searched.model
    assert "sampling only resnet, hist_gbt" in warm.reason
    assert warm.summary()["families"] == ["resnet", "hist_gbt"]
    slow = warm_start([{"params": {"family": "resnet"}, "value": 0.9}], seconds=30.0)
    assert slow.configs == [] and slow.families == ["hist_gbt"]  # resnet: over 10% of 60 s
    cold_sampler = warm_start([])  # no past trials: the configs go first, the space stays
    assert cold_sampler.families == [] and cold_sampler.search_config(searched) == searched


def test_no_warm_start_without_a_similar_past_run(penguins, tmp_path):
    store_path = tmp_path / "experience.sqlite"
    args = (dataset_meta(penguins, TASK), TASK, TrainingConfig(), profile_table(penguins, "species"))
    empty = find_warm_start(store_path, *args, n_train_rows=233)
    assert not empty.used and "no past multiclass run" in empty.reason

    tiny = penguins.head(40).assign(extra=1.0)  # fewer rows, one more column
    remember_past(penguins, store_path, [PAST], df=tiny)
    far = find_warm_start(store_path, *args, n_train_rows=233, max_distance=0.1)
    assert not far.used and "past-run" in far.reason and "more than the limit 0.1" in far.reason


def test_the_setting_turns_warm_starts_off(penguins, tmp_path, monkeypatch):
    remember_past(penguins, Settings().experience_db, [PAST])
    monkeypatch.setenv("MLPILOT_WARM_START", "false")
    ctx = JobContext(settings=Settings())
    warm, logged = plan_warm_start({}, ctx, dataset_meta(penguins, TASK), penguins, None)
    assert not warm.used and warm.configs == []
    assert logged["decision"] == "cold start" and "MLPILOT_WARM_START=false" in logged["why"]


@pytest.mark.slow
def test_a_second_job_on_similar_data_starts_from_the_first_jobs_best_config(penguins, tmp_path):
    settings = Settings()
    first = Runner(settings).start(TaskRequest(
        request="predict the species of a penguin, 5 seconds", data=dataset("penguins.csv"),
        training={"model": {"hidden_sizes": [48]}, "optimizer": {"learning_rate": 0.004},
                  "batch_size": 32}), auto_approve=True)
    assert first.status == "succeeded"
    assert first.result["search"]["warm_start"]["used"] is False
    remembered = ExperienceStore(settings.experience_db).get(first.job_id)
    assert remembered is not None and remembered.configs

    similar = tmp_path / "penguins_resampled.csv"
    penguins.sample(frac=0.9, random_state=1).to_csv(similar, index=False)
    second = Runner(settings).start(TaskRequest(  # enough budget for a search on a busy machine
        request="predict the species of a penguin, 20 seconds", data=similar), auto_approve=True)
    assert second.status == "succeeded"

    warm = second.result["search"]["warm_start"]
    assert warm["used"] and warm["n_configs"] >= 1
    assert warm["sources"][0]["run_id"] == first.job_id and warm["sources"][0]["distance"] < 0.3
    study = optuna.load_study(study_name=second.job_id, storage=settings.optuna_storage)
    trials = study.get_trials(deepcopy=False)
    # the quick families' defaults and the portfolio learned across datasets come first
    # (their entries of the families this search explores; the base is a network), then
    # the first job's best config: its model, optimiser, batch size
    families = TrainingConfig.model_validate_json(
        trials[0].user_attrs[CONFIG_ATTR]).search.space.families
    n_learned = len([f for f in QUICK_FAMILIES if f in families]) + len(
        [p for p in load_portfolio()["portfolios"]["multiclass"] if p["family"] in families])
    tried = TrainingConfig.model_validate_json(trials[n_learned].user_attrs[CONFIG_ATTR])
    assert tried == adapt_config(remembered.best.config, tried, n_train_rows=10**6)  # 32 fits
    assert tried.model == TrainingConfig.model_validate(remembered.best.config).model
    assert trials[n_learned].params == pytest.approx(config_params(tried, tried.search.space))

    logged = [d for d in second.result["decisions"] if d["decision"].startswith("warm start")]
    assert logged and first.job_id in logged[0]["why"]
    with open(second.result["report_path"]) as saved:
        report = json.load(saved)
    assert report["search"]["warm_start"]["sources"][0]["run_id"] == first.job_id
    with open(second.result["report_markdown_path"]) as saved:
        markdown = saved.read()
    assert "Warm-started" in markdown and first.job_id in markdown

    # the first job's trials were offered to the sampler, and joined the study once the
    # enqueued configs ran (on a busy machine a short search may end before): they are
    # never counted as the second job's trials
    assert warm["n_prior_trials"] == len(remembered.trials)
    prior = [t for t in trials if PRIOR_ATTR in t.user_attrs]
    assert {t.user_attrs[PRIOR_ATTR] for t in prior} <= {first.job_id}
    assert len(prior) == second.result["search"]["n_prior_trials"] <= len(remembered.trials)
    finished = [t for t in trials if t.state.is_finished()]  # not those still enqueued
    assert second.result["search"]["n_trials"] == len(finished) - len(prior)
    if prior:
        assert f"the sampler started from {len(prior)} of their trials" in markdown
    assert ExperienceStore(settings.experience_db).count() == 2  # the second job is remembered too


def test_a_retrain_starts_from_the_champions_config_and_its_runs_trials(penguins, tmp_path):
    store_path = tmp_path / "experience.sqlite"
    rest = (TASK, TrainingConfig(seed=3), profile_table(penguins, "species"))
    alone = champion_warm_start(store_path, "champion-run", PAST.model_dump(mode="json"), *rest,
                                n_train_rows=233)
    [tried] = alone.configs  # the run left no record: its config still goes first
    assert tried.model == PAST.model and tried.seed == 3 and alone.prior == []
    assert alone.reason.startswith("warm start from the champion's run champion-run")

    trials = [{"params": {"learning_rate": 0.01}, "value": 0.95}]
    record_experience(store_path, run_id="champion-run", dataset="penguins.csv", task=TASK,
                      meta=dataset_meta(penguins, TASK), trials=trials,
                      configs=[{"config": PAST.model_dump(mode="json"), "score": 0.9}])
    warm = champion_warm_start(store_path, "champion-run", PAST.model_dump(mode="json"), *rest,
                               n_train_rows=233)
    assert len(warm.configs) == 1 and [p.source for p in warm.prior] == ["champion-run"]
    assert [s.run_id for s in warm.sources] == ["champion-run"]

    broken = {**PAST.model_dump(mode="json"), "batch_size": -1}
    cold = champion_warm_start(tmp_path / "other.sqlite", "champion-run", broken, *rest,
                               n_train_rows=233)
    assert not cold.used and cold.skipped[0].startswith("the champion's config: no longer a valid")
