"""The offline expert's reading of requests: budgets, metrics, goals, columns, task hints.

Table-driven: each row is a request a user could type, in English or Chinese, and what the
planner must get out of it. Column names come from the real data sets in shared/datasets.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from mlpilot.agent.understanding import (
    RequestError,
    TargetMatch,
    Understanding,
    find_drop_columns,
    find_target,
    find_task_type_hint,
    has_task_intent,
    parse_budget,
    parse_goal,
    parse_metric,
    understand,
)

DATASETS = Path(__file__).resolve().parents[3] / "shared" / "datasets"


def _headers() -> dict[str, list[str]]:
    if not DATASETS.is_dir():
        return {}
    headers = {}
    for path in sorted(DATASETS.glob("*.csv")):
        with path.open(newline="", encoding="utf-8") as f:
            headers[path.stem] = next(csv.reader(f))
    return headers


COLUMNS = _headers()
needs_data = pytest.mark.skipif(not COLUMNS, reason="shared/datasets is not present")


def columns(dataset: str) -> list[str]:
    """The real header of a shared data set."""
    if dataset not in COLUMNS:
        pytest.skip(f"shared/datasets/{dataset}.csv is not present")
    return COLUMNS[dataset]


# --- budget ----------------------------------------------------------------------------------

BUDGETS = [
    ("2 minutes", 120), ("90s", 90), ("90 sec", 90), ("90 seconds", 90), ("1.5 hours", 5400),
    ("1h30m", 5400), ("1h 30m", 5400), ("2m30s", 150), ("1 hour and 30 minutes", 5400),
    ("within 45 seconds", 45), ("in under 3 min", 180), ("3 mins", 180), ("2 hrs", 7200),
    ("1 day", 86400), (".5 hours", 1800), ("Train for 10 Minutes", 600),
    ("two minutes", 120), ("twenty-five minutes", 1500), ("a minute", 60), ("an hour", 3600),
    ("half an hour", 1800), ("an hour and a half", 5400), ("one and a half hours", 5400),
    ("a couple of minutes", 120), ("5-10 minutes", 600),
    ("三分钟", 180), ("3分钟", 180), ("两分钟", 120), ("半小时", 1800), ("半个小时", 1800),
    ("一个半小时", 5400), ("两个半小时", 9000), ("30秒", 30), ("十五分钟", 900),
    ("二十分钟", 1200), ("一百二十秒", 120), ("2 分钟内", 120), ("两个小时", 7200),
    ("1小时30分", 5400), ("一小时三十分钟", 5400), ("一分半钟", 90), ("一刻钟", 900),
    ("３分钟", 180),  # full-width digit
    ("predict species, at least 95% accuracy, within 2 minutes", 120),
    ("预测 species，准确率至少95%，三分钟", 180),
    # a time marked as the limit wins over another duration in the request
    ("report every 10 seconds, finish in under 5 minutes", 300),
    ("on 5m rows, in 2 minutes", 120),
    ("Take at most 90 sec.", 90), ("time budget: 120 seconds", 120), ("给你两分钟", 120),
    ("限时十分钟", 600), ("五分钟以内", 300),
]


@pytest.mark.parametrize("text, seconds", BUDGETS)
def test_budget_is_read_in_seconds(text, seconds):
    assert parse_budget(text) == pytest.approx(seconds)


NO_BUDGET = [
    "predict species", "at least 95% accuracy", "accuracy at least 0.95", "r2 > .8",
    "rmse below 50000", "use 80% of the rows", "predict income in 2021", "top 3 models",
    "predict mpg for cars from the 70s", "二分类", "十分重要", "准确率95分", "f1 score 0.9",
    "predict bill_length_mm", "3 models", "", "hello there",
]


@pytest.mark.parametrize("text", NO_BUDGET)
def test_no_budget_when_none_is_stated(text):
    assert parse_budget(text) is None


BAD_BUDGETS = [
    ("-5 minutes", "budget '-5 minutes' must be a positive time, e.g. '2 minutes' or '90s'"),
    ("predict price in 0 seconds", "budget '0 seconds' must be a positive time"),
    ("-5分钟", "budget '-5分钟' must be a positive time"),
    ("forever", "budget 'forever' is not a time limit: give one, e.g. '2 minutes'"),
    ("take forever if you like", "budget 'forever' is not a time limit"),
    ("no time limit", "budget 'no time limit' is not a time limit"),
    ("unlimited", "budget 'unlimited' is not a time limit"),
    ("永远", "budget '永远' is not a time limit"),
    ("时间无限", "budget '无限' is not a time limit"),
]


@pytest.mark.parametrize("text, message", BAD_BUDGETS)
def test_unusable_budget_is_a_request_error(text, message):
    with pytest.raises(RequestError) as caught:
        parse_budget(text)
    assert str(caught.value).startswith(message)
    assert "\n" not in str(caught.value)
    assert isinstance(caught.value, ValueError)


def test_a_stated_time_wins_over_a_loose_unbounded_word():
    assert parse_budget("no time limit on features, but finish within 2 minutes") == 120


def test_a_dash_used_as_separator_is_not_a_minus_sign():
    assert parse_budget("predict species - 2 minutes") == 120


# --- metric ----------------------------------------------------------------------------------

METRICS = [
    ("accuracy", "accuracy"), ("acc", "accuracy"), ("Accuracy", "accuracy"),
    ("balanced accuracy", "balanced_accuracy"), ("balanced_accuracy", "balanced_accuracy"),
    ("F1", "f1"), ("f1-score", "f1"), ("macro F1", "f1"), ("AUC", "roc_auc"),
    ("ROC AUC", "roc_auc"), ("roc_auc", "roc_auc"), ("R2", "r2"), ("R²", "r2"),
    ("r-squared", "r2"), ("R^2", "r2"), ("coefficient of determination", "r2"),
    ("RMSE", "rmse"), ("root mean squared error", "rmse"), ("MAE", "mae"),
    ("mean absolute error", "mae"), ("准确率", "accuracy"), ("正确率", "accuracy"),
    ("精度", "accuracy"), ("平衡准确率", "balanced_accuracy"), ("F1值", "f1"),
    ("决定系数", "r2"), ("R方", "r2"), ("均方根误差", "rmse"), ("平均绝对误差", "mae"),
    ("predict species with at least 95% accuracy", "accuracy"),
    ("optimise balanced accuracy, not plain accuracy", "balanced_accuracy"),
    ("maximise AUC, also report accuracy", "roc_auc"),
    ("预测 species，准确率至少95%，三分钟", "accuracy"),
    ("以平衡准确率为准", "balanced_accuracy"),
]


@pytest.mark.parametrize("text, metric", METRICS)
def test_metric_is_read_from_names_and_abbreviations(text, metric):
    assert parse_metric(text) == metric


@pytest.mark.parametrize("text", [
    "predict species in 2 minutes", "accept the default", "auction prices", "r2d2",
    "bill_length_mm", "hello there", "",
])
def test_no_metric_when_none_is_named(text):
    assert parse_metric(text) is None


# --- goal ------------------------------------------------------------------------------------

GOALS = [
    ("at least 95% accuracy", "accuracy", 0.95),
    ("accuracy ≥ 0.9", "accuracy", 0.9),
    ("accuracy >= 0.9", "accuracy", 0.9),
    ("R² of at least 0.75", "r2", 0.75),
    ("r2 > .8", "r2", 0.8),
    ("rmse below 50000", "rmse", 50000.0),
    ("RMSE under $50,000", "rmse", 50000.0),
    ("mae below 50k", "mae", 50000.0),
    ("准确率至少95%", "accuracy", 0.95),
    ("准确率不低于0.9", "accuracy", 0.9),
    ("达到95%", "accuracy", 0.95),
    ("准确率达到95%", "accuracy", 0.95),
    ("95%以上的准确率", "accuracy", 0.95),
    ("百分之九十五的准确率", "accuracy", 0.95),
    ("accuracy of 95 percent", "accuracy", 0.95),
    ("accuracy 95", "accuracy", 0.95),  # a 1-100 score of a bounded metric is a percentage
    ("at least 0.95", "accuracy", 0.95),
    ("0.9 AUC or better", "roc_auc", 0.9),
    ("get 95% test accuracy", None, 0.95),
    ("predict species, at least 95% accuracy, within 2 minutes", "accuracy", 0.95),
    ("within 2 minutes and accuracy of at least 0.9", "accuracy", 0.9),
    ("f1 above 0.8 and accuracy above 0.9", "accuracy", 0.9),
    ("f1 above 0.8 and accuracy above 0.9", "f1", 0.8),
    ("accuracy, at least 0.9", "accuracy", 0.9),
    ("预测 species，准确率至少95%，三分钟", "accuracy", 0.95),
    ("准确率要达到百分之九十五", "accuracy", 0.95),
    ("R方不低于0.8", "r2", 0.8),
    ("均方根误差低于0.7", "rmse", 0.7),
    ("accuracy should be at least 0.95", "accuracy", 0.95),
    ("predict price; rmse < 600; budget 5m", "rmse", 600.0),
]


@pytest.mark.parametrize("text, metric, goal", GOALS)
def test_goal_is_read_and_percentages_become_fractions(text, metric, goal):
    assert parse_goal(text, metric) == pytest.approx(goal)


NO_GOAL = [
    ("predict species in 2 minutes", "accuracy"),
    ("at least 2 minutes", "accuracy"),
    ("accuracy within 3 minutes", "accuracy"),
    ("train on at least 1000 rows", "accuracy"),
    ("accuracy, 5 folds", "accuracy"),
    ("use 80% of the data for training", "accuracy"),
    ("predict bill_length_mm", "r2"),
    ("report f1 and r2", "r2"),
    ("三分钟", "accuracy"),
    ("f1 above 0.8", "accuracy"),  # a goal for another metric is not this metric's goal
]


@pytest.mark.parametrize("text, metric", NO_GOAL)
def test_no_goal_from_budgets_counts_or_other_numbers(text, metric):
    assert parse_goal(text, metric) is None


# --- target ----------------------------------------------------------------------------------

TARGETS = [
    ("california_housing", "predict median house value", "median_house_value"),
    ("california_housing", "Predict the median_house_value from median income",
     "median_house_value"),
    ("california_housing", "predict median house values within 2 minutes", "median_house_value"),
    ("penguins", "predict the species of a penguin", "species"),
    ("penguins", "predict species from bill length", "species"),
    ("penguins", "from bill length and flipper length, predict species", "species"),
    ("penguins", "predict body mass from flipper length", "body_mass_g"),
    ("penguins", "classify penguins by species", "species"),
    ("penguins", "预测 species，准确率至少95%，三分钟", "species"),
    ("penguins", "根据 bill_length_mm 预测 species", "species"),
    ("penguins", "对 species 分类", "species"),
    ("penguins", "species, 95%, 2 minutes", "species"),
    ("adult", "predict income", "income"),
    ("adult", "predict whether income exceeds 50K from education and age", "income"),
    ("adult", "predict education num", "education-num"),
    ("adult", "forecast hours per week", "hours-per-week"),
    ("titanic", "predict whether the passenger survived", "survived"),
    ("titanic", "predict who survived", "survived"),
    ("titanic", "Given age and fare, which passengers survived?", "survived"),
    ("titanic", "survived is the target; ignore alive", "survived"),
    ("titanic", "target: `who`", "who"),
    ("wine_quality_white", "predict the quality of the wine", "quality"),
    ("wine_quality_white", "predict residual sugar from alcohol and pH", "residual sugar"),
    ("wine_quality_white", "estimate quality using fixed acidity and volatile acidity",
     "quality"),
    ("diamonds", "predict the price of a diamond", "price"),
    ("diamonds", "estimate diamond prices using carat, cut and color", "price"),
    ("diamonds", "price prediction", "price"),
    ("mpg", "predict mpg from weight and horsepower, ignore the name column", "mpg"),
    ("bank_marketing", "predict y without duration", "y"),
    ("bank_marketing", "predict whether the client subscribes (y)", "y"),
    ("german_credit", "classify credit class, drop foreign_worker", "class"),
    ("glass", "对 Type 分类", "Type"),
    ("glass", "glass type classification, ignore Id", "Type"),
    ("glass", "预测玻璃的 Type，不要用 Id", "Type"),
    ("penguins", "train a model on bill length to predict species", "species"),
    ("penguins", "I need a classifier for the species column", "species"),
    ("penguins", "预测企鹅的种类（species），准确率要达到百分之九十五", "species"),
    ("penguins", "请用 island 和 sex 以外的特征预测 species", "species"),
]


@needs_data
@pytest.mark.parametrize("dataset, text, column", TARGETS)
def test_target_is_found_among_real_columns(dataset, text, column):
    match = find_target(text, columns(dataset))
    assert match is not None and match.column == column


@needs_data
@pytest.mark.parametrize("dataset, text", [
    ("titanic", "hello there"),
    ("penguins", "predict something useful in 2 minutes"),
    ("penguins", "using bill length and flipper length"),  # inputs only
    ("mpg", "ignore the name column"),  # a dropped column is never the target
    ("california_housing", "预测房价"),
])
def test_no_target_when_the_request_names_none(dataset, text):
    assert find_target(text, columns(dataset)) is None


@needs_data
@pytest.mark.parametrize("dataset", sorted(COLUMNS))
def test_every_manifest_target_is_found_when_asked_for(dataset):
    manifest = {Path(d["file"]).stem: d for d in
                json.loads((DATASETS / "manifest.json").read_text(encoding="utf-8"))}
    target = manifest[dataset]["target"]
    others = [c for c in columns(dataset) if c != target][:2]
    spoken = target.replace("_", " ")
    english = f"Predict {spoken} from {' and '.join(others)} within 2 minutes"
    chinese = f"根据 {others[0]} 预测 {target}，三分钟"
    assert find_target(english, columns(dataset)).column == target
    assert find_target(chinese, columns(dataset)).column == target


def test_target_evidence_quotes_the_request():
    match = find_target("Please predict the species of a penguin", ["species", "island"])
    assert match == TargetMatch("species", "'predict the species' asks to predict it")


def test_longest_column_name_wins_an_overlap():
    cols = ["education", "education-num", "income"]
    assert find_target("predict education num", cols).column == "education-num"
    assert find_target("predict education", cols).column == "education"


def test_chinese_column_names_are_matched_inside_chinese_text():
    assert find_target("根据面积预测价格", ["面积", "价格"]).column == "价格"


def test_camel_case_columns_match_spoken_words():
    assert find_target("predict med house val", ["MedInc", "MedHouseVal"]).column == "MedHouseVal"


# --- drops -----------------------------------------------------------------------------------

DROPS = [
    ("mpg", "predict mpg, ignore the name column", ["name"]),
    ("glass", "drop Id and RI", ["Id", "RI"]),
    ("glass", "predict Type; exclude Id, Na, Mg", ["Id", "Na", "Mg"]),
    ("bank_marketing", "predict y without duration", ["duration"]),
    ("bank_marketing", "don't use duration or pdays", ["duration", "pdays"]),
    ("titanic", "predict survived, leave out alive and deck columns", ["alive", "deck"]),
    ("titanic", "use every column except alive", ["alive"]),
    ("titanic", "不要用 alive", ["alive"]),
    ("titanic", "忽略 alive 和 deck 两列", ["alive", "deck"]),
    ("titanic", "预测 survived，忽略 alive、deck", ["alive", "deck"]),
    ("mpg", "使用除了 name 以外的所有列预测 mpg", ["name"]),
    ("adult", "predict income excluding fnlwgt; also drop fnlwgt", ["fnlwgt"]),
    ("titanic", "drop rows where fare is missing", []),
    ("mpg", "predict mpg from weight", []),
    ("penguins", "drop nothing, predict species", []),
    ("penguins", "请用 island 和 sex 以外的特征预测 species", ["island", "sex"]),
    ("penguins", "sex 除外，预测 species", ["sex"]),
    ("diamonds", "predict price; exclude x, y and z", ["x", "y", "z"]),
    ("titanic", "drop alive, who and adult_male", ["alive", "who", "adult_male"]),
]


@needs_data
@pytest.mark.parametrize("dataset, text, dropped", DROPS)
def test_drop_columns_are_the_columns_listed_after_a_drop_word(dataset, text, dropped):
    assert find_drop_columns(text, columns(dataset)) == dropped


def test_an_element_named_in_words_drops_the_column_named_by_its_symbol():
    # an alloy table made up here: compositions name elements by their symbols
    alloy = ["sample", "Cu", "Zn", "Sn", "Pb", "hardness"]
    assert find_drop_columns("Predict hardness, leaving out tin and zinc.", alloy) == ["Sn", "Zn"]
    assert find_drop_columns("Predict hardness without the lead", alloy) == ["Pb"]
    assert find_drop_columns("Predict hardness from copper", alloy) == []


# --- task type and intent --------------------------------------------------------------------

TASK_TYPES = [
    ("binary classification of survived", "binary"), ("a yes/no question", "binary"),
    ("yes or no", "binary"), ("two classes", "binary"), ("二分类", "binary"),
    ("multiclass", "multiclass"), ("multi-class classification", "multiclass"),
    ("3 classes", "multiclass"), ("多分类", "multiclass"),
    ("regression", "regression"), ("how much will a diamond cost", "regression"),
    ("how many bikes are rented", "regression"), ("回归", "regression"),
    ("classify the species", None), ("classification", None), ("which class", None),
    ("分类", None), ("logistic regression", None), ("predict price", None),
    ("how many classes are there", None), ("no matter how much time it takes", None),
    ("", None),
]


@pytest.mark.parametrize("text, hint", TASK_TYPES)
def test_task_type_hint_only_when_stated(text, hint):
    assert find_task_type_hint(text) == hint


INTENTS = [
    ("predict species", True), ("forecast sales", True), ("classify emails", True),
    ("estimate the price", True), ("build a model", True), ("train something", True),
    ("run a regression", True), ("binary classification", True), ("detect fraud", True),
    ("预测价格", True), ("分类", True), ("回归分析", True), ("训练一个模型", True),
    ("hello there", False), ("what's the weather", False), ("thanks!", False),
    ("你好", False), ("", False),
]


@pytest.mark.parametrize("text, intent", INTENTS)
def test_task_intent(text, intent):
    assert has_task_intent(text) is intent


# --- all together ----------------------------------------------------------------------------

@needs_data
def test_understand_an_english_request():
    got = understand("Predict species from penguins.csv, at least 95% accuracy, within 2 "
                     "minutes; ignore island", columns("penguins"))
    assert got == Understanding(
        target=TargetMatch("species", "'predict species' asks to predict it"),
        metric="accuracy", goal=0.95, budget_s=120.0, drop_columns=["island"],
        task_type_hint=None, has_intent=True)


@needs_data
def test_understand_a_chinese_request():
    got = understand("预测 species，准确率至少95%，三分钟，不要用 island，多分类",
                     columns("penguins"))
    assert (got.target.column, got.metric, got.goal, got.budget_s, got.drop_columns,
            got.task_type_hint, got.has_intent) == (
        "species", "accuracy", 0.95, 180.0, ["island"], "multiclass", True)


@needs_data
def test_understand_a_regression_request_keeps_error_units():
    got = understand("regression: predict median house value with RMSE below 50000 in 1h30m",
                     columns("california_housing"))
    assert (got.target.column, got.metric, got.goal, got.budget_s, got.task_type_hint) == (
        "median_house_value", "rmse", 50000.0, 5400.0, "regression")


def test_understand_leaves_a_missing_target_to_the_planner():
    got = understand("hello there", ["a_column"])
    assert got == Understanding()


def test_understand_rejects_an_unbounded_budget():
    with pytest.raises(RequestError, match="'forever' is not a time limit"):
        understand("predict species forever", ["species"])


@pytest.mark.parametrize("text", [
    "Predict the monthly cost from size, floor and age.",
    "From size, floor, and age, predict what the flat costs.",
    "根据 size、floor 和 age 预测 rent",
])
def test_every_column_listed_after_an_input_cue_is_an_input(text):
    from mlpilot.agent.understanding import column_mentions

    roles = {m.column: m.role for m in column_mentions(text, ["size", "floor", "age", "rent"])}
    assert {roles[c] for c in ("size", "floor", "age")} == {"input"}, roles
    assert roles.get("rent", "target") == "target"
