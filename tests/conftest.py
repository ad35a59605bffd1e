"""Suite-wide fixtures: an isolated data directory per test, no real LLM calls, and a
private PostgreSQL server for the tests that need one."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

DATASETS = Path(__file__).resolve().parents[2] / "shared" / "datasets"
EXAMPLES = Path(__file__).resolve().parents[1] / "examples"

os.environ.setdefault("MLFLOW_LOGGING_LEVEL", "WARNING")
os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
os.environ.setdefault("GIT_PYTHON_REFRESH", "quiet")


def dataset(name: str) -> Path:
    """A shared dataset, or the bundled copy of penguins when the shared folder is absent."""
    path = DATASETS / name
    if path.exists():
        return path
    bundled = EXAMPLES / name
    if bundled.exists():
        return bundled
    pytest.skip(f"dataset {name} is not available here")


@pytest.fixture(autouse=True)
def _isolated(tmp_path_factory, monkeypatch):
    """Each test gets its own data directory, no LLM provider is configured, and the knowledge
    base embeds with the hashing function (fast); tests that want MiniLM set it back.

    The data roots (what servers and the chat may read) are the shared datasets, the bundled
    examples and the session's temporary folders; tests of the roots set their own."""
    data_dir = tmp_path_factory.mktemp("mlpilot")
    monkeypatch.setenv("MLPILOT_DATA_DIR", str(data_dir))
    monkeypatch.setenv("MLPILOT_DATA_ROOTS", ",".join(
        str(p) for p in (DATASETS, EXAMPLES, tmp_path_factory.getbasetemp())))
    monkeypatch.setenv("MLPILOT_EMBEDDING", "hashing")
    for var in ("OPENAI_API_KEY", "ANTHROPIC_API_KEY", "MLPILOT_LLM_BASE_URL",
                "MLPILOT_LLM_PROVIDER", "MLPILOT_LLM_API_KEY", "MLPILOT_DATABASE_URL",
                "MLPILOT_MLFLOW_TRACKING_URI"):
        monkeypatch.delenv(var, raising=False)
    yield data_dir


@pytest.fixture(autouse=True)
def _no_real_llm(monkeypatch):
    """Any call to a real provider's chat model fails the test."""

    def refuse(*args, **kwargs):
        raise AssertionError("a test tried to call a real LLM service")

    from langchain_anthropic import ChatAnthropic
    from langchain_openai import ChatOpenAI

    for cls in (ChatOpenAI, ChatAnthropic):
        monkeypatch.setattr(cls, "_generate", refuse)
        monkeypatch.setattr(cls, "_agenerate", refuse, raising=False)


@pytest.fixture(scope="session")
def postgres_server():
    """A private PostgreSQL server for the session (see `tests/postgres.py`). Without
    Debian's postgresql package the tests that need it skip, and say so; in CI they fail."""
    from tests.postgres import PostgresServer, postgres_bin

    bin_dir = postgres_bin()
    if bin_dir is None:
        message = ("PostgreSQL is not installed (apt-get install postgresql): "
                   "the tests on PostgreSQL need its initdb and pg_ctl")
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    server = PostgresServer(bin_dir).start()
    yield server
    server.stop()


@pytest.fixture
def postgres_url(postgres_server) -> str:
    """A fresh, empty database on the private server (its URL)."""
    return postgres_server.database()


@pytest.fixture(params=["sqlite", "postgres"])
def state_location(request, tmp_path):
    """Where a store keeps its state, once per backend: a SQLite file, a PostgreSQL URL."""
    if request.param == "sqlite":
        return tmp_path / "state.sqlite"
    return request.getfixturevalue("postgres_url")
