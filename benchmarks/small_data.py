"""Small data: does the cross-fit's choice hold up on test rows, split after split?

On data sets of at most `crossfit.MAX_ROWS` training and validation rows, a job
cross-fits the search's best configs and HistGradientBoosting defaults and keeps a
greedy ensemble of bags chosen out of fold (`engine/crossfit.py`). This
script runs that search and cross-fit as `tools.training.tune_model` does (the offline
expert's config, the same share of time for each), on several 80/20 splits of each
small data set of ../shared/datasets (manifest's leaky and ID-like columns dropped, as in
`automl.py`), and scores on the split's test rows:

- `hgb`: scikit-learn HistGradientBoosting defaults on all training rows (as `automl.py`);
- `defaults bag`: the cross-fit's bag of HistGradientBoosting defaults alone;
- `final`: what a job keeps, the greedy choice on out-of-fold predictions.

The summary gives the mean and worst difference to `hgb` over all runs. With a few dozen
test rows one row moves accuracy by 0.01 to 0.02, so read the means over many splits,
not one run.

    .venv/bin/python benchmarks/small_data.py [--budget 60] [--seeds 0,1,2]
                                              [--datasets penguins,glass] [--json out.json]
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
from pathlib import Path

import automl  # this folder's: the benchmark's splits and its HGB baseline
import optuna

from mlpilot.agent.config_generator import expert_config
from mlpilot.engine import crossfit
from mlpilot.engine.config import TaskSpec
from mlpilot.engine.data import profile_table
from mlpilot.engine.ensemble import EnsembleModel
from mlpilot.engine.final_stage import FinalStage
from mlpilot.engine.scores import score_predictions
from mlpilot.engine.search import tune
from mlpilot.tools.training import CROSS_FIT_SHARE, SAVE_S, SLICE_SHARE, prepared

SYSTEMS = ("hgb", "defaults bag", "final")


def main() -> None:
    """Run every small data set on every split; print the table and the summary."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budget", type=float, default=60.0, help="seconds per run")
    parser.add_argument("--seeds", default="0,1,2", help="split seeds")
    parser.add_argument("--datasets", default="", help="comma-separated manifest names "
                        "(default: every data set small enough to be cross-fitted)")
    parser.add_argument("--folds", type=int, default=crossfit.FOLDS,
                        help="folds of a round of cross-fitting (to compare with the default)")
    parser.add_argument("--json", type=Path, help="also write the rows as JSON here")
    args = parser.parse_args()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    logging.getLogger("mlpilot").setLevel(logging.WARNING)

    manifest = json.loads((automl.DATASETS / "manifest.json").read_text())
    wanted = {n.strip() for n in args.datasets.split(",") if n.strip()}
    seeds = [int(s) for s in args.seeds.split(",")]
    rows = []
    for entry in manifest:
        if (wanted and entry["name"] not in wanted) or not _small(entry):
            continue
        for seed in seeds:
            print(f"[{entry['name']}] split {seed} ...", file=sys.stderr, flush=True)
            rows.append(run(entry, seed, args.budget, args.folds))
    print_table(rows, args.budget, args.folds)
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))


def _small(entry: dict) -> bool:
    """True when a job on the 80% would cross-fit (at most `MAX_ROWS` rows, test excluded)."""
    train, _ = automl.split(entry)
    return len(train) <= crossfit.MAX_ROWS


def run(entry: dict, seed: int, budget: float, folds: int = crossfit.FOLDS) -> dict:
    """One split: the search and cross-fit of a job, every system scored on the test rows."""
    train, test = automl.split(entry, seed)
    metric = "r2" if entry["task"] == "regression" else "accuracy"
    task = TaskSpec(target=entry["target"], task_type=entry["task"], metric=metric,
                    budget_s=budget)
    config = expert_config(task, profile_table(train, entry["target"]))
    hgb = automl.run_hgb(entry, train, test, budget).primary
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
    if chosen is None:
        raise SystemExit(f"{entry['name']} split {seed}: no bag finished in {budget}s")
    pre = data.preprocessor
    y_test = pre.decode_target(data.y_test)

    def test_score(model: EnsembleModel) -> float:
        return score_predictions(task, y_test, model.scores(data.X_test), pre.classes)

    defaults = next((b for b in chosen.tried if b.entry.number < 0), None)
    return {"dataset": entry["name"], "seed": seed, "test_rows": len(y_test),
            "hgb": hgb, "defaults bag": test_score(defaults.model) if defaults else math.nan,
            "final": test_score(chosen.model), "out_of_fold": chosen.score,
            "rounds": chosen.rounds, "bags": len(chosen.tried), "trials": len(result.trials),
            "used": used / budget}


def print_table(rows: list[dict], budget: float, folds: int) -> None:
    """Per run, then each system's mean and worst difference to HGB defaults."""
    print(f"# Small data — {time.strftime('%Y-%m-%d')} — {platform.machine()}, "
          f"{len(os.sched_getaffinity(0))} CPUs — budget {budget:.0f} s — {folds} folds — "
          "test accuracy / R²")
    head = "".join(f"{s:>14}" for s in SYSTEMS)
    print(f"{'dataset':16}{'split':>6}{'rows':>6}{head}{'rounds':>8}{'bags':>6}{'used':>7}")
    for r in rows:
        scores = "".join(f"{r[s]:14.3f}" for s in SYSTEMS)
        print(f"{r['dataset']:16}{r['seed']:6d}{r['test_rows']:6d}{scores}"
              f"{r['rounds']:8d}{r['bags']:6d}{r['used']:7.0%}")
    print()
    print(f"{'minus hgb':28}" + "".join(f"{s:>14}" for s in SYSTEMS[1:]))
    for name, pick in (("mean", statistics.mean), ("worst", min)):
        diffs = "".join(f"{pick([r[s] - r['hgb'] for r in rows]):+14.4f}" for s in SYSTEMS[1:])
        print(f"{name:28}{diffs}")
    below = "".join(f"{sum(r[s] - r['hgb'] < -0.01 for r in rows):14d}" for s in SYSTEMS[1:])
    print(f"{'runs more than 0.01 below':28}{below}")


if __name__ == "__main__":
    main()
