"""The REST API without training: keys and roles, problem details, body limits, and jobs
checked at submission like CLI input (the same one-line messages), listed, read, cancelled."""

from __future__ import annotations

import pytest

from tests.conftest import dataset
from tests.interfaces.api_fixtures import APPROVER, OPERATOR, VIEWER, api_client

PROBLEM = "application/problem+json"
PENGUINS = "predict the species of a penguin, 10 seconds"


@pytest.fixture
def api():
    """An app with no workers: jobs are accepted and stay queued."""
    with api_client(workers=0) as client:
        yield client


def test_health_needs_no_key_and_everything_else_does(api):
    health = api.get("/health")
    assert health.status_code == 200 and health.json()["status"] == "ok"

    for method, path in [("GET", "/jobs"), ("GET", "/approvals"), ("GET", "/models"),
                         ("GET", "/knowledge/search?q=nan"), ("POST", "/jobs")]:
        refused = api.request(method, path)
        assert refused.status_code == 401, path
        assert refused.headers["content-type"] == PROBLEM
        assert refused.json()["detail"].startswith("an API key is required")
    wrong = api.get("/jobs", headers={"X-API-Key": "guess"})
    assert wrong.status_code == 401 and "unknown API key" in wrong.json()["detail"]
    assert api.get("/jobs", headers={"Authorization": "Bearer view-key"}).status_code == 200


def test_roles_are_ordered_viewer_operator_approver(api):
    submit = {"request": PENGUINS, "data": str(dataset("penguins.csv"))}
    forbidden = api.post("/jobs", json=submit, headers=VIEWER)
    assert forbidden.status_code == 403
    assert forbidden.json() == {
        "type": "about:blank", "title": "Forbidden", "status": 403, "instance": "/jobs",
        "detail": "this needs the operator role; your key has the viewer role"}
    assert api.post("/jobs", json=submit, headers=OPERATOR).status_code == 202
    assert api.post("/jobs", json=submit, headers=APPROVER).status_code == 202  # includes operator
    assert api.post("/approvals/ap-x/approve", headers=OPERATOR).status_code == 403
    assert api.post("/approvals/ap-x/approve", headers=APPROVER).status_code == 404
    assert api.get("/jobs", headers=VIEWER).status_code == 200


def test_a_job_is_queued_listed_read_and_cancelled_once(api):
    accepted = api.post("/jobs", json={"request": PENGUINS, "data": str(dataset("penguins.csv")),
                                       "budget": "3s"}, headers=OPERATOR)
    assert accepted.status_code == 202
    job = accepted.json()
    assert job["status"] == "queued" and accepted.headers["location"] == f"/jobs/{job['run_id']}"
    assert job["task"]["target"] == "species" and job["task"]["budget_s"] == 3.0

    listed = api.get("/jobs", headers=VIEWER).json()
    assert [j["run_id"] for j in listed] == [job["run_id"]]
    assert api.get("/jobs?status=succeeded", headers=VIEWER).json() == []
    doc = api.get(f"/jobs/{job['run_id']}", headers=VIEWER).json()
    assert doc["schema_version"] == 1 and doc["status"] == "queued"
    assert doc["request"]["request"] == PENGUINS and doc["metrics"] is None

    cancelled = api.post(f"/jobs/{job['run_id']}/cancel", headers=OPERATOR)
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    again = api.post(f"/jobs/{job['run_id']}/cancel", headers=OPERATOR)
    assert again.status_code == 409 and "already ended (cancelled)" in again.json()["detail"]
    with api.stream("GET", f"/jobs/{job['run_id']}/events", headers=VIEWER) as stream:
        lines = [line for line in stream.iter_lines() if line.startswith(("event:", "data:"))]
    assert lines[-2:] == ["event: end",
                          f'data: {{"run_id": "{job["run_id"]}", "status": "cancelled"}}']
    assert api.get("/jobs/run-nope", headers=VIEWER).status_code == 404
    assert api.get("/jobs/run-nope/events", headers=VIEWER).status_code == 404


def write(tmp_path, name: str, content: bytes | str):
    path = tmp_path / name
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    return path


@pytest.mark.parametrize("fields, expected, kind", [
    ({"data": "{tmp}/nope.csv"}, "does not exist", "data-error"),
    ({"data": "{tmp}/empty.csv"}, "is empty", "data-error"),
    ({"target": "beak_colour"}, "'beak_colour'", "data-error"),
    ({"request": "predict the species of a penguin within -5 minutes"}, "must be a positive time",
     "request-error"),
    ({"budget": "forever"}, "not a time", "request-error"),
    ({"request": "", "data": None}, "give a data file", "config-error"),
    ({"config": "request: predict species\nbudget: 3s\n"}, "needs `data:`", "config-error"),
    ({"config": "request: [unclosed"}, "not valid YAML", "config-error"),
], ids=["missing", "empty", "unknown-target", "negative-budget", "bad-budget", "no-data",
        "yaml-without-data", "bad-yaml"])
def test_bad_input_is_a_422_problem_with_the_cli_message(api, tmp_path, fields, expected, kind):
    write(tmp_path, "empty.csv", "")
    body = {"request": PENGUINS, "data": str(dataset("penguins.csv")), **fields}
    if body.get("config"):
        body.pop("data")
    if isinstance(body.get("data"), str):
        body["data"] = body["data"].format(tmp=tmp_path)
    refused = api.post("/jobs", json={k: v for k, v in body.items() if v is not None},
                       headers=OPERATOR)
    assert refused.status_code == 422, refused.text
    problem = refused.json()
    assert refused.headers["content-type"] == PROBLEM
    assert problem["type"] == f"urn:mlpilot:problem:{kind}" and expected in problem["detail"]
    assert "\n" not in problem["detail"]
    assert api.get("/jobs", headers=VIEWER).json() == []  # nothing was queued


def test_an_unclear_target_is_a_question_and_invalid_fields_name_the_field(api):
    unclear = api.post("/jobs", json={"request": "train a model on this",
                                      "data": str(dataset("penguins.csv"))}, headers=OPERATOR)
    assert unclear.status_code == 422
    assert unclear.json()["type"] == "urn:mlpilot:problem:needs-input"
    assert "Which column" in unclear.json()["question"]
    assert "species" in unclear.json()["choices"]
    # no recognisable task is a question too (it was a request error): what to predict?
    no_task = api.post("/jobs", json={"request": "hello there, nice weather",
                                      "data": str(dataset("penguins.csv"))}, headers=OPERATOR)
    assert no_task.status_code == 422
    assert no_task.json()["type"] == "urn:mlpilot:problem:needs-input"
    assert "could not tell what to predict" in no_task.json()["question"]
    assert "island" in no_task.json()["choices"]
    invalid = api.post("/jobs", json={"request": PENGUINS, "nonsense": 1}, headers=OPERATOR)
    assert invalid.status_code == 422 and invalid.json()["type"] == "urn:mlpilot:problem:invalid-request"
    assert invalid.json()["detail"].startswith("body.nonsense")


def test_yaml_config_text_is_a_job(api):
    config = (f"request: predict the species of a penguin\ndata: {dataset('penguins.csv')}\n"
              "budget: 4s\nmetric: accuracy\ntraining:\n  max_epochs: 20\n")
    accepted = api.post("/jobs", json={"config": config, "auto_approve": True}, headers=OPERATOR)
    assert accepted.status_code == 202, accepted.text
    assert accepted.json()["task"]["metric"] == "accuracy"
    assert accepted.json()["task"]["budget_s"] == 4.0


def test_uploads_are_checked_like_cli_files_and_limited_in_size(tmp_path):
    with api_client(workers=0, max_upload_mb=0.05) as api:
        good = dataset("penguins.csv").read_bytes()
        accepted = api.post("/jobs/upload", headers=OPERATOR, files={"file": ("penguins.csv", good)},
                            data={"request": PENGUINS})
        assert accepted.status_code == 202, accepted.text
        saved = api.get(f"/jobs/{accepted.json()['run_id']}", headers=VIEWER).json()
        assert saved["request"]["data"].endswith("penguins.csv")

        binary = api.post("/jobs/upload", headers=OPERATOR, data={"request": PENGUINS},
                          files={"file": ("model.bin", bytes(range(256)) * 40)})
        assert binary.status_code == 422
        assert binary.json()["detail"].startswith("data file 'model.bin'")  # not the server path
        assert "not a CSV or Parquet" in binary.json()["detail"]

        too_big = api.post("/jobs/upload", headers=OPERATOR, data={"request": PENGUINS},
                           files={"file": ("big.csv", b"a,b\n" + b"1,2\n" * 40_000)})
        assert too_big.status_code == 413 and too_big.headers["content-type"] == PROBLEM
        assert "larger than the limit" in too_big.json()["detail"]
        assert len(api.get("/jobs", headers=VIEWER).json()) == 1


def test_request_bodies_have_a_size_limit():
    with api_client(workers=0, max_request_kb=4) as api:
        huge = api.post("/jobs", headers=OPERATOR, json={"request": "x" * 10_000, "data": "a.csv"})
        assert huge.status_code == 413 and huge.json()["title"]
        chunked = api.post("/jobs", headers={**OPERATOR, "content-type": "application/json"},
                           content=iter([b'{"request": "', b"x" * 8000, b'"}']))
        assert chunked.status_code == 413


def test_openapi_describes_the_api_and_its_key(api):
    schema = api.get("/openapi.json", headers=VIEWER).json()
    paths = schema["paths"]
    for path in ("/jobs", "/jobs/upload", "/jobs/{run_id}", "/jobs/{run_id}/cancel",
                 "/jobs/{run_id}/events", "/approvals", "/approvals/{approval_id}/approve",
                 "/approvals/{approval_id}/reject", "/models", "/models/{name}/versions",
                 "/models/{name}/predict", "/knowledge/search", "/health"):
        assert path in paths, path
    assert schema["components"]["securitySchemes"]["APIKeyHeader"]["name"] == "X-API-Key"


def test_the_knowledge_base_is_searchable(api):
    hits = api.get("/knowledge/search", params={"q": "loss is nan after epoch 3", "k": 3},
                   headers=VIEWER)
    assert hits.status_code == 200
    found = hits.json()
    assert len(found) == 3 and found[0]["entry"]["fault_kind"] and found[0]["entry"]["fix"]
    assert [h["rank_score"] for h in found] == sorted((h["rank_score"] for h in found), reverse=True)
    assert api.get("/knowledge/search", params={"q": ""}, headers=VIEWER).status_code == 422
