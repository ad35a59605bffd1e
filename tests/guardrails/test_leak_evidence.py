"""Leaks and identifiers found by generic evidence, on frames made here with names the shared
data does not use: targets that are arithmetic of other columns, case numbers that repeat,
and columns named (in English or Chinese) for something recorded after the outcome."""

import time

import numpy as np
import pandas as pd
import pytest

from mlpilot.agent.critic import column_flags
from mlpilot.guardrails.data_checks import find_id_like_columns, find_leaky_columns
from mlpilot.guardrails.identities import find_target_identities
from mlpilot.guardrails.post_outcome import find_post_outcome_columns, post_outcome_meaning


def shop(n: int = 800, seed: int = 0) -> pd.DataFrame:
    """Orders: honest features, and a target with a real but noisy relation to them."""
    rng = np.random.default_rng(seed)
    df = pd.DataFrame({"labour_hours": rng.gamma(3, 2, n).round(2),
                       "parts_count": rng.integers(1, 30, n),
                       "region": rng.choice(["north", "south", "east"], n),
                       "vehicle_age": rng.integers(0, 25, n)})
    df["invoice_total"] = (df.labour_hours * 55 + df.parts_count * 12
                           + rng.normal(0, 60, n)).round(2)
    return df


# -- identities between the target and one or two columns ------------------------------------

@pytest.mark.parametrize(("make", "form"), [
    (lambda d, r: d.assign(labour_cost=(d.invoice_total * r.beta(4, 4, len(d))).round(2),
                           parts_cost=lambda e: (e.invoice_total - e.labour_cost).round(2)),
     "'labour_cost' + 'parts_cost'"),
    (lambda d, r: d.assign(paid_so_far=(d.invoice_total + r.gamma(2, 50, len(d))).round(2),
                           balance_left=lambda e: (e.paid_so_far - e.invoice_total).round(2)),
     "'paid_so_far' - 'balance_left'"),
    (lambda d, r: d.assign(cost_per_part=d.invoice_total / d.parts_count),
     "'parts_count' x 'cost_per_part'"),
])
def test_a_target_that_is_arithmetic_of_two_columns_is_a_leak(make, form):
    df = make(shop(), np.random.default_rng(1))
    flags = find_target_identities(df, "invoice_total", "regression")
    pair = {c for c in df.columns if c in form}
    assert {f.column for f in flags} == pair
    for flag in flags:
        assert flag.kind == "leakage" and flag.action in ("drop", "advise")
        assert form in flag.evidence and "100% of" in flag.evidence
        assert "drop column" in flag.suggestion or "keep" in flag.suggestion
    # in a sum or product both parts go; so do both of this difference, as what was paid
    # so far is the target plus a little and gives it away by itself
    actions = {f.column: f.action for f in flags}
    assert all(a == "drop" for a in actions.values())


def test_a_difference_drops_the_column_built_later_and_keeps_the_other():
    """A real interest rate appended after the bill rate and the inflation it is computed
    from: with inflation the target, the real rate goes and the bill rate stays, though
    the target is the bill rate minus the real rate."""
    rng = np.random.default_rng(8)
    n = 300
    df = pd.DataFrame({"unemployment": rng.normal(6, 1.5, n).round(2),
                       "bill_rate": rng.gamma(3, 1.5, n).round(2),
                       "inflation": rng.normal(3, 2, n).round(2)})
    df["real_rate"] = (df.bill_rate - df.inflation).round(2)
    actions = {f.column: f.action for f in find_target_identities(df, "inflation", "regression")}
    assert actions == {"real_rate": "drop", "bill_rate": "advise"}


def test_a_pair_identity_drops_the_column_that_carries_the_target_and_keeps_the_other():
    """A bill with the tip added, when the bill is the target: the bill-with-tip goes, the
    tip (an honest, weaker feature) stays, with advice; a ratio keeps its denominator."""
    rng = np.random.default_rng(5)
    n = 600
    bill = rng.gamma(4, 5, n).round(2)
    tip = (bill * rng.uniform(0.05, 0.25, n) + rng.normal(0, 1, n)).clip(1).round(2)
    df = pd.DataFrame({"bill": bill, "tip": tip, "party": rng.integers(1, 7, n),
                       "bill_with_tip": (bill + tip).round(2)})
    actions = {f.column: f.action for f in find_target_identities(df, "bill", "regression")}
    assert actions == {"bill_with_tip": "drop", "tip": "advise"}
    people = rng.lognormal(14, 1.5, n).round()
    per_head = rng.lognormal(8, 1, n).round(2)
    df = pd.DataFrame({"per_head": per_head, "people": people, "year": rng.integers(1950, 2010, n),
                       "total": (people * per_head).round()})
    actions = {f.column: f.action for f in find_target_identities(df, "per_head", "regression")}
    assert actions == {"total": "drop", "people": "advise"}


def test_a_scaled_copy_and_a_near_exact_identity_with_a_few_bad_rows_are_leaks():
    df = shop(1500)
    rng = np.random.default_rng(2)
    df["total_in_cents"] = df.invoice_total * 100
    df["tax"] = (df.invoice_total * 0.2).round(2)
    df["net"] = (df.invoice_total - df.tax).round(2)
    bad = rng.choice(len(df), 6, replace=False)  # 0.4% of rows mistyped
    df.loc[bad, "net"] = df.loc[bad, "net"] * 3
    found = {f.column: f for f in find_target_identities(df.drop(columns=["tax", "net"]),
                                                         "invoice_total", "regression")}
    assert set(found) == {"total_in_cents"}
    assert "= 0.01 x 'total_in_cents' on 100% of" in found["total_in_cents"].evidence
    found = {f.column: f for f in find_target_identities(df.drop(columns="total_in_cents"),
                                                         "invoice_total", "regression")}
    assert set(found) == {"tax", "net"}
    assert "on 99.6% of" in found["net"].evidence


def test_strong_honest_relations_and_classification_targets_are_not_identities():
    df = shop()
    assert find_target_identities(df, "invoice_total", "regression") == []
    # an integer score with few values: rounding must not pass for an identity
    rng = np.random.default_rng(3)
    df["grade"] = np.clip((df.invoice_total / 100).round(), 1, 9)
    df["grade_hint"] = df["grade"] + rng.integers(-1, 2, len(df))
    assert find_target_identities(df, "grade", "regression") == []
    df["label"] = np.where(df.invoice_total > df.invoice_total.median(), "high", "low")
    assert find_target_identities(df, "label", "binary") == []


def test_two_hundred_numeric_columns_take_well_under_a_second():
    rng = np.random.default_rng(4)
    df = pd.DataFrame(rng.normal(size=(5000, 200)), columns=[f"m{i}" for i in range(200)])
    df["y"] = df.m17 - df.m150
    started = time.process_time()  # CPU time: the test machine is shared
    flags = find_target_identities(df, "y", "regression")
    assert time.process_time() - started < 1.0
    assert {f.column for f in flags} == {"m17", "m150"}


# -- identifiers that repeat -------------------------------------------------------------------

def returning(n: int, rng, share: float = 0.25) -> np.ndarray:
    pool = rng.choice(np.arange(10_000, 99_999), int(n * (1 - share)), replace=False)
    return rng.permutation(np.concatenate([pool, rng.choice(pool, n - len(pool))]))


@pytest.mark.parametrize("name", ["ticketNr", "claim_number", "Patient ID", "客户编号"])
def test_a_case_number_that_repeats_for_returning_cases_is_id_like(name):
    rng = np.random.default_rng(5)
    df = shop(600).assign(**{name: returning(600, rng)})
    (flag,) = find_id_like_columns(df, "invoice_total")
    assert (flag.kind, flag.column, flag.action) == ("id_like", name, "drop")
    assert "repeat" in flag.evidence and "unique fraction 0.7" in flag.evidence


def test_counts_codes_of_few_values_and_unnamed_integers_are_not_id_like():
    rng = np.random.default_rng(6)
    n = 600
    df = shop(n).assign(
        number_of_children=rng.integers(0, 6, n),  # 'number' of something: a count
        zip_code=rng.choice(rng.integers(10_000, 99_999, 40), n),  # 40 places
        sampling_weight=returning(n, rng),  # as unique as a case number, but its name is not one
        num_visits=rng.poisson(3, n),
    )
    assert find_id_like_columns(df, "invoice_total") == []


# -- recorded after the outcome -----------------------------------------------------------------

@pytest.mark.parametrize("column", ["退款金额", "出院日期", "随访结果", "术后并发症", "reimbursement_total",
                                    "discharge_disposition", "cancelledOn"])
def test_post_outcome_names_in_english_and_chinese(column):
    assert post_outcome_meaning(column, [column, "年龄", "age"]) is not None


@pytest.mark.parametrize("column", ["既往退款次数", "年龄", "检验结果", "术前血压", "预计出院日期",
                                    "月收入", "previous_reimbursements", "discharge_rate_m3s"])
def test_pre_outcome_names_in_english_and_chinese_do_not_match(column):
    assert post_outcome_meaning(column, [column, "年龄", "age"]) is None


@pytest.mark.parametrize(("column", "diagnosis", "unrelated"), [
    ("surgery_planned", "diagnosis", "converted"), ("chemotherapy_given", "malignant", "clicks"),
    ("treatmentType", "tumor_size", "revenue"), ("手术安排", "是否恶性", "点击数"),
    ("化疗方案", "病理分级", "转化率")])
def test_a_treatment_decided_from_the_diagnosis_comes_after_it(column, diagnosis, unrelated):
    """In a table whose target or columns are about a diagnosis, the treatment (even a
    planned one) is chosen from the diagnosis; in an A/B test's table a treatment arm is
    known before the outcome, and a prior treatment is history."""
    assert post_outcome_meaning(column, [column, "radius", diagnosis]) is not None
    assert post_outcome_meaning(column, [column, "age", unrelated]) is None
    assert post_outcome_meaning("prior_surgery", ["prior_surgery", "diagnosis"]) is None


def test_a_chinese_call_duration_needs_a_table_of_calls():
    assert post_outcome_meaning("时长", ["时长", "通话次数", "年龄"]) is not None
    assert post_outcome_meaning("时长", ["时长", "贷款金额", "年龄"]) is None


def test_the_critic_asks_about_post_outcome_columns_named_in_chinese():
    rng = np.random.default_rng(7)
    df = shop(500).rename(columns={"labour_hours": "工时", "region": "地区"})
    df["退款金额"] = np.where(rng.random(500) < 0.3, df.invoice_total * 0.1, 0.0).round(2)
    flags = {f.column: f for f in column_flags(df, "invoice_total", "regression")}
    assert set(flags) == {"退款金额"}
    assert flags["退款金额"].action == "ask" and "退款" in flags["退款金额"].evidence


# -- one column that predicts the target almost perfectly --------------------------------------

def test_a_strong_feature_that_the_other_features_explain_is_not_a_leak():
    # 'smell' alone gives the class away, but it is a summary of 'cap' and 'gills': the task
    # is easy (as a mushroom's odour), and the other features together do as well.
    rng = np.random.default_rng(8)
    n = 1200
    cap, gills = rng.integers(0, 4, n), rng.integers(0, 3, n)
    smell = np.array(list("abcdefghijkl"))[cap * 3 + gills]
    df = pd.DataFrame({"cap": cap, "gills": gills, "smell": smell, "stalk": rng.normal(size=n)})
    df["edible"] = np.where(np.isin(smell, list("acfhk")), "yes", "no")
    assert find_leaky_columns(df, "edible", "binary") == []
    # without the features that explain it, the same column is a leak
    (flag,) = find_leaky_columns(df.drop(columns=["cap", "gills"]), "edible", "binary")
    assert flag.column == "smell" and "all other features together score" in flag.evidence


# -- name words read by embeddings ----------------------------------------------------------

def renewals(n: int = 300) -> pd.DataFrame:
    rng = np.random.default_rng(9)
    return pd.DataFrame({"tenure_months": rng.integers(1, 60, n),
                         "cancelation_fee": rng.gamma(2, 20, n).round(2),
                         "income": rng.normal(50, 10, n).round(1),
                         "renewed": rng.choice(["yes", "no"], n)})


def test_without_the_embedding_model_the_lexicon_works_alone():
    # the suite's default: MLPILOT_EMBEDDING=hashing
    assert find_post_outcome_columns(renewals(), "renewed", "binary") == []


def test_with_the_embedding_model_a_spelling_the_lexicon_lacks_is_read(monkeypatch):
    pytest.importorskip("wordllama")
    monkeypatch.setenv("MLPILOT_EMBEDDING", "auto")
    (flag,) = find_post_outcome_columns(renewals(), "renewed", "binary")
    assert (flag.column, flag.action) == ("cancelation_fee", "ask")
    assert "(read 'cancelation' as 'cancel" in flag.evidence and "embedding similarity 0." in flag.evidence


def test_a_total_of_several_parts_is_a_leak():
    df = shop(1000)
    rng = np.random.default_rng(10)
    shares = rng.dirichlet([3, 3, 3, 3], len(df))
    for k, part in enumerate(["spring_sales", "summer_sales", "autumn_sales"]):
        df[part] = (df.invoice_total * shares[:, k]).round(2)
    df["winter_sales"] = (df.invoice_total - df[["spring_sales", "summer_sales",
                                                 "autumn_sales"]].sum(axis=1)).round(2)
    flags = find_target_identities(df, "invoice_total", "regression")
    assert {f.column for f in flags} == {"spring_sales", "summer_sales", "autumn_sales",
                                         "winter_sales"}
    assert ("'spring_sales' + 'summer_sales' + 'autumn_sales' + 'winter_sales' on 100% of"
            in flags[0].evidence)


def test_a_count_unique_per_row_that_spans_magnitudes_is_a_quantity_not_an_id():
    """Populations and totals are whole numbers, unique per row, over several orders of
    magnitude: quantities. Shuffled row numbers and fixed-width codes stay identifiers."""
    rng = np.random.default_rng(8)
    n = 800
    df = pd.DataFrame({
        "population": rng.lognormal(14, 2, n).round(),
        "row_number": rng.permutation(n) + 1,
        "ticket": rng.choice(np.arange(100_000, 999_999), n, replace=False),
        "y": rng.normal(size=n)})
    flagged = {f.column for f in find_id_like_columns(df, "y")}
    assert flagged == {"row_number", "ticket"}


def test_a_product_with_some_zeros_is_still_an_identity():
    """Shares that are zero in a few schools: their product column is zero there too, and
    the ratio that gives the target back is undefined on those rows only."""
    rng = np.random.default_rng(9)
    n = 300
    share = rng.uniform(0, 40, n).round(3)
    share[rng.choice(n, 9, replace=False)] = 0.0
    df = pd.DataFrame({"ratio": rng.normal(21, 2, n).round(4), "share": share,
                       "spend": rng.gamma(4, 1.2, n).round(4)})
    df["ratio_x_share"] = df.ratio * df.share
    columns = {f.column for f in find_target_identities(df, "ratio", "regression")}
    assert "ratio_x_share" in columns


def test_unique_counts_that_move_with_other_columns_are_not_identifiers():
    """Votes per district are unique whole numbers by chance; they rise with the total."""
    rng = np.random.default_rng(10)
    n = 60
    a, b = rng.integers(1000, 5000, n), rng.integers(800, 4000, n)
    df = pd.DataFrame({"district_no": rng.permutation(n) + 100, "votes_a": a, "votes_b": b,
                       "total": a + b, "winner": np.where(a > b, "a", "b")})
    df = df.drop_duplicates(subset=["votes_a"]).drop_duplicates(subset=["votes_b"])
    assert {f.column for f in find_id_like_columns(df, "winner")} == {"district_no"}
