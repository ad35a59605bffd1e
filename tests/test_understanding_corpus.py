"""The request corpus of benchmarks/understanding.py is well formed, and its scorer scores
hand-made plan documents right. No planning here: the benchmark itself does that."""

from __future__ import annotations

import sys
from functools import cache
from pathlib import Path

import pandas as pd
import pytest

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"
sys.path.insert(0, str(BENCHMARKS))

import public_data  # benchmarks/ is a folder of scripts, not a package
import understanding_scoring as scoring

CATEGORIES = {"meaning", "question", "column_named", "integer_classes", "task_words", "metric",
              "budget", "goal", "drop", "leak", "ask"}
TASKS = {"binary", "multiclass", "regression"}
METRICS = {"accuracy", "balanced_accuracy", "f1", "roc_auc", "precision", "recall",
           "r2", "rmse", "mse", "mae"}


@cache
def columns(ref: str) -> list[str]:
    """The columns of a corpus entry's data (public ones built in memory)."""
    if public_data.is_public(ref):
        return [str(c) for c in public_data.frame(ref.removeprefix(public_data.PREFIX)).columns]
    return [str(c) for c in pd.read_csv(scoring.SHARED / "datasets" / ref, nrows=0).columns]


@pytest.fixture(scope="module")
def corpus():
    if not scoring.PARTS["shared"].exists():
        pytest.skip("../shared/requests/dev.yaml is not available here")
    return scoring.load_corpus()


def test_sizes_and_parts(corpus):
    by_part = {p: [c for c in corpus if c.part == p] for p in scoring.PARTS}
    assert len(by_part["held_out"]) >= 100
    assert len(corpus) >= 250
    texts = [c.request for c in corpus]
    assert len(texts) == len(set(texts)), "a request appears twice in the corpus"
    public = {p: {c.data for c in cases if public_data.is_public(c.data)} for p, cases in by_part.items()}
    assert len(public["dev"] | public["held_out"]) >= 4
    assert public["held_out"] - public["dev"] - public["dev_new"] - public["shared"], \
        "held_out must use a public data set that no tuned-on part uses"
    # dev_new was written over tables no other part uses, before the rules it measures
    assert len(by_part["dev_new"]) >= 60
    assert public["dev_new"] and not public["dev_new"] & (public["dev"] | public["held_out"])
    assert {c.data for c in by_part["dev_new"]} == public["dev_new"]
    # so was dev_r3 (third round), over plotly's sample tables
    others = public["dev"] | public["dev_new"] | public["held_out"]
    assert len(by_part["dev_r3"]) >= 40
    assert public["dev_r3"] and not public["dev_r3"] & others
    assert {c.data for c in by_part["dev_r3"]} == public["dev_r3"]
    # and dev_r4 (fourth round), over statsmodels' tables and plotly's election
    others |= public["dev_r3"]
    assert len(by_part["dev_r4"]) >= 40
    assert public["dev_r4"] and not public["dev_r4"] & others
    assert {c.data for c in by_part["dev_r4"]} == public["dev_r4"]
    # and dev_r5, the round's second probe
    others |= public["dev_r4"]
    assert len(by_part["dev_r5"]) >= 30
    assert public["dev_r5"] and not public["dev_r5"] & others
    assert {c.data for c in by_part["dev_r5"]} == public["dev_r5"]


def test_every_entry_names_real_data_and_columns(corpus):
    for case in corpus:
        where = f"{case.key} {case.request!r}"
        assert public_data.is_public(case.data) or (scoring.SHARED / "datasets" / case.data).exists(), where
        cols = columns(case.data)
        expect = case.expect
        if expect.get("status") == "needs_input":
            assert "target" not in expect, where
            continue
        assert expect.get("status", "planned") == "planned", where
        targets = expect["target"] if isinstance(expect["target"], list) else [expect["target"]]
        assert all(t in cols for t in targets), where
        assert expect["task"] in TASKS, where
        metrics = expect.get("metric", [])
        assert set(metrics if isinstance(metrics, list) else [metrics]) <= METRICS, where
        for name in ("drop", "leak"):
            assert set(expect.get(name, [])) <= set(cols), f"{where}: {name}"
        assert not set(targets) & set(expect.get("drop", [])), where
        assert expect.get("budget_s", 60) > 0, where


def test_categories_and_languages(corpus):
    for part in ("dev", "dev_new", "dev_r3", "dev_r4", "dev_r5", "held_out"):
        cases = [c for c in corpus if c.part == part]
        assert all(c.categories and set(c.categories) <= CATEGORIES for c in cases), part
        assert {cat for c in cases for cat in c.categories} == CATEGORIES, part
        chinese = sum(c.language == "zh" for c in cases) / len(cases)
        assert 0.2 <= chinese <= 0.45, f"{part}: {chinese:.0%} of requests in Chinese"
        asks = [c for c in cases if c.expect.get("status") == "needs_input"]
        assert all("ask" in c.categories for c in asks) and len(asks) >= 5, part


def plan(target="survived", task="binary", metric="f1", budget=60.0, goal=None, drop=(),
         findings=(), status="planned"):
    """A plan document shaped as `mlpilot plan --json` prints it."""
    if status == "needs_input":
        return {"status": status, "question": "Which column should I predict?", "task": None}
    return {"status": status, "task": {"target": target, "task_type": task, "metric": metric,
                                       "goal": goal, "budget_s": budget,
                                       "drop_columns": list(drop)},
            "config": {"preprocessing": {"drop_columns": []}}, "findings": list(findings)}


def leak_finding(column, check="critic.leakage"):
    return {"check_id": check, "severity": "warning", "field": "task.drop_columns",
            "message": f"{column!r} alone predicts the target; runner-up 'who' 0.78",
            "hint": f"drop column {column!r}: it gives the target away"}


def wrong(expect, doc, empty=frozenset()):
    """The fields scored wrong, by name."""
    outcome = scoring.PlanOutcome(doc=doc)
    return {s.field for s in scoring.score_plan(expect, outcome, set(empty)) if not s.ok}


def test_a_right_plan_scores_every_field_right():
    expect = {"target": "survived", "task": "binary", "metric": "f1", "budget_s": 45,
              "leak": ["alive"]}
    doc = plan(budget=45.0, drop=["alive"], findings=[leak_finding("alive")])
    scores = scoring.score_plan(expect, scoring.PlanOutcome(doc=doc))
    assert {s.field for s in scores} == {"status", "target", "task", "metric", "budget_s",
                                         "goal", "leak"}
    assert all(s.ok for s in scores)


def test_defaults_budget_60_and_no_goal():
    assert wrong({"target": "survived", "task": "binary"}, plan()) == set()
    assert wrong({"target": "survived", "task": "binary"}, plan(budget=90.0, goal=0.9)) == {
        "budget_s", "goal"}
    assert wrong({"target": "survived", "task": "binary", "goal": 0.9}, plan(goal=0.9)) == set()


def test_wrong_target_task_and_metric_lists():
    expect = {"target": ["pclass", "class"], "task": "multiclass", "metric": ["rmse", "mse"]}
    assert wrong(expect, plan(target="class", task="multiclass", metric="mse")) == set()
    assert wrong(expect, plan(target="fare", task="regression", metric="mae")) == {
        "target", "task", "metric"}


def test_drop_must_cover_the_ask_and_nothing_unexplained():
    expect = {"target": "survived", "task": "binary", "drop": ["deck"]}
    assert wrong(expect, plan(drop=["deck"])) == set()
    assert wrong(expect, plan(drop=[])) == {"drop"}
    assert wrong(expect, plan(drop=["deck", "fare"])) == {"drop"}  # dropped unasked, unflagged
    assert wrong(expect, plan(drop=["deck", "alive"], findings=[leak_finding("alive")])) == set()
    assert wrong(expect, plan(drop=["deck", "blank"]), empty={"blank"}) == set()


def test_leak_flagged_or_dropped_but_never_the_target():
    expect = {"target": "survived", "task": "binary", "leak": ["alive"]}
    assert wrong(expect, plan(findings=[leak_finding("alive", "critic.post_outcome")])) == set()
    assert wrong(expect, plan(drop=["alive"])) == set()
    assert wrong(expect, plan(findings=[leak_finding("who")])) == {"leak"}
    assert wrong(expect, plan(findings=[{"check_id": "critic.duplicates", "hint": "'alive'"}])) == {"leak"}
    assert wrong(expect, plan(target="alive", drop=["survived"],
                              findings=[leak_finding("survived")])) == {"target", "leak"}


def test_asking_is_scored_both_ways():
    ask = {"status": "needs_input"}
    assert wrong(ask, plan(status="needs_input")) == set()
    assert wrong(ask, plan()) == {"status"}
    # A question where a plan was due with no task kept: every field of it is wrong.
    assert wrong({"target": "survived", "task": "binary"}, plan(status="needs_input")) == {
        "status", "target", "task", "budget_s", "goal"}
    # With the partial task the contract keeps, what the request stated still counts.
    kept = {"status": "needs_input", "question": "Which column?",
            "task": {"target": None, "metric": "f1", "goal": 0.8, "budget_s": 90.0,
                     "drop_columns": []}}
    expect = {"target": "survived", "task": "binary", "metric": "f1", "goal": 0.8,
              "budget_s": 90}
    assert wrong(expect, kept) == {"status", "target", "task"}
    assert wrong({**expect, "goal": 0.9}, kept) == {"status", "target", "task", "goal"}


def test_a_crash_scores_every_field_wrong():
    outcome = scoring.PlanOutcome(error="RequestError: no recognisable task")
    scores = scoring.score_plan({"target": "y", "task": "binary", "metric": "f1"}, outcome)
    assert len(scores) == 6 and not any(s.ok for s in scores)
    assert all("no recognisable task" in s.got for s in scores)


def test_language_is_chinese_when_any_chinese_is_in_it():
    case = scoring.Case("dev", 0, "Predict price, 用MAE", "diamonds.csv", [], {})
    assert case.language == "zh"
    assert scoring.Case("dev", 1, "Predict price, MAE", "diamonds.csv", [], {}).language == "en"


def test_public_data_is_written_once_with_its_columns(tmp_path):
    path = public_data.resolve("public/wine_cultivars.csv", tmp_path)
    df = pd.read_csv(path)
    assert df["cultivar"].dtype.kind == "i" and sorted(df["cultivar"].unique()) == [0, 1, 2]
    assert public_data.resolve("public/wine_cultivars.csv", tmp_path).stat().st_mtime_ns == \
        path.stat().st_mtime_ns
    cancer = public_data.frame("breast_cancer.csv")
    assert set(cancer["diagnosis"]) == {"malignant", "benign"}
    assert cancer["patient_id"].is_unique
    with pytest.raises(KeyError, match="not a public data set"):
        public_data.resolve("public/nothing.csv", tmp_path)
