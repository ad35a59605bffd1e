"""Metric, goal, budget and task intent read from requests, in English and Chinese, each
field on its own: none of them depends on the target being found."""

from __future__ import annotations

import pytest

from mlpilot.agent.understanding import (
    MetricReading,
    find_drop_columns,
    parse_budget,
    parse_goal,
    parse_metric,
    read_metric,
    read_task_intent,
    understand,
)

METRICS = [
    # Chinese names of contract metrics
    ("模型的准确率要高", "accuracy"), ("用AUC评估", "roc_auc"), ("看均方误差", "rmse"),
    ("平均绝对误差越小越好", "mae"), ("均方根误差", "rmse"), ("以F1值为准", "f1"),
    # precision and recall are contract metrics; recall averaged over the classes
    # ("macro", "balanced") is balanced accuracy, whatever the number of classes
    ("召回率尽量高", "recall"), ("看精确率", "precision"), ("查准率", "precision"),
    ("查全率", "recall"), ("灵敏度要高", "recall"), ("精确率和召回率都要看", "f1"),
    # measures the contract lacks: the nearest contract metric
    ("report log loss", "roc_auc"), ("对数损失越低越好", "roc_auc"), ("cross-entropy", "roc_auc"),
    ("use MAPE", "mae"), ("mean absolute percentage error", "mae"), ("平均绝对百分比误差", "mae"),
    # English forms
    ("score it by MSE", "rmse"), ("mean squared error please", "rmse"),
    ("root mean squared error", "rmse"), ("optimise precision", "precision"),
    ("recall matters most", "recall"), ("area under the curve", "roc_auc"),
    ("sensitivity matters most", "recall"), ("positive predictive value", "precision"),
    ("precision and recall", "f1"),
    ("R squared", "r2"), ("AUC", "roc_auc"), ("how accurate can it get?", "accuracy"),
    ("mean absolute error", "mae"), ("macro recall", "balanced_accuracy"),
    # a metric name inside another word is not that metric: 酒精度 is alcohol content
    ("预测白葡萄酒的酒精度，用MAE评估。", "mae"),
    ("predict the price", None), ("", None),
]


@pytest.mark.parametrize("text, metric", METRICS)
def test_metric_names_in_english_and_chinese(text, metric):
    assert parse_metric(text) == metric


def test_loose_words_for_accuracy_give_way_to_a_metric_named_outright():
    # 精度 ("accuracy", but also the 精度 of 酒精度, alcohol content) is loose: the planner
    # sets it aside when the task is a regression
    assert read_metric("预测酒精度") == MetricReading("accuracy", "精度", None, loose=True)
    assert read_metric("predict the price as accurately as possible, RMSE").metric == "rmse"
    assert read_metric("accuracy, precisely").loose is False


def test_a_metric_read_from_a_near_synonym_says_what_it_stood_for():
    read = read_metric("report the log loss")
    assert read.metric == "roc_auc" and "log loss" in read.evidence
    assert "log loss" in read.note
    read = read_metric("MAPE under 10%")
    assert read.metric == "mae" and "percentage" in read.note
    assert read_metric("accuracy").note is None
    assert read_metric("召回率要高") == MetricReading("recall", "召回率", None)


BUDGETS = [
    ("给你一分半钟", 90.0), ("九十秒", 90.0), ("两分钟以内", 120.0), ("十五秒内跑完", 15.0),
    ("限时三分半钟", 210.0), ("一个半小时", 5400.0), ("two and a half minutes", 150.0),
    ("in under 45s", 45.0), ("准确率九成", None),
    # fractions of a unit, not the unit: "a quarter of an hour" is 15 minutes
    ("a quarter of an hour", 900.0), ("within three quarters of an hour", 2700.0),
    ("a third of a minute", 20.0), ("take half of an hour", 1800.0), ("half a day", 43200.0),
    ("two thirds of a minute, accuracy", 40.0), ("三刻钟", 2700.0), ("半分钟", 30.0),
    ("an hour and a half", 5400.0), ("half an hour", 1800.0), ("a quarter-hour", 900.0),
    ("in a half-hour", 1800.0), ("a quarter hour", 900.0),
]


@pytest.mark.parametrize("text, seconds", BUDGETS)
def test_budgets_in_words_and_numerals(text, seconds):
    assert parse_budget(text) == seconds


GOALS = [
    ("准确率九成", "accuracy", 0.9), ("至少九成的准确率", "accuracy", 0.9),
    ("准确率至少0.9", "accuracy", 0.9), ("准确率95%以上", "accuracy", 0.95),
    ("95%以上", None, 0.95), ("九成五以上", None, 0.95), ("八成以上的F1", "f1", 0.8),
    ("准确率要达到百分之九十", "accuracy", 0.9), ("90% or better", None, 0.9),
    ("accuracy 0.92 or higher", "accuracy", 0.92),
    # "成" in other words is no goal; a count is no goal
    ("帮我完成预测，三成数据缺失也没关系", None, None), ("至少1000行", None, None),
    ("predict species", None, None),
]


@pytest.mark.parametrize("text, metric, goal", GOALS)
def test_goals_in_words_and_numerals(text, metric, goal):
    assert parse_goal(text, metric) == pytest.approx(goal) if goal else parse_goal(text, metric) is None


INTENTS = [
    # stated outright: these decide over the data's shape
    ("How many cylinders does the engine have? It's a classification problem.",
     "classification", True),
    ("Treat the origin codes as categories", "classification", True),
    ("classify each row into one of the codes", "classification", True),
    ("which class does it belong to", "classification", True),
    ("把评分当作类别来预测", "classification", True), ("这是一个分类问题", "classification", True),
    ("Rate the quality as a number", "regression", True), ("run a regression", "regression", True),
    ("预测评分，作为数值", "regression", True), ("回归", "regression", True),
    ("binary classification", "classification", True),
    # asked as a question of amount: a lean, not a statement
    ("How many hours a week does a person work?", "regression", False),
    ("how much is the house worth", "regression", False), ("房子值多少钱", "regression", False),
    # "logistic regression" is a classifier
    ("fit a logistic regression", "classification", True),
    ("predict species", None, False), ("", None, False),
]


@pytest.mark.parametrize("text, kind, stated", INTENTS)
def test_task_intent_from_words(text, kind, stated):
    intent = read_task_intent(text)
    assert intent.kind == kind
    if kind is not None:
        assert intent.stated is stated and intent.evidence


def test_every_field_is_read_without_a_target():
    got = understand("帮我训练一个模型，准确率至少九成，给你一分半钟，不要用 name", ["name", "x", "y"])
    assert got.target is None
    assert (got.metric, got.goal, got.budget_s, got.drop_columns) == (
        "accuracy", 0.9, 90.0, ["name"])


def test_a_possessive_may_stand_before_a_column_to_drop():
    assert find_drop_columns("leave out the car's name and the owners' id",
                             ["name", "id", "mpg"]) == ["name", "id"]


@pytest.mark.parametrize("text, metric", [
    ("F1 is not what I want, use balanced accuracy", "balanced_accuracy"),
    ("not accuracy: optimise the AUC", "roc_auc"),
    ("不要用准确率，用F1", "f1"), ("准确率 doesn't apply here; MAE", "mae"),
    ("accuracy, not F1", "accuracy"),
])
def test_a_metric_the_request_rules_out_is_not_its_metric(text, metric):
    assert parse_metric(text) == metric


@pytest.mark.parametrize("text", [
    "Does this person earn more than 50 thousand dollars a year? F1, 3 minutes.",
    "收入超过5万元吗？用F1", "is the house worth more than 500k dollars?",
])
def test_an_amount_of_money_or_a_magnitude_is_not_a_goal(text):
    assert parse_goal(text, parse_metric(text)) is None


@pytest.mark.parametrize("text, columns, dropped", [
    ("Predict subscription; duration must not be used because it is known after the call.",
     ["duration", "y"], ["duration"]),
    ('Predict "volatile acidity" without using "fixed acidity".',
     ["fixed acidity", "volatile acidity"], ["fixed acidity"]),
    ("Predict pclass, keeping class out of the inputs.", ["pclass", "class"], ["class"]),
    ("Target: acceleration. Metric: MAE. Drop: name.", ["acceleration", "name"], ["name"]),
])
def test_more_ways_to_leave_a_column_out(text, columns, dropped):
    assert find_drop_columns(text, columns) == dropped


@pytest.mark.parametrize("text, goal", [
    ("Predict the rent, error under 5", 5.0), ("predict rent with an error below 50 dollars", 50.0),
    ("预测房租，误差小于5", 5.0), ("keep the average error under 2.5", 2.5),
])
def test_a_bare_error_is_a_loose_mae_and_owns_its_goal(text, goal):
    reading = read_metric(text)
    assert (reading.metric, reading.loose) == ("mae", True)
    assert parse_goal(text, reading.metric) == goal


@pytest.mark.parametrize("text, goal", [
    ("classify it, error rate under 5%", 0.95), ("misclassification rate below 0.1", 0.9),
    ("错误率低于5%", 0.95), ("an error rate of at most 8 percent", 0.92),
])
def test_an_error_rate_is_accuracy_and_its_goal_the_complement(text, goal):
    reading = read_metric(text)
    assert reading.metric == "accuracy" and "error rate" in reading.note
    assert parse_goal(text, "accuracy") == pytest.approx(goal)


def test_named_errors_and_error_rates_are_not_the_bare_error():
    assert read_metric("root mean squared error under 5").metric == "rmse"
    assert read_metric("均方根误差小于5").metric == "rmse"
    assert read_metric("an error rate under 5%").metric == "accuracy"
    assert read_metric("error under 5, R2 at least 0.8").metric == "r2"  # named wins over loose
    assert parse_goal("error under 5, R2 at least 0.8", "r2") == 0.8
    # a bare error is the error of the metric named: its number is that metric's goal
    assert parse_goal("Predict dell's price, error under 2 (RMSE)", "rmse") == 2.0
    assert parse_goal("RMSE please; the error should stay below 3", "rmse") == 3.0


def test_a_near_measure_is_read_as_itself_once_the_contract_has_it(monkeypatch):
    from typing import Literal

    from mlpilot.agent import metric_reading, understanding_lexicon

    assert read_metric("log loss").metric == "roc_auc"
    monkeypatch.setattr(metric_reading, "Metric", Literal["accuracy", "roc_auc", "log loss"])
    assert read_metric("log loss") == MetricReading("log loss", "log loss", None)
    assert "log loss" in understanding_lexicon.NEAR_METRICS
