"""Deployments (a part of `Store`): which version of a model answers, its challenger, and
an audit trail of every change.

A deployment keeps its champions' lineage (the versions that were champion, in order), so
a rollback pops the current one and puts the one before it back without searching the
history. Every change is one row of `deployment_history`, written in the same transaction
as the change; a change made for an approval carries its id as `key`, so applying the
same decision twice (a crash, two drivers) changes nothing the second time.
"""

from __future__ import annotations

import json
import time
from typing import Any, Literal

from pydantic import BaseModel

from mlpilot.agent.store.database import Conflict, Database, StoreError

Mode = Literal["shadow", "canary"]
#: Approval actions about deployments rather than a job's graph (`agent/promotion.py`).
PROMOTE, RETRAIN = "promote_challenger", "retrain"
DEPLOYMENT_ACTIONS = frozenset({PROMOTE, RETRAIN})
_PREFIX = "deployment:"


def approval_job_id(name: str) -> str:
    """The job id a model's deployment approvals are queued under."""
    return f"{_PREFIX}{name}"


def is_deployment_approval(approval: Any) -> bool:
    """Whether an approval is about a deployment (no job graph waits on it)."""
    return approval.job_id.startswith(_PREFIX) and approval.action in DEPLOYMENT_ACTIONS


class Deployment(BaseModel):
    """What answers a model's predictions."""

    name: str
    champion: str | None
    lineage: list[str]
    challenger: str | None = None
    mode: Mode | None = None
    share: float | None = None
    updated_at: float


class DeploymentChange(BaseModel):
    """One audited change of a deployment."""

    id: int
    name: str
    action: str
    version: str | None
    previous: str | None
    by: str | None
    reason: str | None
    key: str | None
    created_at: float


class DeploymentLog(Database):
    """Deployments and their history."""

    def deployment(self, name: str) -> Deployment | None:
        """The model's deployment, or None if it was never deployed."""
        with self._connect() as db:
            row = db.execute("SELECT * FROM deployments WHERE name = ?", (name,)).fetchone()
        return None if row is None else _deployment(row)

    def deployment_list(self) -> list[Deployment]:
        """Every deployment, by name."""
        with self._connect() as db:
            rows = db.execute("SELECT * FROM deployments ORDER BY name").fetchall()
        return [_deployment(r) for r in rows]

    def history(self, name: str, limit: int = 50) -> list[DeploymentChange]:
        """The deployment's changes, newest first."""
        with self._connect() as db:
            rows = db.execute("SELECT * FROM deployment_history WHERE name = ? "
                              "ORDER BY id DESC LIMIT ?", (name, limit)).fetchall()
        return [DeploymentChange(**dict(r)) for r in rows]

    def change_deployment(self, name: str, action: str, *, by: str | None,
                          reason: str | None = None, key: str | None = None,
                          champion: str | None = None, rollback: bool = False,
                          challenger: str | None = None, mode: Mode | None = None,
                          share: float | None = None, clear_challenger: bool = False,
                          known_champion: str | None = None) -> tuple[Deployment, bool]:
        """Change a deployment and record why, atomically; returns it and whether it changed
        (False when `key` was already applied).

        `champion` makes a version champion (pushed on the lineage; `known_champion` seeds
        an empty lineage with the champion the registry had before); `rollback` pops the
        lineage; `challenger` with `mode` and `share` sets the challenger;
        `clear_challenger` removes it. A rollback with no earlier champion is a Conflict.
        """
        now = time.time()
        with self._connect() as db, db.transaction("deployments"):
            if key is not None and db.execute("SELECT 1 FROM deployment_history WHERE key = ?",
                                              (key,)).fetchone():
                applied = True
            else:
                applied = False
                updated = self._change(db, name, action, now, by=by, reason=reason, key=key,
                                       champion=champion, rollback=rollback,
                                       challenger=challenger, mode=mode, share=share,
                                       clear_challenger=clear_challenger,
                                       known_champion=known_champion)
        if applied:
            return self._existing(name), False
        return updated, True

    def _change(self, db: Any, name: str, action: str, now: float, *, by: str | None,
                reason: str | None, key: str | None, champion: str | None, rollback: bool,
                challenger: str | None, mode: Mode | None, share: float | None,
                clear_challenger: bool, known_champion: str | None) -> Deployment:
        """`change_deployment`'s writes, inside its transaction."""
        row = db.execute("SELECT * FROM deployments WHERE name = ?", (name,)).fetchone()
        current = _deployment(row) if row else Deployment(
            name=name, champion=known_champion,
            lineage=[known_champion] if known_champion else [], updated_at=now)
        lineage, previous = list(current.lineage), current.champion
        version = champion
        if rollback:
            if len(lineage) < 2:
                raise Conflict(f"model {name!r} has no earlier champion to roll back to: "
                               f"deploy a version with `mlpilot deploy {name}@VERSION`")
            lineage.pop()
            version = lineage[-1]
        elif champion is not None and champion != previous:
            lineage.append(champion)
        updated = current.model_copy(update={
            "champion": lineage[-1] if lineage else None, "lineage": lineage,
            "updated_at": now})
        if challenger is not None:
            updated = updated.model_copy(update={"challenger": challenger, "mode": mode,
                                                 "share": share})
        if clear_challenger or (updated.challenger is not None
                                and updated.challenger == updated.champion):
            updated = updated.model_copy(update={"challenger": None, "mode": None,
                                                 "share": None})
        db.execute("INSERT INTO deployments (name, champion, lineage, challenger, mode, share,"
                   " updated_at) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (name) DO UPDATE SET"
                   " champion = excluded.champion, lineage = excluded.lineage,"
                   " challenger = excluded.challenger, mode = excluded.mode,"
                   " share = excluded.share, updated_at = excluded.updated_at",
                   (name, updated.champion, json.dumps(lineage), updated.challenger,
                    updated.mode, updated.share, now))
        db.execute("INSERT INTO deployment_history (name, action, version, previous, by, "
                   "reason, key, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                   (name, action, version if version is not None else challenger,
                    previous, by, reason, key, now))
        return updated

    def _existing(self, name: str) -> Deployment:
        found = self.deployment(name)
        if found is None:
            raise StoreError(f"model {name!r} is not deployed: see `mlpilot deployments`")
        return found


def _deployment(row: Any) -> Deployment:
    data = dict(row)
    data["lineage"] = json.loads(data["lineage"])
    return Deployment(**data)
