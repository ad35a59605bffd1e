"""LightGBM, XGBoost and CatBoost families: early stopping on the validation rows, native
categorical splits, the deadline, fixed-length refits, save/load, and the search space."""

from __future__ import annotations

import time

import numpy as np
import optuna
import pandas as pd
import pytest

from mlpilot.engine import refit
from mlpilot.engine.boosters import available, fit_booster
from mlpilot.engine.config import (
    BoosterConfig,
    ModelConfig,
    PreprocessingConfig,
    SearchConfig,
    SearchSpace,
    TaskSpec,
    TrainingConfig,
)
from mlpilot.engine.predictor import TrainedModel
from mlpilot.engine.preprocess import prepare_data
from mlpilot.engine.search import Candidate
from mlpilot.engine.space import config_params, portfolio, sample_config

FAMILIES = [pytest.param(f, marks=pytest.mark.skipif(not available(f), reason=f"{f} missing"))
            for f in ("lightgbm", "xgboost", "catboost")]
TASK = TaskSpec(target="y", task_type="binary", metric="accuracy", budget_s=30)
REGRESS = TaskSpec(target="v", task_type="regression", metric="r2", budget_s=30)


def _config(family: str, **booster) -> TrainingConfig:
    return TrainingConfig(model=ModelConfig(family=family),
                          preprocessing=PreprocessingConfig(categorical_encoding="embedding"),
                          booster=BoosterConfig(**booster) if booster else None)


def _frame(n: int = 600, seed: int = 0) -> pd.DataFrame:
    """The class is set by a scattered set of levels of `shop` (no order of the codes
    separates it), plus a numeric signal; `v` is a regression target."""
    rng = np.random.default_rng(seed)
    shop = rng.choice([f"s{i:02d}" for i in range(12)], size=n)
    x = rng.normal(size=n)
    good = np.isin(shop, ["s01", "s04", "s05", "s09", "s10"])
    df = pd.DataFrame({"x": x, "noise": rng.normal(size=n), "shop": shop})
    df["y"] = np.where(good ^ (x > 1.8), "yes", "no")
    df["v"] = 3 * good + x + 0.1 * rng.normal(size=n)
    return df


@pytest.fixture(scope="module")
def binary():
    df = _frame().drop(columns=["v"])
    return prepare_data(df, TASK, _config("lightgbm"))


@pytest.mark.parametrize("family", FAMILIES)
def test_a_booster_early_stops_on_the_validation_rows(family, binary):
    # a high rate overfits within a few dozen rounds
    config = _config(family, learning_rate=0.5, early_stopping_rounds=10, max_rounds=400)
    result = fit_booster(config, binary, TASK)
    assert result.stopped_reason == "early_stopping"
    assert 1 <= result.n_iter < result.n_trained < config.booster.max_rounds
    assert result.best_valid_score > 0.9


@pytest.mark.parametrize("family", FAMILIES)
def test_a_booster_splits_categories_natively(family, binary):
    # one stump: split as numbers, no threshold on the codes separates a scattered set of
    # levels (the best one scores about 0.7 here); a categorical split does
    config = _config(family, num_leaves=2, max_depth=1, learning_rate=1.0, max_rounds=1)
    result = fit_booster(config, binary, TASK)
    assert result.n_iter == 1 and result.best_valid_score > 0.9


@pytest.mark.parametrize("family", FAMILIES)
def test_a_booster_model_saves_loads_and_regresses_on_the_original_scale(family, tmp_path):
    df = _frame().drop(columns=["y"])
    config = _config(family)
    data = prepare_data(df, REGRESS, config)
    result = fit_booster(config, data, REGRESS)
    assert result.best_valid_score > 0.8
    model = TrainedModel(REGRESS, config, data.preprocessor, result.model)
    model.save(tmp_path / "m")
    again = TrainedModel.load(tmp_path / "m")
    rows = df.drop(columns=["v"]).head(20)
    np.testing.assert_allclose(again.predict(rows), model.predict(rows))
    assert abs(np.mean(again.predict(rows)) - df["v"].head(20).mean()) < 1.0  # not standardised


@pytest.mark.parametrize("family", FAMILIES)
def test_a_booster_stops_at_a_past_deadline_with_a_usable_model(family, binary):
    result = fit_booster(_config(family), binary, TASK, deadline=time.monotonic() - 1.0)
    assert result.stopped_reason == "deadline" and result.n_iter >= 1
    proba = result.predict_scores(binary.X_valid)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)


@pytest.mark.parametrize("family", FAMILIES)
def test_a_booster_refit_trains_exactly_the_rounds_asked_on_all_rows(family, binary):
    config = _config(family)
    model = refit.train_fixed(config, (), refit.all_rows(binary), TASK, 7,
                              deadline=time.monotonic() + 600)
    assert model is not None and model.model.n_iter == 7
    # a refit the deadline cuts is no refit: the searched model is kept
    assert refit.train_fixed(config, (), refit.all_rows(binary), TASK, 500,
                             deadline=time.monotonic() - 1.0) is None


@pytest.mark.parametrize("family", FAMILIES)
def test_the_refit_plan_paces_a_booster_by_the_rounds_it_trained(family, binary):
    config = _config(family, learning_rate=0.5, early_stopping_rounds=10, max_rounds=400)
    result = fit_booster(config, binary, TASK)
    n = len(binary.y_train)
    plan = refit.plan_refit(result, n, 2 * n)
    # the trial trained n_trained rounds (its best, then the patience) in its seconds
    assert plan.rounds == 2 * result.n_iter
    assert plan.seconds == pytest.approx(result.seconds / result.n_trained * plan.rounds * 2)


def test_each_booster_family_has_its_space_and_a_default_in_the_portfolio():
    space = SearchSpace(families=["mlp", "lightgbm", "xgboost", "catboost"])
    base = TrainingConfig(search=SearchConfig(space=space))
    first = portfolio(base, 1000)
    assert [c.model.family for c in first] == ["lightgbm", "xgboost", "catboost"]
    for family in ("lightgbm", "xgboost", "catboost"):
        trial = optuna.trial.FixedTrial({"family": family, **config_params(
            next(c for c in first if c.model.family == family), space)})
        sampled = sample_config(trial, base, 1000)
        assert sampled.model.family == family and sampled.booster is not None
        assert set(trial.params) - {"family"}  # the family's own parameters were drawn
        names = {n.split("_")[0] for n in trial.params if n != "family"}
        assert len(names) == 1  # one prefix per family: the conditional space stays apart


def test_a_booster_candidate_refits_through_refit_chosen(binary):
    if not available("lightgbm"):
        pytest.skip("lightgbm missing")
    config = _config("lightgbm")
    result = fit_booster(config, binary, TASK)
    model = TrainedModel(TASK, config, binary.preprocessor, result.model)
    candidate = Candidate(0, result.best_valid_score, model, model.scores(binary.X_valid), result)
    final, report = refit.refit_chosen(model, {0: (model, candidate.fit)}, binary, TASK,
                                       deadline=time.monotonic() + 600)
    assert report.refitted == [0] and final is not model
    assert final.model.n_iter == refit.plan_refit(result, len(binary.y_train),
                                                  len(binary.y_train) + len(binary.y_valid)).rounds


def test_a_booster_out_of_memory_is_a_fault_the_search_records_and_survives(binary, monkeypatch):
    from mlpilot.engine import boosters
    from mlpilot.engine.search import tune
    from mlpilot.engine.training import TrainingFault

    def no_memory(*args, **kwargs):
        raise MemoryError("std::bad_alloc")

    monkeypatch.setattr(boosters, "_fit_lightgbm", no_memory)
    monkeypatch.setattr(boosters, "available", lambda family: True)
    with pytest.raises(TrainingFault) as fault:
        fit_booster(_config("lightgbm"), binary, TASK)
    assert fault.value.kind == "out_of_memory" and fault.value.facts["family"] == "lightgbm"

    space = SearchSpace(families=["lightgbm", "hist_gbt"])
    base = _config("hist_gbt").model_copy(update={"search": SearchConfig(max_trials=2,
                                                                         space=space)})
    # the LightGBM defaults first (a quick family's), then the base config
    result = tune(base, binary, TASK, deadline=time.monotonic() + 600, enqueue=[base],
                  learned_portfolio=False)
    assert [(t.state, t.fault) for t in result.trials] == [("failed", "out_of_memory"),
                                                           ("complete", None)]
    assert result.best_fit is not None
