"""The "glm" family: penalised linear models on splines, interactions and one-hot
categories; they fit, predict, save and load, refit, and join the search space."""

from __future__ import annotations

import numpy as np
import optuna
import pandas as pd
import pytest

from mlpilot.engine import refit
from mlpilot.engine.config import (
    GlmConfig,
    ModelConfig,
    PreprocessingConfig,
    SearchConfig,
    SearchSpace,
    TaskSpec,
    TrainingConfig,
)
from mlpilot.engine.glm import fit_glm
from mlpilot.engine.predictor import TrainedModel
from mlpilot.engine.preprocess import prepare_data
from mlpilot.engine.search import Candidate, tune
from mlpilot.engine.space import config_params, portfolio, sample_config

REGRESS = TaskSpec(target="v", task_type="regression", metric="r2", budget_s=30)
CLASSIFY = TaskSpec(target="y", task_type="multiclass", metric="accuracy", budget_s=30)


def _config(**glm) -> TrainingConfig:
    return TrainingConfig(model=ModelConfig(family="glm"),
                          preprocessing=PreprocessingConfig(categorical_encoding="embedding"),
                          glm=GlmConfig(**glm) if glm else None)


def _curved(n: int = 240) -> pd.DataFrame:
    """A smooth non-linear effect, an interaction and a categorical shift."""
    rng = np.random.default_rng(3)
    x, z = rng.uniform(-3, 3, n), rng.normal(size=n)
    shop = rng.choice(["north", "south", "east"], n)
    v = np.sin(x) * 2 + x * z + np.where(shop == "south", 1.5, 0.0) + 0.2 * rng.normal(size=n)
    return pd.DataFrame({"x": x, "z": z, "shop": shop, "v": v})


def test_splines_and_interactions_fit_what_a_plain_linear_model_cannot():
    df = _curved()
    data = prepare_data(df, REGRESS, _config())
    rich = fit_glm(_config(), data, REGRESS)
    plain = fit_glm(_config(spline_knots=0, interactions=False, alpha=1e-3), data, REGRESS)
    assert rich.best_valid_score > 0.9 > plain.best_valid_score
    assert rich.n_iter == 1 and rich.stopped_reason == "max_iter"


def test_a_glm_classifies_predicts_and_loads_back(tmp_path):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(300, 3))
    label = np.select([X[:, 0] ** 2 > 1.5, X[:, 1] > 0], ["far", "up"], "down")
    df = pd.DataFrame(X, columns=["a", "b", "c"]).assign(y=label)
    config = _config()
    data = prepare_data(df, CLASSIFY, config)
    result = fit_glm(config, data, CLASSIFY)
    assert result.best_valid_score > 0.8
    model = TrainedModel(CLASSIFY, config, data.preprocessor, result.model)
    proba = model.predict_proba(df.head(20))
    assert proba.shape == (20, 3) and np.allclose(proba.sum(axis=1), 1.0)
    again = TrainedModel.load(model.save(tmp_path / "glm"))
    assert np.allclose(again.predict_proba(df.head(20)), proba)
    assert set(again.predict(df.head(20))) <= {"far", "up", "down"}


def test_a_glm_refits_on_all_rows_as_one_fit():
    data = prepare_data(_curved(), REGRESS, _config())
    result = fit_glm(_config(), data, REGRESS)
    model = TrainedModel(REGRESS, _config(), data.preprocessor, result.model)
    again, report = refit.refit_chosen(model, {0: (model, result)}, data, REGRESS,
                                       deadline=float("inf"))
    assert report.refitted == [0] and again.model is not result.model


def test_the_search_space_samples_glms_and_enqueues_their_defaults():
    base = _config().model_copy(update={"model": ModelConfig(family="mlp"), "search": SearchConfig(
        space=SearchSpace(families=["mlp", "glm"]))})
    defaults = [c for c in portfolio(base, 200) if c.model.family == "glm"]
    assert len(defaults) == 1
    params = config_params(defaults[0], base.search.space)
    assert params == {"family": "glm", "glm_alpha": 1.0, "glm_knots": 4,
                      "glm_interactions": True}
    trial = optuna.trial.FixedTrial({**params, "glm_knots": 8, "glm_alpha": 10.0})
    config = sample_config(trial, base, 200)
    assert config.glm == GlmConfig(alpha=10.0, spline_knots=8, interactions=True)


def test_a_search_over_glms_keeps_them_as_candidates():
    base = _config().model_copy(update={"search": SearchConfig(
        max_trials=3, space=SearchSpace(families=["glm"]))})
    data = prepare_data(_curved(), REGRESS, base)
    result = tune(base, data, REGRESS, deadline=float("inf"), learned_portfolio=False)
    assert result.n_complete == 3
    assert all(isinstance(c, Candidate) and c.model.config.model.family == "glm"
               for c in result.candidates)


@pytest.mark.parametrize("family", ["glm"])
def test_glm_is_not_a_network(family):
    from mlpilot.engine.models import build_model

    with pytest.raises(ValueError, match="not a network"):
        build_model(ModelConfig(family=family), 3, 1)
