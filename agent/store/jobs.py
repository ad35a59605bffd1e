"""Jobs and the server's queue.

A job submitted to the server is "queued" until a worker takes it (atomically, so two
workers never take one job); a process that drives a job claims it (its node, its pid and
a lease it renews: `leases.py`), so a crashed runner's jobs, on any node, can be queued
again; a cancel request is a flag the worker polls.
"""

from __future__ import annotations

import json
import os
import time
import uuid
from collections.abc import Mapping
from typing import Any, NamedTuple

from pydantic import BaseModel

from mlpilot.agent.store.database import Conflict, Database, StoreError, finite, read_json
from mlpilot.agent.store.leases import (
    LEASE_S,
    holder_alive,
    is_me,
    keep_leases,
    this_node,
)

#: Job statuses after which nothing more happens to a job.
END_STATUSES = frozenset({"succeeded", "failed", "rejected", "cancelled", "needs_input"})


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
    runner_node: str | None = None
    lease_until: float | None = None
    options: dict[str, Any] = {}
    cancel_requested: bool = False

    @property
    def ended(self) -> bool:
        """Whether nothing more will happen to this job."""
        return self.status in END_STATUSES


class SubmissionKey(NamedTuple):
    """An idempotency key (`Idempotency-Key`), the caller it belongs to, and a digest of
    the submission it was first used with."""

    scope: str
    key: str
    digest: str


class JobQueue(Database):
    """Jobs (a part of `Store`): create, read and update them, and the server's queue."""

    def create_job(self, request: dict[str, Any], job_id: str | None = None, *,
                   queued: bool = False, options: dict[str, Any] | None = None) -> Job:
        """Record a new job and return it: running in this process, or queued for a worker.

        `options` are how to start it (e.g. `auto_approve`), kept for whoever takes it.
        """
        now = time.time()
        job_id = job_id or new_job_id()
        mine = (None, None, None) if queued else (os.getpid(), this_node(), now + LEASE_S)
        with self._connect() as db:
            db.execute(
                "INSERT INTO jobs (id, created_at, updated_at, status, request, runner_pid, "
                "runner_node, lease_until, options) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (job_id, now, now, "queued" if queued else "running",
                 json.dumps(request, default=str), *mine, json.dumps(options or {})),
            )
        if not queued:
            keep_leases(self)
        return self.job(job_id)

    def create_job_once(self, request: dict[str, Any], key: SubmissionKey, *,
                        task: dict[str, Any] | None = None,
                        options: dict[str, Any] | None = None) -> tuple[Job, bool]:
        """Queue a job for an idempotency key, unless the key already has one: returns the
        job and whether it is new. Key and job are written in one transaction, so two
        submissions racing with one key make one job."""
        now, job_id = time.time(), new_job_id()
        with self._connect() as db, db.transaction("jobs"):
            row = db.execute("SELECT job_id FROM submissions WHERE scope = ? AND key = ?",
                             (key.scope, key.key)).fetchone()
            if row is not None:
                return self.job(row["job_id"]), False
            db.execute(
                "INSERT INTO jobs (id, created_at, updated_at, status, request, runner_pid, "
                "options) VALUES (?, ?, ?, 'queued', ?, NULL, ?)",
                (job_id, now, now, json.dumps(request, default=str), json.dumps(options or {})))
            db.execute("INSERT INTO submissions (scope, key, digest, job_id, task, created_at) "
                       "VALUES (?, ?, ?, ?, ?, ?)", (key.scope, key.key, key.digest, job_id,
                                                     json.dumps(task, default=str), now))
        return self.job(job_id), True

    def submitted(self, scope: str, key: str) -> tuple[str, Job, dict[str, Any] | None] | None:
        """The digest, job and task recorded under an idempotency key, or None."""
        with self._connect() as db:
            row = db.execute("SELECT digest, job_id, task FROM submissions WHERE scope = ? "
                             "AND key = ?", (scope, key)).fetchone()
        if row is None:
            return None
        try:
            job = self.job(row["job_id"])
        except StoreError:  # its job was deleted: the key is free again
            return None
        return row["digest"], job, read_json(row["task"]) if row["task"] else None

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
        result = read_json(row["result"]) if row["result"] else {}
        return {"request": read_json(row["request"]), "task": result.get("task"),
                "config": result.get("config")}

    def updated_at(self, job_id: str) -> float | None:
        """When the job last changed (status, result or error); None if there is no such job."""
        with self._connect() as db:
            row = db.execute("SELECT updated_at FROM jobs WHERE id = ?", (job_id,)).fetchone()
        return None if row is None else row[0]

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
            db.execute("DELETE FROM submissions WHERE job_id = ?", (job_id,))
            db.execute("DELETE FROM jobs WHERE id = ?", (job_id,))

    # -- the server's queue ------------------------------------------------------------

    def take_queued(self) -> Job | None:
        """Take the oldest queued job for this process (now "running"), or None if there is none."""
        with self._connect() as db, db.transaction("jobs"):
            row = db.execute("SELECT id FROM jobs WHERE status = 'queued' "
                             "ORDER BY created_at, id LIMIT 1").fetchone()
            if row is None:
                return None
            now = time.time()
            db.execute("UPDATE jobs SET status = 'running', runner_pid = ?, runner_node = ?, "
                       "lease_until = ?, updated_at = ? WHERE id = ?",
                       (os.getpid(), this_node(), now + LEASE_S, now, row["id"]))
        keep_leases(self)
        return self.job(row["id"])

    def requeue_orphans(self) -> list[str]:
        """Queue again the running jobs whose holder is gone (a crash, a killed server): on
        this node a dead process, on another one an ended lease.

        A job held by another live process is left alone; one marked with this very
        process id is stale (nothing runs yet when a server starts). Returns their ids.
        """
        return self._requeue(lambda r: is_me(r["runner_node"], r["runner_pid"])
                             or not holder_alive(r["runner_node"], r["runner_pid"],
                                                 r["lease_until"]))

    def requeue_expired(self) -> list[str]:
        """Queue again the running jobs whose lease ended and whose holder is gone (a node
        that died with its jobs); the sweeper calls it while the server runs. Returns
        their ids."""
        now = time.time()
        return self._requeue(lambda r: r["lease_until"] is not None and r["lease_until"] <= now
                             and not holder_alive(r["runner_node"], r["runner_pid"],
                                                  r["lease_until"], now))

    def _requeue(self, gone: Any) -> list[str]:
        with self._connect() as db:
            rows = db.execute("SELECT id, runner_pid, runner_node, lease_until FROM jobs "
                              "WHERE status = 'running'").fetchall()
            orphans = [r for r in rows if gone(r)]
            for row in orphans:  # unless its holder renewed or let go meanwhile
                same, args = [], []
                for column in ("runner_pid", "lease_until"):
                    same.append(f"{column} IS NULL" if row[column] is None else f"{column} = ?")
                    args += [] if row[column] is None else [row[column]]
                db.execute("UPDATE jobs SET status = 'queued', runner_pid = NULL, "
                           "runner_node = NULL, lease_until = NULL, updated_at = ? "
                           f"WHERE id = ? AND status = 'running' AND {' AND '.join(same)}",
                           (time.time(), row["id"], *args))
        return [row["id"] for row in orphans]

    def requeue_held_by(self, pid: int, node: str | None = None) -> list[str]:
        """Queue again the running jobs of one dead runner (a Ray actor on any machine):
        its process id on `node` (any node when None); returns their ids."""
        query, args = "SELECT id FROM jobs WHERE status = 'running' AND runner_pid = ?", [pid]
        if node is not None:
            query += " AND runner_node = ?"
            args.append(node)
        with self._connect() as db:
            rows = db.execute(query, args).fetchall()
            for row in rows:
                db.execute("UPDATE jobs SET status = 'queued', runner_pid = NULL, "
                           "runner_node = NULL, lease_until = NULL, updated_at = ? "
                           "WHERE id = ? AND status = 'running'", (time.time(), row["id"]))
        return [row["id"] for row in rows]

    def renew_leases(self) -> int:
        """Extend the leases of the jobs this process holds; returns how many (the lease
        keeper of `leases.py` calls it)."""
        with self._connect() as db:
            return db.execute("UPDATE jobs SET lease_until = ? WHERE runner_pid = ? AND "
                              "runner_node = ?", (time.time() + LEASE_S, os.getpid(),
                                                  this_node())).rowcount

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

    def runner_control(self, job_id: str) -> tuple[bool, bool]:
        """(whether someone asked the job to stop, whether this process still holds it):
        what a runner's stop check reads (a holder whose lease ended may have lost the job
        to a runner on another node)."""
        with self._connect() as db:
            row = db.execute("SELECT cancel_requested, runner_pid, runner_node FROM jobs "
                             "WHERE id = ?", (job_id,)).fetchone()
        if row is None:
            return False, False
        return bool(row["cancel_requested"]), is_me(row["runner_node"], row["runner_pid"])

    def claim(self, job_id: str) -> bool:
        """Make this process the job's runner unless another live process is (on this node:
        its process runs; on another: its lease has not ended)."""
        with self._connect() as db, db.transaction("jobs"):
            row = db.execute("SELECT runner_pid, runner_node, lease_until FROM jobs WHERE id = ?",
                             (job_id,)).fetchone()
            if row is None:
                raise StoreError(f"no run {job_id!r}: see `mlpilot runs list`")
            if not is_me(row["runner_node"], row["runner_pid"]) and holder_alive(
                    row["runner_node"], row["runner_pid"], row["lease_until"]):
                return False
            db.execute("UPDATE jobs SET runner_pid = ?, runner_node = ?, lease_until = ? "
                       "WHERE id = ?", (os.getpid(), this_node(), time.time() + LEASE_S, job_id))
        keep_leases(self)
        return True

    def release(self, job_id: str) -> None:
        """Stop being the job's runner (so another process may resume it)."""
        with self._connect() as db:
            db.execute("UPDATE jobs SET runner_pid = NULL, runner_node = NULL, lease_until = NULL "
                       "WHERE id = ? AND runner_pid = ? AND (runner_node IS NULL OR "
                       "runner_node = ?)", (job_id, os.getpid(), this_node()))

    def runner_alive(self, job_id: str) -> bool:
        """Whether another live process is running or waiting on this job."""
        job = self.job(job_id)
        return not is_me(job.runner_node, job.runner_pid) and holder_alive(
            job.runner_node, job.runner_pid, job.lease_until)


def new_job_id() -> str:
    """A short, sortable, unique run id."""
    return time.strftime("run-%Y%m%d-%H%M%S-") + uuid.uuid4().hex[:6]


def _job(row: Mapping[str, Any]) -> Job:
    data = dict(row)
    data["request"] = read_json(data["request"])
    data["result"] = read_json(data["result"]) if data["result"] else None
    data["options"] = read_json(data.get("options") or "{}")
    data["cancel_requested"] = bool(data.get("cancel_requested"))
    return Job(**data)
