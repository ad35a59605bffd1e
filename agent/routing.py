"""Which version answers each predicted row, and the prediction log every prediction writes:
the prediction half of `Deployments` (`agent/deployments.py`).

    made = deployments.predict("churn", rows, entity_ids=ids)             # one request
    outcomes = deployments.predict_many("churn", [RowsRequest(rows), ...])  # several at once

Routing: the champion answers. A challenger in **canary** mode answers the share of rows
whose id (the caller's entity id, else the request id) hashes below `share`, so the same
entity always meets the same version. A challenger in **shadow** mode scores every row
after the champion answered (in a background thread); its outputs are logged, not returned.

`predict_many` answers several requests with one pass of each version over all their rows
(a server gathers the single-row requests that arrive together): per row, a model's cost
is mostly per call, not per row. Each request keeps its own outcome: its rows are checked
on their own, and a request with a bad row gets its `RowError` while the others are answered.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from mlpilot.agent.store.predictions import LoggedPrediction, PredictionLog, ids_for
from mlpilot.engine.encoding import RawRows
from mlpilot.engine.input_schema import RowError, RowProblem, rows_columns
from mlpilot.engine.serving import Prediction

if TYPE_CHECKING:
    from mlpilot.agent.store import Deployment, Store
    from mlpilot.engine.serving import ModelServer

logger = logging.getLogger(__name__)


class NotLoaded(RuntimeError):
    """`predict(load=False)` would first have to load a version or ask the registry."""


@dataclass(frozen=True)
class RowsRequest:
    """One request's rows for `predict_many`: `entity_ids` (one per row) key canary routing
    and feedback; `allow_missing` lets a row leave any column empty."""

    rows: list[dict[str, Any]]
    request_id: str | None = None
    entity_ids: list[Any] | None = None
    allow_missing: bool = False


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


@dataclass
class _Shadows:
    """Shadow scoring in one background thread (the caller never waits for it)."""

    pool: ThreadPoolExecutor = field(default_factory=lambda: ThreadPoolExecutor(1))
    pending: list[Future] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


@dataclass
class _Accepted:
    """A request whose rows fit: its ids, the version of each row, and its checked values
    (for the champion, and for the canary's rows)."""

    index: int
    request: RowsRequest
    request_id: str
    ids: list[str]
    versions: list[str]
    frame: RawRows
    canary: RawRows | None


def canary_bucket(key: str) -> float:
    """Where an id falls in [0, 1): a canary of share s answers the ids below s."""
    return int(hashlib.sha256(key.encode()).hexdigest()[:8], 16) / 2**32


class PredictionRouting:
    """Predict with a model's deployment and log every row (mixed into `Deployments`,
    which provides the store, the model server, the log and the champion's lookup)."""

    store: Store
    log: PredictionLog
    server: ModelServer
    _shadows: _Shadows
    _champion: Callable[[str, Deployment | None, bool], str]

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
        made = self.predict_many(name, [RowsRequest(rows, request_id, entity_ids, allow_missing)],
                                 load=load)[0]
        if isinstance(made, RowError):
            raise made
        return made

    def predict_many(self, name: str, requests: Sequence[RowsRequest], *, load: bool = True
                     ) -> list[Routed | RowError]:
        """`predict` for several requests at once, with one model pass per version: one
        outcome per request, in order, a `RowError` for a request whose rows do not fit
        (nothing of it is logged). The deployment is read once for all of them."""
        for request in requests:
            if request.entity_ids is not None and len(request.entity_ids) != len(request.rows):
                raise ValueError(f"{len(request.entity_ids)} ids for {len(request.rows)} rows: "
                                 "send one id per row")
        deployment = self.store.deployment(name)
        champion = self._champion(name, deployment, load)
        canary = (deployment.challenger if deployment is not None
                  and deployment.mode == "canary" else None)
        if not load and not all(self.server.loaded(name, v) for v in (champion, canary) if v):
            raise NotLoaded(f"a version of {name!r} that may answer is not loaded yet")
        outcomes: list[Routed | RowError | None] = [None] * len(requests)
        accepted: list[_Accepted] = []
        for index, frame in enumerate(self._checked(name, champion, requests)):
            if isinstance(frame, RowError):
                outcomes[index] = frame
                continue
            made = self._accept(name, index, requests[index], frame, champion, canary,
                                (deployment.share or 0.0) if canary else 0.0)
            if isinstance(made, RowError):
                outcomes[index] = made
            else:
                accepted.append(made)
        if accepted:
            for index, routed in self._answer(name, champion, canary, accepted):
                outcomes[index] = routed
            if deployment is not None and deployment.mode == "shadow" and deployment.challenger:
                self._shadow(name, deployment.challenger, accepted)
        return outcomes  # type: ignore[return-value] - every slot is filled

    def _accept(self, name: str, index: int, request: RowsRequest, frame: RawRows,
                champion: str, canary: str | None, share: float) -> _Accepted | RowError:
        request_id = request.request_id or uuid.uuid4().hex
        ids = ids_for(request_id, len(request.rows), request.entity_ids)
        if canary is None:
            return _Accepted(index, request, request_id, ids, [champion] * len(ids), frame, None)
        versions = [canary if canary_bucket(i) < share else champion for i in ids]
        where = [i for i, v in enumerate(versions) if v == canary]
        try:
            part = (self._part(name, canary, request.rows, where, request.allow_missing)
                    if where else None)
        except RowError as err:
            return err
        return _Accepted(index, request, request_id, ids, versions, frame, part)

    def _answer(self, name: str, champion: str, canary: str | None,
                accepted: list[_Accepted]) -> list[tuple[int, Routed]]:
        """Score the accepted requests' rows, one pass per version; log every row."""
        made: dict[str, tuple[Prediction, float]] = {}
        for version in (champion, canary):
            parts = [self._rows_for(a, version, champion) for a in accepted] if version else []
            parts = [p for p in parts if p is not None and len(p)]
            if parts:
                started = time.perf_counter()
                prediction = self.server.predict_frame(name, version, RawRows.concat(parts))
                made[version] = prediction, (time.perf_counter() - started) * 1000
        at = dict.fromkeys(made, 0)  # the next unread output of each version
        answers: list[tuple[int, Routed]] = []
        logged: list[LoggedPrediction] = []
        classes = next((p.classes for p, _ in made.values() if p.classes is not None), None)
        for item in accepted:
            outputs, proba = [], []
            for row, (version, entity) in enumerate(zip(item.versions, item.ids, strict=True)):
                prediction, latency = made[version]
                j, at[version] = at[version], at[version] + 1
                outputs.append(prediction.predictions[j])
                proba.append(None if prediction.probabilities is None
                             else prediction.probabilities[j])
                logged.append(LoggedPrediction(entity, item.request_id, name, version, "answer",
                                               latency, item.request.rows[row], outputs[-1]))
            answers.append((item.index, Routed(
                name, item.request_id, item.ids, item.versions, outputs,
                None if any(p is None for p in proba) else proba, classes)))
        self.log.append(logged)
        return answers

    @staticmethod
    def _rows_for(item: _Accepted, version: str, champion: str) -> RawRows | None:
        """The checked values of a request's rows that `version` answers, in row order."""
        if version != champion:
            return item.canary
        if item.canary is None:
            return item.frame
        return item.frame.take([i for i, v in enumerate(item.versions) if v == champion])

    def frame(self, name: str, version: str, rows: list[dict[str, Any]], *,
              allow_missing: bool = False) -> RawRows:
        """Rows checked against a version's training schema, as the values it predicts on."""
        return rows_columns(rows, self.server.columns(name, version), allow_missing=allow_missing)

    def _checked(self, name: str, version: str, requests: Sequence[RowsRequest]
                 ) -> list[RawRows | RowError]:
        """Each request's rows checked against a version's schema: all requests alike in
        one pass (the usual case, each column read once), else request by request."""
        def alone(request: RowsRequest) -> RawRows | RowError:
            try:
                return self.frame(name, version, request.rows,
                                  allow_missing=request.allow_missing)
            except RowError as err:
                return err

        if len(requests) == 1:
            return [alone(requests[0])]
        found: list[RawRows | RowError | None] = [None] * len(requests)
        for allow in (False, True):
            members = [k for k, r in enumerate(requests) if r.allow_missing == allow]
            if not members:
                continue
            try:
                whole = self.frame(name, version, [row for k in members
                                                   for row in requests[k].rows],
                                   allow_missing=allow)
            except RowError:  # some request has a bad row: each gets its own answer
                for k in members:
                    found[k] = alone(requests[k])
                continue
            start = 0
            for k in members:
                count = len(requests[k].rows)
                found[k] = whole.take(range(start, start + count))
                start += count
        return found  # type: ignore[return-value] - every slot is filled

    def _part(self, name: str, version: str, rows: list[dict[str, Any]], where: list[int],
              allow_missing: bool) -> RawRows:
        """The values of some rows for a version; a problem names the row of the request."""
        try:
            return self.frame(name, version, [rows[i] for i in where], allow_missing=allow_missing)
        except RowError as err:
            raise RowError([RowProblem(where[p.row], p.column, p.message)
                            for p in err.problems]) from None

    def _shadow(self, name: str, version: str, accepted: list[_Accepted]) -> None:
        def score() -> None:
            for allow in (False, True):
                items = [a for a in accepted if a.request.allow_missing == allow]
                if items:
                    self._score_shadow(name, version, items, allow)

        with self._shadows.lock:
            self._shadows.pending = [f for f in self._shadows.pending if not f.done()]
            self._shadows.pending.append(self._shadows.pool.submit(score))

    def _score_shadow(self, name: str, version: str, items: list[_Accepted],
                      allow_missing: bool) -> None:
        rows = [row for a in items for row in a.request.rows]
        ids = [i for a in items for i in a.ids]
        request_ids = [a.request_id for a in items for _ in a.ids]
        try:
            started = time.perf_counter()
            try:
                made = self.server.predict_version(name, version, rows,
                                                   allow_missing=allow_missing)
            except RowError:
                if len(items) == 1:
                    raise
                for item in items:  # one request's row the shadow refuses spoils no other
                    self._score_shadow(name, version, [item], allow_missing)
                return
            latency = (time.perf_counter() - started) * 1000
            self.log.append([LoggedPrediction(i, r, name, version, "shadow", latency, row, out)
                             for i, r, row, out in zip(ids, request_ids, rows, made.predictions,
                                                       strict=True)])
        except Exception as err:  # noqa: BLE001 - a shadow's fault never reaches the caller
            logger.warning("shadow %s v%s failed on request %s: %s", name, version,
                           ", ".join(dict.fromkeys(request_ids)), err)

    def drain(self, timeout: float = 30.0) -> None:
        """Wait for the shadow scoring queued so far (tests, shutdown)."""
        with self._shadows.lock:
            pending = list(self._shadows.pending)
        for future in pending:
            future.result(timeout=timeout)

    def feedback(self, truths: dict[str, Any], *, by: str | None = None) -> int:
        """Record true values by prediction id; returns how many ids had a prediction."""
        return self.log.add_feedback(truths, by=by)
