"""The portfolio learned across datasets: the shipped file loads, its configs are the
search's first trials after the quick families' defaults (before the configs a warm start
hands it), and the search still ends by its deadline."""

from __future__ import annotations

import json
import time

import numpy as np
import optuna
import pandas as pd
import pytest

from mlpilot.engine import portfolio, space
from mlpilot.engine.config import (
    ModelConfig,
    PreprocessingConfig,
    SearchConfig,
    SearchSpace,
    TaskSpec,
    TrainingConfig,
)
from mlpilot.engine.preprocess import prepare_data
from mlpilot.engine.search import QUICK_FAMILIES, tune

optuna.logging.set_verbosity(optuna.logging.WARNING)

TASK = TaskSpec(target="y", task_type="binary", metric="roc_auc", budget_s=30)
TREE_FAMILIES = ["hist_gbt", "lightgbm", "xgboost", "catboost", "extra_trees", "glm"]


def _base(families: list[str], max_trials: int = 50) -> TrainingConfig:
    return TrainingConfig(
        model=ModelConfig(family="mlp", hidden_sizes=[16]), max_epochs=3, batch_size=32,
        preprocessing=PreprocessingConfig(categorical_encoding="embedding"),
        search=SearchConfig(max_trials=max_trials,
                            space=SearchSpace(families=["mlp", *families], width=[16])))


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(160, 3))
    df = pd.DataFrame(X, columns=["a", "b", "c"])
    df["y"] = np.where(X[:, 0] + X[:, 1] ** 2 + 0.3 * rng.normal(size=160) > 0.8, "yes", "no")
    return prepare_data(df, TASK, _base(TREE_FAMILIES))


def test_the_shipped_portfolio_loads_with_how_it_was_built():
    document = portfolio.load()
    assert set(document["portfolios"]) == {"binary", "multiclass", "regression"}
    assert all(1 <= len(entries) <= 8 for entries in document["portfolios"].values())
    built = document["built"]
    assert "benchmarks/portfolio.py build" in built["command"] and built["held_out"]
    for task_type in document["portfolios"]:
        configs = portfolio.learned_configs(_base(TREE_FAMILIES), task_type, 500)
        assert len(configs) == len(document["portfolios"][task_type])  # every entry fits
        assert {c.model.family for c in configs} <= set(TREE_FAMILIES)


def test_entries_of_families_the_search_does_not_explore_are_left_out():
    wanted = [p["family"] for p in portfolio.load()["portfolios"]["binary"]]
    only = wanted[0]
    configs = portfolio.learned_configs(_base([only]), "binary", 500)
    assert [c.model.family for c in configs] == [f for f in wanted if f == only]
    assert portfolio.learned_configs(_base([]), "binary", 500) == []


def _quick(base: TrainingConfig, n_train: int) -> list[TrainingConfig]:
    return [c for c in space.portfolio(base, n_train) if c.model.family in QUICK_FAMILIES]


def test_the_quick_defaults_then_the_portfolio_are_tried_first_then_the_given_configs(data):
    n_learned = len(portfolio.load()["portfolios"]["binary"])
    base = _base(TREE_FAMILIES, max_trials=len(QUICK_FAMILIES) + n_learned + 1)
    quick = _quick(base, len(data.y_train))
    assert [c.model.family for c in quick] == list(QUICK_FAMILIES)
    learned = portfolio.learned_configs(base, "binary", len(data.y_train))
    warm = base.model_copy(update={"model": ModelConfig(family="mlp", hidden_sizes=[8])})
    result = tune(base, data, TASK, deadline=time.monotonic() + 600, enqueue=[warm])
    configs = [t.config for t in result.trials]
    assert configs[:len(quick)] == quick
    assert configs[len(quick):len(quick) + len(learned)] == learned
    assert configs[len(quick) + len(learned)] == warm  # a warm start's config follows them
    shorter = base.model_copy(update={"search": base.search.model_copy(
        update={"max_trials": len(quick) + 1})})
    without = tune(shorter, data, TASK, deadline=time.monotonic() + 600, enqueue=[warm],
                   learned_portfolio=False)
    assert [t.config for t in without.trials] == [*_quick(shorter, len(data.y_train)), warm]


def test_the_family_defaults_the_portfolio_covers_are_not_tried_again(data):
    n_train = len(data.y_train)
    n_learned = len(portfolio.load()["portfolios"]["binary"])
    covered = {p["family"] for p in portfolio.load()["portfolios"]["binary"]}
    others = set(TREE_FAMILIES) - covered - set(QUICK_FAMILIES)
    base = _base(TREE_FAMILIES, max_trials=len(QUICK_FAMILIES) + n_learned + len(others))
    learned = portfolio.learned_configs(base, "binary", n_train)
    defaults = space.portfolio(base, n_train, covered=covered | set(QUICK_FAMILIES))
    assert not any(c.model.family in covered for c in defaults)
    assert len(defaults) == len(others)
    result = tune(base, data, TASK, deadline=time.monotonic() + 600)
    # the quick defaults run even where the portfolio covers their family: a second each
    assert [t.config for t in result.trials] == [*_quick(base, n_train), *learned, *defaults]


def test_the_search_with_a_portfolio_still_ends_by_its_deadline(data):
    base = _base(TREE_FAMILIES, max_trials=10_000)
    started = time.monotonic()
    result = tune(base, data, TASK, deadline=started + 3.0)
    # generous: a loaded machine; the point is that it ends, not how close it comes
    assert time.monotonic() - started < 3.0 + 10.0
    assert result.n_complete >= 1


def test_an_unreadable_portfolio_names_the_file_and_the_fix(tmp_path):
    bad = tmp_path / "portfolio.json"
    bad.write_text(json.dumps({"portfolios": {"binary": "lightgbm"}}))
    with pytest.raises(ValueError, match="rebuild it with"):
        portfolio.load(bad)
    with pytest.raises(ValueError, match=str(tmp_path / "missing.json")):
        portfolio.load(tmp_path / "missing.json")
