"""Fixtures for the REST API tests: an app on the test's data directory, keys per role,
and a real `mlpilot serve` subprocess on a free port of 127.0.0.1."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
from fastapi.testclient import TestClient

from mlpilot.agent.settings import Settings
from mlpilot.interfaces.api import create_app

KEYS = {"view-key": "viewer", "op-key": {"role": "operator", "name": "olivia"},
        "ap-key": {"role": "approver", "name": "alice"}}
VIEWER, OPERATOR, APPROVER = ({"X-API-Key": k} for k in KEYS)


def api_client(workers: int = 0, **overrides) -> TestClient:
    """A TestClient on a fresh app (enter it to start the workers: threads, which start at
    once; the subprocess server below runs worker processes)."""
    settings = Settings(api_keys=KEYS, worker_poll_s=0.1, worker_mode="thread", **overrides)
    return TestClient(create_app(settings, workers=workers))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Server:
    """`mlpilot serve` in a subprocess on 127.0.0.1 (start, kill, start again)."""

    def __init__(self, data_dir: Path, log: Path, workers: int = 1):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {**os.environ, "MLPILOT_DATA_DIR": str(data_dir),
                    "MLPILOT_API_KEYS": json.dumps(KEYS), "MLPILOT_WORKER_POLL_S": "0.1"}
        self.workers, self.log = workers, log
        self.process: subprocess.Popen | None = None

    def start(self, timeout: float = 60.0) -> None:
        with self.log.open("a") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "mlpilot.interfaces.cli", "serve", "--host", "127.0.0.1",
                 "--port", str(self.port), "--workers", str(self.workers),
                 "--log-level", "warning"], env=self.env, stdout=out, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"the server exited: {self.log.read_text()[-2000:]}")
            try:
                if httpx.get(f"{self.url}/health", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                time.sleep(0.1)
        raise AssertionError("the server did not start")

    def kill(self, sig: int) -> None:
        assert self.process is not None
        self.process.send_signal(sig)
        self.process.wait(timeout=30)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
