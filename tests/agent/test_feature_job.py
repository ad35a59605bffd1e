"""A job whose data hides its signal in the hour of a timestamp: the feature engineer keeps
the date-parts transform, serving its code waits for a human, and the registered model
applies it in the sandbox to the raw rows of a prediction."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mlpilot.agent.runner import Runner
from mlpilot.agent.settings import Settings
from mlpilot.agent.state import TaskRequest
from mlpilot.engine.serving import ModelServer
from mlpilot.engine.tracking import Tracker
from mlpilot.interfaces.slack_messages import approval_blocks
from mlpilot.sandbox import audit
from tests.sandbox.conftest import needs_bwrap

pytestmark = [pytest.mark.slow, needs_bwrap]


def hours_data(path, n: int = 240, seed: int = 0):
    rng = np.random.default_rng(seed)
    opened = pd.Timestamp("2024-03-01") + pd.to_timedelta(rng.integers(0, 60 * 24, n), unit="h")
    late = ((opened.hour >= 14) ^ (rng.random(n) < 0.03)).astype(int)
    pd.DataFrame({"opened": opened.strftime("%Y-%m-%d %H:%M"), "amount": rng.normal(size=n),
                  "late": late}).to_csv(path, index=False)
    return path


def test_kept_transforms_wait_for_approval_then_run_in_the_sandbox_at_prediction(tmp_path):
    settings = Settings(feature_share=0.5)
    request = TaskRequest(request="predict late", data=hours_data(tmp_path / "tickets.csv"),
                          target="late", task_type="binary", metric="accuracy", budget_s=30,
                          training={"search": {"enabled": False}, "max_epochs": 30})
    first = Runner(settings).start(request)
    assert first.status == "waiting_approval", first.result.get("decisions")
    [pending] = first.pending
    assert pending.action == "serve_feature_code" and "every prediction" in pending.reason
    [step] = pending.payload["steps"]
    assert step["name"] == "date_parts" and "def transform(df)" in step["code"]
    kept = [d for d in first.result["decisions"] if d["stage"] == "features"]
    assert any("keep transform 'date_parts'" in d["decision"] for d in kept)
    # the code is shown to whoever approves: the Slack message carries it
    described = {"job_id": pending.job_id, "id": pending.id, "what": "x", "why": pending.reason,
                 "code": pending.payload["steps"]}
    assert "def transform(df)" in approval_blocks(described)[1]["text"]["text"]

    _, trained = Runner(settings).decide(pending.id, True, by="alice", reason="read it")
    assert trained.status == "waiting_approval" and trained.pending[0].action == "register_champion"
    _, done = Runner(settings).decide(trained.pending[0].id, True, by="alice", reason="ok")
    assert done.status == "succeeded", done.result.get("error")
    assert done.result["metrics"]["accuracy"] > 0.85

    server = ModelServer(Tracker(settings.tracking_uri, artifact_location=settings.artifact_location))
    before = len(list(audit.records(audit.default_audit_path())))
    rows = [{"opened": "2024-05-02 16:30", "amount": 0.1}, {"opened": "2024-05-02 08:15", "amount": 0.2}]
    answer = server.predict(done.result["model"]["name"], rows)
    assert answer.predictions == [1, 0]
    serving = list(audit.records(audit.default_audit_path()))[before:]
    assert [r["purpose"] for r in serving] == ["feature serving"]


def test_a_rejected_transform_trains_on_the_raw_columns(tmp_path):
    settings = Settings(feature_share=0.5)
    request = TaskRequest(request="predict late", data=hours_data(tmp_path / "t.csv", n=120),
                          target="late", task_type="binary", metric="accuracy", budget_s=30,
                          training={"search": {"enabled": False}, "max_epochs": 5})
    first = Runner(settings).start(request)
    _, resumed = Runner(settings).decide(first.pending[0].id, False, by="bob", reason="no code")
    assert resumed.result["features"]["approved"] is False
    assert any(d["decision"] == "trained without feature transforms"
               for d in resumed.result["decisions"])
    trained = [d for d in resumed.result["decisions"] if d["stage"] == "train"]
    assert trained, resumed.result.get("error")  # it trained, on the raw columns
    assert resumed.result["features"]["steps"][0]["name"] == "date_parts"
