"""The progress log of jobs: events (stage, message, figures, time) in the store's
database, written by the workers' progress sinks and read by the SSE stream, the web pages
and the Slack bot.
"""

from __future__ import annotations

import json
import time
from typing import Any

from pydantic import BaseModel

from mlpilot.agent.store.database import Database, finite, read_json


class Event(BaseModel):
    """One progress event of a job: the stage, a line for people, and any figures."""

    id: int
    job_id: str
    created_at: float
    stage: str
    message: str
    data: dict[str, Any] = {}


class EventLog(Database):
    """Progress events of jobs (a part of `Store`)."""

    def add_event(self, job_id: str, stage: str, message: str, **data: Any) -> int:
        """Append a progress event to the job's log; returns its id (increasing)."""
        row = (job_id, time.time(), stage, message, json.dumps(finite(data), default=str))
        insert = ("INSERT INTO events (job_id, created_at, stage, message, data) "
                  "VALUES (?, ?, ?, ?, ?) RETURNING id")
        with self._connect() as db:
            if db.dialect == "sqlite":  # writes to the file are serialised already
                return int(db.execute(insert, row).fetchone()[0])
            # Readers page by id (`events_after`): ids must become visible in their order,
            # which PostgreSQL's sequences only promise to writers that take turns.
            with db.transaction("events"):
                return int(db.execute(insert, row).fetchone()[0])

    def last_event_id(self) -> int:
        """The id of the newest event of any job (0 if there is none)."""
        with self._connect() as db:
            return db.execute("SELECT COALESCE(MAX(id), 0) FROM events").fetchone()[0]

    def events_after(self, after: int, limit: int = 1000) -> list[Event]:
        """Events of every job after the one with id `after`, oldest first."""
        with self._connect() as db:
            rows = db.execute("SELECT * FROM events WHERE id > ? ORDER BY id LIMIT ?",
                              (after, limit)).fetchall()
        return [Event(**{**dict(r), "data": read_json(r["data"])}) for r in rows]

    def events(self, job_id: str, after: int = 0, limit: int = 1000) -> list[Event]:
        """The job's events after the one with id `after`, oldest first."""
        with self._connect() as db:
            rows = db.execute("SELECT * FROM events WHERE job_id = ? AND id > ? ORDER BY id LIMIT ?",
                              (job_id, after, limit)).fetchall()
        return [Event(**{**dict(r), "data": read_json(r["data"])}) for r in rows]

