"""The planner's LLM path, driven by the scripted model: the prompt shows the expert's
evidence, every answer is checked against the data and the request's words, a wrong answer
goes back once with the reason, and a second wrong answer gives way to the expert."""

from __future__ import annotations

import pytest

from mlpilot.agent.context import JobContext, load_request_data
from mlpilot.agent.llm_planner import llm_task
from mlpilot.agent.planner import NeedsInput
from mlpilot.agent.settings import Settings
from mlpilot.agent.state import TaskRequest
from mlpilot.agent.understanding import understand
from mlpilot.engine.data import profile_table
from tests.conftest import dataset
from tests.fakes import ScriptedChatModel, tool_call

#: A generous bound for a prompt of 2,000 tokens at about 4 characters a token.
MAX_PROMPT_CHARS = 2_000 * 4


def plan_with(model: ScriptedChatModel, text: str, data: str = "penguins.csv", **fields):
    request = TaskRequest(request=text, data=dataset(data), **fields)
    df = load_request_data(request)
    understood = understand(text, [str(c) for c in df.columns])
    ctx = JobContext(settings=Settings(), chat_model=model)
    return llm_task(request, understood, df, profile_table(df), ctx)


def spec(target="species", task_type="multiclass", metric="balanced_accuracy", budget_s=60.0, **more):
    return tool_call("submit_task_spec", target=target, task_type=task_type, metric=metric,
                     budget_s=budget_s, **more)


def test_the_prompt_shows_the_evidence_compactly_not_the_profile():
    model = ScriptedChatModel(script=[spec(target="income", task_type="binary", metric="f1",
                                           budget_s=120)])
    task, _ = plan_with(model, "predict whether income is above 50K, f1, 2 minutes", "adult.csv")
    prompt = model.calls[0][0].content
    assert len(prompt) < MAX_PROMPT_CHARS
    assert '- "income" | ' in prompt and "<=50K" in prompt  # candidate, score and sample values
    assert "metric f1, budget_s 120" in prompt  # the expert's readings, as its plan
    assert '"n_missing"' not in prompt  # no profile JSON
    assert (task.target, task.task_type, task.metric, task.budget_s) == ("income", "binary", "f1", 120)


def test_three_species_called_binary_go_back_once_then_the_expert_decides():
    model = ScriptedChatModel(script=[spec(task_type="binary"), spec(task_type="binary")])
    task, why = plan_with(model, "which penguin species is it?")
    assert task.task_type == "multiclass"
    retry = model.calls[1][-1].content
    assert "task_type" in retry and "3 distinct values" in retry and "multiclass, not binary" in retry
    refused = [w for w in why if w[0].startswith("LLM task_type binary refused")]
    assert refused and "used the expert's multiclass" in refused[0][1]


def test_a_wrong_answer_then_a_right_one_is_accepted_and_the_retry_reported():
    model = ScriptedChatModel(script=[spec(target="island"), spec(target="species")])
    task, why = plan_with(model, "predict the species from the island and the bill length")
    assert task.target == "species"
    retry = model.calls[1][-1].content
    assert "'island' is ruled out" in retry
    assert "after one retry" in why[0][1]
    assert not any(d.startswith("LLM ") and "refused" in d for d, _ in why)


def test_a_wrong_target_twice_falls_back_to_the_experts_whole_task():
    model = ScriptedChatModel(script=[spec(target="island"), spec(target="island")])
    task, why = plan_with(model, "predict the species from the island and the bill length")
    assert task.target == "species" and task.task_type == "multiclass"
    assert "refused" in why[0][0] and "used the expert's decision" in why[0][1]


def test_an_invented_goal_and_budget_are_refused_and_the_request_s_values_used():
    model = ScriptedChatModel(script=[spec(goal=0.95, budget_s=300),
                                      spec(goal=0.95, budget_s=300)])
    task, why = plan_with(model, "which penguin species is it? 20 seconds")
    assert task.goal is None and task.budget_s == 20
    retry = model.calls[1][-1].content
    assert "goal" in retry and "budget_s" in retry and "20s" in retry
    decisions = " | ".join(d for d, _ in why)
    assert "LLM goal 0.95 refused" in decisions and "LLM budget_s 300.0 refused" in decisions


def test_a_goal_the_request_writes_is_kept():
    model = ScriptedChatModel(script=[spec(goal=0.9, metric="accuracy")])
    task, _ = plan_with(model, "which penguin species is it? I need 90% accuracy")
    assert task.goal == 0.9 and len(model.calls) == 1


def test_with_no_metric_stated_the_report_names_the_default_used():
    model = ScriptedChatModel(script=[spec(metric="roc_auc")])
    task, why = plan_with(model, "which penguin species is it?")
    assert task.metric in ("accuracy", "balanced_accuracy")
    assert any(d == "LLM metric roc_auc refused" and "no metric stated" in w for d, w in why)


def test_explicit_fields_win_without_a_retry():
    model = ScriptedChatModel(script=[spec(target="island", metric="f1")])
    task, _ = plan_with(model, "do it", target="species", metric="balanced_accuracy")
    assert (task.target, task.metric) == ("species", "balanced_accuracy")
    assert len(model.calls) == 1


def test_asking_when_the_evidence_settles_the_target_goes_back_once_then_the_expert_decides():
    model = ScriptedChatModel(script=[tool_call("ask_user", question="Which column?"),
                                      tool_call("ask_user", question="Which column?")])
    task, why = plan_with(model, "which penguin species is it?")
    assert "settles the target" in model.calls[1][-1].content
    assert task.target == "species" and len(model.calls) == 2
    assert why[0][0] == 'LLM question "Which column?" refused'
    assert "used the expert's decision" in why[0][1]


def test_no_usable_answer_falls_back_to_the_expert():
    from langchain_core.messages import AIMessage

    model = ScriptedChatModel(script=[AIMessage(content="species, I think")] * 5)
    task, why = plan_with(model, "which penguin species is it?")
    assert task.target == "species"
    assert why[0][0] == "LLM gave no task" and "used the expert's decision" in why[0][1]


def test_a_target_the_request_names_outranks_another_column():
    model = ScriptedChatModel(script=[spec(target="island"), spec(target="island")])
    task, why = plan_with(model, "predict the species column, please")
    assert task.target == "species"
    assert "names the column 'species'" in model.calls[1][-1].content
    assert "refused" in why[0][0]


# -- the expert's evidence first: the model confirms what it settles, decides the rest ------


def test_a_settled_target_gets_the_short_confirm_prompt_and_one_capped_call():
    model = ScriptedChatModel(script=[spec(metric="accuracy")])
    _, why = plan_with(model, "Which penguins are Gentoo, Adelie or Chinstrap? accuracy")
    prompt = model.calls[0][0].content
    assert "The expert's evidence settles the plan below" in prompt
    assert "The expert's plan: target \"species\", task_type multiclass" in prompt
    assert "The expert's reading" not in prompt  # the plan says it once
    assert prompt.count('\n- "') == 2  # its two likeliest columns, not five
    assert "Other columns: 5 more" in prompt  # named no more: the evidence settled them
    assert "config_candidate: the training config to start from: 0 the expert's" in prompt
    assert len(model.calls) == 1 and model.bound == [{"max_tokens": 200}]
    assert why[0][1].startswith("confirmed by the LLM")


def test_the_model_may_not_overrule_a_target_the_evidence_settles():
    # the values name species; the model's island is sent back once, then the expert decides
    model = ScriptedChatModel(script=[spec(target="island"), spec(target="island")])
    task, why = plan_with(model, "Which penguins are Gentoo, Adelie or Chinstrap?")
    assert task.target == "species"
    assert "the evidence settles the target: 'species'" in model.calls[1][-1].content
    assert "refused" in why[0][0] and "used the expert's decision" in why[0][1]


def test_when_the_expert_would_ask_the_model_decides_among_the_candidates():
    # nothing in the request tells bill length from bill depth: the expert would ask
    model = ScriptedChatModel(script=[spec(target="bill_depth_mm", task_type="regression",
                                           metric="r2")])
    task, why = plan_with(model, "predict the bill")
    prompt = model.calls[0][0].content
    assert "evidence settles" not in prompt and "Rules:" in prompt
    assert task.target == "bill_depth_mm" and why[0][1].startswith("proposed by the LLM")


def test_a_task_type_the_words_settle_is_the_expert_s_one_the_data_leaves_open_the_model_s():
    # quality is 3..9 in a row: a scale or codes; "as a number" settles it
    said = ScriptedChatModel(script=[spec(target="quality", task_type="multiclass",
                                          metric="accuracy")] * 2)
    task, why = plan_with(said, "predict the wine's quality as a number", "wine_quality_white.csv")
    assert task.task_type == "regression" and task.metric == "r2"
    assert "the evidence says regression, not multiclass" in said.calls[1][-1].content
    assert any(d == "LLM task_type multiclass refused" for d, _ in why)
    unsaid = ScriptedChatModel(script=[spec(target="quality", task_type="multiclass",
                                            metric="accuracy")])
    task, _ = plan_with(unsaid, "predict the wine's quality", "wine_quality_white.csv")
    assert task.task_type == "multiclass" and len(unsaid.calls) == 1


def test_columns_the_request_does_not_leave_out_are_not_dropped():
    model = ScriptedChatModel(script=[spec(drop_columns=["island"])] * 2)
    task, why = plan_with(model, "which penguin species is it?")
    assert task.drop_columns == []
    assert "the request asks to leave out none" in model.calls[1][-1].content
    assert any(d.startswith("LLM drop_columns") for d, _ in why)


def test_a_config_candidate_out_of_range_goes_back_with_the_task():
    model = ScriptedChatModel(script=[spec(config_candidate=7), spec(config_candidate=1)])
    from mlpilot.agent.llm_planner import llm_plan

    request = TaskRequest(request="which penguin species is it?", data=dataset("penguins.csv"))
    df = load_request_data(request)
    understood = understand(request.request, [str(c) for c in df.columns])
    task, _, choice = llm_plan(request, understood, df, profile_table(df),
                               JobContext(settings=Settings(), chat_model=model))
    assert "config_candidate: 7 is not one of 0-3" in model.calls[1][-1].content
    assert choice == {"candidate": 1} and task.target == "species"


def test_a_request_with_no_task_and_no_column_is_answered_by_a_question_not_a_guess():
    model = ScriptedChatModel(script=[spec(), spec()])
    with pytest.raises(NeedsInput):
        plan_with(model, "Build me something with the bird data.")
    assert "names or describes no column" in model.calls[1][-1].content
