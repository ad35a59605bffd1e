"""Fuzzing the whole API with schemathesis (its engine: examples, coverage, fuzzing and the
stateful phase), counted by check. Used by `test_fuzz.py` (small and seeded) and by
`benchmarks/fuzz.py` (in full).

The app under test trains nothing: its one worker (a thread) takes each queued job and
ends it at once as failed, so a job the fuzzer submits reaches an end and its event
stream closes. Everything else is the real app: keys, the store, the planner checking
each submission, the registry (empty), the knowledge base.
"""

from __future__ import annotations

import logging
import tempfile
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import schemathesis
from schemathesis.config import SchemathesisConfig
from schemathesis.engine.events import EngineFinished, NonFatalError, ScenarioFinished

from mlpilot.agent.runner import Runner
from mlpilot.agent.settings import Settings
from mlpilot.interfaces.api import create_app
from tests.interfaces.api_fixtures import APPROVER, KEYS

PHASES = ("examples", "coverage", "fuzzing", "stateful")


class NoTraining(Runner):
    """A Runner that plans like the real one (submissions are checked) but ends each job
    it is given as failed instead of training it."""

    def proceed(self, job_id: str) -> Any:
        """End the job at once."""
        self.store.update_job(job_id, status="failed",
                              error="not trained: the server is being fuzzed")
        return type("Outcome", (), {"status": "failed"})()


def fuzz_app(data_dir: str | Path | None = None):
    """The API app with a NoTraining worker, on its own data directory."""
    data_dir = Path(data_dir or tempfile.mkdtemp(prefix="mlpilot-fuzz-"))
    settings = Settings(data_dir=data_dir, api_keys=KEYS, worker_poll_s=0.05,
                        worker_mode="thread", workers=1)
    return create_app(settings, runner_factory=NoTraining)


class AsServed:
    """The app as uvicorn serves it: an exception raised after (or instead of) a response
    reaches the client as a 500 answer, not as an exception (schemathesis' ASGI transport
    would report it as an error of its own, and no check would count it). The lifespan is
    left to the caller (`with TestClient(app)`), so the app starts once."""

    def __init__(self, app: Any):
        self.app = app

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while (await receive())["type"] != "lifespan.shutdown":
                await send({"type": "lifespan.startup.complete"})
            await send({"type": "lifespan.shutdown.complete"})
            return
        started = False

        async def tracked(message: dict) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, tracked)
        except Exception:  # noqa: BLE001 - any crash is what a 500 stands for here
            if not started:
                await send({"type": "http.response.start", "status": 500,
                            "headers": [(b"content-type", b"text/plain")]})
                await send({"type": "http.response.body", "body": b"Internal Server Error"})


@dataclass
class FuzzReport:
    """What a run did: cases sent, and per check how often it ran and failed."""

    cases: int = 0
    ran: Counter = field(default_factory=Counter)
    failed: Counter = field(default_factory=Counter)
    failures: dict[str, str] = field(default_factory=dict)  # one line per distinct failure
    errors: list[str] = field(default_factory=list)  # the engine's own errors (not findings)
    phases: Counter = field(default_factory=Counter)  # cases per phase

    def table(self) -> str:
        """The counts by check, as a text table."""
        width = max([len(n) for n in self.ran] + [5])
        lines = [f"{'check':<{width}}  {'ran':>7}  {'failed':>6}"]
        lines += [f"{name:<{width}}  {self.ran[name]:>7}  {self.failed[name]:>6}"
                  for name in sorted(self.ran)]
        return "\n".join(lines)


def fuzz(app: Any, *, max_examples: int, seed: int = 1, phases: tuple[str, ...] = PHASES,
         max_steps: int = 10, headers: dict[str, str] | None = None) -> FuzzReport:
    """Run schemathesis' engine over every operation of `app` and count what it checked."""
    headers = headers or APPROVER
    config = SchemathesisConfig.from_dict({
        "seed": seed, "headers": headers,
        "generation": {"max-examples": max_examples, "database": "none"},
        "phases": {name: {"enabled": name in phases} for name in PHASES}
        | {"stateful": {"enabled": "stateful" in phases, "max-steps": max_steps}},
        # A schema-valid submission names a data file the schema cannot know exists (or
        # a request with no task in it): refusing it with a 422 is right, not a finding.
        # A body over the size limit is refused with 413 before it is parsed.
        "checks": {"negative_data_rejection": {"expected-statuses": [
            "400", "401", "403", "404", "405", "406", "409", "413", "415", "422", "428", "429",
            "5xx"]}},
        "operations": [{"include-path-regex": "^/jobs(/upload)?$", "include-method": "POST",
                        "checks": {"positive_data_acceptance": {"enabled": False}}}],
    })
    schema = schemathesis.openapi.from_asgi("/openapi.json", AsServed(app), config=config,
                                            headers=headers)
    report = FuzzReport()
    errors = logging.getLogger("mlpilot.interfaces.problems")  # a 500's traceback, each time
    level, errors.level = errors.level, logging.CRITICAL  # the report names each failure once
    try:
        for event in schemathesis.engine.from_schema(schema).execute():
            if isinstance(event, ScenarioFinished):
                _count(report, event)
            elif isinstance(event, NonFatalError):
                report.errors.append(f"{event.label}: {event.info.message}"[:300])
            elif isinstance(event, EngineFinished):
                break
    finally:
        errors.setLevel(level)
    return report


def _count(report: FuzzReport, event: ScenarioFinished) -> None:
    recorder = event.recorder
    report.cases += len(recorder.cases)
    report.phases[event.phase.value] += len(recorder.cases)
    for case_id, checks in recorder.checks.items():
        for check in checks:
            report.ran[check.name] += 1
            if check.failure_info is None:
                continue
            report.failed[check.name] += 1
            case = recorder.cases[case_id].value if case_id in recorder.cases else None
            where = f"{case.method} {case.path}" if case is not None else event.label
            failure = check.failure_info.failure
            key = f"{check.name}: {where}: {failure.title}"
            report.failures.setdefault(key, f"{key}; e.g. {_sent(case)}"[:400])


def _sent(case: Any) -> str:
    """What a case sent, in one line."""
    if case is None:
        return "?"
    parts = {"path": case.path_parameters, "query": case.query, "headers": {
        k: v for k, v in (case.headers or {}).items() if k.lower() != "x-api-key"}}
    shown = {k: v for k, v in parts.items() if v}
    if case.body is not None and type(case.body).__name__ != "NotSet":
        shown["body"] = case.body
    return repr(shown)
