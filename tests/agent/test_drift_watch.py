"""The drift monitor end to end: a scripted stream of live rows drifts from the training
data, the monitor opens a retrain proposal in the approval queue, and the approved
proposal becomes a queued job on the training data plus the labelled live rows."""

from __future__ import annotations

import pytest

from mlpilot.agent.deployments import Deployments
from mlpilot.agent.drift_watch import monitor, watch_all
from mlpilot.agent.jobs import JobService
from mlpilot.agent.runner import Runner
from mlpilot.agent.settings import Settings
from mlpilot.engine.data import load_table
from mlpilot.interfaces.summaries import approval_question
from tests.deploy_fixtures import NAME, fresh_server, register, rows, table, train


@pytest.fixture(scope="module")
def registry(tmp_path_factory):
    """v1, registered once for the module (as if by the job `run-people-label-1`)."""
    settings = Settings(data_dir=tmp_path_factory.mktemp("registry"))
    register(settings, [train(seed=0)])
    return settings


@pytest.fixture
def setup(registry, tmp_path):
    """v1 trained by a job here: its request names the training file."""
    settings = Settings(data_dir=tmp_path / "state", drift_min_rows=100,
                        data_roots=[tmp_path], default_budget_s=8,
                        mlflow_tracking_uri=registry.tracking_uri)
    data = tmp_path / "people.csv"
    table(300).to_csv(data, index=False)
    fresh_server(registry)
    service = JobService(settings, workers=0)
    service.store.create_job({"request": "predict label", "data": str(data), "target": "label"},
                             job_id=f"run-{NAME}-1")
    service.deployments.deploy(NAME, "1", by="olivia")
    yield service, data
    service.deployments.close()


def _stream(deployments: Deployments, n: int, seed: int, shift: float = 0.0) -> list[str]:
    sent = rows(table(n, seed=seed, shift=shift))
    return deployments.predict(NAME, sent, entity_ids=[f"s{seed}-{i}" for i in range(n)]).ids


def test_a_stream_without_shift_raises_no_proposal(setup):
    service, _ = setup
    _stream(service.deployments, 300, seed=21)
    report = monitor(service.deployments, NAME, window=300)
    assert report.enough_rows and report.drifted == [] and report.proposal is None
    psi = {f.column: f.value for f in report.features}
    assert psi["height"] < 0.1 and "(prediction)" in psi
    assert service.approvals() == []


def test_too_few_rows_are_not_judged(setup):
    service, _ = setup
    _stream(service.deployments, 50, seed=22, shift=30.0)
    report = monitor(service.deployments, NAME)
    assert not report.enough_rows and report.drifted == [] and report.proposal is None


def test_drift_opens_a_retrain_proposal_that_becomes_a_job_when_approved(setup):
    service, data = setup
    deployments = service.deployments
    ids = _stream(deployments, 200, seed=23, shift=25.0)  # everyone is taller now
    deployments.feedback({i: "tall" for i in ids[:40]}, by="labeller")
    report = monitor(deployments, NAME, window=500)
    assert "height" in report.drifted and "city" not in report.drifted
    assert report.proposal is not None and report.proposal.action == "retrain"
    again = monitor(deployments, NAME, window=500)
    assert again.proposal.id == report.proposal.id  # one pending proposal per model
    described = service.describe(report.proposal)
    assert described["what"].startswith(f"retrain {NAME}: live data drifted") and "height" in (
        described["what"])

    service.approve(report.proposal.id, by="alice")
    queued = service.store.jobs(status="queued")
    assert len(queued) == 1 and queued[0].request["model_name"] == NAME
    retrain_data = load_table(queued[0].request["data"])
    assert len(retrain_data) == 300 + 40 and (retrain_data["label"].tail(40) == "tall").all()
    change = deployments.store.history(NAME)[0]
    assert (change.action, change.by, change.reason) == ("retrain", "alice", queued[0].id)
    assert load_table(data).shape[0] == 300  # the training file itself is untouched

    # the job runs (here, in process), its registration waits for a human, and its model
    # then becomes a canary challenger beside the champion, not the champion
    runner = Runner(service.settings)
    waiting = runner.proceed(queued[0].id)
    assert waiting.status == "waiting_approval", (waiting.result.get("error"), waiting.result.get("question"), waiting.result.get("decisions"))
    [gate] = waiting.pending
    assert (gate.action, gate.payload["champion"], gate.payload["mode"]) == (
        "register_challenger", "1", "canary")
    asked = service.describe(gate)
    assert asked["what"].startswith("register this run's model as a canary challenger beside "
                                    "champion v1")
    assert asked["why"].startswith("registering a canary challenger")
    assert "answers 10% of ids" in asked["estimated_cost"]["effect"]
    assert "as a canary challenger beside champion v1" in approval_question(gate)
    _, done = runner.decide(gate.id, True, by="alice")
    assert done.status == "succeeded" and done.result["model"]["alias"] == "challenger"
    status = deployments.status(NAME)
    assert (status.champion, status.challenger, status.mode, status.share) == (
        "1", done.result["model"]["version"], "canary", 0.1)
    decisions = [d["decision"] for d in done.result["decisions"]]
    assert any("as canary challenger" in d for d in decisions)
    # its search started from the champion's run: v1's config tried first
    assert queued[0].options["warm_start_from"]["run"] == f"run-{NAME}-1"
    assert any(d.startswith(f"warm start from the champion's run run-{NAME}-1 (v1): try its "
                            "config first") for d in decisions), decisions
    assert done.result["search"]["warm_start"]["n_configs"] == 1


def test_the_servers_monitor_round_judges_every_deployment_and_proposes_once(setup):
    service, _ = setup
    _stream(service.deployments, 150, seed=24, shift=25.0)
    first = watch_all(service.deployments)
    second = watch_all(service.deployments)
    assert [r.name for r in first] == [NAME] and "height" in first[0].drifted
    assert first[0].proposal.id == second[0].proposal.id
    assert [a.action for a in service.approvals()] == ["retrain"]


def _labelled(service, seed: int, n: int, right: bool) -> None:
    """Predict `n` unshifted rows and feed back truths that agree (or all disagree) with
    the champion's answers."""
    routed = service.deployments.predict(NAME, rows(table(n, seed=seed)),
                                         entity_ids=[f"p{seed}-{i}" for i in range(n)])
    other = {"tall": "short", "short": "tall"}
    service.deployments.feedback({i: out if right else other[out]
                                  for i, out in zip(routed.ids, routed.predictions, strict=True)})


def test_performance_drift_from_feedback_against_the_training_test_score(setup):
    service, _ = setup
    service.store.update_job(f"run-{NAME}-1", result={"metrics": {"accuracy": 0.9}})
    _labelled(service, seed=31, n=60, right=True)
    report = monitor(service.deployments, NAME, window=500)
    [row] = [f for f in report.features if f.kind == "performance"]
    assert (row.column, row.statistic, row.train_hist, row.live_hist) == (
        "(performance)", "accuracy degradation", [0.9], [1.0])
    assert not row.drifted and "(performance)" not in report.drifted

    _labelled(service, seed=32, n=120, right=False)  # live accuracy falls to 60/180
    report = monitor(service.deployments, NAME, window=500)
    [row] = [f for f in report.features if f.kind == "performance"]
    assert row.live_hist == [round(60 / 180, 4)] and row.drifted and row.p_value < 0.001
    assert "(performance)" in report.drifted
    assert report.proposal is not None and report.proposal.action == "retrain"
    assert {"column": "(performance)", "statistic": "accuracy degradation",
            "value": row.value} in report.proposal.payload["drifted"]
    assert report.view()["features"][-1]["column"] == "(performance)"
    assert (f"performance on labelled feedback fell (accuracy degradation {row.value:.4f})"
            in service.describe(report.proposal)["what"])


def test_performance_is_not_judged_on_few_labels_or_without_a_training_score(setup):
    service, _ = setup
    _labelled(service, seed=33, n=30, right=False)
    report = monitor(service.deployments, NAME, window=500)
    assert not any(f.kind == "performance" for f in report.features)  # job has no result
    service.store.update_job(f"run-{NAME}-1", result={"metrics": {"accuracy": 0.9}})
    report = monitor(service.deployments, NAME, window=500)
    [row] = [f for f in report.features if f.kind == "performance"]
    assert row.value == 1.0 and not row.drifted  # 30 labels, 50 needed
    assert report.proposal is None
