"""Fault recovery: each fault kind injected for real into a job, and how the doctor did.

Every row is one job (`mlpilot.agent.runner.Runner`, offline expert, registration
pre-approved) in a fresh installation of its own (a temporary data directory, so the
knowledge base starts from its seeds). The fault is made to happen, not simulated:

| kind | injection |
| --- | --- |
| nan_loss | the learning rate jumps 1e8x after epoch 3 (`injection.RaiseLearningRate`) |
| exploding_loss | the learning rate jumps 1e4x after epoch 3 |
| divergence | the learning rate jumps 100x after epoch 5 |
| exploding_gradients | body mass in units of 0.1 mg, and no input scaling |
| no_learning | a learning rate of 1e-9 |
| plateau | auto-mpg with learning rate 0.02 and no schedule |
| overfitting | a 256x256 network without dropout or decay on 120 noisy rows |
| out_of_memory (cap) | a memory limit between one step at batch 128 and at batch 64 |
| out_of_memory (allocation) | a forward pass that asks for 4 EiB (`injection.AllocateTooMuch`) |
| bad_batch | five prices of 1e300 in rows the dry run does not sample, standard scaling |
| trial_timeout | a 1 s time slice per search trial, with a patience of 200 epochs (of 400) |
| worker_crash | training in a worker process that kills itself (SIGKILL) after epoch 2 |

Columns: detected (the engine reported the injected kind first), diagnosis and fix (the
knowledge base's, last applied), recovered (the job finished and that fix was verified),
time to recover (from the fault's detection to the fix's verification), trials lost
(failed search trials, plus the base run if it left no model), attempts (fixes tried).

    .venv/bin/python benchmarks/faults.py [--quick] [--kinds divergence,plateau] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import optuna
import pandas as pd
import torch

DATASETS = Path(__file__).resolve().parents[2] / "shared" / "datasets"
EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def _dataset(name: str) -> Path:
    path = DATASETS / name
    return path if path.exists() else EXAMPLES / name


def _csv(tmp: Path, name: str, df: pd.DataFrame) -> Path:
    path = tmp / name
    df.to_csv(path, index=False)
    return path


def _sales(tmp: Path) -> Path:
    """1,200 rows with five corrupt prices (1e300) outside the rows the dry run samples."""
    from mlpilot.engine.config import TaskSpec
    from mlpilot.engine.injection import corrupt_column, sales_frame
    from mlpilot.guardrails.dry_run import sample_rows

    df = sales_frame()
    task = TaskSpec(target="y", task_type="binary", metric="accuracy", budget_s=1)
    seen = sample_rows(df, task, 512, seed=0).index
    return _csv(tmp, "sales.csv", corrupt_column(df, "price", rows=5, avoid=seen))


def _noisy(tmp: Path) -> Path:
    from mlpilot.engine.injection import memorisable_frame

    return _csv(tmp, "noisy.csv", memorisable_frame())


def scenarios(tmp: Path) -> dict[str, tuple[str, Callable[[], dict[str, Any]]]]:
    """name -> (the fault kind it must produce, a function making the job's inputs)."""
    from mlpilot.engine import injection

    penguins = _dataset("penguins.csv")

    def mg() -> Path:
        df = pd.read_csv(penguins)
        return _csv(tmp, "mg.csv", df.assign(body_mass_g=df.body_mass_g * 1e4))

    return {
        "nan_loss": ("nan_loss", lambda: {
            "data": penguins, "callbacks": [injection.RaiseLearningRate(at=3, factor=1e8)]}),
        "exploding_loss": ("exploding_loss", lambda: {
            "data": penguins, "callbacks": [injection.RaiseLearningRate(at=3, factor=1e4)]}),
        "divergence": ("divergence", lambda: {
            "data": penguins, "callbacks": [injection.RaiseLearningRate(at=5, factor=100)]}),
        "exploding_gradients": ("exploding_gradients", lambda: {
            "data": mg(), "training": {"preprocessing": {"scaling": "none"}}}),
        "no_learning": ("no_learning", lambda: {
            "data": penguins, "training": {"optimizer": {"learning_rate": 1e-9}}}),
        "plateau": ("plateau", lambda: {
            "data": _dataset("mpg.csv"), "request": "predict mpg, ignore the name column",
            "training": {"optimizer": {"learning_rate": 0.02, "scheduler": "none"}}}),
        "overfitting": ("overfitting", lambda: {
            "data": _noisy(tmp), "request": "predict y",
            "training": {"model": {"hidden_sizes": [256, 256], "dropout": 0.0},
                         "optimizer": {"weight_decay": 0.0}}}),
        "out_of_memory (cap)": ("out_of_memory", lambda: {
            "data": penguins, "training": {"batch_size": 128},
            "settings": {"train_memory_limit_mb": injection.memory_cap_between_batches()}}),
        "out_of_memory (allocation)": ("out_of_memory", lambda: {
            "data": penguins, "callbacks": [injection.AllocateTooMuch()]}),
        "bad_batch": ("bad_batch", lambda: {
            "data": _sales(tmp), "request": "predict y",
            "training": {"preprocessing": {"scaling": "standard"}}}),
        "trial_timeout": ("trial_timeout", lambda: {
            "data": penguins, "settings": {"trial_slice_s": 1.0}, "search": True,
            "training": {"early_stopping_patience": 200}}),
        "worker_crash": ("worker_crash", lambda: {
            "data": penguins, "settings": {"train_in_subprocess": True},
            "callbacks": [injection.KillWorker(at=2, marker=tmp / "killed")]}),
    }


def run_one(name: str, expected: str, make: Callable[[], dict[str, Any]], data_dir: Path,
            budget: float, search: bool) -> dict[str, Any]:
    """Run one job with the fault injected; return the row of the table."""
    from mlpilot.agent.runner import Runner
    from mlpilot.agent.settings import Settings
    from mlpilot.agent.state import TaskRequest
    from mlpilot.knowledge.patches import describe_patch

    s = make()
    settings = Settings(data_dir=data_dir, **s.get("settings", {}))
    training = dict(s.get("training", {}))
    if not (search or s.get("search")):
        training["search"] = {"enabled": False}
    request = TaskRequest(request=f"{s.get('request', 'predict species')}, {budget:g} seconds",
                          data=s["data"], training=training)
    started = time.monotonic()
    error, result, status = None, {}, "failed"
    try:
        outcome = Runner(settings, training_callbacks=s.get("callbacks", [])).start(
            request, auto_approve=True)
        result, status = outcome.result, outcome.status
    except Exception as err:  # noqa: BLE001 - a benchmark row records the failure
        error = f"{type(err).__name__}: {err}"
    fixes = result.get("fault_fixes") or []
    mine = [f for f in fixes if f["kind"] == expected]
    last = mine[-1] if mine else None
    search_info = result.get("search") or {}
    return {
        "kind": name, "expected": expected,
        "detected": bool(fixes) and fixes[0]["kind"] == expected,
        "reported": fixes[0]["kind"] if fixes else None,
        "diagnosis": last["diagnosis"] if last else "",
        "fix": describe_patch(last.get("patch", last["fix"])) if last else "",
        "recovered": status == "succeeded" and last is not None and last["status"] == "worked",
        "recover_s": last.get("recovered_s") if last else None,
        "trials_lost": (search_info.get("n_failed") or 0) + (0 if result.get("metrics") else 1),
        "attempts": len({f["attempt"] for f in mine}),
        "status": status, "error": error, "job_s": time.monotonic() - started,
        "metrics": result.get("metrics"), "search_rounds": search_info.get("rounds", 1),
    }


def _cell(text: str, width: int = 70) -> str:
    text = " ".join(str(text).split()).replace("|", "/")
    return text if len(text) <= width else text[: width - 1] + "…"


def print_table(rows: list[dict[str, Any]]) -> None:
    """The rows as a Markdown table, then the totals."""
    print("| fault | detected | diagnosis | fix | recovered | time to recover (s) | "
          "trials lost | attempts |")
    print("| --- | --- | --- | --- | --- | ---: | ---: | ---: |")
    for r in rows:
        detected = "yes" if r["detected"] else f"no ({r['reported']})"
        recover = f"{r['recover_s']:.1f}" if r["recover_s"] is not None else "-"
        recovered = "yes" if r["recovered"] else f"no ({_cell(r['error'] or r['status'], 60)})"
        print(f"| {r['kind']} | {detected} | {_cell(r['diagnosis'], 60)} | {_cell(r['fix'], 100)} | "
              f"{recovered} | {recover} | {r['trials_lost']} | {r['attempts']} |")
    n = len(rows)
    print(f"\ndetected {sum(r['detected'] for r in rows)}/{n}, recovered "
          f"{sum(r['recovered'] for r in rows)}/{n}, trials lost "
          f"{sum(r['trials_lost'] for r in rows)} (target: {n}/{n}, {n}/{n}, 0)")


def main() -> None:
    """Parse arguments, run each fault kind's job, print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help="10 s jobs with the search off (it stays on for trial_timeout)")
    parser.add_argument("--budget", type=float, default=20.0, help="seconds per job")
    parser.add_argument("--kinds", help="comma-separated rows to run (default: all)")
    parser.add_argument("--json", type=Path, help="also write the rows here")
    args = parser.parse_args()
    budget = min(args.budget, 10.0) if args.quick else args.budget
    logging.getLogger("mlpilot").setLevel(logging.WARNING)
    logging.getLogger("mlflow").setLevel(logging.WARNING)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    os.environ.setdefault("MLPILOT_LLM_PROVIDER", "offline")

    print(f"# fault injection, {budget:g} s per job{' (quick)' if args.quick else ''} "
          f"({platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, torch "
          f"{torch.__version__}, {time.strftime('%Y-%m-%d')})\n")
    rows = []
    with tempfile.TemporaryDirectory(prefix="mlpilot-faults-") as tmp:
        table = scenarios(Path(tmp))
        names = [k.strip() for k in args.kinds.split(",")] if args.kinds else list(table)
        for name in names:
            expected, make = table[name]
            data_dir = Path(tmp) / f"data-{len(rows)}"  # a fresh installation per row
            row = run_one(name, expected, make, data_dir, budget, search=not args.quick)
            rows.append(row)
            print(f"done: {name}: detected={row['detected']} recovered={row['recovered']} "
                  f"({row['job_s']:.1f} s)", flush=True)
    print()
    print_table(rows)
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2, default=str))


if __name__ == "__main__":
    main()
