"""The CLI end to end: a job waits for approval, the process exits, and a new process
approves it and the job completes; YAML jobs; plan; runs list/show."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from typer.testing import CliRunner

from mlpilot.interfaces.cli import app
from tests.conftest import dataset

pytestmark = pytest.mark.slow


def mlpilot(*args: str, data_dir) -> subprocess.CompletedProcess:
    env = {**os.environ, "MLPILOT_DATA_DIR": str(data_dir)}
    return subprocess.run([sys.executable, "-m", "mlpilot.interfaces.cli", *args],
                          check=False, capture_output=True, text=True, env=env,
                          timeout=300)


def test_waiting_job_survives_the_process_and_completes_after_approval_in_a_new_one(_isolated):
    first = mlpilot("run", "predict the species of a penguin, 3 seconds", "--data",
                    str(dataset("penguins.csv")), "--json", data_dir=_isolated)
    assert first.returncode == 3, first.stderr
    waiting = json.loads(first.stdout)
    assert waiting["status"] == "waiting_approval" and waiting["model"] is None
    [pending] = waiting["pending_approvals"]
    assert pending["action"] == "register_champion"

    # The process that ran the job has exited: the commands below run in this one (in
    # process, as `test_yaml_job_runs...` does; a fresh interpreter per command would only
    # import the same modules again), on the same data directory.
    cli = CliRunner()
    listed = cli.invoke(app, ["approvals", "list", "--json"])
    assert [a["id"] for a in json.loads(listed.stdout)] == [pending["id"]]

    approved = cli.invoke(app, ["approvals", "approve", pending["id"], "--by", "alice", "--json"])
    assert approved.exit_code == 0, approved.stderr
    done = json.loads(approved.stdout)
    assert done["status"] == "succeeded" and done["run_id"] == waiting["run_id"]
    assert done["model"] == {"name": "penguins-species", "version": "1", "alias": "champion",
                             "uri": "models:/penguins-species@champion"}
    assert done["approvals"][-1]["by"] == "alice"

    shown = cli.invoke(app, ["runs", "show", waiting["run_id"], "--json"])
    assert json.loads(shown.stdout)["status"] == "succeeded"
    again = cli.invoke(app, ["approvals", "approve", pending["id"]])
    assert again.exit_code == 1 and "already approved" in again.stderr


def test_yaml_job_runs_and_plan_prints_the_task_and_config(tmp_path):
    cli = CliRunner()
    data = tmp_path / "penguins.csv"
    data.write_bytes(dataset("penguins.csv").read_bytes())
    job = tmp_path / "job.yaml"
    job.write_text("request: predict the species of a penguin\ndata: penguins.csv\n"
                   "budget: 3s\nmetric: balanced_accuracy\ntraining:\n  max_epochs: 50\n")

    planned = cli.invoke(app, ["plan", "--config", str(job), "--json"])
    assert planned.exit_code == 0, planned.stderr
    plan = json.loads(planned.stdout)
    assert plan["status"] == "planned" and plan["run_id"] is None
    assert plan["task"] == {"target": "species", "task_type": "multiclass",
                            "metric": "balanced_accuracy", "goal": None, "budget_s": 3.0,
                            "drop_columns": []}
    assert plan["config"]["max_epochs"] == 50
    assert json.loads(cli.invoke(app, ["runs", "list", "--json"]).stdout) == []  # plan trains nothing

    ran = cli.invoke(app, ["run", "--config", str(job), "--yes", "--json"])
    assert ran.exit_code == 0, ran.stderr
    doc = json.loads(ran.stdout)
    assert doc["status"] == "succeeded" and doc["metrics"]["balanced_accuracy"] > 0.5
    for key in ("task", "config", "findings", "metrics", "budget_used_s", "run_id", "model",
                "report_path"):
        assert key in doc
    runs = json.loads(cli.invoke(app, ["runs", "list", "--json"]).stdout)
    assert [r["run_id"] for r in runs] == [doc["run_id"]] and runs[0]["status"] == "succeeded"


def test_approvals_list_shows_feature_code_waiting_for_approval_whole():
    from mlpilot.agent.settings import Settings
    from mlpilot.agent.store import Store

    store = Store(Settings().state_db)
    job = store.create_job({"request": "predict late", "data": "tickets.csv"})
    code = "def transform(df):\n    return df.assign(h=df[['opened']].count(axis=1))\n"
    store.request_approval(job.id, "interrupt-1", "serve_feature_code", "code at every prediction",
                           {"steps": [{"name": "counts", "origin": "llm", "evidence": "gain",
                                       "code": code}]})
    listed = CliRunner().invoke(app, ["approvals", "list"]).stdout
    assert "counts (llm)" in listed and code.strip() in listed  # brackets and all
