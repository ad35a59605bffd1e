"""A real `mlpilot serve` killed (SIGKILL) in the middle of a job and started again: the job
goes on from its checkpoint. Driven with the Python client end to end: submit, wait with
progress, approve, predict."""

from __future__ import annotations

import json
import signal

import pandas as pd
import pytest

from mlpilot.interfaces.client import ApiError, Client
from tests.conftest import dataset
from tests.interfaces.api_fixtures import Server

pytestmark = pytest.mark.slow


@pytest.fixture
def server(_isolated, tmp_path):
    running = Server(_isolated, tmp_path / "server.log", workers=1)
    running.start()
    yield running
    running.stop()


def test_a_killed_server_resumes_the_job_and_the_client_sees_it_through(server):
    with Client(server.url, api_key="op-key") as operator, \
            Client(server.url, api_key="ap-key") as approver:
        # The time trained before the kill counts against the budget (it is spent), so
        # the budget leaves room to train after the restart too (an orphaned worker may
        # train on until its share is spent).
        job = operator.submit("predict the species of a penguin, 15 seconds",
                              data=dataset("penguins.csv"))
        run_id = job["run_id"]
        seen = []
        for event in operator.events(run_id):
            seen.append(event)
            if event.get("stage") == "train":
                break  # in the middle of the job: the train node has started
        server.kill(signal.SIGKILL)

        server.start()
        progress: list[dict] = []
        waiting = operator.wait(run_id, progress=progress.append, timeout=120)
        assert waiting["status"] == "waiting_approval", waiting
        restart = next(e for e in progress if "server restarted" in e["message"])
        assert restart["id"] > seen[-1]["id"]
        after = [e["stage"] for e in progress[progress.index(restart):]]
        assert "train" in after and "evaluate" in after  # the train node ran again, then on

        [pending] = approver.approvals(run_id=run_id)
        with pytest.raises(ApiError) as refused:
            operator.approve(pending["id"])
        assert refused.value.status == 403
        approver.approve(pending["id"], reason="fine")
        with pytest.raises(ApiError) as twice:
            approver.reject(pending["id"], reason="changed my mind")
        assert twice.value.status == 409 and "already approved by alice" in twice.value.detail

        done = operator.wait(run_id, timeout=120)
        assert done["status"] == "succeeded" and done["model"]["version"] == "1"
        assert done["metrics"]["balanced_accuracy"] > done["baseline_metrics"]["balanced_accuracy"]
        assert [j["status"] for j in operator.jobs()] == ["succeeded"]  # one job, none lost

        rows = pd.read_csv(dataset("penguins.csv")).drop(columns=["species"]).head(3)
        predicted = operator.predict("penguins-species", json.loads(rows.to_json(orient="records")))
        assert predicted["version"] == "1" and len(predicted["predictions"]) == 3
