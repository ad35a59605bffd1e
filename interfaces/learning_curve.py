"""A job's learning curve for the job page: the base training run's validation score and
training loss by epoch.

While the job trains, the points come from its progress events (about one a second);
once the base run is tracked, from MLflow, where every epoch is logged. A finished
curve (or the curve of a job that ended) does not change, so it is kept.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from mlpilot.agent.jobs import JobService

logger = logging.getLogger(__name__)
#: Stages that come after the base run is tracked in MLflow.
AFTER_BASE_RUN = {"tune", "compress", "evaluate", "deployer", "report"}


class LearningCurves:
    """Learning curves of the installation's jobs."""

    def __init__(self, service: JobService, registry: Any):
        self.service, self.registry = service, registry
        self._done: dict[str, dict[str, Any]] = {}
        self._lock = threading.Lock()

    def curve(self, job_id: str, ended: bool) -> dict[str, Any]:
        """`{"metric", "points": [[epoch, valid_score, train_loss], ...], "source"}`."""
        with self._lock:
            if job_id in self._done:
                return self._done[job_id]
        events = self.service.events(job_id)
        metric = next((e.data["metric"] for e in reversed(events) if e.data.get("metric")), None)
        live = [[e.data["epoch"], e.data.get("valid_score"), e.data.get("train_loss")]
                for e in events if e.stage == "train" and "epoch" in e.data]
        curve = {"metric": metric, "points": live, "source": "live"}
        if ended or any(e.stage in AFTER_BASE_RUN for e in events):
            tracked = self._tracked(job_id)
            if tracked:
                curve = {"metric": metric, "points": tracked, "source": "tracked"}
            if tracked or ended:  # a job that ended untrained keeps its live points
                with self._lock:
                    self._done[job_id] = curve
        return curve

    def _tracked(self, job_id: str) -> list[list[Any]]:
        """Every epoch of the job's (last) base run, as MLflow logged it."""
        try:
            tracker = self.registry.server.tracker
            base = [r for r in tracker.runs_for_job(job_id) if r.role == "trial" and r.name == "base"]
            if not base:
                return []
            run_id = base[-1].run_id
            series = {key: {m.step: m.value for m in tracker.client.get_metric_history(run_id, key)}
                      for key in ("valid_score", "train_loss")}
        except Exception:  # the page shows the live points instead
            logger.exception("could not read the learning curve of %s from MLflow", job_id)
            return []
        epochs = sorted(set(series["valid_score"]) | set(series["train_loss"]))
        return [[e, series["valid_score"].get(e), series["train_loss"].get(e)] for e in epochs]
