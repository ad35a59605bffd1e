"""Targets read on tables made up here (fourth round of issue 10), written before the rules.

Each case is a generic way requests name, or seem to name, a column that the planner got
wrong on requests it had never seen:
- the unit a request is about is not what it asks for: "each branch", "per branch", the
  subject of "how much will a household spend", a possessor ("the company's market cap");
- "how many" asks for a count: whole numbers fit it better than continuous measurements;
- names written as run-together acronyms ("TVnews"), as consonant skeletons ("wrkhrs" for
  working hours, "hlthstat" for health status) or with initials ("ClinLR");
- "on", "with" and "by" introduce inputs only right before a column, not across a phrase
  ("is the account on a premium plan (premium)?").
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mlpilot.agent import target_evidence as ev
from mlpilot.agent.target_choice import choose_target, column_facts
from mlpilot.agent.understanding import find_task_type_hint, parse_goal, parse_metric
from mlpilot.engine.data import profile_table

RNG = np.random.default_rng(404)
N = 200


def _branches() -> pd.DataFrame:
    return pd.DataFrame({
        "branch": [f"{c} {i}" for i, c in enumerate(RNG.choice(["North", "South", "Mill"], N))],
        "revenue": RNG.gamma(3, 1e4, N).round(2),
        "employees": RNG.integers(3, 60, N),
        "floor_area": RNG.normal(300, 80, N).round(1),
    })


def _households() -> pd.DataFrame:
    return pd.DataFrame({
        "household": RNG.choice([f"H{i:03d}" for i in range(60)], N),
        "year": RNG.integers(2000, 2020, N),
        "spend": RNG.gamma(4, 800, N).round(2),
        "income": RNG.gamma(5, 1500, N).round(2),
    })


def _companies() -> pd.DataFrame:
    return pd.DataFrame({
        "company": RNG.choice(["alpha", "beta", "gamma", "delta", "omega"], N),
        "market_cap": RNG.lognormal(20, 1, N).round(),
        "staff": RNG.integers(10, 5000, N),
    })


def _survey() -> pd.DataFrame:
    return pd.DataFrame({
        "TVnews": RNG.integers(0, 8, N),
        "ClinLR": RNG.integers(1, 8, N),
        "wrkhrs": RNG.normal(38, 6, N).round(1),
        "hlthstat": RNG.choice(["good", "fair", "poor"], N),
        "premium": RNG.integers(0, 2, N),
        "doc_visits": RNG.poisson(3, N),
        "bmi": RNG.normal(26, 4, N).round(2),
        "spend": RNG.gamma(3, 100, N).round(2),
        "vote": RNG.choice(["yes", "no"], N),
    })


def _tickers() -> pd.DataFrame:
    return pd.DataFrame({"week": np.arange(N) % 52 + 1,
                         **{t: RNG.lognormal(0, 0.1, N).round(4) for t in ("ORCL", "NVDA", "TSLA")}})


def _cars() -> pd.DataFrame:
    return pd.DataFrame({
        "fuelexp": RNG.gamma(3, 40, N).round(2),
        "mileage": RNG.gamma(5, 3000, N).round(),
        "mpayrate": RNG.normal(2500, 400, N).round(2),
        "engine_size": RNG.choice([1.2, 1.6, 2.0, 3.0], N),
    })


def _metals() -> pd.DataFrame:
    return pd.DataFrame({name: RNG.lognormal(3, 0.3, N).round(2) for name in
                         ("STEELPRICE", "ZINCPRICE", "WORLDOUTPUT", "STOCKINDEX", "eprod")})


TABLES = {"metals": _metals(), "branches": _branches(), "households": _households(), "companies": _companies(),
          "survey": _survey(), "tickers": _tickers(), "cars": _cars()}


def choose(text: str, table: str):
    df = TABLES[table]
    return choose_target(text, column_facts(df, profile_table(df)), metric=parse_metric(text),
                         task_hint=find_task_type_hint(text))


@pytest.mark.parametrize("table, text, target", [
    # the unit of each row, named with each/every/per, is not the target
    ("branches", "How much revenue does each branch bring in?", "revenue"),
    ("branches", "Predict the revenue per branch, R2.", "revenue"),
    ("branches", "What share of every branch goes to floor area? Predict it.", "floor_area"),
    # the subject of a "how much / how many" question is the unit; the verb is the target
    ("households", "How much will a household spend in a year? RMSE.", "spend"),
    # a possessor names whose thing is asked for
    ("companies", "Predict the company's market cap from staff.", "market_cap"),
    # run-together acronyms, consonant skeletons and initials
    ("survey", "How many days a week does someone watch TV news? MAE.", "TVnews"),
    ("survey", "Estimate the working hours of each respondent.", "wrkhrs"),
    ("survey", "Classify the health status of a person, accuracy.", "hlthstat"),
    ("survey", "Where do respondents place Clinton on the left-right scale? As classes.",
     "ClinLR"),
    # time adverbials are when, not what: "next year", "in a year"
    ("households", "What will the income be next year? MAE.", "income"),
    ("households", "How much spending will there be in a year?", "spend"),
    # a proper noun's abbreviation: a ticker
    ("tickers", "How will Nvidia do next week? Predict its price.", "NVDA"),
    ("tickers", "Predict Oracle from the other stocks, R2.", "ORCL"),
    # a name that begins with a whole word of the request; an initial and two clipped words
    ("cars", "How much does a driver spend on fuel? MAE.", "fuelexp"),
    ("cars", "Estimate the monthly pay rate of the driver.", "mpayrate"),
    # capitals run together are words run together; an initial and a clipped word
    ("metals", "What will the price of steel be? R2.", "STEELPRICE"),
    ("metals", "Forecast world output, MAE.", "WORLDOUTPUT"),
    ("metals", "Predict energy production from the prices.", "eprod"),
    # a loose input cue far before a named column does not make it an input
    ("survey", "Is the account on a premium plan (premium)? ROC AUC.", "premium"),
])
def test_the_column_asked_for_is_chosen(table, text, target):
    choice = choose(text, table)
    assert choice.target == target, (choice.reason, choice.question)


def test_how_many_asks_for_a_count_of_whole_numbers():
    form = ev.question_form("how many times will a patient come back?")
    assert form is not None and form[0] == "count"
    whole = ev.ColumnFacts("visits", "numeric", 25, whole=True)
    measured = ev.ColumnFacts("bmi", "numeric", 180)
    assert ev.shape_fit("count", whole) > ev.shape_fit("count", measured) > 0
    assert ev.shape_fit("count", ev.ColumnFacts("city", "categorical", 5, ("a", "b"))) < 0


def test_names_read_as_acronyms_run_into_words():
    assert ev.name_readings("TVnews") == [["t", "vnews"], ["tv", "news"]]
    assert ev.name_readings("ZScore") == [["z", "score"], ["zs", "core"]]
    assert ev.name_readings("XMLHttp") == [["xml", "http"]]
    assert ev.name_readings("ClinLR") == [["clin", "lr"]]
    assert ev.name_readings("median_house_value") == [["median", "house", "value"]]


@pytest.mark.parametrize("text, column, expected", [
    ("estimate the working hours", "wrkhrs", "working hours"),
    ("classify the health status", "hlthstat", "health status"),
    ("predict physical limitation", "physlim", "physical limitation"),
])
def test_skeletons_and_clips_abbreviate_names(text, column, expected):
    assert ev.abbreviation(text, column) == expected


@pytest.mark.parametrize("text, column", [
    ("predict the average spend", "age"),  # "age" is in "average" but abbreviates nothing
    ("estimate the price of a home", "prh"),
])
def test_letters_inside_words_are_no_abbreviation(text, column):
    assert ev.abbreviation(text, column) is None


def test_units_and_subjects_are_what_the_request_is_about():
    columns = ["household", "spend", "year", "branch", "revenue"]
    about = ev.owners("how much will a household spend? predict revenue per branch", columns)
    assert {"household", "branch"} <= about
    # a unit counts only when the request names something else to predict
    assert ev.owners("predict each branch", columns) == set()


def test_words_that_describe_a_chinese_file_are_not_a_target():
    # 选民 (voter) describes the file; a glossary's English words stand in between
    assert choose("帮我看看这份选民数据能做什么。", "survey").target is None
    norm = "用这份数据预测价格表"  # the first data word ends the file's description
    assert ev.file_words(norm) == set()


@pytest.mark.parametrize("text, metric, goal", [
    ("预测婚姻满意度（1到5分），按类别分类，准确率。", "accuracy", None),  # a scale, not a goal
    ("Rate it on a 1 to 10 scale, accuracy of at least 0.8.", "accuracy", 0.8),
    ("准确率至少0.9，评分1-5。", "accuracy", 0.9),
])
def test_a_range_is_a_scale_not_a_goal(text, metric, goal):
    assert parse_goal(text, metric) == goal


def test_a_next_thing_that_is_asked_for_is_no_time_adverbial():
    columns = ["customer", "purchase", "year"]
    assert ev.owners("predict the customer's next purchase.", columns) == {"customer"}
    assert ev.owners("predict the next purchase", columns) == set()
    assert ev.owners("what will purchases be next year?", columns) == {"year"}


@pytest.mark.parametrize("text, english", [
    ("预测低收入家庭的比例", "low income"),  # not 低 + the glossary's income
    ("预测各地区的死亡率", "mortality rate"),  # not the glossary's death + 率
])
def test_a_longer_dictionary_word_wins_over_a_glossary_word_inside_it(text, english):
    from mlpilot.agent.glossary import gloss
    from mlpilot.agent.request_text import normalise

    assert english in gloss(normalise(text))
