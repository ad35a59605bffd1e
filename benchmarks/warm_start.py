"""Warm starts from experience: how much sooner a search on a dataset similar to one
already seen reaches the score a cold search ends with.

For each pair, a shared dataset is split at random into a "seen" part and a "new" part
(wine_quality_white in halves; california_housing and adult as two disjoint subsets of
6,000 and 8,000 rows). Then, with the same seed and the same budget:

1. a search on the seen part is remembered in a fresh experience store, as a job would;
2. a cold search on the new part starts from the new part's base config only;
3. a warm search on the new part first tries the seen run's best configs, and its sampler
   starts from the seen run's trials, found and adapted by the same code a job uses
   (`tools/experience.find_warm_start`).

Base configs come from the offline expert (`agent/config_generator.expert_config`), as in
a job. Each search is timed from its start (the warm one's clock includes finding the
past run); the best-so-far validation score after each trial gives a time-to-target
curve. The table shows the cold search's final validation score, when the cold search
first reached it, when the warm one did, and warm / cold (target: <= 0.5). Times are
wall-clock seconds and this process's CPU seconds: on a shared machine, other work
stretches wall time but hardly CPU time.

    .venv/bin/python benchmarks/warm_start.py [--budget 90] [--seeds 0,1,2] [--quick]
                                              [--pairs wine,housing,adult] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import logging
import platform
import statistics
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import optuna
import pandas as pd
import torch

from mlpilot.agent.config_generator import expert_config
from mlpilot.engine.config import LOWER_IS_BETTER, TaskSpec, TrainingConfig
from mlpilot.engine.data import load_table, profile_table
from mlpilot.engine.prior import PriorTrial
from mlpilot.guardrails.validators import validate
from mlpilot.knowledge.experience import ExperienceStore
from mlpilot.tools.experience import dataset_meta, find_warm_start, record_experience
from mlpilot.tools.training import prepared, tune_model

DATASETS = Path(__file__).resolve().parents[2] / "shared" / "datasets"


@dataclass(frozen=True)
class Pair:
    """A dataset cut into a seen part and a new part."""

    name: str
    file: str
    target: str
    task_type: str
    metric: str
    rows: int | None = None  # rows per part; None = halves
    na_values: tuple[str, ...] = ()


PAIRS = {
    "wine": Pair("wine_quality_white", "wine_quality_white.csv", "quality", "regression", "r2"),
    "housing": Pair("california_housing", "california_housing.csv", "median_house_value",
                    "regression", "r2", rows=6000),
    "adult": Pair("adult", "adult.csv", "income", "binary", "accuracy", rows=8000,
                  na_values=("?",)),
}


@dataclass
class Curve:
    """A search's best-so-far validation score after each completed trial, with the wall
    seconds and the CPU seconds (this process) since the search started; and every trial
    as (wall seconds at its end, family, state, score), for the JSON."""

    points: list[tuple[float, float, float]] = field(default_factory=list)
    log: list[tuple[float, str | None, str, float | None]] = field(default_factory=list)
    trials: int = 0
    first_trial_score: float | None = None
    first_trial_seconds: float | None = None

    @property
    def final(self) -> float | None:
        """The best score of the whole search."""
        return self.points[-1][2] if self.points else None

    def time_to(self, target: float, lower_is_better: bool) -> tuple[float, float] | None:
        """(wall, CPU) seconds until the best-so-far first reached `target` (None: never)."""
        for wall, cpu, best in self.points:
            if (best <= target) if lower_is_better else (best >= target):
                return wall, cpu
        return None


def split(pair: Pair, seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The seen part and the new part, disjoint random rows."""
    df = load_table(DATASETS / pair.file, na_values=list(pair.na_values) or None)
    shuffled = df.sample(frac=1.0, random_state=seed).reset_index(drop=True)
    size = pair.rows or len(shuffled) // 2
    return shuffled.iloc[:size].reset_index(drop=True), shuffled.iloc[size:2 * size].reset_index(
        drop=True)


def base_config(df: pd.DataFrame, task: TaskSpec, seed: int) -> TrainingConfig:
    """The offline expert's config for this data, through the validator chain as in a job."""
    draft = expert_config(task, profile_table(df, task.target), seed=seed)
    draft = draft.model_copy(update={"search": draft.search.model_copy(update={"max_trials": 1000})})
    report = validate(task, draft, profile_table(df, task.target), dry_run=False)
    if not report.passed:
        raise SystemExit(f"the expert config does not validate: {report.errors}")
    return TrainingConfig.model_validate(report.config)


def search(df: pd.DataFrame, task: TaskSpec, base: TrainingConfig, budget: float, name: str,
           enqueue: list[TrainingConfig], clock: tuple[float, float] | None = None,
           prior: list[PriorTrial] = ()):
    """One search within `budget` wall seconds; returns the outcome and its curve.

    `clock` is the (wall, CPU) start to measure from; default: now.
    """
    wall0, cpu0 = clock or (time.monotonic(), time.process_time())
    curve = Curve()
    lower = task.metric in LOWER_IS_BETTER

    def on_trial(trial) -> None:
        curve.trials += 1
        family = trial.config.model.family if trial.config is not None else None
        curve.log.append((time.monotonic() - wall0, family, trial.state, trial.value))
        if trial.value is None:
            return
        if curve.trials == 1:  # the first config enqueued
            curve.first_trial_score, curve.first_trial_seconds = trial.value, trial.seconds
        best = curve.final
        if best is None or (trial.value < best if lower else trial.value > best):
            best = trial.value
        curve.points.append((time.monotonic() - wall0, time.process_time() - cpu0, best))

    with tempfile.TemporaryDirectory(prefix="mlpilot-bench-") as tmp:
        outcome = tune_model(df, task, base, model_dir=Path(tmp) / "model",
                             deadline=wall0 + budget, storage=None, study_name=name,
                             enqueue=enqueue, on_trial=on_trial, prior=prior)
    return outcome, curve


def run_pair(pair: Pair, budget: float, seed: int, store: Path) -> dict:
    """Seen search, remembered; then the cold and the warm search on the new part."""
    seen, new = split(pair, seed)
    task = TaskSpec(target=pair.target, task_type=pair.task_type, metric=pair.metric,
                    budget_s=budget)
    seen_base = base_config(seen, task, seed)
    prepared(seen, task, seen_base)
    seen_run, seen_curve = search(seen, task, seen_base, budget, "seen", [seen_base])
    base_score = seen_curve.first_trial_score  # trial 0 trained the base config
    record_experience(  # as the tune node does: the base config and the search's best
        store, run_id=f"seen-{pair.name}-{seed}", dataset=f"{pair.file} (seen part)", task=task,
        meta=dataset_meta(seen, task), base_score=base_score, trials=seen_run.observations,
        configs=[{"config": seen_base.model_dump(mode="json"), "score": base_score,
                  "source": "base", "seconds": seen_curve.first_trial_seconds},
                 *seen_run.top_configs])

    new_base = base_config(new, task, seed)
    n_train = len(prepared(new, task, new_base).y_train)  # both searches share this preparation
    _, cold = search(new, task, new_base, budget, "cold", [new_base])
    clock = time.monotonic(), time.process_time()  # finding the past run counts for warm
    meta = dataset_meta(new, task)
    warm_start = find_warm_start(store, meta, task, new_base, profile_table(new, task.target),
                                 n_train_rows=n_train, budget_s=budget)
    _, warm = search(new, task, warm_start.search_config(new_base), budget, "warm",
                     warm_start.enqueue(new_base),
                     clock=clock, prior=warm_start.prior)

    lower = task.metric in LOWER_IS_BETTER
    target = cold.final
    cold_time, warm_time = cold.time_to(target, lower), warm.time_to(target, lower)
    [near] = ExperienceStore(store).nearest(meta, task.task_type, k=1)
    return {
        "pair": f"{pair.name}: {len(seen)} seen -> {len(new)} new rows", "metric": pair.metric,
        "seed": seed, "budget_s": budget, "distance": near.distance,
        "seen_base": base_score, "seen_final": seen_curve.final,
        "warm_configs": len(warm_start.configs), "prior_trials": len(warm_start.prior),
        "warm_reason": warm_start.reason,
        "warm_skipped": warm_start.skipped,
        "cold_final": target, "warm_final": warm.final,
        "cold_time": cold_time, "warm_time": warm_time,
        "ratio_wall": warm_time[0] / cold_time[0] if warm_time else None,
        "ratio_cpu": warm_time[1] / cold_time[1] if warm_time else None,
        "cold_first_trial": cold.first_trial_score, "warm_first_trial": warm.first_trial_score,
        "cold_trials": cold.trials, "warm_trials": warm.trials,
        "cold_curve": cold.points, "warm_curve": warm.points,
        "cold_log": cold.log, "warm_log": warm.log,
    }


def _fmt(value: float | None, spec: str = ".1f", missing: str = "-") -> str:
    return missing if value is None else format(value, spec)


def print_table(rows: list[dict]) -> None:
    """The results as a Markdown table, then the median ratios."""
    print("| dataset pair | seed | distance | seen run: base -> best | warm configs + prior trials | "
          "cold final score | cold time to it (s, wall / CPU) | warm time to it (s, wall / CPU) "
          "| warm / cold (wall, CPU) | warm final |")
    print("| --- | ---: | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    for r in rows:
        cold, warm = r["cold_time"], r["warm_time"]
        reached = f"{warm[0]:.1f} / {warm[1]:.1f}" if warm else "not reached"
        ratios = f"{r['ratio_wall']:.2f}, {r['ratio_cpu']:.2f}" if warm else "-"
        print(f"| {r['pair']} | {r['seed']} | {r['distance']:.3f} | "
              f"{_fmt(r['seen_base'], '.4f')} -> {_fmt(r['seen_final'], '.4f')} | "
              f"{r['warm_configs']} + {r.get('prior_trials', 0)} | {r['metric']} {_fmt(r['cold_final'], '.4f')} | "
              f"{cold[0]:.1f} / {cold[1]:.1f} | {reached} | {ratios} | "
              f"{_fmt(r['warm_final'], '.4f')} |")
    for key, what in (("ratio_wall", "wall"), ("ratio_cpu", "CPU")):
        ratios = [r[key] if r[key] is not None else float("inf") for r in rows]
        if ratios:
            print(f"\nmedian warm / cold ({what} time): {statistics.median(ratios):.2f}", end="")
    print("\n(target <= 0.50; a warm search that never reached the cold score counts as "
          "infinite)")
    for r in rows:
        if not r["warm_configs"] and not r.get("prior_trials"):
            print(f"- {r['pair']} seed {r['seed']}: {r['warm_reason']}")
    print_anytime(rows)


#: Shares of the budget at which `print_anytime` compares the two searches.
CHECKPOINTS = (0.1, 0.25, 0.5, 1.0)


def best_at(curve: list, seconds: float) -> float | None:
    """The best-so-far score of a saved curve after `seconds` of wall time (None: no trial yet)."""
    best = None
    for wall, _cpu, score in curve:
        if wall <= seconds:
            best = score
    return best


def print_anytime(rows: list[dict]) -> None:
    """Best validation score so far, cold / warm, at shares of the budget, and how often the
    warm search was ahead or level (a missing score counts as behind)."""
    print("\n| dataset pair | seed | " + " | ".join(f"{share:.0%} of budget: cold / warm"
                                                  for share in CHECKPOINTS) + " |")
    print("| --- | ---: |" + " ---: |" * len(CHECKPOINTS))
    ahead = dict.fromkeys(CHECKPOINTS, 0)
    for r in rows:
        lower = r["metric"] in LOWER_IS_BETTER
        cells = []
        for share in CHECKPOINTS:
            cold = best_at(r["cold_curve"], share * r["budget_s"])
            warm = best_at(r["warm_curve"], share * r["budget_s"])
            if warm is not None and (cold is None or (warm <= cold if lower else warm >= cold)):
                ahead[share] += 1
            cells.append(f"{_fmt(cold, '.4f')} / {_fmt(warm, '.4f')}")
        print(f"| {r['pair']} | {r['seed']} | " + " | ".join(cells) + " |")
    print("\nwarm ahead or level: " + ", ".join(
        f"{ahead[share]}/{len(rows)} at {share:.0%}" for share in CHECKPOINTS))


def main() -> None:
    """Parse arguments, run each pair and seed, print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budget", type=float, default=90.0, help="seconds per search")
    parser.add_argument("--quick", action="store_true", help="adult only, 30 s per search")
    parser.add_argument("--pairs", default="wine,housing,adult",
                        help=f"comma-separated, from {', '.join(PAIRS)}")
    parser.add_argument("--seeds", default="0", help="comma-separated seeds (split and configs)")
    parser.add_argument("--json", type=Path, help="also write every row and curve here")
    parser.add_argument("--table-from", type=Path, help="print the tables of a saved --json run")
    args = parser.parse_args()
    if args.table_from:
        print_table(json.loads(args.table_from.read_text()))
        return
    if args.quick:
        args.pairs, args.budget = "adult", min(args.budget, 30.0)
    logging.getLogger("mlpilot").setLevel(logging.WARNING)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    if not DATASETS.exists():
        raise SystemExit(f"the shared datasets are not at {DATASETS}")

    print(f"# warm start vs cold start, {args.budget:g} s per search "
          f"({platform.processor() or platform.machine()}, {torch.get_num_threads()} threads, "
          f"{time.strftime('%Y-%m-%d')})\n")
    rows = []
    with tempfile.TemporaryDirectory(prefix="mlpilot-experience-") as tmp:
        for seed in (int(s) for s in args.seeds.split(",")):
            for key in args.pairs.split(","):
                # one store per seed: the pairs' datasets differ, the seeds' parts overlap
                store = Path(tmp) / f"experience-{seed}.sqlite"
                row = run_pair(PAIRS[key.strip()], args.budget, seed, store)
                rows.append(row)
                print(f"done: {row['pair']} seed {seed}: ratio (wall) "
                      f"{_fmt(row['ratio_wall'], '.2f')}", flush=True)
    print()
    print_table(rows)
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
