"""The whole API fuzzed with schemathesis (`tests/interfaces/fuzzing.py`): examples, coverage,
fuzzing and the stateful phase (chains of calls that follow the links schemathesis infers,
e.g. a submitted job's `run_id` into its document, events and cancel). No answer may be a
server error or break the schema. Bounded and deterministic: few examples, one seed, no
training (each submitted job is ended at once by a NoTraining worker).
`benchmarks/fuzz.py` runs the same with many more examples."""

from __future__ import annotations

from fastapi import FastAPI, Query
from fastapi.testclient import TestClient

from tests.interfaces.api_fixtures import VIEWER, api_client
from tests.interfaces.fuzzing import PHASES, fuzz, fuzz_app


def test_schemathesis_finds_no_server_error_and_no_answer_off_the_schema(tmp_path):
    app = fuzz_app(tmp_path)
    with TestClient(app):  # starts the worker
        report = fuzz(app, max_examples=3, seed=1, max_steps=6)
    assert not report.failures, "\n".join([report.table(), *report.failures.values()])
    assert not report.errors, report.errors
    assert all(report.phases[phase] > 0 for phase in PHASES if phase != "examples"), report.phases
    for check in ("not_a_server_error", "response_schema_conformance", "status_code_conformance",
                  "content_type_conformance", "negative_data_rejection", "ignored_auth"):
        assert report.ran[check] > 100, report.table()


def test_the_harness_counts_a_server_error_as_a_failure():
    """The counts can fail: an operation that crashes on some inputs is reported."""
    app = FastAPI()

    @app.get("/half", responses={200: {"content": {"application/json": {}}}})
    def half(n: int = Query(ge=0, le=10)) -> dict[str, float]:
        return {"half": 1 / (n - 3) if n != 3 else 1 / 0}  # n == 3 crashes

    report = fuzz(app, max_examples=30, seed=2, phases=("coverage", "fuzzing"), headers={})
    assert report.failed["not_a_server_error"] >= 1, report.table()
    assert any("GET /half" in line for line in report.failures)


def test_a_query_parameter_given_twice_is_refused():
    """Found by the fuzzer: `?status=a&status=b` was answered for `b` alone."""
    with api_client() as api:
        twice = api.get("/jobs?status=queued&status=failed&limit=2", headers=VIEWER)
        assert twice.status_code == 422 and twice.json()["detail"] == (
            "query.status: give this parameter once")
        assert twice.json()["errors"] == [{"loc": ["query", "status"], "msg": "given more "
                                           "than once", "type": "repeated_parameter"}]
        assert api.get("/jobs?status=queued&limit=2", headers=VIEWER).status_code == 200
