"""Public data sets made at benchmark time from data that installed packages ship.

Nothing downloads: every table comes from files bundled inside installed packages
(scikit-learn's `sklearn.datasets.load_*`, matplotlib's and plotly's sample data,
statsmodels' `statsmodels.datasets`), written as CSV with the column names a person would give
them and targets coded as real files code them (strings, or integer codes). Benchmarks
refer to them as `public/<file>` (e.g. `public/iris.csv`); `resolve` turns such a name
into a path, writing the file into a cache folder the first time.

`manifest()` describes them with the keys of ../shared/datasets/manifest.json (task,
target, ID-like and leaky columns), so a benchmark can treat both sets alike.

    from public_data import resolve, manifest
    path = resolve("public/wine_cultivars.csv")
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

#: How a corpus or benchmark names a public data set: this prefix, then the file name.
PREFIX = "public/"
#: Where the CSVs are written, unless MLPILOT_PUBLIC_DATA_DIR says otherwise.
DEFAULT_CACHE = Path(tempfile.gettempdir()) / "mlpilot-public-data"


@dataclass(frozen=True)
class PublicDataset:
    """One table built from a package's bundled data, and what a careful reader knows of it."""

    file: str
    build: Callable[[], pd.DataFrame]
    target: str
    task: str
    source: str
    notes: str
    id_like_columns: list[str] = field(default_factory=list)
    leaky_columns: list[str] = field(default_factory=list)


def _snake(name: str) -> str:
    return "_".join(name.replace("/", " ").replace("(", " ").replace(")", " ").split()).lower()


def _iris() -> pd.DataFrame:
    from sklearn.datasets import load_iris

    raw = load_iris(as_frame=True)
    df = raw.data.rename(columns=_snake)
    df["species"] = np.asarray(raw.target_names)[raw.target.to_numpy()]
    return df


def _wine() -> pd.DataFrame:
    from sklearn.datasets import load_wine

    raw = load_wine(as_frame=True)
    df = raw.data.rename(columns=_snake)
    # The three cultivars as the UCI file codes them, but from 0: integer class codes.
    df["cultivar"] = raw.target.astype(int)
    return df


def _breast_cancer() -> pd.DataFrame:
    from sklearn.datasets import load_breast_cancer

    raw = load_breast_cancer(as_frame=True)
    df = raw.data.rename(columns=_snake)
    # The original WDBC file starts with a patient ID number; a fixed seed keeps it stable.
    ids = np.random.default_rng(569).choice(np.arange(84_000, 920_000), size=len(df),
                                            replace=False)
    df.insert(0, "patient_id", ids)
    # sklearn codes 0 = malignant, 1 = benign; the file says it in words.
    df["diagnosis"] = np.where(raw.target.to_numpy() == 0, "malignant", "benign")
    return df


def _diabetes() -> pd.DataFrame:
    from sklearn.datasets import load_diabetes

    raw = load_diabetes(as_frame=True, scaled=False)
    # s1..s6 are the six blood serum measurements (see sklearn's diabetes.rst).
    names = {"s1": "tc", "s2": "ldl", "s3": "hdl", "s4": "tch", "s5": "ltg", "s6": "glu"}
    df = raw.data.rename(columns=names)
    df["sex"] = df["sex"].astype(int)  # 1 / 2, as the source codes it
    df["age"] = df["age"].astype(int)
    df["disease_progression"] = raw.target.astype(int)
    return df


def _digits() -> pd.DataFrame:
    from sklearn.datasets import load_digits

    raw = load_digits(as_frame=True)
    df = raw.data.rename(columns=lambda c: c.replace("pixel_", "px_")).astype(int)
    df["digit"] = raw.target.astype(int)
    return df


def _linnerud() -> pd.DataFrame:
    from sklearn.datasets import load_linnerud

    raw = load_linnerud(as_frame=True)
    body = raw.target.rename(columns=str.lower).astype(int)
    exercise = raw.data.rename(columns=str.lower).astype(int)
    return pd.concat([body, exercise], axis=1)


# -- tables of corpus/dev_new.yaml: shapes, names and codings the planner was never tuned on --


def _tumours() -> pd.DataFrame:
    """WDBC as a clinic's export: the ten "mean" measurements with short names, a case
    number that repeats when a case comes back, the outcome coded 1 = malignant / 0 =
    benign, and a column recorded only after the diagnosis (surgery scheduled)."""
    from sklearn.datasets import load_breast_cancer

    raw = load_breast_cancer(as_frame=True)
    means = raw.data[[c for c in raw.data.columns if c.startswith("mean ")]]
    df = means.rename(columns=lambda c: _snake(c.removeprefix("mean ")))
    rng = np.random.default_rng(1978)
    cases = rng.choice(np.arange(10_000, 99_999), size=len(df), replace=False)
    back = rng.random(len(df)) < 0.08  # returning cases reuse an earlier case number
    cases[back] = rng.choice(cases[~back], size=int(back.sum()))
    df.insert(0, "case_no", cases)
    malignant = (raw.target.to_numpy() == 0).astype(int)
    df["malignant"] = malignant
    noise = rng.random(len(df)) < 0.03
    df["surgery_scheduled"] = np.where(noise, 1 - malignant, malignant)
    return df


def _wine_lab() -> pd.DataFrame:
    """UCI wine as the original file codes it: class 1/2/3 (not 0-based), a bottle code."""
    from sklearn.datasets import load_wine

    raw = load_wine(as_frame=True)
    df = raw.data.rename(columns=_snake)
    df.insert(0, "bottle_code", [f"B{i:04d}" for i in
                                 np.random.default_rng(7).permutation(len(df)) + 1])
    df["class"] = raw.target.astype(int) + 1
    return df


def _mpl_sample(name: str) -> Path:
    import matplotlib

    return Path(matplotlib.get_data_path()) / "sample_data" / name


def _msft_prices() -> pd.DataFrame:
    """Microsoft daily prices (matplotlib's sample data, 64 trading days of 2003)."""
    df = pd.read_csv(_mpl_sample("msft.csv"))
    df = df.rename(columns=lambda c: _snake(c.replace(".", "").replace("*", "")))
    df["date"] = pd.to_datetime(df["date"], format="%d-%b-%y").dt.strftime("%Y-%m-%d")
    return df


def _stock_indices() -> pd.DataFrame:
    """Monthly closes of eight tech stocks and two indices, 1990-2017 (matplotlib's sample
    data); the indices renamed from their tickers (^GSPC, ^IXIC) as a user would."""
    df = pd.read_csv(_mpl_sample("Stocks.csv"), comment="#")
    return df.rename(columns={"Date": "date", "^GSPC": "sp500", "^IXIC": "nasdaq"}
                     ).rename(columns=str.lower)


def _flowers_cn() -> pd.DataFrame:
    """Iris with Chinese column names and species, as a Chinese user's file has them."""
    from sklearn.datasets import load_iris

    raw = load_iris(as_frame=True)
    df = raw.data.copy()
    df.columns = ["花萼长度", "花萼宽度", "花瓣长度", "花瓣宽度"]
    df["品种"] = np.asarray(["山鸢尾", "变色鸢尾", "维吉尼亚鸢尾"])[raw.target.to_numpy()]
    return df



# -- tables of corpus/dev_r3.yaml (third round): plotly's bundled sample data --


def _plotly_sample(name: str) -> pd.DataFrame:
    """A CSV plotly ships (installed with catboost), read by path: importing plotly is slow."""
    import importlib.util

    spec = importlib.util.find_spec("plotly")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("plotly is not installed: pip install plotly (catboost pulls it in)")
    folder = Path(next(iter(spec.submodule_search_locations)))
    return pd.read_csv(folder / "package_data" / "datasets" / f"{name}.csv.gz")


def _tips() -> pd.DataFrame:
    """Restaurant tips (Bryant & Smith) with a check number unique per row and the bill
    with the tip added, as a till's export has it (tip = bill_with_tip - total_bill)."""
    df = _plotly_sample("tips")
    rng = np.random.default_rng(244)
    df.insert(0, "check_id", rng.choice(np.arange(100_000, 999_999), size=len(df),
                                        replace=False))
    df["bill_with_tip"] = (df["total_bill"] + df["tip"]).round(2)
    return df


def _tips_cn() -> pd.DataFrame:
    """The tips table as a Chinese user's file has it: Chinese names and values."""
    df = _plotly_sample("tips")
    df = df.replace({"sex": {"Female": "女", "Male": "男"}, "smoker": {"Yes": "是", "No": "否"},
                     "day": {"Thur": "周四", "Fri": "周五", "Sat": "周六", "Sun": "周日"},
                     "time": {"Lunch": "午餐", "Dinner": "晚餐"}})
    return df.rename(columns={"total_bill": "账单金额", "tip": "小费", "sex": "性别",
                              "smoker": "是否吸烟", "day": "星期", "time": "餐次",
                              "size": "人数"})


def _gapminder() -> pd.DataFrame:
    """Gapminder (1952-2007, every 5 years) with total GDP added (population times GDP per
    capita, an exact product); plotly's ISO code columns left out."""
    df = _plotly_sample("gapminder").drop(columns=["iso_alpha", "iso_num"])
    df["gdp"] = (df["pop"] * df["gdpPercap"]).round(0)
    return df


def _carshare() -> pd.DataFrame:
    """Car-sharing use per Montreal area: location, car hours, the peak hour (0-23)."""
    return _plotly_sample("carshare")


def _experiment() -> pd.DataFrame:
    """Three experiment scores per subject, with gender and group (control/treatment)."""
    return _plotly_sample("experiment")


def _wind() -> pd.DataFrame:
    """Wind frequency by compass direction and strength band (plotly's wind rose data)."""
    return _plotly_sample("wind")


# -- tables of corpus/dev_r4.yaml (fourth round): statsmodels' bundled data, plotly's election --


def _statsmodels(name: str) -> pd.DataFrame:
    """A table statsmodels ships (`statsmodels.datasets.<name>`), with whole-number float
    columns written as integers, as the original files have them."""
    import importlib

    df = importlib.import_module(f"statsmodels.datasets.{name}").load_pandas().data.copy()
    for col in df.columns:
        values = df[col]
        if values.dtype.kind == "f" and values.notna().all() and (values % 1 == 0).all():
            df[col] = values.astype(int)
    return df


def _affairs() -> pd.DataFrame:
    """Fair's 1974 survey of married women: marriage rating 1-5, religiousness 1-4,
    occupation codes 1-6, and time spent in affairs."""
    return _statsmodels("fair")


def _travel_mode() -> pd.DataFrame:
    """Greene's travel mode choice, long format: four rows per traveller (air, train, bus,
    car), `choice` 1 on the mode taken; `individual` numbers the traveller."""
    df = _statsmodels("modechoice")
    df["mode"] = df["mode"].map({1: "air", 2: "train", 3: "bus", 4: "car"})
    return df


def _vote96() -> pd.DataFrame:
    """The 1996 American National Election Study extract: vote 1 for Dole, 0 for Clinton;
    logpopul is log(popul + 0.1)."""
    return _statsmodels("anes96")


def _statecrime() -> pd.DataFrame:
    """Crime and demographics per US state (2009), the state's name as a column."""
    return _statsmodels("statecrime").reset_index()


def _ccard() -> pd.DataFrame:
    """Greene's credit card expenditure sample: INCOMESQ is INCOME squared."""
    return _statsmodels("ccard")


def _grunfeld() -> pd.DataFrame:
    """Grunfeld's investment data: 11 US firms, 1935-1954."""
    df = _statsmodels("grunfeld")
    return df[["firm", "year", "invest", "value", "capital"]]


def _doctor_visits() -> pd.DataFrame:
    """The RAND health insurance experiment (4,000 of its 20,190 person-years): doctor
    visits (mdvis), plan terms (lncoins, idp, lpi, fmde), health (physlm, disea, hlth*)."""
    return _statsmodels("randhie").sample(4000, random_state=4).reset_index(drop=True)


def _election() -> pd.DataFrame:
    """Montreal's 2013 mayoral election per district: votes per candidate, total, winner,
    majority or plurality, and the district's number."""
    return _plotly_sample("election")


# -- tables of corpus/dev_r5.yaml (fourth round, second probe): statsmodels', plotly's --


def _macro() -> pd.DataFrame:
    """US quarterly macro data 1959-2009: realint is tbilrate - infl."""
    return _statsmodels("macrodata")


def _scotland() -> pd.DataFrame:
    """Scotland's 1997 referendum by council area: COUTAX_FEMALEUNEMP is COUTAX * UNEMPF."""
    return _statsmodels("scotland")


def _engel() -> pd.DataFrame:
    """Engel's Belgian household budgets: income and food expenditure."""
    return _statsmodels("engel")


def _sunspots() -> pd.DataFrame:
    """Yearly sunspot activity, 1700-2008."""
    return _statsmodels("sunspots")


def _stocks() -> pd.DataFrame:
    """Weekly prices of six tech stocks in 2018-2019, each relative to its first week."""
    return _plotly_sample("stocks")


def _star98() -> pd.DataFrame:
    """California schools' 1998 math results: students above (NABOVE) and below (NBELOW) the
    median, school covariates, and products of covariates (PERMINTE_AVYRSEXP, ...)."""
    return _statsmodels("star98")


# -- tables of corpus/dev_r6.yaml (fourth round, third probe): statsmodels' small tables --


def _longley() -> pd.DataFrame:
    """Longley's US macro series, 1947-1962."""
    return _statsmodels("longley")


def _cpunish() -> pd.DataFrame:
    """Executions per US state in 1997 with state covariates; SOUTH is 1 in the South."""
    return _statsmodels("cpunish")


def _committee() -> pd.DataFrame:
    """US House committees: bills in the 103rd and 104th congress, size, staff, prestige."""
    return _statsmodels("committee")


def _copper() -> pd.DataFrame:
    """World copper consumption, prices and indices, 25 years."""
    return _statsmodels("copper")


def _strikes() -> pd.DataFrame:
    """Strike durations (days) and industrial production."""
    return _statsmodels("strikes")


def _nile() -> pd.DataFrame:
    """The Nile's yearly flow at Aswan, 1871-1970."""
    return _statsmodels("nile")


DATASETS: dict[str, PublicDataset] = {d.file: d for d in (
    PublicDataset("iris.csv", _iris, "species", "multiclass", "sklearn.datasets.load_iris",
                  "Fisher's iris: four measurements in cm, species as names."),
    PublicDataset("wine_cultivars.csv", _wine, "cultivar", "multiclass",
                  "sklearn.datasets.load_wine",
                  "UCI wine recognition: 13 chemical analyses; cultivar coded 0/1/2."),
    PublicDataset("breast_cancer.csv", _breast_cancer, "diagnosis", "binary",
                  "sklearn.datasets.load_breast_cancer",
                  "Wisconsin diagnostic breast cancer: 30 cell-nucleus features; diagnosis "
                  "'malignant'/'benign'; patient_id is a made-up unique ID as in the WDBC file.",
                  id_like_columns=["patient_id"], leaky_columns=[]),
    PublicDataset("diabetes.csv", _diabetes, "disease_progression", "regression",
                  "sklearn.datasets.load_diabetes(scaled=False)",
                  "Efron et al. diabetes: age, sex (1/2), BMI, blood pressure, six serum "
                  "measurements (tc, ldl, hdl, tch, ltg, glu); disease progression after a year."),
    PublicDataset("digits.csv", _digits, "digit", "multiclass", "sklearn.datasets.load_digits",
                  "UCI handwritten digits: 8x8 pixel intensities 0..16 (px_R_C); digit 0..9."),
    PublicDataset("linnerud.csv", _linnerud, "weight", "regression",
                  "sklearn.datasets.load_linnerud",
                  "Linnerud: 20 middle-aged men; weight, waist, pulse and chins, situps, jumps. "
                  "Any column can be the target; 'weight' is listed as the default."),
    # dev_new only (never in dev or held_out):
    PublicDataset("tumours.csv", _tumours, "malignant", "binary",
                  "sklearn.datasets.load_breast_cancer (mean features)",
                  "WDBC mean features; malignant coded 1/0; case_no repeats for returning "
                  "cases; surgery_scheduled is recorded after the diagnosis.",
                  id_like_columns=["case_no"], leaky_columns=["surgery_scheduled"]),
    PublicDataset("wine_lab.csv", _wine_lab, "class", "multiclass", "sklearn.datasets.load_wine",
                  "UCI wine with class coded 1/2/3 as in the original file; bottle_code is "
                  "a unique code per bottle.", id_like_columns=["bottle_code"]),
    PublicDataset("msft_prices.csv", _msft_prices, "close", "regression",
                  "matplotlib sample_data/msft.csv",
                  "64 trading days of Microsoft prices (2003): open, high, low, close, "
                  "volume, adj_close (close adjusted for dividends)."),
    PublicDataset("stock_indices.csv", _stock_indices, "sp500", "regression",
                  "matplotlib sample_data/Stocks.csv",
                  "Monthly closes 1990-2017 of IBM, AAPL, MSFT, XRX, AMZN, DELL, GOOGL, ADBE, "
                  "the S&P 500 (sp500) and the NASDAQ composite (nasdaq); missing before "
                  "listing."),
    PublicDataset("flowers_cn.csv", _flowers_cn, "品种", "multiclass",
                  "sklearn.datasets.load_iris",
                  "Iris with Chinese column names (花萼/花瓣 长度/宽度) and species (品种)."),    # dev_r3 only (never in another part):
    PublicDataset("tips.csv", _tips, "tip", "regression", "plotly package_data tips",
                  "Restaurant tips: total_bill, tip, sex, smoker, day, time, size; check_id "
                  "is unique per row; bill_with_tip is total_bill + tip.",
                  id_like_columns=["check_id"], leaky_columns=["bill_with_tip"]),
    PublicDataset("tips_cn.csv", _tips_cn, "小费", "regression", "plotly package_data tips",
                  "The tips table with Chinese column names and values."),
    PublicDataset("gapminder.csv", _gapminder, "lifeExp", "regression",
                  "plotly package_data gapminder",
                  "Country, continent, year, lifeExp, pop, gdpPercap; gdp = pop * gdpPercap.",
                  leaky_columns=["gdp"]),
    PublicDataset("carshare.csv", _carshare, "car_hours", "regression",
                  "plotly package_data carshare",
                  "Montreal car sharing: centroid_lat/lon, car_hours, peak_hour 0-23."),
    PublicDataset("experiment.csv", _experiment, "experiment_3", "regression",
                  "plotly package_data experiment",
                  "Scores of three experiments, gender, group (control/treatment)."),
    PublicDataset("wind.csv", _wind, "frequency", "regression", "plotly package_data wind",
                  "Wind rose: direction (16 points), strength band, frequency in %."),
    # dev_r4 only (never in another part):
    PublicDataset("affairs.csv", _affairs, "affairs", "regression", "statsmodels.datasets.fair",
                  "Fair (1978): rate_marriage 1-5, age, yrs_married, children, religious 1-4, "
                  "educ, occupation and occupation_husb codes 1-6, affairs (time spent)."),
    PublicDataset("travel_mode.csv", _travel_mode, "choice", "binary",
                  "statsmodels.datasets.modechoice",
                  "Greene's travel mode choice, four rows per traveller (individual); mode, "
                  "choice 0/1, ttme, invc, invt, gc (generalised cost), hinc, psize.",
                  id_like_columns=["individual"]),
    PublicDataset("vote96.csv", _vote96, "vote", "binary", "statsmodels.datasets.anes96",
                  "ANES 1996: popul, TVnews, selfLR/ClinLR/DoleLR 1-7, PID 0-6, age, educ 1-7, "
                  "income 1-24, vote (1 Dole, 0 Clinton), logpopul = log(popul + 0.1)."),
    PublicDataset("statecrime.csv", _statecrime, "violent", "regression",
                  "statsmodels.datasets.statecrime",
                  "Per US state: violent and murder rates, hs_grad, poverty, single, white, "
                  "urban (%).", id_like_columns=["state"]),
    PublicDataset("ccard.csv", _ccard, "AVGEXP", "regression", "statsmodels.datasets.ccard",
                  "Credit card holders: AVGEXP, AGE, INCOME, INCOMESQ (INCOME squared), "
                  "OWNRENT 0/1."),
    PublicDataset("grunfeld.csv", _grunfeld, "invest", "regression",
                  "statsmodels.datasets.grunfeld",
                  "Grunfeld: gross investment, market value and capital stock of 11 firms."),
    PublicDataset("doctor_visits.csv", _doctor_visits, "mdvis", "regression",
                  "statsmodels.datasets.randhie",
                  "RAND HIE sample: mdvis (doctor visits), lncoins, idp 0/1, lpi, fmde, "
                  "physlm 0/1, disea (chronic diseases), hlthg/hlthf/hlthp 0/1."),
    PublicDataset("election.csv", _election, "winner", "multiclass",
                  "plotly package_data election",
                  "Montreal 2013 per district: Coderre, Bergeron, Joly votes, total, winner, "
                  "result (majority/plurality), district_id (the number in district's name).",
                  id_like_columns=["district", "district_id"]),
    # dev_r5 only (never in another part):
    PublicDataset("macro.csv", _macro, "realgdp", "regression",
                  "statsmodels.datasets.macrodata",
                  "US quarterly macro data: year, quarter 1-4, realgdp, realcons, realinv, "
                  "realgovt, realdpi, cpi, m1, tbilrate, unemp, pop, infl, realint = tbilrate "
                  "- infl."),
    PublicDataset("scotland.csv", _scotland, "YES", "regression",
                  "statsmodels.datasets.scotland",
                  "YES (% yes), COUTAX, UNEMPF, MOR, ACT, GDP, AGE, COUTAX_FEMALEUNEMP = "
                  "COUTAX * UNEMPF."),
    PublicDataset("engel.csv", _engel, "foodexp", "regression", "statsmodels.datasets.engel",
                  "Household income and food expenditure."),
    PublicDataset("sunspots.csv", _sunspots, "SUNACTIVITY", "regression",
                  "statsmodels.datasets.sunspots", "YEAR and SUNACTIVITY, 1700-2008."),
    PublicDataset("stocks.csv", _stocks, "AAPL", "regression", "plotly package_data stocks",
                  "date, GOOG, AAPL, AMZN, FB, NFLX, MSFT (relative prices)."),
    PublicDataset("star98.csv", _star98, "NABOVE", "regression",
                  "statsmodels.datasets.star98",
                  "NABOVE, NBELOW, school covariates and their products (e.g. "
                  "PERMINTE_AVYRSEXP = PERMINTE * AVYRSEXP)."),
    # dev_r6 only (never in another part):
    PublicDataset("longley.csv", _longley, "TOTEMP", "regression",
                  "statsmodels.datasets.longley",
                  "TOTEMP (total employment), GNPDEFL, GNP, UNEMP, ARMED, POP, YEAR."),
    PublicDataset("cpunish.csv", _cpunish, "EXECUTIONS", "regression",
                  "statsmodels.datasets.cpunish",
                  "EXECUTIONS, INCOME, PERPOVERTY, PERBLACK, VC100k96 (violent crime per 100k), "
                  "SOUTH 0/1, DEGREE."),
    PublicDataset("committee.csv", _committee, "BILLS104", "regression",
                  "statsmodels.datasets.committee",
                  "BILLS104, SIZE, SUBS (subcommittees), STAFF, PRESTIGE 0/1, BILLS103."),
    PublicDataset("copper.csv", _copper, "WORLDCONSUMPTION", "regression",
                  "statsmodels.datasets.copper",
                  "WORLDCONSUMPTION, COPPERPRICE, INCOMEINDEX, ALUMPRICE, INVENTORYINDEX, TIME."),
    PublicDataset("strikes.csv", _strikes, "duration", "regression",
                  "statsmodels.datasets.strikes", "Strike duration in days, iprod."),
    PublicDataset("nile.csv", _nile, "volume", "regression", "statsmodels.datasets.nile",
                  "year and volume (flow)."),
)}


def cache_dir() -> Path:
    """The folder the CSVs are written to (MLPILOT_PUBLIC_DATA_DIR, else a temp folder)."""
    return Path(os.environ.get("MLPILOT_PUBLIC_DATA_DIR") or DEFAULT_CACHE)


def is_public(ref: str) -> bool:
    """True when `ref` names a data set of this module (`public/<file>`)."""
    return ref.startswith(PREFIX) and ref[len(PREFIX):] in DATASETS


def frame(file: str) -> pd.DataFrame:
    """The table of public data set `file` (e.g. "iris.csv"), built in memory."""
    if file not in DATASETS:
        raise KeyError(f"no public data set {file!r}: choose one of {', '.join(DATASETS)}")
    return DATASETS[file].build()


def resolve(ref: str, folder: Path | None = None) -> Path:
    """The CSV for `public/<file>`, written into `folder` (default `cache_dir()`) if missing."""
    if not is_public(ref):
        raise KeyError(f"{ref!r} is not a public data set: use {PREFIX}<file> with one of "
                       f"{', '.join(DATASETS)}")
    file = ref[len(PREFIX):]
    folder = folder or cache_dir()
    path = folder / file
    if not path.exists():
        folder.mkdir(parents=True, exist_ok=True)
        # Written under a private name, then renamed: parallel workers never read half a file.
        fd, tmp = tempfile.mkstemp(dir=folder, suffix=".csv.part")
        os.close(fd)
        frame(file).to_csv(tmp, index=False)
        os.replace(tmp, path)
    return path


def materialise(folder: Path | None = None) -> dict[str, Path]:
    """Write every public data set into `folder`; returns file name -> path."""
    return {file: resolve(PREFIX + file, folder) for file in DATASETS}


def manifest() -> list[dict]:
    """Manifest entries in the shape of ../shared/datasets/manifest.json (file is `public/...`)."""
    entries = []
    for d in DATASETS.values():
        df = d.build()
        entries.append({
            "file": PREFIX + d.file, "name": d.file.removesuffix(".csv"), "task": d.task,
            "target": d.target, "rows": len(df), "columns": df.shape[1],
            "missing_values": bool(df.isna().any().any()),
            "categorical_columns": [c for c in df.columns
                                    if not pd.api.types.is_numeric_dtype(df[c])],
            "source": d.source, "notes": d.notes, "na_values": [],
            "id_like_columns": list(d.id_like_columns), "leaky_columns": list(d.leaky_columns),
        })
    return entries


if __name__ == "__main__":
    for name, path in materialise().items():
        print(f"{name}: {path}")
