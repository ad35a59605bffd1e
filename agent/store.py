"""The job and approval queue: one SQLite file next to the LangGraph checkpoints.

Every driver (CLI, REST, web page, Slack) reads and decides approvals here. A decision
is recorded once: the UPDATE only matches a pending row, so a second decision, or one
after expiry, is refused.

The server's workers take jobs from here too: a job submitted to the server is
"queued" until a worker takes it (atomically, so two workers never take one job), its
progress is appended to `events`, and a cancel request is a flag the worker polls.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel

from mlpilot.agent.events import EventLog, finite

ApprovalStatus = Literal["pending", "approved", "rejected", "expired"]
#: Job statuses after which nothing more happens to a job.
END_STATUSES = frozenset({"succeeded", "failed", "rejected", "cancelled", "needs_input"})

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
    options: dict[str, Any] = {}
    cancel_requested: bool = False

    @property
    def ended(self) -> bool:
        """Whether nothing more will happen to this job."""
        return self.status in END_STATUSES


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


class Store(EventLog):
    """Jobs and approvals in SQLite; safe to use from several processes at once."""

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

    # -- jobs ---------------------------------------------------------------------------

    def create_job(self, request: dict[str, Any], job_id: str | None = None, *,
                   queued: bool = False, options: dict[str, Any] | None = None) -> Job:
        """Record a new job and return it: running in this process, or queued for a worker.

        `options` are how to start it (e.g. `auto_approve`), kept for whoever takes it.
        """
        now = time.time()
        job_id = job_id or new_job_id()
        with self._connect() as db:
            db.execute(
                "INSERT INTO jobs (id, created_at, updated_at, status, request, runner_pid, "
                "options) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (job_id, now, now, "queued" if queued else "running",
                 json.dumps(request, default=str), None if queued else os.getpid(),
                 json.dumps(options or {})),
            )
        return self.job(job_id)

    def job(self, job_id: str) -> Job:
        """The job with this id; StoreError if there is none."""
        with self._connect() as db:
            row = db.execute("SELECT * FROM jobs WHERE id = ?", (job_id,)).fetchone()
        if row is None:
            raise StoreError(f"no run {job_id!r}: see `mlpilot runs list`")
        return _job(row)

    def jobs(self, limit: int = 50, status: str | None = None, offset: int = 0) -> list[Job]:
        """The newest jobs first (of one status, when given)."""
        query, args = "SELECT * FROM jobs", []
        if status:
            query += " WHERE status = ?"
            args.append(status)
        with self._connect() as db:
            rows = db.execute(query + " ORDER BY created_at DESC, id DESC LIMIT ? OFFSET ?",
                              (*args, limit, offset)).fetchall()
        return [_job(r) for r in rows]

    def result_text(self, job_id: str) -> tuple[str, str | None]:
        """A job's status and its stored result document as JSON text (None if it has none),
        without parsing it: for a server that passes the document on as is."""
        with self._connect() as db:
            row = db.execute("SELECT status, result FROM jobs WHERE id = ?", (job_id,)).fetchone()
        if row is None:
            raise StoreError(f"no run {job_id!r}: see `mlpilot runs list`")
        return row["status"], row["result"]

    def job_brief(self, job_id: str) -> dict[str, Any]:
        """A job's request, task and config (what an approval's reviewer needs)."""
        with self._connect() as db:  # (documents may hold NaN, which SQLite's JSON refuses)
            row = db.execute("SELECT request, result FROM jobs WHERE id = ?", (job_id,)).fetchone()
        if row is None:
            raise StoreError(f"no run {job_id!r}: see `mlpilot runs list`")
        result = json.loads(row["result"]) if row["result"] else {}
        return {"request": json.loads(row["request"]), "task": result.get("task"),
                "config": result.get("config")}

    def count(self, status: str | None = None) -> int:
        """How many jobs there are (of one status, when given)."""
        with self._connect() as db:
            if status:
                return db.execute("SELECT COUNT(*) FROM jobs WHERE status = ?", (status,)).fetchone()[0]
            return db.execute("SELECT COUNT(*) FROM jobs").fetchone()[0]

    def update_job(self, job_id: str, *, status: str | None = None,
                   result: dict[str, Any] | None = None, error: str | None = None) -> None:
        """Set a job's status, result document or error."""
        sets, args = ["updated_at = ?"], [time.time()]
        if status is not None:
            sets.append("status = ?")
            args.append(status)
        if result is not None:
            sets.append("result = ?")
            args.append(json.dumps(finite(result), default=str))
        if error is not None:
            sets.append("error = ?")
            args.append(error)
        with self._connect() as db:
            db.execute(f"UPDATE jobs SET {', '.join(sets)} WHERE id = ?", (*args, job_id))

    def delete_job(self, job_id: str) -> None:
        """Remove a job, its approvals and events (used when its input turned out unusable)."""
        with self._connect() as db:
            db.execute("DELETE FROM approvals WHERE job_id = ?", (job_id,))
            db.execute("DELETE FROM events WHERE job_id = ?", (job_id,))
            db.execute("DELETE FROM jobs WHERE id = ?", (job_id,))

    # -- the server's queue ------------------------------------------------------------

    def take_queued(self) -> Job | None:
        """Take the oldest queued job for this process (now "running"), or None if there is none."""
        with self._connect() as db:
            db.execute("BEGIN IMMEDIATE")
            row = db.execute("SELECT id FROM jobs WHERE status = 'queued' "
                             "ORDER BY created_at, id LIMIT 1").fetchone()
            if row is None:
                db.execute("ROLLBACK")
                return None
            db.execute("UPDATE jobs SET status = 'running', runner_pid = ?, updated_at = ? "
                       "WHERE id = ?", (os.getpid(), time.time(), row["id"]))
            db.execute("COMMIT")
        return self.job(row["id"])

    def requeue_orphans(self) -> list[str]:
        """Queue again the running jobs whose process died (a crash, a killed server).

        A job held by another live process is left alone; one marked with this very
        process id is stale (nothing runs yet when a server starts). Returns their ids.
        """
        with self._connect() as db:
            rows = db.execute("SELECT id, runner_pid FROM jobs WHERE status = 'running'").fetchall()
            orphans = [r["id"] for r in rows
                       if r["runner_pid"] in (None, os.getpid()) or not _alive(r["runner_pid"])]
            for job_id in orphans:
                db.execute("UPDATE jobs SET status = 'queued', runner_pid = NULL, updated_at = ? "
                           "WHERE id = ? AND status = 'running'", (time.time(), job_id))
        return orphans

    def requeue_decided(self, job_id: str | None = None, grace_s: float = 0.0) -> list[str]:
        """Queue again the jobs waiting for approval whose approvals are all decided (or
        expired), that no process is driving; `grace_s` leaves a process that just decided
        (the CLI resumes a job itself) time to claim it first. Returns their ids."""
        self.expire_overdue()
        query = ("SELECT j.id, j.runner_pid FROM jobs j WHERE j.status = 'waiting_approval' "
                 "AND NOT EXISTS (SELECT 1 FROM approvals a WHERE a.job_id = j.id "
                 "AND (a.status = 'pending' OR a.decided_at > ?)) "
                 "AND EXISTS (SELECT 1 FROM approvals a WHERE a.job_id = j.id)")
        args: list[Any] = [time.time() - grace_s]
        if job_id:
            query += " AND j.id = ?"
            args.append(job_id)
        with self._connect() as db:
            rows = db.execute(query, args).fetchall()
            ready = [r["id"] for r in rows if r["runner_pid"] is None or not _alive(r["runner_pid"])]
            for ready_id in ready:
                db.execute("UPDATE jobs SET status = 'queued', updated_at = ? "
                           "WHERE id = ? AND status = 'waiting_approval'", (time.time(), ready_id))
        return ready

    def request_cancel(self, job_id: str, by: str) -> Job:
        """Ask for a job to stop: a queued or waiting job is cancelled now (its pending
        approvals are rejected), a running one when its worker next looks.
        Conflict if it has already ended."""
        job = self.job(job_id)
        if job.ended:
            raise Conflict(f"run {job_id} has already ended ({job.status}); nothing to cancel")
        now = time.time()
        with self._connect() as db:
            db.execute("UPDATE jobs SET cancel_requested = 1, updated_at = ? WHERE id = ?",
                       (now, job_id))
            stopped = db.execute(
                "UPDATE jobs SET status = 'cancelled' WHERE id = ? "
                "AND status IN ('queued', 'waiting_approval')", (job_id,)).rowcount
            if stopped:
                db.execute("UPDATE approvals SET status = 'rejected', decided_by = ?, "
                           "decided_at = ?, decision_reason = 'the run was cancelled' "
                           "WHERE job_id = ? AND status = 'pending'", (by, now, job_id))
        return self.job(job_id)

    def cancel_requested(self, job_id: str) -> bool:
        """Whether someone asked for this job to stop."""
        with self._connect() as db:
            row = db.execute("SELECT cancel_requested FROM jobs WHERE id = ?", (job_id,)).fetchone()
        return bool(row and row["cancel_requested"])

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
            raise Conflict(f"approval {approval_id} was already {latest.status}"
                             + (f" by {latest.decided_by}" if latest.decided_by else "")
                             + "; a decision is recorded once")
        return self.approval(approval_id)

    def expire_overdue(self) -> None:
        """Pending approvals past their expiry count as rejected (status 'expired')."""
        with self._connect() as db:
            overdue = db.execute(
                "SELECT 1 FROM approvals WHERE status = 'pending' AND expires_at IS NOT NULL "
                "AND expires_at < ? LIMIT 1", (time.time(),)).fetchone()
            if overdue is None:  # the usual case: read only, no write lock
                return
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
    data["options"] = json.loads(data.get("options") or "{}")
    data["cancel_requested"] = bool(data.get("cancel_requested"))
    return Job(**data)


def _approval(row: sqlite3.Row) -> Approval:
    data = dict(row)
    data["payload"] = json.loads(data["payload"])
    return Approval(**data)
