"""The store's database: its schema and migrations, one connection per thread, and the
store's errors.

Jobs, approvals and progress events share one database with the LangGraph checkpoints: a
SQLite file by default, PostgreSQL when `MLPILOT_DATABASE_URL` names one; several
processes (the server, its workers, the CLI) see one another's writes.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import orjson

from mlpilot.engine.sql import Connection, SqlDatabase, Step

#: The store's schema, one step per release that changed it (see `engine/sql.py`): a
#: database at version n gets steps n+1.. when it is opened. Never edit a released step.
_STEPS: list[Step] = []
_STEPS.append("""
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
CREATE INDEX IF NOT EXISTS events_by_job ON events (job_id, id);
CREATE INDEX IF NOT EXISTS jobs_by_status ON jobs (status, created_at)
""")


def _job_options_and_cancel(conn: Connection) -> None:
    """Version 2: how to start a queued job, and the cancel flag its worker polls. State
    files from before versions were recorded may have either column already."""
    present = conn.columns("jobs")
    for column, kind in {"options": "TEXT", "cancel_requested": "INTEGER NOT NULL DEFAULT 0"}.items():
        if column not in present:
            conn.execute(f"ALTER TABLE jobs ADD COLUMN {column} {kind}")


_STEPS.append(_job_options_and_cancel)
#: Version 3: deployments (which version answers, its challenger) and their audit trail.
_STEPS.append("""
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
)
""")
#: Version 4: who holds a running job across machines: its node and a lease it renews
#: (`leases.py`), beside its process id.
_STEPS.append("""
ALTER TABLE jobs ADD COLUMN runner_node TEXT;
ALTER TABLE jobs ADD COLUMN lease_until REAL
""")
#: The schema version this mlpilot writes.
SCHEMA_VERSION = len(_STEPS)


class StoreError(LookupError):
    """A job or approval that does not exist, or a decision that cannot be made."""


class Conflict(StoreError):
    """The job or approval exists but is past the point where this can be done
    (a second decision, cancelling a finished job)."""


class Database:
    """The store's database: a SQLite file or a PostgreSQL URL, created (or brought up to
    date) on open; safe to use from several threads and processes at once."""

    def __init__(self, location: Path | str):
        self.sql = SqlDatabase(location)
        self.sql.migrate("store", _STEPS)

    @property
    def location(self) -> Path | str:
        """The SQLite file or the PostgreSQL URL."""
        return self.sql.location

    @contextmanager
    def _connect(self) -> Iterator[Connection]:
        """This thread's connection (see `SqlDatabase.connect`)."""
        with self.sql.connect() as conn:
            yield conn


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
