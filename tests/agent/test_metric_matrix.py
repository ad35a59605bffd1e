"""Every metric of the contract, end to end, over every way users code their labels.

Each case runs a tiny job from request to report (planner, validator chain, training,
search, evaluation, registration) and then predicts with the registered champion through
the serving code the REST API uses. A job computes every metric that fits its task for
the model and the baseline, so each case checks all of them; the job's own metric (what
it optimises, compares with the baseline and the goal) rotates over the codings so that
each (task type, metric) pair drives at least one job.

A model that does not beat the trivial baseline is never registered: the last tests
give the job a test file where the training rows' pattern is reversed, so the model
is worse than the baseline by construction.
"""

from __future__ import annotations

import math
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest

from mlpilot.agent.runner import Runner
from mlpilot.agent.settings import Settings
from mlpilot.agent.state import TaskRequest
from mlpilot.engine.config import (
    CLASSIFICATION_METRICS,
    LOWER_IS_BETTER,
    REGRESSION_METRICS,
)
from mlpilot.interfaces.routes.models import Registry

pytestmark = pytest.mark.slow

#: The smallest job: a 2 s budget and a few epochs per network.
BUDGET_S = 2.0
TRAINING = {"max_epochs": 8}
ROWS = 160


def _features(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame({"a": rng.normal(size=n), "b": rng.normal(size=n),
                         "colour": rng.choice(["red", "green", "blue"], size=n)})


# Labels depend on both numeric columns, so that neither alone looks like a leak to the
# critic (which would drop it).


def _binary(labels: tuple, n: int = ROWS, seed: int = 0, flip: bool = False) -> pd.DataFrame:
    """Two classes decided by `a + b` (reversed with `flip`), coded as `labels`."""
    df = _features(n, seed)
    positive = (df["a"] + df["b"] > 0) != flip
    return df.assign(y=np.where(positive, labels[1], labels[0]).tolist())


def _binary_rare(labels: tuple, n: int = ROWS, seed: int = 5) -> pd.DataFrame:
    """Two classes, the positive one (the second sorted label) about a quarter of the rows:
    precision and recall are about the positive class, and the majority baseline finds none."""
    df = _features(n, seed)
    positive = df["a"] + df["b"] > 0.9
    return df.assign(y=np.where(positive, labels[1], labels[0]).tolist())


def _multiclass(k: int, labels=None, n: int = ROWS) -> pd.DataFrame:
    """`k` classes: the rank bucket of `a + b`, coded as `labels` (default 0..k-1)."""
    df = _features(n, 1)
    rank = (df["a"] + df["b"]).rank(method="first").to_numpy() - 1
    bucket = np.minimum(rank * k // n, k - 1)
    labels = list(range(k)) if labels is None else labels
    return df.assign(y=[labels[int(i)] for i in bucket])


def _regression(n: int = ROWS, seed: int = 2, flip: bool = False) -> pd.DataFrame:
    df = _features(n, seed)
    sign = -1.0 if flip else 1.0
    # noise: an exact identity of the features would be a leak, and the critic drops it
    noise = 0.3 * np.random.default_rng(seed + 100).normal(size=n)
    return df.assign(y=sign * (3.0 * df["a"] - df["b"]) + 10.0 + noise)


def _with_missing_target(df: pd.DataFrame, every: int = 15) -> pd.DataFrame:
    """Blank the target on every `every`-th row (a CSV cell left empty)."""
    df = df.copy()
    df["y"] = df["y"].astype(object)
    df.loc[df.index % every == 0, "y"] = None
    return df


# coding name -> (task type, data maker, the labels a prediction may decode to, their type)
CODINGS = {
    "strings": ("binary", lambda: _binary(("no", "yes")), {"no", "yes"}, str),
    "booleans": ("binary", lambda: _binary((False, True)), {False, True}, bool),
    "zero_one": ("binary", lambda: _binary((0, 1)), {0, 1}, int),
    "one_two": ("binary", lambda: _binary((1, 2)), {1, 2}, int),
    "floats_nan": ("binary", lambda: _with_missing_target(_binary((1.0, 2.0))), {1, 2}, int),
    "rare_yes": ("binary", lambda: _binary_rare(("no", "yes")), {"no", "yes"}, str),
    "rare_one": ("binary", lambda: _binary_rare((0, 1)), {0, 1}, int),
    "strings3": ("multiclass", lambda: _multiclass(3, ["low", "mid", "high"]),
                 {"low", "mid", "high"}, str),
    "one_to_four": ("multiclass", lambda: _multiclass(4, [1, 2, 3, 4]), {1, 2, 3, 4}, int),
    "zero_to_25": ("multiclass", lambda: _multiclass(26, n=26 * 12), set(range(26)), int),
    "values": ("regression", _regression, None, float),
    "values_nan": ("regression", lambda: _with_missing_target(_regression()), None, float),
}

# (coding, the job's metric, goal): every classification metric on each task type,
# every regression metric, each coding at least once
CASES = [
    ("strings", "roc_auc", 0.6),
    ("booleans", "f1", None),
    ("booleans", "roc_auc", None),
    ("zero_one", "balanced_accuracy", 0.6),
    ("one_two", "accuracy", None),
    ("one_two", "roc_auc", 0.99999),
    ("floats_nan", "f1", 0.5),
    ("strings3", "accuracy", 0.5),
    ("strings3", "roc_auc", None),
    ("one_to_four", "balanced_accuracy", None),
    ("zero_to_25", "f1", None),
    ("rare_yes", "precision", None),
    ("rare_one", "recall", 0.5),
    ("strings3", "precision", 0.5),
    ("one_to_four", "recall", None),
    ("values", "r2", 0.5),
    ("values", "mae", 100.0),
    ("values_nan", "rmse", None),
]


@pytest.fixture(scope="module")
def settings(tmp_path_factory) -> Settings:
    """One installation for the module: MLflow's store is made once, not once per case."""
    return Settings(data_dir=tmp_path_factory.mktemp("installation"))


@pytest.fixture(scope="module")
def data_files(tmp_path_factory) -> dict[str, Path]:
    """One CSV per coding, shared by the cases that use it."""
    folder = tmp_path_factory.mktemp("codings")
    files = {}
    for name, (_, make, _, _) in CODINGS.items():
        files[name] = folder / f"{name}.csv"
        make().to_csv(files[name], index=False)
    return files


def _run(settings: Settings, request: TaskRequest) -> dict:
    outcome = Runner(settings).start(request, auto_approve=True)
    assert outcome.result["status"] == outcome.status
    return outcome.result


def _goal_met(metric: str, value: float, goal: float | None) -> bool | None:
    if goal is None:
        return None
    return value <= goal if metric in LOWER_IS_BETTER else value >= goal


@pytest.mark.parametrize(("coding", "metric", "goal"), CASES,
                         ids=[f"{c}-{m}" for c, m, _ in CASES])
def test_metric_end_to_end(settings, data_files, coding, metric, goal):
    task_type, _, labels, label_type = CODINGS[coding]
    request = TaskRequest(data=data_files[coding], target="y", task_type=task_type,
                          metric=metric, goal=goal, budget_s=BUDGET_S, training=TRAINING,
                          model_name=f"m-{coding}-{metric}")
    result = _run(settings, request)

    assert result["status"] == "succeeded", result.get("question") or result.get("error")
    assert result["task"]["metric"] == metric and result["task"]["task_type"] == task_type
    expected = CLASSIFICATION_METRICS if task_type != "regression" else REGRESSION_METRICS
    assert set(result["metrics"]) == set(expected) == set(result["baseline_metrics"])
    value, base = result["metrics"][metric], result["baseline_metrics"][metric]
    assert math.isfinite(value) and math.isfinite(base)
    if metric == "roc_auc":
        assert base == pytest.approx(0.5)  # the class priors rank no row above another
    assert (value < base) if metric in LOWER_IS_BETTER else (value > base)
    assert result["goal_met"] == _goal_met(metric, value, goal)
    if coding.endswith("_nan"):
        assert any("missing target" in d["decision"] for d in result["decisions"])

    assert result["model"] is not None
    server = Registry(settings).server  # what POST /models/{name}/predict uses
    rows = pd.read_csv(data_files[coding]).drop(columns=["y"]).head(20)
    made = server.predict(result["model"]["name"], rows.to_dict("records"))
    assert len(made.predictions) == 20
    assert all(type(p) is label_type for p in made.predictions), made.predictions[:5]
    if labels is not None:
        assert set(made.predictions) <= labels
        assert set(made.classes) == labels and len(made.probabilities[0]) == len(labels)
    else:
        assert made.probabilities is None


REVERSED = {
    # the test file's rows follow the opposite rule: the model does worse than the baseline
    "roc_auc": ("binary", lambda flip: _binary(("no", "yes"), seed=3 if flip else 0,
                                                flip=flip)),
    "rmse": ("regression", lambda flip: _regression(seed=4 if flip else 2, flip=flip)),
}


@pytest.mark.parametrize("metric", sorted(REVERSED))
def test_a_model_no_better_than_the_baseline_is_never_registered(settings, tmp_path, metric):
    task_type, make = REVERSED[metric]
    train, test = tmp_path / "train.csv", tmp_path / "test.csv"
    make(False).to_csv(train, index=False)
    make(True).head(60).to_csv(test, index=False)
    result = _run(settings, TaskRequest(
        data=train, test_data=test, target="y", task_type=task_type, metric=metric,
        budget_s=BUDGET_S, training=TRAINING, model_name=f"loser-{metric}"))

    assert result["status"] == "needs_input"
    value, base = result["metrics"][metric], result["baseline_metrics"][metric]
    assert (value >= base) if metric in LOWER_IS_BETTER else (value <= base)
    assert "baseline" in result["question"] and "not registered" in result["question"]
    [finding] = [f for f in result["findings"] if f["check_id"] == "beats_baseline"]
    assert finding["field"] == f"metrics.{metric}" and finding["severity"] == "error"
    assert any(d["stage"] == "evaluate" and "not registered" in d["decision"]
               for d in result["decisions"])
    assert result["model"] is None
    assert not any(a["action"] == "register_champion" for a in result["approvals"])
    assert "baseline" in Path(result["report_markdown_path"]).read_text()
    client = mlflow.MlflowClient(settings.tracking_uri, registry_uri=settings.tracking_uri)
    assert client.search_model_versions(f"name='loser-{metric}'") == []
