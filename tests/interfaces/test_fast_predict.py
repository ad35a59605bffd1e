"""The prediction hot path: small JSON predictions answered before FastAPI, as the route
answers them, and the requests that arrive together scored in one pass."""

from __future__ import annotations

import asyncio

import pytest

from mlpilot.agent.deployments import NotLoaded, RowsRequest
from mlpilot.agent.settings import Settings
from mlpilot.interfaces.fast_predict import PredictionBatcher, predicted_model
from mlpilot.interfaces.model_app import create_model_app
from tests.deploy_fixtures import NAME, register, rows, table, train
from tests.interfaces.api_fixtures import KEYS, OPERATOR, VIEWER


class _Scripted:
    """A stand-in for `Deployments.predict_many` that records each call."""

    def __init__(self, not_loaded: int = 0):
        self.calls: list[tuple[int, bool]] = []
        self.not_loaded = not_loaded

    def predict_many(self, name, requests, *, load=True):
        self.calls.append((len(requests), load))
        if not load and self.not_loaded:
            self.not_loaded -= 1
            raise NotLoaded("load first")
        return [f"{name}:{r.request_id}" for r in requests]


def test_requests_of_one_turn_are_scored_in_one_pass():
    scripted = _Scripted()
    batcher = PredictionBatcher(lambda: scripted)

    async def main():
        first = await asyncio.gather(*(batcher.submit("m", RowsRequest([{}], str(i)))
                                       for i in range(5)))
        later = await batcher.submit("m", RowsRequest([{}], "later"))
        return first, later

    first, later = asyncio.run(main())
    assert first == [f"m:{i}" for i in range(5)] and later == "m:later"
    assert scripted.calls == [(5, False), (1, False)]


def test_a_pass_that_must_load_first_runs_in_a_thread():
    scripted = _Scripted(not_loaded=1)
    batcher = PredictionBatcher(lambda: scripted)

    async def main():
        return await asyncio.gather(*(batcher.submit("m", RowsRequest([{}], str(i)))
                                      for i in range(3)))

    assert asyncio.run(main()) == ["m:0", "m:1", "m:2"]
    assert scripted.calls == [(3, False), (3, True)]


def test_only_predict_paths_are_taken():
    assert predicted_model("/models/churn/predict") == "churn"
    for path in ("/models/predict", "/models/a/b/predict", "/models/churn/versions", "/jobs"):
        assert predicted_model(path) is None


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    from fastapi.testclient import TestClient

    settings = Settings(data_dir=tmp_path_factory.mktemp("fast"), api_keys=KEYS)
    register(settings, [train(seed=0)])
    with TestClient(create_model_app(settings, NAME)) as made:
        yield made


def test_the_hot_path_answers_as_the_route_does(client):
    sent = {"rows": rows(table(3, seed=1)), "ids": ["a", "b", "c"]}
    fast = client.post("/predict", json=sent, headers={**OPERATOR, "X-Request-Id": "r-1"})
    # a query string always takes the route (the parameters are the route's to check)
    routed = client.post("/predict?missing=as_trained", json=sent,
                         headers={**OPERATOR, "X-Request-Id": "r-1"})
    assert fast.status_code == routed.status_code == 200
    assert fast.json() == routed.json() and fast.json()["ids"] == ["a", "b", "c"]
    for header in ("content-type", "x-model-version", "x-request-id",
                   "content-security-policy", "x-frame-options", "x-content-type-options"):
        assert fast.headers[header] == routed.headers[header], header


def test_refusals_still_come_from_the_route(client):
    bad = rows(table(2))
    bad[1]["height"] = "tall"
    refused = client.post("/predict", json={"rows": bad}, headers=OPERATOR)
    assert refused.status_code == 422
    assert refused.json()["errors"][0]["loc"] == ["body", "rows", "1", "height"]
    assert client.post("/predict", json={"rows": rows(table(1))},
                       headers=VIEWER).status_code == 403
    assert client.post("/predict", json={"rows": []}, headers=OPERATOR).status_code == 422
    assert client.post("/predict", json={"rows": rows(table(1)), "ids": [1]},
                       headers=OPERATOR).status_code == 422
    counted = client.get("/metrics", headers=VIEWER).text
    assert 'outcome="refused"' in counted and 'outcome="ok"' in counted


def test_a_key_taken_away_is_refused_at_once(client):
    sent = {"rows": rows(table(1))}
    assert client.post("/predict", json=sent, headers=OPERATOR).status_code == 200
    settings = client.app.state.settings
    moved = {"other-key": settings.api_keys["op-key"]}  # the same holder, another key
    client.app.state.settings = settings.model_copy(update={"api_keys": moved})
    try:
        assert client.post("/predict", json=sent, headers=OPERATOR).status_code == 401
    finally:
        client.app.state.settings = settings
    assert client.post("/predict", json=sent, headers=OPERATOR).status_code == 200
