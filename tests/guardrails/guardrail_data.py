"""Small named tables for the guardrails tests, built once per session."""

from __future__ import annotations

from functools import cache
from pathlib import Path

import numpy as np
import pandas as pd

from mlpilot.engine.data import load_table

ROOT = Path(__file__).resolve().parents[2]
#: The shared penguins table, or the copy bundled in examples/ where the shared folder is absent.
SHARED = ROOT.parent / "shared" / "datasets" / "penguins.csv"
PENGUINS = SHARED if SHARED.exists() else ROOT / "examples" / "penguins.csv"


@cache
def frame(name: str) -> pd.DataFrame:
    """A named test table (built once; callers must not modify it)."""
    raw = load_table(PENGUINS)
    penguins = raw.dropna().reset_index(drop=True)
    rng = np.random.default_rng(0)
    if name == "penguins_raw":
        return raw
    if name == "penguins":
        return penguins
    if name == "tiny":  # 12 rows, 4 per species
        return penguins.groupby("species").head(4).reset_index(drop=True)
    if name == "rare_class":
        extra = penguins.head(2).assign(species="Emperor")
        return pd.concat([penguins, extra], ignore_index=True)
    if name == "row_id":
        return penguins.assign(row_id=np.arange(len(penguins)))
    if name == "constant":
        return penguins.assign(source="survey")
    if name == "many_classes":  # 40 rows, 12 classes
        return pd.DataFrame({"x": rng.normal(size=40), "label": [f"c{i % 12}" for i in range(40)]})
    if name == "imbalanced":  # 10 of 200 rows are positive
        return pd.DataFrame({"x": rng.normal(size=200), "label": ["yes"] * 10 + ["no"] * 190})
    if name == "signed":  # a regression target with negative values
        x = rng.normal(size=100)
        return pd.DataFrame({"x": x, "y": 3 * x - 1})
    raise KeyError(name)
