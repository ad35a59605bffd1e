"""Small data: does the cross-fit's choice hold up on test rows, split after split?

On data sets of at most `crossfit.MAX_ROWS` training and validation rows, a job
cross-fits the search's best configs and HistGradientBoosting defaults and keeps a
greedy ensemble of bags chosen out of fold (`engine/crossfit.py`). This
script runs that search and cross-fit as `tools.training.tune_model` does (the offline
expert's config, the same share of time for each), on several 80/20 splits of each
small data set of ../shared/datasets (manifest's leaky and ID-like columns dropped, as in
`automl.py`), and scores on the split's test rows:

- `hgb`: scikit-learn HistGradientBoosting defaults on all training rows (as `automl.py`);
- `linear`: a plain linear model (least squares, or logistic regression) on standardised
  numeric and one-hot categorical columns;
- `before`: what a job kept before issue 12's small-data work: no "glm" family in the
  search, and one round of cross-fitting unless time bought more;
- `after`: what a job keeps now: the "glm" family (splines, interactions, penalised) in
  the search, and repeated cross-validation below `crossfit.REPEATED_CV_ROWS` rows;
- `stacked`: `after` with the second layer (`engine/stacking.py`) where it was kept (in
  the job's time left, as `tune_model` tries it), else `after`'s model.

Both arms run in the same invocation, on the same splits, at the same budget. The summary
gives each system's mean and worst difference to `hgb` and to `linear`. With a few dozen
test rows one row moves accuracy by 0.01 to 0.02, so read the means over many splits,
not one run. `--max-rows 250` subsamples each table first (200 training rows).

    .venv/bin/python benchmarks/small_data.py [--budget 60] [--seeds 0,1,2]
                                              [--datasets penguins,glass] [--max-rows 250]
                                              [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import platform
import statistics
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import automl  # this folder's: the benchmark's splits and its HGB baseline
import optuna

from mlpilot.agent.config_generator import expert_config
from mlpilot.engine import crossfit
from mlpilot.engine.config import TaskSpec
from mlpilot.engine.data import profile_table
from mlpilot.engine.final_stage import FinalStage
from mlpilot.engine.scores import score_predictions
from mlpilot.engine.search import tune
from mlpilot.engine.stacking import stack_bags
from mlpilot.tools.training import CROSS_FIT_SHARE, SAVE_S, SLICE_SHARE, prepared

SYSTEMS = ("hgb", "linear", "before", "after", "stacked")


def main() -> None:
    """Run every small data set on every split; print the table and the summary."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budget", type=float, default=60.0, help="seconds per run")
    parser.add_argument("--seeds", default="0,1,2", help="split seeds")
    parser.add_argument("--datasets", default="", help="comma-separated manifest names "
                        "(default: every data set small enough to be cross-fitted, or every "
                        "one with --max-rows)")
    parser.add_argument("--folds", type=int, default=crossfit.FOLDS,
                        help="folds of a round of cross-fitting (to compare with the default)")
    parser.add_argument("--max-rows", type=int, default=0,
                        help="subsample each table to this many rows first (0: all)")
    parser.add_argument("--json", type=Path, help="also write the rows as JSON here")
    args = parser.parse_args()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    logging.getLogger("mlpilot").setLevel(logging.WARNING)

    manifest = json.loads((automl.DATASETS / "manifest.json").read_text())
    wanted = {n.strip() for n in args.datasets.split(",") if n.strip()}
    seeds = [int(s) for s in args.seeds.split(",")]
    rows = []
    for entry in manifest:
        if (wanted and entry["name"] not in wanted) or not (args.max_rows or _small(entry)):
            continue
        for seed in seeds:
            print(f"[{entry['name']}] split {seed} ...", file=sys.stderr, flush=True)
            rows.append(run(entry, seed, args.budget, args.folds, args.max_rows))
    print_table(rows, args.budget, args.folds)
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))


def _small(entry: dict) -> bool:
    """True when a job on the 80% would cross-fit (at most `MAX_ROWS` rows, test excluded)."""
    train, _ = automl.split(entry)
    return len(train) <= crossfit.MAX_ROWS


def run(entry: dict, seed: int, budget: float, folds: int = crossfit.FOLDS,
        max_rows: int = 0) -> dict:
    """One split: the search and cross-fit of a job before and after, and the baselines,
    scored on the test rows."""
    train, test = automl.split(entry, seed)
    if max_rows and len(train) + len(test) > max_rows:
        train = train.sample(round(max_rows * 0.8), random_state=seed)
        test = test.sample(max_rows - len(train), random_state=seed)
    metric = "r2" if entry["task"] == "regression" else "accuracy"
    task = TaskSpec(target=entry["target"], task_type=entry["task"], metric=metric,
                    budget_s=budget)
    config = expert_config(task, profile_table(train, entry["target"]))
    row = {"dataset": entry["name"], "seed": seed, "train_rows": len(train),
           "test_rows": len(test), "hgb": automl.run_hgb(entry, train, test, budget).primary,
           "linear": plain_linear(entry, train, test)}
    families = config.search.space.families
    without = [f for f in families if f != "glm"]
    before = config.model_copy(update={"search": config.search.model_copy(update={
        "space": config.search.space.model_copy(update={"families": without})})})
    for arm, arm_config, repeat_below in (("before", before, 0),
                                          ("after", config, crossfit.REPEATED_CV_ROWS)):
        # before: no row count needs repeated cross-validation
        with _constant(crossfit, "REPEATED_CV_ROWS", repeat_below):
            row.update(job(arm, arm_config, train, test, task, budget, folds))
    return row


def job(arm: str, config, train, test, task: TaskSpec, budget: float, folds: int) -> dict:
    """A job's search and cross-fit on `train` (as `tune_model` splits the time), scored
    on `test`; the arm's columns of the row."""
    data = prepared(train, task, config, test_df=test)
    started = time.monotonic()
    deadline = started + budget
    # as tune_model splits the time: the search ends where the cross-fit's predicted cost
    # (at most CROSS_FIT_SHARE) begins
    cap_s = CROSS_FIT_SHARE * (budget - SAVE_S)
    final = FinalStage(config, data, task, cross_fit=True, cap_s=cap_s)
    result = tune(config, data, task, deadline=deadline - SAVE_S, seed=config.seed,
                  trial_slice_s=SLICE_SHARE * (budget - SAVE_S - cap_s),
                  reserve=final.reserve_s)
    chosen = crossfit.cross_fit_chosen(result.candidates, config, data, task,
                                       deadline=deadline - SAVE_S, seed=config.seed,
                                       folds=folds)
    used = time.monotonic() - started
    if chosen is None:  # no bag finished (a loaded machine): the run counts as missing
        return {arm: math.nan, "stacked": math.nan, "stack_kept": False, f"{arm}_rounds": 0,
                f"{arm}_bags": 0, f"{arm}_trials": len(result.trials), f"{arm}_used": used / budget,
                f"{arm}_kept": "-"}
    pre = data.preprocessor
    y_test = pre.decode_target(data.y_test)
    score = score_predictions(task, y_test, chosen.model.scores(data.X_test), pre.classes)
    row = {}
    if arm == "after":  # then the second layer, as tune_model tries it, in the time left
        stacked = stack_bags(chosen, data, task, deadline=deadline - SAVE_S, seed=config.seed)
        row["stacked"] = (score_predictions(task, y_test, stacked.model.scores(data.X_test),
                                            pre.classes) if stacked else score)
        row["stack_kept"] = stacked is not None
    return {**row, arm: score, f"{arm}_rounds": chosen.rounds, f"{arm}_bags": len(chosen.tried),
            f"{arm}_trials": len(result.trials), f"{arm}_used": used / budget,
            f"{arm}_kept": "+".join(b.entry.config.model.family for b in chosen.bags)}


def plain_linear(entry: dict, train, test) -> float:
    """Test R² or accuracy of a plain linear model: least squares (or logistic regression,
    scikit-learn's default penalty) on median-imputed standardised numeric columns and
    one-hot categorical ones."""
    from sklearn.compose import make_column_selector, make_column_transformer
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LinearRegression, LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    X_train, y_train, X_test, y_test = automl._xy(entry, train, test)
    design = make_column_transformer(
        (make_pipeline(SimpleImputer(strategy="median"), StandardScaler()),
         make_column_selector(dtype_include="number")),
        (make_pipeline(SimpleImputer(strategy="most_frequent"),
                       OneHotEncoder(handle_unknown="ignore")),
         make_column_selector(dtype_include="category")))
    regression = entry["task"] == "regression"
    model = make_pipeline(design, LinearRegression() if regression
                          else LogisticRegression(max_iter=2000))
    model.fit(X_train, y_train)
    return automl.primary(entry, y_test, model.predict(X_test))


@contextmanager
def _constant(module, name: str, value):
    """`module.name` set to `value` for the block."""
    kept = getattr(module, name)
    setattr(module, name, value)
    try:
        yield
    finally:
        setattr(module, name, kept)


def print_table(rows: list[dict], budget: float, folds: int) -> None:
    """Per run, then each system's mean and worst difference to HGB defaults and to the
    plain linear model."""
    print(f"# Small data — {time.strftime('%Y-%m-%d')} — {platform.machine()}, "
          f"{len(os.sched_getaffinity(0))} CPUs — budget {budget:.0f} s — {folds} folds — "
          "test accuracy / R²")
    head = "".join(f"{s:>9}" for s in SYSTEMS)
    print(f"{'dataset':16}{'split':>6}{'train':>6}{'test':>5}{head}  rounds  bags  used"
          "   kept (before | after)")
    for r in rows:
        scores = "".join(f"{r[s]:9.3f}" for s in SYSTEMS)
        print(f"{r['dataset']:16}{r['seed']:6d}{r['train_rows']:6d}{r['test_rows']:5d}{scores}"
              f"  {r['before_rounds']}/{r['after_rounds']}  {r['before_bags']:2d}/{r['after_bags']:<2d}"
              f" {r['before_used']:.0%}/{r['after_used']:.0%}   {r['before_kept']} | "
              f"{r['after_kept']}{' (stacked)' if r['stack_kept'] else ''}")
    print()
    missing = [r for r in rows if not all(math.isfinite(r[s]) for s in SYSTEMS)]
    if missing:
        print(f"{len(missing)} run(s) without a model in some arm, left out below")
    rows = [r for r in rows if r not in missing]
    for ref in ("hgb", "linear"):
        others = [s for s in SYSTEMS if s != ref]
        print(f"{'minus ' + ref:28}" + "".join(f"{s:>10}" for s in others))
        for name, pick in (("mean", statistics.mean), ("worst", min)):
            diffs = "".join(f"{pick([r[s] - r[ref] for r in rows]):+10.4f}" for s in others)
            print(f"{name:28}{diffs}")
        if len(rows) > 1:
            errors = "".join(f"{statistics.stdev([r[s] - r[ref] for r in rows]) / len(rows) ** 0.5:10.4f}"
                             for s in others)
            print(f"{'standard error of the mean':28}{errors}")
        below = "".join(f"{sum(r[s] - r[ref] < -0.01 for r in rows):10d}" for s in others)
        print(f"{'runs more than 0.01 below':28}{below}")
        print()


if __name__ == "__main__":
    main()
