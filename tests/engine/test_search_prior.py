"""tune with prior trials (a warm start): past trials start the sampler, are never this
search's own trials, and leave out the portfolio's network defaults of the families they
cover."""

from __future__ import annotations

import time

import optuna
import pytest

from mlpilot.engine.config import SearchConfig, SearchSpace, TrainingConfig, TreeConfig
from mlpilot.engine.preprocess import prepare_data
from mlpilot.engine.prior import PRIOR_ATTR, PriorTrial
from mlpilot.engine.search import tune
from mlpilot.engine.space import config_params, fit_params, portfolio
from tests.engine.test_search import CLASSIFY, _classification_frame, _config

optuna.logging.set_verbosity(optuna.logging.WARNING)

SPACE = SearchSpace(width=[16, 32], families=["mlp", "resnet", "hist_gbt"])
TREES = {"family": "hist_gbt", "tree_learning_rate": 0.1, "tree_leaves": 31, "tree_min_leaf": 20,
         "tree_l2": 1e-3}
MLP = {"family": "mlp", "learning_rate": 1e-3, "weight_decay": 1e-5, "batch_size": 64,
       "depth": 2, "width": 32, "dropout": 0.1}
RESNET = {"family": "resnet", "learning_rate": 1e-3, "weight_decay": 1e-5, "batch_size": 64,
          "resnet_blocks": 2, "resnet_width": 32, "resnet_dropout": 0.1}


def _base(max_trials: int) -> TrainingConfig:
    return _config(search=SearchConfig(max_trials=max_trials, space=SPACE))


@pytest.fixture(scope="module")
def data():
    return prepare_data(_classification_frame(), CLASSIFY, _base(1))


def _priors(n: int = 12) -> list[PriorTrial]:
    """Past trials that say: trees win (0.97-0.99), networks lose (0.5)."""
    trees = [PriorTrial({**TREES, "tree_leaves": 16 + i}, 0.99 - i / 1000, "past-run")
             for i in range(n // 2)]
    nets = [PriorTrial({**(MLP if i % 2 else RESNET), "learning_rate": 1e-4 * (i + 1)}, 0.5,
                       "past-run") for i in range(n // 2)]
    return trees + nets


def test_prior_trials_start_the_sampler_but_are_not_this_searchs_trials(data):
    base = _base(max_trials=4)
    seen = []
    priors = _priors()
    result = tune(base, data, CLASSIFY, deadline=time.monotonic() + 30, enqueue=[base],
                  prior=priors, on_trial=seen.append)
    assert result.n_prior == len(priors)
    assert len(result.trials) == 4 == result.n_complete + result.n_pruned + result.n_failed
    assert seen == result.trials
    # the enqueued configs (tree default, base) keep numbers 0 and 1; the priors follow
    assert [t.number for t in result.trials[:2]] == [0, 1]
    assert [t.config for t in result.trials[:2]] == [*portfolio(base, 1000, {"resnet"}), base]
    own = {t.number for t in result.trials}
    assert own.isdisjoint(range(2, 2 + len(priors)))
    # no prior trial is the best (the priors' 0.99 was never scored on this data) ...
    assert result.best_trial_number in own
    assert result.best_score == max(t.value for t in result.trials if t.value is not None)
    assert {c.number for c in result.candidates} <= own  # ... nor an ensemble candidate
    # with the priors, TPE's model is active at once: it samples the family they favour
    sampled = result.trials[2:]
    assert sampled and all(t.params["family"] == "hist_gbt" for t in sampled)


def test_prior_trials_are_marked_and_added_once_per_study(data, tmp_path):
    base = _base(max_trials=1)
    storage = f"sqlite:///{tmp_path / 'optuna.db'}"
    counts = []
    for _ in range(3):  # a resumed search (after a fault fix) does not add them again
        result = tune(base, data, CLASSIFY, deadline=time.monotonic() + 20, storage=storage,
                      study_name="job", enqueue=[base], prior=_priors())
        counts.append(result.n_prior)
    # the first call ran only the tree default: the base still waited, and the sampler
    # needs no priors for enqueued configs
    assert counts == [0, len(_priors()), len(_priors())]
    study = optuna.load_study(study_name="job", storage=storage)
    marked = [t for t in study.trials if PRIOR_ATTR in t.user_attrs]
    assert len(marked) == len(_priors()) and {t.user_attrs[PRIOR_ATTR] for t in marked} == {
        "past-run"}
    assert all(t.state == optuna.trial.TrialState.COMPLETE for t in marked)
    assert len(study.trials) == len(marked) + 3
    # added after the enqueued configs ran, shifted so that the past best is level with
    # the best of the call that added them (the second: it ran the base, trial 1)
    first = [t for t in study.trials if t.number < 2]
    assert all(PRIOR_ATTR not in t.user_attrs for t in first)
    assert min(t.number for t in marked) == 2
    offset = study.trials[1].value - max(p.value for p in _priors())
    assert sorted(t.value for t in marked) == pytest.approx(
        sorted(p.value + offset for p in _priors()))


def test_the_portfolio_leaves_out_the_network_defaults_the_prior_trials_cover(data):
    base = _base(max_trials=3)
    defaults = portfolio(base, 1000)
    assert [c.model.family for c in defaults] == ["hist_gbt", "resnet"]  # cold: trees first
    # the tree default stays: it trains in about a second
    assert portfolio(base, 1000, known={"resnet", "hist_gbt"}) == defaults[:1]

    # the tree default is a quick family's: it comes before the given configs
    cold = tune(base, data, CLASSIFY, deadline=time.monotonic() + 30, enqueue=[base])
    assert [t.config for t in cold.trials] == [defaults[0], base, defaults[1]]
    warm = tune(base, data, CLASSIFY, deadline=time.monotonic() + 30, enqueue=[base],
                prior=_priors())
    assert [t.config for t in warm.trials[:2]] == [defaults[0], base]
    assert warm.trials[2].config not in defaults  # sampled, not the resnet default
    mlp_only = [p for p in _priors() if p.params["family"] == "mlp"]
    partly = tune(base, data, CLASSIFY, deadline=time.monotonic() + 30, enqueue=[base],
                  prior=mlp_only)
    assert [t.config for t in partly.trials] == [defaults[0], base, defaults[1]]


def test_past_parameters_fit_this_space_or_are_left_out():
    base = _base(max_trials=1)
    params, distributions = fit_params({**MLP, "learning_rate": 5.0, "depth": 9}, base, 1000)
    assert params["learning_rate"] == SPACE.learning_rate[1]  # clipped into this space
    assert params["depth"] == SPACE.depth[1]
    assert set(params) == set(distributions) == set(MLP)
    assert fit_params({**MLP, "width": 24}, base, 1000) is None  # a width this space lacks
    assert fit_params({**TREES, "family": "resnet"}, base, 1000) is None  # family not searched
    assert fit_params({"family": "mlp"}, base, 1000) is None  # parameters missing
    # a known config's parameters fit as they are
    trees = base.model_copy(update={"model": base.model.model_copy(update={"family": "hist_gbt"}),
                                    "trees": TreeConfig()})
    assert fit_params(config_params(trees, SPACE), base, 1000)[0] == config_params(trees, SPACE)


def test_prior_trials_outside_the_space_are_not_added(data):
    base = _base(max_trials=2)  # the base and the tree default
    outside = [PriorTrial({**TREES, "family": "ft_transformer"}, 0.9, "other-run"),
               PriorTrial(TREES, float("nan"), "other-run")]
    result = tune(base, data, CLASSIFY, deadline=time.monotonic() + 20, enqueue=[base],
                  prior=[*outside, *_priors(2)])
    assert result.n_prior == 2
