"""The experience store: what worked on which data, for warm-starting the next search.

Every finished job leaves one `Experience`: the meta-features of its dataset, its best
training configs (as JSON) with their validation scores, the metric they were scored on,
and its search's completed trials (search-space parameters and score). A new job asks
`ExperienceStore.nearest` for the past jobs whose data looks most like its own, starts its
search from their configs, and shows their trials to its sampler.

Storage: one SQLite file (`<data_dir>/experience.sqlite`), or a table of the PostgreSQL
database when `MLPILOT_DATABASE_URL` names one; one row per job, keyed by the job's run
id, so recording is idempotent (a re-run node overwrites its own row). SQL rather than a
ChromaDB collection because:

- an experience is a small structured record, not text: the distance below needs every
  meta-feature with its own scale, which a vector index's L2/cosine cannot express;
- the number of experiences is small (one per job), so an exact scan in numpy is fast;
- SQLite is safe across processes (transactions, a busy timeout) and in the stdlib,
  like the other local stores (`state.sqlite`, `optuna.sqlite`), and the same SQL runs
  on PostgreSQL (`engine/sql.py`).

Distance (see `distance`): for a query q and an experience e of the same task type,

    d(q, e) = sqrt( 1/J * sum_j ((v_j(q) - v_j(e)) / s_j) ** 2 )

over the J meta-features `v` that apply to the task type (`FEATURES`): log10 rows,
log10 feature columns, numeric fraction, missing rate, log1p mean |skew|, and for
classification log2 classes and log10 imbalance ratio, for regression the target's
signed log skew and log1p coefficient of variation. `s_j` is the spread (standard
deviation, rounded) of feature j over the ten reference datasets in `shared/datasets`
(the missing rate's is floored at 0.05: nine of the ten have almost none). The scales
are fixed rather than re-estimated from the store, so that a distance means the same
thing with two experiences or two thousand. d = 1 means "one typical spread per feature
apart"; two random halves of one dataset are 0.02-0.15 apart, and two different
reference datasets of one task type 0.8-1.6.

The store knows nothing of the engine: configs are plain dicts; the caller validates
and adapts them before use.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Iterable, Sequence
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
from pandas.api import types as ptypes
from pydantic import BaseModel, Field

from mlpilot.engine.sql import Connection, SqlDatabase

TaskType = Literal["binary", "multiclass", "regression"]

#: The table, one step per release that changed it (see `engine/sql.py`): version 1 had
#: no trials (its rows keep their configs and get an empty trial list).
_STEPS = [
    """CREATE TABLE IF NOT EXISTS experiences (
        run_id TEXT PRIMARY KEY,
        created_at REAL NOT NULL,
        dataset TEXT NOT NULL,
        target TEXT NOT NULL,
        task_type TEXT NOT NULL,
        metric TEXT NOT NULL,
        meta TEXT NOT NULL,
        configs TEXT NOT NULL,
        base_score REAL
    );
    CREATE INDEX IF NOT EXISTS experiences_task_type ON experiences (task_type)""",
    "ALTER TABLE experiences ADD COLUMN trials TEXT NOT NULL DEFAULT '[]'",
]
#: The schema version this mlpilot writes.
SCHEMA_VERSION = len(_STEPS)
_COLUMNS = ("run_id", "created_at", "dataset", "target", "task_type", "metric", "meta",
            "configs", "base_score", "trials")


def _legacy_version(conn: Connection) -> int:
    """The version of a SQLite file from before versions were kept in `mlpilot_schema`:
    its `PRAGMA user_version` (1 when the table exists without one)."""
    if conn.dialect != "sqlite" or not conn.columns("experiences"):
        return 0
    return max(int(conn.execute("PRAGMA user_version").fetchone()[0]), 1)


#: meta-feature name -> (task types it applies to, reference spread s_j).
FEATURES: dict[str, tuple[frozenset[str], float]] = {
    "log_rows": (frozenset({"binary", "multiclass", "regression"}), 0.9),
    "log_features": (frozenset({"binary", "multiclass", "regression"}), 0.15),
    "numeric_fraction": (frozenset({"binary", "multiclass", "regression"}), 0.25),
    "missing_rate": (frozenset({"binary", "multiclass", "regression"}), 0.05),
    "log_mean_abs_skew": (frozenset({"binary", "multiclass", "regression"}), 0.6),
    "log_classes": (frozenset({"binary", "multiclass"}), 0.6),
    "log_imbalance": (frozenset({"binary", "multiclass"}), 0.3),
    "target_log_skew": (frozenset({"regression"}), 0.3),
    "target_log_cv": (frozenset({"regression"}), 0.2),
}
_MAX_CV = 10.0


class MetaFeatures(BaseModel):
    """What a dataset looks like to a learner, independent of its column names.

    Counts are over the feature columns (the target and dropped columns excluded).
    `imbalance_ratio` is majority / minority class count (1 = balanced; None for
    regression); `target_*` describe a regression target (None for classification).
    """

    n_rows: int = Field(ge=1)
    n_features: int = Field(ge=0)
    n_numeric: int = Field(ge=0)
    n_categorical: int = Field(ge=0)
    task_type: TaskType
    n_classes: int | None = None
    imbalance_ratio: float | None = None
    missing_rate: float = Field(ge=0.0, le=1.0)
    mean_abs_skew: float = Field(ge=0.0)
    target_mean: float | None = None
    target_std: float | None = None
    target_skew: float | None = None

    def vector(self) -> dict[str, float]:
        """The scale-free meta-features that `distance` compares (see `FEATURES`)."""
        n_features = max(self.n_features, 1)
        values = {
            "log_rows": math.log10(self.n_rows),
            "log_features": math.log10(n_features),
            "numeric_fraction": self.n_numeric / n_features,
            "missing_rate": self.missing_rate,
            "log_mean_abs_skew": math.log1p(self.mean_abs_skew),
            "log_classes": math.log2(max(self.n_classes or 1, 1)),
            "log_imbalance": math.log10(max(self.imbalance_ratio or 1.0, 1.0)),
            "target_log_skew": 0.0,
            "target_log_cv": 0.0,
        }
        if self.target_skew is not None:
            values["target_log_skew"] = math.copysign(math.log1p(abs(self.target_skew)),
                                                      self.target_skew)
        if self.target_std is not None and self.target_mean is not None:
            cv = self.target_std / abs(self.target_mean) if self.target_mean else _MAX_CV
            values["target_log_cv"] = math.log1p(min(cv, _MAX_CV))
        return {name: values[name] for name, (types, _) in FEATURES.items()
                if self.task_type in types}


def meta_features(df: pd.DataFrame, target: str, task_type: TaskType,
                  drop_columns: Iterable[str] = ()) -> MetaFeatures:
    """Meta-features of a training table for predicting `target` as `task_type`.

    Numeric columns are those of a numeric (not boolean) dtype; every other feature
    column counts as categorical. Rows with a missing target are left out.
    """
    if target not in df.columns:
        raise KeyError(f"target column {target!r} is not in the table")
    df = df[df[target].notna()]
    if df.empty:
        raise ValueError(f"target column {target!r} has no values")
    dropped = set(drop_columns) | {target}
    features = df[[c for c in df.columns if c not in dropped]]
    numeric = [c for c in features.columns
               if ptypes.is_numeric_dtype(features[c]) and not ptypes.is_bool_dtype(features[c])]
    skews = [abs(s) for s in (features[c].astype(float).skew() for c in numeric)
             if s is not None and np.isfinite(s)]
    y = df[target]
    meta: dict[str, Any] = {
        "n_rows": len(df), "n_features": features.shape[1], "n_numeric": len(numeric),
        "n_categorical": features.shape[1] - len(numeric), "task_type": task_type,
        "missing_rate": float(features.isna().to_numpy().mean()) if features.size else 0.0,
        "mean_abs_skew": float(np.mean(skews)) if skews else 0.0,
    }
    if task_type == "regression":
        values = pd.to_numeric(y, errors="coerce").dropna().astype(float)
        skew = values.skew()
        meta.update(target_mean=float(values.mean()), target_std=float(values.std(ddof=0)),
                    target_skew=float(skew) if np.isfinite(skew) else 0.0)
    else:
        counts = y.astype(str).value_counts()
        meta.update(n_classes=len(counts),
                    imbalance_ratio=float(counts.iloc[0] / counts.iloc[-1]))
    return MetaFeatures.model_validate(meta)


def distance(a: MetaFeatures, b: MetaFeatures) -> float:
    """Standardised distance between two datasets' meta-features (formula in the module doc).

    Datasets of different task types are infinitely far apart.
    """
    if a.task_type != b.task_type:
        return math.inf
    va, vb = a.vector(), b.vector()
    terms = [((va[name] - vb[name]) / FEATURES[name][1]) ** 2 for name in va]
    return math.sqrt(sum(terms) / len(terms))


class ScoredConfig(BaseModel):
    """One config a job trained, its validation score on that job's metric, and how long it
    trained there."""

    config: dict[str, Any] = Field(description="A TrainingConfig, as JSON-able fields.")
    score: float
    source: str = Field(default="", description="Where it came from, e.g. 'base' or 'trial 7'.")
    seconds: float | None = Field(default=None, description="Training seconds (None: unknown).")


class PastTrial(BaseModel):
    """One completed trial of a past search: its search-space parameters and its score."""

    params: dict[str, Any] = Field(description="Parameter name -> value, as the search drew it.")
    value: float


class Experience(BaseModel):
    """What one finished job learnt: its data's meta-features, its best configs, its trials.

    `configs` are best first (by `metric`); `base_score` is the validation score of the
    job's own starting config (None if unknown), so a reader can tell which configs
    improved on it. `trials` are the search's completed trials in the order they ran
    (empty for a job recorded before the store kept them). `dataset` is the data file's
    name, for people.
    """

    run_id: str
    created_at: float = Field(default_factory=time.time)
    dataset: str
    target: str
    task_type: TaskType
    metric: str
    meta: MetaFeatures
    configs: list[ScoredConfig]
    base_score: float | None = None
    trials: list[PastTrial] = []

    @property
    def best(self) -> ScoredConfig | None:
        """The best config, or None when the job kept none."""
        return self.configs[0] if self.configs else None


class Neighbour(BaseModel):
    """A past experience and how far its data is from the query's."""

    experience: Experience
    distance: float


class ExperienceStore:
    """Past jobs' experiences in a SQLite file at `path` (created with its folder if
    missing) or in a PostgreSQL database (a `postgresql://` URL).

    One store object may be shared by threads (each has its own connection), and any
    number of processes may read and write the same store.
    """

    def __init__(self, path: Path | str) -> None:
        self.sql = SqlDatabase(path)
        self.path = self.sql.location
        self.sql.migrate("experience", _STEPS, legacy_version=_legacy_version)

    def _connect(self) -> AbstractContextManager[Connection]:
        return self.sql.connect()

    def record(self, experience: Experience) -> None:
        """Store an experience; one that has the same `run_id` is replaced (idempotent)."""
        row = (experience.run_id, experience.created_at, experience.dataset, experience.target,
               experience.task_type, experience.metric, experience.meta.model_dump_json(),
               json.dumps([c.model_dump(mode="json") for c in experience.configs]),
               experience.base_score,
               json.dumps([t.model_dump(mode="json") for t in experience.trials]))
        with self._connect() as conn:
            conn.execute("INSERT INTO experiences (run_id, created_at, dataset, target, "
                         "task_type, metric, meta, configs, base_score, trials) "
                         "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (run_id) DO UPDATE "
                         "SET " + ", ".join(f"{c} = excluded.{c}" for c in _COLUMNS[1:]), row)

    def get(self, run_id: str) -> Experience | None:
        """The experience of one run, or None."""
        found = self._select("WHERE run_id = ?", (run_id,))
        return found[0] if found else None

    def experiences(self, task_type: str | None = None) -> list[Experience]:
        """Every experience (of one task type, when given), oldest first."""
        if task_type is None:
            return self._select("", ())
        return self._select("WHERE task_type = ?", (task_type,))

    def count(self) -> int:
        """How many experiences the store holds."""
        with self._connect() as conn:
            return int(conn.execute("SELECT COUNT(*) FROM experiences").fetchone()[0])

    def nearest(self, meta: MetaFeatures, task_type: str, k: int = 3,
                exclude: Sequence[str] = ()) -> list[Neighbour]:
        """The `k` past experiences of `task_type` whose data is closest to `meta`, nearest
        first (ties: the newer first). Runs named in `exclude` and experiences without
        configs are skipped."""
        if k <= 0:
            return []
        candidates = [e for e in self.experiences(task_type)
                      if e.run_id not in set(exclude) and e.configs]
        found = [Neighbour(experience=e, distance=distance(meta, e.meta)) for e in candidates]
        found.sort(key=lambda n: (n.distance, -n.experience.created_at))
        return found[:k]

    def _select(self, where: str, args: tuple[Any, ...]) -> list[Experience]:
        query = ("SELECT run_id, created_at, dataset, target, task_type, metric, meta, configs, "
                 f"base_score, trials FROM experiences {where} ORDER BY created_at, run_id")
        with self._connect() as conn:
            rows = conn.execute(query, args).fetchall()
        return [Experience(run_id=r[0], created_at=r[1], dataset=r[2], target=r[3],
                           task_type=r[4], metric=r[5],
                           meta=MetaFeatures.model_validate_json(r[6]),
                           configs=[ScoredConfig.model_validate(c) for c in json.loads(r[7])],
                           base_score=r[8],
                           trials=[PastTrial.model_validate(t) for t in json.loads(r[9])])
                for r in rows]
