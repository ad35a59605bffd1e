"""The API's own description: `/openapi.json` and the interactive `/docs` (Swagger UI).

Both are open with `MLPILOT_OPEN_DOCS=true`. Otherwise they need a key like any other
read: in the `X-API-Key` header (or as a bearer token), or the web pages' sign-in cookie,
so a browser that signed in at `/ui/login` can open `/docs`; a browser that did not is
sent there first. `/docs` loads Swagger UI from its CDN; its one inline script is allowed
by its hash in the page's own Content-Security-Policy, nothing else inline is.
"""

from __future__ import annotations

import base64
import hashlib
import re
from urllib.parse import urlencode

from fastapi import FastAPI, HTTPException, Request
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response

from mlpilot.interfaces.auth import SESSION_COOKIE, Caller, identify

_CDN = "https://cdn.jsdelivr.net"
_FAVICON = "https://fastapi.tiangolo.com"
_INLINE_SCRIPT = re.compile(r"<script>(.*?)</script>", re.DOTALL)


def mount(app: FastAPI) -> None:
    """Add `/openapi.json` and `/docs` (the app must be made with both turned off)."""
    settings = app.state.settings

    def caller(request: Request) -> Caller | None:
        given = request.headers.get("x-api-key")
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        if not given and scheme.lower() == "bearer":
            given = token.strip()
        return identify(settings.api_keys, given or request.cookies.get(SESSION_COOKIE))

    @app.get("/openapi.json", include_in_schema=False)
    async def openapi(request: Request) -> JSONResponse:
        if not settings.open_docs and caller(request) is None:
            raise HTTPException(401, "the API's schema needs a key: send it in the X-API-Key "
                                "header (or set MLPILOT_OPEN_DOCS=true)",
                                headers={"WWW-Authenticate": "Bearer"})
        return JSONResponse(app.openapi())

    @app.get("/docs", include_in_schema=False)
    async def docs(request: Request) -> Response:
        if not settings.open_docs and caller(request) is None:
            return RedirectResponse(f"/ui/login?{urlencode({'next': '/docs'})}", 303)
        page = get_swagger_ui_html(openapi_url="/openapi.json", title=f"{app.title} - API")
        return HTMLResponse(page.body, headers={"Content-Security-Policy": _policy(page.body)})


def _policy(html: bytes) -> str:
    """Swagger UI's policy: its bundle from the CDN, and its one inline script by hash."""
    hashes = " ".join(
        f"'sha256-{base64.b64encode(hashlib.sha256(s.encode()).digest()).decode()}'"
        for s in _INLINE_SCRIPT.findall(html.decode()))
    return (f"default-src 'self'; script-src 'self' {_CDN} {hashes}; "
            f"style-src 'self' {_CDN} 'unsafe-inline'; img-src 'self' data: {_FAVICON}; "
            "connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'")
