"""The prediction log and the feedback on it: append-only tables in a SQLite file of their
own, or in the installation's PostgreSQL database when `MLPILOT_DATABASE_URL` names one.

    log = PredictionLog(settings.prediction_db, retention_days=30)   # a path or a URL
    log.append([LoggedPrediction(...), ...])    # every prediction path writes here
    log.add_feedback({"order-17": "yes"})       # true values, by the ids predictions had
    log.labelled("churn", since=...)            # predictions joined with their true values

One row per predicted row: its id (the caller's entity id, else the request id and the
row's index), the request id, the model version that made it and its role (the answer,
or a shadow's score), the output, the latency, a hash of the inputs and, for a share of
rows chosen by that hash (`sample`), the inputs themselves (what the drift monitor reads).

Rows are never changed: a trigger refuses UPDATE, and rows leave only by age
(`retention_days`, pruned on open and every few thousand appends). On SQLite, its own
file, so a stream of predictions never waits on the job queue's write lock; on PostgreSQL,
tables of their own beside the store's (`engine/sql.py` speaks both).

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
import threading
import time
import weakref
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from mlpilot.agent.store.database import read_json
from mlpilot.engine.sql import Connection, SqlDatabase, Step

_TABLES = """
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
CREATE TABLE IF NOT EXISTS feedback (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL,
    truth TEXT NOT NULL,
    created_at REAL NOT NULL,
    by TEXT
);
CREATE INDEX IF NOT EXISTS feedback_by_id ON feedback (id);
CREATE INDEX IF NOT EXISTS feedback_by_time ON feedback (created_at)
"""
#: What each table's trigger says when something tries to change one of its rows.
_APPEND_ONLY = {"predictions": "the prediction log is append-only",
                "feedback": "feedback is append-only"}


def _first_schema(conn: Connection) -> None:
    """Version 1: the tables, and a trigger per table that refuses UPDATE."""
    conn.ddl(_TABLES)
    for table, message in _APPEND_ONLY.items():
        if conn.dialect == "sqlite":
            conn.execute(f"CREATE TRIGGER IF NOT EXISTS {table}_append_only BEFORE UPDATE ON "
                         f"{table} BEGIN SELECT RAISE(ABORT, '{message}'); END")
            continue
        conn.execute(f"CREATE OR REPLACE FUNCTION {table}_append_only() RETURNS trigger "
                     f"LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION '{message}'; END $$")
        conn.execute(f"CREATE TRIGGER {table}_append_only BEFORE UPDATE ON {table} "
                     f"FOR EACH ROW EXECUTE FUNCTION {table}_append_only()")


#: The log's schema, one step per release that changed it (see `engine/sql.py`).
_STEPS: list[Step] = [_first_schema]
#: WAL with NORMAL sync: a commit is not fsynced (a power cut may lose the last appends, a
#: crash of the process loses none); an fsync per prediction cost more than the prediction.
_SQLITE_PRAGMAS = ("synchronous=NORMAL",)
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
    """Predictions and feedback in a SQLite file or a PostgreSQL database; safe from several
    threads and processes.

    Args:
        location: the SQLite file (created with its folder) or a `postgresql://` URL.
        retention_days: rows older than this are deleted (None: kept for ever).
        sample: share of rows whose inputs are kept whole (the others keep a hash only).
    """

    def __init__(self, location: Path | str, retention_days: float | None = 30.0,
                 sample: float = 1.0, clock=time.time):
        self.sql = SqlDatabase(location, sqlite_pragmas=_SQLITE_PRAGMAS)
        #: The SQLite file, or the database URL.
        self.path = self.sql.location
        self.retention_days, self.sample, self.clock = retention_days, sample, clock
        self.sql.migrate("predictions", _STEPS)
        self.prune()
        self._writer = _Writer(_Inserter(self.sql, sample, retention_days, clock))
        weakref.finalize(self, self._writer.close)  # at collection or interpreter exit

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
        with self.sql.connect() as db, db.transaction("feedback"):
            db.executemany("INSERT INTO feedback (id, truth, created_at, by) VALUES (?, ?, ?, ?)",
                           [(str(k), _json(v).decode(), now, by) for k, v in truths.items()])
        return self._known(list(truths))

    def _known(self, ids: list[str]) -> int:
        found = 0
        for start in range(0, len(ids), 500):
            chunk = [str(i) for i in ids[start:start + 500]]
            marks = ",".join("?" * len(chunk))
            found += self._one(
                f"SELECT COUNT(DISTINCT id) FROM predictions WHERE id IN ({marks})", chunk)
        return found

    def _one(self, query: str, args: Sequence[Any] = ()) -> Any:
        """The first value of a query's first row."""
        with self.sql.connect() as db:
            return db.execute(query, args).fetchone()[0]

    def _all(self, query: str, args: Sequence[Any] = ()) -> list[Any]:
        with self.sql.connect() as db:
            return db.execute(query, args).fetchall()

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
        for row in self._all(query, args):
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
                for r in self._all(query + " ORDER BY p.seq", args)]

    def count(self, model: str | None = None) -> int:
        """How many rows the log holds (of one model, when given)."""
        self.flush()
        if model is None:
            return self._one("SELECT COUNT(*) FROM predictions")
        return self._one("SELECT COUNT(*) FROM predictions WHERE model = ?", (model,))

    def prune(self) -> int:
        """Delete rows older than the retention (the rows appended so far written first);
        returns how many went."""
        if hasattr(self, "_writer"):  # not while opening
            self.flush()
        with self.sql.connect() as db:
            return _prune(db, self.retention_days, self.clock())


class _Inserter:
    """Encodes and inserts rows in one transaction, on the writer thread's own connection;
    prunes by age every `_PRUNE_EVERY` rows."""

    def __init__(self, sql: SqlDatabase, sample: float, retention_days: float | None, clock):
        self.sql, self.sample, self.retention_days, self.clock = sql, sample, retention_days, clock
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
        with self.sql.connect() as db:
            with db.transaction("predictions"):
                db.executemany(
                    "INSERT INTO predictions (id, request_id, model, version, role, created_at,"
                    " latency_ms, input_hash, inputs, output) VALUES (?,?,?,?,?,?,?,?,?,?)",
                    values)
            self._appended += len(values)
            if self._appended >= _PRUNE_EVERY:
                self._appended = 0
                _prune(db, self.retention_days, self.clock())


def _prune(db: Connection, retention_days: float | None, now: float) -> int:
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
