"""A job follows the critic's split advice when told to: a time split and deduplication
reach the engine, and the report says how the rows were split."""

from __future__ import annotations

import pytest

from mlpilot.agent.runner import Runner
from mlpilot.agent.settings import Settings
from mlpilot.agent.state import TaskRequest
from tests.conftest import dataset

pytestmark = pytest.mark.slow


def test_a_job_with_a_time_split_reports_how_it_split():
    request = TaskRequest(request="predict the species of a penguin, 4 seconds",
                          data=dataset("penguins.csv"),
                          training={"split": "time", "deduplicate": True,
                                    "search": {"enabled": False}})
    outcome = Runner(Settings()).start(request, auto_approve=True)

    assert outcome.status == "succeeded"
    (data,) = [d["decision"] for d in outcome.result["decisions"]
               if d["decision"].startswith("data:")]
    assert "split by time (in file order): the latest" in data
    assert outcome.result["config"]["split"] == "time"
