"""Drift detection on replayed streams of the shared datasets (`engine/drift.py`).

For each data set, half the rows (random) are the training data; the other half is
replayed as a live stream three ways:

- no shift: in random order;
- covariate shift: ordered by one feature (a cause of drift a model meets when, say, it
  was trained on one region and serves another);
- label shift: rows drawn so the first class's share climbs from its base rate to 90%.

Every `--step` rows the monitor judges the latest `--window` rows: a feature drifted when
its PSI (numeric, bins at training quantiles) or total variation (categorical) reaches the
threshold (the settings' defaults, 0.2). The table gives the rows streamed until the first
alarm on each shifted stream, and the false alarms per 10,000 rows on the no-shift stream
(alarmed judgements per 10,000 rows streamed; target <= 1). Prediction drift needs a model
and is left out here: inputs only.

    PYTHONPATH=.. ../.venv/bin/python benchmarks/drift.py [--window 500] [--step 100]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT.parent))

from mlpilot.engine.data import load_table
from mlpilot.engine.drift import drift_table

DATA = ROOT.parent / "shared" / "datasets"
#: (file, target, the feature a covariate shift orders by)
STREAMS = [("california_housing.csv", "median_house_value", "latitude"),
           ("adult.csv", "income", "age"),
           ("bank_marketing.csv", "y", "age"),
           ("wine_quality_white.csv", "quality", "alcohol")]


def _label_shift(live: pd.DataFrame, target: str, rng: np.random.Generator) -> pd.DataFrame:
    """Rows drawn (with replacement) so the first class's share climbs to 90%; a numeric
    target is split at its median first."""
    y = live[target]
    first = (y > y.median()) if pd.api.types.is_numeric_dtype(y) and y.nunique() > 10 else (
        y == y.mode().iloc[0])
    hits, rest = live[first], live[~first]
    n = len(live)
    share = np.linspace(first.mean(), 0.9, n)
    pick_hit = rng.random(n) < share
    rows = [hits.iloc[rng.integers(len(hits))] if h else rest.iloc[rng.integers(len(rest))]
            for h in pick_hit]
    return pd.DataFrame(rows).reset_index(drop=True)


def _judge(train: pd.DataFrame, stream: pd.DataFrame, numeric: list[str], categorical: list[str],
           window: int, step: int) -> tuple[int | None, int, list[str]]:
    """(rows until the first alarm, alarmed judgements, what drifted first)."""
    first, alarms, what = None, 0, []
    for end in range(window, len(stream) + 1, step):
        rows = drift_table(train, stream.iloc[end - window:end], numeric=numeric,
                           categorical=categorical)
        drifted = [r.column for r in rows if r.drifted]
        if drifted:
            alarms += 1
            if first is None:
                first, what = end, drifted
    return first, alarms, what


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--window", type=int, default=500)
    parser.add_argument("--step", type=int, default=100)
    parser.add_argument("--max-rows", type=int, default=10_000, help="rows per stream")
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    print(f"window {args.window} rows, judged every {args.step} rows; PSI / TV threshold 0.2\n")
    print(f"{'data':<24} {'rows':>6} {'false alarms/10k':>17} {'covariate: rows':>16} "
          f"{'label: rows':>12}  first drifted (covariate; label)")
    for file, target, order_by in STREAMS:
        path = DATA / file
        if not path.exists():
            print(f"{file:<24} missing")
            continue
        table = load_table(path)
        shuffled = table.sample(frac=1.0, random_state=0).reset_index(drop=True)
        half = len(shuffled) // 2
        train, live = shuffled.iloc[:half], shuffled.iloc[half:].head(args.max_rows)
        features = [c for c in table.columns if c != target]
        numeric = [c for c in features if pd.api.types.is_numeric_dtype(table[c])]
        categorical = [c for c in features if c not in numeric]
        reference = train.drop(columns=[target])
        _, false_alarms, _ = _judge(reference, live.drop(columns=[target]), numeric, categorical,
                                    args.window, args.step)
        covariate = live.sort_values(order_by).reset_index(drop=True).drop(columns=[target])
        cov_rows, _, cov_what = _judge(reference, covariate, numeric, categorical, args.window,
                                       args.step)
        shifted = _label_shift(live, target, rng).drop(columns=[target])
        lab_rows, _, lab_what = _judge(reference, shifted, numeric, categorical, args.window,
                                       args.step)
        per_10k = false_alarms * 10_000 / len(live)
        print(f"{file.removesuffix('.csv'):<24} {len(live):>6} {per_10k:>17.1f} "
              f"{cov_rows or 'never':>16} {lab_rows or 'never':>12}  "
              f"{', '.join(cov_what[:3]) or '-'}; {', '.join(lab_what[:3]) or '-'}")


if __name__ == "__main__":
    main()
