"""The job and approval queue: one SQLite file next to the LangGraph checkpoints.

Every driver (CLI, REST, web page, Slack) reads and decides approvals here. A decision
is recorded once: the UPDATE only matches a pending row, so a second decision, or one
after expiry, is refused.
"""

from __future__ import annotations

import json
import os
import sqlite3
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel

ApprovalStatus = Literal["pending", "approved", "rejected", "expired"]

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
"""


class StoreError(LookupError):
    """A job or approval that does not exist, or a decision that cannot be made."""


class Job(BaseModel):
    """One job as the queue knows it."""

    id: str
    created_at: float
    updated_at: float
    status: str
    request: dict[str, Any]
    result: dict[str, Any] | None = None
    error: str | None = None
    runner_pid: int | None = None


class Approval(BaseModel):
    """A risky action waiting for (or decided by) a human."""

    id: str
    job_id: str
    interrupt_id: str
    action: str
    reason: str
    payload: dict[str, Any]
    status: ApprovalStatus
    created_at: float
    expires_at: float | None = None
    decided_by: str | None = None
    decided_at: float | None = None
    decision_reason: str | None = None


class Store:
    """Jobs and approvals in SQLite; safe to use from several processes at once."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._connect() as db:
            db.executescript(_SCHEMA)

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        db = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        db.row_factory = sqlite3.Row
        db.execute("PRAGMA journal_mode=WAL")
        try:
            yield db
        finally:
            db.close()

    # -- jobs ---------------------------------------------------------------------------

    def create_job(self, request: dict[str, Any], job_id: str | None = None) -> Job:
        """Record a new running job and return it."""
        now = time.time()
        job_id = job_id or new_job_id()
        with self._connect() as db:
            db.execute(
                "INSERT INTO jobs (id, created_at, updated_at, status, request, runner_pid) "
                "VALUES (?, ?, ?, 'running', ?, ?)",
                (job_id, now, now, json.dumps(request, default=str), os.getpid()),
            )
        return self.job(job_id)

    def job(self, job_id: str) -> Job:
        """The job with this id; StoreError if there is none."""
        with self._connect() as db:
            row = db.execute("SELECT * FROM jobs WHERE id = ?", (job_id,)).fetchone()
        if row is None:
            raise StoreError(f"no run {job_id!r}: see `mlpilot runs list`")
        return _job(row)

    def jobs(self, limit: int = 50) -> list[Job]:
        """The newest jobs first."""
        with self._connect() as db:
            rows = db.execute(
                "SELECT * FROM jobs ORDER BY created_at DESC LIMIT ?", (limit,)
            ).fetchall()
        return [_job(r) for r in rows]

    def update_job(self, job_id: str, *, status: str | None = None,
                   result: dict[str, Any] | None = None, error: str | None = None) -> None:
        """Set a job's status, result document or error."""
        sets, args = ["updated_at = ?"], [time.time()]
        if status is not None:
            sets.append("status = ?")
            args.append(status)
        if result is not None:
            sets.append("result = ?")
            args.append(json.dumps(result, default=str))
        if error is not None:
            sets.append("error = ?")
            args.append(error)
        with self._connect() as db:
            db.execute(f"UPDATE jobs SET {', '.join(sets)} WHERE id = ?", (*args, job_id))

    def delete_job(self, job_id: str) -> None:
        """Remove a job and its approvals (used when its input turned out unusable)."""
        with self._connect() as db:
            db.execute("DELETE FROM approvals WHERE job_id = ?", (job_id,))
            db.execute("DELETE FROM jobs WHERE id = ?", (job_id,))

    def claim(self, job_id: str) -> bool:
        """Make this process the job's runner unless another live process is."""
        pid = os.getpid()
        with self._connect() as db:
            db.execute("BEGIN IMMEDIATE")
            row = db.execute("SELECT runner_pid FROM jobs WHERE id = ?", (job_id,)).fetchone()
            if row is None:
                db.execute("ROLLBACK")
                raise StoreError(f"no run {job_id!r}: see `mlpilot runs list`")
            holder = row["runner_pid"]
            if holder not in (None, pid) and _alive(holder):
                db.execute("ROLLBACK")
                return False
            db.execute("UPDATE jobs SET runner_pid = ? WHERE id = ?", (pid, job_id))
            db.execute("COMMIT")
        return True

    def release(self, job_id: str) -> None:
        """Stop being the job's runner (so another process may resume it)."""
        with self._connect() as db:
            db.execute("UPDATE jobs SET runner_pid = NULL WHERE id = ? AND runner_pid = ?",
                       (job_id, os.getpid()))

    def runner_alive(self, job_id: str) -> bool:
        """Whether another live process is running or waiting on this job."""
        holder = self.job(job_id).runner_pid
        return holder is not None and holder != os.getpid() and _alive(holder)

    # -- approvals ----------------------------------------------------------------------

    def request_approval(self, job_id: str, interrupt_id: str, action: str, reason: str,
                         payload: dict[str, Any], ttl_s: float | None = None) -> Approval:
        """Queue an approval for an interrupt; asking twice for one interrupt returns the first."""
        now = time.time()
        with self._connect() as db:
            db.execute(
                "INSERT OR IGNORE INTO approvals (id, job_id, interrupt_id, action, reason, payload,"
                " status, created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?, 'pending', ?, ?)",
                ("ap-" + uuid.uuid4().hex[:8], job_id, interrupt_id, action, reason,
                 json.dumps(payload, default=str), now, now + ttl_s if ttl_s else None),
            )
            row = db.execute("SELECT * FROM approvals WHERE job_id = ? AND interrupt_id = ?",
                             (job_id, interrupt_id)).fetchone()
        return _approval(row)

    def approval(self, approval_id: str) -> Approval:
        """The approval with this id (expiring it first if its time is up)."""
        self.expire_overdue()
        with self._connect() as db:
            row = db.execute("SELECT * FROM approvals WHERE id = ?", (approval_id,)).fetchone()
        if row is None:
            raise StoreError(f"no approval {approval_id!r}: see `mlpilot approvals list`")
        return _approval(row)

    def approvals(self, status: str | None = "pending", job_id: str | None = None) -> list[Approval]:
        """Approvals, pending ones by default, oldest first."""
        self.expire_overdue()
        query, args = "SELECT * FROM approvals WHERE 1=1", []
        if status:
            query += " AND status = ?"
            args.append(status)
        if job_id:
            query += " AND job_id = ?"
            args.append(job_id)
        with self._connect() as db:
            rows = db.execute(query + " ORDER BY created_at", args).fetchall()
        return [_approval(r) for r in rows]

    def decide(self, approval_id: str, approved: bool, by: str, reason: str | None = None) -> Approval:
        """Record a human's decision once; a second decision or a late one is refused."""
        self.approval(approval_id)  # raises for an unknown id; expires overdue ones
        status = "approved" if approved else "rejected"
        with self._connect() as db:
            changed = db.execute(
                "UPDATE approvals SET status = ?, decided_by = ?, decided_at = ?, "
                "decision_reason = ? WHERE id = ? AND status = 'pending'",
                (status, by, time.time(), reason, approval_id),
            ).rowcount
        if not changed:
            latest = self.approval(approval_id)
            raise StoreError(f"approval {approval_id} was already {latest.status}"
                             + (f" by {latest.decided_by}" if latest.decided_by else "")
                             + "; a decision is recorded once")
        return self.approval(approval_id)

    def expire_overdue(self) -> None:
        """Pending approvals past their expiry count as rejected (status 'expired')."""
        with self._connect() as db:
            db.execute(
                "UPDATE approvals SET status = 'expired', decided_by = 'policy', decided_at = ?,"
                " decision_reason = 'expired before a decision' "
                "WHERE status = 'pending' AND expires_at IS NOT NULL AND expires_at < ?",
                (time.time(), time.time()),
            )


def new_job_id() -> str:
    """A short, sortable, unique run id."""
    return time.strftime("run-%Y%m%d-%H%M%S-") + uuid.uuid4().hex[:6]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _job(row: sqlite3.Row) -> Job:
    data = dict(row)
    data["request"] = json.loads(data["request"])
    data["result"] = json.loads(data["result"]) if data["result"] else None
    return Job(**data)


def _approval(row: sqlite3.Row) -> Approval:
    data = dict(row)
    data["payload"] = json.loads(data["payload"])
    return Approval(**data)
