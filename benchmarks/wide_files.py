"""Wide files: how long a submission takes to be checked (and answered) as the columns grow.

Writes a CSV of `--rows` rows and N numeric columns plus a binary target for each N of
`--columns`, and times what `POST /jobs` does before it answers: `JobService.submit`
(the pre-queue checks, then the planner reads, profiles and understands the data). The
table gives the seconds, and each width's ratio to the first width's seconds next to the
ratio of the columns: linear time keeps the two ratios close; quadratic time makes the
first grow with the square of the second.

Run it on the tree before a change (e.g. an exported older commit on PYTHONPATH) and after,
to compare:

    .venv/bin/python benchmarks/wide_files.py [--columns 1000 2000 5000 20000] [--rows 200]
"""

from __future__ import annotations

import argparse
import platform
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from mlpilot.agent.jobs import JobService
from mlpilot.agent.settings import Settings
from mlpilot.agent.state import TaskRequest


def wide_csv(folder: Path, columns: int, rows: int, seed: int = 0) -> Path:
    """A CSV of `rows` rows: `columns` numeric features and a binary `target`."""
    rng = np.random.default_rng(seed)
    df = pd.DataFrame(rng.normal(size=(rows, columns)).round(3),
                      columns=[f"feature_{i}" for i in range(columns)])
    df["target"] = rng.integers(0, 2, rows)
    path = folder / f"wide_{columns}.csv"
    df.to_csv(path, index=False)
    return path


def time_submission(folder: Path, path: Path) -> float:
    """Seconds `JobService.submit` takes on the file, in a fresh service (no cached data)."""
    service = JobService(Settings(data_dir=folder / f"state-{path.stem}"), workers=0)
    request = TaskRequest(request="predict target, 30 seconds", data=path, target="target")
    started = time.perf_counter()
    service.submit(request)
    return time.perf_counter() - started


def main() -> None:
    """Print the table of columns, seconds and ratios."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--columns", type=int, nargs="+", default=[1000, 2000, 5000, 20000])
    parser.add_argument("--rows", type=int, default=200)
    args = parser.parse_args()
    print(f"# Wide files — {time.strftime('%Y-%m-%d')} — {platform.machine()}, "
          f"{args.rows} rows — JobService.submit (checks + planner)")
    print("| columns | file MB | seconds | ms / column | × columns | × seconds |")
    print("| ---: | ---: | ---: | ---: | ---: | ---: |")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        first: tuple[int, float] | None = None
        for columns in args.columns:
            path = wide_csv(folder, columns, args.rows)
            seconds = time_submission(folder, path)
            first = first or (columns, seconds)
            print(f"| {columns:,} | {path.stat().st_size / 2**20:.1f} | {seconds:.2f} | "
                  f"{1000 * seconds / columns:.2f} | {columns / first[0]:.1f} | "
                  f"{seconds / first[1]:.1f} |", flush=True)


if __name__ == "__main__":
    main()
