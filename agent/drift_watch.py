"""The drift monitor: the champion's live inputs and outputs against its training data,
and a retrain proposal in the approval queue when they drifted.

    report = monitor(deployments, "churn", window=1000)   # the latest 1000 live rows
    report.drifted                                        # ["age", "(prediction)"]

The training side is a sample of the data the champion's job trained on (kept under
`<data_dir>/deployments/` the first time, so the monitor does not depend on the file
staying put), or a file given with `reference`. The live side is the prediction log's
kept inputs (`prediction_log_sample`). Statistics are `engine/drift.py`'s; a feature
drifted when its PSI or total variation reaches the settings' threshold, and only
`drift_min_rows` live rows or more are judged. With labelled feedback, a last row compares
the champion's live accuracy (classification) or MAE (regression) with its test score at
training (the result of the job that trained it): performance drift.
"""

from __future__ import annotations

import logging
import re
import threading
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from mlpilot.agent.deployments import Deployments
from mlpilot.agent.store import Approval, Conflict, Job, StoreError
from mlpilot.agent.store.deployments import RETRAIN, approval_job_id
from mlpilot.engine.data import load_table
from mlpilot.engine.drift import FeatureDrift, drift_table, performance_drift, prediction_drift
from mlpilot.engine.input_schema import RowError, input_columns, rows_frame
from mlpilot.engine.live_metrics import row_loss, version_metrics
from mlpilot.engine.tracking import JOB_TAG
from mlpilot.guardrails.policy import RiskPolicy

logger = logging.getLogger(__name__)
#: Training rows kept as the reference sample, and scored for prediction drift.
REFERENCE_ROWS, SCORED_ROWS = 5000, 2000


@dataclass
class DriftReport:
    """The monitor's table for one version over a window of live rows."""

    name: str
    version: str
    live_rows: int
    enough_rows: bool
    features: list[FeatureDrift] = field(default_factory=list)
    proposal: Approval | None = None

    @property
    def drifted(self) -> list[str]:
        """The columns (and "(prediction)") that drifted, judged only with enough live rows,
        and "(performance)" when it drifted (judged on its own count of labelled rows)."""
        return [f.column for f in self.features
                if f.drifted and (self.enough_rows or f.kind == "performance")]

    def view(self) -> dict[str, Any]:
        """The report as plain data (the API's `DriftView`)."""
        return {"name": self.name, "version": self.version, "live_rows": self.live_rows,
                "enough_rows": self.enough_rows, "drifted": self.drifted,
                "features": [f.__dict__ for f in self.features],
                "proposal": self.proposal.id if self.proposal else None}


def training_job(deployments: Deployments, name: str, version: str) -> Job | None:
    """The job that trained a version (None when it was registered by hand)."""
    try:
        tags = deployments.server.tracker.client.get_model_version(name, version).tags or {}
        job_id = tags.get(JOB_TAG)
        return deployments.store.job(job_id) if job_id else None
    except (StoreError, Exception):  # noqa: BLE001 - no job: MLflow or the store says so
        return None


def reference_frame(deployments: Deployments, name: str, version: str,
                    reference: Path | None = None) -> pd.DataFrame:
    """A sample of the training data of a version (see the module's doc)."""
    if reference is not None:
        return load_table(reference)
    safe = re.sub(r"[^A-Za-z0-9_.-]+", "-", name)
    kept = deployments.settings.data_dir / "deployments" / safe / f"reference-v{version}.parquet"
    if kept.exists():
        return pd.read_parquet(kept)
    job = training_job(deployments, name, version)
    request = job.request if job is not None else {}
    if not request.get("data"):
        raise Conflict(f"no training data is known for {name} v{version} (it was not trained "
                       "by a job here): pass the training file with --reference FILE")
    frame = load_table(request["data"], request.get("na_values") or None)
    if len(frame) > REFERENCE_ROWS:
        frame = frame.sample(REFERENCE_ROWS, random_state=0)
    kept.parent.mkdir(parents=True, exist_ok=True)
    frame.reset_index(drop=True).to_parquet(kept, index=False)
    return frame


def monitor(deployments: Deployments, name: str, *, window: int = 1000,
            since: float | None = None, reference: Path | None = None, propose: bool = True,
            by: str = "drift monitor") -> DriftReport:
    """Drift of the champion's latest `window` live rows (since `since`); with `propose`,
    drift over enough rows opens a retrain proposal (one pending per model)."""
    version = deployments.champion(name)
    model = deployments.server.model(name, version)
    logged = [r for r in deployments.log.rows(name, version=version, since=since, limit=window)
              if r["inputs"] is not None]
    report = DriftReport(name, version, len(logged),
                         len(logged) >= deployments.settings.drift_min_rows)
    performance = performance_row(deployments, name, version, model.classes is not None,
                                  since=since, window=window)
    if not logged:
        report.features = [performance] if performance is not None else []
        return _proposed(deployments, report, propose, by)
    train = reference_frame(deployments, name, version, reference)
    live = pd.DataFrame([r["inputs"] for r in logged])
    columns = input_columns(model)
    settings = deployments.settings
    thresholds = {"psi_threshold": settings.drift_psi_threshold,
                  "tv_threshold": settings.drift_tv_threshold}
    report.features = drift_table(
        train, live, numeric=[c.name for c in columns if c.kind == "numeric"],
        categorical=[c.name for c in columns if c.kind == "categorical"], **thresholds)
    scored = train.head(SCORED_ROWS)
    try:
        frame = rows_frame(scored.astype(object).where(scored.notna(), None).to_dict("records"),
                           columns, allow_missing=True)
    except RowError:  # a reference file that lacks a column: no prediction drift then
        frame = None
    if frame is not None:
        report.features.append(prediction_drift(
            list(model.predict(frame)), [r["output"] for r in logged],
            numeric=model.classes is None, **thresholds))
    if performance is not None:
        report.features.append(performance)
    return _proposed(deployments, report, propose, by)


def _proposed(deployments: Deployments, report: DriftReport, propose: bool, by: str
              ) -> DriftReport:
    """The report, with a retrain proposal when asked for and something drifted."""
    if propose and report.drifted:
        report.proposal = propose_retrain(deployments, report, by=by)
    return report


def training_score(deployments: Deployments, name: str, version: str, metric: str
                   ) -> float | None:
    """The version's test `metric` when its job trained it (None: unknown, not trained here)."""
    job = training_job(deployments, name, version)
    value = ((job.result or {}).get("metrics") or {}).get(metric) if job is not None else None
    return float(value) if isinstance(value, int | float) else None


def performance_row(deployments: Deployments, name: str, version: str, classification: bool,
                    *, since: float | None = None, window: int = 1000) -> FeatureDrift | None:
    """Performance drift of a version from its latest `window` labelled predictions (None
    when its training-time test score is unknown, or nothing is labelled yet)."""
    metric = "accuracy" if classification else "mae"
    labelled = [r for r in deployments.log.labelled(name, since=since)
                if r.version == version][-window:]
    losses = [loss for r in labelled
              if (loss := row_loss(r.output, r.truth, classification)) is not None]
    score = training_score(deployments, name, version, metric) if losses else None
    if score is None:
        return None
    live = version_metrics(version, losses, classification).value
    settings = deployments.settings
    return performance_drift(metric, score, live, len(losses),
                             threshold=settings.drift_performance_threshold,
                             min_count=settings.drift_min_feedback)


def propose_retrain(deployments: Deployments, report: DriftReport, *, by: str) -> Approval:
    """Queue a retrain proposal for the drifted model (the pending one, if there is one)."""
    job_id = approval_job_id(report.name)
    for pending in deployments.store.approvals(status="pending", job_id=job_id):
        if pending.action == RETRAIN:
            return pending
    drifted = [{"column": f.column, "statistic": f.statistic, "value": f.value}
               for f in report.features if f.drifted]
    payload = {"model": report.name, "champion": report.version, "drifted": drifted,
               "live_rows": report.live_rows, "proposed_by": by,
               "budget_s": deployments.settings.default_budget_s}
    reason = RiskPolicy().decide(RETRAIN, "high").reason
    return deployments.store.request_approval(job_id, f"retrain:{report.version}:"
                                              f"{uuid.uuid4().hex[:8]}", RETRAIN, reason,
                                              payload, ttl_s=deployments.settings.approval_ttl_s)


def watch_all(deployments: Deployments, *, by: str = "drift monitor") -> list[DriftReport]:
    """Run the monitor (with proposals) over every deployment; a model that cannot be
    judged (no training data known, no such model any more) is skipped and logged."""
    reports = []
    for deployment in deployments.store.deployment_list():
        try:
            reports.append(monitor(deployments, deployment.name, propose=True, by=by))
        except LookupError as err:  # Conflict, ModelNotFound
            logger.info("drift monitor skips %s: %s", deployment.name, err)
    return reports


def watch_forever(deployments: Deployments, interval_s: float, stop: threading.Event) -> None:
    """`watch_all` every `interval_s` seconds until `stop` is set (the server's thread)."""
    while not stop.wait(interval_s):
        try:
            watch_all(deployments)
        except Exception:  # the store or registry hiccuped: the next round tries again
            logger.exception("the drift monitor failed; it runs again in %.0f s", interval_s)
