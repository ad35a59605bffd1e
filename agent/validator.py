"""Validator node: runs the guardrails validator chain on the generated config.

Safe repairs are applied in place by the chain and logged; errors go back to the config
generator, at most `max_repair_rounds` times, after which the job fails with the
findings. Every round lands in the report's validation history.
"""

from __future__ import annotations

from typing import Literal

from mlpilot.agent.context import JobContext, load_request_data
from mlpilot.agent.state import JobState, Step, TaskRequest, decision
from mlpilot.engine.config import TaskSpec
from mlpilot.engine.data import DataProfile
from mlpilot.guardrails.limits import Limits
from mlpilot.guardrails.validators import validate


class ConfigRejected(RuntimeError):
    """The config generator could not produce a valid config within the repair rounds."""


def validate_config(state: JobState, ctx: JobContext
                    ) -> Step[Literal["config_generator", "critic"]]:
    """Validator node: schema -> cross-field checks -> resources -> dry run (the dry run
    only when `ctx.dry_run`: `mlpilot plan` skips it, so planning needs no PyTorch)."""
    settings = ctx.settings
    task = TaskSpec.model_validate(state["task"])
    request = TaskRequest.model_validate(state["request"])
    round_ = state.get("repair_round", 0)
    limits = Limits(max_memory_mb=settings.max_memory_mb, max_budget_s=settings.hard_budget_s)
    report = validate(task, state["config"], DataProfile.model_validate(state["profile"]),
                      df=load_request_data(request), limits=limits, dry_run=ctx.dry_run)
    findings = [f.model_dump() for f in report.findings]
    entry = {"round": round_, "critic_round": state.get("critic_round", 0),
             "findings": findings, "passed": report.passed,
             "repaired": [f.model_dump() for f in report.repaired]}
    update = {"validation_history": [entry], "findings": findings}
    if state.get("first_pass_valid") is None:  # only the job's very first config counts
        update["first_pass_valid"] = report.passed and not report.repaired
    for fixed in report.repaired:
        update.setdefault("decisions", []).append(
            decision("validator", f"auto-repaired {fixed.field}", fixed.message))
    if report.passed:
        ctx.emit("validator", f"config valid after {round_ + 1} round(s), "
                              f"{len(report.warnings)} warning(s)")
        return Step("critic", {**update, "config": report.config,
                               "task": report.task or state["task"]})
    if round_ + 1 >= settings.max_repair_rounds:
        raise ConfigRejected("the training config is still invalid after "
                             f"{settings.max_repair_rounds} repair rounds: "
                             + "; ".join(f.line() for f in report.errors))
    ctx.emit("validator", f"{len(report.errors)} error(s); back to the config generator")
    return Step("config_generator", {**update, "repair_round": round_ + 1})
