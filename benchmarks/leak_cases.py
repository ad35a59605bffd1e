"""The data sets `leaks.py` runs the critic on, each with the columns it should flag.

Three sources:

- the shared data sets (`../shared/datasets`): expected = the manifest's `leaky_columns`
  and `id_like_columns`, nothing else;
- public data sets shipped inside scikit-learn (iris, wine, breast cancer, diabetes,
  digits), read from the package's own files: clean, nothing to flag;
- the same data sets with a leak or an identifier put in: a target that is the sum of two
  or four columns, or a column minus the target, or the target per unit of another column; a case
  number that repeats when a case comes back; a row number; columns recorded after the
  outcome, named in English or in Chinese; and clean look-alikes (an honest column derived
  from the features, Chinese names for ordinary measurements).

In an identity (target = a + b, a - b, a x b, a / b) both columns are expected: from the
table alone nobody can tell which side was computed from the target, and a reviewer
flags the identity. Injected columns use names that appear neither in the shared data nor
in the critic's lexicons verbatim where a generic word would do; the figures are still
development figures (the same person wrote the checks and these cases).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn import datasets as skd

DATASETS = Path(__file__).resolve().parents[2] / "shared" / "datasets"


@dataclass
class Case:
    """One data set: the frame, its target and task type, and the columns to be flagged."""

    name: str
    df: pd.DataFrame
    target: str
    task: str
    expected: set[str] = field(default_factory=set)
    source: str = "shared"


def shared_cases() -> Iterator[Case]:
    """The shared data sets with the manifest's leaky and ID-like columns."""
    manifest = DATASETS / "manifest.json"
    if not manifest.exists():
        return
    for entry in json.loads(manifest.read_text()):
        df = pd.read_csv(DATASETS / entry["file"], na_values=entry["na_values"] or None)
        yield Case(entry["name"], df, entry["target"], entry["task"],
                   set(entry["leaky_columns"]) | set(entry["id_like_columns"]))


def _bunch(loader, target: str, **kwargs) -> pd.DataFrame:
    """A scikit-learn bundled data set as one frame, the target named `target`."""
    bunch = loader(as_frame=True, **kwargs)
    df = bunch.frame.copy()
    df.columns = [str(c) for c in df.columns]
    df = df.rename(columns={"target": target})
    if "target_names" in bunch and target in df:
        names = np.asarray(bunch.target_names)
        df[target] = names[df[target].to_numpy()]
    return df


def public_frames() -> dict[str, tuple[pd.DataFrame, str, str]]:
    """The clean public data sets: name -> (frame, target, task type)."""
    return {
        "iris": (_bunch(skd.load_iris, "species"), "species", "multiclass"),
        "wine": (_bunch(skd.load_wine, "cultivar"), "cultivar", "multiclass"),
        "breast-cancer": (_bunch(skd.load_breast_cancer, "diagnosis"), "diagnosis", "binary"),
        "diabetes": (_bunch(skd.load_diabetes, "progression", scaled=False), "progression",
                     "regression"),
        "digits": (_bunch(skd.load_digits, "digit"), "digit", "multiclass"),
    }


def _repeating_ids(n: int, rng: np.random.Generator, returning: float = 0.2,
                   low: int = 100_000, high: int = 999_999) -> np.ndarray:
    """Case numbers: most cases once, a share of rows a returning case (a repeated number)."""
    distinct = int(n * (1 - returning))
    pool = rng.choice(np.arange(low, high), distinct, replace=False)
    ids = np.concatenate([pool, rng.choice(pool, n - distinct)])
    return rng.permutation(ids)


def _noisy_label(y: pd.Series, rng: np.random.Generator, agree: float) -> np.ndarray:
    """A column that equals the (binary-coded) target on about `agree` of the rows."""
    codes = pd.factorize(y)[0]
    flip = rng.random(len(y)) > agree
    other = (codes + rng.integers(1, max(codes.max(), 1) + 1, len(y))) % (codes.max() + 1)
    return np.where(flip, other, codes)


def injected_cases(seed: int = 0) -> Iterator[Case]:
    """The public data sets with leaks, identifiers and clean look-alikes put in."""
    frames = public_frames()
    rng = np.random.default_rng(seed)

    for name, (df, target, task) in frames.items():
        yield Case(name, df, target, task, set(), "sklearn")

    df, target, task = frames["diabetes"]
    y = df[target]
    share = rng.beta(5, 5, len(df))
    parts = df.assign(clinic_visits_score=np.round(y * share),
                      home_visits_score=lambda d: y - d["clinic_visits_score"])
    yield Case("diabetes+sum", parts, target, task,
               {"clinic_visits_score", "home_visits_score"}, "injected")
    quarters = np.round(y.to_numpy()[:, None] * rng.dirichlet([2, 2, 2, 2], len(df)), 1)
    quarters[:, -1] = y - quarters[:, :-1].sum(axis=1)
    names = ["q1_score", "q2_score", "q3_score", "q4_score"]
    yield Case("diabetes+parts", df.assign(**dict(zip(names, quarters.T, strict=True))),
               target, task, set(names), "injected")
    yield Case("diabetes+difference", df.assign(margin_over_bp=y - df["bp"]), target, task,
               {"margin_over_bp", "bp"}, "injected")
    yield Case("diabetes+ratio", df.assign(progression_per_bmi=y / df["bmi"]), target, task,
               {"progression_per_bmi", "bmi"}, "injected")
    yield Case("diabetes+scaled copy", df.assign(index_percent=y / y.max() * 100), target, task,
               {"index_percent"}, "injected")
    followup = y + rng.normal(0, y.std() * 1.2, len(df))  # a weak post-outcome measure
    zh = df.assign(随访结果=followup.round(1), 出院天数=rng.integers(1, 30, len(df)))
    yield Case("diabetes+post-outcome zh", zh, target, task, {"随访结果", "出院天数"}, "injected")
    honest = df.assign(bmi_band=pd.cut(df["bmi"], [0, 18.5, 25, 30, 99], labels=False),
                       bp_x_age=df["bp"] * df["age"])
    yield Case("diabetes+derived features", honest, target, task, set(), "injected")

    df, target, task = frames["breast-cancer"]
    yield Case("breast-cancer+case number", df.assign(case_no=_repeating_ids(len(df), rng)),
               target, task, {"case_no"}, "injected")
    post = df.assign(surgery_outcome=_noisy_label(df[target], rng, 0.75),
                     reimbursed_amount=np.round(rng.gamma(2, 300, len(df))
                                                * (1 + _noisy_label(df[target], rng, 0.7)), 2))
    yield Case("breast-cancer+post-outcome en", post, target, task,
               {"surgery_outcome", "reimbursed_amount"}, "injected")
    yield Case("breast-cancer+row id", df.assign(record=rng.permutation(len(df)) + 1), target,
               task, {"record"}, "injected")

    df, target, task = frames["wine"]
    batch = df.assign(批次编号=_repeating_ids(len(df), rng, returning=0.25))
    yield Case("wine+case number zh", batch, target, task, {"批次编号"}, "injected")
    zh = df.rename(columns={"alcohol": "酒精度", "malic_acid": "苹果酸", "ash": "灰分",
                            "color_intensity": "颜色强度", "hue": "色调", "proline": "脯氨酸"})
    yield Case("wine+chinese names", zh, target, task, set(), "injected")
    refund = df.assign(refund_issued=_noisy_label(df[target], rng, 0.7),
                       days_until_return=rng.integers(0, 60, len(df)))
    yield Case("wine+post-outcome en", refund, target, task,
               {"refund_issued", "days_until_return"}, "injected")

    df, target, task = frames["iris"]
    yield Case("iris+row number zh", df.assign(序号=np.arange(1, len(df) + 1)), target,
               task, {"序号"}, "injected")
    codes = df.assign(specimen_code=[f"S{v:05d}" for v in _repeating_ids(len(df), rng,
                                                                      low=1, high=99_999)])
    yield Case("iris+specimen code", codes, target, task, {"specimen_code"}, "injected")


def corpus_table_cases() -> Iterator[Case]:
    """Tables of the understanding corpus's later parts (public_data.py: WDBC as a clinic's
    export, plotly's sample tables), with the leaks and identifiers they were built with."""
    import public_data  # this folder's

    for file, target, task, expected in [
        ("tumours.csv", "malignant", "binary", {"case_no", "surgery_scheduled"}),
        ("wine_lab.csv", "class", "multiclass", {"bottle_code"}),
        ("tips.csv", "tip", "regression", {"check_id", "bill_with_tip"}),
        ("tips.csv", "total_bill", "regression", {"check_id", "bill_with_tip"}),
        ("tips.csv", "smoker", "binary", {"check_id"}),
        ("gapminder.csv", "gdpPercap", "regression", {"gdp"}),
        ("gapminder.csv", "lifeExp", "regression", set()),
        ("carshare.csv", "car_hours", "regression", set()),
        ("experiment.csv", "group", "binary", set()),
        # dev_r4's tables
        ("travel_mode.csv", "choice", "binary", {"individual"}),
        ("travel_mode.csv", "hinc", "regression", {"individual"}),
        ("vote96.csv", "vote", "binary", set()),
        ("vote96.csv", "popul", "regression", {"logpopul"}),
        ("statecrime.csv", "violent", "regression", {"state"}),
        ("ccard.csv", "INCOME", "regression", {"INCOMESQ"}),
        ("ccard.csv", "AVGEXP", "regression", set()),
        ("grunfeld.csv", "invest", "regression", set()),
        ("doctor_visits.csv", "mdvis", "regression", set()),
        ("affairs.csv", "affairs", "regression", set()),
        ("election.csv", "winner", "multiclass", {"district", "district_id"}),
        # dev_r5's tables
        ("macro.csv", "infl", "regression", {"realint"}),
        ("macro.csv", "unemp", "regression", set()),
        ("scotland.csv", "UNEMPF", "regression", {"COUTAX_FEMALEUNEMP"}),
        ("scotland.csv", "COUTAX", "regression", {"COUTAX_FEMALEUNEMP"}),
        ("scotland.csv", "YES", "regression", set()),
        # the three-way products hold the target too
        ("star98.csv", "PTRATIO", "regression",
         {"PERSPEN_PTRATIO", "PTRATIO_PCTAF", "PERSPEN_PTRATIO_PCTAF"}),
        ("star98.csv", "PERMINTE", "regression",
         {"PERMINTE_AVYRSEXP", "PERMINTE_AVSAL", "PERMINTE_AVYRSEXP_AVSAL"}),
        ("star98.csv", "NABOVE", "regression", set()),
        ("engel.csv", "foodexp", "regression", set()),
        ("stocks.csv", "AAPL", "regression", set()),
    ]:
        yield Case(f"{file.removesuffix('.csv')}:{target}", public_data.frame(file), target,
                   task, expected, "public")


def all_cases(seed: int = 0) -> Iterator[Case]:
    """Every case: the shared data sets, the public ones clean and injected, and the
    corpus's later tables."""
    yield from shared_cases()
    yield from injected_cases(seed)
    yield from corpus_table_cases()
