"""The LLM path, driven by the scripted chat model: agents answer through tool calls; the
planner's answer is checked against the data and the words, and the config generator picks
among the expert's candidate configs instead of writing one."""

from __future__ import annotations

import pytest

from mlpilot.agent.llm import build_chat_model, resolve_provider
from mlpilot.agent.planning import plan_only, planning_context
from mlpilot.agent.settings import Settings
from mlpilot.agent.state import TaskRequest
from tests.conftest import dataset
from tests.fakes import ScriptedChatModel, tool_call


def request() -> TaskRequest:
    return TaskRequest(request="which penguin species is it? report accuracy, 20 seconds", data=dataset("penguins.csv"))


def test_planner_and_config_generator_answer_through_tool_calls():
    model = ScriptedChatModel(script=[
        tool_call("describe_column", name="species"),
        tool_call("submit_task_spec", target="species", task_type="multiclass",
                  metric="accuracy", budget_s=20, goal=0.9),
        # the request states no goal: the answer goes back once, with the reason
        tool_call("submit_task_spec", target="species", task_type="multiclass",
                  metric="accuracy", budget_s=20),
        # the config generator picks a candidate and adjusts a field it can judge
        tool_call("choose_config", candidate=1, family="resnet", max_epochs=50,
                  reason="trees suit small data"),
    ])
    doc = plan_only(planning_context(Settings(), chat_model=model), request())

    assert doc["status"] == "planned"
    assert doc["task"]["target"] == "species"
    assert doc["task"]["goal"] is None  # the request states no goal: the LLM's 0.9 is refused
    assert "no goal 0.9" in model.calls[2][-1].content
    assert doc["config"]["model"]["family"] == "resnet" and doc["config"]["max_epochs"] == 50
    assert doc["config"]["search"]["space"]["families"][0] == "hist_gbt"
    assert doc["validation"]["first_pass_valid"] is True
    chosen = [d for d in doc["decisions"] if d["stage"] == "config_generator"]
    assert "chosen by the LLM: candidate 1" in chosen[0]["why"]
    assert "adjusted family resnet, max_epochs 50" in chosen[0]["why"]
    # The describe_column result went back to the model before it submitted the task.
    assert "species" in model.calls[1][-1].content and "distinct=3" in model.calls[1][-1].content
    # The config prompt lists the expert's candidates, one line each, and stays short.
    prompt = model.calls[3][0].content
    assert "0: the expert's config" in prompt and "3: " in prompt and len(prompt) < 2_000 * 4


def test_a_config_choice_out_of_range_goes_back_once_then_the_expert_config_is_used():
    model = ScriptedChatModel(script=[
        tool_call("submit_task_spec", target="species", task_type="multiclass",
                  metric="accuracy", budget_s=20),
        tool_call("choose_config", candidate=7, reason="?"),
        tool_call("choose_config", candidate=0, learning_rate=3.0, reason="fast"),
    ])
    doc = plan_only(planning_context(Settings(), chat_model=model), request())
    assert "candidate: 7 is not one of 0-3" in model.calls[2][-1].content
    chosen = [d for d in doc["decisions"] if d["stage"] == "config_generator"]
    assert "refused" in chosen[0]["why"] and "used the expert's config" in chosen[0]["why"]
    assert doc["config"]["optimizer"]["learning_rate"] == 2e-3  # the expert's


def test_an_invalid_task_spec_gets_a_retry_message_naming_the_field():
    model = ScriptedChatModel(script=[
        tool_call("submit_task_spec", target="beak", task_type="multiclass", metric="accuracy",
                  budget_s=20),
        tool_call("submit_task_spec", target="species", task_type="multiclass", metric="accuracy",
                  budget_s=20),
        tool_call("choose_config", candidate=0, reason="the expert's sizing fits"),
    ])
    doc = plan_only(planning_context(Settings(), chat_model=model), request())
    assert doc["task"]["target"] == "species"
    retry = model.calls[1][-1]
    assert "target" in retry.content and "'beak' is not a column" in retry.content


def test_the_llm_may_ask_the_user_instead_of_guessing():
    model = ScriptedChatModel(script=[tool_call("ask_user", question="Which column is the label?")])
    doc = plan_only(planning_context(Settings(), chat_model=model),
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


def test_a_critic_round_reapplies_the_llm_s_config_choice_without_a_new_call():
    # The critic drops the leaking 'alive' and sends the task back to the config generator.
    model = ScriptedChatModel(script=[
        tool_call("submit_task_spec", target="survived", task_type="binary", metric="accuracy",
                  budget_s=60),
        tool_call("choose_config", candidate=2, reason="small data"),
    ])
    doc = plan_only(planning_context(Settings(), chat_model=model), TaskRequest(
        request="predict whether the passenger survived", data=dataset("titanic.csv")))
    assert "alive" in doc["task"]["drop_columns"]
    assert len(model.calls) == 2
    chosen = [d["why"] for d in doc["decisions"] if d["stage"] == "config_generator"]
    assert "candidate 2" in chosen[0] and "earlier choice again: candidate 2" in chosen[1]
    assert doc["config"]["max_epochs"] <= 100  # the small fast network's limit


def test_one_call_plans_the_task_and_picks_the_config():
    model = ScriptedChatModel(script=[
        tool_call("submit_task_spec", target="species", task_type="multiclass",
                  metric="accuracy", budget_s=20, config_candidate=1),
    ])
    doc = plan_only(planning_context(Settings(), chat_model=model), request())
    assert len(model.calls) == 1  # the config generator made no call of its own
    chosen = [d["why"] for d in doc["decisions"] if d["stage"] == "config_generator"]
    assert chosen[0].startswith("chosen by the LLM with the task: candidate 1")
    assert doc["config"]["search"]["space"]["families"][0] == "hist_gbt"
