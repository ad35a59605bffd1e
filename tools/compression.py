"""Typed tool over the engine's compression for serving (`engine/compression.py`).

The job's kept model is scored and timed on the job's own prepared rows (the same split and
preprocessor the evaluation uses), so the teacher's score here is the test score the job
reports, and a kept student is compared with exactly that.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from pydantic import BaseModel

from mlpilot.engine.compression import CompressionRows, compress_rows, is_composite
from mlpilot.engine.config import TaskSpec, TrainingConfig
from mlpilot.engine.predictor import TrainedModel
from mlpilot.tools.base import declare_risk
from mlpilot.tools.training import prepared

#: Raw rows one-row requests are timed on (latency does not depend on which rows).
TIMING_ROWS = 200


class CompressionOutcome(BaseModel):
    """What compressing the job's kept model did.

    `kept` is "teacher" (the model stays as it was), "student" or "int8"; `model_dir` is the
    kept model's directory. `report` is `engine.compression.CompressionReport.as_dict()`:
    size (bytes), p95 one-row latency (ms) and test score of the teacher and of each
    student tried, with `size_ratio` and `speedup` of the kept one.
    """

    model_dir: str
    kept: str
    reason: str
    report: dict[str, Any]
    seconds: float


@declare_risk("low")
def compress_for_serving(model_dir: Path, df: pd.DataFrame, task: TaskSpec,
                         config: TrainingConfig, *, p95_budget_ms: float, out_dir: Path,
                         max_seconds: float, test_df: pd.DataFrame | None = None
                         ) -> CompressionOutcome | None:
    """Distil the saved model into one network (and try int8) when it is a bag, ensemble
    or stack whose p95 one-row latency is over `p95_budget_ms`; keep the student only
    within `engine.compression.TOLERANCE` of the teacher's test score. A kept student is
    saved to `out_dir`. Returns None for a single model (nothing to distil).

    `max_seconds` bounds the student's training; `config` is the config the job's rows were
    prepared with (the kept model's).
    """
    teacher = TrainedModel.load(model_dir)
    if not is_composite(teacher):
        return None
    started = time.monotonic()
    data = prepared(df, task, config, test_df)
    pre = data.preprocessor
    features = df.drop(columns=[task.target], errors="ignore")
    rows = CompressionRows(
        X_train=np.concatenate([data.X_train, data.X_valid]), X_test=data.X_test,
        y_test=pre.decode_target(data.y_test),
        timing_rows=features.sample(min(len(features), TIMING_ROWS), random_state=0))
    report = compress_rows(teacher, rows, task, p95_budget_ms=p95_budget_ms,
                           max_seconds=max_seconds, seed=config.seed)
    kept_dir = str(model_dir)
    if report.kept != "teacher":
        kept_dir = str(report.model.save(out_dir))
    return CompressionOutcome(model_dir=kept_dir, kept=report.kept, reason=report.reason,
                              report=report.as_dict(), seconds=time.monotonic() - started)
