"""Scale out on Ray: a search's trials per minute against the trial workers, and many
concurrent jobs on a two-node cluster.

    PYTHONPATH=.. .venv/bin/python benchmarks/scale_out.py [--budget 20] [--jobs 8]

Starts a private two-node Ray cluster on this machine (`tests/ray_cluster.py`, `--cpus`
logical CPUs a node), stopped at the end.

1. Search: one `tune` on `--data` for `--budget` seconds of wall time, its trials trained
   here one at a time (no Ray), then as Ray tasks with 1, 2 and 4 trial workers. Same
   data, split, seed and budget; prints trials, trials per minute, the best validation
   score and the test score of the best trial's model.
2. Jobs: `--jobs` jobs submitted at once to a job service whose `--workers` job workers
   are Ray actors (`MLPILOT_RAY_ADDRESS`), each with `--job-budget` seconds and
   pre-approved; prints accepted, succeeded, ended otherwise (needs input: a model no
   better than the trivial baseline, which is not registered), lost (failed, or not ended
   within `--timeout`) and the wall time.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # the tests' cluster (tests/ is not installed)

from tests.ray_cluster import ENV, RayCluster, ray_bin

DATA = ROOT.parent / "shared" / "datasets"


def search_rows(address: str, data_path: Path, target: str, budget: float,
                workers: list[int]) -> list[tuple[str, int, float, float, float, float]]:
    """(setting, trials, trials per minute, wall seconds, best validation score, test
    score) each."""
    import optuna

    from mlpilot.agent.ray_cluster import connect
    from mlpilot.agent.settings import Settings
    from mlpilot.engine.config import TaskSpec, TrainingConfig
    from mlpilot.engine.data import load_table
    from mlpilot.engine.predictor import TrainedModel
    from mlpilot.engine.preprocess import prepare_data
    from mlpilot.engine.scores import score_predictions
    from mlpilot.engine.search import tune
    from mlpilot.engine.trial_executor import RayTrials

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    df = load_table(data_path)
    task_type = "regression" if df[target].nunique() > 20 else "multiclass"
    task = TaskSpec(target=target, task_type=task_type,
                    metric="r2" if task_type == "regression" else "accuracy", budget_s=budget)
    base = TrainingConfig(search={"max_trials": 10_000})
    data = prepare_data(df, task, base)
    connect(Settings(ray_address=address))
    rows = []
    for n in [0, *workers]:
        trials = RayTrials(n) if n else None
        if trials is not None:
            trials.warm(wait=True)  # a worker's first import of torch is not a trial's cost
        started = time.monotonic()
        result = tune(base, data, task, deadline=started + budget, trials=trials, seed=0)
        wall = time.monotonic() - started
        test = float("nan")
        if result.best_fit is not None:
            model = TrainedModel(task, result.best_config, data.preprocessor,
                                 result.best_fit.model)
            pre = data.preprocessor
            test = score_predictions(task, pre.decode_target(data.y_test),
                                     model.scores(data.X_test), pre.classes)
        setting = f"Ray, {n} trial worker{'s' if n > 1 else ''}" if n else "here, one at a time"
        rows.append((setting, len(result.trials), 60 * len(result.trials) / wall, wall,
                     result.best_score, test))
        print(f"  {setting}: {len(result.trials)} trials in {wall:.1f} s", file=sys.stderr)
    return rows


def job_row(address: str, jobs: int, workers: int, budget: float, timeout: float
            ) -> tuple[int, Counter, int, float]:
    """(accepted, the ended jobs by status, lost, wall seconds) for `jobs` jobs submitted at
    once; lost: failed, or not ended within `timeout`."""
    from mlpilot.agent.jobs import JobService
    from mlpilot.agent.settings import Settings
    from mlpilot.agent.state import TaskRequest

    folder = Path(tempfile.mkdtemp(prefix="mlpilot-scale-"))
    settings = Settings(data_dir=folder, ray_address=address, datasets_dir=DATA)
    service = JobService(settings, workers=workers)
    service.start()
    started = time.monotonic()
    accepted = []
    try:
        for _ in range(jobs):
            job, _ = service.submit(TaskRequest(
                request=f"predict the species of a penguin, {budget:g} seconds",
                data=DATA / "penguins.csv"), auto_approve=True)
            accepted.append(job.id)
        deadline = started + timeout
        ended = {}
        while time.monotonic() < deadline and len(ended) < len(accepted):
            for job_id in accepted:
                if job_id not in ended and (job := service.store.job(job_id)).ended:
                    ended[job_id] = job.status
            time.sleep(0.5)
        wall = time.monotonic() - started
    finally:
        service.stop()
    statuses = Counter(ended.values())
    return len(accepted), statuses, len(accepted) - len(ended) + statuses["failed"], wall


def main() -> None:
    """Start the cluster, run both parts, print the tables, stop the cluster."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DATA / "wine_quality_white.csv")
    parser.add_argument("--target", default="quality")
    parser.add_argument("--budget", type=float, default=20.0,
                        help="seconds per search (0: no search part)")
    parser.add_argument("--workers", default="1,2,4", help="trial workers on Ray")
    parser.add_argument("--cpus", type=int, default=2, help="logical CPUs per node")
    parser.add_argument("--jobs", type=int, default=8, help="concurrent jobs (0: none)")
    parser.add_argument("--job-workers", type=int, default=4, help="job worker actors")
    parser.add_argument("--job-budget", type=float, default=2.0, help="seconds per job")
    parser.add_argument("--timeout", type=float, default=600.0, help="for all the jobs")
    args = parser.parse_args()
    if ray_bin() is None:
        sys.exit("Ray is not installed: pip install 'mlpilot[ray]'")
    os.environ.update(ENV)
    started = time.monotonic()
    cluster = RayCluster(nodes=2, cpus=args.cpus).start()
    print(f"  two-node cluster up in {time.monotonic() - started:.0f} s", file=sys.stderr)
    try:
        rows = search_rows(cluster.address, args.data, args.target, args.budget,
                           [int(n) for n in args.workers.split(",")]) if args.budget else []
        jobs = (job_row(cluster.address, args.jobs, args.job_workers, args.job_budget,
                        args.timeout) if args.jobs else None)
    finally:
        import ray

        ray.shutdown()
        cluster.stop()
    print(f"\n{os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}; two Ray nodes "
          f"of {args.cpus} logical CPUs")
    if rows:
        print(f"\nSearch on {args.data.name} ({args.target}), {args.budget:g} s each\n")
        print("| trials trained | trials | trials/min | wall | best validation | test |")
        print("| --- | --- | --- | --- | --- | --- |")
        for setting, n, per_minute, wall, valid, test in rows:
            print(f"| {setting} | {n} | {per_minute:.0f} | {wall:.1f} s | {valid:.4f} | "
                  f"{test:.4f} |")
    if jobs is not None:
        accepted, statuses, lost, wall = jobs
        print(f"\n{args.jobs} jobs at once, {args.job_workers} job workers as Ray actors, "
              f"{args.job_budget:g} s each\n")
        otherwise = ", ".join(f"{n} {status}" for status, n in sorted(statuses.items())
                              if status not in ("succeeded", "failed")) or "0"
        print("| accepted | succeeded | ended otherwise | lost | wall |")
        print("| --- | --- | --- | --- | --- |")
        print(f"| {accepted} | {statuses['succeeded']} | {otherwise} | {lost} | {wall:.0f} s |")


if __name__ == "__main__":
    main()
