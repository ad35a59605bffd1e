"""The job and approval queue: one database (a SQLite file, or PostgreSQL) shared with the
LangGraph checkpoints.

    store = Store(settings.state_db)
    job = store.create_job({"request": "..."}, queued=True)     # jobs.py
    store.request_approval(job.id, "i-1", "train", "why", {})  # approvals.py
    store.add_event(job.id, "train", "epoch 3")                 # events.py
    store.change_deployment("churn", "deploy", by="olivia", champion="3")  # deployments.py

The prediction log has a file of its own (`predictions.py`).

Every driver (CLI, REST, web page, Slack) and every worker process reads and writes the
same database (`database.py`), so a decision made anywhere, or a server restart, is seen by all.
"""

from __future__ import annotations

import time
from typing import Any

from mlpilot.agent.store.approvals import Approval, ApprovalQueue, ApprovalStatus
from mlpilot.agent.store.database import Conflict, StoreError, finite, read_json
from mlpilot.agent.store.deployments import Deployment, DeploymentChange, DeploymentLog
from mlpilot.agent.store.events import Event, EventLog
from mlpilot.agent.store.jobs import END_STATUSES, Job, JobQueue, SubmissionKey, new_job_id
from mlpilot.agent.store.leases import holder_alive

__all__ = ["END_STATUSES", "Approval", "ApprovalStatus", "Conflict", "Deployment",
           "DeploymentChange", "Event", "Job", "Store",
           "StoreError", "SubmissionKey", "finite", "new_job_id", "read_json"]


class Store(JobQueue, ApprovalQueue, EventLog, DeploymentLog):
    """Jobs, approvals, progress events and deployments in SQLite or PostgreSQL; safe to use
    from several
    processes."""

    def requeue_decided(self, job_id: str | None = None, grace_s: float = 0.0) -> list[str]:
        """Queue again the jobs waiting for approval whose approvals are all decided (or
        expired), that no process is driving; `grace_s` leaves a process that just decided
        (the CLI resumes a job itself) time to claim it first. Returns their ids."""
        self.expire_overdue()
        query = ("SELECT j.id, j.runner_pid, j.runner_node, j.lease_until FROM jobs j WHERE j.status = 'waiting_approval' "
                 "AND NOT EXISTS (SELECT 1 FROM approvals a WHERE a.job_id = j.id "
                 "AND (a.status = 'pending' OR a.decided_at > ?)) "
                 "AND EXISTS (SELECT 1 FROM approvals a WHERE a.job_id = j.id)")
        args: list[Any] = [time.time() - grace_s]
        if job_id:
            query += " AND j.id = ?"
            args.append(job_id)
        with self._connect() as db:
            rows = db.execute(query, args).fetchall()
            ready = [r["id"] for r in rows
                     if not holder_alive(r["runner_node"], r["runner_pid"], r["lease_until"])]
            for ready_id in ready:
                db.execute("UPDATE jobs SET status = 'queued', updated_at = ? "
                           "WHERE id = ? AND status = 'waiting_approval'", (time.time(), ready_id))
        return ready
