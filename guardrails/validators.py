"""The validator chain for generated configs, and the bounded repair loop around it.

Layers, in order (each named in `ValidationReport.layers_run`):

1. "schema": the task and config parse as `TaskSpec` / `TrainingConfig` (a config from an
   LLM may be a dict or JSON text). Each pydantic error becomes a finding on its dotted
   field; when this layer fails the chain stops.
2. "checks": the registered cross-field checks. Safe repairs are applied and logged in
   `repaired`, then the checks run once more on the repaired config.
3. "resources": the resource estimate against `Limits` (same repair rule).
4. "dry_run": a few optimiser steps on a sample of the data, only when a DataFrame is
   given and no error was found so far.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pandas as pd
from pydantic import BaseModel, ValidationError

from ..engine.config import TaskSpec, TrainingConfig
from ..engine.data import DataProfile
from .checks import CheckContext, Layer, run_checks
from .findings import Finding, RepairRound, ValidationReport
from .limits import Limits
from .repair import apply_repair
from .resources import try_estimate
from .schema import schema_findings

ConfigInput = TrainingConfig | dict[str, Any] | str
Regenerate = Callable[[TrainingConfig | dict[str, Any], list[Finding]], ConfigInput]


def _parse(
    model: type[BaseModel], raw: Any, prefix: str
) -> tuple[Any, dict[str, Any], list[Finding]]:
    """`raw` as (`model` instance or None, its fields as a dict, schema findings)."""
    if isinstance(raw, model):
        return raw, raw.model_dump(mode="json"), []
    if isinstance(raw, str):
        try:
            raw = json.loads(raw)
        except json.JSONDecodeError as exc:
            return None, {}, [Finding(
                check_id="schema", severity="error", field=prefix.rstrip(".") or "config",
                message=f"the text is not valid JSON ({exc.msg} at line {exc.lineno}).",
                hint="return one JSON object with the fields of the config.",
            )]
    fields = raw if isinstance(raw, dict) else {}
    try:
        return model.model_validate(raw), fields, []
    except ValidationError as exc:
        return None, fields, schema_findings(exc, model, prefix)


def _as_dict(value: BaseModel) -> dict[str, Any]:
    return value.model_dump(mode="json")


def _run_layer(
    layer: Layer, task: TaskSpec, config: TrainingConfig, profile: DataProfile, limits: Limits
) -> tuple[TaskSpec, TrainingConfig, list[Finding], list[Finding]]:
    """Run one layer's checks, apply their safe repairs, and re-run once if anything changed.

    Returns the (possibly repaired) task and config, the open findings, and the repaired ones.
    """
    findings = run_checks(CheckContext(task, config, profile, limits), layer)
    repaired: list[Finding] = []
    for finding in findings:
        if not finding.repair:
            continue
        fixed = apply_repair(task, config, finding.repair)
        if fixed is not None:
            task, config = fixed
            repaired.append(finding)
    if repaired:
        findings = run_checks(CheckContext(task, config, profile, limits), layer)
    return task, config, findings, repaired


def validate(
    task: TaskSpec | dict[str, Any],
    config: ConfigInput,
    profile: DataProfile,
    df: pd.DataFrame | None = None,
    limits: Limits | None = None,
    dry_run: bool = True,
) -> ValidationReport:
    """Run the validator chain on a task and a (possibly LLM-written) training config.

    Args:
        task: the TaskSpec, or a dict of its fields.
        config: the TrainingConfig, a dict of its fields, or JSON text.
        profile: `engine.data.profile_table(df, target)` of the training data.
        df: the training data; when given (and `dry_run`), the last layer trains a few steps.
        limits: operator limits; `Limits()` when omitted.
        dry_run: set False to skip the dry-run layer even when `df` is given.

    Returns a `ValidationReport`; `passed` is True when no error remains.
    """
    limits = limits or Limits()
    task_model, task_fields, task_findings = _parse(TaskSpec, task, "task.")
    config_model, config_fields, config_findings = _parse(TrainingConfig, config, "")
    report = ValidationReport(
        findings=task_findings + config_findings,
        task=task_fields, config=config_fields, layers_run=["schema"],
    )
    if task_model is None or config_model is None:
        return report

    findings: list[Finding] = []
    repaired: list[Finding] = []
    for layer in ("checks", "resources"):
        task_model, config_model, found, fixed = _run_layer(
            layer, task_model, config_model, profile, limits
        )
        findings += found
        repaired += fixed
        report.layers_run.append(layer)
    estimate = try_estimate(task_model, config_model, profile)
    report.resources = estimate.model_dump() if estimate is not None else None

    if df is not None and dry_run and not any(f.severity == "error" for f in findings):
        from .dry_run import dry_run as run_dry  # torch: import only when used

        findings += run_dry(task_model, config_model, df)
        report.layers_run.append("dry_run")

    report.findings, report.repaired = findings, repaired
    report.task, report.config = _as_dict(task_model), _as_dict(config_model)
    return report


def validate_and_repair(
    task: TaskSpec | dict[str, Any],
    config: ConfigInput,
    profile: DataProfile,
    df: pd.DataFrame | None,
    limits: Limits | None,
    regenerate: Regenerate,
    max_rounds: int = 3,
    *,
    dry_run: bool = True,
) -> ValidationReport:
    """Validate; while errors remain, ask `regenerate` for a new config, up to `max_rounds` rounds.

    `regenerate(config, errors)` gets the last (auto-repaired) config — a `TrainingConfig`,
    or the raw dict when its schema failed — and the error findings, and returns a new
    config (model, dict or JSON text). Task repairs (e.g. a goal written as a percentage)
    carry over between rounds. Returns the last round's report with every round in
    `history`; `passed` is False if the last round still has errors.
    """
    if max_rounds < 1:
        raise ValueError("max_rounds must be at least 1")
    history: list[RepairRound] = []
    current_task, current = task, config
    for number in range(1, max_rounds + 1):
        report = validate(current_task, current, profile, df, limits, dry_run)
        history.append(RepairRound(
            round=number, findings=report.findings, repaired=report.repaired, passed=report.passed
        ))
        if report.passed or number == max_rounds:
            break
        if "checks" in report.layers_run:  # the schema passed: hand back the parsed models
            current_task = TaskSpec.model_validate(report.task)
            previous: TrainingConfig | dict[str, Any] = TrainingConfig.model_validate(report.config)
        else:
            previous = report.config
        current = regenerate(previous, report.errors)
    report.history = history
    return report
