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

Routing: the champion answers. A challenger in **canary** mode answers the share of rows
whose id (the caller's entity id, else the request id) hashes below `share`, so the same
entity always meets the same version. A challenger in **shadow** mode scores every row
after the champion answered (in a background thread); its outputs are logged, not returned.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from mlpilot.agent.settings import Settings
from mlpilot.agent.store import Conflict, Deployment, Store
from mlpilot.agent.store.predictions import LoggedPrediction, PredictionLog, ids_for
from mlpilot.engine.encoding import RawRows
from mlpilot.engine.input_schema import RowError, RowProblem, input_columns, rows_columns
from mlpilot.engine.serving import ModelNotFound, ModelServer, Prediction

logger = logging.getLogger(__name__)
DeployMode = Literal["champion", "shadow", "canary"]
#: The registry alias a challenger carries.
CHALLENGER_ALIAS = "challenger"


class NotLoaded(RuntimeError):
    """`predict(load=False)` would first have to load a version or ask the registry."""


@dataclass(frozen=True)
class Routed:
    """Predictions of one request: which version answered each row, and the request id."""

    name: str
    request_id: str
    ids: list[str]
    versions: list[str]
    predictions: list[Any]
    probabilities: list[list[float]] | None
    classes: list[Any] | None

    @property
    def version(self) -> str:
        """The version that answered (versions joined by commas when a canary split them)."""
        return ",".join(sorted(set(self.versions), key=int))


@dataclass(frozen=True)
class DeployResult:
    """A deployment after a change, the version it concerned, and how long it took."""

    deployment: Deployment
    version: str
    previous: str | None
    seconds: float
    changed: bool = True


@dataclass
class _Shadows:
    """Shadow scoring in one background thread (the caller never waits for it)."""

    pool: ThreadPoolExecutor = field(default_factory=lambda: ThreadPoolExecutor(1))
    pending: list[Future] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


def canary_bucket(key: str) -> float:
    """Where an id falls in [0, 1): a canary of share s answers the ids below s."""
    return int(hashlib.sha256(key.encode()).hexdigest()[:8], 16) / 2**32


class Deployments:
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

    # -- predictions ----------------------------------------------------------------------

    def predict(self, name: str, rows: list[dict[str, Any]], *, request_id: str | None = None,
                entity_ids: list[Any] | None = None, allow_missing: bool = False,
                load: bool = True) -> Routed:
        """Predict with the deployment (routing as in the module's doc) and log every row.

        Rows are checked against the champion's training schema first (`RowError` names
        each bad row and column); `entity_ids`, one per row, key canary routing and feedback.
        With `load=False`, raises `NotLoaded` before doing anything when a version that may
        answer is not in memory yet or the registry must be asked (an event loop can then
        run the call in a thread instead).
        """
        if entity_ids is not None and len(entity_ids) != len(rows):
            raise ValueError(f"{len(entity_ids)} ids for {len(rows)} rows: send one id per row")
        deployment = self.store.deployment(name)
        champion = self._champion(name, deployment, load)
        if not load:
            answering = [champion] + ([deployment.challenger] if deployment is not None
                                      and deployment.mode == "canary" and deployment.challenger
                                      else [])
            if not all(self.server.loaded(name, v) for v in answering):
                raise NotLoaded(f"a version of {name!r} that may answer is not loaded yet")
        request_id = request_id or uuid.uuid4().hex
        ids = ids_for(request_id, len(rows), entity_ids)
        frame = self.frame(name, champion, rows, allow_missing=allow_missing)
        canary = (deployment is not None and deployment.mode == "canary"
                  and deployment.challenger is not None)
        to_challenger = [canary and canary_bucket(i) < (deployment.share or 0) for i in ids]
        versions = [deployment.challenger if c else champion for c in to_challenger]
        made: list[Prediction | None] = []
        outputs: list[Any] = [None] * len(rows)
        proba: list[Any] = [None] * len(rows)
        logged: list[LoggedPrediction] = []
        for version in dict.fromkeys(versions):
            where = [i for i, v in enumerate(versions) if v == version]
            if version == champion:
                part = frame if len(where) == len(rows) else frame.take(where)
            else:
                part = self._part(name, version, rows, where, allow_missing)
            started = time.perf_counter()
            prediction = self.server.predict_frame(name, version, part)
            latency = (time.perf_counter() - started) * 1000
            made.append(prediction)
            for j, i in enumerate(where):
                outputs[i] = prediction.predictions[j]
                if prediction.probabilities is not None:
                    proba[i] = prediction.probabilities[j]
                logged.append(LoggedPrediction(ids[i], request_id, name, version, "answer",
                                               latency, rows[i], prediction.predictions[j]))
        self.log.append(logged)
        if deployment is not None and deployment.mode == "shadow" and deployment.challenger:
            self._shadow(name, deployment.challenger, rows, ids, request_id, allow_missing)
        classes = next((m.classes for m in made if m and m.classes is not None), None)
        return Routed(name, request_id, ids, versions, outputs,
                      None if any(p is None for p in proba) else proba, classes)

    def frame(self, name: str, version: str, rows: list[dict[str, Any]], *,
              allow_missing: bool = False) -> RawRows:
        """Rows checked against a version's training schema, as the values it predicts on."""
        return rows_columns(rows, input_columns(self.server.model(name, version)),
                            allow_missing=allow_missing)

    def _part(self, name: str, version: str, rows: list[dict[str, Any]], where: list[int],
              allow_missing: bool) -> RawRows:
        """The values of some rows for a version; a problem names the row of the request."""
        try:
            return self.frame(name, version, [rows[i] for i in where], allow_missing=allow_missing)
        except RowError as err:
            raise RowError([RowProblem(where[p.row], p.column, p.message)
                            for p in err.problems]) from None

    def _shadow(self, name: str, version: str, rows: list[dict[str, Any]], ids: list[str],
                request_id: str, allow_missing: bool) -> None:
        def score() -> None:
            try:
                started = time.perf_counter()
                made = self.server.predict_version(name, version, rows,
                                                   allow_missing=allow_missing)
                latency = (time.perf_counter() - started) * 1000
                self.log.append([LoggedPrediction(i, request_id, name, version, "shadow", latency,
                                                  row, out)
                                 for i, row, out in zip(ids, rows, made.predictions, strict=True)])
            except Exception as err:  # noqa: BLE001 - a shadow's fault never reaches the caller
                logger.warning("shadow %s v%s failed on request %s: %s", name, version,
                               request_id, err)

        with self._shadows.lock:
            self._shadows.pending = [f for f in self._shadows.pending if not f.done()]
            self._shadows.pending.append(self._shadows.pool.submit(score))

    def drain(self, timeout: float = 30.0) -> None:
        """Wait for the shadow scoring queued so far (tests, shutdown)."""
        with self._shadows.lock:
            pending = list(self._shadows.pending)
        for future in pending:
            future.result(timeout=timeout)

    def feedback(self, truths: dict[str, Any], *, by: str | None = None) -> int:
        """Record true values by prediction id; returns how many ids had a prediction."""
        return self.log.add_feedback(truths, by=by)

    def close(self) -> None:
        """Finish the shadow scoring and stop its thread; write every logged row (and stop
        the log's writer when this object opened the log)."""
        self._shadows.pool.shutdown(wait=True)
        if self._own_log:
            self.log.close()
        else:
            self.log.flush()
