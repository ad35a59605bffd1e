"""A model saved with feature transforms applies them, in the sandbox, to the raw rows it
predicts on; its code is pinned by hash; its input schema is the raw columns."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mlpilot.engine.config import TaskSpec, TrainingConfig, TreeConfig
from mlpilot.engine.features import FeaturedModel, FeatureError, FeaturePipeline, FeatureStep
from mlpilot.engine.input_schema import InputColumn, input_columns
from mlpilot.engine.predictor import TrainedModel
from mlpilot.engine.preprocess import prepare_data
from mlpilot.engine.trees import fit_trees
from mlpilot.sandbox import audit
from tests.sandbox.conftest import needs_bwrap

pytestmark = needs_bwrap

#: The label is whether a note is long: the engine drops free text, so only the
#: transform's word count carries it.
WORDS = '''
import pandas as pd

def transform(df):
    out = df.copy()
    out["note__words"] = df["note"].astype("string").str.split().str.len().astype(float)
    return out
'''
#: A fitted step: the mean of x seen in training, subtracted at transform time (written
#: as a model might, using pd without importing it: the programs provide pd and np).
CENTRE = '''
def fit(df):
    return pd.DataFrame({"mean": [float(df["x"].mean())]})

def transform(df, state):
    out = df.copy()
    out["x__centred"] = df["x"] - state["mean"].iloc[0]
    return out
'''


def frame(n: int = 120, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    words = rng.integers(1, 12, n)
    return pd.DataFrame({"note": [" ".join(f"w{i}" for i in range(k)) + f" #{j}"
                                  for j, k in enumerate(words)],
                         "x": rng.normal(size=n), "long": (words > 6).astype(int)})


def test_a_featured_model_applies_its_transforms_in_the_sandbox(tmp_path, monkeypatch):
    monkeypatch.setenv("MLPILOT_DATA_DIR", str(tmp_path))
    df = frame()
    pipeline = FeaturePipeline([FeatureStep("words", WORDS.lstrip(), reads=["note"]),
                                FeatureStep("centre", CENTRE.lstrip(), reads=["x"], fits=True)],
                               [InputColumn("note", "categorical", False)])
    fitted = pipeline.fit(df.iloc[:80])  # training rows only
    assert fitted.steps[1].state["mean"].iloc[0] == pytest.approx(df["x"].iloc[:80].mean())
    featured = fitted.apply(df)
    assert fitted.adds == ["note__words", "x__centred"]
    task = TaskSpec(target="long", task_type="binary", metric="accuracy", budget_s=10)
    config = TrainingConfig(trees=TreeConfig(max_iter=30))
    data = prepare_data(featured, task, config)
    inner = TrainedModel(task, config, data.preprocessor, fit_trees(config, data, task).model)
    inner.save(tmp_path / "m" / "model")
    from mlpilot.engine.features import attach_features

    attach_features(tmp_path / "m", fitted)

    loaded = TrainedModel.load(tmp_path / "m")
    assert isinstance(loaded, FeaturedModel)
    raw = df.drop(columns="long").tail(20)
    predicted = loaded.predict(raw)
    np.testing.assert_array_equal(predicted, inner.predict(featured.tail(20)))
    assert (predicted == df["long"].tail(20)).mean() >= 0.9
    serving = [r for r in audit.records(audit.default_audit_path())
               if r["purpose"] == "feature serving"]
    assert len(serving) == 1 and serving[0]["outcome"] == "ok"  # one run for both steps
    # what a prediction must send: the raw columns, never the ones the transforms add
    names = [c.name for c in input_columns(loaded)]
    assert "note" in names and "x" in names and "note__words" not in names
    # saved again (as the registry does), it is the same model
    again = TrainedModel.load(loaded.save(tmp_path / "copy"))
    np.testing.assert_array_equal(again.predict(raw), loaded.predict(raw))


def test_code_changed_after_approval_is_refused(tmp_path):
    pipeline = FeaturePipeline([FeatureStep("words", WORDS.lstrip(), reads=["note"])])
    pipeline.save(tmp_path)
    (tmp_path / "steps" / "0.py").write_text(WORDS + "\nimport os\n")
    with pytest.raises(FeatureError, match="changed since it was approved"):
        FeaturePipeline.load(tmp_path)


def test_a_failing_transform_is_one_clear_error():
    broken = FeatureStep("broken", "def transform(df):\n    return df['nope']\n", reads=["x"])
    with pytest.raises(FeatureError, match="feature transform failed: KeyError"):
        FeaturePipeline([broken]).apply(frame(10))
