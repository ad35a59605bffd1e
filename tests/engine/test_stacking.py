"""Stacking on small data: a second layer on the cross-fit's out-of-fold scores, kept only
when it beats the best bag and the greedy ensemble, saved and loaded as one model."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from mlpilot.engine import crossfit, stacking
from mlpilot.engine.config import (
    GlmConfig,
    ModelConfig,
    PreprocessingConfig,
    TaskSpec,
    TrainingConfig,
)
from mlpilot.engine.glm import fit_glm
from mlpilot.engine.predictor import TrainedModel
from mlpilot.engine.preprocess import prepare_data
from mlpilot.engine.search import Candidate

TASK = TaskSpec(target="v", task_type="regression", metric="r2", budget_s=30)
LINEAR = TrainingConfig(model=ModelConfig(family="glm"),
                        preprocessing=PreprocessingConfig(categorical_encoding="embedding"),
                        glm=GlmConfig(spline_knots=0, interactions=False, alpha=1e-3))


def _frame(n: int = 400) -> pd.DataFrame:
    """An additive trend over eight columns (trees approximate it in coarse steps) plus a
    step in a ninth (a line misses it): each first-layer model misses what the other sees."""
    rng = np.random.default_rng(5)
    X = rng.uniform(-2, 2, (n, 9))
    v = X[:, :8].sum(axis=1) + 3 * (X[:, 8] > 0.5) + 0.1 * rng.normal(size=n)
    return pd.DataFrame(X, columns=[f"x{i}" for i in range(9)]).assign(v=v)


@pytest.fixture(scope="module")
def crossfitted():
    data = prepare_data(_frame(), TASK, LINEAR)
    result = fit_glm(LINEAR, data, TASK)
    model = TrainedModel(TASK, LINEAR, data.preprocessor, result.model)
    candidate = Candidate(0, result.best_valid_score, model, model.scores(data.X_valid), result)
    chosen = crossfit.cross_fit_chosen([candidate], LINEAR, data, TASK, deadline=math.inf)
    return data, chosen


def test_a_stack_that_beats_the_bags_and_their_ensemble_is_kept(crossfitted, tmp_path):
    data, chosen = crossfitted
    assert {b.entry.number for b in chosen.tried} == {0, -1}  # the line and the trees
    stacked = stacking.stack_bags(chosen, data, TASK, deadline=math.inf)
    assert stacked is not None
    assert stacked.score > chosen.score and stacked.score > chosen.best_single_score
    assert sorted(stacked.members) == [-1, 0]
    frame = _frame().drop(columns="v").head(50)
    predicted = stacked.model.predict(frame)
    assert predicted.shape == (50,) and np.isfinite(predicted).all()
    again = TrainedModel.load(stacked.model.save(tmp_path / "stack"))
    assert isinstance(again, stacking.StackModel)
    assert np.allclose(again.predict(frame), predicted)
    # on the test rows, too, it does better than the cross-fit's own choice
    y_test = data.preprocessor.decode_target(data.y_test)

    def r2(pred):
        return 1 - np.mean((y_test - pred) ** 2) / np.var(y_test)

    assert r2(stacked.model.scores(data.X_test)) > r2(chosen.model.scores(data.X_test))


def test_a_stack_that_does_not_beat_the_choice_is_dropped(crossfitted):
    data, chosen = crossfitted
    perfect = crossfit.CrossFitResult(**{**chosen.__dict__, "score": 1.0})
    assert stacking.stack_bags(perfect, data, TASK, deadline=math.inf) is None


def test_no_stack_is_tried_without_the_time_for_it(crossfitted):
    data, chosen = crossfitted
    assert stacking.stack_bags(chosen, data, TASK, deadline=0.0) is None
