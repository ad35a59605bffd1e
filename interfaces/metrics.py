"""Prometheus metrics: `GET /metrics` (viewer key; Prometheus sends it as a bearer token).

| metric | labels | what |
| --- | --- | --- |
| `mlpilot_predict_requests_total` | model, version, outcome | prediction requests (ok, refused) |
| `mlpilot_predict_latency_seconds` | model, version | histogram of a request's time in the server |
| `mlpilot_predictions_total` | model, version | predicted rows |
| `mlpilot_drift_score` | model, column, statistic | the last drift table's PSI or TV per column |
| `mlpilot_jobs` | status | jobs by status (read from the store at each scrape) |
| `mlpilot_approvals_waiting` | - | pending approvals (read at each scrape) |

Each app has a registry of its own, so two apps in one process (tests) count apart.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from fastapi import APIRouter, Request, Response
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from mlpilot.interfaces.auth import Viewer
from mlpilot.interfaces.problems import problem_responses

#: Latency buckets (seconds) from a single row's few milliseconds to a large batch.
_BUCKETS = (0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0)


class _StoreGauges(Collector):
    """Jobs by status and waiting approvals, counted in the store when scraped."""

    def __init__(self, store: Any):
        self.store = store

    def collect(self) -> Iterator[GaugeMetricFamily]:
        jobs = GaugeMetricFamily("mlpilot_jobs", "Jobs by status.", labels=["status"])
        with self.store._connect() as db:  # one grouped count instead of one per status
            rows = db.execute("SELECT status, COUNT(*) FROM jobs GROUP BY status").fetchall()
        for status, count in rows:
            jobs.add_metric([status], count)
        yield jobs
        waiting = GaugeMetricFamily("mlpilot_approvals_waiting", "Pending approvals.")
        waiting.add_metric([], len(self.store.approvals(status="pending")))
        yield waiting


class ServingMetrics:
    """The counters one app keeps, and its registry."""

    def __init__(self, store: Any | None = None):
        self.registry = CollectorRegistry()
        self.requests = Counter("mlpilot_predict_requests", "Prediction requests.",
                                ["model", "version", "outcome"], registry=self.registry)
        self.latency = Histogram("mlpilot_predict_latency_seconds", "Prediction request time.",
                                 ["model", "version"], buckets=_BUCKETS, registry=self.registry)
        self.rows = Counter("mlpilot_predictions", "Predicted rows.", ["model", "version"],
                            registry=self.registry)
        self._labelled: dict[tuple[str, str], tuple[Any, Any, Any]] = {}
        self.drift = _DriftGauges()
        self.registry.register(self.drift)
        if store is not None:
            self.registry.register(_StoreGauges(store))

    def predicted(self, model: str, versions: Sequence[str], seconds: float) -> None:
        """Count one answered request (its rows per version that answered them)."""
        for version in dict.fromkeys(versions):
            requests, latency, rows = self._children(model, version)
            requests.inc()
            latency.observe(seconds)
            rows.inc(versions.count(version))

    def _children(self, model: str, version: str) -> tuple[Any, Any, Any]:
        """The answered-request counter, latency histogram and row counter of one version,
        looked up once (`labels()` costs as much as the rest of a request's counting)."""
        key = (model, version)
        found = self._labelled.get(key)
        if found is None:
            found = self._labelled[key] = (self.requests.labels(model, version, "ok"),
                                           self.latency.labels(model, version),
                                           self.rows.labels(model, version))
        return found

    def refused(self, model: str) -> None:
        """Count a request refused for its rows (422) or an unknown model (404)."""
        self.requests.labels(model, "", "refused").inc()

    def text(self) -> bytes:
        """The exposition format Prometheus scrapes."""
        return generate_latest(self.registry)


class _DriftGauges(Collector):
    """The drift scores of the last table computed per model (kept, not recomputed)."""

    def __init__(self) -> None:
        self.scores: dict[str, list[tuple[str, str, float]]] = {}

    def set(self, model: str, rows: Sequence[Any]) -> None:
        """Keep a drift report's rows (`engine.drift.FeatureDrift`) for a model."""
        self.scores[model] = [(r.column, r.statistic, r.value) for r in rows]

    def collect(self) -> Iterator[GaugeMetricFamily]:
        family = GaugeMetricFamily("mlpilot_drift_score", "Drift per column (PSI or TV).",
                                   labels=["model", "column", "statistic"])
        for model, rows in list(self.scores.items()):
            for column, statistic, value in rows:
                family.add_metric([model, column, statistic], value)
        yield family


router = APIRouter(tags=["health"], responses=problem_responses(401, 403))


@router.get("/metrics", response_class=Response,
            responses={200: {"content": {"text/plain": {}},
                             "description": "Prometheus' text exposition format."}})
def metrics(request: Request, caller: Viewer) -> Response:
    """Prometheus metrics: prediction requests, latency and rows per model and version,
    drift scores, jobs by status, approvals waiting."""
    return Response(request.app.state.metrics.text(),
                    media_type="text/plain; version=0.0.4; charset=utf-8")
