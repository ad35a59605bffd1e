"""Real servers on 127.0.0.1 for the interface tests: an app under uvicorn, and a fake
Slack Web API that records every call the bot makes."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl

import uvicorn


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def serve(app: Any, **options: Any) -> Iterator[str]:
    """Run an ASGI app under uvicorn in a thread; yields its base URL. `options` go to
    `uvicorn.Config` (e.g. `forwarded_allow_ips`, `log_level`)."""
    port = free_port()
    config = {"log_level": "warning", "lifespan": "on", **options}
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, **config))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(15)


class FakeSlack:
    """A Slack Web API stand-in: answers every method with ok and keeps what it was sent."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self._lock = threading.Lock()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode()
                if "json" in (self.headers.get("Content-Type") or ""):
                    args = json.loads(raw or "{}")
                else:
                    args = dict(parse_qsl(raw))
                method = self.path.rsplit("/", 1)[-1]
                with fake._lock:
                    fake.calls.append((method, args))
                    ts = f"{time.time():.6f}"
                body = json.dumps({"ok": True, "ts": ts, "channel": args.get("channel")}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/api/"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def of(self, method: str) -> list[dict[str, Any]]:
        """The arguments of every call of one method, in order."""
        with self._lock:
            return [args for m, args in self.calls if m == method]

    def wait_for(self, found: Callable[[], Any], timeout: float = 60.0) -> Any:
        """Poll until `found()` returns something truthy; fails the test on timeout."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            value = found()
            if value:
                return value
            time.sleep(0.05)
        raise AssertionError(f"timed out; Slack saw {[m for m, _ in self.calls]}")

    def close(self) -> None:
        """Stop serving."""
        self.server.shutdown()
        self.server.server_close()
