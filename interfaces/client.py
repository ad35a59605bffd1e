"""A Python client for the mlpilot REST API.

    from mlpilot.interfaces.client import Client

    with Client("http://127.0.0.1:8000", api_key="...") as api:
        job = api.submit("predict the species of a penguin, 30 seconds", data="penguins.csv")
        doc = api.wait(job["run_id"], progress=lambda e: print(e["stage"], e["message"]))
        for approval in api.approvals():
            api.approve(approval["id"], reason="looks good")
        print(api.wait(job["run_id"])["metrics"])
        print(api.predict("penguins-species", [{"island": "Biscoe", "bill_length_mm": 45.1}],
                          allow_missing=True))

Errors come back as `ApiError`, with the server's problem details (`status`, `detail`).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Self

import httpx

Progress = Callable[[dict[str, Any]], None]
#: Statuses after which a job does nothing more.
END_STATUSES = frozenset({"succeeded", "failed", "rejected", "cancelled", "needs_input"})


class ApiError(RuntimeError):
    """An error answer from the API: its status and problem details."""

    def __init__(self, status: int, problem: dict[str, Any]):
        self.status, self.problem = status, problem
        self.detail = problem.get("detail") or problem.get("title") or f"HTTP {status}"
        super().__init__(f"{status}: {self.detail}")


class Client:
    """Talks to one mlpilot server with one API key.

    Args:
        base_url: where `mlpilot serve` listens, e.g. "http://127.0.0.1:8000".
        api_key: a key from the server's MLPILOT_API_KEYS.
        timeout: seconds to wait for an answer (event streams wait as long as a job runs).
    """

    def __init__(self, base_url: str = "http://127.0.0.1:8000", api_key: str | None = None,
                 *, timeout: float = 60.0):
        headers = {"X-API-Key": api_key} if api_key else {}
        self.http = httpx.Client(base_url=base_url.rstrip("/"), headers=headers, timeout=timeout)

    def close(self) -> None:
        """Close the connection pool."""
        self.http.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- jobs -----------------------------------------------------------------------------

    def submit(self, request: str = "", data: str | Path | None = None, *,
               config: str | Path | None = None, upload: str | Path | None = None,
               auto_approve: bool = False, **fields: Any) -> dict[str, Any]:
        """Submit a job; returns its summary (`run_id`, `status` "queued", `task`).

        Args:
            request: the task in plain language.
            data: a data file inside the server's data roots (e.g. "datasets:penguins.csv").
            config: a YAML job (its text, or a local .yaml file whose text is sent).
            upload: a local CSV or Parquet file to upload as the data.
            auto_approve: pre-approve what the policy allows (like `mlpilot run --yes`).
            fields: target, metric, budget, goal, model_name, ... (win over the request).
        """
        if upload is not None:
            form = {"request": request, "auto_approve": str(auto_approve).lower(),
                    **{k: str(v) for k, v in fields.items() if v is not None}}
            path = Path(upload)
            with path.open("rb") as fh:
                return self._call("POST", "/jobs/upload", data=form, files={"file": (path.name, fh)})
        body: dict[str, Any] = {"request": request, "auto_approve": auto_approve, **fields}
        if data is not None:
            body["data"] = str(data)
        if config is not None:
            text = str(config)
            if "\n" not in text and text.endswith((".yaml", ".yml")) and Path(text).is_file():
                text = Path(text).read_text()
            body["config"] = text
        return self._call("POST", "/jobs", json=body)

    def get(self, run_id: str) -> dict[str, Any]:
        """The job's JSON document, as it stands now."""
        return self._call("GET", f"/jobs/{run_id}")

    def jobs(self, status: str | None = None, limit: int = 50) -> list[dict[str, Any]]:
        """Jobs, newest first."""
        params = {"limit": limit, **({"status": status} if status else {})}
        return self._call("GET", "/jobs", params=params)

    def cancel(self, run_id: str) -> dict[str, Any]:
        """Cancel a job."""
        return self._call("POST", f"/jobs/{run_id}/cancel")

    def events(self, run_id: str, *, after: int = 0,
               stop_at_approval: bool = False) -> Iterator[dict[str, Any]]:
        """The job's progress events as they happen (server-sent events), until it ends;
        the last one is `{"stage": "end", "status": ...}`."""
        params = {"after": after, "stop_at_approval": str(stop_at_approval).lower()}
        timeout = httpx.Timeout(self.http.timeout.connect, read=None)
        with self.http.stream("GET", f"/jobs/{run_id}/events", params=params,
                              timeout=timeout) as response:
            if response.status_code >= 400:
                response.read()
                raise _error(response)
            kind, data = "message", []
            for line in response.iter_lines():
                if line.startswith("event:"):
                    kind = line[6:].strip()
                elif line.startswith("data:"):
                    data.append(line[5:].strip())
                elif not line and data:
                    event = json.loads("\n".join(data))
                    yield {"stage": "end", **event} if kind == "end" else event
                    kind, data = "message", []

    def wait(self, run_id: str, progress: Progress | None = None, *, timeout: float | None = None,
             stop_at_approval: bool = True, poll_s: float = 1.0) -> dict[str, Any]:
        """Wait until the job ends (or waits for approval), calling `progress(event)` for
        each progress event; returns the job's document.

        Follows the event stream; if the stream breaks it reconnects after the last event
        seen, and falls back to polling the job when streaming does not work at all.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        stop = END_STATUSES | ({"waiting_approval"} if stop_at_approval else set())
        last = 0
        while deadline is None or time.monotonic() < deadline:
            try:
                for event in self.events(run_id, after=last, stop_at_approval=stop_at_approval):
                    if event.get("stage") == "end":
                        return self.get(run_id)
                    last = event.get("id", last)
                    if progress is not None:
                        progress(event)
            except httpx.TransportError:
                pass  # the stream broke: poll once, then reconnect after the last event
            doc = self.get(run_id)
            if doc["status"] in stop:
                return doc
            time.sleep(poll_s)
        raise TimeoutError(f"run {run_id} did not end within {timeout} s")

    # -- approvals ------------------------------------------------------------------------

    def approvals(self, status: str = "pending", run_id: str | None = None) -> list[dict[str, Any]]:
        """Approvals (pending by default; "all" for every one), oldest first."""
        params = {"status": status, **({"job_id": run_id} if run_id else {})}
        return self._call("GET", "/approvals", params=params)

    def approve(self, approval_id: str, reason: str | None = None) -> dict[str, Any]:
        """Approve a pending action (needs an approver key)."""
        return self._call("POST", f"/approvals/{approval_id}/approve", json={"reason": reason})

    def reject(self, approval_id: str, reason: str) -> dict[str, Any]:
        """Reject a pending action with a reason (needs an approver key)."""
        return self._call("POST", f"/approvals/{approval_id}/reject", json={"reason": reason})

    # -- models and knowledge -------------------------------------------------------------

    def models(self) -> list[dict[str, Any]]:
        """Registered models."""
        return self._call("GET", "/models")

    def versions(self, name: str) -> list[dict[str, Any]]:
        """A model's versions with their metrics, newest first."""
        return self._call("GET", f"/models/{name}/versions")

    def predict(self, name: str, rows: list[dict[str, Any]],
                allow_missing: bool = False) -> dict[str, Any]:
        """Predictions of the model's champion for raw rows (`predictions`, `probabilities`).

        Each row carries every training column (None where unknown: allowed where training
        had missing values, or everywhere with `allow_missing`).
        """
        body = {"rows": rows, "missing": "allow" if allow_missing else "as_trained"}
        return self._call("POST", f"/models/{name}/predict", json=body)

    def search_knowledge(self, query: str, k: int = 5) -> list[dict[str, Any]]:
        """What the fault knowledge base knows about an error text, best fix first."""
        return self._call("GET", "/knowledge/search", params={"q": query, "k": k})

    def health(self) -> dict[str, Any]:
        """The server's health (needs no key)."""
        return self._call("GET", "/health")

    def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self.http.request(method, path, **kwargs)
        if response.status_code >= 400:
            raise _error(response)
        return response.json()


def _error(response: httpx.Response) -> ApiError:
    try:
        problem = response.json()
    except ValueError:
        problem = {"detail": response.text[:500]}
    return ApiError(response.status_code, problem if isinstance(problem, dict) else {})
