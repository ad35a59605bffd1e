"""Promotion: feedback gives live metrics per version; a challenger that is not worse
beyond noise over the minimum count is proposed, waits in the approval queue, and is
promoted only when a human approves."""

from __future__ import annotations

import pytest

from mlpilot.agent.deployments import Deployments
from mlpilot.agent.jobs import JobService
from mlpilot.agent.promotion import live_metrics, propose_promotion
from mlpilot.agent.runner import Runner
from mlpilot.agent.settings import Settings
from mlpilot.agent.store import Conflict
from mlpilot.agent.store.deployments import approval_job_id
from tests.deploy_fixtures import NAME, fresh_server, register, rows, table, train
from tests.fakes import ScriptedChatModel


@pytest.fixture(scope="module")
def registry(tmp_path_factory):
    """v1 a sound model, v2 one taught the opposite labels, v3 another sound one."""
    settings = Settings(data_dir=tmp_path_factory.mktemp("registry"))
    register(settings, [train(seed=0), train(seed=1, inverted=True), train(seed=2)])
    return settings


@pytest.fixture
def settings(registry, tmp_path):
    return registry.model_copy(update={"data_dir": tmp_path, "promotion_min_feedback": 40,
                                       "mlflow_tracking_uri": registry.tracking_uri})


@pytest.fixture
def service(settings, registry):
    made = JobService(settings, workers=0)
    made.deployments = Deployments(settings, store=made.store, server=fresh_server(registry))
    yield made
    made.deployments.close()


def _shadow_traffic(deployments: Deployments, challenger: str, truth_from: str, n: int = 60):
    """Shadow `challenger`, send n rows one request each, and feed back the outputs of
    version `truth_from` as the true values."""
    deployments.deploy(NAME, challenger, by="olivia", mode="shadow")
    sent = rows(table(n, seed=7))
    ids = [f"p-{i}" for i in range(n)]
    deployments.predict(NAME, sent, entity_ids=ids)
    deployments.drain()
    outputs = {r["id"]: r["output"] for r in deployments.log.rows(NAME, version=truth_from,
                                                                   role=None)}
    assert deployments.feedback({i: outputs[i] for i in ids}, by="labeller") == n


def test_feedback_gives_live_metrics_per_version(service):
    deployments = service.deployments
    _shadow_traffic(deployments, "3", truth_from="1")
    metrics = {m.version: m for m in live_metrics(deployments, NAME)}
    assert metrics["1"].count == metrics["3"].count == 60
    assert metrics["1"].metric == "accuracy" and metrics["1"].value == 1.0
    assert 0.0 <= metrics["3"].value <= 1.0
    # every metric of the task, the job's own among them, on the same labelled rows
    assert set(metrics["3"].scores) == {"accuracy", "balanced_accuracy", "f1", "precision",
                                        "recall"}
    assert metrics["3"].scores["accuracy"] == pytest.approx(metrics["3"].value)
    assert metrics["1"].scores["f1"] == 1.0


def test_a_promotion_waits_for_approval_then_promotes(service):
    deployments = service.deployments
    _shadow_traffic(deployments, "3", truth_from="3")  # the challenger is right every time
    approval = propose_promotion(deployments, NAME, by="olivia")
    assert approval.job_id == approval_job_id(NAME) and approval.status == "pending"
    assert service.approvals()[0].id == approval.id  # the one queue every driver reads
    described = service.describe(approval)
    assert "promote people-label v3 to champion in place of v1" in described["what"]
    assert deployments.champion(NAME) == "1"  # nothing moves before a human decides

    service.approve(approval.id, by="alice", reason="looks good")
    status = deployments.status(NAME)
    assert (status.champion, status.challenger) == ("3", None)
    assert deployments.server.resolve(NAME, "champion") == "3"
    change = deployments.store.history(NAME)[0]
    assert (change.action, change.version, change.by, change.key) == (
        "deploy", "3", "alice", approval.id)
    with pytest.raises(Conflict, match="no challenger"):
        propose_promotion(deployments, NAME, by="olivia")


def test_a_worse_challenger_or_too_little_feedback_is_not_proposed(service):
    deployments = service.deployments
    _shadow_traffic(deployments, "2", truth_from="1")  # v2 says the opposite of v1
    with pytest.raises(Conflict, match="challenger worse"):
        propose_promotion(deployments, NAME, by="olivia")
    few = service.deployments.settings.model_copy(update={"promotion_min_feedback": 500})
    deployments.settings = few
    with pytest.raises(Conflict, match="60 labelled predictions of the 500 needed"):
        propose_promotion(deployments, NAME, by="olivia")
    assert service.approvals() == []


def test_a_rejected_promotion_changes_nothing_and_the_cli_path_decides_too(service, settings):
    deployments = service.deployments
    _shadow_traffic(deployments, "3", truth_from="3")
    approval = propose_promotion(deployments, NAME, by="olivia")
    service.reject(approval.id, by="alice", reason="wait for Monday")
    assert deployments.status(NAME).challenger == "3" and deployments.champion(NAME) == "1"

    deployments.end_challenger(NAME, by="olivia")
    _shadow_traffic(deployments, "3", truth_from="3")
    again = propose_promotion(deployments, NAME, by="olivia")
    runner = Runner(settings, chat_model=ScriptedChatModel(script=[]))
    decided, outcome = runner.decide(again.id, True, by="bob")
    assert outcome is None and decided.status == "approved"
    assert Deployments(settings, server=deployments.server).champion(NAME) == "3"
