"""A job as a YAML file: the same `TaskRequest` the CLI and the API build.

    request: predict the species of a penguin, at least 95% accuracy
    data: penguins.csv          # relative to this file
    budget: 2 minutes           # or seconds as a number
    target: species             # optional: explicit fields win over the request
    training:                   # optional: overrides merged into the generated config
      max_epochs: 100
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from mlpilot.agent.state import TaskRequest
from mlpilot.agent.understanding import RequestError, parse_budget

KEYS = {"request", "data", "test_data", "target", "task_type", "metric", "goal", "budget",
        "drop_columns", "na_values", "seed", "model_name", "training"}


class ConfigFileError(ValueError):
    """A job config file that cannot be read or does not describe a job."""


def load_job_config(path: Path, **overrides: Any) -> TaskRequest:
    """Read a YAML job file into a TaskRequest; `overrides` (non-None) win over the file."""
    path = Path(path)
    if not path.is_file():
        raise ConfigFileError(f"job config {path} does not exist: check the path")
    return parse_job_config(path.read_text(), base_dir=path.parent, source=f"job config {path}",
                            **overrides)


def parse_job_config(text: str, *, base_dir: Path | None, source: str = "job config",
                     **overrides: Any) -> TaskRequest:
    """A TaskRequest from YAML text (e.g. posted to the API); relative data paths are
    relative to `base_dir` (None: left as written, for the server's data roots to resolve);
    `overrides` (non-None) win over the text."""
    try:
        raw = yaml.safe_load(text) or {}
    except yaml.YAMLError as err:
        raise ConfigFileError(f"{source} is not valid YAML: {str(err).splitlines()[0]}") from None
    except RecursionError:  # PyYAML builds nested values recursively
        raise ConfigFileError(f"{source} is nested too deeply: a job config is a flat mapping "
                              "with `training` overrides a few levels deep") from None
    if not isinstance(raw, dict):
        raise ConfigFileError(f"{source} must be a mapping of keys such as request, data, budget")
    unknown = sorted(str(k) for k in set(raw) - KEYS)
    if unknown:
        raise ConfigFileError(f"{source} has unknown keys {unknown}: allowed are {sorted(KEYS)}")
    raw.update({k: v for k, v in overrides.items() if v is not None})
    for key in ("data", "test_data"):
        value = raw.get(key)
        if base_dir is not None and value is not None and not Path(str(value)).is_absolute():
            raw[key] = Path(base_dir) / str(value)
    if raw.get("data") is None:
        raise ConfigFileError(f"{source} needs `data:` (a CSV or Parquet file)")
    return build_request(raw)


def build_request(fields: dict[str, Any]) -> TaskRequest:
    """A TaskRequest from loose fields (budget as text or seconds), with one-line errors."""
    fields = dict(fields)
    budget = fields.pop("budget", None)
    if budget is not None and fields.get("budget_s") is None:
        fields["budget_s"] = parse_budget_value(budget)
    try:
        return TaskRequest.model_validate(fields)
    except ValidationError as err:
        first = err.errors()[0]
        where = ".".join(map(str, first["loc"]))
        raise ConfigFileError(f"{where}: {first['msg'].removeprefix('Value error, ')}") from None


def parse_budget_value(value: Any) -> float:
    """Seconds from a number or a phrase like '90s' or '2 minutes'."""
    if isinstance(value, bool):
        raise RequestError(f"budget {value!r} is not a time limit: give one, e.g. '2 minutes'")
    if isinstance(value, int | float):
        if not math.isfinite(value):
            raise RequestError(f"budget '{value}' is not a finite time: give one, e.g. '2 minutes'")
        if value <= 0:
            raise RequestError(f"budget '{value}' must be a positive time, e.g. '2 minutes' or '90s'")
        return float(value)
    text = str(value).strip()
    try:
        number = float(text)  # a bare number means seconds
    except ValueError:
        number = None
    if number is not None:
        return parse_budget_value(number)
    seconds = parse_budget(text)
    if seconds is None:
        raise RequestError(f"budget {text!r} is not a time: use e.g. '90s' or '2 minutes'")
    return seconds
