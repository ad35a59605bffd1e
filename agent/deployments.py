"""Deployments: which registered version answers a model's predictions, its challenger,
rollback, and the prediction log every prediction path writes.

    deployments = Deployments(settings)
    deployments.deploy("churn", "3", by="olivia")                    # v3 is champion
    deployments.deploy("churn", "4", mode="canary", share=0.1, by="olivia")
    made = deployments.predict("churn", rows, entity_ids=ids)         # logged, routed
    deployments.rollback("churn", by="olivia")                        # v3 -> the one before

The store (`agent/store/deployments.py`) says what answers, and audits each change; the
registry's `champion` alias follows it, so MLflow users and older clients see the same.
A model that was registered but never deployed answers from its `champion` alias.

Routing, prediction and the log are `agent/routing.py`'s (`PredictionRouting`).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from mlpilot.agent.routing import (  # noqa: F401 - re-exported: callers import them from here
    NotLoaded,
    PredictionRouting,
    Routed,
    RowsRequest,
    _Shadows,
    canary_bucket,
)
from mlpilot.agent.settings import Settings
from mlpilot.agent.store import Conflict, Deployment, Store
from mlpilot.agent.store.predictions import PredictionLog
from mlpilot.engine.serving import ModelNotFound, ModelServer

DeployMode = Literal["champion", "shadow", "canary"]
#: The registry alias a challenger carries.
CHALLENGER_ALIAS = "challenger"


@dataclass(frozen=True)
class DeployResult:
    """A deployment after a change, the version it concerned, and how long it took."""

    deployment: Deployment
    version: str
    previous: str | None
    seconds: float
    changed: bool = True


class Deployments(PredictionRouting):
    """Deploy, route, log and roll back registered model versions of one installation.

    Args:
        settings: the installation's settings.
        server: the model server (default: one on the settings' registry, made on first use).
        store: the job/approval/deployment store (default: the settings' state file).
        log: the prediction log (default: the settings' prediction file).
    """

    def __init__(self, settings: Settings, *, server: ModelServer | Callable[[], ModelServer]
                 | None = None, store: Store | None = None, log: PredictionLog | None = None):
        self.settings = settings
        self.store = store or Store(settings.state_db)
        self._own_log = log is None
        self.log = log or PredictionLog(settings.prediction_db, settings.prediction_retention_days,
                                        settings.prediction_log_sample)
        self._server = server
        self._server_lock = threading.Lock()
        self._shadows = _Shadows()
        self._aliases: dict[str, tuple[str, float]] = {}

    @property
    def server(self) -> ModelServer:
        """The model server (made on first use: opening MLflow takes a moment)."""
        with self._server_lock:
            if self._server is None:
                from mlpilot.engine.tracking import Tracker

                location = (None if self.settings.mlflow_tracking_uri
                            else Path(self.settings.artifact_dir).as_uri())
                self._server = ModelServer(Tracker(self.settings.tracking_uri,
                                                   artifact_location=location))
            elif not isinstance(self._server, ModelServer):
                self._server = self._server()
            return self._server

    # -- what answers ---------------------------------------------------------------------

    def resolve(self, name: str, ref: str | None = None) -> str:
        """A version number from a reference: a number, an alias, or None (the newest)."""
        versions = self.server.versions(name)
        if ref is None or ref == "latest":
            return versions[-1]
        if ref.isdigit():
            if ref not in versions:
                raise ModelNotFound(f"model {name!r} has no version {ref}: it has "
                                    f"{', '.join(versions)}")
            return ref
        return self.server.resolve(name, ref)

    def champion(self, name: str) -> str:
        """The version that answers: the deployment's champion, else the `champion` alias."""
        return self._champion(name, self.store.deployment(name))

    def _champion(self, name: str, found: Deployment | None, load: bool = True) -> str:
        if found is not None and found.champion is not None:
            return found.champion
        # Never deployed: the registry's alias, read at most once a second (an MLflow
        # lookup costs more than a prediction).
        now = time.monotonic()
        kept = self._aliases.get(name)
        if kept is None or now - kept[1] > 1.0:
            if not load:
                raise NotLoaded(f"the champion of {name!r} is read from the registry first")
            kept = self._aliases[name] = (self.server.resolve(name, "champion"), now)
        return kept[0]

    def status(self, name: str) -> Deployment:
        """The model's deployment (one made from the registry's alias if never deployed)."""
        found = self.store.deployment(name)
        if found is not None:
            return found
        version = self.server.resolve(name, "champion")
        return Deployment(name=name, champion=version, lineage=[version], updated_at=0.0)

    def deploy(self, name: str, ref: str | None = None, *, by: str, mode: DeployMode = "champion",
               share: float = 0.1, reason: str | None = None, key: str | None = None
               ) -> DeployResult:
        """Serve a version: as champion, or as the challenger in shadow or canary mode.

        The version is loaded before it takes traffic, so its first request pays no load.
        `key` makes the change idempotent (a repeat with the same key changes nothing).
        """
        started = time.perf_counter()
        version = self.resolve(name, ref)
        if mode == "canary" and not 0 < share < 1:
            raise ValueError(f"canary share {share} is not between 0 and 1: e.g. 0.1 for 10%")
        self.server.model(name, version)  # loaded (and readable) before it answers
        known = self._alias(name, "champion")
        if mode == "champion":
            deployment, changed = self.store.change_deployment(
                name, "deploy", by=by, reason=reason, key=key, champion=version,
                known_champion=known)
            self.server.set_alias(name, "champion", version)
            if deployment.challenger is None:
                self.server.drop_alias(name, CHALLENGER_ALIAS)
        else:
            if known is None and self.store.deployment(name) is None:
                raise Conflict(f"model {name!r} has no champion for a {mode} to run beside: "
                               f"deploy one first (`mlpilot deploy {name}@VERSION`)")
            if version == self.champion(name):
                raise Conflict(f"version {version} of {name!r} is the champion already: "
                               "pick another version as the challenger")
            deployment, changed = self.store.change_deployment(
                name, mode, by=by, reason=reason, key=key, challenger=version, mode=mode,
                share=share if mode == "canary" else None, known_champion=known)
            self.server.set_alias(name, CHALLENGER_ALIAS, version)
        previous = known if mode == "champion" else None
        return DeployResult(deployment, version, previous, time.perf_counter() - started, changed)

    def rollback(self, name: str, *, by: str, reason: str | None = None) -> DeployResult:
        """Put the previous champion back (audited); Conflict if there was none."""
        started = time.perf_counter()
        before = self.store.deployment(name)
        if before is None:
            raise Conflict(f"model {name!r} was never deployed here, so there is no earlier "
                           f"champion: deploy one with `mlpilot deploy {name}@VERSION`")
        deployment, _ = self.store.change_deployment(name, "rollback", by=by, reason=reason,
                                                     rollback=True)
        self.server.set_alias(name, "champion", deployment.champion)
        return DeployResult(deployment, deployment.champion or "", before.champion,
                            time.perf_counter() - started)

    def end_challenger(self, name: str, *, by: str, reason: str | None = None) -> Deployment:
        """Stop the challenger (its traffic goes back to the champion)."""
        deployment, _ = self.store.change_deployment(name, "end_challenger", by=by,
                                                     reason=reason, clear_challenger=True)
        self.server.drop_alias(name, CHALLENGER_ALIAS)
        return deployment

    def _alias(self, name: str, alias: str) -> str | None:
        try:
            return self.server.resolve(name, alias)
        except ModelNotFound:
            return None

    def close(self) -> None:
        """Finish the shadow scoring and stop its thread; write every logged row (and stop
        the log's writer when this object opened the log)."""
        self._shadows.pool.shutdown(wait=True)
        if self._own_log:
            self.log.close()
        else:
            self.log.flush()
