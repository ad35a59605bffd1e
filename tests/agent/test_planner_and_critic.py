"""Planner and critic on the real data sets: what they decide, and why."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mlpilot.agent.planning import plan_only, planning_context
from mlpilot.agent.settings import Settings
from mlpilot.agent.state import TaskRequest
from tests.conftest import dataset


def plan(text: str, data: str, **fields) -> dict:
    return plan_only(planning_context(Settings()), TaskRequest(request=text, data=dataset(data), **fields))


@pytest.mark.parametrize("text, data, target, task_type, metric", [
    ("predict the species of a penguin", "penguins.csv", "species", "multiclass",
     "balanced_accuracy"),
    ("what type of glass is it?", "glass.csv", "Type", "multiclass", "balanced_accuracy"),
    ("predict wine quality", "wine_quality_white.csv", "quality", "regression", "r2"),
    ("predict whether the passenger survived", "titanic.csv", "survived", "binary", "accuracy"),
    ("predict the median house value", "california_housing.csv", "median_house_value",
     "regression", "r2"),
])
def test_planner_reads_target_task_type_and_a_sensible_default_metric(text, data, target,
                                                                      task_type, metric):
    doc = plan(text, data)
    assert (doc["task"]["target"], doc["task"]["task_type"], doc["task"]["metric"]) == (
        target, task_type, metric)
    assert doc["status"] == "planned"


def test_planner_understands_chinese_budget_goal_and_metric():
    doc = plan("预测 species，准确率至少95%，三分钟", "penguins.csv")
    assert doc["task"] == {"target": "species", "task_type": "multiclass", "metric": "accuracy",
                           "goal": 0.95, "budget_s": 180.0, "drop_columns": []}


def test_explicit_fields_win_over_the_request():
    doc = plan("predict species within 2 minutes", "penguins.csv", target="island",
               metric="accuracy", budget_s=30)
    assert (doc["task"]["target"], doc["task"]["metric"], doc["task"]["budget_s"]) == (
        "island", "accuracy", 30)


def test_critic_drops_a_leaky_column_with_evidence_and_regenerates_the_config():
    doc = plan("predict whether the passenger survived, accuracy", "titanic.csv")
    assert "alive" in doc["task"]["drop_columns"]
    dropped = [d for d in doc["decisions"] if d["stage"] == "critic" and "alive" in d["decision"]]
    assert dropped and "1.0" in dropped[0]["why"]  # the score that gave it away
    stages = [d["stage"] for d in doc["decisions"]]
    # after the critic's drop the config is generated and validated again
    assert stages.count("config_generator") == 2
    assert any(f["check_id"] == "critic.leakage" for f in doc["findings"])


def test_critic_switches_a_misleading_default_metric_but_keeps_a_stated_one():
    switched = plan("predict the income bracket", "adult.csv", na_values=["?"])
    assert switched["task"]["metric"] == "f1"  # imbalanced binary: planner's default already
    stated = plan("predict the income bracket, optimise accuracy", "adult.csv", na_values=["?"])
    assert stated["task"]["metric"] == "accuracy"
    assert any(f["check_id"] == "critic.imbalance" for f in stated["findings"])


def test_the_first_config_passes_validation_without_repair_on_every_data_set():
    for text, data in [("predict species", "penguins.csv"), ("predict price", "diamonds.csv"),
                       ("predict the class", "german_credit.csv"), ("predict mpg", "mpg.csv")]:
        doc = plan(text, data)
        assert doc["validation"]["first_pass_valid"] is True, (data, doc["validation"])


def test_precision_and_recall_are_planned_as_themselves_and_name_the_positive_class():
    doc = plan("Did the passenger survive? Recall matters most, at least 0.8.", "titanic.csv")
    assert (doc["task"]["metric"], doc["task"]["goal"]) == ("recall", 0.8)
    [positive] = [d for d in doc["decisions"] if d["decision"].startswith("positive class")]
    assert positive["decision"] == "positive class 1 for recall"
    assert "38% of the rows" in positive["why"] and "majority" not in positive["why"]
    doc = plan("预测企鹅的种类，精确率优先", "penguins.csv")
    assert (doc["task"]["metric"], doc["task"]["task_type"]) == ("precision", "multiclass")
    assert not any(d["decision"].startswith("positive class") for d in doc["decisions"])


def test_recall_on_a_majority_positive_class_says_the_baseline_already_scores_1(tmp_path):
    data = tmp_path / "mostly_yes.csv"
    rows = [{"x": i % 7, "z": i % 3, "ok": "yes" if i % 5 else "no"} for i in range(100)]
    pd.DataFrame(rows).to_csv(data, index=False)
    doc = plan_only(planning_context(Settings()), TaskRequest(request="predict ok, recall", data=data))
    [positive] = [d for d in doc["decisions"] if d["decision"].startswith("positive class")]
    assert positive["decision"] == "positive class 'yes' for recall"
    assert "majority" in positive["why"] and "recall 1.00" in positive["why"]


def test_a_loose_metric_word_does_not_pick_the_target(tmp_path):
    # "errors" may mean MAE, but loosely: it must not pull the target towards a quantity
    rng = np.random.default_rng(3)
    data = tmp_path / "listings.csv"
    pd.DataFrame({"asking_price": rng.normal(300, 50, 120).round(1),
                  "rooms": rng.integers(1, 6, 120),
                  "sold": rng.choice(["yes", "no"], 120)}).to_csv(data, index=False)
    doc = plan_only(planning_context(Settings()), TaskRequest(
        request="Will the listing be sold? Keep the errors low.", data=data))
    assert doc["status"] == "planned", doc.get("question")
    assert (doc["task"]["target"], doc["task"]["task_type"]) == ("sold", "binary")
    assert doc["task"]["metric"] != "mae"


def test_an_identifier_like_year_that_is_the_only_input_is_kept(tmp_path):
    """A yearly series: the year is unique and in row order, as a row number is, but
    dropping it would leave nothing to learn from, so the critic keeps it and says why."""
    rng = np.random.default_rng(2)
    path = tmp_path / "yearly.csv"
    pd.DataFrame({"year": np.arange(1800, 2000),
                  "rainfall": rng.gamma(4, 20, 200).round(1)}).to_csv(path, index=False)
    doc = plan_only(planning_context(Settings()),
                    TaskRequest(request="predict the rainfall", data=str(path)))
    assert doc["status"] == "planned", doc.get("error")
    assert "year" not in doc["task"]["drop_columns"]
    assert any("keep column 'year'" in d["decision"] for d in doc["decisions"])


def test_a_table_of_fifteen_rows_is_planned_with_smaller_splits(tmp_path):
    """Small econometric tables (16-20 rows) are data too: the splits shrink to leave
    enough rows to train on, instead of the plan failing after three repair rounds."""
    rng = np.random.default_rng(4)
    path = tmp_path / "small.csv"
    x = rng.normal(size=(15, 3))
    pd.DataFrame({"gnp": x[:, 0], "armed": x[:, 1], "pop": x[:, 2],
                  "employment": x @ [2.0, 1.0, -1.0] + rng.normal(0, 0.1, 15)}).to_csv(path,
                                                                                  index=False)
    doc = plan_only(planning_context(Settings()),
                    TaskRequest(request="predict employment", data=str(path)))
    assert doc["status"] == "planned", doc.get("error")
    assert doc["config"]["validation_fraction"] < 0.15
