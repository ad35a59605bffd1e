"""The progress log of jobs: events (stage, message, figures, time) in the store's SQLite
file, written by the workers' progress sinks and read by the SSE stream, the web pages and
the Slack bot. `Store` holds these methods; they use its connection.
"""

from __future__ import annotations

import json
import math
import sqlite3
import time
from contextlib import AbstractContextManager
from typing import Any

from pydantic import BaseModel


class Event(BaseModel):
    """One progress event of a job: the stage, a line for people, and any figures."""

    id: int
    job_id: str
    created_at: float
    stage: str
    message: str
    data: dict[str, Any] = {}


class EventLog:
    """Progress events of jobs (a part of `Store`)."""

    def _connect(self) -> AbstractContextManager[sqlite3.Connection]:  # pragma: no cover
        raise NotImplementedError

    def add_event(self, job_id: str, stage: str, message: str, **data: Any) -> int:
        """Append a progress event to the job's log; returns its id (increasing)."""
        with self._connect() as db:
            cursor = db.execute(
                "INSERT INTO events (job_id, created_at, stage, message, data) VALUES (?, ?, ?, ?, ?)",
                (job_id, time.time(), stage, message, json.dumps(finite(data), default=str)))
        return int(cursor.lastrowid)

    def last_event_id(self) -> int:
        """The id of the newest event of any job (0 if there is none)."""
        with self._connect() as db:
            return db.execute("SELECT COALESCE(MAX(id), 0) FROM events").fetchone()[0]

    def events_after(self, after: int, limit: int = 1000) -> list[Event]:
        """Events of every job after the one with id `after`, oldest first."""
        with self._connect() as db:
            rows = db.execute("SELECT * FROM events WHERE id > ? ORDER BY id LIMIT ?",
                              (after, limit)).fetchall()
        return [Event(**{**dict(r), "data": json.loads(r["data"])}) for r in rows]

    def events(self, job_id: str, after: int = 0, limit: int = 1000) -> list[Event]:
        """The job's events after the one with id `after`, oldest first."""
        with self._connect() as db:
            rows = db.execute("SELECT * FROM events WHERE job_id = ? AND id > ? ORDER BY id LIMIT ?",
                              (job_id, after, limit)).fetchall()
        return [Event(**{**dict(r), "data": json.loads(r["data"])}) for r in rows]


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
