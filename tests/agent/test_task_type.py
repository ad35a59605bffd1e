"""Task type by intent: the request's words and metric decide over the data's shape, and
the answer must fit the data (a binary task has two classes, a regression needs numbers)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mlpilot.agent.planner import NeedsInput, expert_task
from mlpilot.agent.planning import plan_only, planning_context
from mlpilot.agent.settings import Settings
from mlpilot.agent.state import TaskRequest
from mlpilot.agent.task_type import can_be_classes
from mlpilot.agent.understanding import RequestError, understand
from mlpilot.engine.data import profile_table
from tests.conftest import dataset
from tests.fakes import ScriptedChatModel, tool_call


def coded(tmp_path, name: str, codes, n: int = 240, seed: int = 0):
    """A CSV whose column `name` holds integer codes drawn from `codes`, with two features."""
    rng = np.random.default_rng(seed)
    df = pd.DataFrame({"reading": rng.normal(size=n), "weight_kg": rng.uniform(1, 9, n),
                       name: rng.choice(codes, n)})
    path = tmp_path / "coded.csv"
    df.to_csv(path, index=False)
    return path


def expert(text: str, data, **fields):
    df = pd.read_csv(data)
    request = TaskRequest(request=text, data=data, **fields)
    return expert_task(request, understand(text, [str(c) for c in df.columns]), df,
                       profile_table(df), 60.0)


@pytest.mark.parametrize("text, codes, task_type", [
    ("classify the outcome", [0, 1, 2], "multiclass"),
    ("predict the outcome; treat it as categories", [1, 2, 3], "multiclass"),
    ("which class is the outcome?", list(range(26)), "multiclass"),
    ("predict the outcome, balanced accuracy", [1, 2, 3], "multiclass"),
    ("predict the outcome as a number", [0, 1, 2, 3, 4, 5], "regression"),
    ("predict the outcome", [1, 2, 3, 4, 5], "regression"),  # no words: a contiguous scale
    ("对 outcome 分类", [0, 1, 2], "multiclass"),
    ("predict the outcome, two classes", [3, 7], "binary"),
])
def test_integer_codes_are_classes_when_the_words_or_metric_say_so(tmp_path, text, codes,
                                                                   task_type):
    task, why = expert(text, coded(tmp_path, "outcome", codes))
    assert task.task_type == task_type
    reason = dict(why)[f"task type {task_type}"]
    assert "outcome" in reason or "value" in reason  # the evidence is named


def test_the_reason_quotes_the_words_that_decided(tmp_path):
    _, why = expert("classify the outcome", coded(tmp_path, "outcome", [0, 1, 2]))
    assert "'classify'" in dict(why)["task type multiclass"]


def test_a_classification_metric_option_makes_integer_codes_classes(tmp_path):
    task, _ = expert("predict the outcome", coded(tmp_path, "outcome", [1, 2, 3]),
                     metric="accuracy")
    assert (task.task_type, task.metric) == ("multiclass", "accuracy")


def test_a_stated_binary_task_on_three_classes_is_multiclass(tmp_path):
    data = tmp_path / "birds.csv"
    pd.DataFrame({"wing": range(90), "kind": ["crow", "jay", "owl"] * 30}).to_csv(data, index=False)
    task, why = expert("predict kind, a yes/no question", data)
    assert task.task_type == "multiclass"
    assert "3 classes" in dict(why)["task type multiclass"]
    task, _ = expert("predict kind", data, task_type="binary")
    assert task.task_type == "multiclass"


def test_a_regression_on_text_is_refused_with_a_clear_error(tmp_path):
    data = tmp_path / "birds.csv"
    pd.DataFrame({"wing": range(90), "kind": ["crow", "jay", "owl"] * 30}).to_csv(data, index=False)
    with pytest.raises(RequestError, match="'kind' holds text.*regression"):
        expert("predict kind as a regression", data)
    with pytest.raises(RequestError, match="'kind' holds text"):
        expert("predict kind", data, task_type="regression")
    # a question of amount is a lean, not a statement: text stays classes
    task, _ = expert("how much kind is it", data, target="kind")
    assert task.task_type == "multiclass"


def test_classification_words_do_not_make_classes_of_a_continuous_target(tmp_path):
    rng = np.random.default_rng(1)
    data = tmp_path / "flow.csv"
    pd.DataFrame({"x": rng.normal(size=200), "flow": rng.normal(size=200) * 10}).to_csv(
        data, index=False)
    task, why = expert("classify flow", data)
    assert task.task_type == "regression"
    assert "distinct" in dict(why)["task type regression"]


@pytest.mark.parametrize("text, target, task_type", [
    ("How many cylinders does the engine have? It's a classification problem.", "cylinders",
     "multiclass"),
    ("Where was each car built? Treat the origin codes as categories.", "origin", "multiclass"),
    ("How many hours a week does a person work?", "hours-per-week", "regression"),
    ("Rate the wine's quality score from its chemistry, as a number", "quality", "regression"),
    ("classify wine quality", "quality", "multiclass"),
])
def test_shared_data_sets(text, target, task_type):
    data = {"cylinders": "mpg.csv", "origin": "mpg.csv", "hours-per-week": "adult.csv",
            "quality": "wine_quality_white.csv"}[target]
    task, _ = expert(text, dataset(data), target=target)
    assert task.task_type == task_type


def test_a_missing_target_keeps_metric_goal_and_budget_and_offers_the_columns(tmp_path):
    # RMSE asks for a quantity, and two columns are quantities: the request cannot say which
    data = coded(tmp_path, "outcome", [0, 1])
    text = "train a model, RMSE at most 0.8, 90 seconds"
    with pytest.raises(NeedsInput) as asked:
        expert(text, data)
    assert {"reading", "weight_kg"} <= set(asked.value.choices)
    doc = plan_only(planning_context(Settings()), TaskRequest(request=text, data=data))
    assert doc["status"] == "needs_input"
    assert doc["task"]["target"] is None
    assert (doc["task"]["metric"], doc["task"]["goal"], doc["task"]["budget_s"]) == (
        "rmse", 0.8, 90.0)
    assert {"reading", "weight_kg"} <= set(doc["choices"])


def test_a_request_with_no_task_asks_what_to_predict(tmp_path):
    data = coded(tmp_path, "outcome", [0, 1])
    doc = plan_only(planning_context(Settings()), TaskRequest(request="hello there, nice weather",
                                                    data=data))
    assert doc["status"] == "needs_input"
    assert "predict" in doc["question"] and "outcome" in doc["choices"]


def test_the_llm_may_not_invent_a_goal_or_call_three_classes_binary():
    model = ScriptedChatModel(script=[
        # wrong twice: sent back once with the reasons, then the expert decides those fields
        *[tool_call("submit_task_spec", target="species", task_type="binary",
                    metric="accuracy", budget_s=20, goal=0.95)] * 2,
        tool_call("choose_config", candidate=0, reason="fits"),  # kept over critic rounds
    ])
    doc = plan_only(planning_context(Settings(), chat_model=model), TaskRequest(
        request="which penguin species is it? 20 seconds", data=dataset("penguins.csv")))
    assert doc["task"]["task_type"] == "multiclass"
    assert doc["task"]["goal"] is None
    assert any("goal 0.95 refused" in d["decision"] and "no goal" in d["why"]
               for d in doc["decisions"])
    assert any("task_type binary refused" in d["decision"] for d in doc["decisions"])


def test_the_llm_keeps_a_goal_the_request_states():
    model = ScriptedChatModel(script=[
        tool_call("submit_task_spec", target="species", task_type="multiclass",
                  metric="accuracy", budget_s=20, goal=0.9),
        tool_call("choose_config", candidate=0, reason="fits"),  # kept over critic rounds
    ])
    doc = plan_only(planning_context(Settings(), chat_model=model), TaskRequest(
        request="which penguin species is it? ninety percent accuracy or better, 20 seconds",
        data=dataset("penguins.csv")))
    assert doc["task"]["goal"] == 0.9


def test_whole_numbers_that_hardly_repeat_are_a_quantity_in_a_small_table():
    """Sixteen yearly GNP figures in thousands: whole numbers with gaps, but a class has
    rows, and here every value is its own."""
    from mlpilot.engine.data import profile_column

    gnp = profile_column(pd.Series([234289, 259426, 258054, 284599, 328975, 346999, 365385,
                                    363112, 397469, 419180, 442769, 444546, 482704, 502601,
                                    518173, 554894], name="GNP"))
    assert not can_be_classes(gnp)
    codes = profile_column(pd.Series([1, 3, 7, 3, 1, 7, 7, 3, 1, 1, 3, 7, 1, 3, 7, 7], name="grade"))
    assert can_be_classes(codes)
