"""Deployments over REST: deploy and roll back (approver, audited), predictions routed and
logged with their version in a header, CSV and Parquet bodies checked against the
training schema, feedback, promotion proposals, and the single-model server."""

from __future__ import annotations

import io

import httpx
import pytest
from fastapi.testclient import TestClient

from mlpilot.agent.settings import Settings
from mlpilot.interfaces.api import create_app
from mlpilot.interfaces.model_app import create_model_app
from tests.deploy_fixtures import NAME, register, rows, table, train
from tests.interfaces.api_fixtures import APPROVER, KEYS, OPERATOR, VIEWER
from tests.interfaces.servers import serve


@pytest.fixture(scope="module")
def settings(tmp_path_factory):
    made = Settings(data_dir=tmp_path_factory.mktemp("deploy-api"), api_keys=KEYS,
                    promotion_min_feedback=20, drift_min_rows=20)
    register(made, [train(seed=0), train(seed=1, epochs=1)])
    return made


@pytest.fixture(scope="module")
def api(settings):
    with TestClient(create_app(settings, workers=0)) as client:
        yield client


def test_deploy_and_rollback_need_the_approver_and_are_audited(api):
    body = {"name": NAME, "version": "2", "reason": "canary looked fine"}
    assert api.post("/deployments", json=body, headers=OPERATOR).status_code == 403
    made = api.post("/deployments", json=body, headers=APPROVER)
    assert made.status_code == 201, made.text
    assert (made.json()["champion"], made.json()["previous"]) == ("2", "1")
    assert made.json()["history"][0]["by"] == "alice"
    answer = api.post(f"/models/{NAME}/predict", json={"rows": rows(table(2))}, headers=OPERATOR)
    assert answer.headers["X-Model-Version"] == "2" and answer.json()["versions"] == ["2", "2"]

    back = api.post(f"/deployments/{NAME}/rollback", json={"reason": "errors"}, headers=APPROVER)
    assert back.status_code == 200 and back.json()["champion"] == "1"
    assert back.json()["seconds"] < 5  # the bound, far above what it takes
    again = api.post(f"/deployments/{NAME}/rollback", headers=APPROVER)
    assert again.status_code == 409 and "no earlier champion" in again.json()["detail"]
    listed = api.get("/deployments", headers=VIEWER).json()
    assert [d["name"] for d in listed] == [NAME]
    assert [h["action"] for h in listed[0]["history"]] == ["rollback", "deploy"]


def test_bad_deploy_requests_are_problems(api):
    assert api.post("/deployments", json={"name": "nobody"}, headers=APPROVER).status_code == 404
    both = api.post("/deployments", json={"name": NAME, "version": "1", "alias": "champion"},
                    headers=APPROVER)
    assert both.status_code == 422
    share = api.post("/deployments", json={"name": NAME, "mode": "canary", "share": 1.5},
                     headers=APPROVER)
    assert share.status_code == 422


def test_a_csv_or_parquet_body_is_scored_and_checked_per_column_and_row(api):
    frame = table(6, seed=9).drop(columns=["label"])
    frame.insert(0, "customer", [f"c{i}" for i in range(6)])
    csv = frame.to_csv(index=False).encode()
    made = api.post(f"/models/{NAME}/predict?id_column=customer", content=csv,
                    headers={**OPERATOR, "Content-Type": "text/csv", "X-Request-Id": "batch-7"})
    assert made.status_code == 200, made.text
    assert made.json()["ids"] == [f"c{i}" for i in range(6)]
    assert made.headers["X-Request-Id"] == "batch-7" and len(made.json()["predictions"]) == 6

    buffer = io.BytesIO()
    frame.to_parquet(buffer, index=False)
    parquet = api.post(f"/models/{NAME}/predict", content=buffer.getvalue(),
                       headers={**OPERATOR, "Content-Type": "application/vnd.apache.parquet"})
    assert parquet.status_code == 200 and len(parquet.json()["predictions"]) == 6

    absent = frame.drop(columns=["age", "city"]).to_csv(index=False).encode()
    refused = api.post(f"/models/{NAME}/predict", content=absent,
                       headers={**OPERATOR, "Content-Type": "text/csv"})
    assert refused.status_code == 422
    assert [e["msg"] for e in refused.json()["errors"]] == [
        "column 'age': absent from the table; the model was trained with it",
        "column 'city': absent from the table; the model was trained with it"]
    frame["height"] = frame["height"].astype(object)
    frame.loc[3, "height"] = "very"
    bad = api.post(f"/models/{NAME}/predict", content=frame.to_csv(index=False).encode(),
                   headers={**OPERATOR, "Content-Type": "text/csv"})
    assert bad.status_code == 422 and bad.json()["errors"][0]["loc"] == ["body", "rows", "3",
                                                                       "height"]


def test_feedback_and_a_promotion_that_waits_for_approval(api, settings):
    api.post("/deployments", json={"name": NAME, "version": "2", "mode": "shadow"},
             headers=APPROVER)
    sent = rows(table(30, seed=11))
    ids = [f"f{i}" for i in range(30)]
    made = api.post(f"/models/{NAME}/predict", json={"rows": sent, "ids": ids},
                    headers=OPERATOR).json()
    api.app.state.deployments.drain()
    shadow = {r["id"]: r["output"] for r in
              api.app.state.deployments.log.rows(NAME, version="2", role="shadow")}
    early = api.post(f"/deployments/{NAME}/promotion", headers=OPERATOR)
    assert early.status_code == 409 and "send more feedback" in early.json()["detail"]

    truths = [{"id": i, "value": shadow[i]} for i in ids]  # the challenger is right
    fed = api.post("/feedback", json={"feedback": truths + [{"id": "nope", "value": "x"}]},
                   headers=OPERATOR)
    assert fed.json() == {"received": 31, "matched": 30}
    view = api.get(f"/deployments/{NAME}", headers=VIEWER).json()
    metrics = {m["version"]: m for m in view["live_metrics"]}
    assert metrics["2"]["value"] == 1.0 and metrics["1"]["count"] == 30
    assert made["version"] == view["champion"]

    proposal = api.post(f"/deployments/{NAME}/promotion", headers=OPERATOR)
    assert proposal.status_code == 202, proposal.text
    approval_id = proposal.json()["approval_id"]
    queued = api.get("/approvals", headers=VIEWER).json()
    assert [a["action"] for a in queued] == ["promote_challenger"]
    assert api.get(f"/deployments/{NAME}", headers=VIEWER).json()["champion"] == view["champion"]
    decided = api.post(f"/approvals/{approval_id}/approve", json={}, headers=APPROVER)
    assert decided.status_code == 200 and decided.json()["status"] == "approved"
    after = api.get(f"/deployments/{NAME}", headers=VIEWER).json()
    assert (after["champion"], after["challenger"]) == ("2", None)


def test_the_single_model_server_answers_with_health_and_readiness(settings):
    with serve(create_model_app(settings, NAME)) as url:
        assert httpx.get(f"{url}/health").json()["model"] == NAME
        ready = httpx.get(f"{url}/ready")
        assert ready.status_code == 200 and ready.json()["status"] == "ready"
        assert httpx.post(f"{url}/predict", json={"rows": rows(table(1))}).status_code == 401
        made = httpx.post(f"{url}/predict", json={"rows": rows(table(3))}, headers=OPERATOR)
        assert made.status_code == 200 and made.headers["X-Model-Version"] == ready.json()["version"]
        other = httpx.post(f"{url}/models/other/predict", json={"rows": rows(table(1))},
                           headers=OPERATOR)
        assert other.status_code == 404
        fed = httpx.post(f"{url}/feedback", json={"feedback": [
            {"id": made.json()["ids"][0], "value": "tall"}]}, headers=OPERATOR)
        assert fed.json() == {"received": 1, "matched": 1}
    with serve(create_model_app(settings, "absent-model")) as url:
        assert httpx.get(f"{url}/ready").status_code == 503


def test_a_promotion_is_approved_on_the_web_page(settings):
    from tests.interfaces.test_web import signed_in, token

    app = create_app(settings, workers=0)
    with serve(app) as url:
        ops = {"headers": APPROVER}
        httpx.post(f"{url}/deployments", json={"name": NAME, "version": "2"}, **ops)
        httpx.post(f"{url}/deployments", json={"name": NAME, "version": "1", "mode": "shadow"},
                   **ops)
        ids = [f"w{i}" for i in range(25)]
        httpx.post(f"{url}/models/{NAME}/predict", json={"rows": rows(table(25, seed=13)),
                                                         "ids": ids}, headers=OPERATOR)
        app.state.deployments.drain()
        shadow = {r["id"]: r["output"] for r in
                  app.state.deployments.log.rows(NAME, version="1", role="shadow")}
        httpx.post(f"{url}/feedback", json={"feedback": [{"id": i, "value": shadow[i]}
                                                         for i in ids]}, headers=OPERATOR)
        approval_id = httpx.post(f"{url}/deployments/{NAME}/promotion",
                                 headers=OPERATOR).json()["approval_id"]
        alice = signed_in(url, "ap-key")
        try:
            page = alice.get("/ui/approvals").text
            assert f"promote {NAME} v1 to champion in place of v2" in page
            assert f"{NAME} (deployment" in page
            done = alice.post(f"/ui/approvals/{approval_id}/decide",
                              data={"decision": "approve", "csrf": token(page)})
            assert done.status_code == 200
        finally:
            alice.close()
        status = httpx.get(f"{url}/deployments/{NAME}", headers=VIEWER).json()
        assert (status["champion"], status["challenger"]) == ("1", None)
        assert status["history"][0]["by"] == "alice"


def test_metrics_count_predictions_per_version_and_need_a_key(api):
    assert api.get("/metrics").status_code == 401
    before = api.get("/metrics", headers=VIEWER).text
    api.post(f"/models/{NAME}/predict", json={"rows": rows(table(4))}, headers=OPERATOR)
    api.post(f"/models/{NAME}/predict", json={"rows": [{}]}, headers=OPERATOR)
    text = api.get("/metrics", headers=VIEWER).text
    version = api.get(f"/deployments/{NAME}", headers=VIEWER).json()["champion"]
    assert f'mlpilot_predictions_total{{model="{NAME}",version="{version}"}}' in text
    assert f'mlpilot_predict_requests_total{{model="{NAME}",outcome="refused",version=""}}' in text
    assert "mlpilot_predict_latency_seconds_bucket" in text and "mlpilot_approvals_waiting" in text
    assert _value(text, f'mlpilot_predictions_total{{model="{NAME}",version="{version}"}}') == (
        _value(before, f'mlpilot_predictions_total{{model="{NAME}",version="{version}"}}') + 4)


def _value(text: str, series: str) -> float:
    for line in text.splitlines():
        if line.startswith(series + " "):
            return float(line.split()[-1])
    return 0.0


def test_the_drift_page_plots_training_against_live_per_feature(settings, tmp_path):
    from tests.interfaces.test_web import signed_in

    app = create_app(settings, workers=0)
    reference = tmp_path / "train.csv"
    table(300).to_csv(reference, index=False)
    with serve(app) as url:
        deployments = app.state.deployments
        deployments.predict(NAME, rows(table(60, seed=17, shift=25.0)))
        version = deployments.champion(NAME)
        # the model was registered by hand: keep its training sample where the monitor looks
        kept = settings.data_dir / "deployments" / NAME / f"reference-v{version}.parquet"
        kept.parent.mkdir(parents=True, exist_ok=True)
        table(300).to_parquet(kept, index=False)
        viewer = signed_in(url, "view-key")
        try:
            page = viewer.get(f"/ui/models/{NAME}/drift")
            assert page.status_code == 200
            assert "<svg" in page.text and "height" in page.text and "(prediction)" in page.text
            assert "training" in page.text and "live" in page.text
            missing = viewer.get("/ui/models/nobody/drift")
            assert "Not found" in missing.text
        finally:
            viewer.close()
