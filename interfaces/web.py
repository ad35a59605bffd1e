"""The web pages: the approval queue, the jobs and a job's live progress, the models and
their drift (training against live histograms).

Server-rendered Jinja2 pages under `/ui`, with one small script (`static/job.js`) that
polls a job's updates and draws its learning curve; nothing is fetched from elsewhere.
They use the API's keys and roles: sign in once with a key on the login form and it is
kept in an HTTP-only, SameSite=Strict cookie (`Secure` when the request came over HTTPS,
directly or through a proxy uvicorn trusts); approving and rejecting need the approver
role. A key is never taken from an address (`?key=` would sit in logs and history; a
page asked for with one is sent to the login form). Every form carries a token against
cross-site requests: derived from the key once signed in, and for the login form a random
one that the page also keeps in a cookie of its own (so nobody else's page can sign a
browser in with their key).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, FastAPI, Form, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates

from mlpilot.agent.jobs import JobService
from mlpilot.agent.store import END_STATUSES, StoreError
from mlpilot.interfaces import summaries
from mlpilot.interfaces.auth import SESSION_COOKIE, Caller, identify
from mlpilot.interfaces.learning_curve import LearningCurves

HERE = Path(__file__).parent
COOKIE = SESSION_COOKIE
#: The login form's own token cookie (there is no key yet to derive one from).
LOGIN_COOKIE = "mlpilot_login"
templates = Jinja2Templates(directory=HERE / "templates")
router = APIRouter(prefix="/ui", include_in_schema=False)


def _ago(timestamp: float | None) -> str:
    """'12 s ago', '5 min ago', '3 h ago', '2 d ago'."""
    if not timestamp:
        return ""
    return _span(time.time() - timestamp) + " ago"


def _until(timestamp: float | None) -> str:
    """'in 6 d'."""
    if not timestamp:
        return ""
    return "in " + _span(timestamp - time.time())


def _span(seconds: float) -> str:
    seconds = max(0.0, seconds)
    for size, unit in ((86400, "d"), (3600, "h"), (60, "min")):
        if seconds >= size:
            return f"{seconds // size:.0f} {unit}"
    return f"{seconds:.0f} s"


templates.env.filters.update(ago=_ago, until=_until)


class Redirect(Exception):  # a control signal, not an error
    """Send the browser elsewhere (to sign in)."""

    def __init__(self, url: str):
        super().__init__(url)
        self.url = url


def signed_in(request: Request) -> Caller:
    """The person behind the cookie's key; a page asked for with a key in its address is
    sent to the login form, without the key."""
    if "key" in request.query_params:
        rest = [(k, v) for k, v in request.query_params.multi_items() if k != "key"]
        url = request.url.path + (f"?{urlencode(rest)}" if rest else "")
        raise Redirect(_login_url(url, "Sign in on this form: a key in the address would be "
                                  "kept in logs and history."))
    who = identify(request.app.state.settings.api_keys, request.cookies.get(COOKIE))
    if who is None:
        raise Redirect(_login_url(request.url.path + (f"?{request.url.query}"
                                                      if request.url.query else "")))
    return who


Person = Annotated[Caller, Depends(signed_in)]


def csrf_token(key: str | None) -> str:
    """The token forms carry: only a page served to the key's holder knows it."""
    return hmac.new((key or "").encode(), b"mlpilot-web-form", hashlib.sha256).hexdigest()[:32]


def _service(request: Request) -> JobService:
    return request.app.state.jobs


def _page(request: Request, name: str, who: Caller, **context: Any) -> HTMLResponse:
    pending = _service(request).approvals(status="pending")
    return templates.TemplateResponse(request, name, {
        "who": who, "pending_count": len(pending), "notice": request.query_params.get("notice"),
        "error": request.query_params.get("error"), "now": time.time(),
        "csrf": csrf_token(request.cookies.get(COOKIE)), **context})


def _login_url(next_url: str, error: str | None = None) -> str:
    query = {"next": next_url, **({"error": error} if error else {})}
    return f"/ui/login?{urlencode(query)}"


def _safe_next(next_url: str | None) -> str:
    """Only pages of this site: a login must not send the key's holder anywhere else."""
    if next_url and (next_url.startswith("/ui/") or next_url == "/docs"):
        return next_url
    return "/ui/approvals"


def _check_form(request: Request, who: Caller, token: str, role: str) -> str | None:
    """Why a form post is refused, or None when it may go ahead."""
    if not hmac.compare_digest(token, csrf_token(request.cookies.get(COOKIE))):
        return "The form expired; reload the page and try again."
    if not who.may(role):
        return f"This needs the {role} role; your key has the {who.role} role."
    return None


# -- signing in ----------------------------------------------------------------------------

@router.get("", response_class=RedirectResponse)
def home() -> RedirectResponse:
    """The approval queue is the front page."""
    return RedirectResponse("/ui/approvals", status_code=303)


@router.get("/login", response_class=HTMLResponse)
def login_form(request: Request, next: str = "/ui/approvals", error: str | None = None):
    """Ask for an API key; the form's token is also kept in a cookie of the login's own."""
    token = request.cookies.get(LOGIN_COOKIE) or secrets.token_hex(16)
    page = templates.TemplateResponse(request, "login.html", {
        "next": _safe_next(next), "error": error, "who": None, "csrf": token})
    page.set_cookie(LOGIN_COOKIE, token, httponly=True, samesite="strict", path="/ui/login",
                    secure=_https(request), max_age=3600)
    return page


@router.post("/login")
def login(request: Request, key: Annotated[str, Form(max_length=500)],
          csrf: Annotated[str, Form(max_length=64)] = "",
          next: Annotated[str, Form(max_length=2000)] = "/ui/approvals") -> Response:
    """Keep a valid key in a cookie and go on to the page asked for."""
    expected = request.cookies.get(LOGIN_COOKIE) or ""
    if not expected or not hmac.compare_digest(csrf, expected):
        return RedirectResponse(_login_url(_safe_next(next), "The form expired; sign in "
                                           "again."), 303)
    if identify(request.app.state.settings.api_keys, key.strip()) is None:
        return RedirectResponse(_login_url(_safe_next(next), "That key is not valid."), 303)
    response = _with_key(RedirectResponse(_safe_next(next), 303), key.strip(), request)
    response.delete_cookie(LOGIN_COOKIE, path="/ui/login")
    return response


@router.post("/logout")
def logout(request: Request, csrf: Annotated[str, Form(max_length=64)] = "") -> Response:
    """Forget the key (the form's token must be the signed-in key's)."""
    if not hmac.compare_digest(csrf, csrf_token(request.cookies.get(COOKIE))):
        return RedirectResponse(_with_query("/ui/approvals", error="The form expired; "
                                            "reload the page and try again."), 303)
    response = RedirectResponse("/ui/login", 303)
    response.delete_cookie(COOKIE, path="/")
    response.delete_cookie(COOKIE, path="/ui")  # where sign-ins before 2026-12 kept it
    return response


def _with_key(response: Response, key: str, request: Request) -> Response:
    # path "/": /docs and /openapi.json accept the sign-in too (the API routes do not)
    response.set_cookie(COOKIE, key, httponly=True, samesite="strict", path="/",
                        secure=_https(request), max_age=7 * 24 * 3600)
    return response


def _https(request: Request) -> bool:
    """Whether the browser talks HTTPS to us: uvicorn's proxy headers set the scheme from a
    trusted proxy's X-Forwarded-Proto (`mlpilot serve --forwarded-allow-ips`)."""
    return request.url.scheme == "https"


# -- the approval queue --------------------------------------------------------------------

@router.get("/approvals", response_class=HTMLResponse)
def approval_queue(request: Request, who: Person):
    """Pending approvals first (oldest first), then the latest decisions."""
    service = _service(request)
    pending = [service.describe(a) for a in service.approvals(status="pending")]
    decided = sorted(service.approvals(status=None), key=lambda a: a.decided_at or 0,
                     reverse=True)
    recent = [service.describe(a) for a in decided if a.status != "pending"][:20]
    return _page(request, "approvals.html", who, pending=pending, recent=recent)


@router.post("/approvals/{approval_id}/decide")
def decide(request: Request, approval_id: str, who: Person,
           decision: Annotated[str, Form(pattern="^(approve|reject)$")],
           csrf: Annotated[str, Form(max_length=64)] = "",
           reason: Annotated[str, Form(max_length=2000)] = "",
           next: Annotated[str, Form(max_length=2000)] = "/ui/approvals") -> Response:
    """Approve or reject from the page; a rejection needs a reason."""
    back = _safe_next(next)
    refused = _check_form(request, who, csrf, "approver")
    if refused is None and decision == "reject" and not reason.strip():
        refused = "A rejection needs a reason."
    if refused is None:
        try:
            approval = _service(request).decide(approval_id, decision == "approve", by=who.name,
                                                reason=reason.strip() or None)
        except StoreError as err:
            refused = str(err)
        else:
            done = f"{approval.action} for {approval.job_id}: {approval.status}."
            return RedirectResponse(_with_query(back, notice=done), 303)
    return RedirectResponse(_with_query(back, error=refused), 303)


def _with_query(url: str, **query: str) -> str:
    path = url.split("?", 1)[0]
    return f"{path}?{urlencode(query)}"


# -- jobs ----------------------------------------------------------------------------------

@router.get("/jobs", response_class=HTMLResponse)
def job_list(request: Request, who: Person):
    """The latest jobs."""
    jobs = _service(request).jobs(limit=100)
    return _page(request, "jobs.html", who, jobs=[_row(j) for j in jobs])


@router.get("/jobs/{job_id}", response_class=HTMLResponse)
def job_page(request: Request, job_id: str, who: Person):
    """One job: its plan, live progress, learning curve, approvals, decisions and results."""
    service = _service(request)
    try:
        job = service.job(job_id)
    except StoreError as err:
        return _page(request, "missing.html", who, message=str(err))
    doc = service.document(job_id)
    events = service.events(job_id)
    pending = [service.describe(a) for a in service.approvals(status="pending", job_id=job_id)]
    return _page(request, "job.html", who, job=job, doc=doc, pending=pending,
                 milestones=[e for e in events if _milestone(e)],
                 last_event=events[-1].id if events else 0, ended=job.status in END_STATUSES,
                 summary=summaries.outcome(doc) if job.status in END_STATUSES
                 and not doc.get("question") else None)


@router.get("/jobs/{job_id}/updates")
def job_updates(request: Request, job_id: str, who: Person, after: int = 0) -> JSONResponse:
    """What the job page needs to stay live: status, new milestones, the learning curve."""
    service = _service(request)
    try:
        job = service.job(job_id)
    except StoreError as err:
        return JSONResponse({"error": str(err)}, status_code=404)
    events = service.events(job_id, after=after)
    latest = next((e for e in reversed(events) if "eta_s" in e.data), None)
    curves: LearningCurves = request.app.state.learning_curves
    return JSONResponse({
        "status": job.status, "ended": job.status in END_STATUSES,
        "after": events[-1].id if events else after,
        "events": [{"id": e.id, "stage": e.stage, "message": e.message}
                   for e in events if _milestone(e)],
        "latest": events[-1].message if events else None,
        "eta_s": latest.data["eta_s"] if latest else None,
        "curve": curves.curve(job_id, job.status in END_STATUSES),
    })


@router.post("/jobs/{job_id}/cancel")
def cancel(request: Request, job_id: str, who: Person,
           csrf: Annotated[str, Form(max_length=64)] = "") -> Response:
    """Cancel a job (operators and approvers)."""
    back = f"/ui/jobs/{job_id}"
    refused = _check_form(request, who, csrf, "operator")
    if refused is None:
        try:
            _service(request).cancel(job_id, by=who.name)
        except StoreError as err:
            refused = str(err)
    if refused:
        return RedirectResponse(_with_query(back, error=refused), 303)
    return RedirectResponse(_with_query(back, notice="Cancel requested."), 303)


def _milestone(event: Any) -> bool:
    return event.stage == "job" or summaries.is_milestone(
        {"stage": event.stage, **event.data})


def _row(job: Any) -> dict[str, Any]:
    result = job.result or {}
    task = result.get("task") or {}
    metric = task.get("metric")
    return {"id": job.id, "status": job.status, "created_at": job.created_at,
            "request": job.request.get("request") or "", "data": Path(
                str(job.request.get("data") or "")).name,
            "target": task.get("target"), "metric": metric,
            "score": (result.get("metrics") or {}).get(metric)}


# -- models --------------------------------------------------------------------------------

@router.get("/models", response_class=HTMLResponse)
def model_list(request: Request, who: Person):
    """Registered models: the champion of each, its scores, and where it came from."""
    from mlpilot.interfaces.routes import models as model_routes

    found = []
    for model in model_routes.list_models(request, who):
        versions = model_routes.list_versions(model.name, request, who)
        champion = next((v for v in versions if v.version == model.champion), None)
        found.append({"model": model, "versions": versions, "champion": champion})
    return _page(request, "models.html", who, models=found)


@router.get("/models/{name}/drift", response_class=HTMLResponse)
def model_drift(request: Request, name: str, who: Person):
    """The champion's drift table, with training against live histograms per feature."""
    from mlpilot.agent.drift_watch import monitor

    try:
        report = monitor(request.app.state.deployments, name, propose=False)
    except LookupError as err:  # no such model, no training data known (Conflict)
        return _page(request, "missing.html", who, message=str(err))
    return _page(request, "drift.html", who, model=name, report=report)


# -- mounting --------------------------------------------------------------------------------

def mount(app: FastAPI) -> None:
    """Add the pages, their static files and the sign-in redirects to the API app."""
    app.state.learning_curves = LearningCurves(app.state.jobs, app.state.registry)
    app.include_router(router)
    app.mount("/ui/static", StaticFiles(directory=HERE / "static"), name="ui-static")

    @app.exception_handler(Redirect)
    async def redirect(request: Request, exc: Redirect) -> Response:
        return RedirectResponse(exc.url, 303)

    @app.get("/", include_in_schema=False)
    def root() -> RedirectResponse:
        return RedirectResponse("/ui/approvals", 303)
