"""Errors as RFC 9457 problem details (`application/problem+json`), and the request body limit.

Every error the API returns has `type`, `title`, `status` and `detail` (one line that
names the problem and what to do, the same line the CLI prints), plus members of its
own for some types (`errors` for invalid requests, `question` when the target is unclear).
"""

from __future__ import annotations

import logging
from http import HTTPStatus
from typing import Any
from urllib.parse import parse_qsl

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.exceptions import HTTPException
from starlette.routing import Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from mlpilot.agent.jobs import NeedsInput
from mlpilot.agent.store import Conflict, StoreError
from mlpilot.agent.submission import SubmissionError
from mlpilot.agent.understanding import RequestError
from mlpilot.engine.data import DataError
from mlpilot.engine.serving import ModelNotFound
from mlpilot.guardrails.data_roots import DataRootError
from mlpilot.interfaces.job_config import ConfigFileError

logger = logging.getLogger(__name__)
MEDIA_TYPE = "application/problem+json"
_TYPE = "urn:mlpilot:problem:"


class Problem(BaseModel):
    """An RFC 9457 problem details object."""

    model_config = ConfigDict(extra="allow")

    type: str = Field(default="about:blank", description="URI naming the kind of problem.")
    title: str = Field(description="Short summary of the kind of problem.")
    status: int = Field(description="The HTTP status code.")
    detail: str | None = Field(default=None, description="This occurrence, in one line.")
    instance: str | None = Field(default=None, description="The request path.")


def problem(status: int, detail: str | None, *, kind: str | None = None, title: str | None = None,
            instance: str | None = None, headers: dict[str, str] | None = None,
            **members: Any) -> JSONResponse:
    """A problem+json response."""
    body = Problem(type=f"{_TYPE}{kind}" if kind else "about:blank",
                   title=title or HTTPStatus(status).phrase, status=status, detail=detail,
                   instance=instance, **members)
    return JSONResponse(body.model_dump(exclude_none=True), status_code=status,
                        media_type=MEDIA_TYPE, headers=headers)


#: Documented error responses, for the OpenAPI schema of each route.
def problem_responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses` entries for these error status codes (problem+json bodies)."""
    return {code: {"description": HTTPStatus(code).phrase} for code in codes}


def install_problem_handlers(app: FastAPI) -> None:
    """Turn every error the app can raise into problem details."""

    def path(request: Request) -> str:
        return request.url.path

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> JSONResponse:
        detail = exc.detail if isinstance(exc.detail, str) else None
        headers = dict(getattr(exc, "headers", None) or {})
        if exc.status_code == 405:  # Starlette lists only the first route's methods
            headers["Allow"] = ", ".join(_allowed_methods(request))
        return problem(exc.status_code, detail, instance=path(request), headers=headers or None)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [{"loc": [str(p) for p in e.get("loc", ())],
                   "msg": str(e.get("msg")).removeprefix("Value error, "),
                   "type": str(e.get("type"))} for e in exc.errors()]
        first = errors[0] if errors else {"loc": [], "msg": "invalid request"}
        where = ".".join(first["loc"])
        return problem(422, f"{where}: {first['msg']}" if where else first["msg"],
                       kind="invalid-request", title="Invalid request", instance=path(request),
                       errors=errors)

    simple = {DataRootError: (403, "data-root", "Path outside the data roots"),
              DataError: (422, "data-error", "Unusable data"),
              RequestError: (422, "request-error", "Unclear request"),
              ConfigFileError: (422, "config-error", "Invalid job config"),
              Conflict: (409, "conflict", "Conflict"),
              ModelNotFound: (404, "not-found", "Not found"),
              StoreError: (404, "not-found", "Not found")}
    for error_type, (status, kind, title) in simple.items():
        def handler(request: Request, exc: Exception, status=status, kind=kind, title=title):
            return problem(status, str(exc), kind=kind, title=title, instance=path(request))
        app.add_exception_handler(error_type, handler)

    @app.exception_handler(SubmissionError)
    async def refused_submission(request: Request, exc: SubmissionError) -> JSONResponse:
        errors = [{"loc": f.field.split("."), "msg": f"{f.message}; {f.hint}", "type": f.check_id}
                  for f in exc.findings]
        return problem(422, str(exc), kind="invalid-request", title="Invalid request",
                       instance=path(request), errors=errors)

    @app.exception_handler(NeedsInput)
    async def needs_input(request: Request, exc: NeedsInput) -> JSONResponse:
        return problem(422, f"the request does not say what to predict: {exc.question}",
                       kind="needs-input", title="Which column should be predicted?",
                       instance=path(request), question=exc.question, choices=exc.choices)

    @app.exception_handler(Exception)
    async def internal_error(request: Request, exc: Exception) -> JSONResponse:
        logger.error("unhandled error on %s", request.url.path, exc_info=exc)
        return problem(500, "internal error: see the server's log", instance=path(request))


def document_problems(app: FastAPI) -> None:
    """Make the OpenAPI schema say what the app does: every error response is problem+json
    (FastAPI documents its 422 as plain JSON), an operation with parameters or a body may
    answer 422, and one with a body 400 (unparsable) and 413 (too large)."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        schema = build()
        ref = {"$ref": "#/components/schemas/Problem"}
        components = schema.setdefault("components", {}).setdefault("schemas", {})
        components["Problem"] = Problem.model_json_schema(ref_template="#/components/schemas/{model}")
        for item in schema.get("paths", {}).values():
            for operation in item.values():
                responses = operation.setdefault("responses", {})
                codes = {"400", "413", "422"} if "requestBody" in operation else set()
                if operation.get("parameters"):
                    codes.add("422")
                for code in codes:
                    responses.setdefault(code, {"description": HTTPStatus(int(code)).phrase})
                for code, response in responses.items():
                    if code[:1] in ("4", "5"):
                        response["content"] = {MEDIA_TYPE: {"schema": ref}}
        for unused in ("HTTPValidationError", "ValidationError"):
            components.pop(unused, None)
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]


def _allowed_methods(request: Request) -> list[str]:
    """Every method some route of the app answers on this request's path."""
    methods: set[str] = set()
    for route in request.app.routes:
        match, _ = route.matches({**request.scope, "method": "GET"})
        if match != Match.NONE:  # PARTIAL: the path matches, the method does not
            methods |= set(getattr(route, "methods", None) or ())
    return sorted(methods)


class BodyLimit:
    """ASGI middleware: refuses request bodies over a limit with 413 (problem details).

    Args:
        app: the application.
        max_bytes: the limit for any path.
        per_path: larger (or smaller) limits for some paths, e.g. an upload route.
    """

    def __init__(self, app: ASGIApp, max_bytes: int, per_path: dict[str, int] | None = None):
        self.app, self.max_bytes, self.per_path = app, max_bytes, per_path or {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.per_path.get(scope["path"], self.max_bytes)
        declared = dict(scope.get("headers") or ()).get(b"content-length")
        if declared is not None:
            if not declared.isdigit():
                await problem(400, "Content-Length is not a number")(scope, receive, send)
                return
            if int(declared) > limit:
                await self._too_large(limit, scope, receive, send)
                return
        seen = 0

        async def counted() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    raise HTTPException(413, _too_large_detail(limit))
            return message

        await self.app(scope, counted, send)

    @staticmethod
    async def _too_large(limit: int, scope: Scope, receive: Receive, send: Send) -> None:
        await problem(413, _too_large_detail(limit), instance=scope["path"])(scope, receive, send)


def _too_large_detail(limit: int) -> str:
    size = f"{limit / 2**20:.1f} MiB" if limit >= 2**20 else f"{limit / 1024:.0f} KiB"
    return f"the request body is larger than the limit of {size}"


class SingleQueryValues:
    """ASGI middleware: refuses a query string that gives one parameter more than once
    (422, problem details). No operation takes a list in its query, and FastAPI would
    silently keep the last value of `?status=a&status=b`."""

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope.get("query_string"):
            names = [name for name, _ in parse_qsl(scope["query_string"].decode("latin-1"),
                                                   keep_blank_values=True)]
            repeated = sorted({n for n in names if names.count(n) > 1})
            if repeated:
                detail = f"query.{repeated[0]}: give this parameter once"
                errors = [{"loc": ["query", n], "msg": "given more than once",
                           "type": "repeated_parameter"} for n in repeated]
                refused = problem(422, detail, kind="invalid-request", title="Invalid request",
                                  instance=scope["path"], errors=errors)
                await refused(scope, receive, send)
                return
        await self.app(scope, receive, send)
