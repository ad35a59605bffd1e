"""The portfolio learned across datasets: the search's first trials, per task type.

FLAML and AutoGluon start a search from a short, ordered list of configurations that
together did well on many datasets (a "zero-shot" portfolio), instead of from each
family's defaults. `benchmarks/portfolio.py` learns such a list offline, from runs on
datasets that installed packages ship (never the benchmark's own), and writes it to
`portfolio.json` beside this module, with how it was built. Each entry is a set of
search-space parameters (as `space.sample_config` names them), so the sampler learns
from them like from any other trial.

`learned_configs` turns the list for a task type into configs over a search's base
config; entries of families the search does not explore are left out. The search tries
them first (`search.tune`), before the configs it is handed (a warm start from the
experience store, the base config), which keep their effect on top.
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Any

import optuna

from .config import TaskType, TrainingConfig
from .space import fit_params, sample_config

#: The portfolio shipped with the package (rebuilt by `benchmarks/portfolio.py`).
PORTFOLIO_FILE = Path(__file__).with_name("portfolio.json")


@lru_cache(maxsize=4)
def load(path: Path = PORTFOLIO_FILE) -> dict[str, Any]:
    """The portfolio file: `{"built": {...}, "portfolios": {task type: [params, ...]}}`.

    Raises ValueError naming the file when it is not such a JSON document.
    """
    try:
        document = json.loads(Path(path).read_text())
    except (OSError, json.JSONDecodeError) as err:
        raise ValueError(f"cannot read the search portfolio '{path}' ({err}): rebuild it with "
                         "`python benchmarks/portfolio.py`") from err
    portfolios = document.get("portfolios") if isinstance(document, dict) else None
    if not isinstance(portfolios, dict) or not all(
            isinstance(v, list) and all(isinstance(p, dict) for p in v)
            for v in portfolios.values()):
        raise ValueError(f"the search portfolio '{path}' has no 'portfolios' mapping of task "
                         "types to parameter lists: rebuild it with `python benchmarks/portfolio.py`")
    return document


def learned_configs(base: TrainingConfig, task_type: TaskType, n_train_rows: int,
                    path: Path = PORTFOLIO_FILE) -> list[TrainingConfig]:
    """The portfolio's configs for `task_type` over `base`, in the portfolio's order.

    An entry whose family `base`'s search space does not explore (or whose parameters it
    cannot take) is left out; numeric values outside the space are clipped into it.
    """
    configs = []
    for params in load(path)["portfolios"].get(task_type, []):
        fitted = fit_params(params, base, n_train_rows)
        if fitted is not None:
            trial = optuna.trial.FixedTrial(fitted[0])
            configs.append(sample_config(trial, base, n_train_rows))
    return configs
