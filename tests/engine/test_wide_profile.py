"""Numeric columns profiled in blocks give the profiles `profile_column` gives one by one."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mlpilot.engine.data import ColumnProfile, profile_column, profile_table
from mlpilot.engine.wide_profile import MIN_BLOCK_COLUMNS, block_columns, profile_block


def wide_frame(rows: int = 60, seed: int = 0) -> pd.DataFrame:
    """Columns of every shape a profile tells apart, several times over."""
    rng = np.random.default_rng(seed)
    columns: dict[str, np.ndarray] = {}
    for i in range(MIN_BLOCK_COLUMNS + 8):
        kind = i % 8
        if kind == 0:
            values = rng.normal(size=rows)
        elif kind == 1:
            values = rng.integers(0, 4, rows).astype(float)  # integral floats, few values
        elif kind == 2:
            values = np.full(rows, 3.5)  # constant
        elif kind == 3:
            values = np.arange(rows, dtype=float)[::-1].copy()  # falling
        elif kind == 4:
            values = rng.normal(size=rows)
            values[rng.random(rows) < 0.3] = np.nan  # gaps
        elif kind == 5:
            values = np.sort(rng.integers(0, 9, rows)).astype(float)
            values[::7] = np.nan  # rising among the present values
        elif kind == 6:
            values = np.full(rows, np.nan)  # nothing present
        else:
            values = np.where(rng.random(rows) < 0.5, np.inf, 1.0)
        columns[f"f{i}"] = values
    ints = {f"i{i}": rng.integers(-5, 5 + i, rows) for i in range(MIN_BLOCK_COLUMNS)}
    ints["i0"] = np.arange(rows)
    return pd.DataFrame({**columns, **ints, "label": rng.choice(["a", "b"], rows)})


@pytest.mark.parametrize("rows", [1, 2, 60])
def test_blocks_profile_like_one_column_at_a_time(rows):
    df = wide_frame(rows)
    blocks = block_columns(df)
    assert sorted(len(b) for b in blocks) == [MIN_BLOCK_COLUMNS, MIN_BLOCK_COLUMNS + 8]
    for names in blocks:
        for name, fast in zip(names, profile_block(df[names], ColumnProfile), strict=True):
            slow = profile_column(df[name])
            assert fast.model_dump(exclude={"mean"}) == slow.model_dump(exclude={"mean"}), name
            assert fast.mean == pytest.approx(slow.mean, nan_ok=True), name


def test_a_wide_table_keeps_its_column_order_and_narrow_ones_take_the_plain_path():
    df = wide_frame()
    assert [c.name for c in profile_table(df).columns] == list(df.columns)
    assert block_columns(df.iloc[:, :MIN_BLOCK_COLUMNS - 1]) == []
    renamed = df.set_axis(["same"] * df.shape[1], axis=1)
    assert block_columns(renamed) == []  # blocks need unique names
