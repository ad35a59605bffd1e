"""Every submission is checked before a job exists: numbers out of range, goals the metric
cannot reach, unknown training settings, no feature left or a name the registry refuses
are a 422 problem naming the field (never a 500, never a job that fails later); a retry
with the same Idempotency-Key gets the same job; bad paging and Slack input are 4xx."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
import uuid
from urllib.parse import quote

import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from mlpilot.agent.settings import Settings
from mlpilot.agent.store import Store
from mlpilot.interfaces.api import create_app
from mlpilot.interfaces.cli import app as cli_app
from mlpilot.interfaces.slack_messages import REJECT_VIEW
from tests.conftest import dataset
from tests.interfaces.api_fixtures import APPROVER, KEYS, OPERATOR, VIEWER

PENGUINS = str(dataset("penguins.csv"))
FEATURES = ["island", "bill_length_mm", "bill_depth_mm", "flipper_length_mm", "body_mass_g", "sex"]


def nested(levels: int) -> dict:
    value: dict = {}
    for _ in range(levels):
        value = {"x": value}
    return value


@pytest.fixture
def api(tmp_path):
    settings = Settings(api_keys=KEYS, worker_mode="thread", data_dir=tmp_path / "state",
                        hard_budget_s=3600)
    # No workers: a job that got through stays queued, where the test can count it.
    return TestClient(create_app(settings, workers=0), raise_server_exceptions=False)


def jobs_made(api: TestClient) -> int:
    return Store(api.app.state.settings.state_db).count()


def refused(response, field: str) -> dict:
    assert response.status_code == 422, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body = response.json()
    assert field in body["detail"].split(":")[0], body["detail"]  # the field comes first
    assert len(body["detail"].splitlines()) == 1
    return body


@pytest.mark.parametrize("fields, field, words", [
    ({"budget": 1e12}, "budget_s", "less than or equal"),
    ({"budget": "inf"}, "budget", "finite"),
    ({"budget": 7200}, "budget_s", "limit of 3600"),
    ({"request": "predict species within 30 days"}, "budget_s", "less than or equal"),
    ({"seed": 10**23}, "seed", "4294967295"),
    ({"seed": -1}, "seed", "greater than or equal"),
    ({"goal": 5.0}, "goal", "fraction, e.g. 0.05"),
    ({"goal": -1.0, "metric": "accuracy"}, "goal", "at least 0"),
    ({"training": nested(400)}, "training", "nested more than"),
    ({"training": {"model": "x"}}, "training.model", "valid dictionary"),
    ({"training": {"optimiser": {"learning_rate": 0.1}}}, "training.optimiser",
     "not a TrainingConfig setting"),
    ({"training": {"optimizer": {"learning_rate": -1}}}, "training.optimizer.learning_rate",
     "greater than 0"),
    ({"training": {"seed": 2**40}}, "training.seed", "less than or equal"),
    ({"drop_columns": FEATURES}, "drop_columns", "no feature is left"),
    ({"model_name": "team/penguins:v1"}, "model_name", "cannot contain '/' ':'"),
    ({"model_name": ".."}, "model_name", "path"),
    ({"model_name": "a@b"}, "model_name", "'@'"),
], ids=["budget-1e12", "budget-inf", "budget-over-cap", "budget-in-words", "seed-huge",
        "seed-negative", "goal-5", "goal-negative", "training-deep", "training-model-x",
        "training-unknown", "training-out-of-range", "training-seed", "drop-all", "name-slash",
        "name-dots", "name-at"])
def test_a_bad_submission_is_refused_before_a_job_exists(api, fields, field, words):
    body = {"request": "predict species", "data": PENGUINS, **fields}
    problem = refused(api.post("/jobs", headers=OPERATOR, json=body), field)
    assert words in problem["detail"]
    assert jobs_made(api) == 0


@pytest.mark.parametrize("raw, field", [
    ('"budget": 1e400', "budget"), ('"goal": 1e400', "goal"),
    ('"training": {"optimizer": {"learning_rate": 1e400}}', "training"),
], ids=["budget", "goal", "training"])
def test_a_number_json_reads_as_infinity_is_refused(api, raw, field):
    content = "{" + f'"request": "predict species", "data": {json.dumps(PENGUINS)}, {raw}' + "}"
    response = api.post("/jobs", content=content,
                        headers={**OPERATOR, "Content-Type": "application/json"})
    refused(response, field)
    assert "finite" in response.json()["detail"]
    assert jobs_made(api) == 0


def test_a_regression_goal_must_fit_its_metric(api, tmp_path):
    rng = np.random.default_rng(0)
    x = rng.normal(size=200)
    path = tmp_path / "prices.csv"
    pd.DataFrame({"size": x, "price": 3 * x + rng.normal(size=200)}).to_csv(path, index=False)
    for metric, goal, words in (("rmse", -1.0, "at least 0"), ("r2", 1.5, "at most 1")):
        body = {"request": "predict price", "data": str(path), "metric": metric, "goal": goal}
        assert words in refused(api.post("/jobs", headers=OPERATOR, json=body), "goal")["detail"]
    # R² below zero is a (poor) reachable score, not an error.
    body = {"request": "predict price", "data": str(path), "metric": "r2", "goal": -0.5}
    assert api.post("/jobs", headers=OPERATOR, json=body).status_code == 202


def test_a_yaml_config_and_an_upload_are_checked_the_same_way(api):
    config = f"request: predict species\ndata: {PENGUINS}\ntraining:\n  model: x\n"
    refused(api.post("/jobs", headers=OPERATOR, json={"config": config}), "training.model")
    deep = f"data: {PENGUINS}\ntraining: " + "[" * 20_000 + "]" * 20_000
    assert "nested too deeply" in refused(api.post("/jobs", headers=OPERATOR,
                                                   json={"config": deep}), "config")["detail"]
    with open(PENGUINS, "rb") as fh:
        data = fh.read()
    for form, field in (({"budget": "1e400"}, "budget"), ({"goal": "5"}, "goal"),
                        ({"model_name": "a/b"}, "model_name")):
        response = api.post("/jobs/upload", headers=OPERATOR, files={"file": ("p.csv", data)},
                            data={"request": "predict species", **form})
        refused(response, field)
    assert jobs_made(api) == 0
    uploads = api.app.state.settings.data_dir / "uploads"
    assert not uploads.exists() or not any(uploads.iterdir())  # refused uploads are not kept


def test_paging_and_event_ids_beyond_int64_are_422(api):
    for query in ("offset=9223372036854775808", "offset=-1", "limit=0", "limit=100000"):
        refused(api.get(f"/jobs?{query}", headers=VIEWER), query.split("=")[0])
    run_id = api.post("/jobs", headers=OPERATOR, json={
        "request": "predict species, 5 seconds", "data": PENGUINS}).json()["run_id"]
    response = api.get(f"/jobs/{run_id}/events?after=99999999999999999999", headers=VIEWER)
    refused(response, "after")


def test_a_retry_with_the_same_idempotency_key_gets_the_same_job(api):
    body = {"request": "predict species, 5 seconds", "data": PENGUINS}
    key = {"Idempotency-Key": str(uuid.uuid4())}
    first = api.post("/jobs", headers={**OPERATOR, **key}, json=body)
    again = api.post("/jobs", headers={**OPERATOR, **key}, json=body)
    assert first.status_code == again.status_code == 202
    assert again.json()["run_id"] == first.json()["run_id"]
    assert again.json()["task"] == first.json()["task"]
    assert again.headers["Idempotent-Replayed"] == "true"
    assert jobs_made(api) == 1

    # The same key with another body is refused; another caller's key is their own.
    other = api.post("/jobs", headers={**OPERATOR, **key}, json={**body, "seed": 3})
    assert "another submission" in refused(other, "Idempotency-Key")["detail"]
    theirs = api.post("/jobs", headers={**APPROVER, **key}, json=body)
    assert theirs.status_code == 202 and theirs.json()["run_id"] != first.json()["run_id"]
    # Without a key every submission is a job of its own.
    assert api.post("/jobs", headers=OPERATOR, json=body).json()["run_id"] != first.json()["run_id"]
    assert jobs_made(api) == 3


def test_an_upload_retried_with_its_key_is_kept_once(api):
    key = {"Idempotency-Key": "upload-1"}
    with open(PENGUINS, "rb") as fh:
        data = fh.read()

    def upload(content: bytes):
        return api.post("/jobs/upload", headers={**OPERATOR, **key},
                        files={"file": ("penguins.csv", content)},
                        data={"request": "predict species, 5 seconds"})

    first, again = upload(data), upload(data)
    assert again.status_code == 202 and again.json()["run_id"] == first.json()["run_id"]
    assert len(list((api.app.state.settings.data_dir / "uploads").iterdir())) == 1
    refused(upload(data.replace(b"MALE", b"male")), "Idempotency-Key")


def test_a_bad_idempotency_key_is_422(api):
    body = {"request": "predict species", "data": PENGUINS}
    refused(api.post("/jobs", headers={**OPERATOR, "Idempotency-Key": "x" * 300}, json=body),
            "idempotency-key")


def test_a_blank_rejection_reason_is_refused(api):
    # Checked before the approval is looked up: the reason is invalid whatever the id.
    response = api.post("/approvals/ap-none/reject", headers=APPROVER, json={"reason": "   "})
    assert "not only spaces" in refused(response, "reason")["detail"]
    result = CliRunner().invoke(cli_app, ["approvals", "reject", "ap-none", "--reason", " \t"])
    assert result.exit_code == 1 and "--reason is blank" in result.stderr


def test_the_cli_refuses_a_bad_goal_and_leaves_no_run():
    cli = CliRunner()
    result = cli.invoke(cli_app, ["run", "predict species, 5 seconds", "--data", PENGUINS,
                                  "--goal", "95", "--yes"])
    assert result.exit_code == 1 and "goal: " in result.stderr and "0.95" in result.stderr
    listed = cli.invoke(cli_app, ["runs", "list", "--json"])
    assert json.loads(listed.stdout) == []


SECRET = "s3cret"


def test_slack_refuses_a_timestamp_that_is_not_a_number_and_a_blank_reason(tmp_path):
    settings = Settings(api_keys=KEYS, worker_mode="thread", data_dir=tmp_path / "state",
                        slack_signing_secret=SECRET, slack_bot_token="xoxb-test",
                        slack_approvers=["UBOSS"], slack_api_url="http://127.0.0.1:9/")
    slack = TestClient(create_app(settings, workers=0), raise_server_exceptions=False)

    def post(body: str, stamp: str, form: bool = False):
        mac = hmac.new(SECRET.encode(), f"v0:{stamp}:{body}".encode(), hashlib.sha256)
        kind = "application/x-www-form-urlencoded" if form else "application/json"
        return slack.post("/slack/events", content=body, headers={
            "X-Slack-Request-Timestamp": stamp, "X-Slack-Signature": "v0=" + mac.hexdigest(),
            "Content-Type": kind})

    challenge = json.dumps({"type": "url_verification", "challenge": "c"})
    for stamp in ("soon", "1e9", "", "9" * 40):
        assert post(challenge, stamp).status_code == 401
    assert post(challenge, str(int(time.time()))).status_code == 200

    view = {"type": "view_submission", "user": {"id": "UBOSS"}, "team": {"id": "T1"},
            "api_app_id": "A1", "view": {
                "id": "V1", "type": "modal", "callback_id": REJECT_VIEW,
                "private_metadata": "ap-1", "state": {"values": {"reason": {
                    "reason_text": {"type": "plain_text_input", "value": "  "}}}}}}
    response = post("payload=" + quote(json.dumps(view)), str(int(time.time())), form=True)
    assert response.status_code == 200
    assert response.json()["response_action"] == "errors"
    assert "not only spaces" in response.json()["errors"]["reason"]
