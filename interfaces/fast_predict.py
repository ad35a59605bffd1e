"""The prediction hot path: small JSON predictions answered before FastAPI's machinery, and
the single-row requests that arrive together scored in one model pass.

A prediction of a few rows costs the model well under a millisecond; FastAPI's dependency
resolution, body model and middleware chain cost several times that per request, and one
model call per request pays the encoder's and the network's per-call overheads each time.
`FastPredict` is an ASGI middleware in front of the app: a `POST` to a predict path with a
known operator key, a JSON body of at most `routes.models.INLINE_MAX_BYTES`, no query string, and rows
the model's schema accepts, is answered here with the same body, headers and metrics as
the route (`interfaces/routes/models.py`). Anything else (another path, a table body, a
missing or weak key, a body that does not validate, a bad row, a version not loaded yet,
any error) goes to the app unchanged, the body replayed, and the route answers as always:
its refusals (401, 403, 413, 422 naming each bad row and column) are the only ones.

`PredictionBatcher` gathers the requests that reach the event loop in the same turn and
scores them with one `Deployments.predict_many` call on the loop at its next turn (in a
worker thread when a version must be loaded or the registry asked first): an idle
server answers a lone request at once (no timer, no added wait); a busy one, whose socket
buffers filled while it scored the last batch, scores the next few dozen requests in one
pass. Each request keeps its own outcome (its ids, canary routing, log rows, errors).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import anyio
import orjson
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from mlpilot.agent.deployments import Deployments, NotLoaded, Routed, RowsRequest
from mlpilot.interfaces.auth import identify
from mlpilot.interfaces.routes.models import (
    INLINE_MAX_BYTES,
    MAX_ROWS,
    request_id_of,
    table_kind,
)
from mlpilot.interfaces.security import security_headers

#: Most rows one model pass of the batcher scores (more waiting: several passes).
BATCH_ROWS = 2048
_MAX_ID = _MAX_NAME = 200  # the longest entity id and model name, as the route takes
_MISSING = ("as_trained", "allow")


class PredictionBatcher:
    """Scores the requests submitted in one turn of the event loop in one pass per model."""

    def __init__(self, deployments: Callable[[], Deployments]):
        self.deployments = deployments
        self._waiting: dict[str, list[tuple[RowsRequest, asyncio.Future]]] = {}
        self._pending: set[asyncio.Future] = set()  # passes in threads (kept from collection)

    def submit(self, name: str, request: RowsRequest) -> asyncio.Future:
        """A future of the request's outcome: a `Routed`, a `RowError`, or the exception
        that stopped its pass (`NotLoaded` when a version must be loaded first)."""
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        waiting = self._waiting.setdefault(name, [])
        waiting.append((request, future))
        if len(waiting) == 1:  # the first of this turn: score them all at the next one
            loop.call_soon(self._score, name)
        return future

    def _score(self, name: str) -> None:
        waiting = self._waiting.pop(name, [])
        while waiting:
            rows, count = 0, 0
            while count < len(waiting) and (count == 0 or rows < BATCH_ROWS):
                rows += len(waiting[count][0].rows)
                count += 1
            batch, waiting = waiting[:count], waiting[count:]
            requests = [r for r, _ in batch]
            try:  # inline: every version is loaded (load=False), so nothing here blocks
                outcomes = self.deployments().predict_many(name, requests, load=False)
            except NotLoaded:  # a first load, or the registry's alias to read: in a thread
                self._pending.add(asyncio.ensure_future(self._in_thread(name, batch)))
                continue
            except Exception as err:  # noqa: BLE001 - each request then takes the route
                outcomes = [err] * len(batch)
            _settle(batch, outcomes)

    async def _in_thread(self, name: str, batch: list[tuple[RowsRequest, asyncio.Future]]
                         ) -> None:
        try:
            outcomes = await anyio.to_thread.run_sync(
                lambda: self.deployments().predict_many(name, [r for r, _ in batch]))
        except Exception as err:  # noqa: BLE001 - each request then takes the route
            outcomes = [err] * len(batch)
        _settle(batch, outcomes)
        self._pending.discard(asyncio.current_task())


def _settle(batch: list[tuple[RowsRequest, asyncio.Future]], outcomes: list[Any]) -> None:
    for (_, future), outcome in zip(batch, outcomes, strict=True):
        if not future.done():  # (a caller that went away cancelled its future)
            future.set_result(outcome)


class FastPredict:
    """ASGI middleware: answers plain JSON predictions itself (see the module's doc).

    Args:
        app: the application (it answers everything this does not).
        route: the model a request path predicts with, or None for any other path.
    """

    def __init__(self, app: ASGIApp, route: Callable[[str], str | None]):
        self.app, self.route = app, route
        self.batcher: PredictionBatcher | None = None
        # Keys known to hold the operator role, for the key set they were checked against
        # (settings may be swapped): `identify` hashes the key for the caller's name on
        # each call, which the hot path does not need. Only known keys are kept, so an
        # unknown one is always compared in constant time.
        self._operators: tuple[object, set[bytes]] = (None, set())

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        name = (self.route(scope["path"]) if scope["type"] == "http"
                and scope["method"] == "POST" and not scope.get("query_string") else None)
        headers = _headers(scope) if name else {}
        state = scope["app"].state if name else None
        length = headers.get(b"content-length", b"")
        if (not name or not length.isdigit() or int(length) > _inline_limit(state)
                or table_kind(headers.get(b"content-type", b"").decode("latin-1"))
                or not self._operator(state, headers)):
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        body, whole = await _read(receive)
        if not whole:  # the client went away
            return
        made = await self._predict(state, name, body, headers)
        if not isinstance(made, Routed):
            await self.app(scope, _replay(body, receive), send)
            return
        counters = getattr(state, "metrics", None)
        if counters is not None:
            counters.predicted(name, made.versions, time.perf_counter() - started)
        await _answer(scope, send, made)

    def _operator(self, state: Any, headers: dict[bytes, bytes]) -> bool:
        """Whether the request's key belongs to an operator or approver."""
        given = _key(headers)
        if given is None:
            return False
        keys = state.settings.api_keys
        if self._operators[0] is not keys:
            self._operators = (keys, set())
        if given in self._operators[1]:
            return True
        caller = identify(keys, given.decode("latin-1"))
        if caller is None or not caller.may("operator"):
            return False
        self._operators[1].add(given)
        return True

    async def _predict(self, state: Any, name: str, body: bytes,
                       headers: dict[bytes, bytes]) -> Routed | Exception | None:
        given = headers.get(b"x-request-id")
        request = _rows_request(body, request_id_of(given.decode("latin-1") if given else None))
        if request is None:
            return None
        if self.batcher is None:
            self.batcher = PredictionBatcher(lambda: state.deployments)
        return await self.batcher.submit(name, request)


def predicted_model(path: str) -> str | None:
    """The model a path of the full server predicts with (`/models/NAME/predict`), or None."""
    if path.startswith("/models/") and path.endswith("/predict"):
        name = path[len("/models/"):-len("/predict")]
        if name and "/" not in name and len(name) <= _MAX_NAME:
            return name
    return None


def _headers(scope: Scope) -> dict[bytes, bytes]:
    return {key.lower(): value for key, value in scope.get("headers") or ()}


def _inline_limit(state: Any) -> int:
    """The largest body answered here: a small one, within the app's body limit."""
    return min(INLINE_MAX_BYTES, state.settings.max_request_kb * 1024)


def _key(headers: dict[bytes, bytes]) -> bytes | None:
    """The request's API key (`X-API-Key`, else a bearer token), as `auth.require` reads it."""
    given = headers.get(b"x-api-key")
    if not given:
        scheme, _, token = headers.get(b"authorization", b"").partition(b" ")
        given = token.strip() if scheme.lower() == b"bearer" else None
    return given or None


async def _read(receive: Receive) -> tuple[bytes, bool]:
    """The whole body, and False when the client disconnected first."""
    chunks = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return b"", False
        chunks.append(message.get("body", b""))
        if not message.get("more_body"):
            return b"".join(chunks), True


def _replay(body: bytes, receive: Receive) -> Receive:
    """A `receive` that gives the body already read, then what the client sends next."""
    sent = False

    async def replayed() -> Message:
        nonlocal sent
        if sent:
            return await receive()
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return replayed


def _rows_request(body: bytes, request_id: str) -> RowsRequest | None:
    """The request as the route's `PredictRequest` reads it, when the body is plainly valid;
    None for anything the route should judge (and word the refusal of)."""
    try:
        found = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None
    if type(found) is not dict or not found.keys() <= {"rows", "missing", "ids"}:
        return None
    rows, missing, ids = found.get("rows"), found.get("missing", "as_trained"), found.get("ids")
    if (type(rows) is not list or not 1 <= len(rows) <= MAX_ROWS
            or not all(type(r) is dict for r in rows) or missing not in _MISSING):
        return None
    if ids is not None and (type(ids) is not list or len(ids) != len(rows) or not all(
            type(i) is str and len(i) <= _MAX_ID for i in ids)):
        return None
    return RowsRequest(rows, request_id, ids, missing == "allow")


async def _answer(scope: Scope, send: Send, made: Routed) -> None:
    body = orjson.dumps({"name": made.name, "version": made.version, "versions": made.versions,
                         "request_id": made.request_id, "ids": made.ids,
                         "predictions": made.predictions, "probabilities": made.probabilities,
                         "classes": made.classes}, option=orjson.OPT_SERIALIZE_NUMPY)
    headers = [(b"content-length", str(len(body)).encode()),
               (b"content-type", b"application/json"),
               (b"x-model-version", made.version.encode()),
               (b"x-request-id", made.request_id.encode()),
               *security_headers(scope).items()]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": body})
