"""The deployment commands: deploy, predict a file with a progress bar, roll back, list,
monitor and propose, each ending in one clear line on a mistake."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from typer.testing import CliRunner

from mlpilot.agent.settings import Settings
from mlpilot.agent.store import Store
from mlpilot.agent.store.predictions import PredictionLog
from mlpilot.interfaces.cli import app
from tests.deploy_fixtures import NAME, fresh_server, register, table, train


@pytest.fixture(scope="module")
def registry(tmp_path_factory):
    """Two versions registered once for the module."""
    settings = Settings(data_dir=tmp_path_factory.mktemp("registry"))
    register(settings, [train(seed=0), train(seed=1, epochs=1)])
    return settings


@pytest.fixture
def cli(registry, monkeypatch):
    """The CLI on the test's own data directory and the module's registry (v1 champion)."""
    monkeypatch.setenv("MLPILOT_MLFLOW_TRACKING_URI", registry.tracking_uri)
    fresh_server(registry)
    runner = CliRunner()
    return lambda *args: runner.invoke(app, list(args))


def test_deploy_predict_and_roll_back(cli, tmp_path):
    deployed = cli("deploy", f"{NAME}@2", "--reason", "better", "--json")
    assert deployed.exit_code == 0, deployed.output
    assert json.loads(deployed.stdout[:deployed.stdout.rindex("}") + 1])["champion"] == "2"

    data, out = tmp_path / "new.csv", tmp_path / "predictions.csv"
    table(25, seed=4).drop(columns=["label"]).to_csv(data, index=False)
    scored = cli("predict", NAME, "--data", str(data), "--out", str(out))
    assert scored.exit_code == 0, scored.output
    assert "25 predictions (v2: 25) written" in scored.output
    written = pd.read_csv(out)
    assert len(written) == 25 and set(written["version"]) == {2}
    assert {"prediction", "prediction_id", "proba_short", "proba_tall"} <= set(written.columns)

    back = cli("rollback", NAME, "--reason", "alerts")
    assert back.exit_code == 0 and f"{NAME}: v2 -> v1" in back.output
    again = cli("rollback", NAME)
    assert again.exit_code == 1 and "no earlier champion" in again.output
    listed = cli("deployments", NAME, "--json")
    shown = json.loads(listed.stdout)
    assert shown["champion"] == "1" and [h["action"] for h in shown["history"]] == [
        "rollback", "deploy"]


def test_mistakes_end_in_one_line(cli, tmp_path):
    assert "no registered model 'nobody'" in cli("deploy", "nobody").output
    assert "has no version 7" in cli("deploy", f"{NAME}@7").output
    assert "--mode 'blue'" in cli("deploy", NAME, "--mode", "blue").output
    data = tmp_path / "bad.csv"
    table(3).drop(columns=["label", "city"]).to_csv(data, index=False)
    refused = cli("predict", NAME, "--data", str(data), "--out", str(tmp_path / "o.csv"))
    assert refused.exit_code == 1
    assert "column 'city': absent from the table" in refused.output
    proposal = cli("promote", NAME)
    assert proposal.exit_code == 1 and "has no challenger" in proposal.output


def test_monitor_prints_the_drift_table(cli, tmp_path):
    reference = tmp_path / "train.csv"
    table(300).to_csv(reference, index=False)
    data = tmp_path / "live.csv"
    table(250, seed=5, shift=25.0).drop(columns=["label"]).to_csv(data, index=False)
    assert cli("predict", NAME, "--data", str(data), "--out", str(tmp_path / "o.csv")).exit_code == 0
    shown = cli("monitor", NAME, "--reference", str(reference), "--no-propose", "--json")
    report = json.loads(shown.stdout)
    assert report["live_rows"] == 250 and "height" in report["drifted"]
    assert report["proposal"] is None
    table_text = cli("monitor", NAME, "--reference", str(reference)).output
    assert "height" in table_text and "psi" in table_text and "retrain proposed: ap-" in table_text


def test_monitor_shows_performance_drift_from_feedback(cli, tmp_path):
    settings = Settings()
    Store(settings.state_db).create_job({"request": "predict label", "target": "label"},
                                        job_id=f"run-{NAME}-1")  # the job that trained v1
    Store(settings.state_db).update_job(f"run-{NAME}-1", result={"metrics": {"accuracy": 0.9}})
    reference, data, out = tmp_path / "train.csv", tmp_path / "live.csv", tmp_path / "o.csv"
    table(300).to_csv(reference, index=False)
    table(80, seed=6).drop(columns=["label"]).to_csv(data, index=False)
    assert cli("predict", NAME, "--data", str(data), "--out", str(out)).exit_code == 0
    scored = pd.read_csv(out)
    wrong = {"tall": "short", "short": "tall"}
    PredictionLog(settings.prediction_db).add_feedback(
        {i: wrong[p] for i, p in zip(scored["prediction_id"], scored["prediction"], strict=True)})
    shown = cli("monitor", NAME, "--reference", str(reference), "--no-propose", "--json")
    [row] = [f for f in json.loads(shown.stdout)["features"] if f["kind"] == "performance"]
    assert row["column"] == "(performance)" and row["value"] == 1.0 and row["drifted"]
    table_text = cli("monitor", NAME, "--reference", str(reference), "--no-propose").output
    # too few live rows for the features, enough labelled ones for performance: the one "yes"
    assert "too few to judge feature drift" in table_text
    [flagged] = [line for line in table_text.splitlines() if "yes" in line]
    assert "(perfo" in flagged
