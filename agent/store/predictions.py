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

`append` hands rows to one writer thread, which encodes them and writes what has queued
up in one transaction: a prediction never waits for the disk, and concurrent requests do
not contend for SQLite's write lock. Every read here (and `add_feedback`) waits for the
rows appended before it, `flush()` does too, and `close()` (also run when the object is
collected or the interpreter exits) writes the rest: a process that stops normally loses
no row. Another process sees a row once its batch is written, a few milliseconds later.
"""

from __future__ import annotations

import hashlib
import logging
import sqlite3
import threading
import time
import weakref
from collections.abc import Callable, Iterable, Sequence
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
#: Seconds the writer waits before trying a failed batch again (a locked or full disk).
_RETRY_S = 0.5
#: The writer wakes this often, or sooner when this many rows wait: waking it for each
#: request would hand it the GIL once per prediction.
_LINGER_S, _WAKE_ROWS = 0.05, 1000
logger = logging.getLogger(__name__)


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


class _Writer:
    """One thread that writes queued rows in batches; `flush` waits for what was queued.

    It holds no reference to its `PredictionLog`, so the log can be collected (which closes
    the writer, after it wrote the rest)."""

    def __init__(self, write: Callable[[list[tuple[float, Sequence[LoggedPrediction]]]], None]):
        self._write = write
        self._queue: list[tuple[float, Sequence[LoggedPrediction]]] = []  # (when, rows)
        self._rows = 0  # rows in the queue
        self._queued = self._written = self._wanted = 0
        self._closed = False
        self._cond = threading.Condition()
        self._thread = threading.Thread(target=self._run, name="prediction-log", daemon=True)
        self._thread.start()

    def put(self, when: float, rows: Sequence[LoggedPrediction]) -> None:
        with self._cond:
            if self._closed:
                raise RuntimeError("the prediction log is closed: open a new PredictionLog")
            self._queue.append((when, rows))
            self._queued += len(rows)
            self._rows += len(rows)
            if self._rows >= _WAKE_ROWS:
                self._cond.notify_all()

    def flush(self) -> None:
        with self._cond:
            target = self._wanted = self._queued
            self._cond.notify_all()
            while self._written < target and self._thread.is_alive():
                self._cond.wait(0.5)

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        if self._thread is not threading.current_thread():
            self._thread.join()

    def _run(self) -> None:
        while True:
            with self._cond:
                if not self._closed and self._wanted <= self._written:
                    self._cond.wait(_LINGER_S)
                if not self._queue:
                    if not self._closed:
                        continue
                    return  # closed, and everything written
                batch, self._queue, count, self._rows = self._queue, [], self._rows, 0
            try:
                self._write(batch)
            except Exception as err:  # noqa: BLE001 - keep the rows and try again
                logger.warning("prediction log: %d rows not written yet (%s); retrying",
                               count, err)
                with self._cond:
                    self._queue[:0] = batch
                    self._rows += count
                time.sleep(_RETRY_S)
                continue
            with self._cond:
                self._written += count
                self._cond.notify_all()


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
        db = self._db()
        db.execute("PRAGMA journal_mode=WAL")  # persistent: set once per file
        db.executescript(_SCHEMA)
        self.prune()
        self._writer = _Writer(_Inserter(self.path, sample, retention_days, clock))
        weakref.finalize(self, self._writer.close)  # at collection or interpreter exit

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
        """Add predicted rows: queued for the writer thread (see the module's doc)."""
        self._writer.put(self.clock(), list(rows))

    def flush(self) -> None:
        """Wait until every row appended so far is written."""
        self._writer.flush()

    def close(self) -> None:
        """Write the rows still queued and stop the writer thread."""
        self._writer.close()

    def add_feedback(self, truths: dict[str, Any], by: str | None = None) -> int:
        """Record true values by prediction id; returns how many ids have a logged prediction."""
        self.flush()
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
        self.flush()
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
        self.flush()
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
        self.flush()
        if model is None:
            return self._db().execute("SELECT COUNT(*) FROM predictions").fetchone()[0]
        return self._db().execute("SELECT COUNT(*) FROM predictions WHERE model = ?",
                                  (model,)).fetchone()[0]

    def prune(self) -> int:
        """Delete rows older than the retention (the rows appended so far written first);
        returns how many went."""
        if hasattr(self, "_writer"):  # not while opening
            self.flush()
        return _prune(self._db(), self.retention_days, self.clock())


class _Inserter:
    """Encodes and inserts rows in one transaction, on a connection of the writer thread's
    own; prunes by age every `_PRUNE_EVERY` rows."""

    def __init__(self, path: Path, sample: float, retention_days: float | None, clock):
        self.path, self.sample, self.retention_days, self.clock = path, sample, retention_days, clock
        self._db: sqlite3.Connection | None = None
        self._appended = 0

    def __call__(self, batches: Sequence[tuple[float, Sequence[LoggedPrediction]]]) -> None:
        values = []
        for when, rows in batches:
            for row in rows:
                text = _json(row.inputs)
                digest = hashlib.sha256(text).hexdigest()[:16]
                values.append((row.id, row.request_id, row.model, row.version, row.role,
                               row.created_at or when, round(row.latency_ms, 3), digest,
                               text.decode() if kept(digest, self.sample) else None,
                               _json(row.output).decode()))
        if self._db is None:
            self._db = sqlite3.connect(self.path, timeout=30, isolation_level=None,
                                       check_same_thread=False)
            self._db.execute("PRAGMA synchronous=NORMAL")  # as `PredictionLog._db` says
        try:
            self._db.execute("BEGIN IMMEDIATE")
            self._db.executemany(
                "INSERT INTO predictions (id, request_id, model, version, role, created_at,"
                " latency_ms, input_hash, inputs, output) VALUES (?,?,?,?,?,?,?,?,?,?)", values)
            self._db.execute("COMMIT")
        except sqlite3.Error:
            if self._db.in_transaction:
                self._db.execute("ROLLBACK")
            raise
        self._appended += len(values)
        if self._appended >= _PRUNE_EVERY:
            self._appended = 0
            _prune(self._db, self.retention_days, self.clock())


def _prune(db: sqlite3.Connection, retention_days: float | None, now: float) -> int:
    """Delete rows older than `retention_days` before `now`; how many went."""
    if retention_days is None:
        return 0
    cutoff = now - retention_days * 86400.0
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
