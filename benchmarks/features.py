"""The feature engineer with and without: what it proposes, keeps, and what that is worth.

For each data set the offline expert proposes its templates, checks them in the sandbox and
scores them on 5 folds of the engine's training rows (`agent/feature_engineer.select`, the
node's own code); the kept ones are fitted on the training rows and applied to all. Then
the engine's boosted trees (`engine.trees.fit_trees`, default settings) are trained on the
engine's split with and without them, and scored on its test rows.

    .venv/bin/python benchmarks/features.py [--only co2_weekly.csv] [--rows 10000]

Columns: data set, transforms proposed / kept (names), the CV score of the quick trees
without / with the kept transforms (the node's evidence: its own folds), the test score
without / with (full trees, the engine's held-out test split), and the seconds the node
spent (proposing, the sandboxed runs, scoring, fitting and applying the kept ones).

Data: the shared data sets, and public ones with dates or text built from what installed
packages ship (statsmodels' co2, matplotlib's stock indices, plotly's stocks, gapminder
and tips); nothing downloads.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import warnings
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT.parent))  # the package (the repository root is `mlpilot`)
sys.path.insert(0, str(ROOT / "benchmarks"))

from mlpilot.agent.config_generator import expert_config
from mlpilot.agent.feature_engineer import feature_columns, raw_columns, select
from mlpilot.agent.feature_templates import propose
from mlpilot.engine.config import TaskSpec
from mlpilot.engine.data import profile_table
from mlpilot.engine.features import FeaturePipeline
from mlpilot.engine.preprocess import prepare_data
from mlpilot.engine.scores import score_predictions
from mlpilot.engine.trees import fit_trees

SHARED = ROOT.parent / "shared" / "datasets"


def _co2() -> pd.DataFrame:
    import statsmodels.api as sm

    data = sm.datasets.co2.load_pandas().data.dropna()
    return pd.DataFrame({"week": data.index.strftime("%Y-%m-%d"), "co2": data["co2"].to_numpy()})


def _plotly(name: str) -> pd.DataFrame:
    import plotly.data

    return getattr(plotly.data, name)()


def _stock_indices() -> pd.DataFrame:
    from public_data import frame

    return frame("stock_indices.csv")


#: name -> (build, target, task, metric)
PUBLIC = {
    "co2_weekly.csv": (_co2, "co2", "regression", "r2"),
    "stock_indices.csv": (_stock_indices, "sp500", "regression", "r2"),
    "plotly_stocks.csv": (lambda: _plotly("stocks"), "MSFT", "regression", "r2"),
    "gapminder.csv": (lambda: _plotly("gapminder").drop(columns=["iso_alpha", "iso_num"]),
                      "lifeExp", "regression", "r2"),
    "tips.csv": (lambda: _plotly("tips"), "tip", "regression", "r2"),
}
METRICS = {"binary": "roc_auc", "multiclass": "accuracy", "regression": "r2"}


def datasets(only: str | None):
    """(name, frame, task) for each data set of the benchmark."""
    for name, (build, target, task, metric) in PUBLIC.items():
        if only in (None, name):
            yield name, build(), TaskSpec(target=target, task_type=task, metric=metric, budget_s=60)
    manifest = json.loads((SHARED / "manifest.json").read_text())
    entries = manifest.items() if isinstance(manifest, dict) else [(e["file"], e) for e in manifest]
    for name, entry in entries:
        if only not in (None, name) or not (SHARED / name).exists():
            continue
        df = pd.read_csv(SHARED / name, na_values=entry.get("na_values") or None)
        drop = [c for c in (entry.get("id_like_columns") or []) + (entry.get("leaky_columns") or [])
                if c in df.columns and c != entry["target"]]
        yield name, df.drop(columns=drop), TaskSpec(
            target=entry["target"], task_type=entry["task"], metric=METRICS[entry["task"]],
            budget_s=60)


def test_score(df: pd.DataFrame, task: TaskSpec, config) -> float:
    """The engine's trees (default settings) on its split, scored on its test rows."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        data = prepare_data(df, task, config)
        fitted = fit_trees(config, data, task)
    pre = data.preprocessor
    return score_predictions(task, pre.decode_target(data.y_test),
                             fitted.predict_scores(data.X_test), pre.classes)


def run(name: str, df: pd.DataFrame, task: TaskSpec, rows: int) -> dict:
    """One row of the table."""
    if len(df) > rows:
        df = df.sample(rows, random_state=0).reset_index(drop=True)
    config = expert_config(task, profile_table(df, task.target))
    base_test = test_score(df, task, config)
    started = time.monotonic()
    columns = feature_columns(df, task, config)
    steps = propose(df[columns], profile_table(df, task.target), task.target)
    row = {"data": name, "rows": len(df), "proposed": [s.name for s in steps], "kept": [],
           "cv": (None, None), "test": (base_test, base_test), "seconds": 0.0, "why": {}}
    if not steps:
        row["seconds"] = round(time.monotonic() - started, 1)
        return row
    selection = select(df, task, config, steps, columns, seed=0, deadline=float("inf"))
    kept = selection.kept
    row["kept"] = [v.step.name for v in kept]
    row["why"] = {v.step.name: v.reason for v in selection.verdicts}
    base_cv = selection.base_score
    row["cv"] = (base_cv, selection.kept_score if kept else base_cv)
    featured = df
    if kept:
        pipeline = FeaturePipeline([v.step for v in kept], raw_columns(df, kept))
        featured = pipeline.fit(df.loc[selection.train_index]).apply(df)
    row["seconds"] = round(time.monotonic() - started, 1)  # what the node itself spends
    if kept:
        row["test"] = (base_test, test_score(featured, task, config))
    return row


def _f(value) -> str:
    return "-" if value is None else f"{value:.4f}"


def main() -> None:
    """Print the table; `--verbose` adds each transform's evidence."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", help="one data set by file name")
    parser.add_argument("--rows", type=int, default=10_000, help="rows sampled from big tables")
    parser.add_argument("--verbose", action="store_true")
    args = parser.parse_args()
    print(f"{'data':22} {'rows':>6} {'proposed':34} {'kept':22} {'CV without':>10} "
          f"{'CV with':>8} {'test without':>12} {'test with':>9} {'gain':>7} {'s':>5}")
    for name, df, task in datasets(args.only):
        row = run(name, df, task, args.rows)
        gain = row["test"][1] - row["test"][0]
        print(f"{name:22} {row['rows']:>6} {','.join(row['proposed']) or '-':34} "
              f"{','.join(row['kept']) or '-':22} {_f(row['cv'][0]):>10} {_f(row['cv'][1]):>8} "
              f"{_f(row['test'][0]):>12} {_f(row['test'][1]):>9} {gain:>+7.4f} "
              f"{row['seconds']:>5.1f}", flush=True)
        if args.verbose:
            for step, why in row["why"].items():
                print(f"    {step}: {why}")


if __name__ == "__main__":
    main()
