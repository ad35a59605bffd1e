"""Real jobs through the REST API: the SSE progress stream, an approval that lets the job
go on in a worker, the registered champion's metrics and predictions, and a running job
cancelled at its next epoch."""

from __future__ import annotations

import json
import time

import pandas as pd
import pytest

from tests.conftest import dataset
from tests.interfaces.api_fixtures import APPROVER, OPERATOR, VIEWER, api_client

pytestmark = pytest.mark.slow


def stream(api, run_id: str, **params) -> list[tuple[str, dict]]:
    """The job's SSE stream until it ends, as (event name, data) pairs."""
    events, name = [], "message"
    with api.stream("GET", f"/jobs/{run_id}/events", params=params, headers=VIEWER) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        for line in response.iter_lines():
            if line.startswith("event:"):
                name = line.removeprefix("event:").strip()
            elif line.startswith("data:"):
                events.append((name, json.loads(line.removeprefix("data:"))))
    return events


def test_progress_stream_approval_champion_and_predictions():
    rows = pd.read_csv(dataset("penguins.csv")).drop(columns=["species"]).head(4)
    with api_client(workers=1) as api:
        submitted = api.post("/jobs", headers=OPERATOR, json={
            "request": "predict the species of a penguin, 3 seconds",
            "data": str(dataset("penguins.csv"))}).json()
        run_id = submitted["run_id"]

        first = stream(api, run_id, stop_at_approval="true")
        assert first[-1] == ("end", {"run_id": run_id, "status": "waiting_approval"})
        progress = [data for name, data in first if name == "progress"]
        stages = [e["stage"] for e in progress]
        for stage in ("planner", "config_generator", "validator", "train", "evaluate", "approval"):
            assert stage in stages, stages
        assert [e["id"] for e in progress] == sorted(e["id"] for e in progress)
        epochs = [e for e in progress if e.get("epoch")]
        assert epochs and epochs[0]["metric"] == "balanced_accuracy" and "valid_score" in epochs[0]
        assert all(0 <= e["eta_s"] <= 3 + 2 for e in progress if e["stage"] in ("train", "tune"))
        trials = [e for e in progress if e.get("trial") is not None]
        assert all(e["stage"] == "tune" for e in trials)

        [pending] = api.get("/approvals", headers=VIEWER).json()
        assert pending["job_id"] == run_id and pending["action"] == "register_champion"
        assert "champion" in pending["what"] and pending["config"]
        waiting = api.get(f"/jobs/{run_id}", headers=VIEWER).json()
        assert waiting["status"] == "waiting_approval" and waiting["model"] is None
        assert waiting["pending_approvals"][0]["id"] == pending["id"]

        api.post(f"/approvals/{pending['id']}/approve", headers=APPROVER, json={"reason": "ok"})
        rest = stream(api, run_id, after=progress[-1]["id"])
        assert rest[-1] == ("end", {"run_id": run_id, "status": "succeeded"})
        assert "deployer" in [data.get("stage") for _, data in rest]
        assert not any(d.get("message", "").startswith("waiting for approval") for _, d in rest)
        done = api.get(f"/jobs/{run_id}", headers=VIEWER).json()
        assert done["status"] == "succeeded" and done["model"]["version"] == "1"
        assert done["approvals"][-1]["by"] == "alice"

        [model] = api.get("/models", headers=VIEWER).json()
        assert model["name"] == "penguins-species" and model["champion"] == "1"
        [version] = api.get("/models/penguins-species/versions", headers=VIEWER).json()
        assert version["run_id"] == run_id and version["aliases"] == ["champion"]
        assert version["metrics"] == done["metrics"]
        assert api.get("/models/penguins-species/versions/1", headers=VIEWER).json() == version
        assert api.get("/models/nope/versions", headers=VIEWER).status_code == 404

        records = json.loads(rows.to_json(orient="records"))
        assert api.post("/models/penguins-species/predict", headers=VIEWER,
                        json={"rows": records}).status_code == 403
        predicted = api.post("/models/penguins-species/predict", headers=OPERATOR,
                             json={"rows": records})
        assert predicted.status_code == 200, predicted.text
        answer = predicted.json()
        assert answer["version"] == "1" and len(answer["predictions"]) == 4
        assert set(answer["predictions"]) <= set(answer["classes"]) == {"Adelie", "Chinstrap",
                                                                      "Gentoo"}
        assert all(abs(sum(p) - 1) < 1e-3 for p in answer["probabilities"])
        started = time.perf_counter()
        again = api.post("/models/penguins-species/predict", headers=OPERATOR,
                         json={"rows": records[:1]})
        assert again.json()["predictions"] == answer["predictions"][:1]
        assert time.perf_counter() - started < 1.0  # the loaded version is kept
        missing = api.post("/models/nope/predict", headers=OPERATOR, json={"rows": records})
        assert missing.status_code == 404 and "no version with alias 'champion'" in (
            missing.json()["detail"])

        # a running job is cancelled at its next epoch
        long_run = api.post("/jobs", headers=OPERATOR, json={
            "request": "predict the species of a penguin, 60 seconds", "auto_approve": True,
            "data": str(dataset("penguins.csv"))}).json()["run_id"]
        deadline = time.monotonic() + 60
        while not any(e.data.get("epoch") for e in api.app.state.jobs.events(long_run)):
            assert time.monotonic() < deadline
            time.sleep(0.05)
        asked = time.monotonic()
        assert api.post(f"/jobs/{long_run}/cancel", headers=OPERATOR).status_code == 200
        ended = stream(api, long_run)
        assert ended[-1] == ("end", {"run_id": long_run, "status": "cancelled"})
        assert time.monotonic() - asked < 5
        cancelled = api.get(f"/jobs/{long_run}", headers=VIEWER).json()
        assert cancelled["status"] == "cancelled" and cancelled["model"] is None
        assert cancelled["error"] == "cancelled on request"
