"""What every response and request goes through: security headers, a key checked before a
body is read, and access logs without keys.

- `SecurityHeaders`: `Content-Security-Policy` (scripts, styles and everything else only
  from this site; a response may set a policy of its own, as `/docs` does),
  `X-Frame-Options: DENY`, `X-Content-Type-Options: nosniff`, `Referrer-Policy`, and
  `Strict-Transport-Security` when the request came over HTTPS (directly, or through a
  proxy uvicorn trusts: `mlpilot serve --forwarded-allow-ips`).
- `KeyBeforeBody`: a request that carries a body to the API needs a known key in its
  headers before one byte of the body is read: an upload without a key is refused at
  once instead of after streaming megabytes. Roles are checked by the route, as before.
- `scrub_access_log`: uvicorn's access log lines with the values of credential-like query
  parameters (`?key=`, `?token=`) replaced by `***`.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterable

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from mlpilot.agent.settings import ApiKey
from mlpilot.interfaces.auth import identify
from mlpilot.interfaces.problems import problem

#: The pages' policy: nothing inline, nothing from elsewhere, no framing.
PAGE_POLICY = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
               "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
               "frame-ancestors 'none'")
_HEADERS = {b"x-frame-options": b"DENY", b"x-content-type-options": b"nosniff",
            b"referrer-policy": b"no-referrer"}
_HSTS = b"max-age=31536000"
_BODY_METHODS = {"POST", "PUT", "PATCH", "DELETE"}
_CREDENTIAL = re.compile(r"(?i)([?&][^=&#]*(?:key|token|secret|password)[^=&#]*=)[^&#\s]*")


def security_headers(scope: Scope, policy: str = PAGE_POLICY) -> dict[bytes, bytes]:
    """The headers `SecurityHeaders` adds to an answer to this request (for an ASGI app
    that answers before the middleware, as the prediction hot path does)."""
    extra = {**_HEADERS, b"content-security-policy": policy.encode()}
    if scope.get("scheme") == "https":
        extra[b"strict-transport-security"] = _HSTS
    return extra


class SecurityHeaders:
    """ASGI middleware: adds the security headers to every HTTP response that lacks them."""

    def __init__(self, app: ASGIApp, policy: str = PAGE_POLICY):
        self.app, self.policy = app, policy

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        extra = security_headers(scope, self.policy)

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers") or [])
                present = {name.lower() for name, _ in headers}
                headers += [(k, v) for k, v in extra.items() if k not in present]
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, with_headers)


class KeyBeforeBody:
    """ASGI middleware: a request with a body needs a known API key before the body is read.

    Args:
        app: the application.
        keys: returns the installation's keys (read per request: tests swap settings).
        exempt: path prefixes that authenticate otherwise (the pages' cookie and form
            token, Slack's request signature).
    """

    def __init__(self, app: ASGIApp, keys: Callable[[], dict[str, ApiKey]],
                 exempt: Iterable[str] = ("/ui/", "/slack/")):
        self.app, self.keys, self.exempt = app, keys, tuple(exempt)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (scope["type"] != "http" or scope["method"] not in _BODY_METHODS
                or scope["path"].startswith(self.exempt) or not _has_body(scope)):
            await self.app(scope, receive, send)
            return
        headers = {name.lower(): value for name, value in scope.get("headers") or ()}
        given = _key_of(headers)
        if not given:
            detail = "an API key is required: send it in the X-API-Key header"
        elif identify(self.keys(), given) is None:
            detail = "unknown API key: use one listed in MLPILOT_API_KEYS"
        else:
            await self.app(scope, receive, send)
            return
        # Connection: close: the unread body must not be taken for the next request.
        refused = problem(401, detail, instance=scope["path"],
                          headers={"WWW-Authenticate": "Bearer", "Connection": "close"})
        await refused(scope, receive, send)


def _has_body(scope: Scope) -> bool:
    headers = dict(scope.get("headers") or ())
    length = headers.get(b"content-length")
    return b"transfer-encoding" in headers or (length is not None and length.strip() != b"0")


def _key_of(headers: dict[bytes, bytes]) -> str | None:
    key = headers.get(b"x-api-key")
    if key:
        return key.decode("latin-1")
    scheme, _, token = headers.get(b"authorization", b"").decode("latin-1").partition(" ")
    return (token.strip() or None) if scheme.lower() == "bearer" else None


def scrubbed(text: str) -> str:
    """`text` with the values of credential-like query parameters replaced by `***`."""
    return _CREDENTIAL.sub(r"\1***", text)


class _ScrubQuery(logging.Filter):
    """Rewrites uvicorn's access records: (client, method, path with query, version, status)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(scrubbed(a) if isinstance(a, str) else a for a in record.args)
        record.msg = scrubbed(str(record.msg))
        return True


def scrub_access_log(logger_name: str = "uvicorn.access") -> None:
    """Keep keys in query strings out of the access log (once per logger)."""
    target = logging.getLogger(logger_name)
    if not any(isinstance(f, _ScrubQuery) for f in target.filters):
        target.addFilter(_ScrubQuery())
