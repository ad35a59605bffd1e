"""Applying a finding's safe repair (dotted path -> value) to a task and config."""

from __future__ import annotations

import copy
from typing import Any

from pydantic import ValidationError

from ..engine.config import TaskSpec, TrainingConfig

TASK_PREFIX = "task."


def apply_repair(
    task: TaskSpec, config: TrainingConfig, repair: dict[str, Any]
) -> tuple[TaskSpec, TrainingConfig] | None:
    """The task and config with `repair` applied, or None if a path is unknown or the result
    fails the schema (then nothing is changed).

    Paths starting with "task." address the `TaskSpec`; all others the `TrainingConfig`.
    """
    task_data = task.model_dump()
    config_data = config.model_dump()
    for path, value in repair.items():
        if path.startswith(TASK_PREFIX):
            node, parts = task_data, path[len(TASK_PREFIX):].split(".")
        else:
            node, parts = config_data, path.split(".")
        for part in parts[:-1]:
            node = node.get(part) if isinstance(node, dict) else None
        if not isinstance(node, dict) or parts[-1] not in node:
            return None
        node[parts[-1]] = copy.deepcopy(value)
    try:
        return TaskSpec.model_validate(task_data), TrainingConfig.model_validate(config_data)
    except ValidationError:
        return None
