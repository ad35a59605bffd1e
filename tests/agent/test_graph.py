"""The graph's shape is pinned: a change to nodes or edges must update the snapshot on purpose."""

from pathlib import Path

from mlpilot.agent.graph import build_graph

SNAPSHOT = Path(__file__).parent / "snapshots" / "graph.mmd"


def test_graph_shape_matches_snapshot():
    drawn = build_graph().get_graph().draw_mermaid()
    assert drawn == SNAPSHOT.read_text(), (
        "the job graph changed; if on purpose, regenerate tests/agent/snapshots/graph.mmd")


def test_every_role_is_a_node():
    nodes = set(build_graph().get_graph().nodes)
    assert {"planner", "config_generator", "validator", "critic", "approve_training", "train",
            "fault_doctor", "tune", "compress", "evaluate", "approve_registration", "deployer",
            "report"} <= nodes
