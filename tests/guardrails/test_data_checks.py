"""The critic's data checks, on synthetic frames and on the shared real datasets."""

import json
import time
from functools import cache
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mlpilot.guardrails.data_checks import (
    Flag,
    check_metric_vs_imbalance,
    find_id_like_columns,
    find_leaky_columns,
)
from mlpilot.guardrails.identities import find_target_identities
from mlpilot.guardrails.post_outcome import find_post_outcome_columns

DATASETS = Path(__file__).resolve().parents[3] / "shared" / "datasets"
MANIFEST = json.loads((DATASETS / "manifest.json").read_text()) if DATASETS.exists() else []


@cache
def load(name: str) -> tuple[pd.DataFrame, dict]:
    entry = next(d for d in MANIFEST if d["name"] == name)
    return pd.read_csv(DATASETS / entry["file"], na_values=entry["na_values"] or None), entry


def rng_frame(n: int = 600, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame({"a": rng.normal(size=n), "b": rng.integers(0, 5, n),
                         "c": rng.choice(["x", "y", "z"], n)})


@pytest.mark.skipif(not MANIFEST, reason="shared datasets not present")
@pytest.mark.parametrize("name", [d["name"] for d in MANIFEST])
def test_flags_match_the_manifest(name):
    # Statistics find the ID-like and leaky columns; bank marketing's 'duration' (the sales
    # call's length, known only after the outcome) predicts it only moderately (balanced
    # accuracy ~0.58), so the post-outcome lexicon finds it, as a human reviewer would.
    df, entry = load(name)
    started = time.process_time()  # CPU time: the test machine is shared
    flags = (find_id_like_columns(df, entry["target"])
             + find_target_identities(df, entry["target"], entry["task"])
             + find_leaky_columns(df, entry["target"], entry["task"])
             + find_post_outcome_columns(df, entry["target"], entry["task"]))
    assert time.process_time() - started < 2.0
    expected = set(entry["id_like_columns"]) | set(entry["leaky_columns"])
    assert {f.column for f in flags} == expected, [f.evidence for f in flags]


@pytest.mark.skipif(not MANIFEST, reason="shared datasets not present")
def test_real_evidence_reads_well():
    df, _ = load("titanic")
    (alive,) = find_leaky_columns(df, "survived", "binary")
    assert alive.column == "alive" and alive.action == "drop" and alive.score == 1.0
    assert "1:1 re-encoding" in alive.evidence and "runner-up 'who'" in alive.evidence
    df, _ = load("glass")
    assert [f.column for f in find_leaky_columns(df, "Type", "multiclass")] == ["Id"]
    (name,) = find_id_like_columns(load("auto-mpg")[0], "mpg")
    assert "unique fraction 0.77" in name.evidence and name.action == "ask"


# -- ID-like ---------------------------------------------------------------------------------

def test_row_numbers_and_unique_codes_are_id_like():
    df = rng_frame()
    df["row"] = np.arange(len(df))
    df["customer"] = [f"C{i:06d}" for i in np.random.default_rng(1).permutation(len(df))]
    flags = {f.column: f for f in find_id_like_columns(df, "c")}
    assert set(flags) == {"row", "customer"}
    assert "unique fraction 1.00" in flags["row"].evidence and "row order" in flags["row"].evidence
    assert flags["row"].action == "drop" and flags["row"].score == 1.0


def test_measurements_dates_booleans_and_targets_are_not_id_like():
    n = 400
    rng = np.random.default_rng(2)
    df = pd.DataFrame({
        "weight": rng.normal(70, 10, n),  # unique floats: a measurement
        "weight_text": [f"{v:.3f}" for v in rng.normal(70, 10, n)],
        "day": pd.date_range("2020-01-01", periods=n).strftime("%Y-%m-%d"),
        "flag": rng.random(n) > 0.5,
        "y": np.arange(n),
    })
    assert find_id_like_columns(df, "y") == []


def test_high_cardinality_names_are_asked_about_but_unique_free_text_is_not():
    rng = np.random.default_rng(3)
    makes, models = ["ford", "fiat", "audi", "kia", "opel"], [f"m{i}" for i in range(60)]
    df = pd.DataFrame({
        "car": [f"{rng.choice(makes)} {rng.choice(models)}" for _ in range(300)],
        "review": [" ".join(rng.choice(["good", "bad", "car", "very", "the"], 20)) + f" {i}"
                   for i in range(300)],
        "y": rng.normal(size=300),
    })
    flags = find_id_like_columns(df, "y")
    assert [(f.column, f.action) for f in flags] == [("car", "ask")]


# -- leakage ---------------------------------------------------------------------------------

def test_a_noisy_copy_of_the_target_is_a_leak():
    df = rng_frame(2000)
    y = (df["a"] + np.random.default_rng(4).normal(size=2000) > 0).astype(int)
    df["y"] = y
    df["post_outcome"] = np.where(np.random.default_rng(5).random(2000) < 0.003, 1 - y, y) * 10.0
    (flag,) = find_leaky_columns(df, "y", "binary")
    assert flag.column == "post_outcome" and flag.score >= 0.98
    assert "runner-up 'a'" in flag.evidence


def test_a_relabelled_target_is_a_leak_even_among_strong_features():
    df = rng_frame(500)
    df["y"] = np.where(df["a"] > 0, "yes", "no")
    df["y_code"] = df["y"].map({"yes": "Y", "no": "N"})
    flags = find_leaky_columns(df, "y", "binary")
    assert {f.column for f in flags} == {"y_code"}
    assert "1:1 re-encoding" in flags[0].evidence


def test_regression_leak_and_clean_regression():
    df = rng_frame(3000)
    noise = np.random.default_rng(8).normal(0, 50, 3000)
    df["price"] = np.exp(df["a"]) * 100 + df["b"] * 50 + noise
    assert find_leaky_columns(df, "price", "regression") == []
    df["price_eur"] = df["price"] * 0.9 + np.random.default_rng(6).normal(0, 0.5, 3000)
    assert [f.column for f in find_leaky_columns(df, "price", "regression")] == ["price_eur"]


def test_an_easy_task_is_not_leakage():
    df = rng_frame(800)
    df["y"] = (df["a"] > 0).astype(int)
    df["a2"] = df["a"] * 3 + 1  # two perfect features: the task is easy, not leaky
    assert find_leaky_columns(df, "y", "binary") == []


def test_an_id_with_a_random_target_is_not_leakage():
    df = rng_frame(1000)
    df["id"] = np.arange(1000)
    df["y"] = np.random.default_rng(7).integers(0, 2, 1000)
    assert find_leaky_columns(df, "y", "binary") == []


# -- metric vs imbalance ---------------------------------------------------------------------

@pytest.mark.parametrize(("counts", "task_type", "metric", "suggestion"), [
    ({"no": 90, "yes": 10}, "binary", "accuracy", "f1"),
    ({"a": 50, "b": 40, "c": 9}, "multiclass", "accuracy", "balanced_accuracy"),
    ({"no": 60, "yes": 40}, "binary", "accuracy", None),
    ({"no": 90, "yes": 10}, "binary", "balanced_accuracy", None),
    ({"no": 90, "yes": 10}, "binary", "roc_auc", None),
])
def test_accuracy_on_imbalanced_classes(counts, task_type, metric, suggestion):
    df = pd.DataFrame({"y": [k for k, v in counts.items() for _ in range(v)]})
    flags = check_metric_vs_imbalance(df, "y", task_type, metric)
    assert [f.suggestion for f in flags] == ([suggestion] if suggestion else [])
    if flags:
        assert flags[0].action == "switch_metric" and flags[0].score < 0.5
        assert "minority/majority" in flags[0].evidence


def test_regression_is_never_an_imbalance_problem():
    df = pd.DataFrame({"y": [1.0] * 90 + [2.0] * 10})
    assert check_metric_vs_imbalance(df, "y", "regression", "accuracy") == []


def test_flags_are_json_able():
    flag = Flag(kind="id_like", column="Id", evidence="e", score=1.0, action="drop", suggestion="s")
    assert Flag.model_validate_json(flag.model_dump_json()) == flag


def test_a_counter_of_groups_in_file_order_is_id_like():
    """A long-format table numbers each person on several consecutive rows (1,1,1,2,2,2..):
    an identifier with repeats. Sorted codes with few values, years and shuffled groups
    are not flagged."""
    rng = np.random.default_rng(3)
    people, rows = 80, 3
    df = pd.DataFrame({
        "person": np.repeat(np.arange(1, people + 1), rows),
        "hour": np.sort(rng.integers(0, 24, people * rows)),  # a sorted code: 24 values
        "year": np.repeat(np.arange(1950, 1950 + people), rows),  # not a count from 0 or 1
        "group": rng.permutation(np.repeat(np.arange(1, people + 1), rows)),  # not in order
        "y": rng.normal(size=people * rows),
    })
    flags = {f.column: f for f in find_id_like_columns(df, "y")}
    assert set(flags) == {"person"}
    assert "numbers groups of rows" in flags["person"].evidence
