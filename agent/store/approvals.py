"""The approval queue: risky actions waiting for a human, and their decisions.

Every driver (CLI, REST, web page, Slack) reads and decides approvals here. A decision
is recorded once: the UPDATE only matches a pending row, so a second decision, or one
after expiry, is refused.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Mapping
from typing import Any, Literal

from pydantic import BaseModel

from mlpilot.agent.store.database import Conflict, Database, StoreError, read_json

ApprovalStatus = Literal["pending", "approved", "rejected", "expired"]


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


class ApprovalQueue(Database):
    """Approvals (a part of `Store`): ask, list, decide once, expire."""

    def request_approval(self, job_id: str, interrupt_id: str, action: str, reason: str,
                         payload: dict[str, Any], ttl_s: float | None = None) -> Approval:
        """Queue an approval for an interrupt; asking twice for one interrupt returns the first."""
        now = time.time()
        with self._connect() as db:
            db.execute(
                "INSERT INTO approvals (id, job_id, interrupt_id, action, reason, payload,"
                " status, created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?, 'pending', ?, ?)"
                " ON CONFLICT (job_id, interrupt_id) DO NOTHING",
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
        where, args = _filters(status, job_id)
        with self._connect() as db:
            rows = db.execute(f"SELECT a.* FROM approvals a WHERE 1=1{where} ORDER BY a.created_at",
                              args).fetchall()
        return [_approval(r) for r in rows]

    def approvals_version(self, status: str | None = "pending", job_id: str | None = None
                          ) -> tuple[tuple[Any, ...], ...]:
        """What `approvals(status, job_id)` and the descriptions of its approvals depend on:
        each approval's id and decision, and when its job last changed. A listing kept with
        it is current while it stays the same; it is far cheaper to read than the listing."""
        self.expire_overdue()
        where, args = _filters(status, job_id)
        with self._connect() as db:
            rows = db.execute("SELECT a.id, a.status, a.decided_at, j.updated_at FROM approvals a "
                              f"LEFT JOIN jobs j ON j.id = a.job_id WHERE 1=1{where} "
                              "ORDER BY a.created_at", args).fetchall()
        return tuple(tuple(r) for r in rows)

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


def _approval(row: Mapping[str, Any]) -> Approval:
    data = dict(row)
    data["payload"] = read_json(data["payload"])
    return Approval(**data)


def _filters(status: str | None, job_id: str | None) -> tuple[str, list[str]]:
    """The WHERE conditions (on `approvals a`) that pick approvals of a status and a job."""
    where, args = "", []
    if status:
        where += " AND a.status = ?"
        args.append(status)
    if job_id:
        where += " AND a.job_id = ?"
        args.append(job_id)
    return where, args
