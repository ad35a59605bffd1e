"""The critic's evidence beyond columns: post-outcome names, duplicated rows, time order and
goals the data cannot support. Each flag fires on a bad case and stays quiet on a good one."""

import numpy as np
import pandas as pd
import pytest

from mlpilot.guardrails.goal_checks import check_goal
from mlpilot.guardrails.post_outcome import find_post_outcome_columns, post_outcome_meaning
from mlpilot.guardrails.split_checks import find_duplicate_rows, find_time_columns


def calls(n: int = 400, seed: int = 0) -> pd.DataFrame:
    """A telemarketing table: the outcome depends on the (post-outcome) call duration."""
    rng = np.random.default_rng(seed)
    duration = rng.exponential(200, n).round()
    return pd.DataFrame({
        "age": rng.integers(18, 90, n), "contact": rng.choice(["cellular", "telephone"], n),
        "campaign": rng.integers(1, 6, n), "duration": duration,
        "y": np.where(duration + rng.normal(0, 150, n) > 300, "yes", "no"),
    })


# -- post-outcome columns ---------------------------------------------------------------------

def test_a_call_duration_in_a_table_of_calls_is_asked_about_with_its_score():
    (flag,) = find_post_outcome_columns(calls(), "y", "binary")
    assert (flag.kind, flag.column, flag.action) == ("post_outcome", "duration", "ask")
    assert "the table has 'contact'" in flag.evidence and "the strongest of 4" in flag.evidence
    assert flag.score > 0.6 and "drop_columns" in flag.suggestion


def test_a_loan_duration_in_a_credit_table_is_a_legitimate_feature():
    df = calls().rename(columns={"contact": "purpose", "campaign": "credit_amount"})
    assert find_post_outcome_columns(df, "y", "binary") == []


@pytest.mark.parametrize(("column", "meaning"), [
    ("callDuration", "contact duration"), ("refund_amount", "refund or cancellation"),
    ("churn_date", "date of the event"), ("days_to_event", "time to the event"),
    ("final_status", "outcome recorded afterwards"), ("recoveries", "repayment outcome"),
    ("status_after_6m", "outcome recorded afterwards"),
])
def test_the_lexicon_knows_post_outcome_meanings(column, meaning):
    found = post_outcome_meaning(column, [column, "customer_age"])
    assert found is not None and found[0].name == meaning


@pytest.mark.parametrize("column", [
    "previous_outcome", "poutcome", "prior_refunds", "expected_duration", "checking_status",
    "duration", "postcode", "housing_median_age", "default", "model_year",
])
def test_names_from_before_the_outcome_do_not_match(column):
    assert post_outcome_meaning(column, [column, "age", "credit_amount"]) is None


# -- duplicated rows --------------------------------------------------------------------------

def test_duplicated_rows_are_counted_with_the_test_rows_they_would_share():
    rng = np.random.default_rng(1)
    df = pd.DataFrame({"a": rng.normal(size=500), "b": rng.integers(0, 3, 500),
                       "y": rng.integers(0, 2, 500)})
    df = pd.concat([df, df.iloc[:50]], ignore_index=True)  # 50 rows copied once
    (flag,) = find_duplicate_rows(df, "y")
    assert (flag.kind, flag.column, flag.action) == ("duplicates", None, "advise")
    assert flag.evidence.startswith("50 rows (9.1%) repeat an earlier row")
    # each pair is split with probability 2 p (1 - p): 50 * 2 * 0.2 * 0.8 = 16 test rows
    assert "about 16 test rows" in flag.evidence
    assert find_duplicate_rows(df.drop_duplicates(), "y") == []


def test_a_few_copies_in_a_big_table_are_noise():
    rng = np.random.default_rng(2)
    df = pd.DataFrame({"a": rng.normal(size=2000), "y": rng.integers(0, 2, 2000)})
    assert find_duplicate_rows(pd.concat([df, df.iloc[:5]]), "y") == []


def test_a_users_test_file_is_checked_for_twins_in_the_training_data():
    rng = np.random.default_rng(3)
    df = pd.DataFrame({"a": rng.normal(size=300), "s": rng.choice(["x", None], 300),
                       "y": rng.integers(0, 2, 300)})
    test = pd.concat([df.iloc[:10], df.iloc[:40].assign(a=lambda d: d.a + 100)])
    (flag,) = find_duplicate_rows(df, "y", test_df=test)
    assert flag.evidence.startswith("10 of the 50 test rows (20.0%) have an identical twin")
    assert find_duplicate_rows(df, "y", test_df=test.iloc[10:]) == []


# -- time order -------------------------------------------------------------------------------

def test_rows_in_date_order_call_for_a_temporal_split():
    n = 300
    rng = np.random.default_rng(4)
    df = pd.DataFrame({"when": pd.date_range("2021-01-01", periods=n, freq="D").strftime("%Y-%m-%d"),
                       "x": rng.normal(size=n), "y": rng.normal(size=n)})
    (flag,) = find_time_columns(df, "y")
    assert (flag.kind, flag.column, flag.action) == ("temporal", "when", "advise")
    assert "from 2021-01-01 to 2021-10-27" in flag.evidence
    assert "only 0 of 299 consecutive rows go back in time" in flag.evidence
    assert "split: time, time_column: when" in flag.suggestion


def test_month_and_day_columns_in_row_order_make_a_log():
    days = pd.date_range("2008-05-05", periods=900, freq="D")
    df = pd.DataFrame({"month": days.strftime("%b").str.lower(), "day": days.day,
                       "y": np.arange(900) % 2})
    (flag,) = find_time_columns(df, "y")
    assert flag.column is None and "'month' + 'day'" in flag.evidence
    assert "only 2 of 899 consecutive rows" in flag.evidence  # two new years
    shuffled = df.sample(frac=1.0, random_state=0).reset_index(drop=True)
    assert find_time_columns(shuffled, "y") == []


def test_years_birth_dates_and_shuffled_numbers_are_not_time_columns():
    n = 200
    rng = np.random.default_rng(5)
    df = pd.DataFrame({
        "model_year": np.sort(rng.integers(70, 83, n)),  # sorted, but an attribute
        "year_built": np.sort(rng.integers(1950, 2020, n)),
        "date_of_birth": pd.date_range("1950-01-01", periods=n, freq="W").strftime("%Y-%m-%d"),
        "y": rng.normal(size=n),
    })
    assert find_time_columns(df, "y") == []


# -- goals the data cannot support ------------------------------------------------------------

def easy(n: int, seed: int = 6, noise: float = 0.0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    df = pd.DataFrame({"a": rng.normal(size=n), "b": rng.normal(size=n)})
    flip = rng.random(n) < noise
    df["y"] = np.where((df.a + df.b > 0) ^ flip, "yes", "no")
    return df


def test_99_percent_accuracy_on_50_rows_cannot_be_measured():
    (flag,) = check_goal(easy(50), "y", "binary", "accuracy", 0.99)
    assert (flag.kind, flag.action) == ("goal", "ask")
    assert "on about 10 test rows one test error costs 0.100" in flag.evidence
    assert "binomial standard error at the goal 0.031" in flag.evidence
    assert "cannot be measured" in flag.evidence
    # 90% on 10 test rows allows one error: measurable, and the data supports it
    assert check_goal(easy(50), "y", "binary", "accuracy", 0.9) == []


def test_a_goal_far_beyond_a_quick_baseline_is_implausible():
    noisy = easy(2000, noise=0.25)  # no model beats ~0.75
    (flag,) = check_goal(noisy, "y", "binary", "accuracy", 0.95)
    assert "gradient-boosting model scores accuracy 0." in flag.evidence
    assert 0.65 < flag.score < 0.8
    assert f"lower the goal to about {flag.score:.3g}" in flag.suggestion
    assert check_goal(noisy, "y", "binary", "accuracy", 0.72) == []
    assert check_goal(noisy, "y", "binary", "accuracy", None) == []


@pytest.mark.parametrize(("metric", "bad", "good"), [("r2", 0.95, 0.5), ("rmse", 0.2, 1.0)])
def test_regression_goals_are_checked_against_the_baseline(metric, bad, good):
    rng = np.random.default_rng(7)
    df = pd.DataFrame({"a": rng.normal(size=1500)})
    df["y"] = df.a + rng.normal(0, 1, 1500)  # R^2 about 0.5, rmse about 1
    (flag,) = check_goal(df, "y", "regression", metric, bad)
    assert f"scores {metric}" in flag.evidence
    assert check_goal(df, "y", "regression", metric, good) == []
