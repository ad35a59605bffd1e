"""The main job end to end, in process: plan, validate, train, tune, evaluate, approve, register."""

from __future__ import annotations

import json
from pathlib import Path

import mlflow
import pytest

from mlpilot.agent.runner import Runner
from mlpilot.agent.settings import Settings
from mlpilot.agent.state import TaskRequest
from mlpilot.agent.store import StoreError
from tests.conftest import dataset

pytestmark = pytest.mark.slow


def penguins(budget: float = 4.0, **fields) -> TaskRequest:
    return TaskRequest(request=f"predict the species of a penguin, at least 90% accuracy, {budget:g} seconds",
                       data=dataset("penguins.csv"), **fields)


def test_job_trains_tracks_and_registers_the_champion():
    settings = Settings()
    outcome = Runner(settings).start(penguins(8.0), auto_approve=True)

    result = outcome.result
    assert outcome.status == "succeeded"
    assert result["task"]["target"] == "species" and result["task"]["task_type"] == "multiclass"
    assert result["metrics"]["accuracy"] >= 0.9 > result["baseline_metrics"]["accuracy"]
    assert result["goal_met"] is True
    assert result["budget_used_s"] <= 8.0 * 1.05
    assert result["model"]["name"] == "penguins-species" and result["model"]["alias"] == "champion"
    saved = json.loads(Path(result["report_path"]).read_text())
    assert saved["metrics"] == result["metrics"] and saved["decisions"]
    assert "## Decisions" in Path(result["report_markdown_path"]).read_text()

    client = mlflow.MlflowClient(settings.tracking_uri, registry_uri=settings.tracking_uri)
    champion = client.get_model_version_by_alias("penguins-species", "champion")
    assert str(champion.version) == result["model"]["version"]
    runs = client.search_runs([client.get_experiment_by_name("mlpilot").experiment_id])
    assert len(runs) >= 3  # the job's run, the base run and search trials
    mlflow.set_tracking_uri(settings.tracking_uri)  # pyfunc loading reads the global URI
    try:
        model = mlflow.pyfunc.load_model("models:/penguins-species@champion")
    finally:
        mlflow.set_tracking_uri(None)
    rows = dataset_frame().drop(columns=["species"]).head(5)
    assert set(model.predict(rows)) <= {"Adelie", "Chinstrap", "Gentoo"}


def test_job_waits_for_approval_and_resumes_from_another_runner():
    first = Runner(Settings()).start(penguins(3.0))
    assert first.status == "waiting_approval"
    [pending] = first.pending
    assert pending.action == "register_champion"
    assert first.result["metrics"]["accuracy"] > first.result["baseline_metrics"]["accuracy"]
    assert first.result["model"] is None

    other = Runner(Settings())  # another process, as far as the queue can tell
    approval, resumed = other.decide(pending.id, True, by="alice", reason="looks good")
    assert approval.status == "approved" and approval.decided_by == "alice"
    assert resumed is not None and resumed.status == "succeeded"
    assert resumed.result["model"]["version"] == "1"
    assert resumed.result["approvals"][-1]["by"] == "alice"
    # the deployer recorded the registration: predictions follow it, a rollback can undo it
    deployment = other.store.deployment("penguins-species")
    assert deployment.champion == "1" and other.store.history("penguins-species")[0].action == (
        "register")
    with pytest.raises(StoreError, match="already approved"):
        other.decide(pending.id, False, by="bob", reason="too late")


def test_rejected_registration_finishes_without_a_model():
    first = Runner(Settings()).start(penguins(2.0))
    _, resumed = Runner(Settings()).decide(first.pending[0].id, False, by="carol", reason="not yet")
    assert resumed.status == "succeeded"
    assert resumed.result["model"] is None
    assert resumed.result["approvals"][-1]["status"] == "rejected"


def test_large_budget_waits_before_training_and_a_rejection_stops_the_job(monkeypatch):
    monkeypatch.setenv("MLPILOT_APPROVAL_BUDGET_S", "60")
    outcome = Runner(Settings()).start(penguins(600.0), auto_approve=False)
    assert outcome.status == "waiting_approval"
    assert outcome.pending[0].action == "train"
    assert "600" in outcome.pending[0].reason
    _, resumed = Runner(Settings()).decide(outcome.pending[0].id, False, by="dan", reason="too big")
    assert resumed.status == "rejected"
    assert resumed.result["mlflow_run_id"] is None  # nothing was trained


def dataset_frame():
    import pandas as pd

    return pd.read_csv(dataset("penguins.csv"))


def test_own_test_file_is_used_for_evaluation(tmp_path):
    frame = dataset_frame().dropna(subset=["species"]).sample(frac=1.0, random_state=0)
    train, test = frame.iloc[:260], frame.iloc[260:]
    train.to_csv(tmp_path / "train.csv", index=False)
    test.to_csv(tmp_path / "test.csv", index=False)
    request = TaskRequest(request="predict species, 3 seconds", data=tmp_path / "train.csv",
                          test_data=tmp_path / "test.csv")
    outcome = Runner(Settings()).start(request, auto_approve=True)
    evaluated = next(d for d in outcome.result["decisions"] if d["stage"] == "evaluate")
    assert f"on {len(test)} rows of the user's test file" in evaluated["why"]
    assert outcome.result["request"]["test_data"].endswith("test.csv")
