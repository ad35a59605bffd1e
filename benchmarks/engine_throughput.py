"""Training throughput of the engine's `fit` against a plain hand-written PyTorch loop.

Same data (california_housing, or a synthetic table with --synthetic), same MLP, same
optimiser, batch size and epochs. The hand-written loop is what one would write by hand:
shuffle with randperm, slice batches, forward, MSE, backward, step; optionally scoring the
validation rows once per epoch, as `fit` does for early stopping. Prints samples/s and the
ratio engine / hand loop (target: >= 0.95 on CPU). Runs on CUDA when available; there the
engine also runs in bf16 mixed precision and with pinned-memory host batches, and the
ratios show what each buys against the fp32 hand loop.

    .venv/bin/python benchmarks/engine_throughput.py [--epochs 20] [--repeats 3]
    # a compute-bound case for a GPU: a million synthetic rows, a wider net, big batches
    python benchmarks/engine_throughput.py --synthetic --rows 1000000 --hidden 1024,1024 \
        --batch-size 4096 --epochs 3
"""

from __future__ import annotations

import argparse
import platform
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from mlpilot.engine.config import ModelConfig, OptimizerConfig, TaskSpec, TrainingConfig
from mlpilot.engine.data import load_table
from mlpilot.engine.models import build_model
from mlpilot.engine.preprocess import prepare_data
from mlpilot.engine.training import fit, select_device

DATA = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "california_housing.csv"


def main() -> None:
    """Parse arguments, time both loops, print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--synthetic", action="store_true", help="synthetic rows instead")
    parser.add_argument("--rows", type=int, default=20_000, help="synthetic rows")
    parser.add_argument("--hidden", default="256,128", help="the MLP's hidden sizes")
    parser.add_argument("--device", default="auto", help="auto, cpu or cuda")
    parser.add_argument("--data", type=Path, default=DATA, help="the california housing CSV")
    args = parser.parse_args()
    hidden = [int(size) for size in args.hidden.split(",")]

    df, target = table(args.data, args.synthetic, args.rows)
    task = TaskSpec(target=target, task_type="regression", metric="r2", budget_s=600)
    config = TrainingConfig(
        model=ModelConfig(hidden_sizes=hidden, dropout=0.0), precision="fp32",
        optimizer=OptimizerConfig(learning_rate=1e-3, weight_decay=0.0, scheduler="none"),
        batch_size=args.batch_size, max_epochs=args.epochs,
        early_stopping_patience=args.epochs + 1, search={"enabled": False},
    )
    data = prepare_data(df, task, config)
    device = select_device(args.device)
    variants = engine_variants(device)
    timings: dict[str, list[float]] = {name: [] for name in
                                       [*variants, "hand loop", "hand loop + validation"]}
    warm = config.model_copy(update={"max_epochs": 1})
    fit(warm, data, task, device=device)  # first use imports torch's lazy modules (~1 s)
    hand_loop(warm, data, device, validate=True)
    for _ in range(args.repeats):  # interleaved, so drift in machine load hits all alike
        for name, (precision, placement) in variants.items():
            run = config.model_copy(update={"precision": precision})
            timings[name].append(fit(run, data, task, device=device, placement=placement).seconds)
        timings["hand loop"].append(hand_loop(config, data, device, validate=False))
        timings["hand loop + validation"].append(hand_loop(config, data, device, validate=True))
    print(f"# engine throughput — {date()} — {machine(device)}, torch {torch.__version__}")
    print(f"# {len(data.y_train)} training rows x {data.n_features} features, MLP {hidden}, "
          f"batch {args.batch_size}, {args.epochs} epochs, median of {args.repeats}")
    samples = len(data.y_train) * args.epochs
    hand = statistics.median(timings["hand loop"])
    print(f"{'loop':<34}{'seconds':>10}{'samples/s':>14}{'speed / hand loop':>19}")
    for name, secs in timings.items():
        median = statistics.median(secs)
        print(f"{name:<34}{median:>10.3f}{samples / median:>14,.0f}{hand / median:>19.3f}")
    print("target on CPU: engine fit (fp32) / hand loop >= 0.95; the engine also scores the "
          "validation rows every epoch, as the last row does")


def engine_variants(device: torch.device) -> dict[str, tuple[str, str]]:
    """The engine's runs to time, by name: (precision, placement)."""
    variants = {"engine fit (fp32)": ("fp32", "device")}
    if device.type == "cuda":
        variants["engine fit (bf16 autocast)"] = ("bf16", "device")
        variants["engine fit (fp32, pinned batches)"] = ("fp32", "pinned")
        variants["engine fit (bf16, pinned batches)"] = ("bf16", "pinned")
    return variants


def machine(device: torch.device) -> str:
    """The processor and threads, or the GPU's name."""
    cpu = f"{platform.processor() or platform.machine()}, {torch.get_num_threads()} threads"
    if device.type == "cuda":
        return f"{torch.cuda.get_device_name(device)} ({cpu})"
    return cpu


def hand_loop(config: TrainingConfig, data, device: torch.device, validate: bool) -> float:
    """The plain PyTorch loop; returns seconds for all epochs."""
    torch.manual_seed(config.seed)
    model = build_model(config.model, data.n_features, 1).to(device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.optimizer.learning_rate,
                                  weight_decay=config.optimizer.weight_decay)
    loss_fn = torch.nn.MSELoss()
    X = torch.as_tensor(data.X_train, device=device)
    y = torch.as_tensor(data.y_train, device=device)
    X_valid = torch.as_tensor(data.X_valid, device=device)
    y_valid = torch.as_tensor(data.y_valid, device=device)
    started = time.perf_counter()
    for _ in range(config.max_epochs):
        model.train()
        order = torch.randperm(len(X), device=device)
        for i in range(0, len(X), config.batch_size):
            idx = order[i:i + config.batch_size]
            optimizer.zero_grad(set_to_none=True)
            loss = loss_fn(model(X[idx]).squeeze(-1), y[idx])
            loss.backward()
            optimizer.step()
        if validate:
            model.eval()
            with torch.no_grad():
                float(loss_fn(model(X_valid).squeeze(-1), y_valid))
    if device.type == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - started


def table(path: Path, synthetic: bool, rows: int) -> tuple[pd.DataFrame, str]:
    """The benchmark's data: california housing (when `path` exists), or `rows` synthetic
    ones."""
    if not synthetic and path.exists():
        return load_table(path), "median_house_value"
    rng = np.random.default_rng(0)
    X = rng.normal(size=(rows, 12)).astype(np.float32)
    frame = pd.DataFrame(X, columns=[f"x{i}" for i in range(12)])
    frame["y"] = X @ rng.normal(size=12) + rng.normal(scale=0.5, size=len(X))
    return frame, "y"


def date() -> str:
    """Today's date, for the table's header."""
    return time.strftime("%Y-%m-%d")


if __name__ == "__main__":
    sys.exit(main())
