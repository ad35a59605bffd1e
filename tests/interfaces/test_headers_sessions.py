"""Security headers and sessions: a strict Content-Security-Policy and no framing or sniffing
on every answer, CSRF tokens on login and logout, keys never taken from or written to an
address, a Secure cookie behind a trusted TLS proxy, /docs open or closed by a setting, and
a request body never read before its key is known."""

from __future__ import annotations

import base64
import hashlib
import logging
import re
import socket
import time

import httpx
import pytest
from fastapi.testclient import TestClient

from mlpilot.agent.settings import Settings
from mlpilot.interfaces.api import create_app
from mlpilot.interfaces.security import scrubbed
from mlpilot.interfaces.web import csrf_token
from tests.interfaces.api_fixtures import KEYS, OPERATOR, VIEWER
from tests.interfaces.servers import serve

APPROVER_KEY = "ap-key"


def app(tmp_path, **overrides):
    return create_app(Settings(data_dir=tmp_path, api_keys=KEYS, **overrides), workers=0)


def login_token(client) -> str:
    page = client.get("/ui/login").text
    return re.search(r'name="csrf" value="([0-9a-f]+)"', page).group(1)


def sign_in(client, key: str = APPROVER_KEY, next_page: str = "/ui/approvals"):
    return client.post("/ui/login", data={"key": key, "csrf": login_token(client),
                                          "next": next_page}, follow_redirects=False)


def test_every_answer_carries_the_security_headers(tmp_path):
    with TestClient(app(tmp_path)) as client:
        answers = [client.get("/ui/login"), client.get("/health"), client.get("/jobs"),
                   client.get("/jobs", headers=VIEWER), client.get("/ui/static/job.js")]
        for answer in answers:
            policy = answer.headers["content-security-policy"]
            assert "script-src 'self';" in policy and "frame-ancestors 'none'" in policy
            assert "unsafe-inline" not in policy and "unsafe-eval" not in policy
            assert answer.headers["x-frame-options"] == "DENY"
            assert answer.headers["x-content-type-options"] == "nosniff"
            assert "strict-transport-security" not in answer.headers  # plain HTTP


def test_the_pages_need_nothing_inline(tmp_path):
    """The policy forbids inline scripts, handlers and styles: the pages must have none."""
    with TestClient(app(tmp_path)) as client:
        sign_in(client)
        pages = [client.get(p).text for p in ("/ui/login", "/ui/approvals", "/ui/jobs",
                                              "/ui/models", "/ui/jobs/run-missing")]
    for page in pages:
        assert "<h1" in page
        assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", page)  # only <script src=...>
        assert not re.search(r"\son[a-z]+\s*=", page) and "style=" not in page
        assert "<style" not in page and "javascript:" not in page


def test_login_and_logout_need_their_form_tokens(tmp_path):
    with TestClient(app(tmp_path)) as client:
        forged = client.post("/ui/login", data={"key": APPROVER_KEY, "next": "/ui/jobs"},
                             follow_redirects=False)
        assert forged.status_code == 303 and "expired" in forged.headers["location"]
        assert "set-cookie" not in forged.headers

        signed = sign_in(client, next_page="/ui/jobs")
        assert signed.status_code == 303 and signed.headers["location"] == "/ui/jobs"
        cookie = signed.headers["set-cookie"]
        assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/;" in cookie
        assert "Secure" not in cookie  # plain HTTP, no proxy

        kept = client.post("/ui/logout", follow_redirects=False)
        assert "expired" in kept.headers["location"]
        assert client.get("/ui/jobs", follow_redirects=False).status_code == 200
        page = client.get("/ui/jobs").text
        token = re.search(r'name="csrf" value="([0-9a-f]+)"', page).group(1)
        assert token == csrf_token(APPROVER_KEY)
        out = client.post("/ui/logout", data={"csrf": token}, follow_redirects=False)
        assert out.headers["location"] == "/ui/login"
        assert client.get("/ui/jobs", follow_redirects=False).status_code == 303


def test_a_key_in_the_address_does_not_sign_in(tmp_path):
    with TestClient(app(tmp_path)) as client:
        asked = client.get(f"/ui/jobs?key={APPROVER_KEY}&x=1", follow_redirects=False)
        assert asked.status_code == 303 and "set-cookie" not in asked.headers
        location = asked.headers["location"]
        assert location.startswith("/ui/login?next=%2Fui%2Fjobs%3Fx%3D1")
        assert APPROVER_KEY not in location and "Sign+in+on+this+form" in location


def test_keys_in_query_strings_never_reach_the_access_log(tmp_path):
    lines: list[str] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            lines.append(record.getMessage())

    access = logging.getLogger("uvicorn.access")
    with serve(app(tmp_path), log_level="info", access_log=True) as url:
        keep = Keep()
        access.addHandler(keep)  # after uvicorn configured its loggers
        try:
            httpx.get(f"{url}/ui/approvals?key=sekret-1&page=2")
            httpx.get(f"{url}/jobs?api_key=sekret-2&status=queued")
            httpx.get(f"{url}/health?token=sekret-3")
            deadline = time.monotonic() + 5
            while len(lines) < 3 and time.monotonic() < deadline:
                time.sleep(0.05)
        finally:
            access.removeHandler(keep)
    logged = "\n".join(lines)
    assert "/ui/approvals?key=***&page=2" in logged and "/jobs?api_key=***&status=queued" in logged
    assert "/health?token=***" in logged and "sekret" not in logged
    assert scrubbed("GET /a?b=1&Secret_X=y#z") == "GET /a?b=1&Secret_X=***#z"


def proxied_sign_in(url: str) -> httpx.Response:
    """Sign in as a browser behind a TLS proxy would: the proxy says https, and the
    browser sends the login form's cookie back even when it is Secure."""
    proxy = {"X-Forwarded-Proto": "https"}
    form = httpx.get(f"{url}/ui/login", headers=proxy)
    token = re.search(r'name="csrf" value="([0-9a-f]+)"', form.text).group(1)
    assert form.cookies["mlpilot_login"] == token
    return httpx.post(f"{url}/ui/login", headers={**proxy, "Cookie": f"mlpilot_login={token}"},
                      data={"key": APPROVER_KEY, "csrf": token})


def test_the_cookie_is_secure_behind_a_trusted_tls_proxy(tmp_path):
    with serve(app(tmp_path)) as url:  # uvicorn trusts proxy headers from 127.0.0.1
        signed = proxied_sign_in(url)
        assert signed.status_code == 303 and signed.headers["location"] == "/ui/approvals"
        assert "Secure" in signed.headers["set-cookie"]
        assert signed.headers["strict-transport-security"].startswith("max-age=")
    with serve(app(tmp_path), forwarded_allow_ips="10.9.8.7") as url:  # not this proxy
        signed = proxied_sign_in(url)
        assert signed.status_code == 303 and signed.headers["location"] == "/ui/approvals"
        assert "Secure" not in signed.headers["set-cookie"]
        assert "strict-transport-security" not in signed.headers


@pytest.mark.parametrize("open_docs", [False, True])
def test_docs_are_open_or_behind_a_key_as_set(tmp_path, open_docs):
    with TestClient(app(tmp_path, open_docs=open_docs)) as client:
        anonymous = [client.get("/openapi.json"), client.get("/docs", follow_redirects=False)]
        if open_docs:
            assert [a.status_code for a in anonymous] == [200, 200]
        else:
            assert anonymous[0].status_code == 401 and "MLPILOT_OPEN_DOCS" in anonymous[0].text
            assert anonymous[1].headers["location"] == "/ui/login?next=%2Fdocs"
            assert client.get("/openapi.json", headers=VIEWER).status_code == 200
            assert sign_in(client, next_page="/docs").headers["location"] == "/docs"
        # a signed-in browser (the cookie) reads both
        assert client.get("/openapi.json").json()["info"]["title"] == "mlpilot"
        docs = client.get("/docs")
        assert docs.status_code == 200 and "swagger-ui" in docs.text
        [inline] = re.findall(r"<script>(.*?)</script>", docs.text, re.DOTALL)
        digest = base64.b64encode(hashlib.sha256(inline.encode()).digest()).decode()
        assert f"'sha256-{digest}'" in docs.headers["content-security-policy"]
        assert client.get("/redoc").status_code == 404


_PART = (b'--b\r\nContent-Disposition: form-data; name="file"; filename="big.csv"\r\n'
         b"Content-Type: text/csv\r\n\r\n")


def test_no_body_is_read_before_its_key_is_known(tmp_path):
    """ASGI level: count the bytes the app pulls from a 100 MB upload without a key."""
    import anyio

    api = app(tmp_path, max_upload_mb=1)
    chunk, total = b"x" * 2**20, 100

    async def upload(headers: list[tuple[bytes, bytes]]) -> tuple[int, int]:
        pulled, sent = 0, {}

        async def receive():
            nonlocal pulled
            pulled += 1
            body = (_PART if pulled == 1 else b"") + chunk
            return {"type": "http.request", "body": body, "more_body": pulled < total}

        async def send(message):
            if message["type"] == "http.response.start":
                sent["status"] = message["status"]

        scope = {"type": "http", "method": "POST", "path": "/jobs/upload", "raw_path": b"",
                 "query_string": b"", "root_path": "", "scheme": "http", "http_version": "1.1",
                 "server": ("127.0.0.1", 80), "client": ("127.0.0.1", 5),
                 "headers": [(b"content-type", b"multipart/form-data; boundary=b"),
                             (b"transfer-encoding", b"chunked"), *headers]}
        await api(scope, receive, send)
        return sent["status"], pulled * len(chunk)

    assert anyio.run(upload, []) == (401, 0)
    assert anyio.run(upload, [(b"x-api-key", b"guess")]) == (401, 0)
    # A known key: the body is read, up to the upload limit (1 MiB here).
    status, read = anyio.run(upload, [(b"x-api-key", OPERATOR["X-API-Key"].encode())])
    assert status == 413 and 2**20 <= read <= 3 * 2**20


def test_a_real_server_refuses_an_upload_without_a_key_before_it_streams(tmp_path):
    """Over a socket: the 401 arrives while almost all of a declared 100 MB is unsent."""
    with serve(app(tmp_path)) as url:
        port = int(url.rsplit(":", 1)[1])
        declared = 100 * 2**20
        with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
            sock.sendall(b"POST /jobs/upload HTTP/1.1\r\nHost: x\r\nContent-Type: "
                         b"multipart/form-data; boundary=b\r\nContent-Length: "
                         + str(declared).encode() + b"\r\n\r\n")
            sock.setblocking(False)
            sent, answer, chunk = 0, b"", b"x" * 65536
            deadline = time.monotonic() + 20
            while b"\r\n\r\n" not in answer and time.monotonic() < deadline:
                try:
                    answer += sock.recv(65536)
                except BlockingIOError:
                    pass
                try:
                    sent += sock.send(chunk)
                except (BlockingIOError, BrokenPipeError, ConnectionResetError):
                    time.sleep(0.01)
    assert answer.startswith(b"HTTP/1.1 401"), answer[:200]
    assert sent < 16 * 2**20  # socket buffers at most; without the check: all 100 MB
