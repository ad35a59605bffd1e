"""Evidence about the data that the critic acts on: ID-like columns, leakage, imbalance.

The critic's other evidence lives beside this module: `post_outcome` (columns known only
after the outcome), `split_checks` (duplicated rows, time order) and `goal_checks` (a goal
the data cannot support). All return this module's `Flag`.

Each check takes a DataFrame (features and target), the target's name and the task
type, and returns `Flag`s that carry the evidence as numbers and one line of text.
Pure pandas/numpy (scikit-learn only for the boosted trees of `goal_checks`): no engine
import, no model training beyond tiny trees.

What the statistics can and cannot see: a column that is known only after the outcome
(a call's duration in a marketing campaign, a discharge code in a hospital stay) but
predicts it only moderately is invisible to them; that takes domain knowledge.
"""

from __future__ import annotations

import re
import warnings
from typing import Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel

from .single_feature_tree import cross_validated_predictions

#: A column needs this many non-missing values before uniqueness means anything.
MIN_VALUES = 20
ID_UNIQUE_FRACTION = 0.95
MONOTONIC_UNIQUE_FRACTION = 0.8
NAME_UNIQUE_FRACTION = 0.5
LEAK_THRESHOLD = 0.98
LEAK_MARGIN = 0.1
#: A near-perfect feature is explained (not a leak) when all the others together score this close.
LEAK_EXPLAINED = 0.02
#: Standard errors of slack when a classification score is compared with LEAK_THRESHOLD.
LEAK_Z = 2.0
IMBALANCE_RATIO = 0.5
SAMPLE_ROWS = 5000
TREE_DEPTH = 8
CV_FOLDS = 3

_DATE = re.compile(r"^\s*\d{1,4}[-/.]\d{1,2}[-/.]\d{1,4}([ T]\S.*)?$")
_LETTER = re.compile(r"[^\W\d_]")


FlagKind = Literal["id_like", "leakage", "post_outcome", "duplicates", "temporal", "imbalance",
                   "goal"]


class Flag(BaseModel):
    """One thing the critic found, with the evidence for it and what to do.

    `action` is the policy: "drop" the column, "ask" the user (the report puts the question),
    "switch_metric" to `suggestion`, or "advise" (a change only the user can judge).
    """

    kind: FlagKind
    column: str | None
    evidence: str
    score: float | None = None
    action: Literal["drop", "ask", "switch_metric", "advise"]
    suggestion: str


def name_words(name: str) -> list[str]:
    """Lower-case words of a column name: 'callDuration', 'call_duration' -> call, duration."""
    spaced = re.sub(r"([a-z0-9])([A-Z])", r"\1 \2", str(name))
    return [w for w in re.split(r"[^a-z0-9]+", spaced.lower()) if w]


# -- ID-like columns -------------------------------------------------------------------------

def _is_text(s: pd.Series) -> bool:
    return (pd.api.types.is_string_dtype(s) or pd.api.types.is_object_dtype(s)
            or isinstance(s.dtype, pd.CategoricalDtype))


def _sample_strings(values: pd.Series, n: int = 1000) -> pd.Series:
    if len(values) > n:
        values = values.sample(n, random_state=0)
    return values.astype(str)


def _numbers_or_dates(text: pd.Series) -> str | None:
    """'measurements' for decimal numbers written as text, 'dates' for dates; else None."""
    numbers = pd.to_numeric(text, errors="coerce")
    if numbers.notna().mean() >= 0.9:
        finite = numbers.dropna()
        return "measurements" if (finite != np.round(finite)).any() else None
    if text.str.match(_DATE).mean() >= 0.9:
        return "dates"
    return None


def _is_free_text(text: pd.Series) -> bool:
    """Sentences (reviews, notes): unique per row by nature, yet not identifiers."""
    return text.str.len().median() > 60 or text.str.split().str.len().median() > 6


def _looks_like_names(text: pd.Series) -> bool:
    """Short labels with letters (car models, person or product names), not free text."""
    return (text.str.contains(_LETTER).mean() >= 0.8 and not _is_free_text(text)
            and _numbers_or_dates(text) is None)


#: Name words that say "identifier" wherever they stand ('id_patient', 'PatientID').
ID_WORDS = frozenset({"id", "ids", "identifier", "uuid", "guid"})
#: ... and at the end of a name ('case_no', 'claim_number'; 'number_of_children' is a count).
ID_LAST_WORDS = frozenset({"no", "nr", "nbr", "num", "number", "serial", "ref", "reference"})
#: Weaker: a code or key may name a category ('zip_code'); these need more unique values.
CODE_LAST_WORDS = frozenset({"code", "key"})
#: The same in Chinese, found as substrings (Chinese names have no spaces to split on).
ID_WORDS_ZH = ("编号", "序号", "号码", "单号", "账号", "帐号", "卡号", "工号", "学号", "病历号",
               "住院号", "订单号", "标识")
CODE_WORDS_ZH = ("代码", "编码")
#: A column named as an identifier is one from this unique fraction on: a case that comes
#: back (a returning patient, a reopened claim) repeats its number, so it is not unique.
NAMED_ID_UNIQUE_FRACTION = 0.5
NAMED_CODE_UNIQUE_FRACTION = 0.8


def identifier_word(name: str) -> tuple[str, float] | None:
    """The word in a column name that says "identifier", with the unique fraction it needs."""
    words = name_words(name)
    found = ID_WORDS.intersection(words)
    if found:
        return min(found), NAMED_ID_UNIQUE_FRACTION
    if len(words) > 1 or (words and words[0] in ("nr", "nbr", "serial")):
        if words[-1] in ID_LAST_WORDS:
            return words[-1], NAMED_ID_UNIQUE_FRACTION
        if words[-1] in CODE_LAST_WORDS:
            return words[-1], NAMED_CODE_UNIQUE_FRACTION
    for word in ID_WORDS_ZH:
        if word in str(name):
            return word, NAMED_ID_UNIQUE_FRACTION
    for word in CODE_WORDS_ZH:
        if str(name).endswith(word):
            return word, NAMED_CODE_UNIQUE_FRACTION
    return None


def _repeats(values: pd.Series, column: str, word: str, counts: str) -> str:
    repeated = values.value_counts()
    repeated = repeated[repeated > 1]
    return (f"{column!r} is named as an identifier ({word!r}) and nearly unique: {counts}; "
            f"{len(repeated)} values repeat (up to {repeated.max() if len(repeated) else 1} "
            "times), as a case that comes back keeps its number")


def _id_flag(column: str, evidence: str, fraction: float, action: str) -> Flag:
    return Flag(kind="id_like", column=column, evidence=evidence, score=round(fraction, 4),
                action=action, suggestion=f"drop column {column!r}: an identifier carries no "
                "signal that generalises to new rows")


#: Whole numbers whose largest is this many times their smallest (all positive) span
#: orders of magnitude: populations and totals do, identifiers rarely do.
MAGNITUDE_SPAN = 1000.0
#: ... unless they fill their range this densely: shuffled row numbers 1..N.
DENSE_RANGE = 0.5


def _spans_magnitudes(values: pd.Series) -> bool:
    """Whether whole numbers look like a quantity: positive, spread over three orders of
    magnitude or more, and sparse in their range (row numbers fill theirs)."""
    low, high = float(values.min()), float(values.max())
    if low <= 0 or high / low < MAGNITUDE_SPAN:
        return False
    return values.nunique() / (high - low + 1) < DENSE_RANGE


#: A unique whole-number column whose rank correlation with another numeric column reaches
#: this is a quantity (votes per district, a council tax), not an identifier: identifiers
#: that are not in row order relate to nothing.
RELATED_RHO = 0.5


def _moves_with_others(df: pd.DataFrame, column: str) -> bool:
    """Whether `column` rises or falls with some other numeric column (|Spearman| >= 0.5)."""
    others = [c for c in df.columns if c != column and pd.api.types.is_numeric_dtype(df[c])
              and not pd.api.types.is_bool_dtype(df[c])]
    if not others:
        return False
    sample = df[[column, *others]].sample(min(len(df), 2000), random_state=0)
    ranks = sample.rank().to_numpy(dtype=float)
    ranks = np.where(np.isnan(ranks), np.nanmean(ranks, axis=0), ranks)
    with np.errstate(invalid="ignore", divide="ignore"):
        rho = np.corrcoef(ranks.T)[0, 1:]
    return bool(np.nanmax(np.abs(rho)) >= RELATED_RHO) if np.isfinite(rho).any() else False


#: A counter of groups numbers at least this many of them: "individual" 1,1,1,1,2,2,... in
#: a long-format table. Fewer could be a sorted code (hours 0-23, ratings 1-10).
MIN_GROUPS = 50


def _numbers_groups(values: pd.Series) -> bool:
    """Whether whole numbers count groups of rows: they start at 0 or 1, fill their range
    with no gap, never go down in file order, and repeat (rows of a group stay together)."""
    n = values.nunique()
    low, high = float(values.min()), float(values.max())
    return (n >= MIN_GROUPS and low in (0.0, 1.0) and high - low + 1 == n
            and len(values) >= 2 * n and values.is_monotonic_increasing)


def find_id_like_columns(df: pd.DataFrame, target: str) -> list[Flag]:
    """Columns that identify rows rather than describe them.

    Flags integer or text columns unique per row (unique fraction >= 0.95), integer columns
    that increase (or decrease) with row order and are nearly unique (>= 0.8), and text
    columns of high cardinality (> 0.5) whose values look like names or identifiers. A
    column whose name says identifier (`identifier_word`: id, case_no, claim_number, 编号,
    ...) needs less: a unique fraction of 0.5 (0.8 for a code or key), because a case that
    comes back repeats its number.
    Never flags booleans, datetimes, whole numbers over three orders of magnitude that do
    not fill their range (populations, totals: `_spans_magnitudes`), decimal measurements (floats with fractions, or
    such numbers written as text), date strings or free text (median > 6 words or 60
    chars). Uniqueness is over the non-missing values of the full frame; columns with fewer
    than MIN_VALUES of them, or mostly missing, are skipped.
    """
    flags = []
    for column in df.columns:
        if column == target:
            continue
        s = df[column]
        values = s.dropna()
        if (len(values) < MIN_VALUES or len(values) < 0.5 * len(s)
                or pd.api.types.is_bool_dtype(s) or pd.api.types.is_datetime64_any_dtype(s)):
            continue
        n_unique = values.nunique()
        fraction = n_unique / len(values)
        counts = (f"{n_unique} distinct values in {len(values)} rows "
                  f"(unique fraction {fraction:.2f})")
        named = identifier_word(column)
        if pd.api.types.is_numeric_dtype(s):
            if not (values == np.round(values)).all():
                continue  # a continuous measurement, however unique
            monotonic = values.is_monotonic_increasing or values.is_monotonic_decreasing
            near_unique = fraction >= MONOTONIC_UNIQUE_FRACTION
            if not monotonic and _spans_magnitudes(values):
                continue  # a count (a population, a total in cents): a quantity
            if not monotonic and fraction >= ID_UNIQUE_FRACTION and not named \
                    and _moves_with_others(df, column):
                continue  # votes, a tax: unique by chance, and related to other columns
            if fraction >= ID_UNIQUE_FRACTION or (monotonic and near_unique):
                order = " and follows the row order" if monotonic else ""
                flags.append(_id_flag(column, f"integer column {column!r} is unique per row"
                                      f"{order}: {counts}", fraction, "drop"))
            elif named and fraction >= named[1]:
                flags.append(_id_flag(column, "integer column " + _repeats(
                    values, column, named[0], counts), fraction, "drop"))
            elif _numbers_groups(values):
                flags.append(_id_flag(
                    column, f"integer column {column!r} numbers groups of rows in file order "
                    f"({int(values.min())} to {int(values.max())}, about "
                    f"{len(values) / n_unique:.1f} rows each), as a key of people or cases "
                    f"does: {counts}", fraction, "drop"))
        elif _is_text(s):
            text = _sample_strings(values)
            if _is_free_text(text):
                continue
            if fraction >= ID_UNIQUE_FRACTION and _numbers_or_dates(text) is None:
                flags.append(_id_flag(column, f"text column {column!r} is unique per row: {counts}",
                                      fraction, "drop"))
            elif named and fraction >= named[1] and _numbers_or_dates(text) is None:
                flags.append(_id_flag(column, "text column " + _repeats(
                    values, column, named[0], counts), fraction, "drop"))
            elif fraction > NAME_UNIQUE_FRACTION and _looks_like_names(text):
                examples = ", ".join(repr(v) for v in text.iloc[:3])
                flags.append(_id_flag(column, f"text column {column!r} holds names or identifiers "
                                      f"(e.g. {examples}): {counts}", fraction, "ask"))
    return flags


# -- leakage -----------------------------------------------------------------------------------

def _codes(s: pd.Series) -> np.ndarray:
    """Integer codes of a column's values, with missing as a value of its own."""
    try:
        return pd.factorize(s, sort=True, use_na_sentinel=False)[0]
    except TypeError:  # mixed types (numbers and text in one object column) do not sort
        return pd.factorize(s, use_na_sentinel=False)[0]


def _tree_input(s: pd.Series) -> np.ndarray:
    """One column as tree input: numbers as floats (NaN kept, trees split on it), rest ordinal."""
    if pd.api.types.is_bool_dtype(s) or not pd.api.types.is_numeric_dtype(s):
        if pd.api.types.is_datetime64_any_dtype(s):
            stamps = pd.to_datetime(s, utc=True)
            seconds = (stamps - pd.Timestamp(0, tz="UTC")).dt.total_seconds()
            return seconds.to_numpy(dtype=float, na_value=np.nan).reshape(-1, 1)
        return _codes(s).astype(float).reshape(-1, 1)
    values = pd.to_numeric(s, errors="coerce").to_numpy(dtype=float, copy=True)
    values[~(np.abs(values) <= np.finfo(np.float32).max)] = np.nan  # trees work in float32
    return values.reshape(-1, 1)


def _is_reencoding(feature: pd.Series, target: pd.Series) -> bool:
    """True when feature and target determine each other: each value maps to exactly one."""
    f, t = _codes(feature), _codes(target)
    n_f, n_t = f.max() + 1, t.max() + 1
    # A bijection between near-unique columns (an ID and a continuous target) means nothing.
    if n_f != n_t or n_f < 2 or n_f > 0.5 * len(f):
        return False
    return len(np.unique(f * n_t + t)) == n_f


def _cv_score(x: np.ndarray, y: np.ndarray, classification: bool, seed: int) -> tuple[float, float]:
    """Out-of-fold score of a depth-limited tree on one feature, and its standard error.

    Classification: balanced accuracy of the pooled out-of-fold predictions, with the
    standard error of that mean of per-class recalls. Regression: pooled R^2, error 0.
    """
    pred = cross_validated_predictions(x, y, classification=classification, max_depth=TREE_DEPTH,
                                       n_splits=CV_FOLDS, seed=seed)
    if not classification:
        total = ((y - y.mean()) ** 2).sum()
        return (1.0 - ((y - pred) ** 2).sum() / total if total > 0 else 0.0), 0.0
    present = np.unique(y)
    sizes = np.array([(y == c).sum() for c in present])
    recalls = np.array([(pred[y == c] == c).mean() for c in present])
    error = np.sqrt((recalls * (1 - recalls) / sizes).sum()) / len(present)
    return float(recalls.mean()), float(error)


def _single_feature_scores(df: pd.DataFrame, target: str, classification: bool, seed: int
                           ) -> dict[str, tuple[float, float]]:
    if len(df) > SAMPLE_ROWS:
        df = df.sample(SAMPLE_ROWS, random_state=seed)
    if classification:
        y = _codes(df[target])
    else:
        y = pd.to_numeric(df[target], errors="coerce").to_numpy(dtype=float)
    scores = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for column in df.columns:
            if column != target:
                scores[column] = _cv_score(_tree_input(df[column]), y, classification, seed)
    return scores


def find_leaky_columns(df: pd.DataFrame, target: str, task_type: str, *, seed: int = 0
                       ) -> list[Flag]:
    """Features that give the target away: they predict it (almost) perfectly on their own.

    Each feature alone gets a cross-validated score from a depth-8 decision tree (3 shuffled
    folds on at most 5000 sampled rows; categoricals ordinal-encoded, missing as its own
    code): balanced accuracy for classification, R^2 for regression. A feature is flagged
    when its score reaches 0.98 and beats the best other feature by at least 0.1 (several
    near-perfect features mean an easy task, not a leak), and by 0.02 what boosted trees on
    all the other features together score (a strong feature that the others explain, as a
    mushroom's odour, is the task being easy). For classification, "reaches"
    allows two standard errors of the score: on small data with rare classes a perfect
    predictor still loses a few rows at fold boundaries (glass: the row Id, sorted by
    class, scores 0.94-0.98 on 214 rows depending on the folds). Two noisy copies of one
    leak hide each other from this test; exact copies are caught by the next one.

    Independently, a column that is a 1:1 re-encoding of the target (each of its values
    maps to one target value and back; both with repeated values) is always flagged.
    """
    if target not in df.columns:
        return []
    classification = task_type != "regression"
    data = df[df[target].notna()]
    if len(data) < MIN_VALUES or data.shape[1] < 2:
        return []
    if not classification and pd.to_numeric(data[target], errors="coerce").isna().any():
        return []  # a regression target that is not numeric is the validators' problem
    scores = _single_feature_scores(data, target, classification, seed)
    reaches = {c for c, (s, err) in scores.items() if s + LEAK_Z * err >= LEAK_THRESHOLD}
    metric = "balanced accuracy" if classification else "R^2"
    flags = []
    for column, (score, _) in sorted(scores.items(), key=lambda kv: -kv[1][0]):
        others = {c: s for c, (s, _) in scores.items() if c != column}
        runner = max(others, key=others.get) if others else None
        versus = f"runner-up {runner!r} {others[runner]:.3f}" if runner else "no other feature"
        said = (f"{column!r} alone predicts {target!r} with {metric} {score:.3f} "
                f"(cross-validated tree, {min(len(data), SAMPLE_ROWS)} rows); {versus}")
        if _is_reencoding(data[column], data[target]):
            n = data[column].nunique(dropna=False)
            evidence = (f"{column!r} is a 1:1 re-encoding of {target!r} ({n} values, each "
                        f"mapping to one target value and back); {said}")
        elif column in reaches and runner is not None and score - others[runner] >= LEAK_MARGIN:
            rest, _, _ = _rest_score(data.drop(columns=column), target, task_type, seed)
            if not rest < score - LEAK_EXPLAINED:  # the others together explain it: a strong feature
                continue
            evidence = f"{said}; all other features together score {rest:.3f}"
        else:
            continue
        flags.append(Flag(kind="leakage", column=column, evidence=evidence, score=round(score, 4),
                          action="drop", suggestion=f"drop column {column!r}: it gives the target "
                          "away and will not be known when predicting new rows"))
    return flags


def _rest_score(data: pd.DataFrame, target: str, task_type: str, seed: int
                ) -> tuple[float, float, int]:
    """Boosted trees on every other feature together, cross-validated (goal_checks' baseline)."""
    from mlpilot.guardrails.quick_baseline import quick_baseline  # scikit-learn; imports us

    metric = "r2" if task_type == "regression" else "balanced_accuracy"
    if data.shape[1] < 2:
        return float("-inf"), 0.0, len(data)
    return quick_baseline(data, target, task_type, metric, seed=seed)


# -- metric vs class balance -----------------------------------------------------------------

def check_metric_vs_imbalance(df: pd.DataFrame, target: str, task_type: str, metric: str
                              ) -> list[Flag]:
    """Accuracy on imbalanced classes (minority/majority < 0.5) rewards predicting the majority.

    The flag's `suggestion` is the metric to switch to: "f1" for binary tasks,
    "balanced_accuracy" for multiclass. Other metrics and regression are never flagged.
    """
    if task_type == "regression" or metric != "accuracy" or target not in df.columns:
        return []
    counts = df[target].value_counts(dropna=True)
    if len(counts) < 2:
        return []
    ratio = float(counts.iloc[-1] / counts.iloc[0])
    if ratio >= IMBALANCE_RATIO:
        return []
    better = "f1" if task_type == "binary" else "balanced_accuracy"
    shown = ", ".join(f"{k}: {v}" for k, v in counts.head(10).items())
    majority = counts.iloc[0] / counts.sum()
    evidence = (f"{target!r} is imbalanced: minority/majority = {ratio:.2f} ({shown}); always "
                f"predicting '{counts.index[0]}' already scores accuracy {majority:.2f}")
    return [Flag(kind="imbalance", column=target, evidence=evidence, score=round(ratio, 4),
                 action="switch_metric", suggestion=better)]
