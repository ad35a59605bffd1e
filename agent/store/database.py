"""The store's SQLite file: its schema, one connection per thread, and the store's errors.

Jobs, approvals and progress events share the file (next to the LangGraph checkpoints),
so several processes (the server, its workers, the CLI) see one another's writes.
"""

from __future__ import annotations

import json
import math
import os
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import orjson

_SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    id TEXT PRIMARY KEY,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL,
    status TEXT NOT NULL,
    request TEXT NOT NULL,
    result TEXT,
    error TEXT,
    runner_pid INTEGER
);
CREATE TABLE IF NOT EXISTS approvals (
    id TEXT PRIMARY KEY,
    job_id TEXT NOT NULL REFERENCES jobs(id),
    interrupt_id TEXT NOT NULL,
    action TEXT NOT NULL,
    reason TEXT NOT NULL,
    payload TEXT NOT NULL,
    status TEXT NOT NULL,
    created_at REAL NOT NULL,
    expires_at REAL,
    decided_by TEXT,
    decided_at REAL,
    decision_reason TEXT,
    UNIQUE (job_id, interrupt_id)
);
CREATE TABLE IF NOT EXISTS events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    job_id TEXT NOT NULL,
    created_at REAL NOT NULL,
    stage TEXT NOT NULL,
    message TEXT NOT NULL,
    data TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS submissions (
    scope TEXT NOT NULL,
    key TEXT NOT NULL,
    digest TEXT NOT NULL,
    job_id TEXT NOT NULL,
    task TEXT,
    created_at REAL NOT NULL,
    PRIMARY KEY (scope, key)
);
CREATE TABLE IF NOT EXISTS deployments (
    name TEXT PRIMARY KEY,
    champion TEXT,
    lineage TEXT NOT NULL,
    challenger TEXT,
    mode TEXT,
    share REAL,
    updated_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS deployment_history (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL,
    action TEXT NOT NULL,
    version TEXT,
    previous TEXT,
    by TEXT,
    reason TEXT,
    key TEXT UNIQUE,
    created_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS events_by_job ON events (job_id, id);
CREATE INDEX IF NOT EXISTS jobs_by_status ON jobs (status, created_at);
"""
# Columns added after the first release; old state files get them on open.
_ADDED_COLUMNS = {"options": "TEXT", "cancel_requested": "INTEGER NOT NULL DEFAULT 0"}


class StoreError(LookupError):
    """A job or approval that does not exist, or a decision that cannot be made."""


class Conflict(StoreError):
    """The job or approval exists but is past the point where this can be done
    (a second decision, cancelling a finished job)."""


class Database:
    """The SQLite file, created (or brought up to date) on open; safe to use from several
    threads and processes at once."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._local = threading.local()
        with self._connect() as db:
            db.execute("PRAGMA journal_mode=WAL")  # persistent: set once per file
            db.executescript(_SCHEMA)
            present = {row["name"] for row in db.execute("PRAGMA table_info(jobs)")}
            for column, kind in _ADDED_COLUMNS.items():
                if column not in present:
                    try:
                        db.execute(f"ALTER TABLE jobs ADD COLUMN {column} {kind}")
                    except sqlite3.OperationalError as err:  # another process added it first
                        if "duplicate column" not in str(err):
                            raise

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        """This thread's connection (opened once per thread and process: a server answers
        many small queries, and opening a connection costs more than most of them)."""
        local = self._local
        if getattr(local, "pid", None) != os.getpid():
            local.db = sqlite3.connect(self.path, timeout=30, isolation_level=None)
            local.db.row_factory = sqlite3.Row
            local.pid, local.depth = os.getpid(), 0
        local.depth += 1
        try:
            yield local.db
        finally:
            local.depth -= 1
            if local.depth == 0 and local.db.in_transaction:  # an error between BEGIN and COMMIT
                local.db.execute("ROLLBACK")


def finite(value: Any) -> Any:
    """`value` with NaN and infinities as None: stored documents are strict JSON, which
    JavaScript and SQLite can read (a score that could not be computed is null)."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [finite(v) for v in value]
    return value


def read_json(text: str) -> Any:
    """A stored JSON document, parsed with orjson (several times faster than `json` on the
    large result documents that status polling reads); documents stored before they were
    strict JSON may hold NaN, which only `json` reads."""
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return json.loads(text)
