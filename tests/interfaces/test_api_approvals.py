"""The approval queue over REST (no training: approvals are put in the queue directly):
what each one asks and why, one decision recorded with who and when, 409 for a second
decision, expiry counted as rejection, and the job queued again for a worker."""

from __future__ import annotations

import time

import pytest

from mlpilot.agent.store import Store
from tests.interfaces.api_fixtures import APPROVER, OPERATOR, VIEWER, api_client

CONFIG = {"max_epochs": 50, "batch_size": 16}


@pytest.fixture
def api():
    """An app with no workers: jobs are accepted and stay queued."""
    with api_client(workers=0) as client:
        yield client


def waiting_job(api, action: str = "train", ttl_s: float | None = None) -> tuple[str, str]:
    """A job waiting at a gate, as the runner leaves it; returns (job id, approval id)."""
    store: Store = api.app.state.jobs.store
    job = store.create_job({"request": "predict species, 20 minutes", "data": "penguins.csv"})
    store.release(job.id)
    store.update_job(job.id, status="waiting_approval",
                     result={"status": "waiting_approval", "run_id": job.id})
    payload = ({"budget_s": 1200.0, "target": "species", "metric": "accuracy", "config": CONFIG}
               if action == "train" else
               {"metrics": {"accuracy": 0.97}, "goal_met": True, "model_dir": "/tmp/m"})
    approval = store.request_approval(job.id, "interrupt-1", action, "the budget is over 600 s",
                                      payload, ttl_s=ttl_s)
    return job.id, approval.id


def test_pending_approvals_say_what_why_config_and_cost(api):
    job_id, approval_id = waiting_job(api)
    [listed] = api.get("/approvals", headers=VIEWER).json()
    assert listed["id"] == approval_id and listed["job_id"] == job_id
    assert listed["status"] == "pending" and listed["action"] == "train"
    assert listed["what"] == "train for up to 1200 s to predict 'species' (accuracy)"
    assert listed["why"] == "the budget is over 600 s"
    assert listed["config"] == CONFIG
    changed = {c["field"]: c["value"] for c in listed["config_diff"]}
    assert changed["max_epochs"] == 50
    assert listed["estimated_cost"]["compute_s"] == 1200.0
    assert listed["request"] == "predict species, 20 minutes"
    assert api.get(f"/approvals/{approval_id}", headers=VIEWER).json() == listed
    assert api.get("/approvals/ap-nope", headers=VIEWER).status_code == 404


def test_a_listed_approval_shows_its_job_as_it_is_now(api):
    # a champion approval carries no config: the reviewer sees the job's, kept current
    job_id, _ = waiting_job(api, action="register_champion")
    assert api.get("/approvals", headers=VIEWER).json()[0]["config"] is None
    api.app.state.jobs.store.update_job(job_id, result={"status": "waiting_approval",
                                                        "run_id": job_id, "config": CONFIG})
    [listed] = api.get("/approvals", headers=VIEWER).json()
    assert listed["config"] == CONFIG
    assert {c["field"] for c in listed["config_diff"]} >= {"max_epochs", "batch_size"}


def test_a_decision_is_recorded_once_with_who_and_when_and_the_job_goes_on(api):
    job_id, approval_id = waiting_job(api, action="register_champion")
    before = time.time()
    assert api.post(f"/approvals/{approval_id}/approve", headers=OPERATOR).status_code == 403
    decided = api.post(f"/approvals/{approval_id}/approve", headers=APPROVER,
                       json={"reason": "scores look right"})
    assert decided.status_code == 200, decided.text
    body = decided.json()
    assert (body["status"], body["decided_by"], body["decision_reason"]) == (
        "approved", "alice", "scores look right")
    assert before <= body["decided_at"] <= time.time()

    second = api.post(f"/approvals/{approval_id}/reject", headers=APPROVER, json={"reason": "no"})
    assert second.status_code == 409
    assert second.json()["detail"] == (f"approval {approval_id} was already approved by alice; "
                                       "a decision is recorded once")
    assert api.get("/approvals", headers=VIEWER).json() == []
    assert [a["id"] for a in api.get("/approvals?status=approved", headers=VIEWER).json()] == [
        approval_id]
    # decided: the job is back in the queue for a worker to resume
    assert api.get(f"/jobs/{job_id}", headers=VIEWER).json()["status"] == "queued"


def test_a_rejection_needs_a_reason(api):
    _, approval_id = waiting_job(api)
    missing = api.post(f"/approvals/{approval_id}/reject", headers=APPROVER, json={})
    assert missing.status_code == 422 and missing.json()["detail"].startswith("body.reason")
    rejected = api.post(f"/approvals/{approval_id}/reject", headers=APPROVER,
                        json={"reason": "too expensive"})
    assert rejected.json()["status"] == "rejected"
    assert rejected.json()["decision_reason"] == "too expensive"


def test_an_expired_approval_counts_as_rejected_and_cannot_be_decided():
    with api_client(workers=0) as api:
        job_id, approval_id = waiting_job(api, ttl_s=0.2)
        assert len(api.get("/approvals", headers=VIEWER).json()) == 1
        time.sleep(0.3)
        assert api.get("/approvals", headers=VIEWER).json() == []
        expired = api.get(f"/approvals/{approval_id}", headers=VIEWER).json()
        assert (expired["status"], expired["decided_by"]) == ("expired", "policy")
        late = api.post(f"/approvals/{approval_id}/approve", headers=APPROVER)
        assert late.status_code == 409 and "already expired" in late.json()["detail"]
        # the sweeper hands the job back to the workers, which resume it as rejected
        api.app.state.jobs.store.requeue_decided(grace_s=0)
        assert api.get(f"/jobs/{job_id}", headers=VIEWER).json()["status"] == "queued"


def test_cancelling_a_waiting_job_rejects_its_pending_approval(api):
    job_id, approval_id = waiting_job(api)
    cancelled = api.post(f"/jobs/{job_id}/cancel", headers=OPERATOR).json()
    assert cancelled["status"] == "cancelled"
    assert api.get(f"/jobs/{job_id}", headers=VIEWER).json()["status"] == "cancelled"
    closed = api.get(f"/approvals/{approval_id}", headers=VIEWER).json()
    assert (closed["status"], closed["decided_by"]) == ("rejected", "olivia")
    assert api.post(f"/approvals/{approval_id}/approve", headers=APPROVER).status_code == 409


def test_feature_code_waiting_for_approval_is_shown_whole_over_rest_and_on_the_page(api):
    import re

    store: Store = api.app.state.jobs.store
    job = store.create_job({"request": "predict late", "data": "tickets.csv"})
    store.release(job.id)
    store.update_job(job.id, status="waiting_approval", result={"status": "waiting_approval"})
    code = "def transform(df):\n    out = df.copy()\n    out['h<1>'] = 1\n    return out\n"
    step = {"name": "date_parts", "origin": "template:date_parts", "why": "dates",
            "evidence": "accuracy 0.50 -> 0.90", "gain": 0.4, "code": code, "sha256": "ab"}
    store.request_approval(job.id, "interrupt-1", "serve_feature_code",
                           "feature transforms would run as code on every prediction",
                           {"steps": [step], "columns": ["opened__hour"]})
    [listed] = api.get("/approvals", headers=VIEWER).json()
    assert listed["code"][0]["code"] == code
    assert "date_parts (template:date_parts)" in listed["what"]
    login = api.get("/ui/login").text
    csrf = re.search(r'name="csrf" value="([0-9a-f]+)"', login).group(1)
    api.post("/ui/login", data={"key": "view-key", "csrf": csrf, "next": "/ui/approvals"})
    page = api.get("/ui/approvals").text
    assert "def transform(df):" in page and "out[&#39;h&lt;1&gt;&#39;] = 1" in page  # escaped
