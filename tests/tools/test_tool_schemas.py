"""The JSON schema each tool shows the LLM is pinned: a docstring edit that drops a
parameter description, or a renamed argument, fails here."""

import json
from pathlib import Path

import pandas as pd
import pytest

from mlpilot.tools import agent_tools, features, training
from mlpilot.tools.base import risk_of, typed_tool

SNAPSHOTS = Path(__file__).parent / "snapshots"
LLM_TOOLS = [agent_tools.describe_column_tool(pd.DataFrame({"a": [1]})), agent_tools.submit_task_spec,
             agent_tools.ask_user, agent_tools.choose_config,
             agent_tools.submit_training_config, agent_tools.apply_fix,
             agent_tools.submit_transforms]


@pytest.mark.parametrize("tool", LLM_TOOLS, ids=lambda t: t.name)
def test_tool_schema_matches_snapshot(tool):
    schema = tool.tool_call_schema.model_json_schema()
    snapshot = SNAPSHOTS / f"{tool.name}.json"
    assert schema == json.loads(snapshot.read_text()), f"regenerate {snapshot} if this is on purpose"


@pytest.mark.parametrize("tool", LLM_TOOLS + [training.train_model, training.tune_model,
                                              training.evaluate_model, training.register_model,
                                              features.serve_feature_code])
def test_every_tool_declares_a_risk_level(tool):
    assert risk_of(tool) in {"low", "medium", "high", "critical"}


def test_registering_a_model_is_high_risk():
    assert risk_of(training.register_model) == "high"


def test_saving_code_that_runs_at_every_prediction_is_high_risk():
    assert risk_of(features.serve_feature_code) == "high"


def test_a_tool_without_parameter_descriptions_is_refused():
    with pytest.raises(ValueError):

        @typed_tool(risk="low")
        def undocumented(x: int) -> int:
            """Does something."""
            return x
