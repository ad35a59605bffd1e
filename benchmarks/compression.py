"""Compression for serving: a cross-fitted bag distilled into one network, then int8.

On small shared data sets (where a job keeps a bag: `engine/crossfit.py`), this script
cross-fits the bag a job starts from (HistGradientBoosting defaults, five fold models,
as `crossfit.entries` makes it) on an 80/20 split (`automl.split`: leaky and ID-like
columns dropped), then runs `engine.compression.compress` on it and prints, per data
set, the teacher's and the kept student's saved size, p95 one-row `predict` latency and
test score (accuracy or R²), with the ratios. Target (issue 13): size -70% and latency
x5 at a loss of at most 0.01.

    .venv/bin/python benchmarks/compression.py [--datasets penguins,german-credit,auto-mpg]
                                               [--seed 0] [--requests 200] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import sys
import time
from pathlib import Path

import automl  # this folder's: the benchmark's splits

from mlpilot.engine import crossfit
from mlpilot.engine.compression import compress
from mlpilot.engine.config import TaskSpec, TrainingConfig
from mlpilot.engine.ensemble import EnsembleModel
from mlpilot.engine.preprocess import prepare_data
from mlpilot.engine.refit import all_rows

DEFAULT_DATASETS = "penguins,german-credit,auto-mpg"


def main() -> None:
    """Compress a bag per data set; print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", default=DEFAULT_DATASETS, help="comma-separated names")
    parser.add_argument("--seed", type=int, default=0, help="split seed")
    parser.add_argument("--requests", type=int, default=200, help="one-row requests timed")
    parser.add_argument("--json", type=Path, help="also write the rows as JSON here")
    args = parser.parse_args()
    manifest = {e["name"]: e for e in json.loads((automl.DATASETS / "manifest.json").read_text())}
    rows = []
    for name in [n.strip() for n in args.datasets.split(",") if n.strip()]:
        print(f"[{name}] ...", file=sys.stderr, flush=True)
        rows.append(run(manifest[name], args.seed, args.requests))
    print_table(rows)
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))


def run(entry: dict, seed: int, requests: int) -> dict:
    """Cross-fit the defaults' bag on the split's training rows and compress it."""
    train, test = automl.split(entry, seed)
    classification = entry["task"] != "regression"
    task = TaskSpec(target=entry["target"], task_type=entry["task"],
                    metric="accuracy" if classification else "r2", budget_s=60)
    base = TrainingConfig(seed=seed)
    started = time.monotonic()
    rows = all_rows(prepare_data(train, task, base, test_df=test))
    defaults = crossfit.entries([], base)[0]
    held = crossfit.fold_indices(rows.y_train, task, seed)
    _, models = crossfit.cross_fit(defaults, rows, held, task, len(rows.y_train),
                                   deadline=math.inf)
    teacher = EnsembleModel(models, [1.0] * len(models))
    bag_s = time.monotonic() - started
    started = time.monotonic()
    report = compress(teacher, train, test, task, seed=seed, requests=requests)
    out = {"dataset": entry["name"], "metric": task.metric, "rows": len(train),
           "bag_models": len(models), "bag_s": bag_s, "compress_s": time.monotonic() - started}
    return out | report.as_dict()


def print_table(rows: list[dict]) -> None:
    """One line per data set: teacher, float student, int8 student, kept, ratios."""
    print(f"\nCompression of a cross-fitted bag (5 x HistGradientBoosting defaults); "
          f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs; "
          "size = saved directory bytes, p95 = one-row predict (ms), score on 20% test rows")
    head = (f"{'dataset':<14} {'metric':<8} {'teacher KB/p95/score':<24} "
            f"{'student KB/p95/score':<24} {'int8 KB/p95/score':<24} {'kept':<8} "
            f"{'size':>7} {'speedup':>8} {'loss':>7}")
    print(head)
    print("-" * len(head))
    for r in rows:
        kept = r[r["kept"]]
        print(f"{r['dataset']:<14} {r['metric']:<8} {_cell(r['teacher']):<24} "
              f"{_cell(r['student']):<24} {_cell(r['int8']):<24} {r['kept']:<8} "
              f"{r['size_ratio'] - 1:>+7.0%} {r['speedup']:>7.1f}x "
              f"{r['teacher']['score'] - kept['score']:>+7.4f}")
    print("size: kept/teacher - 1 (target <= -70%); speedup: teacher p95 / kept p95 "
          "(target >= 5x); loss: teacher score - kept score (kept only when <= 0.01)")


def _cell(stats: dict | None) -> str:
    if stats is None:
        return "-"
    return f"{stats['size_bytes'] / 1024:.0f}/{stats['p95_ms']:.2f}/{stats['score']:.4f}"


if __name__ == "__main__":
    main()
