"""Batch scoring: a CSV or Parquet table in, one prediction per row out, through the
deployment (routed and logged like every other prediction).

    score_file(deployments, "churn", Path("new.csv"), Path("predictions.csv"), progress=bar)

The table is read like training data (`engine.data.load_table`), then checked against the
model's training schema: each column the model reads but the table lacks is one error,
then each bad value one error naming its row (1 = the first data row) and column.
"""

from __future__ import annotations

import math
import tempfile
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd

from mlpilot.agent.deployments import Deployments
from mlpilot.engine.data import load_table
from mlpilot.engine.input_schema import RowError, input_columns

#: Rows scored per call (and per progress step).
CHUNK_ROWS = 2000


class SchemaError(ValueError):
    """A table that does not fit the model's training schema; `problems` has one line each."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        more = len(problems) - 1
        super().__init__(problems[0] + (f" (and {more} more)" if more else ""))


def table_from_bytes(raw: bytes, kind: str) -> pd.DataFrame:
    """A CSV or Parquet body read like a data file (`kind`: "csv" or "parquet")."""
    suffix = ".parquet" if kind == "parquet" else ".csv"
    with tempfile.TemporaryDirectory(prefix="mlpilot-predict-") as tmp:
        path = Path(tmp) / f"body{suffix}"
        path.write_bytes(raw)
        try:
            return load_table(path)
        except ValueError as err:  # DataError names the temporary file: say "the body"
            raise SchemaError([str(err).replace(f"data file '{path}'", "the request body")
                               .replace(f"'{path}'", "the request body")]) from None


def table_rows(deployments: Deployments, name: str, frame: pd.DataFrame,
               id_column: str | None = None) -> tuple[list[dict[str, Any]], list[Any] | None]:
    """The table's rows (column -> value, missing as None) and entity ids (from `id_column`);
    SchemaError naming each column the champion reads that the table lacks."""
    model = deployments.server.model(name, deployments.champion(name))
    problems = [f"column {c.name!r}: absent from the table; the model was trained with it"
                for c in input_columns(model) if c.name not in frame.columns]
    if id_column is not None and id_column not in frame.columns:
        problems.append(f"column {id_column!r}: named as the id column but absent from the table")
    if problems:
        raise SchemaError(problems)
    ids = None if id_column is None else [_plain(v) for v in frame[id_column]]
    clean = frame.astype(object).where(frame.notna(), None)
    return [{k: _plain(v) for k, v in row.items()} for row in clean.to_dict("records")], ids


def score_frame(deployments: Deployments, name: str, frame: pd.DataFrame, *,
                id_column: str | None = None, allow_missing: bool = False,
                progress: Callable[[int], None] | None = None) -> pd.DataFrame:
    """The frame with `prediction` (and `version`, `prediction_id`, class probabilities
    `proba_<class>`) columns added; scored in chunks, `progress(rows_done)` after each."""
    rows, ids = table_rows(deployments, name, frame, id_column)
    request_id = uuid.uuid4().hex
    out: dict[str, list[Any]] = {"prediction": [], "version": [], "prediction_id": []}
    proba: list[list[float]] = []
    classes = None
    for start in range(0, len(rows), CHUNK_ROWS):
        chunk = rows[start:start + CHUNK_ROWS]
        chunk_ids = None if ids is None else ids[start:start + CHUNK_ROWS]
        if chunk_ids is None:
            chunk_ids = [f"{request_id}/{start + i}" for i in range(len(chunk))]
        try:
            made = deployments.predict(name, chunk, request_id=request_id, entity_ids=chunk_ids,
                                       allow_missing=allow_missing)
        except RowError as err:
            raise SchemaError([f"row {start + p.row + 1}, column {p.column!r}: {p.message}"
                               for p in err.problems]) from None
        out["prediction"] += made.predictions
        out["version"] += made.versions
        out["prediction_id"] += made.ids
        if made.probabilities is not None:
            proba += made.probabilities
            classes = made.classes
        if progress is not None:
            progress(start + len(chunk))
    result = frame.copy()
    for column, values in out.items():
        result[column] = values
    if classes is not None and len(proba) == len(rows):
        for j, label in enumerate(classes):
            result[f"proba_{label}"] = [p[j] for p in proba]
    return result


def score_file(deployments: Deployments, name: str, data: Path, out: Path, *,
               id_column: str | None = None, allow_missing: bool = False,
               progress: Callable[[int, int], None] | None = None) -> pd.DataFrame:
    """Score a CSV or Parquet file into `out` (Parquet when it ends in .parquet, else CSV);
    `progress(rows_done, rows_total)` after each chunk."""
    frame = load_table(data)
    total = len(frame)
    scored = score_frame(deployments, name, frame, id_column=id_column,
                         allow_missing=allow_missing,
                         progress=None if progress is None else (lambda done: progress(done, total)))
    out.parent.mkdir(parents=True, exist_ok=True)
    if out.suffix.lower() in (".parquet", ".pq"):
        scored.to_parquet(out, index=False)
    else:
        scored.to_csv(out, index=False)
    return scored


def _plain(value: Any) -> Any:
    """A NumPy scalar as a plain Python value; NaN as None."""
    value = value.item() if hasattr(value, "item") else value
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, pd.Timestamp):
        return value.isoformat()
    return value
