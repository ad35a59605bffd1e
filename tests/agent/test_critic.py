"""The critic on every shared data set, and its flags through a real (planning) job."""

from __future__ import annotations

import pandas as pd
import pytest

from mlpilot.agent.critic import review
from mlpilot.agent.planning import plan_only, planning_context
from mlpilot.agent.report import markdown
from mlpilot.agent.settings import Settings
from mlpilot.agent.state import TaskRequest
from mlpilot.engine.config import TaskSpec
from tests.conftest import dataset
from tests.guardrails.test_data_checks import MANIFEST, load

# What the critic flags with the planner's default metric: (kind, column, action). Columns
# flagged "drop" or "ask" are exactly the manifest's ID-like and leaky ones; the rest is
# advice a reviewer would give too (titanic and white wine repeat rows; bank marketing is a
# call log in date order, which its authors split by time).
EXPECTED = {
    "penguins": ("balanced_accuracy", set()),
    "titanic": ("accuracy", {("leakage", "alive", "drop"), ("duplicates", None, "advise")}),
    "diamonds": ("r2", set()),
    "auto-mpg": ("r2", {("id_like", "name", "ask")}),
    "adult": ("f1", set()),
    "bank-marketing": ("f1", {("post_outcome", "duration", "ask"),
                              ("temporal", None, "advise")}),
    "german-credit": ("f1", set()),
    "glass": ("balanced_accuracy", {("id_like", "Id", "drop")}),
    "wine-quality-white": ("r2", {("duplicates", None, "advise")}),
    "california-housing": ("r2", set()),
}


@pytest.mark.skipif(not MANIFEST, reason="shared datasets not present")
@pytest.mark.parametrize("name", [d["name"] for d in MANIFEST])
def test_the_critic_flags_what_a_reviewer_would_on_every_shared_data_set(name):
    df, entry = load(name)
    metric, expected = EXPECTED[name]
    task = TaskSpec(target=entry["target"], task_type=entry["task"], metric=metric, budget_s=60)
    flags = review(df, task)
    assert {(f.kind, f.column, f.action) for f in flags} == expected, [f.evidence for f in flags]
    questioned = {f.column for f in flags if f.action in ("drop", "ask")}
    assert questioned == set(entry["id_like_columns"]) | set(entry["leaky_columns"])
    assert all(f.evidence and f.suggestion for f in flags)


def test_an_unsupported_goal_and_shared_test_rows_reach_the_report(tmp_path):
    penguins = pd.read_csv(dataset("penguins.csv")).dropna()
    train = penguins.sample(60, random_state=0)
    test = pd.concat([train.iloc[:6], penguins.drop(train.index).iloc[:4]])
    train.to_csv(tmp_path / "train.csv", index=False)
    test.to_csv(tmp_path / "test.csv", index=False)
    doc = plan_only(planning_context(Settings()), TaskRequest(
        request="predict the species, at least 99% accuracy", data=tmp_path / "train.csv",
        test_data=tmp_path / "test.csv"))

    findings = {f["check_id"]: f for f in doc["findings"]}
    goal = findings["critic.goal"]
    assert goal["field"] == "task.goal" and goal["severity"] == "warning"
    assert "on about 10 test rows one test error costs 0.100" in goal["message"]
    twins = findings["critic.duplicates"]
    assert twins["severity"] == "info" and twins["message"].startswith("6 of the 10 test rows")
    asked = [d for d in doc["decisions"] if d["decision"].startswith("ask (goal)")]
    assert len(asked) == 1 and "cannot be measured" in asked[0]["why"]
    report = markdown(doc)
    assert "(critic.goal)" in report and "ask (goal): lower the goal" in report
