"""The LLM path, driven by the scripted chat model: agents answer through tool calls, and a
config the validator chain rejects goes back to the model with the findings to repair."""

from __future__ import annotations

import pytest

from mlpilot.agent.llm import build_chat_model, resolve_provider
from mlpilot.agent.planning import plan_only
from mlpilot.agent.runner import Runner
from mlpilot.agent.settings import Settings
from mlpilot.agent.state import TaskRequest
from tests.conftest import dataset
from tests.fakes import ScriptedChatModel, tool_call

GOOD_CONFIG = {"model": {"family": "mlp", "hidden_sizes": [32]}, "batch_size": 32,
               "max_epochs": 30, "early_stopping_patience": 5,
               "search": {"space": {"batch_size": [16, 32]}}}


def request() -> TaskRequest:
    return TaskRequest(request="which penguin species is it? report accuracy, 20 seconds", data=dataset("penguins.csv"))


def test_planner_and_config_generator_answer_through_tool_calls_and_repair_an_invalid_config():
    model = ScriptedChatModel(script=[
        tool_call("describe_column", name="species"),
        tool_call("submit_task_spec", target="species", task_type="multiclass",
                  metric="accuracy", budget_s=20, goal=0.9),
        # the request states no goal: the answer goes back once, with the reason
        tool_call("submit_task_spec", target="species", task_type="multiclass",
                  metric="accuracy", budget_s=20),
        # The first config is invalid: the schema layer rejects the unknown family.
        tool_call("submit_training_config", config={**GOOD_CONFIG,
                                                     "model": {"family": "transformer"}}),
        tool_call("submit_training_config", config=GOOD_CONFIG),
    ])
    doc = plan_only(Runner(Settings(), chat_model=model), request())

    assert doc["status"] == "planned"
    assert doc["task"]["target"] == "species"
    assert doc["task"]["goal"] is None  # the request states no goal: the LLM's 0.9 is refused
    assert "no goal 0.9" in model.calls[2][-1].content
    assert doc["config"]["model"]["hidden_sizes"] == [32]
    rounds = doc["validation"]["history"]
    assert [r["passed"] for r in rounds] == [False, True]
    assert doc["validation"]["first_pass_valid"] is False
    assert rounds[0]["findings"][0]["field"] == "model.family"
    # The describe_column result went back to the model before it submitted the task.
    assert "species" in model.calls[1][-1].content and "distinct=3" in model.calls[1][-1].content
    # The repair prompt names the field that was wrong.
    assert "model.family" in model.calls[4][0].content


def test_an_invalid_task_spec_gets_a_retry_message_naming_the_field():
    model = ScriptedChatModel(script=[
        tool_call("submit_task_spec", target="beak", task_type="multiclass", metric="accuracy",
                  budget_s=20),
        tool_call("submit_task_spec", target="species", task_type="multiclass", metric="accuracy",
                  budget_s=20),
        tool_call("submit_training_config", config=GOOD_CONFIG),
    ])
    doc = plan_only(Runner(Settings(), chat_model=model), request())
    assert doc["task"]["target"] == "species"
    retry = model.calls[1][-1]
    assert "target" in retry.content and "'beak' is not a column" in retry.content


def test_the_llm_may_ask_the_user_instead_of_guessing():
    model = ScriptedChatModel(script=[tool_call("ask_user", question="Which column is the label?")])
    doc = plan_only(Runner(Settings(), chat_model=model),
                    TaskRequest(request="do something clever", data=dataset("penguins.csv")))
    assert doc["status"] == "needs_input"
    assert doc["question"] == "Which column is the label?"


def test_offline_expert_is_the_default_and_providers_follow_the_settings(monkeypatch):
    assert resolve_provider(Settings()) == "offline"
    assert build_chat_model(Settings()) is None
    monkeypatch.setenv("MLPILOT_LLM_BASE_URL", "http://127.0.0.1:11434/v1")
    settings = Settings()
    assert resolve_provider(settings) == "openai_compatible"
    chat = build_chat_model(settings)
    assert type(chat).__name__ == "ChatOpenAI"
    monkeypatch.delenv("MLPILOT_LLM_BASE_URL")
    monkeypatch.setenv("ANTHROPIC_API_KEY", "test-key")
    assert type(build_chat_model(Settings())).__name__ == "ChatAnthropic"
    with pytest.raises(AssertionError, match="real LLM"):
        build_chat_model(Settings()).invoke("hello")  # the suite refuses real calls
