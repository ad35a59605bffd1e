"""The prediction log and the feedback on it: an append-only SQLite file of its own.

    log = PredictionLog(settings.prediction_db, retention_days=30)
    log.append([LoggedPrediction(...), ...])    # every prediction path writes here
    log.add_feedback({"order-17": "yes"})       # true values, by the ids predictions had
    log.labelled("churn", since=...)            # predictions joined with their true values

One row per predicted row: its id (the caller's entity id, else the request id and the
row's index), the request id, the model version that made it and its role (the answer,
or a shadow's score), the output, the latency, a hash of the inputs and, for a share of
rows chosen by that hash (`sample`), the inputs themselves (what the drift monitor reads).

Rows are never changed: a trigger refuses UPDATE, and rows leave only by age
(`retention_days`, pruned on open and every few thousand appends). Its own file, so a
stream of predictions never waits on the job queue's write lock.
"""

from __future__ import annotations

import hashlib
import sqlite3
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from mlpilot.agent.store.database import read_json

_SCHEMA = """
CREATE TABLE IF NOT EXISTS predictions (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL,
    request_id TEXT NOT NULL,
    model TEXT NOT NULL,
    version TEXT NOT NULL,
    role TEXT NOT NULL,
    created_at REAL NOT NULL,
    latency_ms REAL NOT NULL,
    input_hash TEXT NOT NULL,
    inputs TEXT,
    output TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS predictions_by_model ON predictions (model, created_at);
CREATE INDEX IF NOT EXISTS predictions_by_id ON predictions (id);
CREATE TRIGGER IF NOT EXISTS predictions_append_only BEFORE UPDATE ON predictions
BEGIN SELECT RAISE(ABORT, 'the prediction log is append-only'); END;
CREATE TABLE IF NOT EXISTS feedback (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL,
    truth TEXT NOT NULL,
    created_at REAL NOT NULL,
    by TEXT
);
CREATE INDEX IF NOT EXISTS feedback_by_id ON feedback (id);
CREATE TRIGGER IF NOT EXISTS feedback_append_only BEFORE UPDATE ON feedback
BEGIN SELECT RAISE(ABORT, 'feedback is append-only'); END;
"""
#: Appends between two retention sweeps.
_PRUNE_EVERY = 5000


@dataclass(frozen=True)
class LoggedPrediction:
    """One predicted row as the log keeps it."""

    id: str
    request_id: str
    model: str
    version: str
    role: str  # "answer" (returned to the caller) or "shadow" (scored, not returned)
    latency_ms: float
    inputs: dict[str, Any]
    output: Any
    created_at: float | None = None


@dataclass(frozen=True)
class LabelledPrediction:
    """A logged prediction with the true value fed back for its id."""

    id: str
    version: str
    role: str
    output: Any
    truth: Any


def _json(value: Any) -> bytes:
    """Strict JSON (keys sorted, NaN as null), fast: the log writes one per predicted row."""
    return orjson.dumps(value, default=str,
                        option=orjson.OPT_SORT_KEYS | orjson.OPT_SERIALIZE_NUMPY)


def input_hash(inputs: dict[str, Any]) -> str:
    """A stable hash of one row's inputs (keys sorted; NaN as null)."""
    return hashlib.sha256(_json(inputs)).hexdigest()[:16]


def kept(hash_hex: str, sample: float) -> bool:
    """Whether a row with this input hash keeps its inputs whole at sampling share `sample`
    (decided by the hash, so a row sent twice is kept both times or neither)."""
    return sample >= 1.0 or int(hash_hex[:8], 16) / 0xFFFFFFFF < sample


class PredictionLog:
    """Predictions and feedback in one SQLite file; safe from several threads and processes.

    Args:
        path: the SQLite file (created with its folder).
        retention_days: rows older than this are deleted (None: kept for ever).
        sample: share of rows whose inputs are kept whole (the others keep a hash only).
    """

    def __init__(self, path: Path, retention_days: float | None = 30.0, sample: float = 1.0,
                 clock=time.time):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.retention_days, self.sample, self.clock = retention_days, sample, clock
        self._local = threading.local()
        self._appended = 0
        db = self._db()
        db.execute("PRAGMA journal_mode=WAL")  # persistent: set once per file
        db.executescript(_SCHEMA)
        self.prune()

    def _db(self) -> sqlite3.Connection:
        db = getattr(self._local, "db", None)
        if db is None:
            db = self._local.db = sqlite3.connect(self.path, timeout=30, isolation_level=None)
            db.row_factory = sqlite3.Row
            # WAL with NORMAL sync: a commit is not fsynced (a power cut may lose the last
            # appends, a crash of the process loses none); an fsync per prediction cost
            # more than the prediction itself.
            db.execute("PRAGMA synchronous=NORMAL")
        return db

    def append(self, rows: Sequence[LoggedPrediction]) -> None:
        """Add predicted rows, in one transaction."""
        now = self.clock()
        values = []
        for row in rows:
            text = _json(row.inputs)
            digest = hashlib.sha256(text).hexdigest()[:16]
            values.append((row.id, row.request_id, row.model, row.version, row.role,
                           row.created_at or now, round(row.latency_ms, 3), digest,
                           text.decode() if kept(digest, self.sample) else None,
                           _json(row.output).decode()))
        db = self._db()
        db.execute("BEGIN IMMEDIATE")
        db.executemany("INSERT INTO predictions (id, request_id, model, version, role, created_at,"
                       " latency_ms, input_hash, inputs, output) VALUES (?,?,?,?,?,?,?,?,?,?)",
                       values)
        db.execute("COMMIT")
        self._appended += len(values)
        if self._appended >= _PRUNE_EVERY:
            self._appended = 0
            self.prune()

    def add_feedback(self, truths: dict[str, Any], by: str | None = None) -> int:
        """Record true values by prediction id; returns how many ids have a logged prediction."""
        now = self.clock()
        db = self._db()
        db.execute("BEGIN IMMEDIATE")
        db.executemany("INSERT INTO feedback (id, truth, created_at, by) VALUES (?, ?, ?, ?)",
                       [(str(k), _json(v).decode(), now, by)
                        for k, v in truths.items()])
        db.execute("COMMIT")
        return self._known(list(truths))

    def _known(self, ids: list[str]) -> int:
        found = 0
        for start in range(0, len(ids), 500):
            chunk = [str(i) for i in ids[start:start + 500]]
            marks = ",".join("?" * len(chunk))
            found += self._db().execute(
                f"SELECT COUNT(DISTINCT id) FROM predictions WHERE id IN ({marks})", chunk
            ).fetchone()[0]
        return found

    def rows(self, model: str, *, version: str | None = None, role: str | None = "answer",
             since: float | None = None, limit: int | None = None) -> list[dict[str, Any]]:
        """Logged rows of a model, newest first (the last `limit` of them), as dicts with
        `inputs` and `output` parsed; rows without kept inputs have `inputs` None."""
        where, args = ["model = ?"], [model]
        for column, value in (("version", version), ("role", role)):
            if value is not None:
                where.append(f"{column} = ?")
                args.append(value)
        if since is not None:
            where.append("created_at >= ?")
            args.append(since)
        query = f"SELECT * FROM predictions WHERE {' AND '.join(where)} ORDER BY seq DESC"
        if limit is not None:
            query += f" LIMIT {int(limit)}"
        found = []
        for row in self._db().execute(query, args):
            item = dict(row)
            item["inputs"] = read_json(item["inputs"]) if item["inputs"] else None
            item["output"] = read_json(item["output"])
            found.append(item)
        return found

    def labelled(self, model: str, since: float | None = None) -> list[LabelledPrediction]:
        """The model's logged predictions (answers and shadows) that have feedback; the
        latest true value of an id counts."""
        query = ("SELECT p.id, p.version, p.role, p.output, f.truth FROM predictions p "
                 "JOIN feedback f ON f.seq = (SELECT MAX(seq) FROM feedback WHERE id = p.id) "
                 "WHERE p.model = ?")
        args: list[Any] = [model]
        if since is not None:
            query += " AND p.created_at >= ?"
            args.append(since)
        return [LabelledPrediction(r["id"], r["version"], r["role"], read_json(r["output"]),
                                   read_json(r["truth"]))
                for r in self._db().execute(query + " ORDER BY p.seq", args)]

    def count(self, model: str | None = None) -> int:
        """How many rows the log holds (of one model, when given)."""
        if model is None:
            return self._db().execute("SELECT COUNT(*) FROM predictions").fetchone()[0]
        return self._db().execute("SELECT COUNT(*) FROM predictions WHERE model = ?",
                                  (model,)).fetchone()[0]

    def prune(self) -> int:
        """Delete rows older than the retention; returns how many went."""
        if self.retention_days is None:
            return 0
        cutoff = self.clock() - self.retention_days * 86400.0
        db = self._db()
        gone = db.execute("DELETE FROM predictions WHERE created_at < ?", (cutoff,)).rowcount
        gone += db.execute("DELETE FROM feedback WHERE created_at < ?", (cutoff,)).rowcount
        return gone


def ids_for(request_id: str, count: int, entity_ids: Iterable[Any] | None = None) -> list[str]:
    """Prediction ids of a request's rows: the caller's entity ids, else `request_id` for a
    single row and `request_id/i` for row i of several."""
    if entity_ids is not None:
        return [str(e) for e in entity_ids]
    if count == 1:
        return [request_id]
    return [f"{request_id}/{i}" for i in range(count)]
