"""Learn the search's portfolio across datasets that installed packages ship, and check it
on datasets held out from the learning.

`build` evaluates a candidate pool of configurations (each tree family's defaults plus a
few random draws from the search space, `--per-family`) on every "build" dataset below
with a fixed cross-validation (`FOLDS` folds of at most `MAX_ROWS` rows, each fit early
stopped on its held-out fold, as a search's trial is on its validation rows, and scored
there on the headline metric: ROC AUC, accuracy, R²). Scores are normalised per dataset:
(score - median of the pool) / (best - median), clipped at 0, so a broken config costs
nothing and the best is 1. Then, per task type, configurations are picked greedily to
maximise the mean over its datasets of the best normalised score so far (FLAML's and
AutoGluon's zero-shot portfolios), until `--size` or a gain under `MIN_GAIN`. The result
goes to engine/portfolio.json with how it was built; the search tries it first.

`compare` runs a job's search and final stage (`tools.training.tune_model`, the offline
expert's config) on the "held_out" datasets, with and without the learned portfolio at
the same budget, and scores on a fixed 80/20 split's test rows.

Data: scikit-learn's bundled datasets, statsmodels' datasets (`pip install statsmodels`),
plotly's bundled data; never ../shared/datasets, nothing downloaded.

    cd mlpilot && PYTHONPATH=.. ../.venv/bin/python benchmarks/portfolio.py build
    cd mlpilot && PYTHONPATH=.. ../.venv/bin/python benchmarks/portfolio.py compare --budget 10
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import statistics
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import optuna
import pandas as pd

from mlpilot.agent.config_generator import expert_config
from mlpilot.engine.boosters import available, fit_booster
from mlpilot.engine.config import BOOSTER_FAMILIES, TaskSpec, TrainingConfig
from mlpilot.engine.crossfit import fold_indices
from mlpilot.engine.data import profile_table
from mlpilot.engine.forests import fit_forest
from mlpilot.engine.glm import fit_glm
from mlpilot.engine.portfolio import PORTFOLIO_FILE
from mlpilot.engine.preprocess import PreparedData, prepare_data
from mlpilot.engine.refit import all_rows
from mlpilot.engine.space import config_params, portfolio, sample_config
from mlpilot.engine.trees import fit_trees

#: Families of the candidate pool (networks take far longer per fit; they keep their defaults).
POOL_FAMILIES = ("hist_gbt", "lightgbm", "xgboost", "catboost", "extra_trees", "glm")
FOLDS = 3
#: Each dataset is subsampled to at most this many rows before its split.
MAX_ROWS = 1000
#: Seconds one fit may train (its deadline).
FIT_S = 10.0
#: A config joins the portfolio only when it raises the mean best-so-far by this much.
MIN_GAIN = 0.002
METRICS = {"binary": "roc_auc", "multiclass": "accuracy", "regression": "r2"}


@dataclass(frozen=True)
class Dataset:
    """A table shipped inside an installed package, its target, task and role."""

    name: str
    load: Callable[[], pd.DataFrame]
    target: str
    task: str
    role: str  # "build": the portfolio is learned on it; "held_out": only compared on


def _sklearn(loader: str, target: str, labels: bool = False) -> Callable[[], pd.DataFrame]:
    def load() -> pd.DataFrame:
        import sklearn.datasets

        raw = getattr(sklearn.datasets, loader)(as_frame=True)
        df = raw.data.copy()
        df[target] = (np.asarray(raw.target_names)[raw.target.to_numpy()] if labels
                      else raw.target.to_numpy())
        return df
    return load


def _statsmodels(name: str, change: Callable[[pd.DataFrame], pd.DataFrame] = lambda d: d
                 ) -> Callable[[], pd.DataFrame]:
    def load() -> pd.DataFrame:
        import importlib

        return change(importlib.import_module(f"statsmodels.datasets.{name}")
                      .load_pandas().data.copy())
    return load


def _plotly(name: str, change: Callable[[pd.DataFrame], pd.DataFrame] = lambda d: d
            ) -> Callable[[], pd.DataFrame]:
    def load() -> pd.DataFrame:
        import plotly.data

        return change(getattr(plotly.data, name)())
    return load


def _share_above(df: pd.DataFrame) -> pd.DataFrame:
    above, below = df.pop("NABOVE"), df.pop("NBELOW")
    df["share_above"] = above / (above + below)
    return df


DATASETS = (
    Dataset("diabetes", _sklearn("load_diabetes", "progression"), "progression",
            "regression", "build"),
    Dataset("grunfeld", _statsmodels("grunfeld"), "invest", "regression", "build"),
    Dataset("star98", _statsmodels("star98", _share_above), "share_above", "regression", "build"),
    Dataset("macrodata", _statsmodels("macrodata"), "realinv", "regression", "build"),
    Dataset("engel", _statsmodels("engel"), "foodexp", "regression", "build"),
    Dataset("cancer", _statsmodels("cancer"), "cancer", "regression", "build"),
    Dataset("breast_cancer", _sklearn("load_breast_cancer", "diagnosis", labels=True),
            "diagnosis", "binary", "build"),
    Dataset("anes96_vote", _statsmodels("anes96"), "vote", "binary", "build"),
    Dataset("fair_any", _statsmodels("fair", lambda d: d.assign(affairs=d.affairs > 0)),
            "affairs", "binary", "build"),
    Dataset("iris", _sklearn("load_iris", "species", labels=True), "species", "multiclass",
            "build"),
    Dataset("wine", _sklearn("load_wine", "cultivar", labels=True), "cultivar", "multiclass",
            "build"),
    Dataset("anes96_pid", _statsmodels("anes96", lambda d: d.drop(columns="vote")), "PID",
            "multiclass", "build"),
    # held out: never seen by `build`
    Dataset("tips", _plotly("tips"), "tip", "regression", "held_out"),
    Dataset("gapminder", _plotly("gapminder", lambda d: d.drop(columns=["iso_alpha", "iso_num"])),
            "lifeExp", "regression", "held_out"),
    Dataset("modechoice", _statsmodels("modechoice", lambda d: d.drop(columns="individual")),
            "choice", "binary", "held_out"),
    Dataset("randhie_any", _statsmodels("randhie", lambda d: d.assign(mdvis=d.mdvis > 0)),
            "mdvis", "binary", "held_out"),
    Dataset("gapminder_continent",
            _plotly("gapminder", lambda d: d.drop(columns=["iso_alpha", "iso_num", "country"])),
            "continent", "multiclass", "held_out"),
    Dataset("tips_day", _plotly("tips"), "day", "multiclass", "held_out"),
)


def table(dataset: Dataset, rows: int, seed: int = 0) -> pd.DataFrame:
    """The dataset's table, at most `rows` rows (a fixed random sample)."""
    df = dataset.load().dropna(subset=[dataset.target]).reset_index(drop=True)
    if len(df) > rows:
        df = df.sample(rows, random_state=seed).reset_index(drop=True)
    return df


def task_of(dataset: Dataset, budget: float = 60.0) -> TaskSpec:
    """The dataset's task, on its headline metric."""
    return TaskSpec(target=dataset.target, task_type=dataset.task,
                    metric=METRICS[dataset.task], budget_s=budget)


def pool_families() -> list[str]:
    """The pool's families whose libraries are installed."""
    return [f for f in POOL_FAMILIES if f not in BOOSTER_FAMILIES or available(f)]


def candidate_pool(base: TrainingConfig, per_family: int, seed: int = 0) -> list[dict]:
    """Each pool family's defaults, then `per_family` random draws of its search space,
    as search-space parameters."""
    families = pool_families()
    space = base.search.space.model_copy(update={"families": families})
    base = base.model_copy(update={"search": base.search.model_copy(update={"space": space})})
    pool = [config_params(c, space) for c in portfolio(base.model_copy(update={
        "model": base.model.model_copy(update={"family": "mlp"})}), 1000)]
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=seed))
    for family in families:
        one = base.model_copy(update={"search": base.search.model_copy(update={
            "space": space.model_copy(update={"families": [family]})})})
        for _ in range(per_family):
            config = sample_config(study.ask(), one, 1000)
            pool.append(config_params(config, space))
    return pool


def fit_family(config: TrainingConfig, data: PreparedData, task: TaskSpec, deadline: float):
    """One fit of a pool family's config, early stopped on `data`'s validation rows."""
    family = config.model.family
    if family == "hist_gbt":
        return fit_trees(config, data, task, deadline=deadline)
    if family in BOOSTER_FAMILIES:
        return fit_booster(config, data, task, deadline=deadline)
    if family == "glm":
        return fit_glm(config, data, task, deadline=deadline)
    return fit_forest(config, data, task, deadline=deadline)


def base_config(df: pd.DataFrame, task: TaskSpec) -> TrainingConfig:
    """The offline expert's config for the table, its search over the pool's families."""
    config = expert_config(task, profile_table(df, task.target))
    space = config.search.space.model_copy(update={"families": pool_families()})
    return config.model_copy(update={"search": config.search.model_copy(update={"space": space})})


def evaluate(dataset: Dataset, pool: list[dict], log: Callable[[str], None]) -> dict:
    """Every pool config's mean score over `FOLDS` folds of the dataset, and seconds."""
    df = table(dataset, MAX_ROWS)
    task = task_of(dataset)
    config = base_config(df, task)
    rows = all_rows(prepare_data(df, task, config))
    held = fold_indices(rows.y_train, task, seed=0, folds=FOLDS)
    n_train = len(rows.y_train) * (FOLDS - 1) // FOLDS
    scores, seconds = [], []
    for params in pool:
        trial_config = sample_config(optuna.trial.FixedTrial(params), config, n_train)
        began, fold_scores = time.monotonic(), []
        for fold in held:
            keep = np.ones(len(rows.y_train), dtype=bool)
            keep[fold] = False
            part = PreparedData(
                X_train=rows.X_train[keep], y_train=rows.y_train[keep],
                X_valid=rows.X_train[fold], y_valid=rows.y_train[fold], X_test=rows.X_test,
                y_test=rows.y_test, preprocessor=rows.preprocessor,
                feature_columns=rows.feature_columns, n_outputs=rows.n_outputs)
            result = fit_family(trial_config, part, task, time.monotonic() + FIT_S)
            fold_scores.append(result.best_valid_score)
        scores.append(float(np.nanmean(fold_scores)) if np.isfinite(fold_scores).any()
                      else float("nan"))
        seconds.append(time.monotonic() - began)
    log(f"[{dataset.name}] {len(rows.y_train)} rows, best {np.nanmax(scores):.4f}, "
        f"{sum(seconds):.1f}s")
    return {"dataset": dataset.name, "task": dataset.task, "rows": len(rows.y_train),
            "scores": scores, "seconds": seconds}


def _evaluate_logged(name: str, pool: list[dict]) -> dict:
    """`evaluate` in a worker process (datasets travel by name: their loaders do not pickle)."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    warnings.simplefilter("ignore")  # library advice (class weights with warm starts, ...)
    dataset = next(d for d in DATASETS if d.name == name)
    return evaluate(dataset, pool, lambda m: print(m, file=sys.stderr, flush=True))


def normalised(scores: list[float]) -> np.ndarray:
    """(score - median) / (best - median), clipped at 0; NaN (a failed config) is 0."""
    s = np.asarray(scores, dtype=float)
    finite = s[np.isfinite(s)]
    if not len(finite):
        return np.zeros(len(s))
    mid, top = float(np.median(finite)), float(finite.max())
    out = np.clip((s - mid) / (top - mid), 0.0, None) if top > mid else (s >= top).astype(float)
    return np.nan_to_num(out, nan=0.0)


def greedy(matrix: np.ndarray, seconds: np.ndarray, size: int) -> tuple[list[int], list[float]]:
    """Pick pool configs (columns of `matrix`: datasets x configs, normalised) in turn, each
    maximising the mean over datasets of the best picked so far; ties go to the cheaper.
    Returns the picks and the mean best-so-far after each."""
    picked: list[int] = []
    best_so_far = np.zeros(matrix.shape[0])
    curve: list[float] = []
    while len(picked) < size:
        gains = np.maximum(matrix, best_so_far[:, None]).mean(axis=0)
        order = sorted((i for i in range(matrix.shape[1]) if i not in picked),
                       key=lambda i: (-round(gains[i], 9), seconds[i]))
        if not order:
            break
        choice = order[0]
        if picked and gains[choice] - curve[-1] < MIN_GAIN:
            break
        picked.append(choice)
        best_so_far = np.maximum(best_so_far, matrix[:, choice])
        curve.append(float(best_so_far.mean()))
    return picked, curve


def build(args: argparse.Namespace) -> None:
    """Evaluate the pool on the build datasets, pick a portfolio per task type, write it."""
    started = time.monotonic()
    config = base_config(DATASETS[0].load().head(50), task_of(DATASETS[0]))
    pool = candidate_pool(config, args.per_family, seed=0)
    build_sets = [d for d in DATASETS if d.role == "build"]
    print(f"pool: {len(pool)} configs; {len(build_sets)} datasets", file=sys.stderr)
    # evaluations of this very pool are reused from the cache (a rebuild after a change to
    # the datasets evaluates only the new ones)
    key = json.dumps(pool, sort_keys=True)
    cache = json.loads(args.cache.read_text()) if args.cache.is_file() else {}
    cached = {r["dataset"]: r for r in cache.get(key, [])}
    todo = [d.name for d in build_sets if d.name not in cached]
    with ProcessPoolExecutor(args.jobs) as workers:
        cached.update({r["dataset"]: r for r in workers.map(_evaluate_logged, todo,
                                                             [pool] * len(todo))})
    runs = [cached[d.name] for d in build_sets]
    args.cache.write_text(json.dumps({key: list(cached.values())}))
    portfolios, report = {}, {}
    for task_type in METRICS:
        mine = [r for r in runs if r["task"] == task_type]
        matrix = np.array([normalised(r["scores"]) for r in mine])
        seconds = np.array([r["seconds"] for r in mine]).mean(axis=0)
        picked, curve = greedy(matrix, seconds, args.size)
        portfolios[task_type] = [pool[i] for i in picked]
        report[task_type] = {"datasets": [r["dataset"] for r in mine],
                             "mean_best_so_far": [round(c, 4) for c in curve],
                             "pool_mean_best": round(float(matrix.max(axis=1).mean()), 4)}
        print(f"{task_type}: " + ", ".join(
            f"{pool[i]['family']} ({c:.3f})" for i, c in zip(picked, curve, strict=True)))
    document = {
        "built": {
            "command": "cd mlpilot && PYTHONPATH=.. ../.venv/bin/python benchmarks/portfolio.py "
                       f"build --per-family {args.per_family} --size {args.size}",
            "date": time.strftime("%Y-%m-%d"), "seconds": round(time.monotonic() - started),
            "pool": f"{len(pool)} configs: each of {', '.join(pool_families())}'s defaults "
                    f"and {args.per_family} random draws of its search space",
            "cv": f"{FOLDS} folds of at most {MAX_ROWS} rows, each fit early stopped on its "
                  "held-out fold and scored there",
            "metrics": METRICS,
            "normalisation": "(score - pool median) / (pool best - pool median), clipped at 0",
            "selection": f"greedy on the mean best-so-far, until {args.size} or a gain under "
                         f"{MIN_GAIN}",
            "per_task_type": report,
            "held_out": [d.name for d in DATASETS if d.role == "held_out"],
        },
        "portfolios": portfolios,
    }
    args.out.write_text(json.dumps(document, indent=1) + "\n")
    print(f"wrote {args.out} in {time.monotonic() - started:.0f}s")


def split(df: pd.DataFrame, dataset: Dataset, seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A fixed 80/20 split (stratified for classification)."""
    from sklearn.model_selection import train_test_split

    strata = df[dataset.target] if dataset.task != "regression" else None
    return train_test_split(df, test_size=0.2, random_state=seed, stratify=strata)


def compare(args: argparse.Namespace) -> None:
    """The held-out datasets' test scores with and without the portfolio, same budget."""
    import torch._dynamo  # noqa: F401 -- imported by a search's first network trial: not timed

    from mlpilot.tools.training import evaluate_model, tune_model

    rows = []
    for dataset in (d for d in DATASETS if d.role == "held_out"):
        df = table(dataset, args.rows)
        task = task_of(dataset, args.budget)
        for seed in (int(s) for s in args.seeds.split(",")):
            train, test = split(df, dataset, seed)
            config = expert_config(task, profile_table(train, task.target), seed=seed)
            row = {"dataset": dataset.name, "seed": seed, "rows": len(train)}
            for arm in ("without", "with"):
                print(f"[{dataset.name}] split {seed} {arm} ...", file=sys.stderr, flush=True)
                with tempfile.TemporaryDirectory() as tmp:
                    began = time.monotonic()
                    out = tune_model(train, task, config, model_dir=Path(tmp) / "m",
                                     deadline=began + args.budget, storage=None,
                                     study_name="compare", test_df=test,
                                     learned_portfolio=arm == "with")
                    row[f"{arm}_used"] = (time.monotonic() - began) / args.budget
                    row[arm] = (evaluate_model(Path(tmp) / "m", train, task, config,
                                               test_df=test).metrics[task.metric]
                                if out.model_dir else float("nan"))  # no trial finished
                    row[f"{arm}_trials"] = out.n_trials
            rows.append(row)
    print(f"# Portfolio, held-out datasets — {time.strftime('%Y-%m-%d')} — "
          f"{platform.machine()}, {len(os.sched_getaffinity(0))} CPUs — budget "
          f"{args.budget:.0f} s — test ROC AUC / accuracy / R²")
    print(f"{'dataset':22}{'split':>6}{'rows':>6}{'without':>9}{'with':>9}{'diff':>9}"
          f"{'trials w/o':>11}{'trials w':>9}")
    for r in rows:
        print(f"{r['dataset']:22}{r['seed']:6d}{r['rows']:6d}{r['without']:9.4f}{r['with']:9.4f}"
              f"{r['with'] - r['without']:+9.4f}{r['without_trials']:11d}{r['with_trials']:9d}")
    diffs = [r["with"] - r["without"] for r in rows
             if np.isfinite(r["with"]) and np.isfinite(r["without"])]
    spread = statistics.stdev(diffs) / len(diffs) ** 0.5 if len(diffs) > 1 else float("nan")
    print(f"mean with - without: {statistics.mean(diffs):+.4f} (standard error {spread:.4f}); "
          f"better {sum(d > 0 for d in diffs)}, worse {sum(d < 0 for d in diffs)}, "
          f"of {len(diffs)}")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))


def main() -> None:
    """`build` the portfolio, or `compare` the search with and without it."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    b = sub.add_parser("build", help="learn the portfolio and write it")
    b.add_argument("--per-family", type=int, default=3, help="random draws per family")
    b.add_argument("--size", type=int, default=6, help="most configs per task type")
    b.add_argument("--out", type=Path, default=PORTFOLIO_FILE)
    b.add_argument("--jobs", type=int, default=2, help="datasets evaluated at once")
    b.add_argument("--cache", type=Path, default=Path(tempfile.gettempdir())
                   / "mlpilot-portfolio-runs.json", help="pool evaluations kept between builds")
    c = sub.add_parser("compare", help="held-out datasets with and without the portfolio")
    c.add_argument("--budget", type=float, default=10.0, help="seconds per run")
    c.add_argument("--seeds", default="0", help="split seeds")
    c.add_argument("--rows", type=int, default=2000, help="most rows per dataset")
    c.add_argument("--json", type=Path, help="also write the rows as JSON here")
    args = parser.parse_args()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    logging.getLogger("mlpilot").setLevel(logging.WARNING)
    build(args) if args.command == "build" else compare(args)


if __name__ == "__main__":
    main()
