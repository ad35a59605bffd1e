"""`mlpilot plan` runs the roles without the graph: it must leave the job's state exactly as
the compiled graph does up to its training gate (a role added to the graph's first half and
not to `planning.PLAN_ROLES` fails here)."""

from __future__ import annotations

import json

import pytest
from langgraph.checkpoint.memory import InMemorySaver

from mlpilot.agent.graph import build_graph
from mlpilot.agent.planning import check_request, plan_only, plan_view, planning_context
from mlpilot.agent.report import result_document
from mlpilot.agent.settings import Settings
from mlpilot.agent.state import TaskRequest
from tests.conftest import dataset


def _through_the_graph(context, request: TaskRequest, stop: dict) -> dict:
    graph = build_graph(InMemorySaver())
    config = {"configurable": {"thread_id": "plan"}}
    graph.invoke({"request": request.model_dump(mode="json"), "auto_approve": False,
                  "status": "running", "budget_used_s": 0.0}, config, context=context, **stop)
    return graph.get_state(config).values


@pytest.mark.parametrize("text, data", [
    ("predict the species of a penguin", "penguins.csv"),  # one pass
    ("classify the glass type", "glass.csv"),  # the critic drops the row id: a second round
    ("hello there, nice weather", "titanic.csv"),  # the planner asks
])
def test_a_plan_is_the_graphs_first_half(text, data):
    context = planning_context(Settings())
    request = TaskRequest(request=text, data=dataset(data))
    values = _through_the_graph(context, request, {"interrupt_before": ["approve_training"]})
    status = "needs_input" if values.get("status") == "needs_input" else "planned"
    expected = plan_view(result_document(values, status=status))
    got = plan_only(context, request)
    assert json.dumps(got, default=str) == json.dumps(expected, default=str)
    assert got["status"] == status


def test_a_request_check_is_the_graphs_planner():
    context = planning_context(Settings())
    request = TaskRequest(request="predict the species of a penguin", data=dataset("penguins.csv"))
    values = _through_the_graph(context, request, {"interrupt_after": ["planner"]})
    assert check_request(context, request) == {"task": values["task"]}
