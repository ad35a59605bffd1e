"""The last layer of the validator chain: a few real optimiser steps on a sample of the data.

It catches what static checks cannot: an encoder or a layer that rejects the data, a loss
that turns NaN or explodes at this learning rate. It runs on the CPU on at most
`max_rows` rows and `max_steps` steps, so it takes well under a second on small data.
"""

from __future__ import annotations

import math
import time

import pandas as pd
import torch

from ..engine.config import TaskSpec, TrainingConfig
from ..engine.data import DataError
from ..engine.preprocess import prepare_data
from ..engine.training import TrainingFault, fit
from .findings import Finding

#: Rows of each class kept in the sample, so that small classes survive the split.
MIN_ROWS_PER_CLASS = 5
#: Longest the dry run may train, in seconds (it stops at this deadline, not with an error).
DEADLINE_S = 10.0
_MAX_TEXT = 300


def sample_rows(df: pd.DataFrame, task: TaskSpec, max_rows: int, seed: int = 0) -> pd.DataFrame:
    """At most `max_rows` rows of `df`; for classification every class keeps a few rows."""
    if len(df) <= max_rows:
        return df
    if not task.is_classification or task.target not in df.columns:
        return df.sample(n=max_rows, random_state=seed)
    frac = max_rows / len(df)
    parts = [
        group.sample(n=min(len(group), max(MIN_ROWS_PER_CLASS, round(len(group) * frac))),
                     random_state=seed)
        for _, group in df.groupby(task.target, sort=False, dropna=True)
    ]
    sample = pd.concat(parts)
    if len(sample) > max_rows:
        sample = sample.sample(n=max_rows, random_state=seed)
    return sample


def _short(text: str) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= _MAX_TEXT else text[: _MAX_TEXT - 3] + "..."


def dry_run(
    task: TaskSpec,
    config: TrainingConfig,
    df: pd.DataFrame,
    *,
    max_rows: int = 512,
    max_steps: int = 5,
) -> list[Finding]:
    """Train `config` for `max_steps` optimiser steps on a sample of `df`; findings if it fails.

    Returns an empty list when training ran and every loss stayed finite. A `TrainingFault`
    (NaN or exploding loss) or a non-finite loss becomes a `dry_run_fault` finding on the
    learning rate; a `DataError` or any other exception becomes a `dry_run` finding on
    "config" with the exception text.
    """
    sample = sample_rows(df, task, max_rows, seed=config.seed)
    tiny = config.model_copy(update={"max_epochs": min(config.max_epochs, max_steps)})
    try:
        data = prepare_data(sample, task, tiny)
        result = fit(
            tiny, data, task,
            max_steps=max_steps,
            deadline=time.monotonic() + DEADLINE_S,
            device=torch.device("cpu"),
        )
    except TrainingFault as fault:
        return [_fault_finding(f"training diverged in the dry run ({fault.kind}): {fault.detail}")]
    except DataError as exc:
        return [Finding(
            check_id="dry_run", severity="error", field="config",
            message=f"the data could not be prepared for training: {_short(str(exc))}",
            hint="change the task or config as the message says (target, drop_columns, "
                 "task_type, preprocessing).",
        )]
    except Exception as exc:  # noqa: BLE001 - any failure of a generated config is a finding
        return [Finding(
            check_id="dry_run", severity="error", field="config",
            message=f"a few training steps failed: {type(exc).__name__}: {_short(str(exc))}",
            hint="change the config field the error points at; the static checks passed, "
                 "so look at the model shape, batch_size and preprocessing.",
        )]
    losses = [v for e in result.history for v in (e.train_loss, e.valid_loss)]
    if not all(math.isfinite(v) for v in losses):
        return [_fault_finding(f"the loss became non-finite in the dry run: {losses}")]
    return []


def _fault_finding(message: str) -> Finding:
    return Finding(
        check_id="dry_run_fault", severity="error", field="optimizer.learning_rate",
        message=_short(message),
        hint="lower optimizer.learning_rate (e.g. by 10x) and/or set optimizer.grad_clip_norm "
             "to 1.0.",
    )
