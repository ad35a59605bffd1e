"""The job graph: one LangGraph StateGraph, one thread per job, checkpointed in SQLite.

    planner -> config_generator -> validator -> critic -> approve_training
                      ^   (repair loop)  |          |            |
                      +------------------+----------+            v
    engineer_features -> approve_features -> train   (nothing kept: engineer_features -> train)
                                              ^ | fault
                                     fault_doctor <+
    train -> tune -> compress -> evaluate -> approve_registration -> deployer -> report
              ^ |                     |  no better than the baseline: stop with a question ^
              fault_doctor            +----------------------------------------------------+
    (tune -> fault_doctor: a trial past its time slice)

Each edge is typed by the `Command[Literal[...]]` its node returns, or, for the roles that
`mlpilot plan` also runs without LangGraph (`planning.py`), by the `Step[Literal[...]]` its
role returns, which `_add_role` turns into a node. The mermaid drawing of the compiled graph
is pinned by a snapshot test.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, get_args, get_type_hints

from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.graph import START, StateGraph
from langgraph.graph.state import CompiledStateGraph
from langgraph.runtime import Runtime
from langgraph.types import Command

from mlpilot.agent.approval import approve_features, approve_registration, approve_training
from mlpilot.agent.compress import compress
from mlpilot.agent.config_generator import generate_config
from mlpilot.agent.context import JobContext
from mlpilot.agent.critic import critique
from mlpilot.agent.deployer import deploy
from mlpilot.agent.evaluate import evaluate
from mlpilot.agent.fault_doctor import doctor
from mlpilot.agent.feature_engineer import engineer_features
from mlpilot.agent.planner import plan
from mlpilot.agent.report import report
from mlpilot.agent.state import JobState, Step
from mlpilot.agent.trainer import train, tune
from mlpilot.agent.validator import validate_config


def build_graph(checkpointer: BaseCheckpointSaver | None = None) -> CompiledStateGraph:
    """Compile the job graph; pass a checkpointer to make jobs resumable."""
    builder = StateGraph(JobState, context_schema=JobContext)
    _add_role(builder, "planner", plan)
    _add_role(builder, "config_generator", generate_config)
    _add_role(builder, "validator", validate_config)
    _add_role(builder, "critic", critique)
    builder.add_node("approve_training", approve_training)
    builder.add_node("engineer_features", engineer_features)
    builder.add_node("approve_features", approve_features)
    builder.add_node("train", train)
    builder.add_node("fault_doctor", doctor)
    builder.add_node("tune", tune)
    builder.add_node("compress", compress)
    builder.add_node("evaluate", evaluate)
    builder.add_node("approve_registration", approve_registration)
    builder.add_node("deployer", deploy)
    _add_role(builder, "report", report)
    builder.add_edge(START, "planner")
    return builder.compile(checkpointer=checkpointer)


def _add_role(builder: StateGraph, name: str, role: Callable[[JobState, JobContext], Step]) -> None:
    """Add a role that returns a `Step` as a node that returns LangGraph's `Command`, with
    the destinations its `Step[Literal[...]]` names as the node's edges."""

    def node(state: JobState, runtime: Runtime[JobContext]) -> Command:
        step = role(state, runtime.context)
        return Command(goto=step.goto, update=step.update)

    destinations: Any = get_args(get_args(get_type_hints(role)["return"])[0])
    builder.add_node(name, node, destinations=destinations)
