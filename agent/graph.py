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

Each edge is typed by the `Command[Literal[...]]` its node returns; the mermaid drawing
of the compiled graph is pinned by a snapshot test.
"""

from __future__ import annotations

from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.graph import START, StateGraph
from langgraph.graph.state import CompiledStateGraph

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
from mlpilot.agent.state import JobState
from mlpilot.agent.trainer import train, tune
from mlpilot.agent.validator import validate_config


def build_graph(checkpointer: BaseCheckpointSaver | None = None) -> CompiledStateGraph:
    """Compile the job graph; pass a checkpointer to make jobs resumable."""
    builder = StateGraph(JobState, context_schema=JobContext)
    builder.add_node("planner", plan)
    builder.add_node("config_generator", generate_config)
    builder.add_node("validator", validate_config)
    builder.add_node("critic", critique)
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
    builder.add_node("report", report)
    builder.add_edge(START, "planner")
    return builder.compile(checkpointer=checkpointer)


