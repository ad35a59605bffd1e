"""The prediction log under concurrent HTTP load: every predicted row is logged once, also
the rows still queued for the log's writer when the server stops."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from mlpilot.agent.settings import Settings
from mlpilot.agent.store.predictions import LoggedPrediction, PredictionLog
from mlpilot.interfaces.model_app import create_model_app
from tests.deploy_fixtures import NAME, register, rows, table, train
from tests.interfaces.api_fixtures import KEYS, OPERATOR
from tests.interfaces.servers import serve


@pytest.fixture(scope="module")
def settings(tmp_path_factory):
    made = Settings(data_dir=tmp_path_factory.mktemp("log-http"), api_keys=KEYS)
    register(made, [train(seed=0)])
    return made


def test_n_requests_leave_n_logged_rows_after_shutdown(settings):
    sizes = [1 + i % 3 for i in range(120)]  # one, two or three rows a request
    bodies = [rows(table(n, seed=i)) for i, n in enumerate(sizes)]

    def send(url: str, i: int) -> httpx.Response:
        return httpx.post(f"{url}/predict", json={"rows": bodies[i]}, timeout=60,
                          headers={**OPERATOR, "X-Request-Id": f"load-{i}"})

    with serve(create_model_app(settings, NAME)) as url, ThreadPoolExecutor(12) as pool:
        answers = list(pool.map(lambda i: send(url, i), range(len(sizes))))
    assert [a.status_code for a in answers] == [200] * len(sizes)
    assert [len(a.json()["predictions"]) for a in answers] == sizes

    logged = PredictionLog(settings.prediction_db).rows(NAME)  # another reader, after the stop
    by_request: dict[str, int] = {}
    for row in logged:
        by_request[row["request_id"]] = by_request.get(row["request_id"], 0) + 1
    assert by_request == {f"load-{i}": n for i, n in enumerate(sizes)}
    first = answers[0].json()
    assert [r["output"] for r in logged if r["request_id"] == "load-0"] == first["predictions"]


def test_rows_appended_from_many_threads_are_written_when_the_log_closes(tmp_path):
    log = PredictionLog(tmp_path / "p.sqlite")

    def append(t: int) -> None:
        for i in range(50):
            log.append([LoggedPrediction(f"{t}-{i}", f"r{t}", "m", "1", "answer", 0.1,
                                         {"x": i}, i)])

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(append, range(8)))
    log.close()
    assert PredictionLog(tmp_path / "p.sqlite").count("m") == 400
    with pytest.raises(RuntimeError, match="closed"):
        log.append([LoggedPrediction("late", "r", "m", "1", "answer", 0.1, {}, 0)])


def test_a_read_right_after_an_append_sees_the_row(tmp_path):
    log = PredictionLog(tmp_path / "p.sqlite")
    log.append([LoggedPrediction("a", "a", "m", "1", "answer", 1.0, {"x": 1}, "yes")])
    assert log.add_feedback({"a": "yes"}) == 1  # the prediction is there to match
    assert [r["id"] for r in log.rows("m")] == ["a"]


def test_each_worker_process_builds_its_app_from_the_environment(settings, monkeypatch):
    from mlpilot.interfaces.model_app import SERVED_MODEL_ENV, model_app_from_environment

    monkeypatch.delenv(SERVED_MODEL_ENV, raising=False)
    with pytest.raises(RuntimeError, match=SERVED_MODEL_ENV):
        model_app_from_environment()
    monkeypatch.setenv(SERVED_MODEL_ENV, NAME)
    monkeypatch.setenv("MLPILOT_DATA_DIR", str(settings.data_dir))
    monkeypatch.setenv("MLPILOT_API_KEYS", json.dumps(KEYS))
    with serve(model_app_from_environment()) as url:
        made = httpx.post(f"{url}/predict", json={"rows": rows(table(2))}, headers=OPERATOR)
    assert made.status_code == 200 and len(made.json()["predictions"]) == 2
