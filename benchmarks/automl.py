"""mlpilot against scikit-learn's HistGradientBoosting (defaults) and FLAML, same budget.

Every data set of ../shared/datasets, with the manifest's leaky and ID-like columns
dropped, one fixed 80/20 split (seed 0, stratified for classification), one system at a
time. mlpilot runs its whole job (offline expert, `--test-data` on the split's test file,
registration pre-approved). Primary metric: accuracy (classification) or R² (regression);
also ROC-AUC (binary), macro-F1, RMSE, fit and predict seconds, and mlpilot's budget
overshoot (training time used / budget - 1).

    pip install "flaml[automl]"      # benchmark-only extra: pip install -e ".[bench]"
    .venv/bin/python benchmarks/automl.py --budget 60 [--datasets penguins,titanic]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn import metrics as skm
from sklearn.model_selection import train_test_split

DATASETS = Path(__file__).resolve().parents[2] / "shared" / "datasets"
os.environ.setdefault("MLFLOW_LOGGING_LEVEL", "WARNING")
os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
SYSTEMS = ("mlpilot", "hgb", "flaml")


@dataclass
class Score:
    """One system on one data set."""

    dataset: str
    system: str
    primary: float = math.nan
    roc_auc: float = math.nan
    macro_f1: float = math.nan
    rmse: float = math.nan
    fit_s: float = math.nan
    predict_s: float = math.nan
    overshoot: float = math.nan
    error: str | None = None
    extra: dict = field(default_factory=dict)
    #: the test rows' predictions (not written to --out)
    y_pred: np.ndarray | None = field(default=None, repr=False)
    #: for mlpilot: a 95% paired-bootstrap interval of its primary metric minus HGB's
    hgb_gap_ci: tuple[float, float] | None = None


def main() -> None:
    """Run the systems on the data sets and print the tables."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budget", type=float, default=60.0, help="seconds per system and data set")
    parser.add_argument("--datasets", default="", help="comma-separated manifest names (default: all)")
    parser.add_argument("--systems", default=",".join(SYSTEMS))
    parser.add_argument("--out", type=Path, help="also write the raw scores as JSON here")
    args = parser.parse_args()

    manifest = json.loads((DATASETS / "manifest.json").read_text())
    wanted = {n.strip() for n in args.datasets.split(",") if n.strip()}
    entries = [e for e in manifest if not wanted or e["name"] in wanted]
    systems = [s.strip() for s in args.systems.split(",") if s.strip()]
    scores: list[Score] = []
    for entry in entries:
        train, test = split(entry)
        for system in systems:
            print(f"[{entry['name']}] {system} ...", file=sys.stderr, flush=True)
            scores.append(run_system(system, entry, train, test, args.budget))
        ran = {s.system: s for s in scores if s.dataset == entry["name"]}
        if {"mlpilot", "hgb"} <= set(ran) and not (ran["mlpilot"].error or ran["hgb"].error):
            ran["mlpilot"].hgb_gap_ci = gap_interval(entry, test[entry["target"]].to_numpy(),
                                                     ran["mlpilot"].y_pred, ran["hgb"].y_pred)
    print_tables(scores, entries, systems, args.budget)
    if args.out:
        rows = [{k: v for k, v in asdict(s).items() if k != "y_pred"} for s in scores]
        args.out.write_text(json.dumps(rows, indent=2, default=str))


def primary(entry: dict, y_true, y_pred) -> float:
    """R² (regression) or accuracy, on the original labels / scale."""
    if entry["task"] == "regression":
        return skm.r2_score(np.asarray(y_true, float), np.asarray(y_pred, float))
    return skm.accuracy_score(np.asarray(y_true).astype(str), np.asarray(y_pred).astype(str))


def gap_interval(entry: dict, y_true, ours, theirs, resamples: int = 2000,
                 seed: int = 0) -> tuple[float, float]:
    """95% paired-bootstrap interval of primary(ours) - primary(theirs) over the test rows:
    how much of a gap the test set's size alone could make."""
    rng = np.random.default_rng(seed)
    y_true, ours, theirs = np.asarray(y_true), np.asarray(ours), np.asarray(theirs)
    gaps = []
    for _ in range(resamples):
        rows = rng.integers(0, len(y_true), len(y_true))
        gaps.append(primary(entry, y_true[rows], ours[rows])
                    - primary(entry, y_true[rows], theirs[rows]))
    low, high = np.percentile(gaps, [2.5, 97.5])
    return float(low), float(high)


def split(entry: dict, seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The data set without leaky / ID-like columns, split 80/20 (seed 0 for the table)."""
    df = pd.read_csv(DATASETS / entry["file"], na_values=entry["na_values"] or None)
    df = df.drop(columns=entry["leaky_columns"] + entry["id_like_columns"])
    df = df.dropna(subset=[entry["target"]]).reset_index(drop=True)
    strata = df[entry["target"]] if entry["task"] != "regression" else None
    return train_test_split(df, test_size=0.2, random_state=seed, stratify=strata)


def run_system(system: str, entry: dict, train: pd.DataFrame, test: pd.DataFrame,
               budget: float) -> Score:
    """Fit one system, predict the test rows, and score it; errors are recorded, not raised."""
    runner = {"mlpilot": run_mlpilot, "hgb": run_hgb, "flaml": run_flaml}[system]
    try:
        return runner(entry, train, test, budget)
    except Exception as err:  # noqa: BLE001 -- one system failing must not stop the table
        return Score(entry["name"], system, error=f"{type(err).__name__}: {err}")


@contextmanager
def mlpilot_job(entry: dict, train: pd.DataFrame, test: pd.DataFrame,
                budget: float) -> Iterator[tuple[Any, dict, Any, float]]:
    """The whole mlpilot job on the split (offline expert, registration pre-approved) in a
    temporary data directory: yields its outcome, its best candidate, the loaded model and
    the job's wall seconds (the directory goes when the block ends)."""
    from mlpilot.agent.runner import Runner
    from mlpilot.agent.settings import Settings
    from mlpilot.agent.state import TaskRequest
    from mlpilot.engine.predictor import TrainedModel

    with tempfile.TemporaryDirectory() as tmp:
        os.environ["MLPILOT_DATA_DIR"] = str(Path(tmp) / "state")
        train.to_csv(Path(tmp) / "train.csv", index=False)
        test.to_csv(Path(tmp) / "test.csv", index=False)
        metric = "r2" if entry["task"] == "regression" else "accuracy"
        request = TaskRequest(data=Path(tmp) / "train.csv", test_data=Path(tmp) / "test.csv",
                              target=entry["target"], task_type=entry["task"], metric=metric,
                              budget_s=budget, na_values=entry["na_values"])
        runner = Runner(Settings())
        started = time.perf_counter()
        outcome = runner.start(request, auto_approve=True)
        fit_s = time.perf_counter() - started
        with runner.graph() as graph:
            best = graph.get_state({"configurable": {"thread_id": outcome.job_id}}).values["best"]
        yield outcome, best, TrainedModel.load(best["model_dir"]), fit_s


def run_mlpilot(entry: dict, train: pd.DataFrame, test: pd.DataFrame, budget: float) -> Score:
    """The whole mlpilot job on the split, offline expert, registration pre-approved."""
    with mlpilot_job(entry, train, test, budget) as (outcome, best, model, fit_s):
        X_test = test.drop(columns=[entry["target"]])
        started = time.perf_counter()
        y_pred, proba = model.predict(X_test), model.predict_proba(X_test)
        predict_s = time.perf_counter() - started
        score = evaluate(entry, test[entry["target"]].to_numpy(), y_pred, proba,
                         getattr(model, "classes", None))
        used = outcome.result.get("budget_used_s") or math.nan
        return Score(entry["name"], "mlpilot", fit_s=fit_s, predict_s=predict_s, y_pred=y_pred,
                     overshoot=used / budget - 1, extra={"source": outcome.result["model_source"],
                                                         "family": best["config"]["model"]["family"]},
                     **score)


def run_hgb(entry: dict, train: pd.DataFrame, test: pd.DataFrame, budget: float) -> Score:
    """scikit-learn HistGradientBoosting with defaults and native categorical support."""
    from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor

    X_train, y_train, X_test, y_test = _xy(entry, train, test)
    model = (HistGradientBoostingRegressor if entry["task"] == "regression"
             else HistGradientBoostingClassifier)(categorical_features="from_dtype", random_state=0)
    started = time.perf_counter()
    model.fit(X_train, y_train)
    fit_s = time.perf_counter() - started
    started = time.perf_counter()
    y_pred = model.predict(X_test)
    proba = model.predict_proba(X_test) if entry["task"] != "regression" else None
    predict_s = time.perf_counter() - started
    classes = list(model.classes_) if proba is not None else None
    return Score(entry["name"], "hgb", fit_s=fit_s, predict_s=predict_s, y_pred=y_pred,
                 **evaluate(entry, y_test, y_pred, proba, classes))


def run_flaml(entry: dict, train: pd.DataFrame, test: pd.DataFrame, budget: float) -> Score:
    """FLAML AutoML with the same time budget, seed 0, the same primary metric."""
    from flaml import AutoML

    X_train, y_train, X_test, y_test = _xy(entry, train, test)
    automl = AutoML()
    regression = entry["task"] == "regression"
    started = time.perf_counter()
    automl.fit(X_train, y_train, task="regression" if regression else "classification",
               metric="r2" if regression else "accuracy", time_budget=budget, seed=0, verbose=0)
    fit_s = time.perf_counter() - started
    started = time.perf_counter()
    y_pred = automl.predict(X_test)
    proba = None if regression else automl.predict_proba(X_test)
    predict_s = time.perf_counter() - started
    classes = None if regression else list(automl.classes_)
    return Score(entry["name"], "flaml", fit_s=fit_s, predict_s=predict_s,
                 overshoot=fit_s / budget - 1, extra={"best": automl.best_estimator},
                 **evaluate(entry, y_test, y_pred, proba, classes))


def _xy(entry: dict, train: pd.DataFrame, test: pd.DataFrame):
    """Features with text columns as pandas categories (both tree systems use them natively)."""
    target = entry["target"]
    X_train, X_test = train.drop(columns=[target]).copy(), test.drop(columns=[target]).copy()
    for col in X_train.columns:
        if not pd.api.types.is_numeric_dtype(X_train[col]):
            cats = pd.CategoricalDtype(sorted(X_train[col].dropna().astype(str).unique()))
            X_train[col] = X_train[col].astype(str).where(X_train[col].notna()).astype(cats)
            X_test[col] = X_test[col].astype(str).where(X_test[col].notna()).astype(cats)
    return X_train, train[target].to_numpy(), X_test, test[target].to_numpy()


def evaluate(entry: dict, y_true, y_pred, proba, classes) -> dict:
    """Primary metric and the secondary ones, on the original labels / scale."""
    if entry["task"] == "regression":
        y_true, y_pred = np.asarray(y_true, float), np.asarray(y_pred, float)
        return {"primary": primary(entry, y_true, y_pred),
                "rmse": math.sqrt(skm.mean_squared_error(y_true, y_pred))}
    y_true, y_pred = np.asarray(y_true).astype(str), np.asarray(y_pred).astype(str)
    out = {"primary": primary(entry, y_true, y_pred),
           "macro_f1": skm.f1_score(y_true, y_pred, average="macro")}
    if entry["task"] == "binary" and proba is not None and classes is not None:
        positive = [str(c) for c in classes].index(sorted(map(str, classes))[1])
        out["roc_auc"] = skm.roc_auc_score(y_true == sorted(map(str, classes))[1],
                                           np.asarray(proba)[:, positive])
    return out


def print_tables(scores: list[Score], entries: list[dict], systems: list[str], budget: float) -> None:
    """The per-data-set table, the secondary metrics, and the summary against the targets."""
    by = {(s.dataset, s.system): s for s in scores}
    print(f"# AutoML benchmark — {time.strftime('%Y-%m-%d')} — {platform.machine()}, "
          f"{os.cpu_count()} CPUs — budget {budget:g} s — primary: accuracy / R²")
    header = f"{'dataset':<20}{'task':<12}" + "".join(f"{s:>10}" for s in systems)
    if {"mlpilot", "flaml"} <= set(systems):
        header += f"{'ml/FLAML':>10}"
    if {"mlpilot", "hgb"} <= set(systems):
        header += f"{'ml-HGB':>9}{'95% CI':>17}"
    if "mlpilot" in systems:
        header += f"{'overshoot':>11}"
    print(header)
    ratios, gaps, overshoots = [], [], []
    for e in entries:
        name = e["name"]
        row = f"{name:<20}{e['task']:<12}"
        row += "".join(f"{_fmt(by[(name, s)].primary):>10}" for s in systems)
        ml = by.get((name, "mlpilot"))
        if ml and (name, "flaml") in by:
            ratio = ml.primary / by[(name, "flaml")].primary
            ratios.append(ratio)
            row += f"{_fmt(ratio):>10}"
        if ml and (name, "hgb") in by:
            gap = ml.primary - by[(name, "hgb")].primary
            gaps.append(gap)
            low, high = ml.hgb_gap_ci or (math.nan, math.nan)
            row += f"{gap:>+9.3f}" + f"[{low:+.3f}, {high:+.3f}]".rjust(17)
        if ml:
            overshoots.append(ml.overshoot)
            row += f"{ml.overshoot:>+10.1%}"
        print(row)
    print()
    print(f"{'dataset':<20}{'system':<10}{'roc_auc':>9}{'macro_f1':>10}{'rmse':>12}"
          f"{'fit_s':>9}{'predict_s':>11}  note")
    for s in scores:
        note = s.error or ", ".join(f"{k}={v}" for k, v in s.extra.items())
        print(f"{s.dataset:<20}{s.system:<10}{_fmt(s.roc_auc):>9}{_fmt(s.macro_f1):>10}"
              f"{_fmt(s.rmse, 1):>12}{_fmt(s.fit_s, 1):>9}{_fmt(s.predict_s, 3):>11}  {note}")
    print()
    clean = [r for r in ratios if math.isfinite(r)]
    if clean:
        print(f"mean ratio mlpilot/FLAML {statistics.mean(clean):.3f} (target >= 1.00), "
              f"lowest {min(clean):.3f} (target >= 0.97)")
    if gaps:
        finite = [g for g in gaps if math.isfinite(g)]
        print(f"worst gap to HGB defaults {min(finite):+.3f} (target >= -0.010); 95% CI: "
              "the gaps a paired bootstrap of the test rows gives" if finite else "")
    if overshoots:
        finite = [o for o in overshoots if math.isfinite(o)]
        print(f"largest budget overshoot {max(finite):+.1%} (target <= +5%)" if finite else "")


def _fmt(value: float, digits: int = 3) -> str:
    return "—" if value is None or not math.isfinite(value) else f"{value:.{digits}f}"


if __name__ == "__main__":
    sys.exit(main())
